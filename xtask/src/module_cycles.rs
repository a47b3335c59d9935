//! `cargo xtask module-cycles`: no two modules of `chat-token-core` (or of `xtask`)
//! import each other, directly or through others, and no module imports an item of the
//! crate root (a re-export there is for users; a module imports the item's own module).
//! Reads the non-test code of every module as text and takes its `crate::…` and
//! `super::…` paths as imports; a module and its own submodules count as one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context as _, Result, bail};

/// The crates checked: their name and source directory.
const CRATES: [(&str, &str); 2] = [
    ("chat-token-core", "crates/chat-token-core/src"),
    ("xtask", "xtask/src"),
];

/// Fails with the cycles and root imports found, if any.
pub fn run(root: &Path) -> Result<()> {
    let mut problems = Vec::new();
    for (name, dir) in CRATES {
        let (modules, found) = check(&root.join(dir))?;
        if found.is_empty() {
            eprintln!(
                "xtask module-cycles: {modules} modules of {name}, no import cycle, no import of the crate root"
            );
        }
        problems.extend(found.into_iter().map(|p| format!("{name}: {p}")));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!(
            "modules import each other or the crate root:\n  {}",
            problems.join("\n  ")
        )
    }
}

/// The number of modules under `src`, and each cycle (`a -> b -> a`) and root import
/// (`a imports crate::Item`) among them.
fn check(src: &Path) -> Result<(usize, Vec<String>)> {
    let mut modules = BTreeMap::new();
    collect(src, src, &mut modules)?;
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for (module, text) in &modules {
        let parent = module.rsplit_once("::").map(|(p, _)| p.to_owned());
        let mut imports = BTreeSet::new();
        for path in paths_after(text, "crate::") {
            match resolve(&names, &path) {
                Some(imported) => {
                    imports.insert(imported);
                }
                None if !path.is_empty() && path != "self" => {
                    let item = ["crate", path.as_str()].join("::");
                    problems.push(format!("{module} imports {item} from the crate root"));
                }
                None => {}
            }
        }
        for path in paths_after(text, "super::") {
            let full = match &parent {
                Some(parent) => format!("{parent}::{path}"),
                None => path,
            };
            imports.extend(resolve(&names, &full));
        }
        imports.retain(|m| {
            m != module
                && !module.starts_with(&format!("{m}::"))
                && !m.starts_with(&format!("{module}::"))
        });
        graph.insert(module.clone(), imports);
    }
    let mut cycles = BTreeSet::new();
    for start in graph.keys() {
        find_cycles(&graph, vec![start.clone()], &mut cycles);
    }
    problems.extend(cycles.iter().map(|c| c.join(" -> ")));
    Ok((graph.len(), problems))
}

/// Every `.rs` file under `dir`, by module path, with its code before `#[cfg(test)]` and
/// without comment lines.
fn collect(src: &Path, dir: &Path, modules: &mut BTreeMap<String, String>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect(src, &path, modules)?;
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let relative = path.strip_prefix(src)?.with_extension("");
        let mut name = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("::");
        if name == "lib" || name == "main" {
            continue;
        }
        if let Some(parent) = name.strip_suffix("::mod") {
            name = parent.to_owned();
        }
        let text = std::fs::read_to_string(&path)?;
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let code: Vec<&str> = code
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect();
        modules.insert(name, code.join("\n"));
    }
    Ok(())
}

/// The paths that follow `prefix` in `text`, including those inside one `{…}` group.
fn paths_after(text: &str, prefix: &str) -> Vec<String> {
    let is_path = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut paths = Vec::new();
    for (at, _) in text.match_indices(prefix) {
        if text[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &text[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or_default();
            paths.extend(
                inner
                    .split(',')
                    .map(|p| p.trim().split(' ').next().unwrap_or_default().to_owned()),
            );
        } else {
            let end = rest.find(|c| !is_path(c)).unwrap_or(rest.len());
            paths.push(rest[..end].trim_end_matches(':').to_owned());
        }
    }
    paths
}

/// The longest module named by a prefix of `path`.
fn resolve(names: &BTreeSet<String>, path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|candidate| names.contains(candidate))
}

fn find_cycles(
    graph: &BTreeMap<String, BTreeSet<String>>,
    path: Vec<String>,
    cycles: &mut BTreeSet<Vec<String>>,
) {
    let Some(last) = path.last() else { return };
    for next in graph.get(last).into_iter().flatten() {
        if let Some(at) = path.iter().position(|m| m == next) {
            let mut cycle = path[at..].to_vec();
            let min = cycle
                .iter()
                .enumerate()
                .min_by_key(|(_, m)| *m)
                .map_or(0, |(i, _)| i);
            cycle.rotate_left(min);
            cycles.insert(cycle);
        } else {
            let mut longer = path.clone();
            longer.push(next.clone());
            find_cycles(graph, longer, cycles);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_and_root_imports_are_found() {
        let dir = std::env::temp_dir().join(format!("xtask-module-cycles-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).expect("write");
        write("lib.rs", "pub use a::Item;\nmod a;\nmod b;\nmod c;");
        write("a.rs", "use crate::b::B;\npub struct Item;");
        write("b.rs", "use crate::a::Item;\npub struct B;");
        write("c.rs", "use crate::Item;");
        let (modules, problems) = check(&dir).expect("check");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(modules, 3);
        assert_eq!(
            problems,
            ["c imports crate::Item from the crate root", "a -> b"]
        );
    }

    #[test]
    fn paths_are_read_from_uses_groups_and_expressions() {
        let text = "use crate::{http::ErrorCode, token::AccessToken};\nlet x = crate::env::ENV_USERS;\nuse super::jws::Header;";
        assert_eq!(
            paths_after(text, "crate::"),
            ["http::ErrorCode", "token::AccessToken", "env::ENV_USERS"]
        );
        assert_eq!(paths_after(text, "super::"), ["jws::Header"]);
    }
}
