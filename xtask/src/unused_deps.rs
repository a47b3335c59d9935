//! `cargo xtask unused-deps`: every dependency a workspace crate declares is named in
//! that crate's own Rust sources. Offline and quick: `cargo metadata` for the manifests,
//! then a word search of each crate's `.rs` files and its Markdown (a README included as
//! the crate's documentation is compiled as doc tests, with the dev-dependencies).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

/// Dependencies declared for a reason other than a `use` in the crate's code, with that
/// reason. Empty today; an entry needs a reason a reviewer can check.
const DECLARED_FOR_A_REASON: &[(&str, &str, &str)] = &[];

/// Lists the dependencies no source file of their crate names, and fails if there is one.
pub fn run(root: &Path) -> Result<()> {
    let metadata = crate::process::workspace_metadata(root)?;
    let mut unused = Vec::new();
    let mut checked = 0;
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let name = package["name"].as_str().unwrap_or_default();
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap_or_default());
        let dir = manifest.parent().unwrap_or(root);
        let words = words_in_sources(dir)?;
        let mut seen = BTreeSet::new();
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            let declared = dep["rename"]
                .as_str()
                .or_else(|| dep["name"].as_str())
                .unwrap_or_default();
            if !seen.insert(declared.to_owned()) {
                continue;
            }
            checked += 1;
            let ident = declared.replace('-', "_");
            let excused = DECLARED_FOR_A_REASON
                .iter()
                .any(|(crate_name, dep_name, _)| *crate_name == name && *dep_name == declared);
            if !words.contains(&ident) && !excused {
                unused.push(format!("{name}: {declared}"));
            }
        }
    }
    if unused.is_empty() {
        eprintln!("xtask unused-deps: {checked} declared dependencies, each named in its crate");
        Ok(())
    } else {
        bail!(
            "dependencies no source file of their crate names (remove them, or list them with a reason in xtask/src/unused_deps.rs):\n  {}",
            unused.join("\n  ")
        )
    }
}

/// Every identifier-like word in the `.rs` and `.md` files under `dir`, outside `target/` and the
/// directories of other crates nested in it.
fn words_in_sources(dir: &Path) -> Result<BTreeSet<String>> {
    let mut words = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in
            std::fs::read_dir(&current).with_context(|| format!("reading {}", current.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                let nested_crate = path != dir && path.join("Cargo.toml").exists();
                let skipped = path
                    .file_name()
                    .is_some_and(|n| n == "target" || n == "node_modules");
                if !nested_crate && !skipped {
                    pending.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs" || e == "md") {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                words.extend(
                    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .filter(|w| !w.is_empty())
                        .map(str::to_owned),
                );
            }
        }
    }
    Ok(words)
}
