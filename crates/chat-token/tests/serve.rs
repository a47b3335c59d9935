//! `chat-token serve` configured from its flags: bearer JWTs, CORS, metrics.

mod common;

use common::{request, serve};

const CREDS: [(&str, &str); 4] = [
    ("TWILIO_ACCOUNT_SID", "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
    ("TWILIO_API_KEY", "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
    ("TWILIO_API_SECRET", "cccccccccccccccccccccccccccccccc"),
    (
        "TWILIO_CHAT_SERVICE_SID",
        "ISdddddddddddddddddddddddddddddddd",
    ),
];

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn hs256(secret: &[u8], claims: serde_json::Value) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing = format!(
        "{}.{}",
        e.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        e.encode(claims.to_string())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("key");
    mac.update(signing.as_bytes());
    format!("{signing}.{}", e.encode(mac.finalize().into_bytes()))
}

#[test]
fn serve_verifies_bearer_jwts_from_the_identity_provider() {
    let dir = std::env::temp_dir().join(format!("chat-token-jwt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let secret_file = dir.join("idp-secret");
    std::fs::write(&secret_file, "idp-shared-secret\n").expect("write");
    let path = secret_file.to_string_lossy().into_owned();
    let server = serve(
        &[
            "--jwt-hs256-secret-file",
            &path,
            "--jwt-issuer",
            "https://idp.example.test/",
            "--jwt-audience",
            "chat",
            "--identity-claim",
            "preferred_username",
        ],
        &CREDS,
    );
    let claims = serde_json::json!({
        "iss": "https://idp.example.test/", "aud": "chat", "exp": now() + 300,
        "sub": "u-1", "preferred_username": "alice_smith",
    });
    let good = hs256(b"idp-shared-secret", claims.clone());
    let r = request(
        server.addr,
        "GET",
        "/token",
        &[("Authorization", &format!("Bearer {good}"))],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["identity"], "alice_smith");

    let mut wrong_aud = claims.clone();
    wrong_aud["aud"] = "other".into();
    let bad = hs256(b"idp-shared-secret", wrong_aud);
    let r = request(
        server.addr,
        "GET",
        "/token",
        &[("Authorization", &format!("Bearer {bad}"))],
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_credentials");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap_or("")
            .contains("audience")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_with_an_unreachable_jwks_answers_503() {
    let server = serve(&["--jwks-url", "http://127.0.0.1:9/jwks.json"], &CREDS);
    let jwt = hs256(b"x", serde_json::json!({"sub": "a", "exp": now() + 60}));
    // No key is cached, and the JWKS that would provide one cannot be reached.
    let r = request(
        server.addr,
        "GET",
        "/token",
        &[("Authorization", &format!("Bearer {jwt}"))],
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json()["error"], "unavailable");
    assert!(r.header("retry-after").is_some());
}

#[test]
fn serve_answers_cors_preflights_for_its_origins() {
    let server = serve(
        &[
            "--cors-origin",
            "https://app.example.test",
            "--cors-credentials",
        ],
        &[
            CREDS[0],
            CREDS[1],
            CREDS[2],
            CREDS[3],
            ("CHAT_TOKEN_USERS", "t1=alice"),
        ],
    );
    let r = request(
        server.addr,
        "OPTIONS",
        "/token",
        &[
            ("Origin", "https://app.example.test"),
            ("Access-Control-Request-Method", "GET"),
        ],
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.test")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
}

#[test]
fn serve_exposes_metrics_when_asked() {
    let server = serve(
        &["--metrics"],
        &[
            CREDS[0],
            CREDS[1],
            CREDS[2],
            CREDS[3],
            ("CHAT_TOKEN_USERS", "t1=alice"),
        ],
    );
    for _ in 0..3 {
        let r = request(
            server.addr,
            "GET",
            "/token",
            &[("Authorization", "Bearer t1")],
        );
        assert_eq!(r.status, 200);
    }
    request(server.addr, "GET", "/token", &[]);
    request(server.addr, "DELETE", "/token", &[]);
    let m = request(server.addr, "GET", "/metrics", &[]);
    assert_eq!(m.status, 200);
    assert!(
        m.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain"))
    );
    for line in [
        "chat_token_tokens_minted_total 3",
        "chat_token_errors_total{error=\"missing_credentials\"} 1",
        "chat_token_errors_total{error=\"method_not_allowed\"} 1",
        "chat_token_resolve_seconds_count 4",
    ] {
        assert!(
            m.body.lines().any(|l| l == line),
            "{line} missing in:\n{}",
            m.body
        );
    }
    let without = serve(
        &[],
        &[
            CREDS[0],
            CREDS[1],
            CREDS[2],
            CREDS[3],
            ("CHAT_TOKEN_USERS", "t1=alice"),
        ],
    );
    assert_eq!(request(without.addr, "GET", "/metrics", &[]).status, 404);
}

#[test]
fn serve_applies_a_user_policy_file() {
    let dir = std::env::temp_dir().join(format!("chat-token-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let secret_file = dir.join("idp-secret");
    std::fs::write(&secret_file, "idp-shared-secret").expect("write");
    let policy_file = dir.join("policy.json");
    std::fs::write(
        &policy_file,
        r#"{"role_claim": "roles",
            "roles": {"agent": {"ttl": 7200, "chat_deployment_role_sid": "RLaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
                      "banned": {"deny": true}},
            "endpoint_id_header": "X-Device-Id"}"#,
    )
    .expect("write");
    let (secret, policy) = (
        secret_file.to_string_lossy().into_owned(),
        policy_file.to_string_lossy().into_owned(),
    );
    let server = serve(
        &["--jwt-hs256-secret-file", &secret, "--policy", &policy],
        &CREDS,
    );
    let agent = hs256(
        b"idp-shared-secret",
        serde_json::json!({"sub": "ann", "roles": ["agent"], "exp": now() + 300}),
    );
    let r = request(
        server.addr,
        "GET",
        "/token",
        &[
            ("Authorization", &format!("Bearer {agent}")),
            ("X-Device-Id", "phone-1"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["expires_in"], 7200);
    let token = r.json()["token"].as_str().unwrap_or_default().to_owned();
    use base64::Engine as _;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap_or_default())
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(
        claims["grants"]["chat"]["deployment_role_sid"],
        "RLaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    );
    assert_eq!(claims["grants"]["chat"]["endpoint_id"], "ann:phone-1");

    let banned = hs256(
        b"idp-shared-secret",
        serde_json::json!({"sub": "eve", "roles": "banned", "exp": now() + 300}),
    );
    let r = request(
        server.addr,
        "GET",
        "/token",
        &[("Authorization", &format!("Bearer {banned}"))],
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"], "forbidden");

    std::fs::write(&policy_file, r#"{"roles": {"a": {"ttl": 999999}}}"#).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chat-token"))
        .args(["serve", "--bind", "127.0.0.1:0", "--policy", &policy])
        .envs(CREDS)
        .env("CHAT_TOKEN_USERS", "t=x")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ttl 999999"));
    let _ = std::fs::remove_dir_all(&dir);
}
