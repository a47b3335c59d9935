//! The identification part of `cargo xtask bench`: `chat-token serve` (release, pinned
//! to core 0) loaded by wrk (core 1) with bearer JWTs from an identity provider (RS256
//! and ES256 keys from a JWKS on loopback; 2,000 distinct tokens, or one repeated), next
//! to a static-user `/token`, PyJWT's verify time, `openssl speed` on the same core, and
//! in process the signature alone beside the resolver's whole check (`benches/verify.rs`);
//! then static users tables of 1 to 50,000 entries (start-up time and `/token` req/s);
//! then many tenants over HTTP: 10,000 users in one tenant of a `--tenants-file`, and
//! 10,000 users each in their own of 10,000 tenants (req/s, and RSS per tenant).

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use chat_token_core::inspect::SignatureCheck;
use chat_token_core::{
    SecretString, env::ENV_ACCOUNT_SID, env::ENV_API_KEY, env::ENV_API_SECRET,
    env::ENV_CHAT_SERVICE_SID,
};

use crate::estimates::{criterion_median, median};
use crate::process::{CHAT_TOKEN_VARS, cargo, ensure_wrk, group, rss_kib, run as run_cmd};
use crate::python::venv_with;

/// The lowest acceptable ratio of 10,000-tenant to single-tenant throughput.
pub(crate) const TENANTS_TARGET: f64 = 0.85;

/// The lowest acceptable ratio of bearer RS256 throughput with distinct tokens (every one
/// verified) to the limit `1/(1/static + 1/openssl verify)`.
const RS256_TARGET: f64 = 0.7;
/// The same for ES256.
const ES256_TARGET: f64 = 0.85;
/// The lowest acceptable ratio of one repeated bearer token's throughput to a static
/// user's.
const REPEATED_TARGET: f64 = 0.85;

/// `ratio` to three decimals, rounded down so that the figure shown never reads as
/// meeting a `target` it misses, and the verdict.
fn judged(ratio: f64, target: f64) -> String {
    let shown = (ratio * 1000.0).floor() / 1000.0;
    let verdict = if ratio >= target { "met" } else { "not met" };
    format!("{shown:.3} (target at least {target}: {verdict})")
}

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

/// What [`measure`] gives: the identification section of BENCHMARKS.md, and the
/// figures of many tenants over HTTP (for the "Many tenants" section).
pub struct Identity {
    pub section: String,
    pub tenants: TenantsHttp,
}

/// Runs the identification benchmarks; the identification section, then the HTTP
/// rows of the "Many tenants" section.
pub fn run(root: &Path, secs: u32, reps: usize) -> Result<String> {
    let identity = measure(root, secs, reps)?;
    Ok(identity.section + &identity.tenants.section())
}

