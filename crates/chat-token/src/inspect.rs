//! `chat-token inspect`: decode a token, list what Twilio would object to.

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use chat_token_core::{
    clock::Clock as _, env::ENV_API_SECRET, env::ENV_API_SECRET_FILE, inspect,
    inspect::MAX_TOKEN_LEN, inspect::SignatureCheck,
};
use clap::Args;

use crate::secrets;

/// Exit status: Twilio would accept the token (signature checked and valid, no problem).
pub const EXIT_ACCEPTED: u8 = 0;
/// Exit status: Twilio would refuse the token (a problem found, a bad signature included).
pub const EXIT_REFUSED: u8 = 1;
/// Exit status: no problem found in the claims, but the signature was not checked
/// because no secret was given; a forged token looks like this.
pub const EXIT_NOT_CHECKED: u8 = 3;

/// The exit statuses, as the help text shows them.
pub const EXIT_CODES_HELP: &str = "\
Exit status:
  0  Twilio would accept the token: the signature was checked and is valid, and no problem was found
  1  Twilio would refuse the token (each problem is listed with Twilio's error code)
  2  error: not a token, unreadable input, or a bad TWILIO_API_SECRET / TWILIO_API_SECRET_FILE
  3  no problem found in the claims, but the signature was NOT checked (neither TWILIO_API_SECRET
     nor TWILIO_API_SECRET_FILE is set), so the token may be forged";

/// Flags of `chat-token inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Check the times against this Unix time instead of now.
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
    /// The token, or `-` to read it from stdin.
    token: String,
}

/// Runs `chat-token inspect`; the exit status is one of [`EXIT_CODES_HELP`]'s.
pub fn run(args: InspectArgs) -> Result<ExitCode> {
    let token = if args.token == "-" {
        let mut buf = String::new();
        std::io::stdin()
            .take(MAX_TOKEN_LEN as u64 + 1)
            .read_to_string(&mut buf)
            .context("reading the token from stdin")?;
        buf
    } else {
        args.token
    };
    let secret = secrets::api_secret_from_env()?;
    if let Some(warning) = secrets::secret_file_warning() {
        secrets::print_warning(&warning);
    }
    if secret.as_ref().is_some_and(secrets::looks_like_auth_token) {
        secrets::print_warning(secrets::AUTH_TOKEN_WARNING);
    }
    let now = args
        .now
        .unwrap_or_else(|| chat_token_core::clock::SystemClock.now());
    let inspection = inspect(&token, secret.as_ref(), now)?;
    let decoded = serde_json::json!({
        "header": inspection.header(),
        "claims": inspection.claims(),
    });
    say!("{}", serde_json::to_string_pretty(&decoded)?);
    match inspection.signature() {
        SignatureCheck::Valid => say!("signature: valid"),
        SignatureCheck::Invalid => say!("signature: INVALID"),
        SignatureCheck::NotChecked => say!(
            "signature: NOT CHECKED (set {ENV_API_SECRET} or {ENV_API_SECRET_FILE} to check it)"
        ),
    }
    let refused =
        !inspection.problems().is_empty() || inspection.signature() == SignatureCheck::Invalid;
    if refused {
        say!("verdict: Twilio would refuse this token");
        for problem in inspection.problems() {
            say!("{} {}", problem.code, problem.message);
        }
        Ok(ExitCode::from(EXIT_REFUSED))
    } else if inspection.signature() == SignatureCheck::Valid {
        say!("verdict: Twilio would accept this token");
        Ok(ExitCode::from(EXIT_ACCEPTED))
    } else {
        say!(
            "verdict: no problem found in the claims, but the signature was not checked, so the token may be forged (exit status {EXIT_NOT_CHECKED})"
        );
        Ok(ExitCode::from(EXIT_NOT_CHECKED))
    }
}
