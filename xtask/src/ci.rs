//! `cargo xtask ci`: everything CI checks, in order, stopping at the first failure.

use std::path::Path;

use anyhow::Result;

use crate::process::{cargo, run as run_cmd};
use crate::{
    browser, conformance, deny, doc_links, module_cycles, msrv, package, smoke, unused_deps,
};

/// fmt, clippy, unused dependencies, import cycles between the core's modules, the tests with each crypto backend and both, conformance, smoke, the
/// browser test, cargo-deny, docs (and their links), packaging and the MSRV.
pub fn run(root: &Path) -> Result<()> {
    run_cmd(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run_cmd(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    unused_deps::run(root)?;
    module_cycles::run(root)?;
    // The whole workspace with the default backend (RustCrypto).
    run_cmd(cargo().args(["test", "--workspace", "--all-targets"]))?;
    run_cmd(cargo().args(["test", "--workspace", "--doc"]))?;
    // The core with aws-lc-rs alone, and with both backends at once.
    run_cmd(cargo().args([
        "test",
        "-p",
        "chat-token-core",
        "--no-default-features",
        "--features",
        "aws-lc-rs",
    ]))?;
    run_cmd(cargo().args([
        "test",
        "-p",
        "chat-token-core",
        "--features",
        "rust-crypto,aws-lc-rs",
    ]))?;
    conformance::run(root, 300, 0x00C0_FFEE)?;
    smoke::run(root)?;
    browser::run(root)?;
    deny::run()?;
    run_cmd(
        cargo()
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    doc_links::check(root)?;
    package::run(root)?;
    msrv::run(root)?;
    eprintln!("xtask ci: all checks passed");
    Ok(())
}