/// Runs the identification benchmarks and the many-tenants ones over HTTP.
pub fn measure(root: &Path, secs: u32, reps: usize) -> Result<Identity> {
    ensure_wrk()?;
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

    // In process, on one thread: the signature alone (jsonwebtoken's aws-lc-rs verifier,
    // the key prepared once) and the resolver's whole check of a distinct token.
    run_cmd(cargo().args([
        "bench",
        "-p",
        "chat-token-core",
        "--features",
        "rust-crypto,aws-lc-rs",
        "--bench",
        "verify",
        "--",
        "^(verify_(rs|es)256_aws_lc_rs|resolve_(rs|es)256_distinct_tokens)$",
        "--warm-up-time",
        "1",
        "--measurement-time",
        &secs.to_string(),
        "--noplot",
    ]))?;

    // Over HTTP, the static-user server and the two JWT servers (the verified-token
    // cache off and on; the JWKS holds both keys) run side by side (the idle ones cost
    // nothing on core 0), and their runs alternate, so that a noisy spell of the machine
    // touches each figure of a ratio alike.
    let jwt_args = [
        "--jwks-url",
        &jwks_url,
        "--jwt-issuer",
        ISSUER,
        "--jwt-audience",
        AUDIENCE,
    ];
    let (static_server, static_addr, _) = serve(root, &["--users-file", &users_arg])?;
    // wrk cycles through the 2,000 tokens many times a run, so with the cache on they
    // are hits after the first round: the distinct-token figure is measured with the
    // cache off (every request verified), and with it on beside.
    let (uncached, uncached_addr, _) = serve(
        root,
        &[&jwt_args[..], &["--jwt-cache-entries", "0"]].concat(),
    )?;
    let (cached, cached_addr, _) = serve(root, &jwt_args)?;
    const KEYS: [&str; 2] = ["rs256", "es256"];
    let files = |name: &str| {
        (
            scratch.join(format!("{name}.txt")),
            scratch.join(format!("{name}_one.txt")),
        )
    };
    // A first, untimed run on each server, so that none is measured cold (the first
    // fetches the JWKS).
    for name in KEYS {
        let (distinct_file, one_file) = files(name);
        wrk_tokens(uncached_addr, &one_file, 1, &scratch)?;
        wrk_tokens(cached_addr, &distinct_file, 1, &scratch)?;
    }
    wrk_tokens(static_addr, &one_token, 1, &scratch)?;
    // `openssl speed` takes its turn among the runs too: the limit is made of figures
    // taken together.
    let (mut static_runs, mut rsa_runs, mut ec_runs) = (Vec::new(), Vec::new(), Vec::new());
    // Per key: distinct tokens with the cache off, on, and one repeated token.
    let mut runs: [[Vec<f64>; 3]; 2] = Default::default();
    for _ in 0..reps {
        static_runs.push(wrk_tokens(static_addr, &one_token, secs, &scratch)?);
        let (rsa, ec) = openssl_verify(secs.min(3))?;
        rsa_runs.push(rsa);
        ec_runs.push(ec);
        for (name, runs) in KEYS.iter().zip(runs.iter_mut()) {
            let (distinct_file, one_file) = files(name);
            runs[0].push(wrk_tokens(uncached_addr, &distinct_file, secs, &scratch)?);
            runs[1].push(wrk_tokens(cached_addr, &distinct_file, secs, &scratch)?);
            runs[2].push(wrk_tokens(cached_addr, &one_file, secs, &scratch)?);
        }
    }
    drop((static_server, uncached, cached));
    // Each run's own ratio to its own limit, beside the ratio of the medians: how far
    // one run strays from the next.
    let per_run = |distinct: &[f64], verify: &[f64]| -> String {
        let ratios: Vec<String> = distinct
            .iter()
            .zip(verify)
            .zip(&static_runs)
            .map(|((d, v), s)| format!("{:.3}", d * (1.0 / s + 1.0 / v)))
            .collect();
        ratios.join(", ")
    };
    let per_run_ratios = [
        per_run(&runs[0][0], &rsa_runs),
        per_run(&runs[1][0], &ec_runs),
    ];
    let (static_rps, rsa_verify, ec_verify) =
        (median(static_runs), median(rsa_runs), median(ec_runs));

    let mut rows = String::new();
    let mut verdicts = String::new();
    for (
        ((name, alg, verify_rate, py_us, target), [distinct, distinct_cached, repeated]),
        per_run,
    ) in [
        (
            "rs256",
            "RS256 (RSA-2048)",
            rsa_verify,
            py("rs256_us"),
            RS256_TARGET,
        ),
        (
            "es256",
            "ES256 (P-256)",
            ec_verify,
            py("es256_us"),
            ES256_TARGET,
        ),
    ]
    .into_iter()
    .zip(runs)
    .zip(per_run_ratios)
    {
        let signature_ns = criterion_median(root, &format!("verify_{name}_aws_lc_rs"), "")?;
        let check_ns = criterion_median(root, &format!("resolve_{name}_distinct_tokens"), "")?;
        let (distinct, distinct_cached, repeated) =
            (median(distinct), median(distinct_cached), median(repeated));
        let limit = 1.0 / (1.0 / static_rps + 1.0 / verify_rate);
        let _ = writeln!(
            rows,
            "| {alg} | {distinct:.0} | {distinct_cached:.0} | {repeated:.0} | {verify_rate:.0} | {limit:.0} | {:.2} | {:.2} | {py_us:.0} µs | {:.1} µs | {:.1} µs | {:.1} µs | {:.2} |",
            distinct / limit,
            repeated / static_rps,
            1e6 / distinct,
            signature_ns / 1e3,
            check_ns / 1e3,
            check_ns / signature_ns
        );
        let _ = writeln!(
            verdicts,
            "- {alg}: 2,000 distinct tokens, each verified, over the limit: {} (each run over its own limit: {per_run}); one repeated token over the static-user figure: {}. In process, the whole check of a distinct token takes {:.2}x the signature alone.",
            judged(distinct / limit, target),
            judged(repeated / static_rps, REPEATED_TARGET),
            check_ns / signature_ns
        );
    }

    // Static users tables: the four servers side by side, their runs alternating.
    const COUNTS: [usize; 4] = [1, 1_000, 10_000, 50_000];
    let mut tables = Vec::new();
    for count in COUNTS {
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
        wrk_tokens(addr, &token_file, 1, &scratch)?;
        tables.push((server, addr, startup, token_file, Vec::new()));
    }
    for _ in 0..reps {
        for (_, addr, _, token_file, runs) in &mut tables {
            runs.push(wrk_tokens(*addr, token_file, secs, &scratch)?);
        }
    }
    let mut table_rows = String::new();
    let mut one_user_rps = f64::NAN;
    for (count, (server, _, startup, _, runs)) in COUNTS.into_iter().zip(tables) {
        drop(server);
        let rps = median(runs);
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

    let tenants = tenants_http(root, &scratch, secs, reps, static_rps)?;

    let mut section = String::new();
    let _ = writeln!(
        section,
        "## Identification: identity-provider JWTs and static users\n\n\
         `chat-token serve` (release, JWT verification through aws-lc-rs) pinned to core 0,\n\
         wrk pinned to core 1 with 16 keep-alive connections, {secs} s per run, {reps} runs,\n\
         medians; the servers compared in one table run side by side and their runs alternate.\n\
         The JWKS (one RSA-2048 and one P-256 key) is served on loopback. \"Limit\" is\n\
         `1 / (1/static + 1/verify)`: the static-user `/token` rate with one `openssl speed`\n\
         verification added per request, both measured on core 0 among the alternating runs.\n\
         The last three columns are in process, on one thread (`cargo bench --bench verify`):\n\
         the signature alone (jsonwebtoken's aws-lc-rs verifier, the key prepared once) and the resolver's\n\
         whole check of a distinct token (the header, the key, the signature, the claims).\n\
         Over HTTP a route slower than the static one leaves wrk waiting for its answers, and\n\
         waking it is the server's kernel work, which the limit (from the static route at its\n\
         full rate) does not include. \"Our time per verified request\" is one second over the\n\
         distinct-token rate over HTTP; \"PyJWT `decode`\" is the median time of one PyJWT\n\
         `jwt.decode` (signature and claims) in process, for scale: not a like-for-like\n\
         comparison.\n\n\
         Each ratio in the list below is the ratio of the medians; after it, in run order,\n\
         each run's distinct-token rate over the limit of that run's own static-user and\n\
         `openssl speed` figures.\n\n\
         Static-user `/token` (one user, the same token): {static_rps:.0} req/s.\n\n\
         | key | `/token` req/s, 2,000 distinct tokens, cache off | the same, cache on | `/token` req/s, one repeated token | `openssl speed` verify/s | limit | distinct (cache off) / limit | repeated / static | PyJWT `decode` | our time per verified request | in process: signature | in process: whole check | check / signature |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n{rows}\n{verdicts}\n\
         ### Static users\n\n\
         `--users-file` with N users (`tok-<16 digits>=user<n>`), the last user's token on\n\
         every request; start-up is the time from launch until the port accepts.\n\n\
         | users | start-up | `/token` req/s | vs. one user |\n|---|---|---|---|\n{table_rows}"
    );
    Ok(Identity { section, tenants })
}

/// Users (and, with tenants, tenants) of the HTTP many-tenants measurement.
const TENANT_USERS: usize = 10_000;

/// The figures of many tenants over HTTP: `chat-token serve --users-file` with
/// [`TENANT_USERS`] users, wrk rotating over all their tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantsHttp {
    /// Seconds per wrk run.
    pub secs: u32,
    /// wrk runs per figure (medians).
    pub reps: usize,
    /// Users, and tenants of the many-tenants case.
    pub users: usize,
    /// req/s: one static user, one token, the service's own account (the reference of
    /// the identification section).
    pub reference_rps: f64,
    /// req/s: the users, no tenants file, the service's own account.
    pub own_rps: f64,
    /// req/s: the users all in one tenant.
    pub one_tenant_rps: f64,
    /// req/s: the users each in their own tenant, cache warm.
    pub many_rps: f64,
    /// RSS (KiB) with one tenant: at start-up, and warm after the runs.
    pub one_rss_kib: (u64, u64),
    /// RSS (KiB) with `users` tenants: at start-up, and warm after the runs.
    pub many_rss_kib: (u64, u64),
}

