//! Attacks on `chat-token serve --tenants-file` by a careless deployer (and a user who
//! wants another organisation's token): secret files that are not files, huge or many
//! lines; inline secrets in files others can read, through symlinks; TOML errors around
//! secrets; duplicate and lookalike tenant ids; users entries naming tenants the file
//! does not; a tenant without a chat service; reloads that swap two tenants' secrets.
//!
//! Every test asserts the SAFE behaviour: a test fails exactly when the weakness it
//! names exists. Timings are asserted only as generous upper bounds ("does not hang").

#![cfg(unix)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chat_token_core::{SecretString, inspect, inspect::SignatureCheck};

/// How long anything may take at most before the test calls it a hang.
const DEADLINE: Duration = Duration::from_secs(15);

const MAIN_ACCOUNT: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const MAIN_KEY: &str = "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const MAIN_SECRET: &str = "main-account-secret-never-shown-0";
const MAIN_SERVICE: &str = "ISdddddddddddddddddddddddddddddddd";

struct Account {
    account: &'static str,
    key: &'static str,
    service: &'static str,
    secret: &'static str,
}

const ACME: Account = Account {
    account: "AC11111111111111111111111111111111",
    key: "SK11111111111111111111111111111111",
    service: "IS11111111111111111111111111111111",
    secret: "acme-secret-never-shown-111111111",
};
const GLOBEX: Account = Account {
    account: "AC33333333333333333333333333333333",
    key: "SK33333333333333333333333333333333",
    service: "IS33333333333333333333333333333333",
    secret: "globex-secret-never-shown-3333333",
};

/// A secret-like value placed where it does not belong: never to be echoed, in part
/// or whole.
const STRAY_HEAD: &str = "strayhead7q";
const STRAY_TAIL: &str = "straytail9z";

const ALICE: &str = "tok-alice-0123456789";
const BOB: &str = "tok-bob-0123456789ab";
const CAROL: &str = "tok-carol-0123456789";

const SECRETS: [&str; 5] = [
    MAIN_SECRET,
    ACME.secret,
    GLOBEX.secret,
    STRAY_HEAD,
    STRAY_TAIL,
];

fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("TWILIO_ACCOUNT_SID", MAIN_ACCOUNT),
        ("TWILIO_API_KEY", MAIN_KEY),
        ("TWILIO_API_SECRET", MAIN_SECRET),
        ("TWILIO_CHAT_SERVICE_SID", MAIN_SERVICE),
    ]
}

