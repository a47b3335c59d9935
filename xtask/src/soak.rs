//! `cargo xtask soak [--secs N]`: each adapter under mixed traffic for N seconds (default
//! 60) on loopback: good tokens, bad credentials, a slow resolver path, failing,
//! unavailable, hanging and panicking resolver paths, over keep-alive connections.
//! Reports requests, answers by status, connection errors, unexpected statuses and the
//! server's RSS after 5 s and at the end; fails unless the last three are 0, 0 and flat.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::process::{cargo, rss_kib, run as run_cmd};

/// The fast traffic mix (six clients cycle through it): bearer token and the status it
/// must get.
const MIX: [(&str, u16); 6] = [
    ("tok-alice-S3cr3t", 200),
    ("tok-alice-S3cr3t", 200),
    ("nobody", 401),
    ("boom", 500),
    ("down", 503),
    ("panic", 500),
];

/// The slow paths, one client each: a 50 ms resolver, and one that hangs into the
/// 300 ms timeout.
const SLOW: [(&str, u16); 2] = [("slow", 200), ("hang", 503)];

/// A keep-alive HTTP/1.1 connection that reconnects after an error.
struct Connection {
    addr: SocketAddr,
    reader: Option<BufReader<TcpStream>>,
}

impl Connection {
    fn request(&mut self, bearer: &str) -> std::io::Result<u16> {
        if self.reader.is_none() {
            let stream = TcpStream::connect(self.addr)?;
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            stream.set_nodelay(true)?;
            self.reader = Some(BufReader::new(stream));
        }
        let result = self.exchange(bearer);
        if result.is_err() {
            self.reader = None;
        }
        result
    }

    fn exchange(&mut self, bearer: &str) -> std::io::Result<u16> {
        let reader = self
            .reader
            .as_mut()
            .ok_or(std::io::ErrorKind::NotConnected)?;
        let request =
            format!("GET /token HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer {bearer}\r\n\r\n");
        reader.get_mut().write_all(request.as_bytes())?;
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or(std::io::ErrorKind::InvalidData)?;
        let mut length = 0usize;
        let mut close = false;
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().map_err(|_| std::io::ErrorKind::InvalidData)?;
                } else if name.eq_ignore_ascii_case("connection")
                    && value.eq_ignore_ascii_case("close")
                {
                    close = true;
                }
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        if close {
            self.reader = None;
        }
        Ok(status)
    }
}

#[derive(Default)]
struct Tally {
    requests: u64,
    by_status: BTreeMap<u16, u64>,
    connection_errors: u64,
    unexpected: u64,
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn soak_one(binary: &std::path::Path, adapter: &str, secs: u64) -> Result<()> {
    let mut child = Command::new(binary)
        .arg(adapter)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let server = Server(child);
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first)?;
    let addr: SocketAddr = first
        .trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .with_context(|| format!("soak-server said {first:?}"))?;
    let pid = server.0.id();

    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (tally, stop) = (tally.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut conn = Connection { addr, reader: None };
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    let (bearer, want) = match w {
                        0..6 => MIX[i % MIX.len()],
                        _ => SLOW[w - 6],
                    };
                    i += 1;
                    let result = conn.request(bearer);
                    let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                    t.requests += 1;
                    match result {
                        Ok(status) => {
                            *t.by_status.entry(status).or_default() += 1;
                            if status != want {
                                t.unexpected += 1;
                            }
                        }
                        Err(_) => t.connection_errors += 1,
                    }
                }
            })
        })
        .collect();
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    let early = rss_kib(pid)?;
    std::thread::sleep(Duration::from_secs(secs.saturating_sub(5)));
    let late = rss_kib(pid)?;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let t = tally.lock().unwrap_or_else(|e| e.into_inner());
    let statuses: Vec<String> = t
        .by_status
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    let change = (late as f64 - early as f64) * 100.0 / early as f64;
    let row = format!(
        "| {adapter} | {elapsed:.0} s | {} | {} | {} | {} | {:.1} MiB | {:.1} MiB | {change:+.1}% |",
        t.requests,
        statuses.join(", "),
        t.connection_errors,
        t.unexpected,
        early as f64 / 1024.0,
        late as f64 / 1024.0,
    );
    println!("{row}");
    if t.connection_errors > 0 || t.unexpected > 0 {
        bail!(
            "{adapter}: {} connection errors, {} unexpected statuses",
            t.connection_errors,
            t.unexpected
        );
    }
    if change > 5.0 {
        bail!("{adapter}: RSS grew {change:.1}% under load");
    }
    Ok(())
}

/// Runs the soak on every adapter.
pub fn run(root: &std::path::Path, secs: u64) -> Result<()> {
    run_cmd(cargo().args([
        "build",
        "--release",
        "-p",
        "chat-token-tests",
        "--bin",
        "soak-server",
    ]))?;
    let binary = root.join("target/release/soak-server");
    println!(
        "| adapter | time | requests | answers by status | connection errors | unexpected statuses | RSS after 5 s | RSS at end | change |\n|---|---|---|---|---|---|---|---|---|"
    );
    for adapter in ["axum", "actix", "rocket"] {
        soak_one(&binary, adapter, secs)?;
    }
    println!(
        "soak: every adapter passed ({secs} s each; 6 keep-alive clients cycling {MIX:?}, one each on {SLOW:?})"
    );
    Ok(())
}
