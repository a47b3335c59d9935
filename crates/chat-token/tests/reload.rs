//! `serve` follows its files as container platforms change them: each kind of file
//! (the API key and secret files, the users file, the HS256 login secret, the tenants
//! file, a tenant's secret file, the policy) changed every way a platform or a person
//! changes a file (renamed over, rewritten in place, deleted and re-created, a mounted
//! secret's `..data` symlink swapped, an invalid version, a change and `SIGHUP` without
//! the watcher), while a client keeps asking for tokens.
//!
//! Asserted: every new version is served (within [`DEADLINE`]), an invalid version is
//! logged and the version before it keeps serving, and the client sees no answer but
//! 200 and 401. Reported, not asserted (a busy machine may be slower): how long each
//! change took to be served, and the client's answers.

#![cfg(unix)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chat_token_core::{SecretString, inspect, inspect::SignatureCheck};
use common::{DEADLINE, Process, TempDir, eventually, hs256, now};

/// How a new version reaches a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// Written aside, then renamed over the file (editors, `kubectl cp`, most tools).
    RenameOver,
    /// Truncated and written in place.
    InPlace,
    /// Deleted, then written anew a moment later.
    DeleteRecreate,
    /// A mounted secret or config map: a new `..<version>` directory, and the `..data`
    /// symlink swapped to it (what Kubernetes does).
    DataSwap,
}

/// The directory that holds one kind's files: plain files, or mounted as Kubernetes
/// mounts a secret (`name -> ..data/name`, `..data -> ..<version>`).
struct Files {
    dir: PathBuf,
    mounted: bool,
    version: usize,
}

impl Files {
    fn new(root: &TempDir, name: &str, mounted: bool) -> Self {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("files directory");
        Self {
            dir,
            mounted,
            version: 0,
        }
    }

    /// The path `serve` is given for `name`.
    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    /// Writes `files` (each private to its owner), by `change`.
    fn put(&mut self, files: &[(&str, String)], change: Change) {
        use std::os::unix::fs::PermissionsExt as _;
        let private = |path: &std::path::Path| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        };
        self.version += 1;
        if self.mounted {
            assert_eq!(
                change,
                Change::DataSwap,
                "a mounted directory changes by swaps"
            );
            let version = self.dir.join(format!("..v{}", self.version));
            std::fs::create_dir(&version).expect("version directory");
            for (name, content) in files {
                let path = version.join(name);
                std::fs::write(&path, content).expect("write");
                private(&path);
            }
            let tmp = self.dir.join("..data_tmp");
            std::os::unix::fs::symlink(format!("..v{}", self.version), &tmp).expect("symlink");
            std::fs::rename(&tmp, self.dir.join("..data")).expect("swap ..data");
            for (name, _) in files {
                let link = self.dir.join(name);
                if std::fs::symlink_metadata(&link).is_err() {
                    std::os::unix::fs::symlink(format!("..data/{name}"), &link).expect("link");
                }
            }
            if self.version > 1 {
                let _ = std::fs::remove_dir_all(self.dir.join(format!("..v{}", self.version - 1)));
            }
            return;
        }
        for (name, content) in files {
            let path = self.dir.join(name);
            match change {
                Change::RenameOver => {
                    let aside = self.dir.join(format!(".{name}.new"));
                    std::fs::write(&aside, content).expect("write");
                    private(&aside);
                    std::fs::rename(&aside, &path).expect("rename");
                }
                Change::InPlace => {
                    std::fs::write(&path, content).expect("write");
                    private(&path);
                }
                Change::DeleteRecreate => {
                    std::fs::remove_file(&path).expect("delete");
                    std::thread::sleep(Duration::from_millis(100));
                    std::fs::write(&path, content).expect("write");
                    private(&path);
                }
                Change::DataSwap => unreachable!("plain files are not swapped"),
            }
        }
    }
}

/// The stable user every kind's client asks for tokens as (through a users file or
/// `CHAT_TOKEN_USERS`).
const STABLE: &str = "stable-user-token-0123456789";

