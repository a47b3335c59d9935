//! Every case of the shared suite, written once, generic over the adapter's [`Harness`].
//!
//! The helpers come first; the cases stand in the `cases!` block below them, which is
//! also the list [`suite!`](crate::suite!) runs them by.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::fixtures::{
    ALICE, API_KEY_SID, API_SECRET, CHAT_SERVICE_SID, INTERNAL_DETAIL, Scripted, service,
};
use crate::harness::{Harness, Server};
use crate::http::{Response, get, send};
use crate::logs;

/// Starts `H`'s app with a fresh scripted service (and the log capture).
pub fn start<H: Harness>() -> (Server, Arc<Scripted>) {
    logs::install();
    let (service, resolver) = service();
    (H::start(service), resolver)
}

/// Decodes and verifies a token with jsonwebtoken (not with the core's verifier).
fn decode(jwt: &str) -> (jsonwebtoken::Header, Value) {
    chat_token_core::crypto::ensure_jsonwebtoken_provider();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[API_KEY_SID]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "sub"]);
    let data = jsonwebtoken::decode::<Value>(
        jwt,
        &DecodingKey::from_secret(API_SECRET.as_bytes()),
        &validation,
    )
    .unwrap_or_else(|e| panic!("jsonwebtoken refused the token: {e}"));
    (data.header, data.claims)
}

/// A 200 with a token for `identity`, verified with jsonwebtoken; its claims.
pub fn assert_token_ok(r: &Response, identity: &str) -> Value {
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert_eq!(body["identity"], identity);
    let (_, claims) = decode(body["token"].as_str().expect("token"));
    assert_eq!(claims["grants"]["identity"], identity);
    claims
}

/// Our JSON error with `status` and `code`, and a message; the body.
pub fn assert_error(r: &Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "{:?}",
        r.headers
    );
    let body = r.json();
    assert_eq!(body["error"], code, "{}", r.body);
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.body
    );
    body
}

fn assert_still_serving(server: &Server) {
    let r = get(server.addr, "/token", Some(ALICE));
    assert_token_ok(&r, "alice");
}

