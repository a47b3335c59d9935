//! `cargo xtask package`: every publishable crate packaged as crates.io would receive it,
//! then built from that packaged form.
//!
//! The publishable crates are the workspace members without `publish = false` (read from
//! `cargo metadata`). Each must say where its documentation, home page and repository
//! are, and a library must tell docs.rs which features to document. They are packaged in
//! one `cargo package` run, so that a crate that
//! depends on another one of them (the adapters and the command on the core) is built
//! against the packaged dependency through cargo's temporary local registry, not against
//! the workspace sources. `cargo package --workspace` alone would also try the
//! unpublished members (the xtask depends on the unpublished test suite, which no
//! registry holds).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::process::{cargo, run as run_cmd};

/// One workspace member as `cargo metadata` describes it.
pub struct Member {
    /// The package name.
    pub name: String,
    /// `publish` is not `false`.
    pub publishable: bool,
    /// The `rust-version` (MSRV), if declared.
    pub rust_version: Option<String>,
    /// The metadata fields crates.io shows that this member leaves out, and
    /// `package.metadata.docs.rs` if it has a library and no such table.
    pub missing_metadata: Vec<&'static str>,
}

/// The workspace members, from `cargo metadata --no-deps`.
pub fn members(root: &Path) -> Result<Vec<Member>> {
    let metadata = crate::process::workspace_metadata(root)?;
    let packages = metadata["packages"]
        .as_array()
        .context("cargo metadata has no packages")?;
    packages
        .iter()
        .map(|p| {
            Ok(Member {
                name: p["name"]
                    .as_str()
                    .context("a package without a name")?
                    .to_owned(),
                // `null`: any registry; `[]`: `publish = false`; a list: those registries.
                publishable: p["publish"].as_array().is_none_or(|r| !r.is_empty()),
                rust_version: p["rust_version"].as_str().map(str::to_owned),
                missing_metadata: missing_metadata(p),
            })
        })
        .collect()
}

/// The fields of one `cargo metadata` package that a published crate needs and lacks.
fn missing_metadata(package: &Value) -> Vec<&'static str> {
    let mut missing: Vec<&'static str> = [
        "description",
        "license",
        "repository",
        "homepage",
        "documentation",
        "readme",
    ]
    .into_iter()
    .filter(|field| package[*field].as_str().is_none_or(str::is_empty))
    .collect();
    let has_lib = package["targets"].as_array().is_some_and(|targets| {
        targets.iter().any(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "lib"))
        })
    });
    if has_lib && !package["metadata"]["docs"]["rs"].is_object() {
        missing.push("package.metadata.docs.rs");
    }
    missing
}

/// Packages and verifies every publishable crate.
pub fn run(root: &Path) -> Result<()> {
    let publishable: Vec<Member> = members(root)?
        .into_iter()
        .filter(|m| m.publishable)
        .collect();
    if publishable.is_empty() {
        bail!("no publishable crate in the workspace");
    }
    let incomplete: Vec<String> = publishable
        .iter()
        .filter(|m| !m.missing_metadata.is_empty())
        .map(|m| format!("{} lacks {}", m.name, m.missing_metadata.join(", ")))
        .collect();
    if !incomplete.is_empty() {
        bail!(
            "publishable crates with incomplete manifests: {}",
            incomplete.join("; ")
        );
    }
    let names: Vec<String> = publishable.into_iter().map(|m| m.name).collect();
    forget_unpacked_packages(&names)?;
    forget_verification_builds(root, &names)?;
    let started = Instant::now();
    let mut cmd = cargo();
    // Uncommitted changes are packaged as they are: the check is about what the
    // manifests and sources would publish, not about the state of the work tree.
    cmd.args(["package", "--allow-dirty"]).current_dir(root);
    for name in &names {
        cmd.args(["--package", name]);
    }
    run_cmd(&mut cmd)?;
    eprintln!(
        "xtask package: {} packaged and built from the packages in {:.0?}",
        names.join(", "),
        started.elapsed()
    );
    Ok(())
}

/// Removes this workspace's crates from the sources cargo unpacked out of the temporary
/// registries of earlier `cargo package` runs (`$CARGO_HOME/registry/src/-<hash>/`).
/// Cargo does not unpack a crate again when a directory of the same name and version is
/// there, so a second run from the same checkout path would verify the dependents
/// against the sources of the first: an old `chat-token-core` with a new `chat-token`.
fn forget_unpacked_packages(names: &[String]) -> Result<()> {
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    let Some(home) = home else {
        return Ok(());
    };
    let Ok(registries) = std::fs::read_dir(home.join("registry").join("src")) else {
        return Ok(());
    };
    for registry in registries.flatten() {
        // Temporary and local registries are unpacked under a name starting with '-';
        // crates.io's sources are left alone.
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        for unpacked in std::fs::read_dir(registry.path())?.flatten() {
            let file_name = unpacked.file_name();
            let dir = file_name.to_string_lossy();
            let ours = names.iter().any(|name| {
                dir.strip_prefix(name.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|version| version.starts_with(|c: char| c.is_ascii_digit()))
            });
            if ours {
                std::fs::remove_dir_all(unpacked.path())?;
            }
        }
    }
    Ok(())
}

/// Removes the build fingerprints of this workspace's crates, so that the verification
/// builds compile them again: cargo takes a crate from a registry (here the temporary
/// one) as unchanging and would reuse an earlier run's build of the same version.
/// Only these five crates are rebuilt; their dependencies stay built.
fn forget_verification_builds(root: &Path, names: &[String]) -> Result<()> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let Ok(entries) = std::fs::read_dir(target.join("debug").join(".fingerprint")) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let dir = file_name.to_string_lossy();
        // `<name>-<16 hex digits>`: this crate's units, from the path or a registry.
        let ours = names.iter().any(|name| {
            dir.strip_prefix(name.as_str())
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|hash| hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        });
        if ours {
            std::fs::remove_dir_all(entry.path())?;
        }
    }
    Ok(())
}
