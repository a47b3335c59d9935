//! `chat-token serve --tenants-file`: each user's token signed with the Twilio account of
//! their organisation (tenant), from a TOML file that SIGHUP reads again.
//!
//! End to end, on the real binary: the tenants of a users file get tokens of their own
//! account (its `iss`, `sub`, chat service and secret); an unknown tenant, a user
//! without one and a tenant with unusable credentials are refused, and what the client
//! says about its tenant changes nothing; a rewritten file and a rotated secret are
//! served after SIGHUP while another tenant's requests keep succeeding, and an invalid
//! file keeps the previous tenants and is logged. No secret is ever in the output.

#![cfg(unix)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chat_token_core::{SecretString, inspect, inspect::SignatureCheck};

/// How long a reload may take to show, at most (no timing is asserted: only a bound).
const DEADLINE: Duration = Duration::from_secs(20);

/// The service's own account, from the environment: no tenant's token may use it.
const MAIN_ACCOUNT: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const MAIN_KEY: &str = "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const MAIN_SECRET: &str = "main-account-secret-never-shown-0";
const MAIN_SERVICE: &str = "ISdddddddddddddddddddddddddddddddd";

/// acme: its secret in a file, rotated (new key, new secret) during the test.
const ACME_ACCOUNT: &str = "AC11111111111111111111111111111111";
const ACME_KEY: &str = "SK11111111111111111111111111111111";
const ACME_KEY_2: &str = "SK22222222222222222222222222222222";
const ACME_SERVICE: &str = "IS11111111111111111111111111111111";
const ACME_SECRET: &str = "acme-secret-one-never-shown-00000";
const ACME_SECRET_2: &str = "acme-secret-two-never-shown-11111";

/// globex: its secret in an environment variable of serve.
const GLOBEX_ACCOUNT: &str = "AC33333333333333333333333333333333";
const GLOBEX_KEY: &str = "SK33333333333333333333333333333333";
const GLOBEX_SERVICE: &str = "IS33333333333333333333333333333333";
const GLOBEX_SECRET: &str = "globex-secret-never-shown-2222222";
const GLOBEX_VAR: &str = "GLOBEX_TWILIO_SECRET";

/// umbrella: its secret inline, in the (private) tenants file.
const UMBRELLA_ACCOUNT: &str = "AC44444444444444444444444444444444";
const UMBRELLA_KEY: &str = "SK44444444444444444444444444444444";
const UMBRELLA_SERVICE: &str = "IS44444444444444444444444444444444";
const UMBRELLA_SECRET: &str = "umbrella-secret-never-shown-33333";

/// hooli: a malformed account SID; its users get 500, the others are served.
const HOOLI_SECRET: &str = "hooli-secret-never-shown-44444444";

/// A secret-like value in the wrong place of an invalid file: never to be echoed.
const MISPLACED_SECRET: &str = "misplaced-secret-never-shown-5555";

/// Every secret of this file: none may be in serve's output.
const SECRETS: [&str; 8] = [
    MAIN_SECRET,
    ACME_SECRET,
    ACME_SECRET_2,
    GLOBEX_SECRET,
    UMBRELLA_SECRET,
    HOOLI_SECRET,
    MISPLACED_SECRET,
    IDP_SECRET,
];

const ALICE: &str = "tok-alice-0123456789";
const BOB: &str = "tok-bob-0123456789ab";
const UMA: &str = "tok-uma-0123456789ab";
const ERIN: &str = "tok-erin-0123456789a";
const CAROL: &str = "tok-carol-0123456789";
const DAVE: &str = "tok-dave-0123456789a";

/// The users: four of configured tenants, one of a tenant the file does not name, one
/// of none.
fn users() -> String {
    format!(
        "# token=identity;tenant=ID\n\
         {ALICE}=alice;tenant=acme\n\
         {BOB}=bob;tenant=globex\n\
         {UMA}=uma;tenant=umbrella\n\
         {ERIN}=erin;tenant=hooli\n\
         {CAROL}=carol;tenant=initech\n\
         {DAVE}=dave\n"
    )
}

