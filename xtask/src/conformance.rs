//! `cargo xtask golden` and `cargo xtask conformance`: our tokens against Twilio's Python
//! helper (`xtask/twilio_tokens.py` in the pinned venv) for the cases of
//! `chat-token-cases`.
//!
//! - `golden`: the hand-picked cases and 60 generated from seed 7, with the helper's
//!   tokens, written to `crates/chat-token-core/tests/data/golden.jsonl`.
//! - `conformance`: the hand-picked cases and N generated from a seed, minted by both;
//!   fails unless every token is byte-identical.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};
use chat_token_cases::{Case, generate, handpicked};

use crate::python::venv;

/// Runs the helper over `cases`, returning them with their tokens.
fn helper_tokens(root: &Path, cases: &[Case]) -> Result<Vec<Case>> {
    let python = venv(root)?;
    let mut child = Command::new(python)
        .arg(root.join("xtask").join("twilio_tokens.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the Python helper")?;
    let mut input = String::new();
    for case in cases {
        input.push_str(&serde_json::to_string(case)?);
        input.push('\n');
    }
    let mut stdin = child.stdin.take().context("helper stdin")?;
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output()?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("writer thread panicked"))??;
    if !output.status.success() {
        bail!("the Python helper failed with {}", output.status);
    }
    let text = String::from_utf8(output.stdout)?;
    let out: Vec<Case> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    if out.len() != cases.len() {
        bail!("the helper answered {} cases of {}", out.len(), cases.len());
    }
    Ok(out)
}

/// Regenerates the golden vectors of chat-token-core's golden test.
pub fn golden(root: &Path) -> Result<()> {
    let mut cases = handpicked();
    cases.extend(generate(60, 7));
    let cases = helper_tokens(root, &cases)?;
    let path = root.join("crates/chat-token-core/tests/data/golden.jsonl");
    let mut text = String::new();
    for case in &cases {
        text.push_str(&serde_json::to_string(case)?);
        text.push('\n');
    }
    std::fs::write(&path, text)?;
    eprintln!(
        "xtask golden: wrote {} cases to {}",
        cases.len(),
        path.display()
    );
    Ok(())
}

/// Compares our tokens with the helper's for the hand-picked cases and `count`
/// generated from `seed`.
pub fn run(root: &Path, count: usize, seed: u64) -> Result<()> {
    let mut cases = handpicked();
    cases.extend(generate(count, seed));
    let cases = helper_tokens(root, &cases)?;
    let mut mismatches = 0;
    for case in &cases {
        let ours = case.mint();
        let theirs = case.token.as_deref().unwrap_or_default();
        if ours.as_deref() != Ok(theirs) {
            mismatches += 1;
            if mismatches <= 5 {
                eprintln!(
                    "MISMATCH {}:\n  helper: {theirs}\n  ours:   {ours:?}",
                    case.name
                );
                eprintln!("  helper payload: {}", payload(theirs));
                if let Ok(ours) = &ours {
                    eprintln!("  our payload:    {}", payload(ours));
                }
            }
        }
    }
    println!(
        "conformance: {} of {} cases byte-identical to twilio-python (seed {seed:#x})",
        cases.len() - mismatches,
        cases.len()
    );
    if mismatches > 0 {
        bail!("{mismatches} cases differ from Twilio's helper");
    }
    Ok(())
}

/// The decoded payload of `jwt`, for a mismatch report.
fn payload(jwt: &str) -> String {
    use base64::Engine as _;
    jwt.split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
