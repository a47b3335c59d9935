//! Project automation: `cargo xtask <command>`.
//!
//! - `ci`: everything CI checks (fmt, clippy, tests with each crypto backend and both,
//!   conformance, smoke, the browser test, cargo-deny, docs, packaging, the MSRV).
//!   `.ci/run` calls this.
//! - `browser`: the development console clicked through in headless Chromium.
//! - `deny`: licences, bans and sources with cargo-deny (installed when missing).
//! - `golden`: regenerates `crates/chat-token-core/tests/data/golden.jsonl` with Twilio's
//!   Python helper.
//! - `conformance [--cases N] [--seed S]`: compares our tokens with the helper's, byte
//!   for byte, for N generated cases.
//! - `bench [--quick]`: measures minting, the helpers, HTTP and memory side by side and
//!   writes `BENCHMARKS.md`.
//! - `bench-identity [--quick]`: only the identification part of `bench` (IdP JWTs,
//!   static users tables), printed, not written.
//! - `soak [--secs N]`: each adapter under mixed good and failing traffic; reports
//!   statuses, connection errors and RSS.
//! - `package`: packages every publishable crate and builds each from its package.
//! - `msrv`: checks the workspace with the declared `rust-version` (installed with rustup
//!   when missing), in `target/msrv`.
//! - `smoke`: starts the three examples and `chat-token serve` as the README says and
//!   checks that they answer the same requests the same way.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};
use serde_json::{Map, Value, json};

mod bench;
mod bench_identity;
mod browser;
#[path = "../../crates/chat-token-core/tests/support/case.rs"]
mod case;
mod msrv;
mod package;
#[path = "../../crates/chat-token-core/tests/support/rng.rs"]
mod rng;
mod smoke;
mod soak;

use case::Case;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    std::env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("golden") => golden(&root),
        Some("smoke") => smoke::run(&root),
        Some("deny") => deny(),
        Some("package") => package::run(&root),
        Some("msrv") => msrv::run(&root),
        Some("browser") => browser::run(&root),
        Some("soak") => soak::run(&root, flag(&args, "--secs")?.unwrap_or(60)),
        Some("bench") => bench::run(&root, args.iter().any(|a| a == "--quick")),
        Some("bench-identity") => {
            let quick = args.iter().any(|a| a == "--quick");
            let section =
                bench_identity::run(&root, if quick { 1 } else { 5 }, if quick { 1 } else { 3 })?;
            println!("{section}");
            Ok(())
        }
        Some("conformance") => {
            let cases = flag(&args, "--cases")?.unwrap_or(300);
            let seed = flag(&args, "--seed")?.unwrap_or(0x00C0_FFEE);
            conformance(&root, cases as usize, seed)
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <ci | golden | conformance [--cases N] [--seed S] | smoke | deny | browser | package | msrv | bench [--quick] | bench-identity [--quick] | soak [--secs N]>"
            );
            std::process::exit(2);
        }
    }
}