/// The tenants file: acme with `acme_key` and its secret in `acme_secret_file`.
fn tenants_toml(acme_key: &str, acme_secret_file: &Path) -> String {
    format!(
        r#"# One [tenants.<id>] per organisation with its own Twilio subaccount.
[tenants.acme]
account_sid = "{ACME_ACCOUNT}"
api_key_sid = "{acme_key}"
api_secret_file = "{}"
chat_service_sid = "{ACME_SERVICE}"
ttl = 600

[tenants.globex]
account_sid = "{GLOBEX_ACCOUNT}"
api_key_sid = "{GLOBEX_KEY}"
api_secret_env = "{GLOBEX_VAR}"
chat_service_sid = "{GLOBEX_SERVICE}"

[tenants.umbrella]
account_sid = "{UMBRELLA_ACCOUNT}"
api_key_sid = "{UMBRELLA_KEY}"
api_secret = "{UMBRELLA_SECRET}"   # inline: the file is private (0600)
chat_service_sid = "{UMBRELLA_SERVICE}"

[tenants.hooli]
account_sid = "AC123"
api_key_sid = "SK55555555555555555555555555555555"
api_secret = "{HOOLI_SECRET}"
"#,
        acme_secret_file.display()
    )
}

/// A fresh directory for one test, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(test: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("chat-token-tenants-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create the test directory");
        Self(path)
    }

    /// Writes `name` with permission bits `mode`, as secret mounts do: aside, then
    /// renamed over the old one (so serve never reads half a file).
    fn write(&self, name: &str, content: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.0.join(name);
        let aside = self.0.join(format!(".{name}.new"));
        std::fs::write(&aside, content).expect("write a test file");
        std::fs::set_permissions(&aside, std::fs::Permissions::from_mode(mode)).expect("chmod");
        std::fs::rename(&aside, &path).expect("rename a test file");
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `chat-token` with only `env` among the variables it reads (and `RUST_LOG=info`).
fn command(env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chat-token"));
    for var in [
        "TWILIO_ACCOUNT_SID",
        "TWILIO_API_KEY",
        "TWILIO_API_KEY_FILE",
        "TWILIO_API_SECRET",
        "TWILIO_API_SECRET_FILE",
        "TWILIO_CHAT_SERVICE_SID",
        "CHAT_TOKEN_USERS",
        GLOBEX_VAR,
    ] {
        cmd.env_remove(var);
    }
    cmd.env("RUST_LOG", "info");
    cmd.envs(env.iter().copied());
    cmd
}

/// The service's own credentials, and globex's secret variable.
fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("TWILIO_ACCOUNT_SID", MAIN_ACCOUNT),
        ("TWILIO_API_KEY", MAIN_KEY),
        ("TWILIO_API_SECRET", MAIN_SECRET),
        ("TWILIO_CHAT_SERVICE_SID", MAIN_SERVICE),
        (GLOBEX_VAR, GLOBEX_SECRET),
    ]
}

/// A `chat-token` process whose stdout and stderr are collected as they come; killed on
/// drop.
struct Process {
    child: Child,
    out: Arc<Mutex<String>>,
}

