//! `cargo xtask bench`: every figure of `BENCHMARKS.md`, measured side by side in one run.
//!
//! 1. criterion: our mint and verify, `jsonwebtoken::encode` of the same header and
//!    claims, two threads minting at once, one token request through
//!    `TokenService::handle` in process; and many tenants (`benches/tenants.rs`):
//!    a request answered with the service's own account, one tenant's and one of
//!    10,000 tenants', a scan of 20,000 tenants over a cache of 10,000, and the heap the
//!    cache holds per tenant (the "Many tenants" section, with the HTTP figures of 5);
//! 2. Twilio's Python and Node helpers minting the same token, each in its own process
//!    for at least 2 s a run (pinned versions, installed under `target/`);
//! 3. HTTP: each adapter's example in release mode, `/token` against its `/control`
//!    route (a static body of the same size), loaded by wrk over keep-alive on loopback,
//!    server pinned to core 0 and wrk to core 1, 16 and 64 connections, 5 runs each,
//!    medians of requests/s and p99 latency; and the server's own CPU time per request
//!    on each route (user + system from `/proc`, 9 interleaved 3 s runs, medians) under
//!    a fixed offered load and a saturating one, with a `perf` profile of the axum
//!    example's token path beside its `/control` (when `perf` is available);
//! 4. memory: each server's RSS after 5 s and after 60 s of load;
//! 5. identification: `chat-token serve` with identity-provider JWTs (RS256, ES256;
//!    distinct and repeated tokens) beside a static user, PyJWT and `openssl speed`, and
//!    static users tables of 1 to 50,000 entries; and 10,000 users over HTTP in one
//!    tenant and in 10,000 tenants of a `--tenants-file`, with serve's RSS per tenant
//!    (see `bench_identity`).
//!
//! `--quick` shortens every run (for trying the command, not for figures).

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::bench_identity::TENANTS_TARGET;
use crate::estimates::{criterion_median, median, middle_half};
use crate::process::{cargo, ensure_wrk, group, run as run_cmd};
use crate::python::venv;

struct Settings {
    criterion_secs: u32,
    helper_secs: f64,
    http_secs: u32,
    reps: usize,
    rss_secs: u64,
}

