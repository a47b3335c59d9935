//! The `chat-token` command as a script sees it: stdout, stderr, exit codes. Every run
//! goes through [`common::run`], which asserts that the secret is never printed.

mod common;

use std::process::Output;

use common::{ACCOUNT_SID as AC, API_KEY as SK, TempDir, run};

/// The secret of the reference vector: an Auth Token's shape, so every command warns.
const SECRET: &str = "cccccccccccccccccccccccccccccccc";

const REFERENCE: &str = "eyJhbGciOiJIUzI1NiIsImN0eSI6InR3aWxpby1mcGE7dj0xIiwidHlwIjoiSldUIn0.eyJqdGkiOiJTS2JiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiLTE3MDAwMDAwMDAiLCJncmFudHMiOnsiY2hhdCI6eyJzZXJ2aWNlX3NpZCI6IklTZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGQiLCJlbmRwb2ludF9pZCI6ImFwcDphbGljZUBleGFtcGxlLmNvbTpicm93c2VyIiwicHVzaF9jcmVkZW50aWFsX3NpZCI6IkNSZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWUifSwiaWRlbnRpdHkiOiJhbGljZUBleGFtcGxlLmNvbSJ9LCJpc3MiOiJTS2JiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiIiwiZXhwIjoxNzAwMDAzNjAwLCJuYmYiOjE3MDAwMDAwMDAsInN1YiI6IkFDYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWEifQ.HMpvzflNg1bFxVrs5bezHifQfQh6gaLojFDGWkMapIs";

const CREDS: [(&str, &str); 3] = [
    ("TWILIO_ACCOUNT_SID", AC),
    ("TWILIO_API_KEY", SK),
    ("TWILIO_API_SECRET", SECRET),
];

/// Credentials `serve` starts with: an API key's secret (it refuses an Auth Token's shape).
const SERVE_CREDS: [(&str, &str); 3] = [
    ("TWILIO_ACCOUNT_SID", AC),
    ("TWILIO_API_KEY", SK),
    ("TWILIO_API_SECRET", "Kx8fQ2mZp4Lr7Tn1Vb6Hc3Jd9Wg5Ys0E"),
];

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The warning for a secret with an Auth Token's shape, as printed.
const AUTH_TOKEN_WARNING: &str = "chat-token: warning: the API key secret (TWILIO_API_SECRET or TWILIO_API_SECRET_FILE) looks like an Auth Token; use an API key's secret";

/// stderr, without the Auth Token warning: `SECRET`, which signed the reference vector,
/// has that shape (the warning has its own test).
fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|line| !line.starts_with(AUTH_TOKEN_WARNING))
        .map(|line| format!("{line}\n"))
        .collect()
}

fn raw_stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn reference_args() -> Vec<&'static str> {
    vec![
        "mint",
        "--identity",
        "alice@example.com",
        "--chat-service-sid",
        "ISdddddddddddddddddddddddddddddddd",
        "--chat-endpoint-id",
        "app:alice@example.com:browser",
        "--chat-push-credential-sid",
        "CReeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
        "--issued-at",
        "1700000000",
    ]
}

/// Asserts that the command succeeded and printed the reference vector, and nothing else
/// (but the Auth Token warning, see [`stderr`]).
fn assert_prints_the_reference(out: &Output) {
    assert!(out.status.success(), "{}", stderr(out));
    assert_eq!(stdout(out), format!("{REFERENCE}\n"));
    assert_eq!(stderr(out), "");
}

#[test]
fn mint_prints_the_reference_vector_and_nothing_else() {
    assert_prints_the_reference(&run(&CREDS, &reference_args()));
}

#[test]
fn mint_takes_the_chat_service_from_the_environment() {
    let mut env = CREDS.to_vec();
    env.push((
        "TWILIO_CHAT_SERVICE_SID",
        "ISdddddddddddddddddddddddddddddddd",
    ));
    let args: Vec<&str> = reference_args()
        .into_iter()
        .filter(|a| *a != "--chat-service-sid" && !a.starts_with("ISddd"))
        .collect();
    let out = run(&env, &args);
    assert_eq!(stdout(&out), format!("{REFERENCE}\n"), "{}", stderr(&out));
}

#[test]
fn mint_json_prints_the_token_response() {
    let mut args = reference_args();
    args.push("--json");
    let out = run(&CREDS, &args);
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(body["token"], REFERENCE);
    assert_eq!(body["identity"], "alice@example.com");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["expires_at"], 1_700_003_600);
}

