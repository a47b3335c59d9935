//! Key rotation without downtime: `chat-token serve` reads `TWILIO_API_KEY_FILE` and
//! `TWILIO_API_SECRET_FILE`, reloads both on SIGHUP while requests keep coming, and keeps
//! the current credentials when the new files are bad, or when only the secret changed
//! (a Twilio API key's secret never changes: a new secret belongs to a new key SID).
//! Measured: every request across the reloads succeeds, each token's `iss` is the key
//! SID whose secret signed it.

#![cfg(unix)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_token_core::{SecretString, inspect, inspect::SignatureCheck};

const OLD: &str = "old-secret-0000000000000000000000";
const NEW: &str = "new-secret-1111111111111111111111";
const OLD_KEY: &str = "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const NEW_KEY: &str = "SKcccccccccccccccccccccccccccccccc";
const USER: &str = "user-token-0123456789";

/// `GET /token` with the user's bearer token: (status, body).
fn get_token(addr: SocketAddr) -> (u16, String) {
    let reply = common::get_token(addr, &format!("Bearer {USER}"));
    (reply.status, reply.body)
}

fn signed_with(body: &str) -> Option<&'static str> {
    let json: serde_json::Value = serde_json::from_str(body).ok()?;
    let jwt = json["token"].as_str()?;
    [(OLD, OLD_KEY), (NEW, NEW_KEY)]
        .into_iter()
        .find(|(secret, key)| {
            inspect(jwt, Some(&SecretString::from(*secret)), 1_800_000_000)
                .is_ok_and(|i| i.signature() == SignatureCheck::Valid && i.claims()["iss"] == *key)
        })
        .map(|(secret, _)| secret)
}

#[test]
fn sighup_rotates_the_key_and_secret_without_failing_a_request() {
    let dir = common::TempDir::new("sighup_rotates_the_key_and_secret_without_failing_a_request");
    // Written as secret mounts do: aside, then renamed over (see `TempDir::write`).
    let secret_path = dir.write("api-secret", &format!("{OLD}\n"));
    let key_path = dir.write("api-key", &format!("{OLD_KEY}\n"));
    // SIGHUP alone: the watcher would read the files before the signal.
    let mut server = common::serve(
        &["--no-watch"],
        &[
            ("TWILIO_ACCOUNT_SID", common::ACCOUNT_SID),
            ("TWILIO_API_KEY_FILE", &key_path),
            ("TWILIO_API_SECRET_FILE", &secret_path),
            ("TWILIO_CHAT_SERVICE_SID", common::CHAT_SERVICE_SID),
            ("CHAT_TOKEN_USERS", &format!("{USER}=alice")),
        ],
    );
    let addr = server.addr;
    let signal = |name: &str| server.process.signal(name);

    // Load: four clients asking for tokens until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let results = Arc::new(Mutex::new(Vec::<(u16, Option<&'static str>)>::new()));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, results) = (stop.clone(), results.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let (status, body) = get_token(addr);
                    results
                        .lock()
                        .expect("results")
                        .push((status, signed_with(&body)));
                }
            })
        })
        .collect();
    let latest = || {
        results
            .lock()
            .expect("results")
            .last()
            .and_then(|(_, s)| *s)
    };
    let wait_for = |want: &str| {
        assert!(
            common::eventually(|| latest() == Some(want)),
            "tokens never signed with {want}"
        );
    };

    wait_for(OLD);
    std::thread::sleep(Duration::from_millis(300));
    // Only the secret changes: refused, the old key and secret stay.
    dir.write("api-secret", &format!("{NEW}\n"));
    signal("HUP");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(latest(), Some(OLD));
    // The real rotation: the new key SID with its secret.
    dir.write("api-key", &format!("{NEW_KEY}\n"));
    signal("HUP");
    wait_for(NEW);
    std::thread::sleep(Duration::from_millis(300));

    // A bad new file: the current credentials stay.
    dir.write("api-secret", "");
    signal("HUP");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(latest(), Some(NEW));

    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("client");
    }
    let results = results.lock().expect("results").clone();
    let failed = results
        .iter()
        .filter(|(status, signer)| *status != 200 || signer.is_none())
        .count();
    let old = results.iter().filter(|(_, s)| *s == Some(OLD)).count();
    let new = results.iter().filter(|(_, s)| *s == Some(NEW)).count();
    eprintln!(
        "rotation: {} requests across two reloads: {old} signed with the old secret, {new} with the new, {failed} failed",
        results.len()
    );
    assert_eq!(failed, 0);
    assert!(old > 0 && new > 0);

    signal("TERM");
    let code = server.process.exit_code();
    assert_eq!(code, Some(0), "serve exited with {code:?}");
    let text = server.log_text();
    assert!(text.contains("credentials reloaded"), "{text}");
    assert!(text.contains("keeping the current ones"), "{text}");
    assert!(
        text.contains("TWILIO_API_SECRET_FILE") && text.contains("it is empty"),
        "{text}"
    );
    assert!(
        text.contains("the API key secret changed but the API key SID did not"),
        "{text}"
    );
    for secret in [OLD, NEW] {
        assert!(!text.contains(secret), "a secret was logged");
    }
}

