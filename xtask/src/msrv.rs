//! `cargo xtask msrv`: the workspace still compiles with the Rust version its manifests
//! declare (`rust-version`), every target included.
//!
//! The toolchain is installed with rustup (minimal profile) when missing. The check has
//! its own target directory, `target/msrv`, so that it never evicts the main build.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

use crate::package::members;
use crate::process::run as run_cmd;

/// Variables that would make the toolchain's cargo use another toolchain's tools.
const TOOLCHAIN_VARS: [&str; 5] = [
    "RUSTUP_TOOLCHAIN",
    "RUSTC",
    "RUSTDOC",
    "CARGO",
    "RUSTC_WRAPPER",
];

/// The one `rust-version` every member declares.
pub fn declared(root: &Path) -> Result<String> {
    let mut versions: Vec<String> = members(root)?
        .into_iter()
        .map(|m| {
            m.rust_version
                .with_context(|| format!("{} declares no rust-version", m.name))
        })
        .collect::<Result<_>>()?;
    versions.sort();
    versions.dedup();
    match versions.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!(
            "the members declare different rust-versions ({}); keep one in [workspace.package]",
            versions.join(", ")
        ),
    }
}

/// `rustup run <version> <program>`, with no variable pointing at another toolchain.
fn with_toolchain(version: &str, program: &str) -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args(["run", version, program]);
    for var in TOOLCHAIN_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// Installs the toolchain when missing, then checks the workspace with it.
pub fn run(root: &Path) -> Result<()> {
    let version = declared(root)?;
    let started = Instant::now();
    let installed = with_toolchain(&version, "rustc")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        run_cmd(Command::new("rustup").args([
            "toolchain",
            "install",
            &version,
            "--profile",
            "minimal",
        ]))
        .with_context(|| format!("installing Rust {version} with rustup"))?;
    }
    run_cmd(with_toolchain(&version, "rustc").arg("--version"))?;
    run_cmd(
        with_toolchain(&version, "cargo")
            .args(["check", "--locked", "--workspace", "--all-targets"])
            .arg("--target-dir")
            .arg(root.join("target").join("msrv"))
            .current_dir(root),
    )
    .with_context(|| {
        format!("the workspace does not compile with Rust {version}, its declared rust-version")
    })?;
    eprintln!(
        "xtask msrv: the workspace compiles with Rust {version} ({:.0?})",
        started.elapsed()
    );
    Ok(())
}