#[test]
fn mint_keeps_voice_params_in_order() {
    let out = run(
        &CREDS,
        &[
            "mint",
            "--identity",
            "alice",
            "--voice-outgoing-application-sid",
            "AP11111111111111111111111111111111",
            "--voice-outgoing-param",
            "z=1",
            "--voice-outgoing-param",
            "a=two=2",
            "--voice-incoming-allow",
            "--issued-at",
            "1700000000",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let jwt = stdout(&out);
    let payload = jwt.trim().split('.').nth(1).expect("payload");
    use base64::Engine as _;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("b64");
    let text = String::from_utf8(json).expect("utf8");
    assert!(
        text.contains(r#""voice":{"incoming":{"allow":true},"outgoing":{"application_sid":"AP11111111111111111111111111111111","params":{"z":"1","a":"two=2"}}}"#),
        "{text}"
    );
}

/// Runs the command and asserts that it fails, prints nothing on stdout and mentions
/// `needle` on stderr.
fn assert_fails(env: &[(&str, &str)], args: &[&str], needle: &str) {
    let out = run(env, args);
    assert!(!out.status.success(), "should fail: {args:?}");
    assert_eq!(stdout(&out), "", "nothing on stdout on error");
    assert!(
        stderr(&out).contains(needle),
        "stderr should mention {needle:?}: {}",
        stderr(&out)
    );
}

/// Runs the command and asserts that it exits with 2 (an error before any token is
/// checked or served) and mentions `needle` on stderr; the output, for further checks.
fn assert_exits_2(env: &[(&str, &str)], args: &[&str], needle: &str) -> Output {
    let out = run(env, args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    assert!(
        stderr(&out).contains(needle),
        "stderr should mention {needle:?}: {}",
        stderr(&out)
    );
    out
}

#[test]
fn mint_errors_say_what_is_wrong_on_stderr_only() {
    let chat = ["--identity", "alice", "--video"];
    let with = |extra: &[&'static str]| {
        let mut v = vec!["mint"];
        v.extend_from_slice(&chat);
        v.extend_from_slice(extra);
        v
    };
    assert_fails(&CREDS[..2], &with(&[]), "TWILIO_API_SECRET is not set");
    assert_fails(&[], &with(&[]), "TWILIO_ACCOUNT_SID is not set");
    assert_fails(
        &[
            ("TWILIO_ACCOUNT_SID", AC),
            ("TWILIO_API_KEY", AC),
            ("TWILIO_API_SECRET", SECRET),
        ],
        &with(&[]),
        "TWILIO_API_KEY is an Account SID",
    );
    assert_fails(&CREDS, &with(&["--ttl", "90000"]), "ttl of 90000 seconds");
    assert_fails(&CREDS, &with(&["--ttl", "abc"]), "--ttl");
    assert_fails(&CREDS, &["mint", "--video"], "needs an identity");
    assert_fails(&CREDS, &["mint", "--identity", "alice"], "no grant given");
    assert_fails(
        &CREDS,
        &["mint", "--identity", "a@b", "--voice-incoming-allow"],
        "not valid for Voice",
    );
    assert_fails(
        &CREDS,
        &["mint", "--identity", "alice", "--chat-service-sid", "IS123"],
        "chat service_sid",
    );
    assert_fails(
        &CREDS,
        &[
            "mint",
            "--identity",
            "alice",
            "--voice-outgoing-param",
            "x=1",
        ],
        "--voice-outgoing-application-sid",
    );
    assert_fails(
        &CREDS,
        &with(&["--issued-at", "1700000000000"]),
        "milliseconds",
    );
}

#[test]
fn inspect_accepts_a_good_token_with_the_secret() {
    let out = run(&CREDS, &["inspect", "--now", "1700000100", REFERENCE]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("signature: valid"), "{text}");
    assert!(text.contains("Twilio would accept this token"), "{text}");
    assert!(
        text.contains("\"identity\": \"alice@example.com\""),
        "{text}"
    );
}

#[test]
fn inspect_without_the_secret_exits_3_not_0() {
    let out = run(&[], &["inspect", "--now", "1700000100", REFERENCE]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(stdout(&out).contains("signature: NOT CHECKED"));
    assert!(stdout(&out).contains("may be forged"));
    // A forged signature (well-formed: 32 bytes) is no different without the secret.
    let forged = format!(
        "{}.{}",
        REFERENCE.rsplit_once('.').expect("jwt").0,
        "A".repeat(43)
    );
    let out = run(&[], &["inspect", "--now", "1700000100", &forged]);
    assert_eq!(out.status.code(), Some(3));
    // Problems in the claims are still a refusal.
    let out = run(&[], &["inspect", "--now", "1800000000", REFERENCE]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn inspect_help_lists_the_exit_codes() {
    let out = run(&[], &["inspect", "--help"]);
    assert!(out.status.success());
    let help = stdout(&out);
    for line in [
        "0  Twilio would accept the token",
        "1  Twilio would refuse the token",
        "2  error",
        "3  no problem found in the claims, but the signature was NOT checked",
    ] {
        assert!(help.contains(line), "{line} missing in:\n{help}");
    }
}

#[test]
fn inspect_reads_the_secret_from_the_secret_file() {
    let dir = TempDir::new("inspect_reads_the_secret_from_the_secret_file");
    let good = dir.write_with_mode("good", &format!("{SECRET}\n"), 0o600);
    let out = run(
        &[("TWILIO_API_SECRET_FILE", &good)],
        &["inspect", "--now", "1700000100", REFERENCE],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("signature: valid"));

    let wrong = dir.write_with_mode("wrong", "dddddddddddddddddddddddddddddddd\r\n", 0o600);
    let out = run(
        &[("TWILIO_API_SECRET_FILE", &wrong)],
        &["inspect", "--now", "1700000100", REFERENCE],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("\n20107 "), "{}", stdout(&out));

    let missing = dir.join("no-such-file");
    let out = assert_exits_2(
        &[("TWILIO_API_SECRET_FILE", &missing.to_string_lossy())],
        &["inspect", REFERENCE],
        "cannot be used: it could not be read (No such file",
    );
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("TWILIO_API_SECRET_FILE"),
        "{}",
        stderr(&out)
    );

    let empty = dir.write_with_mode("empty", "\n", 0o600);
    assert_exits_2(
        &[("TWILIO_API_SECRET_FILE", &empty)],
        &["inspect", REFERENCE],
        "is empty",
    );

    assert_exits_2(
        &[
            ("TWILIO_API_SECRET", SECRET),
            ("TWILIO_API_SECRET_FILE", &good),
        ],
        &["inspect", REFERENCE],
        "both TWILIO_API_SECRET and TWILIO_API_SECRET_FILE are set",
    );
}

#[test]
fn mint_warns_when_the_secret_looks_like_an_auth_token() {
    let out = run(&CREDS, &reference_args());
    assert!(out.status.success());
    assert_eq!(stdout(&out), format!("{REFERENCE}\n"));
    assert!(
        raw_stderr(&out).starts_with(AUTH_TOKEN_WARNING),
        "{}",
        raw_stderr(&out)
    );
    assert_eq!(raw_stderr(&out).lines().count(), 1);
    // inspect, which needs only the secret, warns too.
    let out = run(&[CREDS[2]], &["inspect", "--now", "1700000100", REFERENCE]);
    assert_eq!(out.status.code(), Some(0));
    assert!(raw_stderr(&out).starts_with(AUTH_TOKEN_WARNING));

    let api_key_secret = "Kx8fQ2mZp4Lr7Tn1Vb6Hc3Jd9Wg5Ys0E";
    let out = run(
        &[CREDS[0], CREDS[1], ("TWILIO_API_SECRET", api_key_secret)],
        &reference_args(),
    );
    assert!(out.status.success());
    assert_eq!(raw_stderr(&out), "");
}

#[cfg(unix)]
#[test]
fn mint_warns_when_the_secret_file_is_readable_by_others() {
    let dir = TempDir::new("mint_warns_when_the_secret_file_is_readable_by_others");
    let api_key_secret = "Kx8fQ2mZp4Lr7Tn1Vb6Hc3Jd9Wg5Ys0E";
    // `mint` with the secret in the file `name` of `mode`: the file's path, the output.
    let mint_with_secret_file = |name: &str, mode: u32| {
        let path = dir.write_with_mode(name, &format!("{api_key_secret}\n"), mode);
        let env = [
            CREDS[0],
            CREDS[1],
            ("TWILIO_API_SECRET_FILE", path.as_str()),
        ];
        let out = run(&env, &reference_args());
        (path, out)
    };
    let (open, out) = mint_with_secret_file("open", 0o644);
    assert!(out.status.success(), "{}", raw_stderr(&out));
    assert_eq!(
        raw_stderr(&out),
        format!(
            "chat-token: warning: TWILIO_API_SECRET_FILE {open} can be read by other users (mode 644); make it private to the owner, e.g. chmod 600\n"
        )
    );
    assert!(!raw_stderr(&out).contains(api_key_secret));

    let (_, out) = mint_with_secret_file("private", 0o600);
    assert!(out.status.success());
    assert_eq!(raw_stderr(&out), "");
}

#[test]
fn inspect_names_the_twilio_codes() {
    let wrong = [("TWILIO_API_SECRET", "dddddddddddddddddddddddddddddddd")];
    let out = run(&wrong, &["inspect", "--now", "1700000100", REFERENCE]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("\n20107 "), "{}", stdout(&out));

    let out = run(&CREDS, &["inspect", "--now", "1800000000", REFERENCE]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("\n20104 the token expired"),
        "{}",
        stdout(&out)
    );

    let out = run(&CREDS, &["inspect", "--now", "1600000000", REFERENCE]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("\n20105 "), "{}", stdout(&out));
}

#[test]
fn inspect_reads_stdin() {
    let out = common::run_with_stdin(
        &CREDS,
        &["inspect", "--now", "1700000100", "-"],
        &format!("{REFERENCE}\n"),
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn inspect_garbage_is_a_clear_error() {
    for garbage in ["", "not-a-token", "a.b", "%%.%%.%%", "e30.bm90IGpzb24.x"] {
        let out = assert_exits_2(&CREDS, &["inspect", garbage], "not a JWT");
        assert_eq!(stdout(&out), "", "{garbage}");
    }
}

#[test]
fn serve_refuses_jwt_settings_without_a_key_source() {
    for args in [
        ["--jwt-issuer", "https://idp.example.test/"],
        ["--jwt-audience", "chat"],
        ["--identity-claim", "email"],
    ] {
        let mut all = vec!["serve", "--bind", "127.0.0.1:0"];
        all.extend(args);
        let out = assert_exits_2(&CREDS, &all, "--jwks-url");
        let err = stderr(&out);
        assert!(err.contains("--jwt-hs256-secret-file"), "{args:?}: {err}");
    }
}

#[test]
fn serve_refuses_a_public_bind_in_development_mode() {
    assert_exits_2(
        &[],
        &["serve", "--bind", "0.0.0.0:0"],
        "refusing to listen on 0.0.0.0:0 in development mode",
    );
}

#[test]
fn serve_without_users_outside_development_is_an_error() {
    assert_exits_2(
        &SERVE_CREDS,
        &["serve", "--bind", "127.0.0.1:0"],
        "no users configured",
    );
}

#[test]
fn mint_with_an_empty_region_is_the_token_without_one() {
    let mut args = reference_args();
    args.extend(["--region", ""]);
    assert_prints_the_reference(&run(&CREDS, &args));
}

#[test]
fn mint_refuses_a_malformed_region() {
    for bad in ["US", " us1"] {
        let mut args = reference_args();
        args.extend(["--region", bad]);
        assert_fails(
            &CREDS,
            &args,
            "region must be a Twilio region code such as us1, ie1 or au1",
        );
    }
}

#[test]
fn serve_requires_a_jwt_audience_and_issuer_unless_waived() {
    let dir = TempDir::new("serve_requires_a_jwt_audience_and_issuer_unless_waived");
    let path = dir.write("hs256", "an-hs256-secret-of-at-least-32-bytes\n");
    let base = [
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--jwt-hs256-secret-file",
        &path,
    ];
    assert_exits_2(
        &SERVE_CREDS,
        &[&base[..], &["--jwt-issuer", "https://idp.example.test/"]].concat(),
        "no audience configured",
    );
    assert_exits_2(
        &SERVE_CREDS,
        &[&base[..], &["--jwt-audience", "chat"]].concat(),
        "no issuer configured",
    );
    // Both waivers together with the values they replace: a usage error.
    let out = run(
        &SERVE_CREDS,
        &[
            &base[..],
            &["--jwt-audience", "chat", "--jwt-insecure-any-audience"],
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(2));
}

/// Findings checked: an error said its cause twice ("X is empty; ...: X is empty; ...");
/// an empty `CHAT_TOKEN_USERS` stopped `serve --users-file` with a message about the
/// variable's list, not saying that the flag chooses the users.
#[test]
fn serve_errors_say_each_cause_once_and_name_the_flag_that_wins() {
    let out = assert_exits_2(
        &[("TWILIO_ACCOUNT_SID", ""), SERVE_CREDS[1], SERVE_CREDS[2]],
        &["serve", "--bind", "127.0.0.1:0"],
        "TWILIO_ACCOUNT_SID is empty; expected an Account SID",
    );
    assert_eq!(
        stderr(&out).matches("is empty").count(),
        1,
        "{}",
        stderr(&out)
    );

    let dir = TempDir::new("serve_errors_say_each_cause_once_and_name_the_flag_that_wins");
    let users = dir.write("users", "tok-alice-0123456789=alice\n");
    let env = [
        SERVE_CREDS[0],
        SERVE_CREDS[1],
        SERVE_CREDS[2],
        ("CHAT_TOKEN_USERS", ""),
    ];
    assert_exits_2(
        &env,
        &["serve", "--bind", "127.0.0.1:0", "--users-file", &users],
        "CHAT_TOKEN_USERS is set but empty, and --users-file chooses the users, so its users would not be served: unset CHAT_TOKEN_USERS",
    );
    let env = [
        SERVE_CREDS[0],
        SERVE_CREDS[1],
        SERVE_CREDS[2],
        ("CHAT_TOKEN_USERS", "tok-bob-0123456789abc=bob"),
    ];
    assert_exits_2(
        &env,
        &["serve", "--bind", "127.0.0.1:0", "--users-file", &users],
        "CHAT_TOKEN_USERS is set, and --users-file chooses the users, so its users would not be served",
    );
}

/// After a new-user trial: `--jwks-url` without `--jwt-issuer` and `--jwt-audience`
/// named only the audience, then, once it was given, the issuer: two failed starts for
/// one omission. Both missing are said at once; one missing is still named alone.
#[test]
fn serve_names_every_missing_jwt_claim_flag_at_once() {
    let jwks = [
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--jwks-url",
        "http://127.0.0.1:9/jwks.json",
    ];
    let both = assert_exits_2(
        &SERVE_CREDS,
        &jwks,
        "pass --jwt-issuer ISS and --jwt-audience AUD",
    );
    assert!(
        stderr(&both).contains("--jwt-insecure-any-audience"),
        "{}",
        stderr(&both)
    );
    // One missing is named alone.
    for (given, named, unnamed) in [
        (
            ["--jwt-issuer", "https://idp.example/"],
            "pass --jwt-audience AUD (or --jwt-insecure-any-audience)",
            "--jwt-issuer ISS",
        ),
        (
            ["--jwt-audience", "chat"],
            "pass --jwt-issuer ISS (or --jwt-insecure-any-issuer)",
            "--jwt-audience AUD",
        ),
    ] {
        let out = assert_exits_2(&SERVE_CREDS, &[&jwks[..], &given[..]].concat(), named);
        assert!(!stderr(&out).contains(unnamed), "{}", stderr(&out));
    }
}

/// `serve` reads `--jwks-url` before it builds the resolver: a URL it cannot use stops
/// the start with the reason, and never repeats the parts that may hold a key.
#[test]
fn serve_refuses_an_unusable_jwks_url_without_repeating_it() {
    for (url, reason) in [
        (
            "ftp://idp.example.test/k?key=S3cret",
            "the scheme must be https",
        ),
        ("http://idp.example.test/k;a=S3cret", "use https"),
        (
            "https://user:S3cret@idp.example.test/k",
            "holds credentials",
        ),
        (
            "https://idp.example.test:99999/k?key=S3cret",
            "invalid port number",
        ),
    ] {
        let args = [
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--jwks-url",
            url,
            "--jwt-issuer",
            "https://idp.example.test/",
            "--jwt-audience",
            "chat",
        ];
        let out = assert_exits_2(&SERVE_CREDS, &args, reason);
        let err = stderr(&out);
        assert!(err.contains("the JWKS URL cannot be used"), "{url}: {err}");
        assert!(!err.contains("S3cret"), "{url}: {err}");
    }
}

/// `chat-token mint` of the reference token, its stdout going to `stdout`.
fn mint_the_reference_into(stdout: impl Into<std::process::Stdio>) -> Output {
    common::command(&CREDS)
        .args(reference_args())
        .stdin(std::process::Stdio::null())
        .stdout(stdout)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run chat-token")
}

/// Finding checked: with stdout closed (`chat-token mint | head -c 0`), `mint` panicked
/// ("failed printing to stdout") and exited 101. What nobody reads is dropped now.
#[test]
fn a_closed_stdout_is_no_panic() {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = mint_the_reference_into(writer);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

/// Any other failure to write the token (a full disk) is an error, not a silent success.
#[cfg(target_os = "linux")]
#[test]
fn a_full_stdout_is_an_error() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = mint_the_reference_into(full);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot write to stdout"),
        "{}",
        stderr(&out)
    );
}
