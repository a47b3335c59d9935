//! `chat-token serve` configured from its flags: bearer JWTs, CORS, metrics, connection
//! limits and timeouts, the development console's protections.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{
    CREDENTIALS as CREDS, IDP_AUDIENCE, IDP_ISSUER, IDP_SECRET, TempDir, exchange, get_token,
    hs256, idp_claims, idp_flags, idp_jwt, now, read_until, request, serve,
};

/// A static user, and its `Authorization` header.
const USERS: &str = "alice-token-0123456789=alice";
const ALICE: &str = "Bearer alice-token-0123456789";

/// The credentials and a static user.
fn with_users() -> Vec<(&'static str, &'static str)> {
    let mut env = CREDS.to_vec();
    env.push(("CHAT_TOKEN_USERS", USERS));
    env
}

#[test]
fn serve_verifies_bearer_jwts_from_the_identity_provider() {
    let dir = TempDir::new("serve_verifies_bearer_jwts_from_the_identity_provider");
    let path = dir.write("idp-secret", &format!("{IDP_SECRET}\n"));
    let server = serve(
        &[
            &idp_flags(&path)[..],
            &["--identity-claim", "preferred_username"],
        ]
        .concat(),
        &CREDS,
    );
    let claims = idp_claims(serde_json::json!({"sub": "u-1", "preferred_username": "alice_smith"}));
    let good = idp_jwt(claims.clone());
    let r = get_token(server.addr, &format!("Bearer {good}"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["identity"], "alice_smith");

    let mut wrong_aud = claims.clone();
    wrong_aud["aud"] = "other".into();
    let bad = idp_jwt(wrong_aud);
    let r = get_token(server.addr, &format!("Bearer {bad}"));
    r.assert_error(401, "invalid_credentials", "audience");
}

#[test]
fn serve_can_require_email_verified() {
    let dir = TempDir::new("serve_can_require_email_verified");
    let path = dir.write("idp-secret", &format!("{IDP_SECRET}\n"));
    let flags = [&idp_flags(&path)[..], &["--identity-claim", "email"]].concat();
    let strict = serve(
        &[&flags[..], &["--jwt-require-email-verified"]].concat(),
        &CREDS,
    );
    let lenient = serve(&flags, &CREDS);
    let without = idp_jwt(idp_claims(
        serde_json::json!({"sub": "u-1", "email": "alice@example.test"}),
    ));
    let verified = idp_jwt(idp_claims(serde_json::json!({
        "sub": "u-1", "email": "alice@example.test", "email_verified": true
    })));
    get_token(strict.addr, &format!("Bearer {without}")).assert_error(
        401,
        "invalid_credentials",
        "no email_verified claim",
    );
    let r = get_token(strict.addr, &format!("Bearer {verified}"));
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get_token(lenient.addr, &format!("Bearer {without}"));
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn serve_with_an_unreachable_jwks_answers_503() {
    let server = serve(
        &[
            "--jwks-url",
            "http://127.0.0.1:9/jwks.json;k=PathSecret-never-logged?key=QuerySecret-never-logged",
            "--jwt-issuer",
            IDP_ISSUER,
            "--jwt-audience",
            IDP_AUDIENCE,
        ],
        &CREDS,
    );
    let jwt = hs256(
        b"x",
        idp_claims(serde_json::json!({"sub": "a", "exp": now() + 60})),
    );
    // No key is cached, and the JWKS that would provide one cannot be reached.
    let r = get_token(server.addr, &format!("Bearer {jwt}"));
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json()["error"], "unavailable");
    assert!(r.header("retry-after").is_some());
    // The log says why (the connection was refused), and never the URL's query. (The
    // line may reach the log after the answer.)
    let said_why = common::eventually(|| server.log_text().to_lowercase().contains("refused"));
    let log = server.log_text();
    assert!(said_why, "{log}");
    // What was left out is marked.
    assert!(log.contains("http://127.0.0.1:9/jwks.json;…?…"), "{log}");
    assert!(!log.contains("QuerySecret"), "{log}");
    assert!(!log.contains("PathSecret"), "{log}");
}

#[test]
fn serve_answers_cors_preflights_for_its_origins() {
    let server = serve(
        &[
            "--cors-origin",
            "https://app.example.test",
            "--cors-credentials",
        ],
        &with_users(),
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
    let server = serve(&["--metrics"], &with_users());
    let has = |body: &str, line: &str| {
        assert!(
            body.lines().any(|l| l == line),
            "{line} missing in:\n{body}"
        );
    };
    // Before any request: every series is there, at zero, and the resolver latency is a
    // Prometheus histogram (buckets, not a summary's quantiles).
    let m = request(server.addr, "GET", "/metrics", &[]);
    assert_eq!(m.status, 200);
    assert!(
        m.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain"))
    );
    for line in [
        "# TYPE chat_token_tokens_minted_total counter",
        "chat_token_tokens_minted_total 0",
        "# TYPE chat_token_errors_total counter",
        "chat_token_errors_total{error=\"missing_credentials\"} 0",
        "# TYPE chat_token_resolve_seconds histogram",
        "chat_token_resolve_seconds_count 0",
    ] {
        has(&m.body, line);
    }

    let r = get_token(server.addr, ALICE);
    assert_eq!(r.status, 200);
    let m = request(server.addr, "GET", "/metrics", &[]).body;
    has(&m, "chat_token_tokens_minted_total 1");
    assert_eq!(request(server.addr, "GET", "/token", &[]).status, 401);
    let m = request(server.addr, "GET", "/metrics", &[]).body;
    has(
        &m,
        "chat_token_errors_total{error=\"missing_credentials\"} 1",
    );

    for _ in 0..2 {
        let r = get_token(server.addr, ALICE);
        assert_eq!(r.status, 200);
    }
    assert_eq!(request(server.addr, "DELETE", "/token", &[]).status, 405);
    let m = request(server.addr, "GET", "/metrics", &[]).body;
    for line in [
        "chat_token_tokens_minted_total 3",
        "chat_token_errors_total{error=\"missing_credentials\"} 1",
        "chat_token_errors_total{error=\"method_not_allowed\"} 1",
        "chat_token_errors_total{error=\"internal\"} 0",
        "# TYPE chat_token_resolve_seconds histogram",
        // Four identifications: the 405 is answered before any.
        "chat_token_resolve_seconds_bucket{le=\"+Inf\"} 4",
        "chat_token_resolve_seconds_count 4",
    ] {
        has(&m, line);
    }
    let buckets: Vec<&str> = m
        .lines()
        .filter_map(|l| l.strip_prefix("chat_token_resolve_seconds_bucket{le=\""))
        .filter_map(|l| l.split_once('"').map(|(le, _)| le))
        .collect();
    assert_eq!(
        buckets,
        [
            "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.5", "1",
            "+Inf"
        ],
        "{m}"
    );
    let without = serve(&[], &with_users());
    assert_eq!(request(without.addr, "GET", "/metrics", &[]).status, 404);
}

#[test]
fn serve_applies_a_user_policy_file() {
    let dir = TempDir::new("serve_applies_a_user_policy_file");
    let secret = dir.write("idp-secret", IDP_SECRET);
    let policy = dir.write(
        "policy.json",
        r#"{"role_claim": "roles",
            "roles": {"agent": {"ttl": 7200, "chat_deployment_role_sid": "RLaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
                      "banned": {"deny": true}},
            "endpoint_id_header": "X-Device-Id"}"#,
    );
    let server = serve(
        &[&idp_flags(&secret)[..], &["--policy", &policy]].concat(),
        &CREDS,
    );
    let agent = idp_jwt(idp_claims(
        serde_json::json!({"sub": "ann", "roles": ["agent"]}),
    ));
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

    let banned = idp_jwt(idp_claims(
        serde_json::json!({"sub": "eve", "roles": "banned"}),
    ));
    let r = get_token(server.addr, &format!("Bearer {banned}"));
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"], "forbidden");

    dir.write("policy.json", r#"{"roles": {"a": {"ttl": 999999}}}"#);
    let out = common::run(
        &with_users(),
        &["serve", "--bind", "127.0.0.1:0", "--policy", &policy],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ttl 999999"));
}

/// Whether the server has closed `stream` (end of stream or reset), reading (and
/// dropping) whatever it sends first, such as a 408 answer.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn a_half_sent_request_head_is_closed_after_the_header_read_timeout() {
    let server = serve(&["--header-read-timeout", "1"], &with_users());
    let mut slow = TcpStream::connect(server.addr).expect("connect");
    slow.write_all(b"GET /token HTTP/1.1\r\nHost: x\r\nAuthor")
        .expect("write");
    // No assertion on the exact time: a busy machine may take longer than 1 s.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut answered = 0;
    let closed = loop {
        let r = get_token(server.addr, ALICE);
        assert_eq!(r.status, 200, "a good request failed meanwhile: {}", r.body);
        answered += 1;
        if closed_by_server(&mut slow) {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
    };
    assert!(
        closed,
        "the half-sent request's connection was still open after 20 s"
    );
    assert!(answered >= 1);
}

#[test]
fn an_idle_connection_is_closed_after_the_header_read_timeout() {
    let server = serve(&["--header-read-timeout", "1"], &with_users());
    let mut idle = TcpStream::connect(server.addr).expect("connect");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !closed_by_server(&mut idle) {
        assert!(
            Instant::now() < deadline,
            "a connection that sent nothing was still open after 20 s"
        );
    }
}

#[test]
fn connections_over_the_limit_wait_until_one_closes() {
    // Development mode: /console/inspect waits for a body that never comes, so these
    // connections are busy with a request (they are never evicted).
    let server = serve(
        &["--max-connections", "2", "--header-read-timeout", "60"],
        &[],
    );
    let busy_request = format!(
        "POST /console/inspect HTTP/1.1\r\nHost: {}\r\nContent-Length: 1000\r\n\r\neyJ",
        server.addr
    );
    let healthz = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr);
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut c = TcpStream::connect(server.addr).expect("connect");
            c.write_all(busy_request.as_bytes()).expect("write");
            c
        })
        .collect();
    // Both are accepted and busy before the third comes.
    std::thread::sleep(Duration::from_millis(500));
    let mut third = TcpStream::connect(server.addr).expect("connect");
    third
        .write_all(healthz.as_bytes())
        .expect("write to the third connection");
    let early = read_until(&mut third, "HTTP/1.1", Duration::from_millis(2500));
    assert_eq!(
        early, "",
        "the third connection was served over the limit of 2 while both were busy"
    );
    drop(held.remove(0));
    let answer = read_until(&mut third, r#"{"status":"ok"}"#, Duration::from_secs(20));
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the waiting connection was not served once a slot was free: {answer:?}"
    );
    assert!(server.log_text().contains("connection limit reached"));
}

#[test]
fn idle_connections_give_their_slots_up_when_every_slot_is_taken() {
    let server = serve(
        &["--max-connections", "2", "--header-read-timeout", "60"],
        &with_users(),
    );
    let healthz = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr);
    // Two kept-alive connections, each answered once, then idle: both hold a slot.
    let mut idle: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut c = TcpStream::connect(server.addr).expect("connect");
            c.write_all(healthz.as_bytes()).expect("write");
            let answer = read_until(&mut c, r#"{"status":"ok"}"#, Duration::from_secs(20));
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            c
        })
        .collect();
    // A third is served without either idle client closing (60 s of header-read time
    // would otherwise keep them): an idle one gives its slot up.
    let mut third = TcpStream::connect(server.addr).expect("connect");
    third.write_all(healthz.as_bytes()).expect("write");
    let answer = read_until(&mut third, r#"{"status":"ok"}"#, Duration::from_secs(20));
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "a new client was kept out by idle connections: {answer:?}"
    );
    assert!(
        idle.iter_mut().any(closed_by_server),
        "no idle connection was closed to make room"
    );
}