/// Runs the benchmarks and writes `BENCHMARKS.md`.
pub fn run(root: &Path, quick: bool) -> Result<()> {
    let s = if quick {
        Settings {
            criterion_secs: 1,
            helper_secs: 0.5,
            http_secs: 1,
            reps: 1,
            rss_secs: 6,
        }
    } else {
        Settings {
            criterion_secs: 5,
            helper_secs: 2.0,
            http_secs: 5,
            reps: 5,
            rss_secs: 60,
        }
    };
    ensure_wrk()?;
    let mut report = String::new();

    // 1. criterion
    run_cmd(cargo().args([
        "bench",
        "-p",
        "chat-token-core",
        "--bench",
        "mint",
        "--bench",
        "tenants",
        "--",
        "--warm-up-time",
        "1",
        "--measurement-time",
        &s.criterion_secs.to_string(),
        "--noplot",
    ]))?;
    let crit = |group: &str, name: &str| criterion_median(root, group, name);
    let mint_ns = crit("token", "mint")?;
    let verify_ns = crit("token", "verify")?;
    let jwt_ns = crit("token", "jsonwebtoken_encode")?;
    let two_ns = crit("token_2_threads", "mint")?;
    let request_ns = crit("token_request", "handle")?;
    let tenants = TenantFigures::read(root)?;
    let per_s = |ns: f64| 1e9 / ns;

    // 2. helpers
    let python = venv(root)?;
    let py_rate: f64 = output(
        Command::new(&python)
            .arg(root.join("xtask/bench/python_mint.py"))
            .args([s.helper_secs.to_string(), "3".into()]),
    )?
    .trim()
    .parse()
    .context("python helper rate")?;
    let node_dir = root.join("target/xtask-node");
    if !node_dir.join("node_modules/twilio/package.json").exists() {
        std::fs::create_dir_all(&node_dir)?;
        run_cmd(Command::new("npm").args([
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            &node_dir.to_string_lossy(),
            "twilio@5.13.1",
        ]))?;
    }
    let node_rate: f64 = output(
        Command::new("node")
            .arg(root.join("xtask/bench/node_mint.js"))
            .args([s.helper_secs.to_string(), "3".into()])
            .env("NODE_PATH", node_dir.join("node_modules")),
    )?
    .trim()
    .parse()
    .context("node helper rate")?;

    let _ = writeln!(
        report,
        "## Minting and verifying (single thread unless said)\n\n\
         The reference chat token, the same in every row: identity `alice` and a chat \
         grant with a service SID, endpoint `app:alice@example.com:browser` and a push \
         credential SID.\n\n\
         | what | median time | tokens/s | ours is |\n|---|---|---|---|"
    );
    let row = |report: &mut String, what: &str, ns: f64| {
        let _ = writeln!(
            report,
            "| {what} | {:.0} ns | {:.0} | {:.2}x faster |",
            ns,
            per_s(ns),
            ns / mint_ns
        );
    };
    let _ = writeln!(
        report,
        "| chat-token `TokenIssuer::mint` | {mint_ns:.0} ns | {:.0} | - |",
        per_s(mint_ns)
    );
    row(
        &mut report,
        "`jsonwebtoken::encode`, same header and claims",
        jwt_ns,
    );
    row(
        &mut report,
        "Twilio Python helper `to_jwt()` (twilio 9.13.0)",
        1e9 / py_rate,
    );
    row(
        &mut report,
        "Twilio Node helper `toJwt()` (twilio 5.13.1)",
        1e9 / node_rate,
    );
    let _ = writeln!(
        report,
        "| chat-token inspect (verify signature and claims) | {verify_ns:.0} ns | {:.0} | - |",
        per_s(verify_ns)
    );
    let _ = writeln!(
        report,
        "| chat-token `TokenService::handle`: one token request in process (the bearer \
         token looked up in a users table, the identity checked, the token minted into the \
         JSON body) | {request_ns:.0} ns | {:.0} | - |",
        per_s(request_ns)
    );
    let _ = writeln!(
        report,
        "\nTwo threads minting at once: {:.0} tokens/s, {:.2}x one thread.\n",
        2.0 * per_s(two_ns),
        2.0 * mint_ns / two_ns
    );
    // Written once the HTTP figures of many tenants are measured (in 5).
    let tenants_at = report.len();

    // 3 and 4. HTTP
    build_examples()?;
    let _ = writeln!(
        report,
        "## HTTP: `/token` against a static route of the same size\n\n\
         Each adapter's example (release build, development credentials, demo users), server\n\
         pinned to core 0, wrk 4.1 pinned to core 1, keep-alive on loopback, {} s per run,\n\
         {} runs, medians. `/control` answers a fixed token-response body of the same size.\n\n\
         | adapter | connections | `/token` req/s | `/control` req/s | ratio | `/token` p99 | `/control` p99 |\n\
         |---|---|---|---|---|---|---|",
        s.http_secs, s.reps
    );
    let mut rss_rows = String::new();
    for example in ["axum", "actix", "rocket"] {
        let server = Server::start(root, example)?;
        for conns in [16, 64] {
            let mut token = Vec::new();
            let mut control = Vec::new();
            for _ in 0..s.reps {
                token.push(wrk(server.addr, "/token", conns, s.http_secs)?);
                control.push(wrk(server.addr, "/control", conns, s.http_secs)?);
            }
            let (t_rps, t_p99) = medians(&token);
            let (c_rps, c_p99) = medians(&control);
            let _ = writeln!(
                report,
                "| {example} | {conns} | {t_rps:.0} | {c_rps:.0} | {:.2} | {t_p99:.2} ms | {c_p99:.2} ms |",
                t_rps / c_rps
            );
        }
        drop(server);
        let server = Server::start(root, example)?;
        let (early, late) = rss_under_load(&server, s.rss_secs)?;
        let _ = writeln!(
            rss_rows,
            "| {example} | {:.1} MiB | {:.1} MiB | {:+.1}% |",
            early as f64 / 1024.0,
            late as f64 / 1024.0,
            (late as f64 - early as f64) * 100.0 / early as f64
        );
    }
    report.push('\n');
    let (runs, secs) = if quick { (2, 1) } else { (CPU_RUNS, CPU_SECS) };
    report.push_str(&cpu_section(root, runs, secs)?);
    report.push_str(&profile_section(root, if quick { 2 } else { 6 })?);
    let _ = writeln!(
        report,
        "\n## Memory under load\n\nRSS of the example server while wrk loads `/token` with 64 connections.\n\n\
         | adapter | RSS after 5 s | RSS after {} s | change |\n|---|---|---|---|\n{rss_rows}",
        s.rss_secs
    );

    // 5. Identification: identity-provider JWTs and static users.
    let identity = crate::bench_identity::measure(root, s.http_secs, s.reps.min(3))?;
    report.push_str(&identity.section);
    report.insert_str(
        tenants_at,
        &(tenants.section() + &identity.tenants.section()),
    );

    let machine = machine();
    let date = output(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))?;
    let doc = format!(
        "# Benchmarks\n\n\
         Written by `cargo xtask bench{}` on {}. Machine: {machine}. Figures are medians;\n\
         ratios compare numbers measured side by side in the same run. Shared, noisy\n\
         machines: compare ratios, not absolute numbers, across runs.\n\n{report}\n\
         ## Commands\n\n\
         - `cargo bench -p chat-token-core --bench mint -- --measurement-time {} --noplot`\n\
         - `cargo bench -p chat-token-core --bench tenants -- --measurement-time {} --noplot`\n\
         - `target/xtask-venv/bin/python xtask/bench/python_mint.py {} 3`\n\
         - `NODE_PATH=target/xtask-node/node_modules node xtask/bench/node_mint.js {} 3`\n\
         - `taskset -c 0 target/release/examples/<adapter>` with `PORT` set, and\n  \
           `taskset -c 1 wrk -t1 -c<16|64> -d{}s --latency -H 'Authorization: Bearer demo-alice' http://127.0.0.1:$PORT/token` (and `/control`)\n",
        if quick { " --quick" } else { "" },
        date.trim(),
        s.criterion_secs,
        s.criterion_secs,
        s.helper_secs,
        s.helper_secs,
        s.http_secs,
    );
    std::fs::write(root.join("BENCHMARKS.md"), &doc)?;
    println!("{doc}");
    Ok(())
}

