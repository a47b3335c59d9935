//! `cargo xtask smoke`: the README's servers, started for real, answer alike.
//!
//! Builds the three examples and the `chat-token` command, starts each on its own
//! loopback port in development mode (as `cargo run ...` from the README does), sends
//! the same requests to all four, and fails unless status, error code, identity,
//! `WWW-Authenticate` and `Allow` agree. Then the three examples with their own login
//! (`login_axum`, `login_actix`, `login_rocket`): the app's own pages, sign-in, a token
//! for the session's user, 405, sign-out.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use chat_token_tests::http::{Response, send};
use chat_token_tests::login::Jar;

use crate::process::{CHAT_TOKEN_VARS, cargo, run as run_cmd};

/// A server process, killed on drop.
struct Running {
    name: &'static str,
    addr: SocketAddr,
    child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(name: &'static str, mut cmd: Command, port: u16) -> Result<Running> {
    for var in CHAT_TOKEN_VARS {
        cmd.env_remove(var);
    }
    let child = cmd
        .env("PORT", port.to_string())
        .env("ROCKET_LOG_LEVEL", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let running = Running {
        name,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        child,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(running.addr).is_err() {
        if Instant::now() > deadline {
            bail!("{name} did not start listening on {}", running.addr);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(running)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// What must agree across servers for one request.
fn summary(r: &Response) -> String {
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
    format!(
        "{} error={} identity={} www-authenticate={} allow={}",
        r.status,
        body["error"].as_str().unwrap_or("-"),
        body["identity"].as_str().unwrap_or("-"),
        r.header("www-authenticate").unwrap_or("-"),
        r.header("allow").unwrap_or("-"),
    )
}

/// Runs the smoke check.
pub fn run(root: &Path) -> Result<()> {
    run_cmd(cargo().args([
        "build",
        "-p",
        "chat-token",
        "-p",
        "chat-token-examples",
        "--examples",
        "--bins",
    ]))?;
    let target = root.join("target").join("debug");
    let mut servers = Vec::new();
    for name in ["axum", "actix", "rocket"] {
        let port = free_port()?;
        let cmd = Command::new(target.join("examples").join(name));
        servers.push(start(name, cmd, port)?);
    }
    let port = free_port()?;
    let mut serve = Command::new(target.join("chat-token"));
    serve.args(["serve", "--bind", &format!("127.0.0.1:{port}")]);
    servers.push(start("chat-token serve", serve, port)?);

    let requests: [(&str, &str, Option<&str>); 7] = [
        ("GET", "/token", None),
        ("GET", "/token", Some("Bearer nobody")),
        ("GET", "/token", Some("Basic YTpi")),
        ("GET", "/token", Some("Bearer demo-alice")),
        ("POST", "/token", Some("bearer demo-bob")),
        ("PUT", "/token", Some("Bearer demo-alice")),
        ("GET", "/me", Some("Bearer demo-bob")),
    ];
    let mut failures = 0;
    for (method, path, auth) in requests {
        let headers: Vec<(&str, &[u8])> = auth
            .iter()
            .map(|a| ("Authorization", a.as_bytes()))
            .collect();
        let answers: Vec<(&str, String)> = servers
            .iter()
            .map(|s| (s.name, summary(&send(s.addr, method, path, &headers, b""))))
            .collect();
        let same = answers.iter().all(|(_, a)| *a == answers[0].1);
        println!(
            "smoke: {method} {path} [{}] -> {}{}",
            auth.unwrap_or("no credentials"),
            answers[0].1,
            if same { "" } else { "  MISMATCH" }
        );
        if !same {
            failures += 1;
            for (name, answer) in &answers {
                println!("    {name}: {answer}");
            }
        }
    }
    if failures > 0 {
        bail!("{failures} requests were answered differently");
    }
    println!(
        "smoke: the axum, actix-web and rocket examples and chat-token serve answered all {} requests alike",
        requests.len()
    );
    drop(servers);
    for name in ["login_axum", "login_actix", "login_rocket"] {
        let port = free_port()?;
        let server = start(name, Command::new(target.join("examples").join(name)), port)?;
        login_flow(&server)?;
        println!("smoke: {name}: sign in, token, the app's own pages, sign out: as expected");
    }
    refused_key_stays_secret(&target)?;
    Ok(())
}

/// `login_rocket` with a `ROCKET_SECRET_KEY` of the right length that does not decode:
/// it stops with an error that names the setting and does not show the key.
fn refused_key_stays_secret(target: &Path) -> Result<()> {
    // 44 base64url characters, which rocket's decoder refuses.
    let key = "-__7__v_-__7__v_-__7__v_-__7__v_-__7__v_-_8=";
    let mut cmd = Command::new(target.join("examples").join("login_rocket"));
    for var in CHAT_TOKEN_VARS {
        cmd.env_remove(var);
    }
    let out = cmd
        .env("PORT", free_port()?.to_string())
        .env("ROCKET_SECRET_KEY", key)
        .env("ROCKET_LOG_LEVEL", "off")
        .stdin(Stdio::null())
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() || !text.contains("secret_key is not valid") {
        bail!(
            "login_rocket with an undecodable ROCKET_SECRET_KEY: {}\n{text}",
            out.status
        );
    }
    if text.contains(key) {
        bail!("login_rocket printed the refused ROCKET_SECRET_KEY:\n{text}");
    }
    println!("smoke: login_rocket: an undecodable ROCKET_SECRET_KEY stops it, unprinted");
    Ok(())
}

/// A user of an example app with its own login: the app's own pages stay its own, the
/// token route follows the session.
fn login_flow(server: &Running) -> Result<()> {
    let name = server.name;
    let addr = server.addr;
    let mut jar = Jar::default();
    let with = |jar: &Jar, method: &str, path: &str, body: &[u8]| {
        let cookie = jar.header();
        let mut headers: Vec<(&str, &[u8])> =
            vec![("Content-Type", b"application/x-www-form-urlencoded")];
        if !cookie.is_empty() {
            headers.push(("Cookie", cookie.as_bytes()));
        }
        send(addr, method, path, &headers, body)
    };
    let check = |ok: bool, what: &str, r: &Response| -> Result<()> {
        if ok {
            Ok(())
        } else {
            bail!("{name}: {what}: {} {:?} {}", r.status, r.headers, r.body)
        }
    };
    let error = |r: &Response| {
        serde_json::from_str::<serde_json::Value>(&r.body).unwrap_or_default()["error"]
            .as_str()
            .map(str::to_owned)
    };
    let r = with(&jar, "GET", "/app", b"");
    let html = r
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/html"));
    check(
        r.status == 401 && html && r.body.contains("Sign in"),
        "the app's own 401 page",
        &r,
    )?;
    let r = with(&jar, "GET", "/token", b"");
    check(
        r.status == 401 && error(&r).as_deref() == Some("missing_credentials"),
        "no session: 401 missing_credentials",
        &r,
    )?;
    let r = with(&jar, "POST", "/login", b"user=alice&password=wrong");
    check(r.status == 401, "a wrong password is the app's own 401", &r)?;
    let r = with(&jar, "POST", "/login", b"user=alice&password=wonderland");
    check((200..400).contains(&r.status), "sign in", &r)?;
    jar.take(&r);
    let r = with(&jar, "GET", "/token", b"");
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
    check(
        r.status == 200 && body["identity"] == "alice" && body["token"].is_string(),
        "signed in: a token for alice",
        &r,
    )?;
    let r = with(&jar, "GET", "/app", b"");
    check(
        r.status == 200 && r.body.contains("alice"),
        "signed in: the app",
        &r,
    )?;
    let r = with(&jar, "DELETE", "/token", b"");
    check(
        r.status == 405 && error(&r).as_deref() == Some("method_not_allowed"),
        "DELETE /token: 405",
        &r,
    )?;
    let r = with(&jar, "POST", "/logout", b"");
    check((200..400).contains(&r.status), "sign out", &r)?;
    jar.take(&r);
    let r = with(&jar, "GET", "/token", b"");
    check(
        r.status == 401 && error(&r).as_deref() == Some("missing_credentials"),
        "signed out: 401",
        &r,
    )?;
    Ok(())
}
