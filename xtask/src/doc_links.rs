//! `cargo xtask ci`'s check of the generated documentation: every relative link in our
//! crates' pages (after `cargo doc --workspace --no-deps`) leads to a page that exists,
//! so that what the adapters re-export (tenants included) is reachable from their docs.
//! Links into other crates' documentation are not generated with `--no-deps` and are
//! left to docs.rs.

use std::path::{Component, Path, PathBuf};

use anyhow::{Result, bail};

/// Checks the links of every `target/doc/chat_token*` page.
pub fn check(root: &Path) -> Result<()> {
    let doc = root.join("target/doc");
    let mut broken = Vec::new();
    let mut pages = 0;
    for entry in std::fs::read_dir(&doc)? {
        let dir = entry?.path();
        let is_ours = dir
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("chat_token"));
        if is_ours && dir.is_dir() {
            walk(&doc, &dir, &mut pages, &mut broken)?;
        }
    }
    if !broken.is_empty() {
        bail!(
            "{} broken links in the documentation:\n{}",
            broken.len(),
            broken.join("\n")
        );
    }
    eprintln!("xtask doc links: {pages} pages, no broken link");
    Ok(())
}

fn walk(doc: &Path, dir: &Path, pages: &mut usize, broken: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(doc, &path, pages, broken)?;
        } else if path.extension().is_some_and(|e| e == "html") {
            *pages += 1;
            let html = std::fs::read_to_string(&path)?;
            for link in html
                .split("href=\"")
                .skip(1)
                .filter_map(|s| s.split('"').next())
            {
                if let Some(target) = must_exist(doc, &path, link)
                    && !target.exists()
                {
                    broken.push(format!("{}: {link}", path.display()));
                }
            }
        }
    }
    Ok(())
}

/// The file a relative link of `page` names, when it is ours to keep working: a link
/// into one of our crates' pages, or out of the documentation altogether (a README
/// path that only works in the repository).
fn must_exist(doc: &Path, page: &Path, link: &str) -> Option<PathBuf> {
    let link = link.split(['#', '?']).next().unwrap_or_default();
    // Other crates' docs shown through blanket impls carry their links unresolved when
    // those crates are not documented too (`dispatcher#...`, `crate#...`,
    // `Self::attr()`): a bare name with no file extension is one of those.
    let bare_name = !link.contains('/') && !link.contains('.');
    let skip = link.is_empty()
        || bare_name
        || link.contains("://")
        || link.starts_with("mailto:")
        || link.contains("static.files")
        || link.contains("::")
        || link.contains("${");
    if skip {
        return None;
    }
    let mut target = page.parent()?.to_path_buf();
    for part in Path::new(link).components() {
        match part {
            Component::ParentDir => {
                target.pop();
            }
            Component::Normal(p) => target.push(p),
            _ => {}
        }
    }
    match target.strip_prefix(doc) {
        Err(_) => Some(target),
        Ok(inside) => inside
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .filter(|first| first.starts_with("chat_token"))
            .map(|_| target.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_of_ours_and_out_of_the_docs_are_checked_others_not() {
        let doc = Path::new("/d/target/doc");
        let page = doc.join("chat_token_axum/struct.Resolved.html");
        let check = |link: &str| must_exist(doc, &page, link);
        assert_eq!(
            check("../chat_token_core/tenants/index.html#x"),
            Some(doc.join("chat_token_core/tenants/index.html"))
        );
        assert_eq!(
            check("../../README.md"),
            Some(PathBuf::from("/d/target/README.md"))
        );
        assert_eq!(check("#method.tenant"), None);
        assert_eq!(check("../axum/struct.Router.html"), None);
        assert_eq!(check("https://docs.rs/axum"), None);
        assert_eq!(check("../static.files/${f}"), None);
        assert_eq!(check("Self::attr()"), None);
        assert_eq!(check("dispatcher#setting-the-default-subscriber"), None);
        assert_eq!(check("crate#per-style"), None);
        assert_eq!(
            check("struct.Missing.html"),
            Some(doc.join("chat_token_axum/struct.Missing.html"))
        );
        assert_eq!(
            check("README.md"),
            Some(doc.join("chat_token_axum/README.md"))
        );
    }
}