#[test]
fn a_request_not_answered_in_time_is_a_json_503() {
    // Development mode: /console/inspect waits for the whole body, which never comes.
    let server = serve(&["--request-timeout", "1"], &[]);
    let head = format!(
        "POST /console/inspect HTTP/1.1\r\nHost: {}\r\nContent-Length: 1000\r\nConnection: close\r\n\r\neyJ",
        server.addr
    );
    let r = exchange(server.addr, head.as_bytes(), Duration::from_secs(20));
    r.assert_error(503, "unavailable", "within 1 s");
    assert!(r.header("retry-after").is_some());
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[test]
fn serve_refuses_zero_limits() {
    for flag in [
        "--max-connections",
        "--header-read-timeout",
        "--request-timeout",
    ] {
        let out = common::run(&[], &["serve", "--bind", "127.0.0.1:0", flag, "0"]);
        assert_eq!(out.status.code(), Some(2), "{flag} 0");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag) && err.contains("0 is not in"), "{err}");
    }
}

#[test]
fn the_console_sends_a_content_security_policy_its_page_obeys() {
    let server = serve(&[], &[]);
    let page = request(server.addr, "GET", "/", &[]);
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").unwrap_or_default();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing in {csp:?}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    // The policy allows no inline script or style: the page must have none.
    let html = &page.body;
    assert_eq!(
        html.matches("<script").count(),
        html.matches("<script src=\"/console/app.js\"></script>")
            .count(),
        "inline script in the console page"
    );
    assert!(html.contains("<script src=\"/console/app.js\"></script>"));
    for inline in ["<style", " style=", " onclick=", " onload=", "javascript:"] {
        assert!(!html.contains(inline), "{inline} in the console page");
    }
    for (path, kind) in [
        ("/console/app.js", "text/javascript"),
        ("/console/app.css", "text/css"),
    ] {
        let r = request(server.addr, "GET", path, &[]);
        assert_eq!(r.status, 200, "{path}");
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with(kind)),
            "{path}"
        );
        assert_eq!(r.header("content-security-policy"), Some(csp), "{path}");
        assert!(!r.body.is_empty(), "{path}");
    }
    let users = request(server.addr, "GET", "/console/users", &[]);
    assert_eq!(users.header("x-frame-options"), Some("DENY"));
    assert_eq!(users.header("cache-control"), Some("no-store"));
}