impl TenantsHttp {
    /// Many tenants' throughput over one tenant's.
    pub fn ratio(&self) -> f64 {
        self.many_rps / self.one_tenant_rps
    }

    /// RSS per tenant, warm: (many warm - one warm) / users, in bytes.
    pub fn bytes_per_tenant(&self) -> f64 {
        (self.many_rss_kib.1 as f64 - self.one_rss_kib.1 as f64) * 1024.0 / self.users as f64
    }

    /// The part of [`bytes_per_tenant`](Self::bytes_per_tenant) already there at
    /// start-up, before any request: the loaded tenants file.
    pub fn bytes_per_tenant_loaded(&self) -> f64 {
        (self.many_rss_kib.0 as f64 - self.one_rss_kib.0 as f64) * 1024.0 / self.users as f64
    }

    /// The HTTP rows of the "Many tenants" section of BENCHMARKS.md.
    pub fn section(&self) -> String {
        let n = group(self.users as u64);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "### Many tenants over HTTP: `chat-token serve`, one server core\n\n\
             What a deployment sees: `chat-token serve --users-file U --tenants-file T` \
             (release) pinned to core 0, wrk pinned to core 1 with 16 keep-alive \
             connections, {} s per run, {} runs, medians; the servers of the last three rows \
             run side by side and their runs alternate. {n} static users \
             (`tok-<16 digits>=user<5 digits>;tenant=<id>`); wrk takes each request's \
             bearer token from all {n} in turn, in a fixed shuffled order. With {n} \
             tenants each user is in their own, and each tenant has its own made-up \
             account SID, API key SID, secret (inline, in a file of mode 0600) and chat \
             service. Before the runs, one pass over every user answers each of them once \
             and checks the token's signature against the secret of the user's tenant: \
             the tenant cache ({n} entries, the default) is warm.\n\n\
             | signing account | `/token` req/s | throughput vs single tenant |\n\
             |---|---|---|",
            self.secs, self.reps,
        );
        let row = |out: &mut String, what: &str, rps: f64| {
            let _ = writeln!(
                out,
                "| {what} | {rps:.0} | {:.2} |",
                rps / self.one_tenant_rps
            );
        };
        row(
            &mut out,
            "the service's own, one static user and one token (the identification reference)",
            self.reference_rps,
        );
        row(
            &mut out,
            &format!("the service's own, {n} users, no tenants file"),
            self.own_rps,
        );
        row(
            &mut out,
            &format!("a single tenant, {n} users in it"),
            self.one_tenant_rps,
        );
        row(
            &mut out,
            &format!("{n} tenants, one user each, cached"),
            self.many_rps,
        );
        let ratio = self.ratio();
        let _ = writeln!(
            out,
            "\n{n} tenants / single tenant over HTTP, throughput: **{ratio:.2}** (target at \
             least {TENANTS_TARGET:.2}, within {:.0}% of the single-tenant figure once the \
             cache is warm: {}).\n\n\
             Memory as the process sees it: serve's RSS with {n} tenants, warm, minus its \
             RSS with one tenant, warm (the same {n} users in both), divided by {n}: \
             **{:.0} bytes per tenant** (RSS {:.1} MiB and {:.1} MiB). It counts the \
             loaded tenants file's entry, the cache's entry and what the allocator keeps \
             after reading the file; {:.0} bytes per tenant of it were there at start-up, \
             before any request (RSS {:.1} MiB and {:.1} MiB).\n",
            (1.0 - TENANTS_TARGET) * 100.0,
            if ratio >= TENANTS_TARGET {
                "met"
            } else {
                "not met"
            },
            self.bytes_per_tenant(),
            self.many_rss_kib.1 as f64 / 1024.0,
            self.one_rss_kib.1 as f64 / 1024.0,
            self.bytes_per_tenant_loaded(),
            self.many_rss_kib.0 as f64 / 1024.0,
            self.one_rss_kib.0 as f64 / 1024.0,
        );
        out
    }
}

