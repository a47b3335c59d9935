//! Fuzzing without a nightly toolchain: a mutation fuzzer over seed corpora, for the
//! parsers that read untrusted input. Each target must never panic and must keep its
//! invariants (a bearer token is visible ASCII without spaces, an error never echoes
//! the presented value, ...).
//!
//! - In the test suite: a short run per target (`CHAT_TOKEN_FUZZ_SECS`, default 3 s).
//! - Long runs: `CHAT_TOKEN_FUZZ_SECS=600 CHAT_TOKEN_FUZZ_TARGET=inspect cargo test
//!   --release -p chat-token-core --test fuzz -- --nocapture` (targets: `inspect`,
//!   `inspect_structured`, `authorization`, `cookie`, `users`). The run prints its
//!   executions; a failing input is written to `target/fuzz-failures/`.
//!
//! Seeds live in `tests/fuzz-corpus/<target>/`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chat_token_core::{
    IncomingRequest, SecretString, StaticUsers, inspect, request::MAX_BEARER_LEN,
};

const DICTIONARY: &[&[u8]] = &[
    b"Bearer ",
    b"bearer",
    b"Basic ",
    b" ",
    b"\t",
    b"=",
    b";",
    b",",
    b"\"",
    b".",
    b"\\u0000",
    b"\xff",
    b"\xc3\xa9",
    b"{",
    b"}",
    b"[]",
    b"null",
    b"1e999",
    b"-1",
    b"\"alg\":\"HS256\"",
    b"\"grants\":",
    b"\"exp\":",
    b"#",
    b"\n",
];

use chat_token_cases::SplitMix64 as Rng;

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    for _ in 0..1 + rng.below(4) {
        let len = input.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len + 1);
                input.insert(i, rng.next_u64() as u8);
            }
            2 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(16)).min(len);
                input.drain(start..end);
            }
            3 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(32)).min(len);
                let copy = input[start..end].to_vec();
                let at = rng.below(input.len() + 1);
                input.splice(at..at, copy);
            }
            4 => {
                let word = DICTIONARY[rng.below(DICTIONARY.len())];
                let at = rng.below(len + 1);
                input.splice(at..at, word.iter().copied());
            }
            5 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                let at = rng.below(len + 1);
                let take = rng.below(other.len() + 1);
                input.truncate(at);
                input.extend_from_slice(&other[other.len() - take..]);
            }
            6 if len > 0 => {
                let i = rng.below(len);
                input[i] = [0, 0x7f, 0x80, 0xff, b' ', b'"'][rng.below(6)];
            }
            _ => input.truncate(rng.below(len + 1)),
        }
    }
    if input.len() > 100_000 {
        input.truncate(100_000);
    }
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-corpus")
        .join(target);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| std::fs::read(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    seeds.push(Vec::new());
    seeds
}

fn failure_path(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/fuzz-failures")
        .join(target)
}

/// Runs `check` on mutated corpus inputs for the configured time; returns executions.
fn fuzz(target: &str, check: impl Fn(&[u8]) + std::panic::RefUnwindSafe) -> u64 {
    if let Ok(only) = std::env::var("CHAT_TOKEN_FUZZ_TARGET")
        && only != target
    {
        return 0;
    }
    let secs: u64 = std::env::var("CHAT_TOKEN_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let seeds = corpus(target);
    let mut rng = Rng(0x5EED ^ secs ^ target.len() as u64);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut executions = 0u64;
    // Seeds first, as they are.
    for seed in &seeds {
        check(seed);
        executions += 1;
    }
    // Keep the default panic message quiet while probing; report the input instead.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failure = None;
    while Instant::now() < deadline && failure.is_none() {
        for _ in 0..256 {
            let mut input = seeds[rng.below(seeds.len())].clone();
            mutate(&mut rng, &mut input, &seeds);
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(&input))) {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                failure = Some((input, message));
                break;
            }
            executions += 1;
        }
    }
    std::panic::set_hook(hook);
    if let Some((input, message)) = failure {
        let dir = failure_path(target);
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("failure-{executions}"));
        let _ = std::fs::write(&file, &input);
        panic!(
            "fuzz target {target} failed after {executions} executions: {message}; input saved to {}",
            file.display()
        );
    }
    eprintln!("fuzz {target}: {executions} executions in {secs} s, 0 failures");
    executions
}