impl Process {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = command(env)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chat-token");
        let out = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        for pipe in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let sink = out.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    sink.lock().expect("output").push_str(&(line + "\n"));
                }
            });
        }
        Self { child, out }
    }

    /// Everything written so far, both streams.
    fn output(&self) -> String {
        self.out.lock().expect("output").clone()
    }

    /// Waits (at most [`DEADLINE`]) until the output has `count` lines with `needle`.
    fn wait_for_lines(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + DEADLINE;
        while self.output().matches(needle).count() < count {
            assert!(
                Instant::now() < deadline,
                "never logged {needle:?} {count} times: {}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (at most [`DEADLINE`]) for the process to exit: its code and output.
    fn exit(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "chat-token did not exit: {}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader threads finish with the process; let them catch up.
        std::thread::sleep(Duration::from_millis(100));
        let out = self.output();
        assert_no_secret(&out);
        (status.code(), out)
    }

    fn hup(&self) {
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -HUP failed");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn assert_no_secret(out: &str) {
    for secret in SECRETS {
        assert!(!out.contains(secret), "a secret was printed: {out}");
    }
}

/// A running `chat-token serve --bind 127.0.0.1:0 <args>`.
struct Server {
    process: Process,
    addr: SocketAddr,
}

impl Server {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let process = Process::start(&[&["serve", "--bind", "127.0.0.1:0"], args].concat(), env);
        let deadline = Instant::now() + DEADLINE;
        let addr = loop {
            let text = process.output();
            if let Some(addr) = text
                .split("addr=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|a| a.parse().ok())
            {
                break addr;
            }
            assert!(Instant::now() < deadline, "serve did not start: {text}");
            std::thread::sleep(Duration::from_millis(20));
        };
        Self { process, addr }
    }

    /// Stops the server; its whole output, checked for secrets.
    fn stop(mut self) -> String {
        let _ = self.process.child.kill();
        let _ = self.process.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        let out = self.process.output();
        assert_no_secret(&out);
        out
    }
}

/// A reply: status and JSON body.
struct Reply {
    status: u16,
    json: serde_json::Value,
}

/// `GET path` with `headers`, on a connection of its own.
fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut text = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(text.as_bytes()).expect("write");
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let raw = String::from_utf8_lossy(&bytes);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        json: serde_json::from_str(body).unwrap_or_default(),
    }
}

/// `GET /token` as the user with bearer token `user`.
fn token_of(addr: SocketAddr, user: &str) -> Reply {
    get(
        addr,
        "/token",
        &[("Authorization", &format!("Bearer {user}"))],
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// An account's view of a token: who issued it and for which account and service.
struct Account {
    key: &'static str,
    account: &'static str,
    service: &'static str,
    secret: &'static str,
}

const ACME: Account = Account {
    key: ACME_KEY,
    account: ACME_ACCOUNT,
    service: ACME_SERVICE,
    secret: ACME_SECRET,
};
const ACME_ROTATED: Account = Account {
    key: ACME_KEY_2,
    account: ACME_ACCOUNT,
    service: ACME_SERVICE,
    secret: ACME_SECRET_2,
};
const GLOBEX: Account = Account {
    key: GLOBEX_KEY,
    account: GLOBEX_ACCOUNT,
    service: GLOBEX_SERVICE,
    secret: GLOBEX_SECRET,
};
const UMBRELLA: Account = Account {
    key: UMBRELLA_KEY,
    account: UMBRELLA_ACCOUNT,
    service: UMBRELLA_SERVICE,
    secret: UMBRELLA_SECRET,
};
const ALL: [&Account; 4] = [&ACME, &ACME_ROTATED, &GLOBEX, &UMBRELLA];

/// Whether `jwt` is signed with `account`'s secret and names its key, account and chat
/// service.
fn is_of(jwt: &str, account: &Account) -> bool {
    let Ok(inspection) = inspect(jwt, Some(&SecretString::from(account.secret)), now()) else {
        return false;
    };
    let claims = inspection.claims();
    inspection.signature() == SignatureCheck::Valid
        && claims["iss"] == account.key
        && claims["sub"] == account.account
        && claims["grants"]["chat"]["service_sid"] == account.service
}

/// Asserts that `reply` is a token of `identity` for `account`, verifiable with its
/// secret only; the token.
fn assert_token(reply: &Reply, identity: &str, account: &Account) -> String {
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["identity"], identity, "{}", reply.json);
    let jwt = reply.json["token"].as_str().expect("token").to_owned();
    assert!(is_of(&jwt, account), "not a token of {}", account.key);
    for other in ALL {
        if other.secret != account.secret {
            let inspection =
                inspect(&jwt, Some(&SecretString::from(other.secret)), now()).expect("inspect");
            assert_ne!(inspection.signature(), SignatureCheck::Valid);
        }
    }
    let main = inspect(&jwt, Some(&SecretString::from(MAIN_SECRET)), now()).expect("inspect");
    assert_ne!(main.signature(), SignatureCheck::Valid);
    jwt
}

fn assert_refused(reply: &Reply, status: u16, error: &str) {
    assert_eq!(reply.status, status, "{}", reply.json);
    assert_eq!(reply.json["error"], error, "{}", reply.json);
    assert!(reply.json.get("token").is_none());
}

#[test]
fn each_tenant_gets_tokens_of_its_own_account_and_sighup_reloads_the_file() {
    let dir = Dir::new("reload");
    let acme_secret = dir.write("acme-secret", &format!("{ACME_SECRET}\n"), 0o600);
    let users = dir.write("users", &users(), 0o600);
    let tenants = dir.write("tenants.toml", &tenants_toml(ACME_KEY, &acme_secret), 0o600);
    let server = Server::start(
        &[
            "--users-file",
            &users.to_string_lossy(),
            "--tenants-file",
            &tenants.to_string_lossy(),
        ],
        &env(),
    );
    let addr = server.addr;

    let alice = token_of(addr, ALICE);
    assert_token(&alice, "alice", &ACME);
    assert_eq!(alice.json["expires_in"], 600, "acme's ttl");
    assert_token(&token_of(addr, BOB), "bob", &GLOBEX);
    assert_token(&token_of(addr, UMA), "uma", &UMBRELLA);
    assert_refused(&token_of(addr, CAROL), 403, "forbidden");
    assert_refused(&token_of(addr, DAVE), 403, "forbidden");
    assert_refused(&token_of(addr, ERIN), 500, "internal");
    assert_token(&token_of(addr, BOB), "bob", &GLOBEX);

    // What the client says about its tenant changes nothing.
    let bearer = format!("Bearer {ALICE}");
    for (path, headers) in [
        (
            "/token?tenant=globex",
            vec![("Authorization", bearer.as_str())],
        ),
        (
            "/token",
            vec![("Authorization", bearer.as_str()), ("X-Tenant", "globex")],
        ),
        (
            "/token",
            vec![("Authorization", bearer.as_str()), ("X-Org", "globex")],
        ),
    ] {
        assert_token(&get(addr, path, &headers), "alice", &ACME);
    }
    let dave = format!("Bearer {DAVE}");
    let r = get(
        addr,
        "/token?tenant=acme",
        &[("Authorization", &dave), ("X-Tenant", "acme")],
    );
    assert_refused(&r, 403, "forbidden");

    // Bob asks for tokens all along the reloads; each must succeed, signed by globex.
    let stop = Arc::new(AtomicBool::new(false));
    let bob = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut failures = Vec::new();
            let mut asked = 0;
            while !stop.load(Ordering::Relaxed) || asked == 0 {
                let reply = token_of(addr, BOB);
                let ok = reply.status == 200
                    && reply.json["token"]
                        .as_str()
                        .is_some_and(|jwt| is_of(jwt, &GLOBEX));
                if !ok {
                    failures.push(format!("{} {}", reply.status, reply.json));
                }
                asked += 1;
            }
            (asked, failures)
        })
    };

    // Rotation: a new key for acme, its new secret in the same file; then SIGHUP.
    dir.write("acme-secret", &format!("{ACME_SECRET_2}\n"), 0o600);
    dir.write(
        "tenants.toml",
        &tenants_toml(ACME_KEY_2, &acme_secret),
        0o600,
    );
    server.process.hup();
    let deadline = Instant::now() + DEADLINE;
    loop {
        let reply = token_of(addr, ALICE);
        if reply.status == 200
            && reply.json["token"]
                .as_str()
                .is_some_and(|jwt| is_of(jwt, &ACME_ROTATED))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "acme's new key never served: {}",
            server.process.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_token(&token_of(addr, ALICE), "alice", &ACME_ROTATED);
    server
        .process
        .wait_for_lines("SIGHUP: tenants file reloaded", 1);
    assert!(server.process.output().contains("tenants=4"));

    // An invalid file: an unknown key. The current tenants stay, the log says why.
    let unknown =
        tenants_toml(ACME_KEY, &acme_secret).replace("api_secret_file", "api_secret_fiel");
    dir.write("tenants.toml", &unknown, 0o600);
    server.process.hup();
    server
        .process
        .wait_for_lines("keeping the current tenants", 1);
    assert!(
        server
            .process
            .output()
            .contains("unknown field `api_secret_fiel`")
    );
    assert_token(&token_of(addr, ALICE), "alice", &ACME_ROTATED);
    assert_refused(&token_of(addr, CAROL), 403, "forbidden");

    // Another: a secret where a number belongs. Not echoed.
    let misplaced = tenants_toml(ACME_KEY, &acme_secret)
        .replace("ttl = 600", &format!("ttl = \"{MISPLACED_SECRET}\""));
    dir.write("tenants.toml", &misplaced, 0o600);
    server.process.hup();
    server
        .process
        .wait_for_lines("keeping the current tenants", 2);
    assert!(server.process.output().contains("invalid value, expected"));
    assert_token(&token_of(addr, ALICE), "alice", &ACME_ROTATED);
    assert_token(&token_of(addr, UMA), "uma", &UMBRELLA);

    stop.store(true, Ordering::Relaxed);
    let (asked, failures) = bob.join().expect("bob's requests");
    assert!(asked > 0);
    assert!(failures.is_empty(), "bob's requests failed: {failures:?}");

    let out = server.stop();
    assert!(out.contains("tenant=\"hooli\""), "{out}");
    assert!(
        out.contains("account_sid is not a valid Account SID"),
        "{out}"
    );
}

