//! The `chat-token` command: mint and inspect Twilio Access Tokens, or serve a token
//! endpoint.
//!
//! Credentials come only from the environment (`TWILIO_ACCOUNT_SID`, `TWILIO_API_KEY`,
//! `TWILIO_API_SECRET`), never from the command line, where other users of the machine
//! could read them. Errors go to stderr with a non-zero exit; stdout carries only the
//! result.

#![forbid(unsafe_code)]

/// `println!` that does not panic when stdout is closed (`chat-token mint | head -c 10`):
/// what the reader no longer takes is dropped, as with the other command-line tools.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
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