fn flag(args: &[String], name: &str) -> Result<Option<u64>> {
    match args.iter().position(|a| a == name) {
        None => Ok(None),
        Some(i) => {
            let v = args
                .get(i + 1)
                .with_context(|| format!("{name} needs a number"))?;
            Ok(Some(v.parse().with_context(|| {
                format!("{name} needs a number, got {v:?}")
            })?))
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// The variables chat-token reads; cleared for servers that must start in development
/// mode whatever the caller's environment holds.
const CHAT_TOKEN_VARS: [&str; 6] = [
    "TWILIO_ACCOUNT_SID",
    "TWILIO_API_KEY",
    "TWILIO_API_SECRET",
    "TWILIO_API_SECRET_FILE",
    "TWILIO_CHAT_SERVICE_SID",
    "CHAT_TOKEN_USERS",
];

/// The resident set size of process `pid`, in KiB.
fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .context("VmRSS in /proc")
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn ci() -> Result<()> {
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The whole workspace with the default backend (RustCrypto).
    run(cargo().args(["test", "--workspace", "--all-targets"]))?;
    run(cargo().args(["test", "--workspace", "--doc"]))?;
    // The core with aws-lc-rs alone, and with both backends at once.
    run(cargo().args([
        "test",
        "-p",
        "chat-token-core",
        "--no-default-features",
        "--features",
        "aws-lc-rs",
    ]))?;
    run(cargo().args([
        "test",
        "-p",
        "chat-token-core",
        "--features",
        "rust-crypto,aws-lc-rs",
    ]))?;
    conformance(&workspace_root(), 300, 0x00C0_FFEE)?;
    smoke::run(&workspace_root())?;
    browser::run(&workspace_root())?;
    deny()?;
    run(cargo()
        .args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings"))?;
    package::run(&workspace_root())?;
    msrv::run(&workspace_root())?;
    eprintln!("xtask ci: all checks passed");
    Ok(())
}

/// Licences, bans and sources with cargo-deny, installed from crates.io when missing.
/// (The advisories check needs GitHub, which these machines cannot reach.)
fn deny() -> Result<()> {
    let installed = Command::new("cargo")
        .args(["deny", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        run(cargo().args(["install", "--locked", "cargo-deny@0.20.2"]))?;
    }
    run(cargo().args(["deny", "check", "licenses", "bans", "sources"]))
}

/// Creates `target/xtask-venv` with the pinned helper, once per requirements file.
fn venv(root: &Path) -> Result<PathBuf> {
    venv_with(
        &root.join("target").join("xtask-venv"),
        &root.join("xtask").join("requirements.txt"),
    )
}

/// Creates the venv `dir` with the pinned packages of `requirements`, once per content
/// of that file; returns its python.
fn venv_with(dir: &Path, requirements: &Path) -> Result<PathBuf> {
    let dir = dir.to_path_buf();
    let python = dir.join("bin").join("python");
    let requirements = requirements.to_path_buf();
    let wanted = std::fs::read_to_string(&requirements)?;
    let marker = dir.join("installed-requirements.txt");
    if python.exists() && std::fs::read_to_string(&marker).ok().as_deref() == Some(&wanted) {
        return Ok(python);
    }
    let system_python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    run(Command::new(&system_python).args(["-m", "venv"]).arg(&dir))
        .context("creating the Python venv (needs python3 with the venv module)")?;
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements))
    .with_context(|| format!("installing {} from PyPI", requirements.display()))?;
    std::fs::write(&marker, wanted)?;
    Ok(python)
}

/// Runs the helper over `cases`, returning them with their tokens.
fn helper_tokens(root: &Path, cases: &[Case]) -> Result<Vec<Case>> {
    let python = venv(root)?;
    let mut child = Command::new(python)
        .arg(root.join("xtask").join("twilio_tokens.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the Python helper")?;
    let mut input = String::new();
    for case in cases {
        input.push_str(&serde_json::to_string(case)?);
        input.push('\n');
    }
    let mut stdin = child.stdin.take().context("helper stdin")?;
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output()?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("writer thread panicked"))??;
    if !output.status.success() {
        bail!("the Python helper failed with {}", output.status);
    }
    let text = String::from_utf8(output.stdout)?;
    let out: Vec<Case> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    if out.len() != cases.len() {
        bail!("the helper answered {} cases of {}", out.len(), cases.len());
    }
    Ok(out)
}

fn golden(root: &Path) -> Result<()> {
    let mut cases = handpicked();
    cases.extend(generate(60, 7));
    let cases = helper_tokens(root, &cases)?;
    let path = root.join("crates/chat-token-core/tests/data/golden.jsonl");
    let mut text = String::new();
    for case in &cases {
        text.push_str(&serde_json::to_string(case)?);
        text.push('\n');
    }
    std::fs::write(&path, text)?;
    eprintln!(
        "xtask golden: wrote {} cases to {}",
        cases.len(),
        path.display()
    );
    Ok(())
}

fn conformance(root: &Path, count: usize, seed: u64) -> Result<()> {
    let mut cases = handpicked();
    cases.extend(generate(count, seed));
    let cases = helper_tokens(root, &cases)?;
    let mut mismatches = 0;
    for case in &cases {
        let ours = case.mint();
        let theirs = case.token.as_deref().unwrap_or_default();
        if ours.as_deref() != Ok(theirs) {
            mismatches += 1;
            if mismatches <= 5 {
                eprintln!(
                    "MISMATCH {}:\n  helper: {theirs}\n  ours:   {ours:?}",
                    case.name
                );
                eprintln!("  helper payload: {}", payload(theirs));
                if let Ok(ours) = &ours {
                    eprintln!("  our payload:    {}", payload(ours));
                }
            }
        }
    }
    println!(
        "conformance: {} of {} cases byte-identical to twilio-python (seed {seed:#x})",
        cases.len() - mismatches,
        cases.len()
    );
    if mismatches > 0 {
        bail!("{mismatches} cases differ from Twilio's helper");
    }
    Ok(())
}

fn payload(jwt: &str) -> String {
    use base64::Engine as _;
    jwt.split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

const AC: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SK: &str = "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn base(name: &str) -> Case {
    Case {
        name: name.into(),
        account_sid: AC.into(),
        api_key_sid: SK.into(),
        secret: "c".repeat(32),
        now: 1_700_000_000,
        identity: Some("alice@example.com".into()),
        ttl: None,
        valid_until: None,
        nbf: json!("default"),
        region: None,
        grants: Vec::new(),
        token: None,
    }
}

fn grant(key: &str, fields: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(key.into(), fields);
    m
}

/// The DESIGN reference vector and a few cases chosen by hand.
fn handpicked() -> Vec<Case> {
    let reference_chat = grant(
        "chat",
        json!({
            "service_sid": format!("IS{}", "d".repeat(32)),
            "endpoint_id": "app:alice@example.com:browser",
            "push_credential_sid": format!("CR{}", "e".repeat(32)),
        }),
    );
    let mut reference = base("design-reference");
    reference.grants = vec![reference_chat.clone()];

    let mut region = base("region-ie1");
    region.region = Some("ie1".into());
    region.grants = vec![reference_chat.clone()];

    // Twilio's helpers leave `twr` out for an empty region; so does this crate.
    let mut empty_region = base("region-empty");
    empty_region.region = Some(String::new());
    empty_region.grants = vec![reference_chat.clone()];

    let mut no_nbf = base("nbf-omitted");
    no_nbf.nbf = json!("omit");
    no_nbf.grants = vec![grant("video", json!({"room": "standup"}))];

    let mut explicit = base("nbf-explicit-valid-until");
    explicit.nbf = json!(1_699_999_000u64);
    explicit.valid_until = Some(1_700_050_000);
    explicit.grants = vec![grant(
        "data_sync",
        json!({"service_sid": format!("IS{}", "f".repeat(32))}),
    )];

    let mut astral = base("astral-identity");
    astral.identity = Some("🦀 Zoë \"quoted\" back\\slash /slash 日本".into());
    astral.grants = vec![reference_chat];

    let mut voice = base("voice-everything");
    voice.identity = Some("alice_01".into());
    voice.grants = vec![grant(
        "voice",
        json!({
            "incoming_allow": true,
            "outgoing_application_sid": format!("AP{}", "1".repeat(32)),
            "outgoing_application_params": {"to": "+15551234567", "n": 3, "f": 1.5, "nested": {"b": [1, null, true]}},
            "push_credential_sid": format!("CR{}", "2".repeat(32)),
            "endpoint_id": "voice-endpoint",
        }),
    )];

    let mut all = base("every-grant");
    all.identity = Some("bob".into());
    all.grants = vec![
        grant(
            "task_router",
            json!({"workspace_sid": format!("WS{}", "3".repeat(32)), "worker_sid": format!("WK{}", "4".repeat(32)), "role": "worker"}),
        ),
        grant(
            "player",
            json!({"grant": {"playbackGrant": {"requestCredentials": null, "playbackUrl": "https://x.example/p", "playerStreamerSid": "VJ123"}}}),
        ),
        grant("video", json!({})),
        grant(
            "chat",
            json!({"deployment_role_sid": format!("RL{}", "5".repeat(32))}),
        ),
        grant("data_sync", json!({"endpoint_id": "sync-ep"})),
    ];

    let mut day = base("ttl-86400-unicode-secret");
    day.ttl = Some(86_400);
    day.secret = "sécret-ünïcode-🦀".into();
    day.grants = vec![grant("chat", json!({}))];

    vec![
        reference,
        region,
        no_nbf,
        explicit,
        astral,
        voice,
        all,
        day,
        empty_region,
    ]
}

/// The shared SplitMix64 generator with the helpers case generation needs.
struct Rng(rng::SplitMix64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0.below(n as usize) as u64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn sid(&mut self, prefix: &str) -> String {
        let hex = b"0123456789abcdef";
        let tail: String = (0..32)
            .map(|_| hex[self.below(16) as usize] as char)
            .collect();
        format!("{prefix}{tail}")
    }
}

const TEXTS: &[&str] = &[
    "alice",
    "alice@example.com",
    "Zoë",
    "日本語のユーザー",
    "🦀 crab 🦀",
    "quote\" back\\slash / slash",
    "tab-free <html> & 'apos'",
    "a+b=c?d#e",
    "UPPER_lower_123",
    "ƒüñķÿ ŝţřĭńġ",
    "\u{7f}del",
    "emoji 👩‍💻 zwj",
];

const VOICE_IDS: &[&str] = &["alice", "alice_01", "A", "user_123_XYZ", "bob"];

fn generate(count: usize, seed: u64) -> Vec<Case> {
    let mut rng = Rng(rng::SplitMix64(seed));
    let mut out = Vec::new();
    let mut attempts = 0;
    while out.len() < count && attempts < count * 20 {
        attempts += 1;
        let mut case = base(&format!("generated-{seed:x}-{attempts}"));
        case.account_sid = rng.sid("AC");
        case.api_key_sid = rng.sid("SK");
        let secret_len = 1 + rng.below(48) as usize;
        case.secret = (0..secret_len)
            .map(|_| (b'!' + rng.below(94) as u8) as char)
            .collect();
        if rng.chance(10) {
            case.secret.push('é');
        }
        case.now = 1_600_000_000 + rng.below(200_000_000);
        let kinds = [
            "chat",
            "data_sync",
            "voice",
            "video",
            "task_router",
            "player",
        ];
        let mut grants = Vec::new();
        let n = 1 + rng.below(4);
        for _ in 0..n {
            let kind = *rng.pick(&kinds);
            grants.push(grant(kind, fields(&mut rng, kind)));
        }
        let has_voice = grants.iter().any(|g| g.contains_key("voice"));
        case.identity = if has_voice {
            Some((*rng.pick(VOICE_IDS)).to_owned())
        } else if rng.chance(5) {
            None
        } else {
            Some((*rng.pick(TEXTS)).to_owned())
        };
        case.grants = grants;
        match rng.below(4) {
            0 => case.ttl = Some(*rng.pick(&[1, 60, 600, 3600, 12_345, 86_400])),
            1 => case.valid_until = Some(case.now + 1 + rng.below(86_000)),
            _ => {}
        }
        case.nbf = match rng.below(4) {
            0 => json!("omit"),
            1 => json!(case.now - rng.below(300)),
            _ => json!("default"),
        };
        if rng.chance(30) {
            case.region = Some((*rng.pick(&["us1", "ie1", "au1", "jp1", "de1"])).to_owned());
        }
        // Keep only what this crate accepts; the helper validates nothing.
        if case.mint().is_ok() {
            out.push(case);
        }
    }
    out
}

fn maybe(rng: &mut Rng, fields: &mut Map<String, Value>, name: &str, value: impl Into<Value>) {
    match rng.below(4) {
        0 => {}
        1 => {
            fields.insert(name.into(), json!(""));
        }
        _ => {
            fields.insert(name.into(), value.into());
        }
    }
}

fn fields(rng: &mut Rng, kind: &str) -> Value {
    let mut f = Map::new();
    match kind {
        "chat" => {
            let sid = rng.sid("IS");
            maybe(rng, &mut f, "service_sid", sid);
            let text = *rng.pick(TEXTS);
            maybe(rng, &mut f, "endpoint_id", format!("app:{text}:web"));
            let sid = rng.sid("RL");
            maybe(rng, &mut f, "deployment_role_sid", sid);
            let sid = rng.sid("CR");
            maybe(rng, &mut f, "push_credential_sid", sid);
        }
        "data_sync" => {
            let sid = rng.sid("IS");
            maybe(rng, &mut f, "service_sid", sid);
            let text = *rng.pick(TEXTS);
            maybe(rng, &mut f, "endpoint_id", text);
        }
        "voice" => {
            if rng.chance(50) {
                f.insert("incoming_allow".into(), json!(rng.chance(70)));
            }
            let sid = rng.sid("AP");
            maybe(rng, &mut f, "outgoing_application_sid", sid);
            if rng.chance(60) {
                let mut params = Map::new();
                for i in 0..rng.below(4) {
                    let value = match rng.below(6) {
                        0 => json!(*rng.pick(TEXTS)),
                        1 => json!(rng.below(1_000_000)),
                        2 => json!(rng.chance(50)),
                        3 => json!(*rng.pick(&[0.5, 1e16, 1.25e-7, 3.0, -2.75])),
                        4 => json!({"k": [1, "two", null]}),
                        _ => json!(null),
                    };
                    params.insert(format!("{}{i}", rng.pick(TEXTS)), value);
                }
                f.insert("outgoing_application_params".into(), Value::Object(params));
            }
            let sid = rng.sid("CR");
            maybe(rng, &mut f, "push_credential_sid", sid);
            let text = *rng.pick(TEXTS);
            maybe(rng, &mut f, "endpoint_id", text);
        }
        "video" => {
            let text = *rng.pick(TEXTS);
            maybe(rng, &mut f, "room", text);
        }
        "task_router" => {
            let sid = rng.sid("WS");
            maybe(rng, &mut f, "workspace_sid", sid);
            let sid = rng.sid("WK");
            maybe(rng, &mut f, "worker_sid", sid);
            let role = *rng.pick(&["worker", "supervisor", "admin ✓"]);
            maybe(rng, &mut f, "role", role);
        }
        _ => {
            let mut grant = Map::new();
            for i in 0..rng.below(4) {
                grant.insert(format!("k{i}{}", rng.pick(TEXTS)), json!(*rng.pick(TEXTS)));
            }
            f.insert("grant".into(), Value::Object(grant));
        }
    }
    Value::Object(f)
}