const IDP_SECRET: &str = "idp-shared-secret-never-shown-666";

fn hs256(claims: serde_json::Value) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing = format!(
        "{}.{}",
        e.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        e.encode(claims.to_string())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(IDP_SECRET.as_bytes()).expect("key");
    mac.update(signing.as_bytes());
    format!("{signing}.{}", e.encode(mac.finalize().into_bytes()))
}

#[test]
fn the_tenant_comes_from_a_jwt_claim_or_the_proxy_header() {
    let dir = Dir::new("naming");
    let acme_secret = dir.write("acme-secret", &format!("{ACME_SECRET}\n"), 0o600);
    let tenants = dir.write("tenants.toml", &tenants_toml(ACME_KEY, &acme_secret), 0o600);
    let tenants = tenants.to_string_lossy();
    let idp = dir.write("idp-secret", &format!("{IDP_SECRET}\n"), 0o600);

    let server = Server::start(
        &[
            "--jwt-hs256-secret-file",
            &idp.to_string_lossy(),
            "--jwt-issuer",
            "https://idp.example",
            "--jwt-audience",
            "chat",
            "--tenant-claim",
            "org_id",
            "--tenants-file",
            &tenants,
        ],
        &env(),
    );
    let jwt = |claims: serde_json::Value| {
        let mut all =
            serde_json::json!({"iss": "https://idp.example", "aud": "chat", "exp": now() + 300});
        for (name, value) in claims.as_object().expect("claims") {
            all[name] = value.clone();
        }
        format!("Bearer {}", hs256(all))
    };
    let alice = jwt(serde_json::json!({"sub": "alice", "org_id": "acme"}));
    let r = get(
        server.addr,
        "/token",
        &[("Authorization", &alice), ("X-Tenant", "globex")],
    );
    assert_token(&r, "alice", &ACME);
    let bob = jwt(serde_json::json!({"sub": "bob", "org_id": "globex"}));
    assert_token(
        &get(server.addr, "/token", &[("Authorization", &bob)]),
        "bob",
        &GLOBEX,
    );
    let nobody = jwt(serde_json::json!({"sub": "carol"}));
    assert_refused(
        &get(server.addr, "/token", &[("Authorization", &nobody)]),
        403,
        "forbidden",
    );
    let unknown = jwt(serde_json::json!({"sub": "carol", "org_id": "initech"}));
    assert_refused(
        &get(server.addr, "/token", &[("Authorization", &unknown)]),
        403,
        "forbidden",
    );
    assert!(server.stop().contains("tenant from claim org_id"));

    let server = Server::start(
        &[
            "--trusted-header",
            "X-User",
            "--tenant-header",
            "X-Org",
            "--tenants-file",
            &tenants,
        ],
        &env(),
    );
    let r = get(
        server.addr,
        "/token",
        &[("X-User", "bob"), ("X-Org", "globex")],
    );
    assert_token(&r, "bob", &GLOBEX);
    let r = get(server.addr, "/token?tenant=acme", &[("X-User", "bob")]);
    assert_refused(&r, 403, "forbidden");
    assert!(server.stop().contains("tenant from header X-Org"));
}

