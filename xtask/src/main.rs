//! Project automation: `cargo xtask <command>`.
//!
//! - `ci`: everything CI checks (fmt, clippy, tests with each crypto backend and both,
//!   conformance, smoke, the browser test, cargo-deny, docs and their links, packaging,
//!   the MSRV).
//!   `.ci/run` calls this.
//! - `browser`: the development console clicked through in headless Chromium.
//! - `doc-links`: checks the links of our crates' pages after `cargo doc --workspace
//!   --no-deps` (part of `ci`).
//! - `deny`: licences, bans and sources with cargo-deny (installed when missing).
//! - `golden`: regenerates `crates/chat-token-core/tests/data/golden.jsonl` with Twilio's
//!   Python helper.
//! - `conformance [--cases N] [--seed S]`: compares our tokens with the helper's, byte
//!   for byte, for N generated cases.
//! - `bench [--quick]`: measures minting, the helpers, HTTP and memory side by side and
//!   writes `BENCHMARKS.md`.
//! - `bench-cpu [--quick]`: only the server CPU time per request of `bench` (`/token`
//!   against `/control` on each adapter) and the axum token path's `perf` profile,
//!   printed, not written.
//! - `bench-identity [--quick]`: only the identification part of `bench` (IdP JWTs,
//!   static users tables), printed, not written.
//! - `soak [--secs N]`: each adapter under mixed good and failing traffic; reports
//!   statuses, connection errors and RSS.
//! - `package`: packages every publishable crate and builds each from its package.
//! - `msrv`: checks the workspace with the declared `rust-version` (installed with rustup
//!   when missing), in `target/msrv`.
//! - `smoke`: starts the three examples and `chat-token serve` as the README says and
//!   checks that they answer the same requests the same way.
//!
//! Each command has its module; `process` and `python` hold what several of them share,
//! and the golden and conformance cases come from the `chat-token-cases` crate.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

mod bench;
mod bench_identity;
mod browser;
mod ci;
mod conformance;
mod deny;
mod doc_links;
mod estimates;
mod module_cycles;
mod msrv;
mod package;
mod process;
mod python;
mod smoke;
mod soak;
mod unused_deps;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    std::env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("ci") => ci::run(&root),
        Some("golden") => conformance::golden(&root),
        Some("smoke") => smoke::run(&root),
        Some("deny") => deny::run(),
        Some("doc-links") => doc_links::check(&root),
        Some("unused-deps") => unused_deps::run(&root),
        Some("module-cycles") => module_cycles::run(&root),
        Some("package") => package::run(&root),
        Some("msrv") => msrv::run(&root),
        Some("browser") => browser::run(&root),
        Some("soak") => soak::run(&root, flag(&args, "--secs")?.unwrap_or(60)),
        Some("bench") => bench::run(&root, args.iter().any(|a| a == "--quick")),
        Some("bench-cpu") => bench::cpu(&root, args.iter().any(|a| a == "--quick")),
        Some("bench-identity") => {
            let quick = args.iter().any(|a| a == "--quick");
            let section =
                bench_identity::run(&root, if quick { 1 } else { 5 }, if quick { 1 } else { 3 })?;
            println!("{section}");
            Ok(())
        }
        Some("conformance") => {
            let cases = flag(&args, "--cases")?.unwrap_or(300);
            let seed = flag(&args, "--seed")?.unwrap_or(0x00C0_FFEE);
            conformance::run(&root, cases as usize, seed)
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <ci | golden | conformance [--cases N] [--seed S] | smoke | deny | doc-links | unused-deps | module-cycles | browser | package | msrv | bench [--quick] | bench-cpu [--quick] | bench-identity [--quick] | soak [--secs N]>"
            );
            std::process::exit(2);
        }
    }
}

/// The number after `name` in `args`, if `name` is there.
fn flag(args: &[String], name: &str) -> Result<Option<u64>> {
    match args.iter().position(|a| a == name) {
        None => Ok(None),
        Some(i) => {
            let v = args
                .get(i + 1)
                .with_context(|| format!("{name} needs a number"))?;
            Ok(Some(v.parse().with_context(|| {
                format!("{name} needs a number, got {v:?}")
            })?))
        }
    }
}

/// The workspace's root directory: the parent of this crate's.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}
