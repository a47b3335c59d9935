//! The one HTTP suite that every chat-token adapter passes, case for case.
//!
//! Each adapter has a [`Harness`] that starts a small app (the token route at `/token`,
//! a `/me` route guarded by `ResolvedIdentity`, and an unguarded `/`) with a given
//! [`TokenService`](chat_token_core::TokenService) on `127.0.0.1:0`. The cases in
//! [`cases`], [`login`], [`bad_input`], [`tenants`] and [`hand_written`] are written once; [`suite!`]
//! expands every case into its own `#[test]` for one harness, so a failure names both
//! the case and the adapter. Requests go over real HTTP on loopback through a small raw
//! client ([`http`]) that can also send what well-behaved clients never do (non-UTF-8
//! headers, huge values). Tokens are checked with jsonwebtoken, not with the core's own
//! verifier.
//!
//! # Every case runs
//!
//! A case is named once: where it is declared, inside its module's `cases!` block, as a
//! `pub fn name<H: Harness>()` or as a row of a table. The block emits the functions
//! unchanged and, from the same tokens, a hidden exported macro that expands each of them
//! into `#[test] fn name() { module::name::<Adapter>() }`; [`suite!`] calls that macro
//! once per module. There is no second list to keep in step: the declaration is the list.
//! A block accepts nothing but cases (a helper written inside one does not compile), so
//! everything in a block runs, on every adapter.
//!
//! What a macro cannot see is a case written outside every block, or a block whose macro
//! [`suite!`] does not call. The unit test `every_case_runs` (in this file) closes that
//! gap: it reads every source file of this crate and fails on a function shaped like a
//! case (generic over `Harness`, no parameters, no return value) outside a `cases!`
//! block, and on a block whose macro is not called by [`suite!`].

/// Declares the cases of one module and the hidden macro that [`suite!`] expands them by.
///
/// ```text
/// cases! { module => __list_macro;
///     table runner("Doc prefix") {
///         name: input => expected;
///         ...
///     }
///     ...
///     /// Doc.
///     pub fn name<H: Harness>() { ... }
///     ...
/// }
/// ```
///
/// A table row becomes `pub fn name<H: Harness>()` calling `runner::<H>(&input,
/// expected)`, documented as "Doc prefix `name`."; a function is emitted as written.
/// `__list_macro!(Adapter)` then expands to one `#[test] fn name()` per row and function,
/// calling `crate::module::name::<Adapter>()`. Tables come before functions, and nothing
/// else may stand in the block. The block closes with a `}` alone on its line (the check
/// in `every_case_runs` reads it so); rustfmt leaves macro bodies alone, so cases inside
/// are formatted by hand.
macro_rules! cases {
    (@with_dollar ($d:tt) $module:ident => $list:ident;
        $(
            table $runner:ident($what:literal) {
                $($row:ident: $input:expr => $expect:expr;)*
            }
        )*
        $(
            $(#[$meta:meta])*
            pub fn $name:ident<H: Harness>() $body:block
        )*
    ) => {
        $($(
            #[doc = concat!($what, " `", stringify!($row), "`.")]
            pub fn $row<H: Harness>() {
                $runner::<H>(&$input, $expect);
            }
        )*)*

        $(
            $(#[$meta])*
            pub fn $name<H: Harness>() $body
        )*

        #[doc = concat!(
            "Expands every case of `", stringify!($module),
            "` into a `#[test]` for one harness; called by `suite!`."
        )]
        #[doc(hidden)]
        #[macro_export]
        macro_rules! $list {
            ($d h:ty) => {
                $($(
                    #[test]
                    fn $row() {
                        $d crate::$module::$row::<$d h>();
                    }
                )*)*
                $(
                    #[test]
                    fn $name() {
                        $d crate::$module::$name::<$d h>();
                    }
                )*
            };
        }
    };
    ($module:ident => $list:ident; $($cases:tt)*) => {
        cases!(@with_dollar ($) $module => $list; $($cases)*);
    };
}

pub mod bad_input;
pub mod cases;
pub mod fixtures;
pub mod hand_written;
pub mod harness;
pub mod http;
pub mod login;
pub mod logs;
pub mod tenants;

pub use harness::{Harness, Server};