#[test]
fn serve_refuses_what_cannot_work() {
    let dir = Dir::new("refusals");
    let acme_secret = dir.write("acme-secret", &format!("{ACME_SECRET}\n"), 0o600);
    let users = dir.write("users", &users(), 0o600);
    let users = users.to_string_lossy();
    let refused = |args: &[&str], says: &[&str]| {
        let process = Process::start(
            &[&["serve", "--bind", "127.0.0.1:0"], args].concat(),
            &env(),
        );
        let (code, out) = process.exit();
        assert_ne!(code, Some(0), "{out}");
        for part in says {
            assert!(out.contains(part), "should say {part:?}: {out}");
        }
    };

    // An inline secret in a file others can read.
    let open = dir.write("open.toml", &tenants_toml(ACME_KEY, &acme_secret), 0o644);
    refused(
        &[
            "--users-file",
            &users,
            "--tenants-file",
            &open.to_string_lossy(),
        ],
        &["tenant hooli has an inline api_secret", "chmod 600"],
    );

    // Two sources of one tenant's secret.
    let both = tenants_toml(ACME_KEY, &acme_secret).replace(
        &format!("api_secret_env = \"{GLOBEX_VAR}\""),
        &format!("api_secret_env = \"{GLOBEX_VAR}\"\napi_secret = \"{GLOBEX_SECRET}\""),
    );
    let both = dir.write("both.toml", &both, 0o600);
    let both = both.to_string_lossy();
    refused(
        &["--users-file", &users, "--tenants-file", &both],
        &[
            "tenant globex gives 2 of api_secret_file, api_secret_env and api_secret",
            "exactly one",
        ],
    );

    // Not TOML; no tenant.
    let broken = dir.write(
        "broken.toml",
        &format!("[tenants.acme\napi_secret = \"{MISPLACED_SECRET}\"\n"),
        0o600,
    );
    refused(
        &[
            "--users-file",
            &users,
            "--tenants-file",
            &broken.to_string_lossy(),
        ],
        &["line 1"],
    );
    let empty = dir.write("empty.toml", "# no tenant yet\n", 0o600);
    refused(
        &[
            "--users-file",
            &users,
            "--tenants-file",
            &empty.to_string_lossy(),
        ],
        &["configures no tenant"],
    );

    // A way to name tenants without tenants, and tenants no request could name.
    let good = dir.write("good.toml", &tenants_toml(ACME_KEY, &acme_secret), 0o600);
    let good = good.to_string_lossy();
    refused(
        &["--trusted-header", "X-User", "--tenant-header", "X-Org"],
        &["--tenants-file"],
    );
    refused(
        &[
            "--users-file",
            &users,
            "--tenant-header",
            "X-Org",
            "--tenants-file",
            &good,
        ],
        &["--trusted-header"],
    );
    refused(
        &["--trusted-header", "X-User", "--tenants-file", &good],
        &["needs --tenant-header"],
    );
    let idp = dir.write("idp-secret", &format!("{IDP_SECRET}\n"), 0o600);
    refused(
        &[
            "--jwt-hs256-secret-file",
            &idp.to_string_lossy(),
            "--jwt-issuer",
            "https://idp.example",
            "--jwt-audience",
            "chat",
            "--tenants-file",
            &good,
        ],
        &["needs --tenant-claim"],
    );
}