fn secret() -> SecretString {
    SecretString::from("cccccccccccccccccccccccccccccccc")
}

#[test]
fn inspect_never_panics() {
    fuzz("inspect", |data| {
        let text = String::from_utf8_lossy(data);
        let _ = inspect(&text, Some(&secret()), 1_700_000_000);
    });
}

#[test]
fn inspect_structured_never_panics() {
    // Input split at 0xFE into header and payload JSON, each base64url-encoded: the
    // mutations then reach the JSON and claim checks instead of dying in base64.
    fuzz("inspect_structured", |data| {
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut parts = data.splitn(2, |b| *b == 0xFE);
        let header = parts.next().unwrap_or_default();
        let payload = parts.next().unwrap_or_default();
        let token = format!(
            "{}.{}.{}",
            e.encode(header),
            e.encode(payload),
            e.encode([7u8; 32])
        );
        if let Ok(inspection) = inspect(&token, Some(&secret()), 1_700_000_000) {
            assert!(!inspection.is_accepted(), "a forged signature was accepted");
        }
    });
}

#[test]
fn authorization_parser_keeps_its_invariants() {
    fuzz("authorization", |data| {
        let mut req = IncomingRequest::new("GET", "/token");
        for value in data.split(|b| *b == b'\n') {
            req.push_header("authorization", value);
        }
        match req.bearer_token() {
            Ok(token) => {
                assert!(!token.is_empty());
                assert!(token.len() <= MAX_BEARER_LEN);
                assert!(
                    token.bytes().all(|b| (0x21..0x7f).contains(&b)),
                    "{token:?}"
                );
            }
            Err(err) => {
                let text = err.to_string();
                let value = String::from_utf8_lossy(data);
                let token = value.trim().rsplit(' ').next().unwrap_or_default();
                // Longer than any run without spaces in the fixed messages.
                if token.len() >= 24 {
                    assert!(!text.contains(token), "error echoes the credential: {text}");
                }
            }
        }
    });
}

#[test]
fn cookie_parser_keeps_its_invariants() {
    fuzz("cookie", |data| {
        let mut req = IncomingRequest::new("GET", "/");
        for value in data.split(|b| *b == b'\n') {
            req.push_header("cookie", value);
        }
        for name in ["session", "a", "", "=", " session"] {
            if let Some(value) = req.cookie(name) {
                let haystack = String::from_utf8_lossy(data);
                assert!(haystack.contains(value), "{value:?} not in the header");
            }
        }
    });
}

#[test]
fn users_parser_keeps_its_invariants() {
    fuzz("users", |data| {
        let text = String::from_utf8_lossy(data);
        match text.parse::<StaticUsers>() {
            Ok(users) => {
                assert!(!users.is_empty());
                for entry in text.split([',', '\n']).map(str::trim) {
                    if entry.is_empty() || entry.starts_with('#') {
                        continue;
                    }
                    let (token, identity) = entry.split_once('=').expect("parsed entries have '='");
                    assert_eq!(users.lookup(token.trim()), Some(identity.trim()));
                }
            }
            Err(err) => {
                let message = err.to_string();
                for entry in text.split([',', '\n']) {
                    if let Some((token, _)) = entry.split_once('=') {
                        let token = token.trim();
                        // Longer than any run without spaces in the fixed messages.
                        if token.len() >= 24 {
                            assert!(!message.contains(token), "error echoes a token");
                        }
                    }
                }
            }
        }
    });
}