/// The figures of `benches/tenants.rs`: criterion's medians and the cache's own
/// figures (`target/criterion/tenants/cache.json`).
#[derive(Debug, Clone, PartialEq)]
struct TenantFigures {
    /// Median ns per request signed with the service's own account.
    single_account_ns: f64,
    /// Median ns per request for the one tenant of a warm cache.
    single_tenant_ns: f64,
    /// Median ns per request over 10,000 warm tenants.
    many_ns: f64,
    /// Median ns per request of the scan (every request a miss).
    scan_ns: f64,
    /// Warm tenants whose heap was counted.
    tenants: u64,
    /// Heap bytes the cache holds per warm tenant.
    bytes_per_tenant: f64,
    /// Live allocations the cache holds per warm tenant.
    allocations_per_tenant: f64,
    /// Distinct tenants of the scan.
    scan_tenants: u64,
    /// The cache's bound during the scan.
    scan_bound: u64,
    /// The cache's length after the scan.
    scan_len: u64,
    /// The largest length seen during the scan.
    scan_max_len: u64,
}

impl TenantFigures {
    /// Reads the figures of the last `cargo bench --bench tenants` under `root`.
    fn read(root: &Path) -> Result<Self> {
        let crit = |name: &str| criterion_median(root, "tenants", name);
        let path = root.join("target/criterion/tenants/cache.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text)?;
        let num = |key: &str| {
            v[key]
                .as_f64()
                .with_context(|| format!("{key} in {}", path.display()))
        };
        let int = |key: &str| {
            v[key]
                .as_u64()
                .with_context(|| format!("{key} in {}", path.display()))
        };
        Ok(Self {
            single_account_ns: crit("single_account")?,
            single_tenant_ns: crit("single_tenant")?,
            many_ns: crit("10000_tenants")?,
            scan_ns: crit("scan_20000_over_10000")?,
            tenants: int("tenants")?,
            bytes_per_tenant: num("bytes_per_tenant")?,
            allocations_per_tenant: num("allocations_per_tenant")?,
            scan_tenants: int("scan_tenants")?,
            scan_bound: int("scan_bound")?,
            scan_len: int("scan_len")?,
            scan_max_len: int("scan_max_len")?,
        })
    }

    /// 10,000-tenant throughput over single-tenant throughput.
    fn ratio(&self) -> f64 {
        self.single_tenant_ns / self.many_ns
    }

    /// The "Many tenants" section of `BENCHMARKS.md`.
    fn section(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "## Many tenants\n\n\
             One request through `TokenService::answer` for a user the app's login \
             identified (`alice`, a chat grant for the signing account's chat service), \
             on a current-thread runtime: signed with the service's own account, with \
             the account of a single tenant, or with that of one of {} tenants (each its \
             own account SID, API key SID, secret and chat service; a cache of {} warmed \
             by one pass over all, then requests over all of them in a fixed shuffled \
             order). These rows run in one binary under a counting allocator (for the \
             memory figure): compare them with each other, not with the table above.\n\n\
             | signing account | median time | tokens/s | throughput vs single tenant |\n\
             |---|---|---|---|",
            group(self.tenants),
            group(self.scan_bound),
        );
        let row = |out: &mut String, what: &str, ns: f64| {
            let _ = writeln!(
                out,
                "| {what} | {ns:.0} ns | {:.0} | {:.2} |",
                1e9 / ns,
                self.single_tenant_ns / ns
            );
        };
        row(
            &mut out,
            "the service's own (no tenant source)",
            self.single_account_ns,
        );
        row(&mut out, "a single tenant, cached", self.single_tenant_ns);
        row(
            &mut out,
            &format!("{} tenants, cached", group(self.tenants)),
            self.many_ns,
        );
        row(
            &mut out,
            &format!(
                "{} tenants over a cache of {} (every request fetches, evicts the oldest)",
                group(self.scan_tenants),
                group(self.scan_bound)
            ),
            self.scan_ns,
        );
        let ratio = self.ratio();
        let _ = writeln!(
            out,
            "\n{} tenants / single tenant, throughput: **{ratio:.2}** (target at least \
             {TENANTS_TARGET:.2}, within {:.0}%: {}).\n\n\
             Memory: the cache holds **{:.0} bytes per tenant** ({:.1} allocations): heap \
             allocated minus freed while {} tenants were first served, divided by {}; \
             the tenant's issuer (credentials, signing key) and default token, its entry \
             and its share of the table.\n\n\
             Bound: after one pass of {} distinct tenants over an empty cache of {}, \
             the cache holds **{} tenants** (at most {} at any time; bound {}): {}.\n",
            group(self.tenants),
            (1.0 - TENANTS_TARGET) * 100.0,
            if ratio >= TENANTS_TARGET {
                "met"
            } else {
                "not met"
            },
            self.bytes_per_tenant,
            self.allocations_per_tenant,
            group(self.tenants),
            group(self.tenants),
            group(self.scan_tenants),
            group(self.scan_bound),
            group(self.scan_len),
            group(self.scan_max_len),
            group(self.scan_bound),
            if self.scan_max_len <= self.scan_bound {
                "held"
            } else {
                "EXCEEDED"
            },
        );
        out
    }
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed with {}", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or("?".into(), |kb| format!("{:.0} GiB", kb as f64 / 1048576.0));
    format!("{cpu}, {cores} cores, {mem}")
}

