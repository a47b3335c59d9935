//! `cargo xtask deny`: licences, bans and sources with cargo-deny (`deny.toml`).

use std::process::{Command, Stdio};

use anyhow::Result;

use crate::process::{cargo, run as run_cmd};

/// Licences, bans and sources with cargo-deny, installed from crates.io when missing.
/// (The advisories check needs GitHub, which these machines cannot reach.)
pub fn run() -> Result<()> {
    let installed = Command::new("cargo")
        .args(["deny", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        run_cmd(cargo().args(["install", "--locked", "cargo-deny@0.20.2"]))?;
    }
    run_cmd(cargo().args(["deny", "check", "licenses", "bans", "sources"]))
}
