//! The identification part of `cargo xtask bench`: `chat-token serve` (release, pinned
//! to core 0) loaded by wrk (core 1) with bearer JWTs from an identity provider (RS256
//! and ES256 keys from a JWKS on loopback; 2,000 distinct tokens, or one repeated), next
//! to a static-user `/token`, PyJWT's verify time, and `openssl speed` on the same core;
//! then static users tables of 1 to 50,000 entries (start-up time and `/token` req/s).

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use chat_token_core::{
    env::ENV_ACCOUNT_SID, env::ENV_API_KEY, env::ENV_API_SECRET, env::ENV_CHAT_SERVICE_SID,
};

use crate::process::{CHAT_TOKEN_VARS, cargo, run as run_cmd};
use crate::python::venv_with;

const ISSUER: &str = "https://idp.bench.test/";
const AUDIENCE: &str = "chat-bench";
const CREDS: [(&str, &str); 4] = [
    (ENV_ACCOUNT_SID, "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
    (ENV_API_KEY, "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
    (ENV_API_SECRET, "bench-only-secret-Q7x9-not-real"),
    (ENV_CHAT_SERVICE_SID, "ISdddddddddddddddddddddddddddddddd"),
];

/// A process killed on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn wait_for(addr: SocketAddr, what: &str, limit: Duration) -> Result<Duration> {
    let started = Instant::now();
    while TcpStream::connect(addr).is_err() {
        if started.elapsed() > limit {
            bail!("{what} did not start listening on {addr}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(started.elapsed())
}

/// `chat-token serve` on core 0 with `args`; the time until it accepted a connection.
fn serve(root: &Path, args: &[&str]) -> Result<(Process, SocketAddr, Duration)> {
    let port = free_port()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "0"])
        .arg(root.join("target/release/chat-token"))
        .args(["serve", "--bind", &addr.to_string()])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for var in CHAT_TOKEN_VARS {
        cmd.env_remove(var);
    }
    for (k, v) in CREDS {
        cmd.env(k, v);
    }
    let process = Process(cmd.spawn()?);
    let took = wait_for(addr, "chat-token serve", Duration::from_secs(60))?;
    Ok((process, addr, took))
}

/// wrk on core 1 for `secs`, with each request's bearer token taken in turn from
/// `tokens` (one per line): requests/s.
fn wrk_tokens(addr: SocketAddr, tokens: &Path, secs: u32, scratch: &Path) -> Result<f64> {
    let script = scratch.join("tokens.lua");
    std::fs::write(
        &script,
        format!(
            "local tokens = {{}}\n\
             for line in io.lines(\"{}\") do tokens[#tokens + 1] = \"Bearer \" .. line end\n\
             local i = 0\n\
             request = function()\n  i = i % #tokens + 1\n  \
             return wrk.format(\"GET\", \"/token\", {{ [\"Authorization\"] = tokens[i] }})\nend\n",
            tokens.display()
        ),
    )?;
    let out = Command::new("taskset")
        .args(["-c", "1", "wrk", "-t1", "-c16"])
        .arg(format!("-d{secs}s"))
        .arg("-s")
        .arg(&script)
        .arg(format!("http://{addr}/token"))
        .stderr(Stdio::inherit())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!("wrk failed with {}:\n{text}", out.status);
    }
    if text.contains("Non-2xx") {
        bail!("wrk saw non-2xx answers:\n{text}");
    }
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no Requests/sec in wrk output:\n{text}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `openssl speed` on core 0: verifications per second for RSA-2048 and P-256.
fn openssl_verify(secs: u32) -> Result<(f64, f64)> {
    let out = Command::new("taskset")
        .args(["-c", "0", "openssl", "speed", "-seconds"])
        .arg(secs.to_string())
        .args(["rsa2048", "ecdsap256"])
        .stderr(Stdio::null())
        .output()
        .context("running openssl speed")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let last = |prefix: &str| -> Option<f64> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse().ok())
    };
    let rsa = last("rsa 2048 bits").context("openssl speed: no rsa 2048 line")?;
    let ec = last("256 bits ecdsa (nistp256)").context("openssl speed: no nistp256 line")?;
    Ok((rsa, ec))
}