fn auth(value: &[u8]) -> [(&'static str, &[u8]); 1] {
    [("Authorization", value)]
}

fn assert_405<H: Harness>(method: &str) {
    let (server, resolver) = start::<H>();
    let value = format!("Bearer {ALICE}");
    let r = send(server.addr, method, "/token", &auth(value.as_bytes()), b"");
    assert_eq!(r.status, 405, "{method}: {}", r.body);
    assert_eq!(r.header("allow"), Some("GET, POST"), "{method}");
    if method != "HEAD" {
        assert_error(&r, 405, "method_not_allowed");
    }
    assert_eq!(resolver.calls(), 0, "{method} must not reach the resolver");
}

fn assert_same_rejection<H: Harness>(bearer: Option<&str>) {
    let (server, _) = start::<H>();
    let token = get(server.addr, "/token", bearer);
    let me = get(server.addr, "/me", bearer);
    assert_eq!(me.status, token.status, "{}", me.body);
    assert_eq!(me.json(), token.json());
    for header in [
        "content-type",
        "cache-control",
        "www-authenticate",
        "retry-after",
    ] {
        assert_eq!(me.header(header), token.header(header), "{header}");
    }
}

cases! { cases => __suite_cases;
    /// GET /token with a good bearer token: 200 and a token for the user.
    pub fn success_get<H: Harness>() {
        let (server, _) = start::<H>();
        let r = get(server.addr, "/token", Some(ALICE));
        let claims = assert_token_ok(&r, "alice");
        assert_eq!(claims["grants"]["chat"]["service_sid"], CHAT_SERVICE_SID);
    }

    /// The 200 carries JSON, `Cache-Control: no-store`, and the four documented fields.
    pub fn success_headers<H: Harness>() {
        let (server, _) = start::<H>();
        let r = get(server.addr, "/token", Some(ALICE));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let body = r.json();
        let mut keys: Vec<&str> = body
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["expires_at", "expires_in", "identity", "token"]);
    }

    /// The token's header is Twilio's: HS256, `cty` twilio-fpa;v=1, `typ` JWT.
    pub fn success_token_header_is_twilios<H: Harness>() {
        let (server, _) = start::<H>();
        let r = get(server.addr, "/token", Some(ALICE));
        let (header, _) = decode(r.json()["token"].as_str().expect("token"));
        assert_eq!(header.alg, Algorithm::HS256);
        assert_eq!(header.cty.as_deref(), Some("twilio-fpa;v=1"));
        assert_eq!(header.typ.as_deref(), Some("JWT"));
    }

    /// `expires_at == exp`, `exp - nbf == expires_in`, and the times are around now.
    pub fn success_claims_match_body<H: Harness>() {
        let (server, _) = start::<H>();
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let r = get(server.addr, "/token", Some(ALICE));
        let claims = assert_token_ok(&r, "alice");
        let body = r.json();
        assert_eq!(body["expires_at"], claims["exp"]);
        let exp = claims["exp"].as_u64().expect("exp");
        let nbf = claims["nbf"].as_u64().expect("nbf");
        assert_eq!(body["expires_in"].as_u64(), Some(exp - nbf));
        assert_eq!(body["expires_in"], 3600);
        assert!(
            nbf + 5 >= before && nbf <= before + 60,
            "nbf {nbf}, now {before}"
        );
        assert_eq!(claims["sub"], crate::fixtures::ACCOUNT_SID);
        assert_eq!(claims["jti"], format!("{API_KEY_SID}-{nbf}"));
    }

    /// A query string cannot choose the identity.
    pub fn success_query_is_ignored<H: Harness>() {
        let (server, _) = start::<H>();
        let r = get(
            server.addr,
            "/token?identity=mallory&ttl=86400",
            Some(ALICE),
        );
        let claims = assert_token_ok(&r, "alice");
        assert_eq!(r.json()["expires_in"], 3600);
        assert_ne!(claims["grants"]["identity"], "mallory");
    }

    /// A non-ASCII identity arrives intact in the body and the token.
    pub fn success_unicode_identity<H: Harness>() {
        let (server, _) = start::<H>();
        let r = get(server.addr, "/token", Some("zoe"));
        assert_token_ok(&r, "Zoë 🦀");
    }

    /// `bearer`, `BEARER` and `Bearer` are the same scheme.
    pub fn bearer_scheme_is_case_insensitive<H: Harness>() {
        let (server, _) = start::<H>();
        for scheme in ["bearer", "BEARER", "BeArEr"] {
            let value = format!("{scheme} {ALICE}");
            let r = send(server.addr, "GET", "/token", &auth(value.as_bytes()), b"");
            assert_token_ok(&r, "alice");
        }
    }

    /// No Authorization: 401 `missing_credentials` with `WWW-Authenticate: Bearer`.
    pub fn missing_credentials<H: Harness>() {
        let (server, _) = start::<H>();
        let r = get(server.addr, "/token", None);
        assert_error(&r, 401, "missing_credentials");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }

    /// An empty Authorization header counts as none.
    pub fn empty_authorization<H: Harness>() {
        let (server, _) = start::<H>();
        let r = send(server.addr, "GET", "/token", &auth(b""), b"");
        assert_error(&r, 401, "missing_credentials");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }

    /// Another scheme: 401 `invalid_credentials` with `error="invalid_token"`.
    pub fn non_bearer_authorization<H: Harness>() {
        let (server, _) = start::<H>();
        let r = send(
            server.addr,
            "GET",
            "/token",
            &auth(b"Basic YWxpY2U6cHc="),
            b"",
        );
        assert_error(&r, 401, "invalid_credentials");
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"Bearer error="invalid_token""#)
        );
    }

    /// `Bearer` with no token is invalid.
    pub fn bearer_without_token<H: Harness>() {
        let (server, _) = start::<H>();
        let r = send(server.addr, "GET", "/token", &auth(b"Bearer"), b"");
        assert_error(&r, 401, "invalid_credentials");
    }

    /// An unknown token: 401 `invalid_credentials`.
    pub fn unknown_token<H: Harness>() {
        let (server, _) = start::<H>();
        let r = get(server.addr, "/token", Some("nobody"));
        assert_error(&r, 401, "invalid_credentials");
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"Bearer error="invalid_token""#)
        );
    }

    /// Two Authorization headers are refused, whichever is good.
    pub fn repeated_authorization<H: Harness>() {
        let (server, _) = start::<H>();
        let good = format!("Bearer {ALICE}");
        let r = send(
            server.addr,
            "GET",
            "/token",
            &[
                ("Authorization", good.as_bytes()),
                ("Authorization", b"Bearer other"),
            ],
            b"",
        );
        assert_error(&r, 401, "invalid_credentials");
    }

    /// A known user who may not chat: 403 `forbidden`, the resolver's message.
    pub fn forbidden<H: Harness>() {
        let (server, _) = start::<H>();
        let r = get(server.addr, "/token", Some("forbid"));
        let body = assert_error(&r, 403, "forbidden");
        assert_eq!(body["message"], "alice may not chat");
        assert_eq!(r.header("www-authenticate"), None);
    }

    /// The resolver's backend is down: 503 `unavailable` with its `Retry-After`.
    pub fn unavailable_with_retry_after<H: Harness>() {
        let (server, _) = start::<H>();
        let r = get(server.addr, "/token", Some("down"));
        let body = assert_error(&r, 503, "unavailable");
        assert_eq!(r.header("retry-after"), Some("7"));
        assert!(
            !body["message"]
                .as_str()
                .unwrap_or("")
                .contains("session store")
        );
    }

    /// Without a hint from the resolver, `Retry-After` is the default.
    pub fn unavailable_default_retry_after<H: Harness>() {
        let (server, _) = start::<H>();
        let r = get(server.addr, "/token", Some("down-default"));
        assert_error(&r, 503, "unavailable");
        assert_eq!(r.header("retry-after"), Some("5"));
    }

    /// An internal error: 500 `internal`, the detail in the log and not in the body.
    pub fn internal_error_hides_details<H: Harness>() {
        let (server, _) = start::<H>();
        let r = get(server.addr, "/token", Some("boom"));
        assert_error(&r, 500, "internal");
        assert!(!r.all_text().contains(INTERNAL_DETAIL));
        assert!(logs::text().contains(INTERNAL_DETAIL), "detail not logged");
    }

    /// A hung resolver is cut off by the timeout: 503 with `Retry-After`.
    pub fn resolver_timeout_is_unavailable<H: Harness>() {
        let (server, _) = start::<H>();
        let r = get(server.addr, "/token", Some("hang"));
        assert_error(&r, 503, "unavailable");
        assert!(r.header("retry-after").is_some());
        assert_still_serving(&server);
    }

    /// A panicking resolver: 500, and the server goes on serving.
    pub fn panicking_resolver_is_500_and_server_survives<H: Harness>() {
        let (server, _) = start::<H>();
        for _ in 0..3 {
            let r = get(server.addr, "/token", Some("panic"));
            assert_error(&r, 500, "internal");
        }
        assert_still_serving(&server);
    }

    /// A resolver that returns an invalid identity gets 500, and no token is issued.
    pub fn invalid_identity_is_internal<H: Harness>() {
        let (server, _) = start::<H>();
        let r = get(server.addr, "/token", Some("bad-identity"));
        let body = assert_error(&r, 500, "internal");
        assert!(body.get("token").is_none());
    }

    /// A per-user ttl from the resolver shows in the body and the token.
    pub fn per_user_ttl<H: Harness>() {
        let (server, _) = start::<H>();
        let r = get(server.addr, "/token", Some("short"));
        let claims = assert_token_ok(&r, "alice");
        assert_eq!(r.json()["expires_in"], 120);
        let exp = claims["exp"].as_u64().expect("exp");
        assert_eq!(exp - claims["nbf"].as_u64().expect("nbf"), 120);
    }

    /// Per-user grants from the resolver replace the default ones.
    pub fn per_user_grants<H: Harness>() {
        let (server, _) = start::<H>();
        let r = get(server.addr, "/token", Some("video"));
        let claims = assert_token_ok(&r, "alice");
        assert_eq!(claims["grants"]["video"]["room"], "r1");
        assert!(claims["grants"].get("chat").is_none());
    }

    /// One request, one resolver call (on success and on failure).
    pub fn resolver_called_once_per_request<H: Harness>() {
        let (server, resolver) = start::<H>();
        get(server.addr, "/token", Some(ALICE));
        assert_eq!(resolver.calls(), 1);
        get(server.addr, "/token", Some("nobody"));
        assert_eq!(resolver.calls(), 2);
        get(server.addr, "/me", Some(ALICE));
        assert_eq!(resolver.calls(), 3);
    }

    /// Error responses are `no-store` too.
    pub fn errors_are_not_cached<H: Harness>() {
        let (server, _) = start::<H>();
        let r = get(server.addr, "/token", None);
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }

    /// An error body is exactly `{"error","message"}`.
    pub fn error_body_has_exactly_two_fields<H: Harness>() {
        let (server, _) = start::<H>();
        let body = get(server.addr, "/token", Some("nobody")).json();
        let mut keys: Vec<&str> = body
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["error", "message"]);
    }

    /// PUT: 405 with `Allow: GET, POST`.
    pub fn method_put_is_405<H: Harness>() {
        assert_405::<H>("PUT");
    }

    /// DELETE: 405 with `Allow`.
    pub fn method_delete_is_405<H: Harness>() {
        assert_405::<H>("DELETE");
    }

    /// PATCH: 405 with `Allow`.
    pub fn method_patch_is_405<H: Harness>() {
        assert_405::<H>("PATCH");
    }

    /// OPTIONS: 405 with `Allow`.
    pub fn method_options_is_405<H: Harness>() {
        assert_405::<H>("OPTIONS");
    }

    /// HEAD: 405 with `Allow`, no token minted.
    pub fn method_head_is_405<H: Harness>() {
        assert_405::<H>("HEAD");
    }

    /// The extractor lets the user through to the app's route.
    pub fn extractor_accepts<H: Harness>() {
        let (server, _) = start::<H>();
        let r = get(server.addr, "/me", Some(ALICE));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), serde_json::json!({"identity": "alice"}));
    }

    /// The extractor's 401 (no credentials) is the token route's.
    pub fn extractor_missing_matches_token_route<H: Harness>() {
        assert_same_rejection::<H>(None);
    }

    /// The extractor's 401 (wrong credentials) is the token route's.
    pub fn extractor_invalid_matches_token_route<H: Harness>() {
        assert_same_rejection::<H>(Some("nobody"));
    }

    /// The extractor's 403 is the token route's.
    pub fn extractor_forbidden_matches_token_route<H: Harness>() {
        assert_same_rejection::<H>(Some("forbid"));
    }

    /// The extractor's 503 is the token route's.
    pub fn extractor_unavailable_matches_token_route<H: Harness>() {
        assert_same_rejection::<H>(Some("down"));
    }

    /// The app's own unguarded routes are untouched.
    pub fn unguarded_route_needs_no_credentials<H: Harness>() {
        let (server, resolver) = start::<H>();
        let r = get(server.addr, "/", None);
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), serde_json::json!({"app": "ok"}));
        assert_eq!(resolver.calls(), 0);
    }

    /// 200 requests at once all get a correct token.
    pub fn concurrent_requests_all_succeed<H: Harness>() {
        let (server, resolver) = start::<H>();
        let addr = server.addr;
        let threads: Vec<_> = (0..200)
            .map(|_| std::thread::spawn(move || get(addr, "/token", Some(ALICE))))
            .collect();
        for thread in threads {
            let r = thread.join().expect("client thread");
            assert_token_ok(&r, "alice");
        }
        assert_eq!(resolver.calls(), 200);
    }

    /// A storm of failing, panicking and hanging resolver calls does not hold up or break
    /// the good requests running beside it.
    pub fn failing_resolver_storm_does_not_degrade_good_requests<H: Harness>() {
        let (server, _) = start::<H>();
        let addr = server.addr;
        let bad: Vec<_> = (0..90)
            .map(|i| {
                let token = ["boom", "panic", "hang", "down"][i % 4];
                std::thread::spawn(move || (token, get(addr, "/token", Some(token)).status))
            })
            .collect();
        let good: Vec<_> = (0..60)
            .map(|_| std::thread::spawn(move || get(addr, "/token", Some(ALICE))))
            .collect();
        for thread in good {
            let r = thread.join().expect("client thread");
            assert_token_ok(&r, "alice");
        }
        for thread in bad {
            let (token, status) = thread.join().expect("client thread");
            let want = match token {
                "boom" | "panic" => 500,
                _ => 503,
            };
            assert_eq!(status, want, "{token}");
        }
        assert_still_serving(&server);
    }

    /// Behind an authenticating proxy on a trusted network, its user header names the user.
    pub fn trusted_proxy_header_gives_a_token<H: Harness>() {
        logs::install();
        let server = H::start(crate::fixtures::proxy_service(&["127.0.0.0/8", "::1"]));
        let r = send(
            server.addr,
            "GET",
            "/token",
            &[("X-Forwarded-User", b"alice")],
            b"",
        );
        assert_token_ok(&r, "alice");
        let me = send(
            server.addr,
            "GET",
            "/me",
            &[("x-forwarded-user", b"bob")],
            b"",
        );
        assert_eq!(me.json(), serde_json::json!({"identity": "bob"}));
    }

    /// The same header from a peer outside the proxy networks is refused.
    pub fn untrusted_peer_cannot_name_itself<H: Harness>() {
        logs::install();
        let server = H::start(crate::fixtures::proxy_service(&["10.0.0.0/8"]));
        let r = send(
            server.addr,
            "GET",
            "/token",
            &[("X-Forwarded-User", b"alice")],
            b"",
        );
        assert_error(&r, 401, "invalid_credentials");
    }

    /// A trusted proxy that sends no user header: 401 `missing_credentials`; twice: invalid.
    pub fn trusted_proxy_without_or_with_two_user_headers<H: Harness>() {
        logs::install();
        let server = H::start(crate::fixtures::proxy_service(&["127.0.0.1/32"]));
        let r = get(server.addr, "/token", None);
        assert_error(&r, 401, "missing_credentials");
        let r = send(
            server.addr,
            "GET",
            "/token",
            &[("X-Forwarded-User", b"alice"), ("X-Forwarded-User", b"bob")],
            b"",
        );
        assert_error(&r, 401, "invalid_credentials");
    }

    /// A browser preflight from an allowed origin: 204 with what the browser needs.
    pub fn cors_preflight_from_an_allowed_origin<H: Harness>() {
        logs::install();
        let server = H::start(crate::fixtures::cors_service());
        let origin = crate::fixtures::APP_ORIGIN.as_bytes();
        let r = send(
            server.addr,
            "OPTIONS",
            "/token",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", b"POST"),
                ("Access-Control-Request-Headers", b"authorization"),
            ],
            b"",
        );
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some(crate::fixtures::APP_ORIGIN)
        );
        assert_eq!(r.header("access-control-allow-methods"), Some("GET, POST"));
        assert!(
            r.header("access-control-allow-headers")
                .is_some_and(|h| h.contains("authorization"))
        );
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(r.header("vary"), Some("Origin"));
        assert!(r.header("access-control-max-age").is_some());
    }

    /// A preflight from any other origin: 403, and no CORS header to let it through.
    pub fn cors_preflight_from_another_origin_is_refused<H: Harness>() {
        logs::install();
        let server = H::start(crate::fixtures::cors_service());
        let r = send(
            server.addr,
            "OPTIONS",
            "/token",
            &[
                ("Origin", b"https://evil.example"),
                ("Access-Control-Request-Method", b"POST"),
            ],
            b"",
        );
        assert_error(&r, 403, "forbidden");
        assert_eq!(r.header("access-control-allow-origin"), None);
    }

    /// Tokens and errors alike carry the CORS headers for an allowed origin, none for others.
    pub fn cors_headers_on_tokens_and_errors<H: Harness>() {
        logs::install();
        let server = H::start(crate::fixtures::cors_service());
        let origin = crate::fixtures::APP_ORIGIN.as_bytes();
        let bearer = format!("Bearer {ALICE}");
        let ok = send(
            server.addr,
            "GET",
            "/token",
            &[("Origin", origin), ("Authorization", bearer.as_bytes())],
            b"",
        );
        assert_token_ok(&ok, "alice");
        assert_eq!(
            ok.header("access-control-allow-origin"),
            Some(crate::fixtures::APP_ORIGIN)
        );
        let denied = send(server.addr, "GET", "/token", &[("Origin", origin)], b"");
        assert_error(&denied, 401, "missing_credentials");
        assert_eq!(
            denied.header("access-control-allow-origin"),
            Some(crate::fixtures::APP_ORIGIN)
        );
        let other = send(
            server.addr,
            "GET",
            "/token",
            &[
                ("Origin", b"https://evil.example"),
                ("Authorization", bearer.as_bytes()),
            ],
            b"",
        );
        assert_eq!(other.status, 200);
        assert_eq!(other.header("access-control-allow-origin"), None);
    }

    /// Across every path, neither the API secret nor a presented credential shows up in a
    /// response or a log line.
    pub fn no_secret_or_credential_in_responses_or_logs<H: Harness>() {
        let (server, _) = start::<H>();
        let presented = [
            ALICE,
            "forbid",
            "down",
            "boom",
            "panic",
            "bad-identity",
            "unknown-Cred-42x",
        ];
        let mut seen = String::new();
        for token in presented {
            seen.push_str(&get(server.addr, "/token", Some(token)).all_text());
            seen.push_str(&get(server.addr, "/me", Some(token)).all_text());
        }
        let basic = send(
            server.addr,
            "GET",
            "/token",
            &auth(b"Basic c2VjcmV0LWJhc2lj"),
            b"",
        );
        seen.push_str(&basic.all_text());
        let log = logs::text();
        for (what, text) in [("responses", &seen), ("logs", &log)] {
            assert!(!text.contains(API_SECRET), "API secret in {what}");
            for secret in [ALICE, "unknown-Cred-42x", "c2VjcmV0LWJhc2lj"] {
                assert!(
                    !text.contains(secret),
                    "presented credential {secret} in {what}"
                );
            }
        }
    }
}
