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
    let mut server = common::serve(
        &[],
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
    assert!(text.contains("TWILIO_API_SECRET is empty"), "{text}");
    assert!(
        text.contains("the API key secret changed but the API key SID did not"),
        "{text}"
    );
    for secret in [OLD, NEW] {
        assert!(!text.contains(secret), "a secret was logged");
    }
}
