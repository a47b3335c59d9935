//! `chat-token inspect`: decode a token, list what Twilio would object to.

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use chat_token_core::{
    Clock as _, ENV_API_SECRET, MAX_TOKEN_LEN, SecretString, SignatureCheck, inspect,
};
use clap::Args;

/// Flags of `chat-token inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Check the times against this Unix time instead of now.
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
    /// The token, or `-` to read it from stdin.
    token: String,
}

/// Runs `chat-token inspect`: exit 0 when Twilio would accept the token, 1 when not.
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
    let secret = match std::env::var(ENV_API_SECRET) {
        Ok(s) if !s.is_empty() => Some(SecretString::from(s)),
        Ok(_) | Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => bail!("{ENV_API_SECRET} is not valid UTF-8"),
    };
    let now = args
        .now
        .unwrap_or_else(|| chat_token_core::SystemClock.now());
    let inspection = inspect(&token, secret.as_ref(), now)?;
    let decoded = serde_json::json!({
        "header": inspection.header(),
        "claims": inspection.claims(),
    });
    println!("{}", serde_json::to_string_pretty(&decoded)?);
    match inspection.signature() {
        SignatureCheck::Valid => println!("signature: valid"),
        SignatureCheck::Invalid => println!("signature: INVALID"),
        SignatureCheck::NotChecked => {
            println!("signature: not checked (set {ENV_API_SECRET} to check it)");
        }
    }
    if inspection.problems().is_empty() {
        if inspection.signature() == SignatureCheck::Valid {
            println!("verdict: Twilio would accept this token");
        } else {
            println!("verdict: no problem found in the claims; the signature was not checked");
        }
        Ok(ExitCode::SUCCESS)
    } else {
        println!("verdict: Twilio would refuse this token");
        for problem in inspection.problems() {
            println!("{} {}", problem.code, problem.message);
        }
        Ok(ExitCode::from(1))
    }
}