/// Made-up, distinct credentials of tenant `n`: (account SID, API key SID, secret,
/// chat service SID).
fn tenant_creds(n: usize) -> (String, String, String, String) {
    let sid = |prefix: &str, salt: u128| {
        let x = (n as u128 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835) ^ salt;
        format!("{prefix}{x:032x}")
    };
    (
        sid("AC", 0xac),
        sid("SK", 0x5c),
        format!("bench-tenant-{n:05}-secret-not-real"),
        sid("IS", 0x15),
    )
}

fn tenant_id(n: usize) -> String {
    format!("t{n:05}")
}

fn user_token(n: usize) -> String {
    format!("tok-{n:016}")
}

/// Writes `text` to a new file at `path` that only its owner may read.
fn write_private(path: &Path, text: &str) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err.into()),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?
        .write_all(text.as_bytes())?;
    Ok(())
}

/// `0..n` in a fixed shuffled order (Fisher-Yates, xorshift64).
fn shuffled(n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    order
}

/// A keep-alive HTTP/1.1 client for `GET /token`, enough for chat-token serve.
struct Client {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    fn new(addr: SocketAddr) -> Self {
        Self { addr, conn: None }
    }

    /// `GET /token` with `bearer`: the status and the body. Reconnects once when the
    /// server has closed the connection.
    fn token(&mut self, bearer: &str) -> Result<(u16, String)> {
        for _ in 0..2 {
            if self.conn.is_none() {
                self.conn = Some(BufReader::new(TcpStream::connect(self.addr)?));
            }
            let conn = self.conn.as_mut().context("connection")?;
            let request = format!(
                "GET /token HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {bearer}\r\n\r\n",
                self.addr
            );
            if conn.get_mut().write_all(request.as_bytes()).is_err() {
                self.conn = None;
                continue;
            }
            let mut status = String::new();
            if conn.read_line(&mut status)? == 0 {
                self.conn = None;
                continue;
            }
            let code: u16 = status
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .with_context(|| format!("bad status line {status:?}"))?;
            let mut length = None;
            let mut close = false;
            loop {
                let mut line = String::new();
                conn.read_line(&mut line)?;
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    let value = value.trim();
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.parse::<usize>().ok();
                    } else if name.eq_ignore_ascii_case("connection") {
                        close = value.eq_ignore_ascii_case("close");
                    }
                }
            }
            let length = length.context("an answer without content-length")?;
            let mut body = vec![0; length];
            conn.read_exact(&mut body)?;
            if close {
                self.conn = None;
            }
            return Ok((code, String::from_utf8_lossy(&body).into_owned()));
        }
        bail!("{} closed the connection twice", self.addr)
    }
}

