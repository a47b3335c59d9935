//! What the commands share for the processes they start: cargo itself, running a
//! command to success, the variables a server must not inherit, a process's memory.

use std::process::Command;

use anyhow::{Context as _, Result, bail};
use chat_token_core::setup::ENV_USERS;
use chat_token_core::{
    env::ENV_ACCOUNT_SID, env::ENV_API_KEY, env::ENV_API_KEY_FILE, env::ENV_API_SECRET,
    env::ENV_API_SECRET_FILE, env::ENV_CHAT_SERVICE_SID,
};

/// Runs `cmd` to its end; an error unless it succeeded.
pub fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// The variables chat-token reads; cleared for servers that must start in development
/// mode whatever the caller's environment holds.
pub const CHAT_TOKEN_VARS: [&str; 7] = [
    ENV_ACCOUNT_SID,
    ENV_API_KEY,
    ENV_API_SECRET,
    ENV_API_SECRET_FILE,
    ENV_API_KEY_FILE,
    ENV_CHAT_SERVICE_SID,
    ENV_USERS,
];

/// The resident set size of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .context("VmRSS in /proc")
}

/// The cargo running the xtask (`$CARGO`), or `cargo` from the path.
pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// `cargo metadata --no-deps` of the workspace at `root`, parsed.
pub fn workspace_metadata(root: &std::path::Path) -> Result<serde_json::Value> {
    let out = cargo()
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("cargo metadata JSON")
}

/// `n` with thousands separated by commas.
pub(crate) fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Installs `wrk` from Debian's packages when it is missing.
pub(crate) fn ensure_wrk() -> Result<()> {
    if Command::new("wrk").arg("--version").output().is_ok() {
        return Ok(());
    }
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get").args(["install", "-y", "wrk"]))
        .context("installing wrk from Debian's packages")
}