/// Makes a FIFO at `dir/name`, in place of whatever is there: a file whose read blocks
/// until someone writes to it (as a hung network mount would).
fn fifo_over(dir: &common::TempDir, name: &str) -> String {
    let aside = dir.join(&format!(".{name}.fifo"));
    let made = std::process::Command::new("mkfifo")
        .arg(&aside)
        .status()
        .expect("mkfifo");
    assert!(made.success(), "mkfifo failed");
    let path = dir.join(name);
    std::fs::rename(&aside, &path).expect("rename the FIFO over the file");
    path.to_string_lossy().into_owned()
}

/// Secret files follow one set of rules on every reload: a FIFO (whose read would block),
/// a file of two lines, a file over 4 KiB are refused with a log line that names the
/// rule, the current credentials keep signing, and `/healthz` and `/token` are answered
/// all along.
#[test]
fn sighup_refuses_secret_files_that_block_or_break_the_rules_and_keeps_answering() {
    let dir = common::TempDir::new("sighup_refuses_secret_files_that_block");
    let secret_path = dir.write("api-secret", &format!("{OLD}\n"));
    let key_path = dir.write("api-key", &format!("{OLD_KEY}\n"));
    let server = common::serve(
        &["--no-watch"],
        &[
            ("TWILIO_ACCOUNT_SID", common::ACCOUNT_SID),
            ("TWILIO_API_KEY_FILE", &key_path),
            ("TWILIO_API_SECRET_FILE", &secret_path),
            ("TWILIO_CHAT_SERVICE_SID", common::CHAT_SERVICE_SID),
            ("CHAT_TOKEN_USERS", &format!("{USER}=alice")),
        ],
    );
    let addr = server.addr;
    let healthz = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    // (the file, its bad content, or `None` for a FIFO, the rule the log names)
    let bad_versions = [
        ("api-secret", None, "not a regular file"),
        ("api-key", None, "not a regular file"),
        (
            "api-secret",
            Some(format!("{NEW}\nsecond-line\n")),
            "more than one line",
        ),
        (
            "api-key",
            Some(format!("{NEW_KEY}\n{OLD_KEY}\n")),
            "more than one line",
        ),
        ("api-secret", Some("x".repeat(5000)), "more than 4096 bytes"),
    ];
    for (round, (file, bad, rule)) in bad_versions.iter().enumerate() {
        match bad {
            Some(text) => dir.write(file, text),
            None => fifo_over(&dir, file),
        };
        server.process.hup();
        server.process.wait_for_log(rule, 1);
        server
            .process
            .wait_for_log("keeping the current ones", round + 1);
        let r = common::exchange(addr, healthz.as_bytes(), Duration::from_secs(10));
        assert_eq!(r.status, 200, "/healthz after a bad {file}: {}", r.body);
        let (status, body) = get_token(addr);
        assert_eq!(status, 200, "{body}");
        assert_eq!(signed_with(&body), Some(OLD), "after a bad {file}");
        // Put the good file back before the next round.
        dir.write(
            file,
            &format!("{}\n", if *file == "api-key" { OLD_KEY } else { OLD }),
        );
    }
    let log = server.stop();
    assert!(
        log.contains("TWILIO_API_SECRET_FILE") && log.contains("TWILIO_API_KEY_FILE"),
        "{log}"
    );
    for secret in [OLD, NEW] {
        assert!(!log.contains(secret), "a secret was logged");
    }
}

/// `mint` and `inspect` read `TWILIO_API_SECRET_FILE` by the same rules: a FIFO is
/// refused at once (never waited on), a file of two lines or over 4 KiB is refused, with
/// an error that names the rule and never the content.
#[test]
fn mint_and_inspect_refuse_secret_files_that_block_or_break_the_rules() {
    let dir = common::TempDir::new("mint_and_inspect_refuse_secret_files");
    let fifo = fifo_over(&dir, "fifo");
    let two_lines = dir.write("two-lines", &format!("{NEW}\nsecond-line\n"));
    let large = dir.write("large", &"y".repeat(5000));
    let jwt = "eyJhbGciOiJIUzI1NiJ9.e30.c2ln";
    for (path, rule) in [
        (&fifo, "not a regular file"),
        (&two_lines, "more than one line"),
        (&large, "more than 4096 bytes"),
    ] {
        for args in [
            &["mint", "--identity", "alice", "--video"][..],
            &["inspect", jwt][..],
        ] {
            let mut process = common::Process::start(
                args,
                &[
                    ("TWILIO_ACCOUNT_SID", common::ACCOUNT_SID),
                    ("TWILIO_API_KEY", OLD_KEY),
                    ("TWILIO_API_SECRET_FILE", path),
                ],
            );
            let code = process.exit_code();
            let out = process.stop();
            assert_eq!(code, Some(2), "{args:?} with {path}: {out}");
            assert!(
                out.contains(rule) && out.contains("TWILIO_API_SECRET_FILE"),
                "{args:?}: {out}"
            );
            assert!(!out.contains(NEW) && !out.contains("second-line"), "{out}");
        }
    }
}