/// A fresh directory for one test, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(test: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "chat-token-attack-tenants-{test}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create the test directory");
        Self(path)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `name` with `mode`, aside first and renamed over the old one.
    fn write(&self, name: &str, content: &str, mode: u32) -> PathBuf {
        let path = self.path(name);
        let aside = self.path(&format!(".{name}.new"));
        std::fs::write(&aside, content).expect("write");
        std::fs::set_permissions(&aside, std::fs::Permissions::from_mode(mode)).expect("chmod");
        std::fs::rename(&aside, &path).expect("rename");
        path
    }

    fn fifo(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        let _ = std::fs::remove_file(&path);
        let ok = Command::new("mkfifo")
            .arg("-m")
            .arg("600")
            .arg(&path)
            .status()
            .expect("mkfifo")
            .success();
        assert!(ok, "mkfifo failed");
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chat-token"));
    for var in [
        "TWILIO_ACCOUNT_SID",
        "TWILIO_API_KEY",
        "TWILIO_API_KEY_FILE",
        "TWILIO_API_SECRET",
        "TWILIO_API_SECRET_FILE",
        "TWILIO_CHAT_SERVICE_SID",
        "CHAT_TOKEN_USERS",
        "GLOBEX_TWILIO_SECRET",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("RUST_LOG", "info");
    cmd
}

/// A `chat-token` process whose output (both streams) is collected; killed on drop.
struct Process {
    child: Child,
    out: Arc<Mutex<String>>,
}

impl Process {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = command()
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chat-token");
        let out = Arc::new(Mutex::new(String::new()));
        let pipes: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for pipe in pipes {
            let sink = out.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    sink.lock().expect("output").push_str(&(line + "\n"));
                }
            });
        }
        Self { child, out }
    }

    fn serve(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start(&[&["serve", "--bind", "127.0.0.1:0"], args].concat(), env)
    }

    fn output(&self) -> String {
        self.out.lock().expect("output").clone()
    }

    /// The address, once serve listens; `None` if it exits first or [`DEADLINE`] passes.
    fn addr(&mut self) -> Option<SocketAddr> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(addr) = self
                .output()
                .split("addr=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|a| a.parse().ok())
            {
                return Some(addr);
            }
            if self.child.try_wait().expect("wait").is_some() || Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The exit code, once the process exits; `None` if it still runs after [`DEADLINE`].
    fn exit_code(&mut self) -> Option<Option<i32>> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                std::thread::sleep(Duration::from_millis(100));
                return Some(status.code());
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether `needle` shows in the output at least `count` times within [`DEADLINE`].
    fn logs(&self, needle: &str, count: usize) -> bool {
        let deadline = Instant::now() + DEADLINE;
        while self.output().matches(needle).count() < count {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    fn hup(&self) {
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -HUP failed");
    }

    /// Stops the process; its whole output, checked for secrets.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        let out = self.output();
        assert_no_secret(&out);
        out
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
        assert!(
            !out.contains(secret),
            "a secret ({secret}) was printed: {out}"
        );
    }
}

struct Reply {
    status: u16,
    json: serde_json::Value,
}

fn token_of(addr: SocketAddr, user: &str) -> Reply {
    let text = format!(
        "GET /token HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {user}\r\n\r\n"
    );
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(text.as_bytes()).expect("write");
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let raw = String::from_utf8_lossy(&bytes);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    Reply {
        status: head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        json: serde_json::from_str(body).unwrap_or_default(),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Whether `reply` is a token of `account`, verifiable with its secret.
fn is_of(reply: &Reply, account: &Account) -> bool {
    let Some(jwt) = reply.json["token"].as_str() else {
        return false;
    };
    let Ok(inspection) = inspect(jwt, Some(&SecretString::from(account.secret)), now()) else {
        return false;
    };
    let claims = inspection.claims();
    inspection.signature() == SignatureCheck::Valid
        && claims["iss"] == account.key
        && claims["sub"] == account.account
        && claims["grants"]["chat"]["service_sid"] == account.service
}

fn tenant_table(id: &str, account: &Account, secret_line: &str) -> String {
    format!(
        "[tenants.{id}]\naccount_sid = \"{}\"\napi_key_sid = \"{}\"\n{secret_line}\nchat_service_sid = \"{}\"\n",
        account.account, account.key, account.service
    )
}

fn users(dir: &Dir, entries: &str) -> PathBuf {
    dir.write("users", entries, 0o600)
}

// ---------------------------------------------------------------------------------------
// Secret files that are not secrets
// ---------------------------------------------------------------------------------------

/// FINDING (low, deployer): a tenant's `api_secret_file` naming a FIFO (or a device,
/// a socket, /dev/stdin...) blocks `serve` forever before it listens: the secret file is
/// opened and read with no check of its type and no limit. (`/dev/zero` is worse: an
/// unbounded read of zero bytes, until memory runs out.) Safe: a secret file that is
/// not a regular file makes that tenant unusable (500, logged) or `serve` refuses to
/// start; it never hangs.
#[test]
fn a_fifo_as_a_tenant_secret_file_does_not_hang_serve() {
    let dir = Dir::new("fifo-start");
    let fifo = dir.fifo("acme-secret");
    let tenants = dir.write(
        "tenants.toml",
        &tenant_table(
            "acme",
            &ACME,
            &format!("api_secret_file = \"{}\"", fifo.display()),
        ),
        0o600,
    );
    let users = users(&dir, &format!("{ALICE}=alice;tenant=acme\n"));
    let mut serve = Process::serve(
        &[
            "--users-file",
            &users.to_string_lossy(),
            "--tenants-file",
            &tenants.to_string_lossy(),
        ],
        &env(),
    );
    let addr = serve.addr();
    let exited = serve.child.try_wait().expect("wait").is_some();
    let out = serve.stop();
    assert!(
        addr.is_some() || exited,
        "serve neither listened nor exited within {DEADLINE:?}: it hangs reading the FIFO\n{out}"
    );
}

/// FINDING (medium, deployer): the same on SIGHUP. The reload reads every secret file
/// synchronously on a runtime worker; a FIFO among them blocks it forever, so the fix
/// (a corrected file and another SIGHUP) is never read, and one of the runtime's
/// worker threads is gone for good. Safe: the reload finishes (the tenant unusable or
/// the new file refused), and the next SIGHUP reloads the corrected file.
#[test]
fn a_fifo_secret_file_on_reload_does_not_wedge_later_reloads() {
    let dir = Dir::new("fifo-reload");
    let secret = dir.write("acme-secret", &format!("{}\n", ACME.secret), 0o600);
    let good = tenant_table(
        "acme",
        &ACME,
        &format!("api_secret_file = \"{}\"", secret.display()),
    );
    let tenants = dir.write("tenants.toml", &good, 0o600);
    let users = users(&dir, &format!("{ALICE}=alice;tenant=acme\n"));
    let mut serve = Process::serve(
        &[
            "--users-file",
            &users.to_string_lossy(),
            "--tenants-file",
            &tenants.to_string_lossy(),
        ],
        &env(),
    );
    let addr = serve.addr().expect("serve listens");
    assert!(is_of(&token_of(addr, ALICE), &ACME));

    let fifo = dir.fifo("acme-fifo");
    dir.write(
        "tenants.toml",
        &tenant_table(
            "acme",
            &ACME,
            &format!("api_secret_file = \"{}\"", fifo.display()),
        ),
        0o600,
    );
    serve.hup();
    std::thread::sleep(Duration::from_millis(500));
    dir.write("tenants.toml", &good, 0o600);
    serve.hup();
    let reloaded = serve.logs("tenants file reloaded", 1);
    let out = serve.stop();
    assert!(
        reloaded,
        "no reload finished within {DEADLINE:?} after a FIFO secret and a corrected file\n{out}"
    );
}

/// FINDING (low, deployer): a secret file is read whole, whatever its size (the tenants
/// file itself is capped at 16 MiB, its secret files are not): a path pointing at a
/// large file (a log, a disk image, `/dev/zero`) is read into memory, and a 20 MiB
/// file is even accepted as the tenant's secret. Safe: a secret file larger than any
/// API key secret (a few KiB at most) makes the tenant unusable (500, logged) without
/// being read whole.
#[test]
fn a_huge_secret_file_is_refused() {
    let dir = Dir::new("huge");
    let huge = dir.path("acme-secret");
    std::fs::write(&huge, "s".repeat(20 * 1024 * 1024)).expect("write the huge file");
    std::fs::set_permissions(&huge, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let tenants = dir.write(
        "tenants.toml",
        &tenant_table(
            "acme",
            &ACME,
            &format!("api_secret_file = \"{}\"", huge.display()),
        ),
        0o600,
    );
    let users = users(&dir, &format!("{ALICE}=alice;tenant=acme\n"));
    let mut serve = Process::serve(
        &[
            "--users-file",
            &users.to_string_lossy(),
            "--tenants-file",
            &tenants.to_string_lossy(),
        ],
        &env(),
    );
    let reply = serve.addr().map(|addr| token_of(addr, ALICE));
    let out = serve.stop();
    let status = reply.as_ref().map(|r| r.status);
    assert!(
        matches!(status, None | Some(500)),
        "a 20 MiB secret file was accepted as acme's secret: {status:?}\n{}",
        out.lines().take(20).collect::<Vec<_>>().join("\n")
    );
}

/// FINDING (info, deployer): a secret file of several lines (a symlink to the wrong
/// file, `/etc/shadow`, a `.env` of many variables, two secrets during a rotation) is
/// accepted whole as the API key secret: tokens are minted that Twilio will refuse, and
/// nothing is logged. Safe: a secret with a line break (or other control character)
/// inside makes the tenant unusable (500), and the log says why.
#[test]
fn a_secret_file_of_several_lines_is_unusable() {
    let dir = Dir::new("lines");
    let secret = dir.write(
        "acme-secret",
        &format!("{}\nOTHER_VAR=x\n", ACME.secret),
        0o600,
    );
    let tenants = dir.write(
        "tenants.toml",
        &tenant_table(
            "acme",
            &ACME,
            &format!("api_secret_file = \"{}\"", secret.display()),
        ),
        0o600,
    );
    let users = users(&dir, &format!("{ALICE}=alice;tenant=acme\n"));
    let mut serve = Process::serve(
        &[
            "--users-file",
            &users.to_string_lossy(),
            "--tenants-file",
            &tenants.to_string_lossy(),
        ],
        &env(),
    );
    let addr = serve.addr().expect("serve listens");
    let reply = token_of(addr, ALICE);
    let out = serve.stop();
    assert_eq!(
        reply.status, 500,
        "a two-line secret file was used as the secret: {}\n{out}",
        reply.json
    );
}

// ---------------------------------------------------------------------------------------
// Inline secrets: who can read the file, what errors say
// ---------------------------------------------------------------------------------------

/// Finding probed: an inline `api_secret` in a tenants file others can read (0644,
/// 0640, or a private-looking symlink to a world-readable file) is accepted.
#[test]
fn an_inline_secret_in_a_file_others_can_read_is_refused_even_through_a_symlink() {
    let dir = Dir::new("inline");
    let text = tenant_table("acme", &ACME, &format!("api_secret = \"{}\"", ACME.secret));
    let users = users(&dir, &format!("{ALICE}=alice;tenant=acme\n"));
    let world = dir.write("world.toml", &text, 0o644);
    let group = dir.write("group.toml", &text, 0o640);
    let link = dir.path("link.toml");
    std::os::unix::fs::symlink(&world, &link).expect("symlink");
    for file in [&world, &group, &link] {
        let mut serve = Process::serve(
            &[
                "--users-file",
                &users.to_string_lossy(),
                "--tenants-file",
                &file.to_string_lossy(),
            ],
            &env(),
        );
        let code = serve.exit_code();
        let out = serve.stop();
        assert!(
            matches!(code, Some(Some(c)) if c != 0),
            "{}: an inline secret in a file others can read was accepted\n{out}",
            file.display()
        );
        assert!(out.contains("chmod 600"), "{out}");
    }
    // A private file reached through a symlink is fine.
    let private = dir.write("private.toml", &text, 0o600);
    let link = dir.path("private-link.toml");
    std::os::unix::fs::symlink(&private, &link).expect("symlink");
    let mut serve = Process::serve(
        &[
            "--users-file",
            &users.to_string_lossy(),
            "--tenants-file",
            &link.to_string_lossy(),
        ],
        &env(),
    );
    let addr = serve.addr().expect("serve listens");
    assert!(is_of(&token_of(addr, ALICE), &ACME));
    serve.stop();
}

/// FINDING (low): a TOML error about a value holding a double quote echoes part of
/// it. The parser's message quotes a mistyped string with escapes (`"ab\"cd"`), and the
/// redaction, which drops what lies between the first two `"`, stops at the escaped
/// one: the rest of the value is printed. An unquoted numeric value is echoed whole
/// (between backticks, which are not redacted). Safe: no part of a value in the file
/// appears in the error.
#[test]
fn toml_errors_never_echo_any_part_of_a_value() {
    let dir = Dir::new("toml-errors");
    let users = users(&dir, &format!("{ALICE}=alice;tenant=acme\n"));
    let base = |extra: &str| {
        format!(
            "[tenants.acme]\naccount_sid = \"{}\"\napi_key_sid = \"{}\"\napi_secret_env = \"X\"\nchat_service_sid = \"{}\"\n{extra}\n",
            ACME.account, ACME.key, ACME.service
        )
    };
    let cases = [
        // A secret with a quote in it, pasted into a typed field.
        (
            "quote",
            base(&format!("ttl = '{STRAY_HEAD}\"{STRAY_TAIL}'")),
            &[STRAY_HEAD, STRAY_TAIL][..],
        ),
        // The same, two quotes.
        (
            "quotes",
            base(&format!("ttl = '\"{STRAY_HEAD}\"{STRAY_TAIL}'")),
            &[STRAY_HEAD, STRAY_TAIL][..],
        ),
        // A numeric secret written without quotes.
        (
            "number",
            format!(
                "[tenants.acme]\naccount_sid = \"{}\"\napi_key_sid = \"{}\"\napi_secret = 4815162342108\nchat_service_sid = \"{}\"\n",
                ACME.account, ACME.key, ACME.service
            ),
            &["4815162342108"][..],
        ),
    ];
    let mut leaks = Vec::new();
    for (name, text, values) in cases {
        let file = dir.write(&format!("{name}.toml"), &text, 0o600);
        let mut process = Process::serve(
            &[
                "--users-file",
                &users.to_string_lossy(),
                "--tenants-file",
                &file.to_string_lossy(),
            ],
            &env(),
        );
        let code = process.exit_code();
        let _ = process.child.kill();
        let out = process.output();
        assert!(
            matches!(code, Some(Some(c)) if c != 0),
            "{name}: accepted\n{out}"
        );
        for value in values {
            if out.contains(value) {
                leaks.push(format!(
                    "{name}: {}",
                    out.lines()
                        .filter(|l| l.contains(value))
                        .collect::<Vec<_>>()
                        .join(" | ")
                ));
            }
        }
    }
    assert!(leaks.is_empty(), "values echoed:\n{}", leaks.join("\n"));
}

/// Finding probed: `--help` (or `serve --help`) shows a secret from the environment or
/// the tenants file's content.
#[test]
fn help_shows_no_secret() {
    for args in [&["--help"][..], &["serve", "--help"][..]] {
        let out = command()
            .args(args)
            .envs(env())
            .env("GLOBEX_TWILIO_SECRET", GLOBEX.secret)
            .output()
            .expect("run");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_no_secret(&text);
        assert!(text.contains("tenants-file") || args.len() == 1, "{text}");
    }
}

// ---------------------------------------------------------------------------------------
// Tenant ids and naming
// ---------------------------------------------------------------------------------------

/// Finding probed: two tables for one tenant id (written twice, or once quoted), or an
/// id equal to another's but for white space, are accepted and one silently wins.
#[test]
fn duplicate_and_padded_tenant_ids_are_refused() {
    let dir = Dir::new("duplicates");
    let users = users(&dir, &format!("{ALICE}=alice;tenant=acme\n"));
    let acme = tenant_table("acme", &ACME, "api_secret_env = \"ACME_SECRET\"");
    let cases = [
        (
            "twice",
            format!(
                "{acme}\n{}",
                tenant_table("acme", &GLOBEX, "api_secret_env = \"GLOBEX_SECRET\"")
            ),
        ),
        (
            "quoted",
            format!(
                "{acme}\n{}",
                tenant_table("\"acme\"", &GLOBEX, "api_secret_env = \"GLOBEX_SECRET\"")
            ),
        ),
        (
            "padded",
            format!(
                "{acme}\n{}",
                tenant_table("\"acme \"", &GLOBEX, "api_secret_env = \"GLOBEX_SECRET\"")
            ),
        ),
        (
            "key twice",
            format!("{acme}api_key_sid = \"{}\"\n", GLOBEX.key),
        ),
    ];
    for (name, text) in cases {
        let file = dir.write("tenants.toml", &text, 0o600);
        let mut env = env();
        env.push(("ACME_SECRET", ACME.secret));
        env.push(("GLOBEX_SECRET", GLOBEX.secret));
        let mut process = Process::serve(
            &[
                "--users-file",
                &users.to_string_lossy(),
                "--tenants-file",
                &file.to_string_lossy(),
            ],
            &env,
        );
        let code = process.exit_code();
        let out = process.stop();
        assert!(
            matches!(code, Some(Some(c)) if c != 0),
            "{name}: a second table for acme was accepted\n{out}"
        );
    }
}

/// Finding probed: a users entry naming a tenant the file does not configure (a typo:
/// `acm`, `Acme`, `acme ` trimmed or not), or a user of no tenant, gets a token of
/// another tenant or of the service's own account.
#[test]
fn a_users_entry_of_a_tenant_missing_from_the_file_gets_403_only() {
    let dir = Dir::new("missing");
    let users = users(
        &dir,
        &format!("{ALICE}=alice;tenant=Acme\n{BOB}=bob;tenant=acm\n{CAROL}=carol ;tenant= acme \n"),
    );
    let tenants = dir.write(
        "tenants.toml",
        &tenant_table("acme", &ACME, "api_secret_env = \"ACME_SECRET\""),
        0o600,
    );
    let mut env = env();
    env.push(("ACME_SECRET", ACME.secret));
    let mut serve = Process::serve(
        &[
            "--users-file",
            &users.to_string_lossy(),
            "--tenants-file",
            &tenants.to_string_lossy(),
        ],
        &env,
    );
    let addr = serve.addr().expect("serve listens");
    for user in [ALICE, BOB] {
        let reply = token_of(addr, user);
        assert_eq!(reply.status, 403, "{user}: {}", reply.json);
    }
    // " acme " is trimmed to acme, the tenant the deployer meant.
    assert!(is_of(&token_of(addr, CAROL), &ACME));
    serve.stop();
}

/// FINDING (info, deployer): users entries naming tenants the tenants file does not
/// configure (`acm` for `acme`) are not reported at start: those users get 403 at their
/// first request and the log then says only that the tenant has no configuration.
/// Safe: `serve` warns at start (and after SIGHUP) about each such tenant.
#[test]
fn a_users_entry_of_a_tenant_missing_from_the_file_is_warned_at_start() {
    let dir = Dir::new("missing-warned");
    let users = users(
        &dir,
        &format!("{ALICE}=alice;tenant=acme\n{BOB}=bob;tenant=acm\n"),
    );
    let tenants = dir.write(
        "tenants.toml",
        &tenant_table("acme", &ACME, "api_secret_env = \"ACME_SECRET\""),
        0o600,
    );
    let mut env = env();
    env.push(("ACME_SECRET", ACME.secret));
    let mut serve = Process::serve(
        &[
            "--users-file",
            &users.to_string_lossy(),
            "--tenants-file",
            &tenants.to_string_lossy(),
        ],
        &env,
    );
    serve.addr().expect("serve listens");
    let out = serve.stop();
    assert!(
        out.lines()
            .any(|l| l.contains("WARN") && l.contains("acm") && !l.contains("acme")),
        "no warning names the tenant acm, which the tenants file lacks:\n{out}"
    );
}

/// Finding probed: a tenant without `chat_service_sid` (which `serve` can never serve:
/// the file cannot give it grants of its own) is loaded as usable, so the start-up log
/// counts it among the good tenants (`unusable=0`) and its users find out with a 500;
/// or its users get the service's own chat service.
#[test]
fn a_tenant_without_a_chat_service_is_reported_unusable_at_load() {
    let dir = Dir::new("no-service");
    let users = users(&dir, &format!("{ALICE}=alice;tenant=acme\n"));
    let tenants = dir.write(
        "tenants.toml",
        &format!(
            "[tenants.acme]\naccount_sid = \"{}\"\napi_key_sid = \"{}\"\napi_secret_env = \"ACME_SECRET\"\n",
            ACME.account, ACME.key
        ),
        0o600,
    );
    let mut env = env();
    env.push(("ACME_SECRET", ACME.secret));
    let mut serve = Process::serve(
        &[
            "--users-file",
            &users.to_string_lossy(),
            "--tenants-file",
            &tenants.to_string_lossy(),
        ],
        &env,
    );
    let addr = serve.addr().expect("serve listens");
    let before = serve.output();
    let reply = token_of(addr, ALICE);
    assert_eq!(reply.status, 500, "{}", reply.json);
    assert!(!reply.json.to_string().contains(MAIN_SERVICE));
    serve.stop();
    assert!(
        before.contains("unusable=1"),
        "the tenant without a chat service was loaded as usable:\n{before}"
    );
}

/// Finding probed: a reload that swaps two tenants' keys and secrets (acme's become
/// globex's and the reverse) leaves either tenant's users with the other's old
/// configuration (a stale cache entry), or mixes one's key SID with the other's secret.
#[test]
fn a_reload_swapping_two_tenants_credentials_swaps_their_tokens() {
    let dir = Dir::new("swap");
    let acme_secret = dir.write("acme-secret", &format!("{}\n", ACME.secret), 0o600);
    let globex_secret = dir.write("globex-secret", &format!("{}\n", GLOBEX.secret), 0o600);
    let file = |a: &Account, a_secret: &Path, g: &Account, g_secret: &Path| {
        format!(
            "{}\n{}",
            tenant_table(
                "acme",
                a,
                &format!("api_secret_file = \"{}\"", a_secret.display())
            ),
            tenant_table(
                "globex",
                g,
                &format!("api_secret_file = \"{}\"", g_secret.display())
            ),
        )
    };
    let tenants = dir.write(
        "tenants.toml",
        &file(&ACME, &acme_secret, &GLOBEX, &globex_secret),
        0o600,
    );
    let users = users(
        &dir,
        &format!("{ALICE}=alice;tenant=acme\n{BOB}=bob;tenant=globex\n"),
    );
    let mut serve = Process::serve(
        &[
            "--users-file",
            &users.to_string_lossy(),
            "--tenants-file",
            &tenants.to_string_lossy(),
        ],
        &env(),
    );
    let addr = serve.addr().expect("serve listens");
    assert!(is_of(&token_of(addr, ALICE), &ACME));
    assert!(is_of(&token_of(addr, BOB), &GLOBEX));
    dir.write(
        "tenants.toml",
        &file(&GLOBEX, &globex_secret, &ACME, &acme_secret),
        0o600,
    );
    serve.hup();
    assert!(serve.logs("tenants file reloaded", 1), "{}", serve.output());
    for _ in 0..3 {
        let alice = token_of(addr, ALICE);
        let bob = token_of(addr, BOB);
        assert!(is_of(&alice, &GLOBEX), "alice: {}", alice.json);
        assert!(is_of(&bob, &ACME), "bob: {}", bob.json);
    }
    serve.stop();
}
