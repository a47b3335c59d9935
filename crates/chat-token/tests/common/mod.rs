//! What the integration tests share: the `chat-token` binary started with a clean
//! environment (a command that runs to completion, or in the background: [`Process`],
//! [`serve`]), a small HTTP client for the server, the test credentials (the service's,
//! a made-up identity provider's, the tenants' of [`tenants`]), and a temporary
//! directory per test ([`TempDir`]).

#![allow(dead_code, reason = "each test file uses a different part")]

mod idp;
mod process;
mod temp;
pub mod tenants;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chat_token_core::env::{
    ENV_ACCOUNT_SID, ENV_API_KEY, ENV_API_KEY_FILE, ENV_API_SECRET, ENV_API_SECRET_FILE,
    ENV_CHAT_SERVICE_SID,
};
use chat_token_core::setup::ENV_USERS;

#[allow(unused_imports, reason = "each test file uses a different part")]
pub use idp::{IDP_AUDIENCE, IDP_ISSUER, IDP_SECRET, hs256, idp_claims, idp_flags, idp_jwt};
#[allow(unused_imports, reason = "each test file uses a different part")]
pub use process::{DEADLINE, Killed, Process, eventually};
pub use temp::TempDir;

/// The test Account SID.
pub const ACCOUNT_SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// The test API key SID.
pub const API_KEY: &str = "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
/// The test API key secret (it signed the command's reference vector); [`run`] asserts
/// that it never appears in a command's output.
pub const API_SECRET: &str = "Cc9-test-only-api-key-secret-000";
/// The test Chat/Conversations service SID.
pub const CHAT_SERVICE_SID: &str = "ISdddddddddddddddddddddddddddddddd";

/// The test credentials, as `serve` reads them from its environment.
pub const CREDENTIALS: [(&str, &str); 4] = [
    (ENV_ACCOUNT_SID, ACCOUNT_SID),
    (ENV_API_KEY, API_KEY),
    (ENV_API_SECRET, API_SECRET),
    (ENV_CHAT_SERVICE_SID, CHAT_SERVICE_SID),
];

/// Every environment variable chat-token reads its configuration from. A child process
/// starts with none of them set, whatever the environment of the test run, so that only
/// what a test gives it counts.
pub const CHAT_TOKEN_VARS: [&str; 7] = [
    ENV_ACCOUNT_SID,
    ENV_API_KEY,
    ENV_API_KEY_FILE,
    ENV_API_SECRET,
    ENV_API_SECRET_FILE,
    ENV_CHAT_SERVICE_SID,
    ENV_USERS,
];

/// The `chat-token` binary with none of [`CHAT_TOKEN_VARS`] (nor of the tenants'
/// secret variables, [`tenants::ACME_VAR`] and [`tenants::GLOBEX_VAR`]) set but those in
/// `env`.
pub fn command(env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chat-token"));
    for var in CHAT_TOKEN_VARS
        .iter()
        .chain(&[tenants::ACME_VAR, tenants::GLOBEX_VAR])
    {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs `chat-token <args>` with `env` (see [`command`]) to completion, and asserts that
/// no made-up secret ([`tenants::SECRETS`]) is on its stdout or its stderr.
pub fn run(env: &[(&str, &str)], args: &[&str]) -> Output {
    let out = command(env).args(args).output().expect("run chat-token");
    assert_no_secret(&out);
    out
}

/// [`run`], with `input` on the command's stdin.
pub fn run_with_stdin(env: &[(&str, &str)], args: &[&str], input: &str) -> Output {
    let mut child = command(env)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chat-token");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait for chat-token");
    assert_no_secret(&out);
    out
}

/// What `out` wrote: its stdout, then its stderr.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts that no made-up secret is in stdout or stderr of `out`.
fn assert_no_secret(out: &Output) {
    assert_no_secret_in(&text(out));
}

/// Asserts that no made-up secret ([`tenants::SECRETS`]) is in `text`.
pub fn assert_no_secret_in(text: &str) {
    for secret in tenants::SECRETS {
        assert!(
            !text.contains(secret),
            "a secret ({secret}) was printed: {text}"
        );
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// A running `chat-token serve`; killed on drop.
pub struct Serve {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The process.
    pub process: Process,
}

impl Serve {
    /// A copy of what it has written so far.
    pub fn log_text(&self) -> String {
        self.process.output()
    }

    /// Stops the server: its whole output, checked for secrets (see [`Process::stop`]).
    pub fn stop(self) -> String {
        self.process.stop()
    }
}

/// Starts `chat-token serve --bind 127.0.0.1:0 <args>` with only `env` set among
/// [`CHAT_TOKEN_VARS`] (see [`Process::serve`]), and waits for its address.
pub fn serve(args: &[&str], env: &[(&str, &str)]) -> Serve {
    let mut process = Process::serve(args, env);
    match process.addr() {
        Some(addr) => Serve { addr, process },
        None => panic!("serve did not start: {}", process.output()),
    }
}

/// A response: status, lower-case headers, body.
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Header lines, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl Reply {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }

    /// Asserts that this is the JSON error answer `status` with code `error`, whose
    /// message mentions `message_part`.
    pub fn assert_error(&self, status: u16, error: &str, message_part: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        let json = self.json();
        assert_eq!(json["error"], error, "{}", self.body);
        assert!(
            json["message"]
                .as_str()
                .is_some_and(|m| m.contains(message_part)),
            "the message should mention {message_part:?}: {}",
            self.body
        );
    }
}

/// One request with `Connection: close`; `Host` is the server's address unless `headers`
/// has one.
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut text = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        text.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    exchange(addr, text.as_bytes(), Duration::from_secs(10))
}

/// The value of the series `name` (its name and labels, as written) in the Prometheus
/// text `text`.
pub fn metric_in(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The value of the series `name` at the server's `/metrics` now.
pub fn metric(addr: SocketAddr, name: &str) -> Option<f64> {
    metric_in(&request(addr, "GET", "/metrics", &[]).body, name)
}

/// `GET /token` with `authorization` as the `Authorization` header.
pub fn get_token(addr: SocketAddr, authorization: &str) -> Reply {
    request(addr, "GET", "/token", &[("Authorization", authorization)])
}

/// Sends `raw` on a new connection and reads until the server closes it (or `wait`
/// passes without a byte, which leaves status 0).
pub fn exchange(addr: SocketAddr, raw: &[u8], wait: Duration) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(wait)).expect("timeout");
    stream.write_all(raw).expect("write");
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    parse(&String::from_utf8_lossy(&bytes))
}

/// Reads from `stream` until `needle` has arrived or `wait` has passed; everything read.
pub fn read_until(stream: &mut TcpStream, needle: &str, wait: Duration) -> String {
    let deadline = Instant::now() + wait;
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.contains(needle) && Instant::now() < deadline {
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    text
}

/// A raw HTTP/1.1 response, parsed.
pub fn parse(raw: &str) -> Reply {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}
