//! `cargo xtask smoke`: the README's servers, started for real, answer alike.
//!
//! Builds the three examples and the `chat-token` command, starts each on its own
//! loopback port in development mode (as `cargo run ...` from the README does), sends
//! the same requests to all four, and fails unless status, error code, identity,
//! `WWW-Authenticate` and `Allow` agree.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use chat_token_tests::http::{Response, send};

use crate::{cargo, run as run_cmd};

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
    for var in crate::CHAT_TOKEN_VARS {
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
    Ok(())
}