/// A release example server pinned to core 0, killed on drop.
struct Server {
    addr: SocketAddr,
    child: Child,
}

impl Server {
    fn start(root: &Path, example: &str) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let binary: PathBuf = root.join("target/release/examples").join(example);
        let child = Command::new("taskset")
            .arg("-c")
            .arg("0")
            .arg(binary)
            .env("PORT", port.to_string())
            .env("RUST_LOG", "warn")
            .env("ROCKET_LOG_LEVEL", "critical")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let server = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(server.addr).is_err() {
            if Instant::now() > deadline {
                bail!("the {example} example did not start");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    fn rss_kib(&self) -> Result<u64> {
        // taskset execs the server, so the child's pid is the server's.
        crate::process::rss_kib(self.child.id())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One wrk run: (requests/s, p99 in ms).
fn wrk(addr: SocketAddr, path: &str, conns: u32, secs: u32) -> Result<(f64, f64)> {
    let run = wrk_run(addr, path, conns, secs, None)?;
    Ok((run.rps, run.p99_ms))
}

/// What one wrk run reports.
struct WrkRun {
    rps: f64,
    p99_ms: f64,
    requests: u64,
}

/// One wrk run, pinned to core 1, with a Lua `script` if given.
fn wrk_run(
    addr: SocketAddr,
    path: &str,
    conns: u32,
    secs: u32,
    script: Option<&Path>,
) -> Result<WrkRun> {
    let mut cmd = Command::new("taskset");
    cmd.args([
        "-c".to_string(),
        "1".into(),
        "wrk".into(),
        "-t1".into(),
        format!("-c{conns}"),
        format!("-d{secs}s"),
        "--latency".into(),
        "-H".into(),
        "Authorization: Bearer demo-alice".into(),
    ]);
    if let Some(script) = script {
        cmd.arg("-s").arg(script);
    }
    let text = output(cmd.arg(format!("http://{addr}{path}")))?;
    if text.contains("Non-2xx") {
        bail!("wrk saw non-2xx answers on {path}:\n{text}");
    }
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no Requests/sec in wrk output:\n{text}"))?;
    let p99 = text
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("99%"))
        .map(|v| parse_latency(v.trim()))
        .with_context(|| format!("no 99% latency in wrk output:\n{text}"))??;
    // "  123456 requests in 3.00s, 45.67MB read"
    let requests = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.trim().parse().ok())
        .with_context(|| format!("no request count in wrk output:\n{text}"))?;
    Ok(WrkRun {
        rps,
        p99_ms: p99,
        requests,
    })
}

fn parse_latency(v: &str) -> Result<f64> {
    let split = v
        .find(|c: char| c.is_ascii_alphabetic())
        .context("latency unit")?;
    let (num, unit) = v.split_at(split);
    let num: f64 = num.parse()?;
    Ok(match unit {
        "us" => num / 1000.0,
        "ms" => num,
        "s" => num * 1000.0,
        other => bail!("unknown latency unit {other}"),
    })
}

fn medians(runs: &[(f64, f64)]) -> (f64, f64) {
    (
        median(runs.iter().map(|r| r.0).collect()),
        median(runs.iter().map(|r| r.1).collect()),
    )
}

/// `cargo xtask bench-cpu`: only the server-CPU-time section, printed, not written.
pub fn cpu(root: &Path, quick: bool) -> Result<()> {
    ensure_wrk()?;
    build_examples()?;
    let (runs, secs) = if quick { (2, 1) } else { (CPU_RUNS, CPU_SECS) };
    println!("{}", cpu_section(root, runs, secs)?);
    println!("{}", profile_section(root, if quick { 2 } else { 6 })?);
    Ok(())
}

/// The adapters' examples, in release mode.
fn build_examples() -> Result<()> {
    run_cmd(cargo().args([
        "build",
        "--release",
        "-p",
        "chat-token-examples",
        "--examples",
    ]))
}

/// The runs and length of the CPU-time measurement.
const CPU_RUNS: usize = 9;
const CPU_SECS: u32 = 3;

/// The "server CPU time per request" section: for each adapter's example, the server's
/// own CPU time (user + system, every thread, from `/proc/<pid>/stat`) per request on
/// `/token` and on `/control`, `runs` interleaved wrk runs of `secs` s each (the order
/// alternating), medians; under a fixed offered load (64 connections, each waiting
/// 1 ms between an answer and its next request: the same rate on both routes) and
/// under a saturating one (16 connections, no wait).
pub fn cpu_section(root: &Path, runs: usize, secs: u32) -> Result<String> {
    let tick_us = 1e6 / clock_ticks()?;
    let pace = pace_script(root)?;
    let loads: [(&str, u32, Option<&Path>); 2] = [
        ("fixed (64 connections, 1 ms apart)", 64, Some(&pace)),
        ("saturating (16 connections)", 16, None),
    ];
    let mut out = format!(
        "## HTTP: server CPU time per request\n\n\
         What `/token` costs the server over `/control` (a static body of the same size, \
         with the same headers), measured as the server's own CPU time (user + system, all \
         threads, from `/proc`) divided by the requests answered: the server pinned to core \
         0, wrk pinned to core 1, {runs} runs of {secs} s on each route and load, \
         interleaved (the order alternating), medians. Time the server is not scheduled \
         does not count.\n\n\
         Two loads. Under the fixed one, each of 64 connections waits 1 ms between an \
         answer and its next request (wrk's `delay()`), so both routes are asked about the \
         same rate (the wait, not the route, sets most of it; the table gives each \
         route's own) and the server does about the same work in the kernel for each; the \
         difference is what the route itself costs, and the target applies to it. Under the saturating \
         one (16 connections, no wait), the slower route also leaves wrk idle more often, \
         and each answer that wakes wrk costs the server a cross-core wake-up in the \
         kernel: the difference there includes that.\n\n\
         The difference, and the verdict, is the median of `/token` less the median of \
         `/control`. Beside it, the spread of the runs: each pair (a `/token` run and the \
         `/control` run next to it) gives one difference, and the middle half of those \
         {runs} differences is shown, from the lower to the upper quartile (the \
         interquartile range of the paired differences). A difference of medians need not \
         lie inside that range. When the range lies on one side of the target, the verdict \
         is not one noisy pair; when it straddles the target, the verdict could go either \
         way from one run to the next.\n\n\
         | adapter | load | `/token` req/s | `/control` req/s | `/token` CPU per request | `/control` CPU per request | difference | pairs' middle half | target (fixed load) |\n\
         |---|---|---|---|---|---|---|---|---|\n"
    );
    for example in ["axum", "actix", "rocket"] {
        let server = Server::start(root, example)?;
        // A first run warms the connection pools and allocator; it is not counted.
        wrk_run(server.addr, "/token", 16, 1, None)?;
        for (load, conns, script) in loads {
            let (mut token, mut control) = (Vec::new(), Vec::new());
            for run in 0..runs {
                let order = if run % 2 == 0 {
                    ["/token", "/control"]
                } else {
                    ["/control", "/token"]
                };
                for path in order {
                    let before = cpu_ticks(server.child.id())?;
                    let done = wrk_run(server.addr, path, conns, secs, script)?;
                    let used = cpu_ticks(server.child.id())? - before;
                    let per_request = used as f64 * tick_us / done.requests.max(1) as f64;
                    let runs = if path == "/token" {
                        &mut token
                    } else {
                        &mut control
                    };
                    runs.push((per_request, done.rps));
                }
            }
            let cpu = |v: &[(f64, f64)]| median(v.iter().map(|r| r.0).collect());
            let rps = |v: &[(f64, f64)]| median(v.iter().map(|r| r.1).collect());
            let diff = cpu(&token) - cpu(&control);
            let (low, high) =
                middle_half(token.iter().zip(&control).map(|(t, c)| t.0 - c.0).collect());
            let verdict = match script {
                None => "-".to_owned(),
                Some(_) if diff <= CPU_TARGET_US => format!("at most +{CPU_TARGET_US:.1} µs: met"),
                Some(_) => format!("at most +{CPU_TARGET_US:.1} µs: not met"),
            };
            let _ = writeln!(
                out,
                "| {example} | {load} | {:.0} | {:.0} | {:.2} µs | {:.2} µs | {diff:+.2} µs | {low:+.2} to {high:+.2} µs | {verdict} |",
                rps(&token),
                rps(&control),
                cpu(&token),
                cpu(&control),
            );
        }
    }
    Ok(out)
}

/// The wrk script of the fixed load (1 ms between an answer and the next request), written
/// under `target/xtask-bench`.
fn pace_script(root: &Path) -> Result<PathBuf> {
    let pace = root.join("target/xtask-bench/pace.lua");
    std::fs::create_dir_all(pace.parent().context("script directory")?)?;
    std::fs::write(
        &pace,
        "-- 1 ms between an answer and the next request\nfunction delay()\n  return 1\nend\n",
    )?;
    Ok(pace)
}

/// The top user-space entries of a profile, in the profile section.
const PROFILE_ROWS: usize = 14;

/// The profile section: where the axum example's server spends its CPU time on
/// `/token` and on `/control`, per request, under the fixed load of [`cpu_section`]:
/// `perf record` on the server for `secs` s on each route, each entry's share of the
/// sampled CPU time divided by the requests answered in the window. Without a usable
/// `perf`, the section says why.
pub fn profile_section(root: &Path, secs: u32) -> Result<String> {
    let mut out = format!(
        "\n### Where `/token`'s extra time goes\n\n\
         A `perf` profile of the axum example under the fixed load above: `perf record -e \
         cpu-clock -F 4000` on the server for {secs} s on each route, the sampled CPU time of each entry \
         divided by the requests answered in that window. Sampling adds kernel time of its \
         own, so the totals run above the table before; read the differences. User-space \
         entries by their cost on `/token`, then the totals.\n\n",
    );
    let (token, control) = match profiles(root, secs) {
        Ok(profiles) => profiles,
        Err(err) => {
            let _ = writeln!(out, "Not measured in this run: {err:#}.");
            return Ok(out);
        }
    };
    let (token, control) = (&token, &control);
    out.push_str("| entry | `/token` | `/control` | extra |\n|---|---|---|---|\n");
    for (symbol, us) in token.user.iter().take(PROFILE_ROWS) {
        let other = control.user_us(symbol);
        let _ = writeln!(
            out,
            "| `{}` | {us:.3} µs | {other:.3} µs | {:+.3} µs |",
            shorten(symbol),
            us - other
        );
    }
    let total = |p: &Profile| p.user.iter().map(|(_, us)| us).sum::<f64>();
    let _ = writeln!(
        out,
        "| all user space | {:.3} µs | {:.3} µs | {:+.3} µs |",
        total(token),
        total(control),
        total(token) - total(control),
    );
    if token.kernel_sampled && control.kernel_sampled {
        let _ = writeln!(
            out,
            "| the kernel | {:.3} µs | {:.3} µs | {:+.3} µs |",
            token.kernel_us,
            control.kernel_us,
            token.kernel_us - control.kernel_us,
        );
    } else {
        out.push_str("| the kernel | not sampled (perf could sample user space only) | | |\n");
    }
    Ok(out)
}

/// The profiles of `/token` and of `/control` (see [`profile_section`]).
fn profiles(root: &Path, secs: u32) -> Result<(Profile, Profile)> {
    output(Command::new("perf").arg("--version")).context("`perf` is not available")?;
    let pace = pace_script(root)?;
    let dir = pace.parent().context("script directory")?.to_path_buf();
    let server = Server::start(root, "axum")?;
    wrk_run(server.addr, "/token", 16, 1, None)?;
    let mut profiles = Vec::new();
    for path in ["/token", "/control"] {
        let data = dir.join(format!("perf{}.data", path.replace('/', "-")));
        let (addr, script) = (server.addr, pace.clone());
        // wrk runs past both ends of the recording, so the window sees a steady load.
        let load = std::thread::spawn(move || wrk_run(addr, path, 64, secs + 2, Some(&script)));
        std::thread::sleep(Duration::from_secs(1));
        // `cpu-clock` whatever the machine offers: its count is in nanoseconds.
        let recorded = output(
            Command::new("perf")
                .args(["record", "-e", "cpu-clock", "-F", "4000", "-p"])
                .arg(server.child.id().to_string())
                .arg("-o")
                .arg(&data)
                .args(["--", "sleep", &secs.to_string()]),
        );
        let rps = load
            .join()
            .map_err(|_| anyhow::anyhow!("the wrk thread panicked"))??
            .rps;
        recorded.context("`perf record` failed")?;
        let report = output(
            Command::new("perf")
                .args(["report", "--no-children", "--sort", "symbol", "--stdio"])
                .args(["-n", "-F", "overhead,sample,sym", "-i"])
                .arg(&data),
        )
        .context("`perf report` failed")?;
        let profile = Profile::parse(&report, rps * f64::from(secs))
            .with_context(|| format!("`perf report` gave no profile of {path}"))?;
        profiles.push(profile);
    }
    let mut profiles = profiles.into_iter();
    match (profiles.next(), profiles.next()) {
        (Some(token), Some(control)) => Ok((token, control)),
        _ => bail!("two profiles expected"),
    }
}

/// One route's profile, in µs per request.
struct Profile {
    /// User-space entries, most costly first.
    user: Vec<(String, f64)>,
    /// Every kernel entry together.
    kernel_us: f64,
    /// Whether the kernel was sampled (not when perf could watch user space only).
    kernel_sampled: bool,
}

impl Profile {
    /// Reads the output of `perf report --stdio -n` on one `cpu-clock` recording: the
    /// header's event name and count (the samples' CPU time in ns), then one line per
    /// symbol (`12.34%  567  [.] symbol`), each share of that time divided by `requests`.
    /// `None` without a single `cpu-clock` event and its count.
    fn parse(report: &str, requests: f64) -> Option<Self> {
        let mut events = report
            .lines()
            .filter_map(|l| l.strip_prefix("# Samples: "))
            .filter_map(|l| l.split_once(" of event '"))
            .map(|(_, event)| event.trim_end_matches('\''));
        let event = events.next()?;
        if events.next().is_some() || !event.starts_with("cpu-clock") {
            return None;
        }
        let sampled_ns: f64 = report
            .lines()
            .find_map(|l| l.strip_prefix("# Event count (approx.):"))
            .and_then(|v| v.trim().parse().ok())?;
        let per_request_us = sampled_ns / 1e3 / requests;
        let mut user: Vec<(String, f64)> = Vec::new();
        let mut kernel_us = 0.0;
        for line in report.lines() {
            let mut fields = line.split_whitespace();
            let (Some(share), Some(_samples), Some(kind)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let Some(share) = share.strip_suffix('%').and_then(|v| v.parse::<f64>().ok()) else {
                continue;
            };
            let us = share / 100.0 * per_request_us;
            // perf may end each line with its IPC columns, `-` when not measured.
            let mut words: Vec<&str> = fields.collect();
            while words.last() == Some(&"-") {
                words.pop();
            }
            let symbol = words.join(" ");
            match kind {
                "[k]" => kernel_us += us,
                "[.]" => user.push((symbol, us)),
                _ => {}
            }
        }
        user.sort_by(|a, b| b.1.total_cmp(&a.1));
        Some(Self {
            user,
            kernel_us,
            kernel_sampled: !event.contains(":u"),
        })
    }

    /// The cost of `symbol` in this profile (0 when it has no samples).
    fn user_us(&self, symbol: &str) -> f64 {
        self.user
            .iter()
            .find(|(s, _)| s == symbol)
            .map_or(0.0, |(_, us)| *us)
    }
}

/// A symbol as a table cell: at most 90 characters, no `|`.
fn shorten(symbol: &str) -> String {
    let cell = symbol.replace('|', "/");
    match cell.char_indices().nth(90) {
        Some((end, _)) => format!("{}…", &cell[..end]),
        None => cell,
    }
}

/// What `/token` may cost over `/control`, in server CPU µs per request.
const CPU_TARGET_US: f64 = 1.0;

/// Clock ticks per second, the unit of `/proc/<pid>/stat`'s times.
fn clock_ticks() -> Result<f64> {
    output(Command::new("getconf").arg("CLK_TCK"))?
        .trim()
        .parse()
        .context("getconf CLK_TCK")
}

/// User + system CPU time of process `pid` and all its threads so far, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces; the fields after it do not. utime and stime
    // are fields 14 and 15, the 12th and 13th after the name.
    let after = stat.rsplit_once(')').context("/proc stat")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .and_then(|v| v.parse().ok())
            .context("utime/stime in /proc stat")
    };
    Ok(field(11)? + field(12)?)
}

/// RSS after 5 s and after `secs` s of 64-connection load on `/token`.
fn rss_under_load(server: &Server, secs: u64) -> Result<(u64, u64)> {
    let mut load = Command::new("taskset")
        .args([
            "-c".to_string(),
            "1".into(),
            "wrk".into(),
            "-t1".into(),
            "-c64".into(),
            format!("-d{}s", secs + 2),
            "-H".into(),
            "Authorization: Bearer demo-alice".into(),
            format!("http://{}/token", server.addr),
        ])
        .stdout(Stdio::null())
        .spawn()?;
    std::thread::sleep(Duration::from_secs(5));
    let early = server.rss_kib()?;
    std::thread::sleep(Duration::from_secs(secs.saturating_sub(5)));
    let late = server.rss_kib()?;
    let _ = load.wait();
    Ok((early, late))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_splits_user_space_from_the_kernel_per_request() {
        let report = "# Samples: 4K of event 'cpu-clock:ppp'\n\
                      # Event count (approx.): 2000000000\n\
                      #\n\
                      # Overhead       Samples  Symbol\n\
                      \x20   50.00%   200  [.] sha2::sha256::x86::digest_blocks  -  -\n\
                      \x20   25.00%   100  [k] _raw_spin_unlock_irqrestore\n\
                      \x20   20.00%    80  [.] <F as axum::handler::Handler<(M,T1),S>>::call\n\
                      \x20    5.00%    20  [k] tcp_sendmsg\n\
                      \n";
        // 2 s of CPU over a million requests: 2 µs each.
        let profile = Profile::parse(report, 1e6).expect("a profile");
        assert_eq!(profile.user.len(), 2);
        assert_eq!(profile.user[0].0, "sha2::sha256::x86::digest_blocks");
        assert!((profile.user[0].1 - 1.0).abs() < 1e-9);
        let call = "<F as axum::handler::Handler<(M,T1),S>>::call";
        assert!((profile.user_us(call) - 0.4).abs() < 1e-9);
        assert_eq!(profile.user_us("absent"), 0.0);
        assert!((profile.kernel_us - 0.6).abs() < 1e-9);
        assert!(profile.kernel_sampled);
        // User space only, when perf may not watch the kernel.
        let user_only = report.replace("cpu-clock:ppp", "cpu-clock:upp");
        assert!(
            !Profile::parse(&user_only, 1e6)
                .expect("a profile")
                .kernel_sampled
        );
        // Another event counts something else than nanoseconds; two events, two counts.
        assert!(Profile::parse(&report.replace("cpu-clock:ppp", "cycles"), 1e6).is_none());
        let two = format!("{report}# Samples: 1K of event 'cpu-clock:ppp'\n");
        assert!(Profile::parse(&two, 1e6).is_none());
        assert!(Profile::parse("", 1e6).is_none());
        assert_eq!(shorten("a|b"), "a/b");
        assert_eq!(shorten(&"x".repeat(100)).chars().count(), 91);
    }

    fn figures() -> TenantFigures {
        TenantFigures {
            single_account_ns: 850.0,
            single_tenant_ns: 925.0,
            many_ns: 1000.0,
            scan_ns: 4500.0,
            tenants: 10_000,
            bytes_per_tenant: 2082.4,
            allocations_per_tenant: 14.0,
            scan_tenants: 20_000,
            scan_bound: 10_000,
            scan_len: 10_000,
            scan_max_len: 10_000,
        }
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(10_000), "10,000");
        assert_eq!(group(1_234_567), "1,234,567");
    }