#[test]
fn development_mode_answers_only_loopback_host_names() {
    let server = serve(&[], &[]);
    for host in [
        "evil.example",
        "evil.example:3000",
        "localhost.evil.example",
        "127.0.0.1.evil.example",
        "10.0.0.1",
        "[2001:db8::1]:3000",
        "localhost:x",
    ] {
        for path in ["/", "/console/users", "/token"] {
            let r = request(
                server.addr,
                "GET",
                path,
                &[("Host", host), ("Authorization", "Bearer demo-alice")],
            );
            assert_eq!(r.status, 403, "Host {host} {path}: {}", r.body);
            r.assert_error(403, "forbidden", "localhost");
        }
    }
    for host in [
        "localhost",
        "LOCALHOST:3000",
        "127.0.0.1",
        "127.0.0.1:3000",
        "[::1]:3000",
        "app.localhost:8080",
    ] {
        let r = request(server.addr, "GET", "/", &[("Host", host)]);
        assert_eq!(r.status, 200, "Host {host}: {}", r.body);
    }
    let no_host = exchange(
        server.addr,
        b"GET / HTTP/1.0\r\n\r\n",
        Duration::from_secs(10),
    );
    assert_eq!(no_host.status, 403);

    // Outside development mode there is no console, and a proxy may use any name.
    let production = serve(&[], &with_users());
    let r = request(
        production.addr,
        "GET",
        "/token",
        &[("Host", "chat.example.com"), ("Authorization", ALICE)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn me_is_never_cached() {
    let server = serve(&[], &with_users());
    let r = request(server.addr, "GET", "/me", &[("Authorization", ALICE)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["identity"], "alice");
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

#[cfg(unix)]
#[test]
fn serve_warns_about_secret_files_others_can_read_and_auth_token_secrets() {
    let dir = TempDir::new("serve_warns_about_secret_files_others_can_read_and_auth_token_secrets");
    // The environment and arguments of `serve` with the API key secret and the users in
    // files of these contents and modes, and the files' paths.
    let with_files = |api_secret: &str, api_mode: u32, users_mode: u32| {
        let api_secret = dir.write_with_mode("api-secret", api_secret, api_mode);
        let users = dir.write_with_mode("users", "users-file-token-000000=bob\n", users_mode);
        let env: Vec<(&str, String)> = [CREDS[0], CREDS[1], CREDS[3]]
            .iter()
            .map(|&(k, v)| (k, v.to_owned()))
            .chain([("TWILIO_API_SECRET_FILE", api_secret.clone())])
            .collect();
        (env, api_secret, users)
    };

    // An Auth Token's shape, in a file the group may read: the mode is warned about, and
    // serve does not start (as a reload refuses that secret too).
    let (env, api_secret, users) = with_files("0123456789abcdef0123456789abcdef\n", 0o640, 0o644);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = common::run(
        &env,
        &["serve", "--bind", "127.0.0.1:0", "--users-file", &users],
    );
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    for needle in [
        format!("TWILIO_API_SECRET_FILE {api_secret} can be read by other users (mode 640)"),
        "the API key secret (TWILIO_API_SECRET or TWILIO_API_SECRET_FILE) looks like an Auth Token; use an API key's secret".to_owned(),
        "serve does not start with it".to_owned(),
    ] {
        assert!(text.contains(&needle), "{needle} missing in:\n{text}");
    }
    assert!(
        !text.contains("0123456789abcdef0123456789abcdef"),
        "the secret was shown:\n{text}"
    );

    // An API key's secret in a file the group may read, and users anyone may read.
    let (env, api_secret, users) = with_files("Kx8fQ2mZp4Lr7Tn1Vb6Hc3Jd9Wg5Ys0E\n", 0o640, 0o644);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let log = serve(&["--users-file", &users], &env).log_text();
    for needle in [
        format!("TWILIO_API_SECRET_FILE {api_secret} can be read by other users (mode 640)"),
        format!("--users-file {users} can be read by other users (mode 644)"),
    ] {
        assert!(log.contains(&needle), "{needle} missing in:\n{log}");
    }
    assert!(!log.contains("Auth Token"), "{log}");
    for secret in [
        "Kx8fQ2mZp4Lr7Tn1Vb6Hc3Jd9Wg5Ys0E",
        "users-file-token-000000",
    ] {
        assert!(!log.contains(secret), "a secret was logged:\n{log}");
    }

    let idp = dir.write_with_mode("idp-secret", IDP_SECRET, 0o604);
    let server = serve(&idp_flags(&idp), &CREDS);
    let log = server.log_text();
    assert!(
        log.contains(&format!(
            "--jwt-hs256-secret-file {idp} can be read by other users (mode 604)"
        )),
        "{log}"
    );
    assert!(!log.contains(IDP_SECRET));
    drop(server);

    // Private files and an API key's secret: no warning.
    let (env, _, users) = with_files("Kx8fQ2mZp4Lr7Tn1Vb6Hc3Jd9Wg5Ys0E\n", 0o600, 0o600);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let log = serve(&["--users-file", &users], &env).log_text();
    assert!(!log.contains("can be read by other users"), "{log}");
    assert!(!log.contains("Auth Token"), "{log}");
}

#[test]
fn role_rules_that_can_never_apply_stop_serve() {
    let dir = TempDir::new("role_rules_that_can_never_apply_stop_serve");
    // Without a role_claim, and with a role claim but users that carry no claims.
    for (name, text, expected) in [
        (
            "no-claim.json",
            r#"{"roles": {"banned": {"deny": true}}}"#,
            "no role_claim",
        ),
        (
            "users.json",
            r#"{"role_claim": "roles", "roles": {"banned": {"deny": true}}}"#,
            "role rules would never apply",
        ),
    ] {
        let policy = dir.write(name, text);
        let out = common::run(
            &with_users(),
            &["serve", "--bind", "127.0.0.1:0", "--policy", &policy],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: {err}");
        assert!(
            err.contains(expected) && err.contains("role_claim"),
            "{name}: {err}"
        );
    }
    // Identity rules alone are fine with static users.
    let policy = dir.write(
        "identities.json",
        r#"{"identities": {"alice": {"ttl": 600}}}"#,
    );
    let server = serve(&["--policy", &policy], &with_users());
    let r = get_token(server.addr, ALICE);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!server.log_text().contains("carry none"));
    // Chat rules for tokens without a chat grant: harmless, but said.
    let policy = dir.write("devices.json", r#"{"endpoint_id_header": "X-Device-Id"}"#);
    let no_chat: Vec<_> = with_users()
        .into_iter()
        .filter(|(name, _)| *name != "TWILIO_CHAT_SERVICE_SID")
        .collect();
    let server = serve(&["--policy", &policy], &no_chat);
    assert!(
        server.process.logs("carry none", 1),
        "{}",
        server.log_text()
    );
}

#[test]
fn a_repeated_bearer_jwt_is_answered_from_the_cache_and_counted() {
    let dir = TempDir::new("a_repeated_bearer_jwt_is_answered_from_the_cache_and_counted");
    let secret = dir.write("idp-secret", IDP_SECRET);
    let base = [&idp_flags(&secret)[..], &["--metrics"]].concat();
    let jwt = idp_jwt(idp_claims(serde_json::json!({"sub": "ann"})));
    let bearer = format!("Bearer {jwt}");
    let metric = |body: &str, name: &str| {
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    // A server started with `args`: three requests with the same JWT, then its metrics.
    let metrics_after_three_requests = |args: &[&str]| {
        let server = serve(args, &CREDS);
        for _ in 0..3 {
            let r = get_token(server.addr, &bearer);
            assert_eq!(r.status, 200, "{}", r.body);
        }
        request(server.addr, "GET", "/metrics", &[]).body
    };
    let m = metrics_after_three_requests(&base);
    assert_eq!(
        metric(&m, "chat_token_jwt_cache_misses_total"),
        Some(1),
        "{m}"
    );
    assert_eq!(
        metric(&m, "chat_token_jwt_cache_hits_total"),
        Some(2),
        "{m}"
    );
    assert_eq!(metric(&m, "chat_token_jwt_cache_entries"), Some(1), "{m}");
    let m = metrics_after_three_requests(&[&base[..], &["--jwt-cache-entries", "0"]].concat());
    assert_eq!(
        metric(&m, "chat_token_jwt_cache_hits_total"),
        Some(0),
        "{m}"
    );
    assert_eq!(metric(&m, "chat_token_jwt_cache_entries"), Some(0), "{m}");
}

/// A connection to `addr` whose receive buffer is as small as the system allows, so that
/// answers it does not read soon fill the server's side; blocking.
fn small_window_connection(addr: std::net::SocketAddr) -> std::io::Result<TcpStream> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_recv_buffer_size(1024)?;
        socket.connect(addr).await
    })?;
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// The resident memory of process `pid`, in KiB, from `/proc`.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Clients that pipeline requests and never read the answers (2× the connection cap,
/// reconnecting whenever closed), and as many that hold a kept-alive connection with a
/// request every 0.9 s, must not keep a normal client from being answered within the
/// header-read timeout, with the default settings: while every slot is taken, a
/// connection idle or with answers stuck unread for a second gives its slot up, and a
/// kept-alive one closes after its answer (one whose answers are not taken is closed
/// after `--write-timeout` in any case); the answers queued for each are bounded.
#[test]
fn clients_that_never_read_their_answers_do_not_hold_the_connections() {
    const CAP: usize = 4;
    const HEADER_READ: u64 = 10;
    // The default timeouts: 10 s to read a head, 10 s of answers not taken.
    let server = serve(&["--max-connections", &CAP.to_string()], &with_users());
    let addr = server.addr;
    let pid = server.process.child.id();
    let rss_before = rss_kib(pid);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pipelined = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").repeat(400);
    let attackers: Vec<_> = (0..2 * CAP)
        .map(|_| {
            let stop = stop.clone();
            let pipelined = pipelined.clone();
            std::thread::spawn(move || {
                let mut connections = 0;
                // Bounded: the attack ends when the test says so, or after 60 s.
                let end = Instant::now() + Duration::from_secs(60);
                while !stop.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < end {
                    let Ok(mut stream) = small_window_connection(addr) else {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    };
                    connections += 1;
                    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
                    // Never read: write until the server closes the connection.
                    loop {
                        if stop.load(std::sync::atomic::Ordering::SeqCst) || Instant::now() > end {
                            break;
                        }
                        match stream.write(pipelined.as_bytes()) {
                            Ok(_) => {}
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                                ) => {}
                            Err(_) => break,
                        }
                    }
                }
                connections
            })
        })
        .collect();
    // And as many clients that keep a connection alive with a request every 0.9 s, so
    // that it is never idle for long.
    let holders: Vec<_> = (0..CAP)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let end = Instant::now() + Duration::from_secs(60);
                let healthz = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n");
                while !stop.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < end {
                    let Ok(mut held) = TcpStream::connect(addr) else {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    };
                    loop {
                        if held.write_all(healthz.as_bytes()).is_err() {
                            break;
                        }
                        let answer =
                            read_until(&mut held, r#"{"status":"ok"}"#, Duration::from_secs(20));
                        if answer.is_empty() {
                            break;
                        }
                        for _ in 0..9 {
                            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                                return;
                            }
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                }
            })
        })
        .collect();
    // Let the attackers fill every slot, then ask as a normal client, several times.
    std::thread::sleep(Duration::from_secs(2));
    let mut waits = Vec::new();
    let mut peak_rss = 0;
    let healthz = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    for _ in 0..5 {
        let started = Instant::now();
        let r = exchange(addr, healthz.as_bytes(), Duration::from_secs(HEADER_READ));
        waits.push(started.elapsed());
        assert_eq!(
            r.status,
            200,
            "a normal client was not answered within {HEADER_READ} s while {} clients did not read: {}",
            2 * CAP,
            r.body
        );
        peak_rss = peak_rss.max(rss_kib(pid).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(500));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for holder in holders {
        holder.join().expect("holder");
    }
    let connections: usize = attackers
        .into_iter()
        .map(|a| a.join().expect("attacker"))
        .sum();
    assert!(
        connections > 2 * CAP,
        "the attackers' connections were never closed ({connections} made)"
    );
    println!(
        "normal client waits {waits:?}; attackers' connections {connections}; serve RSS {rss_before:?} KiB before, {peak_rss} KiB at most during the attack"
    );
}

/// Finding checked: when nobody reads `serve`'s stderr any more (a log shipper that
/// restarts, `| tee` killed), a log line that cannot be written is dropped. It used to
/// panic in whatever logged it: the reload after a change died with its first log line,
/// so later changes were never applied, and SIGTERM ended the process with 101.
#[test]
fn a_closed_stderr_stops_neither_reloads_nor_a_clean_exit() {
    use std::io::{BufRead as _, BufReader};
    use std::process::Stdio;

    let dir = TempDir::new("a_closed_stderr_stops_neither_reloads_nor_a_clean_exit");
    let users = dir.write_with_mode("users", "alice-token-0123456789=alice\n", 0o600);
    let mut child = common::Killed(
        common::command(&[("RUST_LOG", "info")])
            .envs(CREDS.iter().copied())
            .args(["serve", "--bind", "127.0.0.1:0", "--users-file", &users])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chat-token"),
    );
    let mut log = BufReader::new(child.0.stderr.take().expect("stderr"));
    let mut line = String::new();
    let addr: std::net::SocketAddr = loop {
        line.clear();
        let read = log.read_line(&mut line).expect("read the log");
        assert!(read > 0, "serve exited before it listened");
        if let Some(addr) = line
            .split("addr=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
        {
            break addr.parse().expect("the address serve logs");
        }
    };
    // Nobody reads stderr any more: every later write fails with a broken pipe.
    drop(log);
    assert_eq!(get_token(addr, ALICE).status, 200);

    let bearer = |n: usize| format!("Bearer user{n}-token-0123456789");
    for n in 1..=3 {
        // Each version adds a user; each reload logs (and cannot write) a line.
        let lines: String = (1..=n)
            .map(|i| format!("user{i}-token-0123456789=user{i}\n"))
            .collect();
        std::fs::write(&users, format!("alice-token-0123456789=alice\n{lines}"))
            .expect("write the users file");
        assert!(
            common::eventually(|| get_token(addr, &bearer(n)).status == 200),
            "version {n} of the users file was never served"
        );
    }

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.0.wait().expect("wait");
    assert_eq!(
        status.code(),
        Some(0),
        "serve did not exit cleanly: {status}"
    );
}

/// Finding checked: with `--max-connections` above the open-files limit (the default
/// 10000 in a container limited to a few hundred files), every accept failed once the
/// files ran out while the slots were never all taken, so no idle connection gave its
/// slot up and a real client waited for good. `serve` now lowers the bound to what the
/// limit allows, says so, and idle connections give their slots up again.
#[cfg(unix)]
#[test]
fn max_connections_is_held_within_the_open_files_limit() {
    use std::process::Stdio;

    let dir = TempDir::new("max_connections_is_held_within_the_open_files_limit");
    let log_path = dir.join("log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let _server = common::Killed(
        std::process::Command::new("sh")
            .args(["-c", "ulimit -n 100 && exec \"$0\" \"$@\""])
            .arg(env!("CARGO_BIN_EXE_chat-token"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start chat-token"),
    );
    let text = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let mut addr = None;
    common::eventually(|| {
        addr = text()
            .split("addr=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse::<std::net::SocketAddr>().ok());
        addr.is_some()
    });
    let addr = addr.unwrap_or_else(|| panic!("serve did not listen:\n{}", text()));
    assert!(
        text().contains("--max-connections 10000 is more than the open-files limit allows (100"),
        "{}",
        text()
    );
    assert!(text().contains("max_connections=36"), "{}", text());

    // More idle connections than the process may open files.
    let idle: Vec<TcpStream> = (0..120)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    let reply = get_token(addr, "Bearer demo-alice");
    assert_eq!(reply.status, 200, "{}", text());
    drop(idle);
}

/// Finding checked: `SIGHUP` with nothing to read again (the users and credentials in the
/// environment) logged nothing, so an operator could not tell it was received.
#[cfg(unix)]
#[test]
fn a_sighup_with_no_file_to_read_says_so() {
    let mut server = common::Process::serve(&[], &with_users());
    assert!(server.addr().is_some(), "{}", server.output());
    server.hup();
    server.wait_for_log("SIGHUP: no file to read again", 1);
}
