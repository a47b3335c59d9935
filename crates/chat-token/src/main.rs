//! The `chat-token` command: mint and inspect Twilio Access Tokens, or serve a token
//! endpoint.
//!
//! Credentials come only from the environment (`TWILIO_ACCOUNT_SID`, `TWILIO_API_KEY`,
//! `TWILIO_API_SECRET`), never from the command line, where other users of the machine
//! could read them. Errors go to stderr with a non-zero exit; stdout carries only the
//! result.

#![forbid(unsafe_code)]

/// `println!` that returns its failure instead of panicking (see [`print_line`]); for
/// functions that return `anyhow::Result`.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::print_line(format_args!($($arg)*))?
    };
}

mod inspect;
mod mint;
mod secrets;
mod serve;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Mint, inspect and serve Twilio Access Tokens.
#[derive(Debug, Parser)]
#[command(name = "chat-token", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a signed Access Token (credentials from TWILIO_ACCOUNT_SID, TWILIO_API_KEY, TWILIO_API_SECRET).
    Mint(Box<mint::MintArgs>),
    /// Decode a token and say whether Twilio would accept it (checks the signature when
    /// TWILIO_API_SECRET or TWILIO_API_SECRET_FILE is set; exit 0 accepted, 1 refused,
    /// 2 error, 3 signature not checked).
    #[command(after_help = inspect::EXIT_CODES_HELP)]
    Inspect(inspect::InspectArgs),
    /// Run the token endpoint over HTTP (development mode when no credentials are configured).
    Serve(Box<serve::ServeArgs>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Mint(args) => {
            warn_on_stderr();
            mint::run(*args)
        }
        Command::Inspect(args) => inspect::run(args),
        // `serve` logs its warnings with the rest of its log.
        Command::Serve(args) => serve::run(*args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // Not `eprintln!`, which panics when stderr is closed.
            let _ = writeln!(std::io::stderr(), "chat-token: error: {}", message(&err));
            ExitCode::from(2)
        }
    }
}

/// Writes `line` and a line break to stdout. A reader that went away (a closed pipe:
/// `chat-token mint | head -c 10`) is no error, as with the other command-line tools:
/// what it no longer takes is dropped. Any other failure (a full disk) is.
fn print_line(line: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    match writeln!(std::io::stdout(), "{line}") {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => written.map_err(|err| anyhow::anyhow!("cannot write to stdout: {err}")),
    }
}

/// `err` and each of its causes that its text so far does not already hold (many
/// errors say their cause in their own message).
fn message(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let said = cause.to_string();
        if text.contains(&said) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&said);
    }
    text
}

/// Prints the warnings about the credentials in the environment (never a secret) to
/// stderr.
fn warn_on_stderr() {
    for warning in secrets::environment_warnings() {
        secrets::print_warning(&warning);
    }
}