/// Expands every case of [`cases`], [`login`], [`bad_input`] and [`tenants`] into a
/// `#[test]` for the harness `$h`: the general cases at the top, the others in `login`,
/// `bad_input` and `tenants` submodules.
#[macro_export]
macro_rules! suite {
    ($h:ty) => {
        $crate::__suite_cases!($h);
        mod login {
            $crate::__suite_login!($h);
        }
        mod bad_input {
            $crate::__suite_bad_input!($h);
        }
        mod tenants {
            $crate::__suite_tenants!($h);
        }
        mod hand_written {
            $crate::__suite_hand_written!($h);
        }
    };
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Every `.rs` file under `dir`.
    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read source directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The name of the function `line` starts, if it is shaped like a case: generic over
    /// `Harness`, without parameters or a return value.
    fn case_shaped(line: &str) -> Option<&str> {
        let line = line.trim_start();
        if line.starts_with("//") {
            return None;
        }
        let (qualifiers, rest) = line.split_once("fn ")?;
        let item = qualifiers
            .split_whitespace()
            .all(|q| q.starts_with("pub") || ["const", "async", "unsafe", "extern"].contains(&q));
        if !item {
            return None;
        }
        let name_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let (name, rest) = rest.split_at(name_end);
        let generics = rest.strip_prefix('<')?;
        let mut depth = 1;
        let close = generics.char_indices().find_map(|(i, c)| {
            match c {
                '<' => depth += 1,
                '>' => depth -= 1,
                _ => {}
            }
            (depth == 0).then_some(i)
        })?;
        let after = generics[close + 1..].strip_prefix("()")?.trim_start();
        let harness = generics[..close].contains("Harness") || after.contains("Harness");
        let no_return = after.is_empty() || after.starts_with('{') || after.starts_with("where");
        (!name.is_empty() && harness && no_return).then_some(name)
    }

    #[test]
    fn case_shape() {
        assert_eq!(case_shaped("pub fn a_case<H: Harness>() {"), Some("a_case"));
        assert_eq!(case_shaped("    fn b<H: Harness>()"), Some("b"));
        assert_eq!(
            case_shaped("pub(crate) fn c<T>() where T: crate::Harness {"),
            Some("c")
        );
        assert_eq!(case_shaped("pub fn start<H: Harness>() -> Server {"), None);
        assert_eq!(case_shaped("fn check<H: Harness>(request: &[u8]) {"), None);
        assert_eq!(case_shaped("pub fn $name<H: Harness>() $body"), None);
        assert_eq!(case_shaped("/// pub fn d<H: Harness>() {"), None);
        assert_eq!(case_shaped("fn helper() {"), None);
        assert_eq!(case_shaped(r#"let s = "fn e<H: Harness>() {";"#), None);
    }

    /// Every function shaped like a case stands in a `cases!` block, and [`suite!`] calls
    /// the macro of every block.
    #[test]
    fn every_case_runs() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
        let suite = lib
            .split_once("macro_rules! suite {")
            .and_then(|(_, rest)| rest.split_once("\n}\n"))
            .expect("the suite! macro")
            .0;
        let mut files = Vec::new();
        sources(&src, &mut files);
        files.sort();
        let (mut problems, mut blocks, mut declared) = (Vec::new(), 0, 0);
        for file in &files {
            let text = std::fs::read_to_string(file).expect("source file");
            let shown = file.strip_prefix(&src).unwrap_or(file).display();
            let mut in_block = false;
            for (n, line) in text.lines().enumerate() {
                let n = n + 1;
                if in_block {
                    in_block = line != "}";
                    declared += usize::from(case_shaped(line).is_some());
                } else if let Some(header) = line.trim_start().strip_prefix("cases! {") {
                    in_block = true;
                    blocks += 1;
                    let list = header
                        .split_once("=>")
                        .and_then(|(_, l)| l.split_once(';'))
                        .map(|(l, _)| l.trim());
                    match list {
                        Some(list) if suite.contains(&format!("$crate::{list}!($h)")) => {}
                        Some(list) => problems.push(format!(
                            "{shown}:{n}: suite! does not call this block's macro `{list}`"
                        )),
                        None => problems.push(format!(
                            "{shown}:{n}: a cases! block without `module => macro;`"
                        )),
                    }
                } else if let Some(name) = case_shaped(line) {
                    problems.push(format!(
                        "{shown}:{n}: `{name}` is shaped like a case but is outside every \
                         cases! block, so no adapter runs it"
                    ));
                }
            }
            if in_block {
                problems.push(format!("{shown}: a cases! block has no closing `}}` line"));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        assert!(blocks >= 4, "only {blocks} cases! blocks seen");
        assert!(declared > 0, "no case seen in the blocks");
    }
}