/// Runs the identification benchmarks; the BENCHMARKS.md section.
pub fn run(root: &Path, secs: u32, reps: usize) -> Result<String> {
    crate::bench::ensure_wrk()?;
    run_cmd(cargo().args(["build", "--release", "-p", "chat-token"]))?;
    let scratch: PathBuf = root.join("target/xtask-bench-identity");
    std::fs::create_dir_all(&scratch)?;
    let data = root.join("crates/chat-token-core/tests/data/jwt");
    let public: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("public-jwks.json"))?)?;
    std::fs::write(
        scratch.join("jwks.json"),
        serde_json::json!({ "keys": [public["key1"], public["rsa1"]] }).to_string(),
    )?;
    let python = venv_with(
        &root.join("target/xtask-bench-venv"),
        &root.join("xtask/bench/requirements.txt"),
    )?;
    let out = Command::new(&python)
        .arg(root.join("xtask/bench/idp_tokens.py"))
        .arg(&scratch)
        .arg(data.join("rsa1.pem"))
        .arg(data.join("key1.pem"))
        .args([ISSUER, AUDIENCE, &secs.min(2).to_string()])
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        bail!("idp_tokens.py failed");
    }
    let pyjwt: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let py = |k: &str| pyjwt[k].as_f64().unwrap_or(f64::NAN);

    // The JWKS on loopback.
    let jwks_port = free_port()?;
    let _jwks = Process(
        Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(jwks_port.to_string())
            .arg("--directory")
            .arg(&scratch)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    wait_for(
        SocketAddr::from(([127, 0, 0, 1], jwks_port)),
        "the JWKS server",
        Duration::from_secs(30),
    )?;
    let jwks_url = format!("http://127.0.0.1:{jwks_port}/jwks.json");

    // The static-user baseline, with the same load shape.
    let static_token = "bench-user-token-0123456789";
    let users = scratch.join("one-user.txt");
    std::fs::write(&users, format!("{static_token}=alice\n"))?;
    let one_token = scratch.join("static-token.txt");
    std::fs::write(&one_token, format!("{static_token}\n"))?;
    let users_arg = users.to_string_lossy().into_owned();
    let (server, addr, _) = serve(root, &["--users-file", &users_arg])?;
    let static_rps = median(
        (0..reps)
            .map(|_| wrk_tokens(addr, &one_token, secs, &scratch))
            .collect::<Result<_>>()?,
    );
    drop(server);

    let (rsa_verify, ec_verify) = openssl_verify(secs.min(3))?;
    let mut rows = String::new();
    let mut verdicts = String::new();
    for (name, alg, verify_rate, py_us) in [
        ("rs256", "RS256 (RSA-2048)", rsa_verify, py("rs256_us")),
        ("es256", "ES256 (P-256)", ec_verify, py("es256_us")),
    ] {
        let jwt_args = [
            "--jwks-url",
            &jwks_url,
            "--jwt-issuer",
            ISSUER,
            "--jwt-audience",
            AUDIENCE,
        ];
        let distinct_file = scratch.join(format!("{name}.txt"));
        let one_file = scratch.join(format!("{name}_one.txt"));
        // wrk cycles through the 2,000 tokens many times a run, so with the cache on they
        // are hits after the first round: the distinct-token figure is measured with the
        // cache off (every request verified), and with it on beside.
        let mut distinct = Vec::new();
        let mut distinct_cached = Vec::new();
        let mut repeated = Vec::new();
        let (server, addr, _) = serve(
            root,
            &[&jwt_args[..], &["--jwt-cache-entries", "0"]].concat(),
        )?;
        wrk_tokens(addr, &one_file, 1, &scratch)?; // fetches the JWKS
        for _ in 0..reps {
            distinct.push(wrk_tokens(addr, &distinct_file, secs, &scratch)?);
        }
        drop(server);
        let (server, addr, _) = serve(root, &jwt_args)?;
        wrk_tokens(addr, &one_file, 1, &scratch)?;
        for _ in 0..reps {
            distinct_cached.push(wrk_tokens(addr, &distinct_file, secs, &scratch)?);
            repeated.push(wrk_tokens(addr, &one_file, secs, &scratch)?);
        }
        drop(server);
        let (distinct, distinct_cached, repeated) =
            (median(distinct), median(distinct_cached), median(repeated));
        let limit = 1.0 / (1.0 / static_rps + 1.0 / verify_rate);
        let _ = writeln!(
            rows,
            "| {alg} | {distinct:.0} | {distinct_cached:.0} | {repeated:.0} | {verify_rate:.0} | {limit:.0} | {:.2} | {:.2} | {py_us:.0} µs | {:.1} µs |",
            distinct / limit,
            repeated / static_rps,
            1e6 / distinct
        );
        let _ = writeln!(
            verdicts,
            "- {alg}: 2,000 distinct tokens, each verified, at {:.2} of the limit (target 0.6); one repeated token at {:.2} of the static-user figure (target 0.6).",
            distinct / limit,
            repeated / static_rps
        );
    }

    // Static users tables.
    let mut table_rows = String::new();
    let mut one_user_rps = f64::NAN;
    for count in [1usize, 1_000, 10_000, 50_000] {
        let file = scratch.join(format!("users-{count}.txt"));
        let mut text = String::with_capacity(count * 32);
        for n in 0..count {
            let _ = writeln!(text, "tok-{n:016}=user{n}");
        }
        std::fs::write(&file, text)?;
        let token_file = scratch.join(format!("users-{count}-token.txt"));
        std::fs::write(&token_file, format!("tok-{:016}\n", count - 1))?;
        let arg = file.to_string_lossy().into_owned();
        let (server, addr, startup) = serve(root, &["--users-file", &arg])?;
        let rps = median(
            (0..reps)
                .map(|_| wrk_tokens(addr, &token_file, secs, &scratch))
                .collect::<Result<_>>()?,
        );
        drop(server);
        if count == 1 {
            one_user_rps = rps;
        }
        let _ = writeln!(
            table_rows,
            "| {count} | {:.2} s | {rps:.0} | {:.2} |",
            startup.as_secs_f64(),
            rps / one_user_rps
        );
    }

    let mut section = String::new();
    let _ = writeln!(
        section,
        "## Identification: identity-provider JWTs and static users\n\n\
         `chat-token serve` (release, JWT verification through aws-lc-rs) pinned to core 0,\n\
         wrk pinned to core 1 with 16 keep-alive connections, {secs} s per run, {reps} runs,\n\
         medians. The JWKS (one RSA-2048 and one P-256 key) is served on loopback. \"Limit\" is\n\
         `1 / (1/static + 1/verify)`: the static-user `/token` rate with one `openssl speed`\n\
         verification added per request, both measured on core 0 in this run.\n\n\
         Static-user `/token` (one user, the same token): {static_rps:.0} req/s.\n\n\
         | key | `/token` req/s, 2,000 distinct tokens, cache off | the same, cache on | `/token` req/s, one repeated token | `openssl speed` verify/s | limit | distinct (cache off) / limit | repeated / static | PyJWT `decode` | our time per verified request |\n\
         |---|---|---|---|---|---|---|---|---|---|\n{rows}\n{verdicts}\n\
         ### Static users\n\n\
         `--users-file` with N users (`tok-<16 digits>=user<n>`), the last user's token on\n\
         every request; start-up is the time from launch until the port accepts.\n\n\
         | users | start-up | `/token` req/s | vs. one user |\n|---|---|---|---|\n{table_rows}"
    );
    Ok(section)
}