/// Version `n`'s API key SID (`SK` and 32 hex digits).
fn key(n: usize) -> String {
    format!("SK{n:032x}")
}

/// Version `n`'s API key secret.
fn secret(n: usize) -> String {
    format!("rotating-api-secret-{n:03}-never-shown")
}

/// Version `n`'s login (HS256) secret.
fn login_secret(n: usize) -> String {
    format!("rotating-login-secret-{n:03}-of-32-bytes-or-more")
}

/// The token `addr` answers to `authorization`: (status, body).
fn token(addr: SocketAddr, authorization: &str) -> (u16, String) {
    let reply = common::get_token(addr, authorization);
    (reply.status, reply.body)
}

/// Whether `body` is a token response whose JWT is signed with `secret` under `key`.
fn signed_by(body: &str, key: &str, secret: &str) -> bool {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(body) else {
        return false;
    };
    let Some(jwt) = json["token"].as_str() else {
        return false;
    };
    inspect(jwt, Some(&SecretString::from(secret)), now())
        .is_ok_and(|i| i.signature() == SignatureCheck::Valid && i.claims()["iss"] == key)
}

/// A server's environment variables.
type Env = Vec<(&'static str, String)>;

/// One kind of file: its files in each version, an invalid version, how `serve` is
/// started over them, and how to tell which version it serves.
struct Kind {
    name: &'static str,
    /// The files of version `n`.
    files: fn(usize) -> Vec<(&'static str, String)>,
    /// A version that does not check, and what the log then says.
    invalid: fn() -> Vec<(&'static str, String)>,
    invalid_log: &'static str,
    /// `serve`'s flags and environment over these files (`root` for files of its own).
    start: fn(&Files, &TempDir) -> (Vec<String>, Env),
    /// Whether `serve` at this address serves version `n`.
    serves: fn(SocketAddr, usize) -> bool,
    /// The client's `Authorization`.
    client: fn() -> String,
}

/// The server's environment with the usual credentials, `users` as the static users.
fn with_credentials(users: String) -> Env {
    let mut env: Env = common::CREDENTIALS
        .iter()
        .map(|(k, v)| (*k, (*v).to_owned()))
        .collect();
    env.push(("CHAT_TOKEN_USERS", users));
    env
}

fn stable_client() -> String {
    format!("Bearer {STABLE}")
}

/// acme's tenants table: key of version `key_n`, and its secret as `secret_line`.
fn acme_table(key_n: usize, secret_line: &str) -> String {
    format!(
        "[tenants.acme]\naccount_sid = \"AC{a}\"\napi_key_sid = \"{}\"\n{secret_line}\nchat_service_sid = \"IS{a}\"\n",
        key(key_n),
        a = "1".repeat(32)
    )
}

const KINDS: [Kind; 6] = [
    Kind {
        name: "users",
        files: |n| {
            vec![(
                "users",
                format!("{STABLE}=stable\nuser-{n:03}-token-0123456789=user{n}\n"),
            )]
        },
        invalid: || vec![("users", "short=bob\n".to_owned())],
        invalid_log: "users file: the new version is not valid; keeping the current users",
        start: |files, _| {
            let args = vec!["--users-file".to_owned(), files.path("users")];
            (
                args,
                with_credentials(String::new())
                    .into_iter()
                    .filter(|(k, _)| *k != "CHAT_TOKEN_USERS")
                    .collect(),
            )
        },
        serves: |addr, n| token(addr, &format!("Bearer user-{n:03}-token-0123456789")).0 == 200,
        client: stable_client,
    },
    Kind {
        name: "credentials",
        files: |n| {
            vec![
                ("api-key", format!("{}\n", key(n))),
                ("api-secret", format!("{}\n", secret(n))),
            ]
        },
        invalid: || {
            vec![
                ("api-key", "not-a-key-sid\n".to_owned()),
                ("api-secret", format!("{}\n", secret(999))),
            ]
        },
        invalid_log: "credentials: the new version is not valid; keeping the current ones",
        start: |files, _| {
            let env = vec![
                ("TWILIO_ACCOUNT_SID", common::ACCOUNT_SID.to_owned()),
                ("TWILIO_API_KEY_FILE", files.path("api-key")),
                ("TWILIO_API_SECRET_FILE", files.path("api-secret")),
                (
                    "TWILIO_CHAT_SERVICE_SID",
                    common::CHAT_SERVICE_SID.to_owned(),
                ),
                ("CHAT_TOKEN_USERS", format!("{STABLE}=stable")),
            ];
            (Vec::new(), env)
        },
        serves: |addr, n| {
            let (status, body) = token(addr, &stable_client());
            status == 200 && signed_by(&body, &key(n), &secret(n))
        },
        client: stable_client,
    },
    Kind {
        name: "jwt_secret",
        files: |n| vec![("login-secret", format!("{}\n", login_secret(n)))],
        invalid: || vec![("login-secret", "too-short\n".to_owned())],
        invalid_log: "JWT secret file: the new version is not valid; keeping the current secret",
        start: |files, _| {
            let args = [
                "--jwt-hs256-secret-file",
                &files.path("login-secret"),
                "--jwt-issuer",
                common::IDP_ISSUER,
                "--jwt-audience",
                common::IDP_AUDIENCE,
            ]
            .map(str::to_owned)
            .to_vec();
            (
                args,
                with_credentials(String::new())
                    .into_iter()
                    .filter(|(k, _)| *k != "CHAT_TOKEN_USERS")
                    .collect(),
            )
        },
        serves: |addr, n| {
            let jwt = hs256(
                login_secret(n).as_bytes(),
                common::idp_claims(serde_json::json!({"sub": "ann"})),
            );
            token(addr, &format!("Bearer {jwt}")).0 == 200
        },
        client: || {
            let jwt = hs256(
                login_secret(1).as_bytes(),
                common::idp_claims(serde_json::json!({"sub": "ann"})),
            );
            format!("Bearer {jwt}")
        },
    },
    Kind {
        name: "tenants",
        files: |n| {
            vec![(
                "tenants.toml",
                acme_table(n, &format!("api_secret = \"{}\"", secret(n))),
            )]
        },
        invalid: || {
            vec![(
                "tenants.toml",
                "[tenants.acme]\nunknown_key = 1\n".to_owned(),
            )]
        },
        invalid_log: "tenants file: the new version is not valid; keeping the current tenants",
        start: |files, _| {
            let args = vec!["--tenants-file".to_owned(), files.path("tenants.toml")];
            (
                args,
                with_credentials(format!("{STABLE}=alice;tenant=acme")),
            )
        },
        serves: |addr, n| {
            let (status, body) = token(addr, &stable_client());
            status == 200 && signed_by(&body, &key(n), &secret(n))
        },
        client: stable_client,
    },
    Kind {
        name: "tenant_secret",
        files: |n| vec![("acme-secret", format!("{}\n", secret(n)))],
        invalid: || vec![("acme-secret", format!("{}\nsecond line\n", secret(998)))],
        invalid_log: "keeping its current credentials",
        start: |files, root| {
            let tenants = root.write_with_mode(
                "tenants.toml",
                &acme_table(
                    1,
                    &format!("api_secret_file = \"{}\"", files.path("acme-secret")),
                ),
                0o600,
            );
            let args = vec!["--tenants-file".to_owned(), tenants];
            (
                args,
                with_credentials(format!("{STABLE}=alice;tenant=acme")),
            )
        },
        serves: |addr, n| {
            let (status, body) = token(addr, &stable_client());
            status == 200 && signed_by(&body, &key(1), &secret(n))
        },
        client: stable_client,
    },
    Kind {
        name: "policy",
        files: |n| {
            vec![(
                "policy.json",
                format!(r#"{{"identities": {{"stable": {{"ttl": {}}}}}}}"#, 100 + n),
            )]
        },
        invalid: || {
            vec![(
                "policy.json",
                r#"{"roles": {"banned": {"deny": true}}}"#.to_owned(),
            )]
        },
        invalid_log: "policy file: the new version is not valid; keeping the current policy",
        start: |files, _| {
            let args = vec!["--policy".to_owned(), files.path("policy.json")];
            (args, with_credentials(format!("{STABLE}=stable")))
        },
        serves: |addr, n| {
            let (status, body) = token(addr, &stable_client());
            status == 200
                && serde_json::from_str::<serde_json::Value>(&body)
                    .is_ok_and(|json| json["expires_in"] == 100 + n as u64)
        },
        client: stable_client,
    },
];

/// A client asking for tokens until told to stop: how many answers of each status.
struct Client {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<BTreeMap<u16, usize>>,
}

impl Client {
    fn start(addr: SocketAddr, authorization: String) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut statuses = BTreeMap::new();
            // Bounded: told to stop, or after twice the deadline.
            let end = Instant::now() + 2 * DEADLINE;
            while !stopping.load(Ordering::Relaxed) && Instant::now() < end {
                *statuses.entry(token(addr, &authorization).0).or_insert(0) += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            statuses
        });
        Self { stop, thread }
    }

    fn finish(self) -> BTreeMap<u16, usize> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("client")
    }
}

/// What one server of a kind saw: the time each change took to be served.
type Latencies = Arc<Mutex<Vec<Duration>>>;

/// Starts `serve` over `kind`'s files at version 1 (written by `first`), with `extra`
/// flags; the server, the files and the client.
fn start(
    kind: &Kind,
    root: &TempDir,
    files: &mut Files,
    first: Change,
    extra: &[&str],
) -> (Process, SocketAddr, Client) {
    files.put(&(kind.files)(1), first);
    let (mut args, env) = (kind.start)(files, root);
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let mut all = vec![
        "serve".to_owned(),
        "--bind".to_owned(),
        "127.0.0.1:0".to_owned(),
    ];
    all.extend(args);
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = Process::start(&all, &env);
    let addr = server
        .addr()
        .unwrap_or_else(|| panic!("{}: serve did not start: {}", kind.name, server.output()));
    assert!(
        eventually(|| (kind.serves)(addr, 1)),
        "{}: version 1 not served: {}",
        kind.name,
        server.output()
    );
    let client = Client::start(addr, (kind.client)());
    (server, addr, client)
}

/// Writes version `n` by `change` (then signals, with `hup`) and waits until it is
/// served; records how long that took.
fn change_to(
    kind: &Kind,
    server: &Process,
    addr: SocketAddr,
    files: &mut Files,
    (n, change, hup): (usize, Change, bool),
    latencies: &Latencies,
) {
    files.put(&(kind.files)(n), change);
    let changed = Instant::now();
    if hup {
        server.hup();
    }
    assert!(
        eventually(|| (kind.serves)(addr, n)),
        "{}: version {n} ({change:?}{}) not served within {DEADLINE:?}: {}",
        kind.name,
        if hup { ", SIGHUP" } else { "" },
        server.output()
    );
    latencies.lock().expect("latencies").push(changed.elapsed());
}

/// Writes an invalid version by `change` (then signals, with `hup`): the log says so,
/// and version `n` is still served.
fn invalid(
    kind: &Kind,
    server: &Process,
    addr: SocketAddr,
    files: &mut Files,
    (n, change, hup): (usize, Change, bool),
) {
    // Counted before: a file caught half written or deleted may have been refused already.
    let seen = server.output().matches(kind.invalid_log).count();
    files.put(&(kind.invalid)(), change);
    if hup {
        server.hup();
    }
    server.wait_for_log(kind.invalid_log, seen + 1);
    assert!(
        (kind.serves)(addr, n),
        "{}: version {n} no longer served",
        kind.name
    );
}

/// The client's answers are all 200 or 401; the whole output holds no secret of the
/// kind's versions.
fn finish(kind: &Kind, server: Process, client: Client, label: &str) -> BTreeMap<u16, usize> {
    let statuses = client.finish();
    let out = server.stop();
    let others: Vec<_> = statuses
        .keys()
        .filter(|s| !matches!(s, 200 | 401))
        .collect();
    assert!(
        others.is_empty(),
        "{} ({label}): answers {statuses:?}\n{out}",
        kind.name
    );
    for n in 1..=6 {
        assert!(
            !out.contains(&secret(n)) && !out.contains(&login_secret(n)),
            "a secret in the log"
        );
    }
    statuses
}

/// Every kind, changed every way, with the watcher (rename over, in place, delete and
/// re-create, invalid, and in a mounted directory the `..data` swap) and without it
/// (SIGHUP).
fn follow(kind: &Kind) {
    let root = TempDir::new(&format!("reload_{}", kind.name));
    let latencies: Latencies = Arc::default();

    // Plain files, watched.
    let mut files = Files::new(&root, "plain", false);
    let (server, addr, client) = start(kind, &root, &mut files, Change::RenameOver, &[]);
    for (n, change) in [
        (2, Change::RenameOver),
        (3, Change::InPlace),
        (4, Change::DeleteRecreate),
    ] {
        change_to(
            kind,
            &server,
            addr,
            &mut files,
            (n, change, false),
            &latencies,
        );
    }
    invalid(
        kind,
        &server,
        addr,
        &mut files,
        (4, Change::RenameOver, false),
    );
    change_to(
        kind,
        &server,
        addr,
        &mut files,
        (5, Change::RenameOver, false),
        &latencies,
    );
    let watched = finish(kind, server, client, "watched");

    // A mounted directory, watched: the `..data` swap.
    let mut files = Files::new(&root, "mounted", true);
    let (server, addr, client) = start(kind, &root, &mut files, Change::DataSwap, &[]);
    change_to(
        kind,
        &server,
        addr,
        &mut files,
        (2, Change::DataSwap, false),
        &latencies,
    );
    invalid(
        kind,
        &server,
        addr,
        &mut files,
        (2, Change::DataSwap, false),
    );
    change_to(
        kind,
        &server,
        addr,
        &mut files,
        (3, Change::DataSwap, false),
        &latencies,
    );
    let mounted = finish(kind, server, client, "mounted");

    // No watcher: SIGHUP.
    let mut files = Files::new(&root, "signalled", false);
    let (server, addr, client) =
        start(kind, &root, &mut files, Change::RenameOver, &["--no-watch"]);
    change_to(
        kind,
        &server,
        addr,
        &mut files,
        (2, Change::RenameOver, true),
        &latencies,
    );
    invalid(
        kind,
        &server,
        addr,
        &mut files,
        (2, Change::RenameOver, true),
    );
    let signalled = finish(kind, server, client, "SIGHUP");

    let mut times = latencies.lock().expect("latencies").clone();
    times.sort();
    println!(
        "{}: {} changes served, median {:?}, slowest {:?}; client answers: watched {watched:?}, mounted {mounted:?}, SIGHUP {signalled:?}",
        kind.name,
        times.len(),
        times[times.len() / 2],
        times[times.len() - 1],
    );
}

#[test]
fn the_users_file_is_followed() {
    follow(&KINDS[0]);
}

#[test]
fn the_api_key_and_secret_files_are_followed() {
    follow(&KINDS[1]);
}

#[test]
fn the_hs256_secret_file_is_followed() {
    follow(&KINDS[2]);
}

#[test]
fn the_tenants_file_is_followed() {
    follow(&KINDS[3]);
}

#[test]
fn a_tenant_secret_file_is_followed() {
    follow(&KINDS[4]);
}

#[test]
fn the_policy_file_is_followed() {
    follow(&KINDS[5]);
}

/// Each reload is counted by file and result, and the gauges say when each file last
/// loaded and whether the newest version on disk is the one served.
#[test]
fn reloads_are_counted_and_a_file_that_no_longer_loads_shows() {
    let kind = &KINDS[0];
    let root = TempDir::new("reloads_are_counted_and_a_file_that_no_longer_loads_shows");
    let latencies: Latencies = Arc::default();
    let mut files = Files::new(&root, "plain", false);
    let (server, addr, client) = start(kind, &root, &mut files, Change::RenameOver, &["--metrics"]);
    let metrics = || common::request(addr, "GET", "/metrics", &[]).body;
    let line = common::metric_in;
    let ok = r#"chat_token_reloads_total{file="users",result="ok"}"#;
    let error = r#"chat_token_reloads_total{file="users",result="error"}"#;
    let loaded = r#"chat_token_reload_ok{file="users"}"#;
    let last = r#"chat_token_reload_last_success_timestamp_seconds{file="users"}"#;
    let at_start = metrics();
    assert_eq!(line(&at_start, ok), Some(0.0), "{at_start}");
    assert_eq!(line(&at_start, error), Some(0.0), "{at_start}");
    assert_eq!(line(&at_start, loaded), Some(1.0), "{at_start}");
    let started = line(&at_start, last).expect("last load time");
    assert!(started > 1.7e9, "{at_start}");

    change_to(
        kind,
        &server,
        addr,
        &mut files,
        (2, Change::RenameOver, false),
        &latencies,
    );
    assert!(
        eventually(|| line(&metrics(), ok) == Some(1.0)),
        "{}",
        metrics()
    );
    invalid(
        kind,
        &server,
        addr,
        &mut files,
        (2, Change::RenameOver, false),
    );
    let after = metrics();
    assert!(line(&after, error).is_some_and(|n| n >= 1.0), "{after}");
    assert_eq!(line(&after, loaded), Some(0.0), "{after}");
    change_to(
        kind,
        &server,
        addr,
        &mut files,
        (3, Change::RenameOver, false),
        &latencies,
    );
    assert!(
        eventually(|| line(&metrics(), loaded) == Some(1.0)),
        "{}",
        metrics()
    );
    let log = server.output();
    assert!(
        log.contains("file change: users file reloaded: 1 added, 1 removed"),
        "{log}"
    );
    // Reading a file (the reload's own reading, an operator's `cat`) changes nothing, so
    // it starts no reload: the last load's time stays.
    let settled = line(&metrics(), last);
    for _ in 0..5 {
        let _ = std::fs::read(files.path("users"));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        line(&metrics(), last),
        settled,
        "a file that was only read was loaded again"
    );
    finish(kind, server, client, "metrics");
}

/// A directory that is itself a symlink, swapped by renaming another symlink over it
/// (as deploy tools switch releases), is followed, and so are in-place changes in the
/// directory it leads to.
#[test]
fn a_directory_swapped_by_a_symlink_is_followed() {
    let kind = &KINDS[0];
    let root = TempDir::new("a_directory_swapped_by_a_symlink_is_followed");
    let release = |n: usize| {
        let dir = root.join(&format!("releases/v{n}"));
        std::fs::create_dir_all(&dir).expect("release directory");
        for (name, content) in (kind.files)(n) {
            std::fs::write(dir.join(name), content).expect("write");
        }
    };
    release(1);
    std::os::unix::fs::symlink("releases/v1", root.join("current")).expect("symlink");
    let users = root.join("current/users").to_string_lossy().into_owned();
    let env: Env = with_credentials(String::new())
        .into_iter()
        .filter(|(k, _)| *k != "CHAT_TOKEN_USERS")
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args = ["serve", "--bind", "127.0.0.1:0", "--users-file", &users];
    let mut server = Process::start(&args, &env);
    let addr = server.addr().expect("serve listens");
    assert!(eventually(|| (kind.serves)(addr, 1)), "{}", server.output());
    // The switch: a new release, and `current` swapped to it.
    release(2);
    std::os::unix::fs::symlink("releases/v2", root.join("current.new")).expect("symlink");
    std::fs::rename(root.join("current.new"), root.join("current")).expect("swap");
    assert!(
        eventually(|| (kind.serves)(addr, 2)),
        "the swapped directory was not followed: {}",
        server.output()
    );
    // In place, in the directory `current` leads to now.
    let (name, content) = (kind.files)(3).remove(0);
    std::fs::write(root.join(&format!("releases/v2/{name}")), content).expect("write");
    assert!(eventually(|| (kind.serves)(addr, 3)), "{}", server.output());
    server.stop();
}

/// A tenant whose API key SID changes while its secret does not keeps its current
/// credentials (a new key has a secret of its own, not yet written): no token is signed
/// with the new SID and the old secret. Both changed, the tenant is served with them.
#[test]
fn a_tenant_key_changed_without_its_secret_keeps_the_current_credentials() {
    let kind = &KINDS[3];
    let root = TempDir::new("a_tenant_key_changed_without_its_secret");
    let mut files = Files::new(&root, "plain", false);
    let (server, addr, client) = start(kind, &root, &mut files, Change::RenameOver, &[]);
    // Key 2 with secret 1.
    let key_only = acme_table(2, &format!("api_secret = \"{}\"", secret(1)));
    files.put(&[("tenants.toml", key_only)], Change::RenameOver);
    server.wait_for_log("its api_key_sid changed but its secret did not", 1);
    assert!(
        (kind.serves)(addr, 1),
        "acme is no longer signed with key 1 and secret 1"
    );
    let latencies: Latencies = Arc::default();
    change_to(
        kind,
        &server,
        addr,
        &mut files,
        (2, Change::RenameOver, false),
        &latencies,
    );
    finish(kind, server, client, "tenant key");
}

/// A directory of the files replaced (deleted and made again, or renamed over), whose
/// watch went with the old one, is watched again and its files read.
#[test]
fn a_replaced_directory_is_watched_again() {
    let kind = &KINDS[0];
    let root = TempDir::new("a_replaced_directory_is_watched_again");
    let mut files = Files::new(&root, "conf", false);
    let (server, addr, client) = start(kind, &root, &mut files, Change::RenameOver, &[]);
    let latencies: Latencies = Arc::default();
    let write_version = |dir: &std::path::Path, n: usize| {
        std::fs::create_dir_all(dir).expect("directory");
        for (name, content) in (kind.files)(n) {
            std::fs::write(dir.join(name), content).expect("write");
        }
    };
    // Deleted and made again.
    std::fs::remove_dir_all(root.join("conf")).expect("delete the directory");
    write_version(&root.join("conf"), 2);
    assert!(
        eventually(|| (kind.serves)(addr, 2)),
        "a re-made directory was not followed: {}",
        server.output()
    );
    // Renamed over: the old one aside, a new one in its place.
    write_version(&root.join("conf.new"), 3);
    std::fs::rename(root.join("conf"), root.join("conf.old")).expect("aside");
    std::fs::rename(root.join("conf.new"), root.join("conf")).expect("in place");
    assert!(
        eventually(|| (kind.serves)(addr, 3)),
        "a directory renamed over was not followed: {}",
        server.output()
    );
    // And changes in it from then on.
    change_to(
        kind,
        &server,
        addr,
        &mut files,
        (4, Change::InPlace, false),
        &latencies,
    );
    finish(kind, server, client, "replaced directory");
}

/// A new key's secret written in steps (the key file renamed in, then the secret
/// rewritten in place with a pause, so that a part of it may be read first): the whole
/// secret is served in the end, not refused as a new secret under the same key.
#[test]
fn a_new_keys_secret_written_in_steps_is_served_whole() {
    let kind = &KINDS[1];
    let root = TempDir::new("a_new_keys_secret_written_in_steps");
    let mut files = Files::new(&root, "plain", false);
    let (server, addr, client) = start(kind, &root, &mut files, Change::RenameOver, &[]);
    files.put(&[("api-key", format!("{}\n", key(2)))], Change::RenameOver);
    let whole = secret(2);
    let (head, tail) = whole.split_at(10);
    let path = files.path("api-secret");
    std::fs::write(&path, head).expect("the secret's first part");
    // Longer than the watcher's settling time: the first part is read on its own.
    std::thread::sleep(Duration::from_millis(800));
    std::fs::write(&path, format!("{head}{tail}\n")).expect("the whole secret");
    assert!(
        eventually(|| (kind.serves)(addr, 2)),
        "the new key's whole secret was never served: {}",
        server.output()
    );
    finish(kind, server, client, "secret in steps");
}