    #[test]
    fn the_tenants_section_has_every_figure() {
        let text = figures().section();
        assert!(text.starts_with("## Many tenants\n"), "{text}");
        assert!(
            text.contains("| a single tenant, cached | 925 ns | 1081081 | 1.00 |"),
            "{text}"
        );
        assert!(
            text.contains("| 10,000 tenants, cached | 1000 ns | 1000000 | 0.93 |"),
            "{text}"
        );
        assert!(text.contains("**0.93** (target at least 0.85, within 15%: met)"));
        assert!(text.contains("**2082 bytes per tenant** (14.0 allocations)"));
        assert!(text.contains("the cache holds **10,000 tenants**"));
        assert!(text.contains("bound 10,000): held."));
        let slow = TenantFigures {
            many_ns: 2000.0,
            ..figures()
        };
        assert!(
            slow.section()
                .contains("**0.46** (target at least 0.85, within 15%: not met)")
        );
    }

    /// Prints the section the last `cargo bench -p chat-token-core --bench tenants`
    /// would give: `cargo test -p xtask -- --ignored --nocapture tenants_section`.
    #[test]
    #[ignore = "reads the last run's figures under target/"]
    fn tenants_section_of_the_last_run() -> Result<()> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("workspace root")?;
        println!("{}", TenantFigures::read(root)?.section());
        Ok(())
    }
}