#[test]
fn serve_help_describes_the_tenant_flags() {
    let (code, out) = Process::start(&["serve", "--help"], &[]).exit();
    assert_eq!(code, Some(0), "{out}");
    for part in [
        "--tenants-file <FILE>",
        "[tenants.acme]",
        "api_secret_env",
        "chmod 600",
        "users get 500",
        "SIGHUP",
        "--tenant-claim <CLAIM>",
        "--tenant-header <NAME>",
    ] {
        assert!(out.contains(part), "--help should say {part:?}: {out}");
    }
}

#[test]
fn serve_warns_about_demo_users_and_a_tenant_without_a_chat_service() {
    let dir = Dir::new("warnings");
    // The secret file is named relative to the tenants file's directory.
    dir.write("acme-secret", &format!("{ACME_SECRET}\n"), 0o600);
    let toml = format!(
        "[tenants.acme]\naccount_sid = \"{ACME_ACCOUNT}\"\napi_key_sid = \"{ACME_KEY}\"\napi_secret_file = \"acme-secret\"\n"
    );
    let tenants = dir.write("tenants.toml", &toml, 0o644);
    // Development mode (no credentials), whose demo users belong to no tenant.
    let server = Server::start(&["--tenants-file", &tenants.to_string_lossy()], &[]);
    let r = token_of(server.addr, "demo-alice");
    assert_refused(&r, 403, "forbidden");
    let out = server.stop();
    assert!(
        out.contains("no entry of the demo users names a tenant") && out.contains("403"),
        "{out}"
    );
    // The file holds no secret: no warning that others can read it.
    assert!(!out.contains("can be read by other users"), "{out}");
    assert!(out.contains("tenants=1 unusable=1"), "{out}");
    assert!(out.contains("no chat_service_sid"), "{out}");
}