/// One pass over every user, in order: each answered 200 with a token signed by
/// `signer(n)` (account SID, secret) for identity `user<n>`.
fn warm(addr: SocketAddr, users: usize, signer: impl Fn(usize) -> (String, String)) -> Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let mut client = Client::new(addr);
    for n in 0..users {
        let (code, body) = client.token(&user_token(n))?;
        if code != 200 {
            bail!("user {n}: /token answered {code}: {body}");
        }
        let body: serde_json::Value = serde_json::from_str(&body)?;
        let jwt = body["token"].as_str().context("no token in the answer")?;
        let (account, secret) = signer(n);
        let inspection = chat_token_core::inspect(jwt, Some(&SecretString::from(secret)), now)?;
        let identity = format!("user{n:05}");
        if inspection.signature() != SignatureCheck::Valid
            || inspection.claims()["sub"] != account.as_str()
            || inspection.claims()["grants"]["identity"] != identity.as_str()
        {
            bail!("user {n}: the token is not {identity}'s signed by account {account}");
        }
    }
    Ok(())
}

/// 10,000 users with the service's own account, all in one tenant, and each in their
/// own of 10,000 tenants: req/s with wrk rotating over all the users' tokens, and
/// serve's RSS.
fn tenants_http(
    root: &Path,
    scratch: &Path,
    secs: u32,
    reps: usize,
    reference_rps: f64,
) -> Result<TenantsHttp> {
    let users = TENANT_USERS;
    let tokens = scratch.join("tenants-tokens.txt");
    let mut text = String::with_capacity(users * 24);
    for n in shuffled(users) {
        let _ = writeln!(text, "{}", user_token(n));
    }
    std::fs::write(&tokens, text)?;
    let users_file = |name: &str, tenant: &dyn Fn(usize) -> Option<String>| -> Result<String> {
        let path = scratch.join(name);
        let mut text = String::with_capacity(users * 48);
        for n in 0..users {
            let _ = write!(text, "{}=user{n:05}", user_token(n));
            if let Some(id) = tenant(n) {
                let _ = write!(text, ";tenant={id}");
            }
            text.push('\n');
        }
        std::fs::write(&path, text)?;
        Ok(path.to_string_lossy().into_owned())
    };
    let tenants_file = |name: &str, count: usize| -> Result<String> {
        let path = scratch.join(name);
        let mut text = String::with_capacity(count * 256);
        for n in 0..count {
            let (account, key, secret, service) = tenant_creds(n);
            let _ = writeln!(
                text,
                "[tenants.{}]\naccount_sid = \"{account}\"\napi_key_sid = \"{key}\"\n\
                 api_secret = \"{secret}\"\nchat_service_sid = \"{service}\"\n",
                tenant_id(n)
            );
        }
        write_private(&path, &text)?;
        Ok(path.to_string_lossy().into_owned())
    };
    // The three servers run side by side (the idle ones cost nothing on core 0), and
    // their runs alternate, so that a noisy spell of the machine touches each alike.
    let own_users = users_file("tenants-own-users.txt", &|_| None)?;
    let (own, own_addr, _) = serve(root, &["--users-file", &own_users])?;
    warm(own_addr, users, |_| {
        (CREDS[0].1.to_owned(), CREDS[2].1.to_owned())
    })?;
    // (a) One tenant, every user in it; (b) one tenant per user.
    let mut tenant_servers = Vec::new();
    for (name, count) in [("one", 1), ("many", users)] {
        let users_arg = users_file(&format!("tenants-{name}-users.txt"), &|n| {
            Some(tenant_id(n % count))
        })?;
        let tenants_arg = tenants_file(&format!("tenants-{name}.toml"), count)?;
        let (server, addr, _) = serve(
            root,
            &["--users-file", &users_arg, "--tenants-file", &tenants_arg],
        )?;
        let loaded = rss_kib(server.0.id())?;
        warm(addr, users, |n| {
            let (account, _, secret, _) = tenant_creds(n % count);
            (account, secret)
        })?;
        tenant_servers.push((server, addr, loaded));
    }
    let [(one, one_addr, one_loaded), (many, many_addr, many_loaded)] = &tenant_servers[..] else {
        bail!("two tenant servers expected");
    };
    let (mut own_runs, mut one_runs, mut many_runs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps {
        own_runs.push(wrk_tokens(own_addr, &tokens, secs, scratch)?);
        one_runs.push(wrk_tokens(*one_addr, &tokens, secs, scratch)?);
        many_runs.push(wrk_tokens(*many_addr, &tokens, secs, scratch)?);
    }
    let one_rss_kib = (*one_loaded, rss_kib(one.0.id())?);
    let many_rss_kib = (*many_loaded, rss_kib(many.0.id())?);
    drop(tenant_servers);
    drop(own);
    let (own_rps, one_tenant_rps, many_rps) =
        (median(own_runs), median(one_runs), median(many_runs));
    Ok(TenantsHttp {
        secs,
        reps,
        users,
        reference_rps,
        own_rps,
        one_tenant_rps,
        many_rps,
        one_rss_kib,
        many_rss_kib,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures() -> TenantsHttp {
        TenantsHttp {
            secs: 5,
            reps: 3,
            users: 10_000,
            reference_rps: 52_000.0,
            own_rps: 50_000.0,
            one_tenant_rps: 48_000.0,
            many_rps: 45_000.0,
            one_rss_kib: (10_000, 11_000),
            many_rss_kib: (20_000, 31_000),
        }
    }

    #[test]
    fn the_http_tenants_section_has_every_figure() {
        let text = figures().section();
        assert!(text.starts_with("### Many tenants over HTTP"), "{text}");
        assert!(text.contains("5 s per run, 3 runs"), "{text}");
        assert!(
            text.contains("| a single tenant, 10,000 users in it | 48000 | 1.00 |"),
            "{text}"
        );
        assert!(
            text.contains("| 10,000 tenants, one user each, cached | 45000 | 0.94 |"),
            "{text}"
        );
        assert!(
            text.contains("**0.94** (target at least 0.85, within 15%"),
            "{text}"
        );
        assert!(text.contains("cache is warm: met)"), "{text}");
        assert!(text.contains("**2048 bytes per tenant**"), "{text}");
        assert!(text.contains("1024 bytes per tenant of it"), "{text}");
        let slow = TenantsHttp {
            many_rps: 24_000.0,
            ..figures()
        };
        assert!(slow.section().contains("**0.50**"));
        assert!(slow.section().contains("cache is warm: not met)"));
    }

    #[test]
    fn a_ratio_shown_never_reads_as_meeting_a_target_it_misses() {
        assert_eq!(judged(0.6996, 0.7), "0.699 (target at least 0.7: not met)");
        assert_eq!(judged(0.7, 0.7), "0.700 (target at least 0.7: met)");
        assert_eq!(judged(0.8889, 0.85), "0.888 (target at least 0.85: met)");
    }

    #[test]
    fn tenants_are_distinct_and_valid() {
        let order = shuffled(1000);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_ne!(order, sorted);
        let mut seen = std::collections::HashSet::new();
        for n in [0, 1, 2, 9_999] {
            let (account, key, secret, service) = tenant_creds(n);
            for sid in [&account, &key, &service] {
                assert_eq!(sid.len(), 34, "{sid}");
                assert!(seen.insert(sid.clone()), "{sid}");
            }
            assert!(seen.insert(secret.clone()));
            chat_token_core::Credentials::try_new(account, key, secret).unwrap();
        }
    }
}
