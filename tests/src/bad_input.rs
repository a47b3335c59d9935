//! The bad-input matrix: malformed credentials, odd methods, bodies, query strings and
//! path tricks, each with one defined answer on every adapter, and the server serving
//! afterwards.
//!
//! The cases stand in the `cases!` block at the end, which is also the list
//! [`suite!`](crate::suite!) runs them by (in its `bad_input` submodule): two tables whose
//! rows are cases (a request sent through [`check`], a proxy address form through
//! `check_proxy`), then a case written out as a function.

use crate::fixtures::ALICE;
use crate::harness::Harness;
use crate::http::{Response, get, send_raw};

/// What a bad input must get.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// A token for alice: the input is odd but fine.
    Token,
    /// Our JSON error with this status and code.
    Error(u16, &'static str),
    /// 401 with our JSON error, `invalid_credentials` or `missing_credentials` (rocket
    /// drops header values that are not UTF-8 before the adapter sees them).
    Unauthorized,
    /// 405 with `Allow: GET, POST` and our JSON body.
    MethodNotAllowed,
    /// 404: not the token route; the framework answers.
    NotFound,
    /// A 4xx from the HTTP layer before any route runs (400, 404, 414, 431, ...).
    ClientError,
}

/// A raw request: method, target, extra header lines, body; Host and Connection are added.
pub fn raw(method: &str, target: &str, headers: &[&[u8]], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n")
        .into_bytes();
    for h in headers {
        out.extend_from_slice(h);
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// `Authorization: <value>` as a header line.
pub fn auth(value: &[u8]) -> Vec<u8> {
    let mut line = b"Authorization: ".to_vec();
    line.extend_from_slice(value);
    line
}

fn bearer_alice() -> Vec<u8> {
    auth(format!("Bearer {ALICE}").as_bytes())
}

/// Sends `request` and checks the answer against `expect`, then that the server still
/// mints tokens.
pub fn check<H: Harness>(request: &[u8], expect: Expect) {
    let (server, _) = crate::cases::start::<H>();
    let head = request.starts_with(b"HEAD ");
    let r = send_raw(server.addr, request, head);
    let what = String::from_utf8_lossy(&request[..request.len().min(120)]).into_owned();
    verify(&r, expect, &what);
    let again = get(server.addr, "/token", Some(ALICE));
    assert_eq!(again.status, 200, "server stopped serving after {what:?}");
}

fn json_error(r: &Response, what: &str) -> serde_json::Value {
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "{what:?}"
    );
    let body = r.json();
    let keys = body.as_object().map(|o| o.len());
    assert_eq!(keys, Some(2), "{what:?}: {}", r.body);
    body
}

fn verify(r: &Response, expect: Expect, what: &str) {
    match expect {
        Expect::Token => {
            assert_eq!(r.status, 200, "{what:?}: {}", r.body);
            assert_eq!(r.json()["identity"], "alice", "{what:?}");
        }
        Expect::Error(status, code) => {
            assert_eq!(r.status, status, "{what:?}: {}", r.body);
            assert_eq!(json_error(r, what)["error"], code, "{what:?}");
        }
        Expect::Unauthorized => {
            assert_eq!(r.status, 401, "{what:?}: {}", r.body);
            let code = json_error(r, what)["error"].clone();
            assert!(
                code == "invalid_credentials" || code == "missing_credentials",
                "{what:?}: {code}"
            );
        }
        Expect::MethodNotAllowed => {
            assert_eq!(r.status, 405, "{what:?}: {}", r.body);
            assert_eq!(r.header("allow"), Some("GET, POST"), "{what:?}");
            assert_eq!(json_error(r, what)["error"], "method_not_allowed");
        }
        Expect::NotFound => assert_eq!(r.status, 404, "{what:?}: {}", r.body),
        Expect::ClientError => {
            assert!((400..500).contains(&r.status), "{what:?}: {}", r.status);
            assert_ne!(r.status, 200);
        }
    }
}

/// Starts `H` with a service that trusts `X-Forwarded-User` from `proxies`, sends it from
/// the test client (peer 127.0.0.1) and checks the answer.
fn check_proxy<H: Harness>(proxies: &[&str], expect: Expect) {
    crate::logs::install();
    let server = H::start(crate::fixtures::proxy_service(proxies));
    let r = crate::http::send(
        server.addr,
        "GET",
        "/token",
        &[("X-Forwarded-User", b"alice")],
        b"",
    );
    verify(&r, expect, &format!("trusted proxies {proxies:?}"));
}

cases! { bad_input => __suite_bad_input;
    table check("Bad input") {
        auth_no_scheme: raw("GET", "/token", &[&auth(ALICE.as_bytes())], b"") => Expect::Error(401, "invalid_credentials");
        auth_two_spaces: raw("GET", "/token", &[&auth(format!("Bearer  {ALICE}").as_bytes())], b"") => Expect::Token;
        auth_tab_separator: raw("GET", "/token", &[&auth(format!("Bearer\t{ALICE}").as_bytes())], b"") => Expect::Error(401, "invalid_credentials");
        auth_trailing_garbage: raw("GET", "/token", &[&auth(format!("Bearer {ALICE} junk").as_bytes())], b"") => Expect::Error(401, "invalid_credentials");
        auth_trailing_space: raw("GET", "/token", &[&auth(format!("Bearer {ALICE}   ").as_bytes())], b"") => Expect::Token;
        auth_leading_space: raw("GET", "/token", &[&auth(format!("   Bearer {ALICE}").as_bytes())], b"") => Expect::Token;
        auth_scheme_only: raw("GET", "/token", &[&auth(b"bearer")], b"") => Expect::Error(401, "invalid_credentials");
        auth_scheme_and_spaces: raw("GET", "/token", &[&auth(b"Bearer    ")], b"") => Expect::Error(401, "invalid_credentials");
        auth_other_scheme: raw("GET", "/token", &[&auth(format!("Token {ALICE}").as_bytes())], b"") => Expect::Error(401, "invalid_credentials");
        auth_digest_scheme: raw("GET", "/token", &[&auth(b"Digest username=\"alice\", nonce=\"x\"")], b"") => Expect::Error(401, "invalid_credentials");
        auth_equals_instead_of_space: raw("GET", "/token", &[&auth(format!("Bearer={ALICE}").as_bytes())], b"") => Expect::Error(401, "invalid_credentials");
        auth_quoted_token: raw("GET", "/token", &[&auth(format!("Bearer \"{ALICE}\"").as_bytes())], b"") => Expect::Error(401, "invalid_credentials");
        auth_comma_list: raw("GET", "/token", &[&auth(format!("Bearer {ALICE}, Basic YTpi").as_bytes())], b"") => Expect::Error(401, "invalid_credentials");
        auth_repeated_identical: raw("GET", "/token", &[&bearer_alice(), &bearer_alice()], b"") => Expect::Error(401, "invalid_credentials");
        auth_lower_case_name: raw("GET", "/token", &[format!("authorization: Bearer {ALICE}").as_bytes()], b"") => Expect::Token;
        auth_upper_case_name: raw("GET", "/token", &[format!("AUTHORIZATION: Bearer {ALICE}").as_bytes()], b"") => Expect::Token;
        auth_utf8_token: raw("GET", "/token", &[&auth("Bearer tøken".as_bytes())], b"") => Expect::Error(401, "invalid_credentials");
        auth_latin1_bytes: raw("GET", "/token", &[&auth(b"Bearer t\xf8ken")], b"") => Expect::Unauthorized;
        auth_nul_byte: raw("GET", "/token", &[&auth(b"Bearer a\0b")], b"") => Expect::ClientError;
        auth_control_byte: raw("GET", "/token", &[&auth(b"Bearer a\x01b")], b"") => Expect::ClientError;
        auth_4kb_token: raw("GET", "/token", &[&auth(format!("Bearer {}", "a".repeat(4097)).as_bytes())], b"") => Expect::Error(401, "invalid_credentials");
        auth_8kb_value: raw("GET", "/token", &[&auth(format!("Bearer {}", "b".repeat(8 * 1024)).as_bytes())], b"") => Expect::ClientError;
        auth_64kb_value: raw("GET", "/token", &[&auth(format!("Bearer {}", "c".repeat(64 * 1024)).as_bytes())], b"") => Expect::ClientError;
        auth_next_to_garbage_cookie: raw("GET", "/token", &[&bearer_alice(), b"Cookie: \x01;;==;session"], b"") => Expect::ClientError;
        auth_with_odd_cookie: raw("GET", "/token", &[&bearer_alice(), b"Cookie: ;;==;session=\"x"], b"") => Expect::Token;
        method_trace: raw("TRACE", "/token", &[&bearer_alice()], b"") => Expect::MethodNotAllowed;
        method_connect: raw("CONNECT", "/token", &[&bearer_alice()], b"") => Expect::MethodNotAllowed;
        method_options_preflight: raw("OPTIONS", "/token", &[b"Origin: https://app.example", b"Access-Control-Request-Method: POST"], b"") => Expect::MethodNotAllowed;
        method_delete_with_body: raw("DELETE", "/token", &[&bearer_alice()], b"{}") => Expect::MethodNotAllowed;
        post_json_body: raw("POST", "/token", &[&bearer_alice(), b"Content-Type: application/json"], br#"{"identity":"mallory","ttl":99999}"#) => Expect::Token;
        post_invalid_json_body: raw("POST", "/token", &[&bearer_alice(), b"Content-Type: application/json"], b"{{{{") => Expect::Token;
        post_form_body: raw("POST", "/token", &[&bearer_alice(), b"Content-Type: application/x-www-form-urlencoded"], b"identity=mallory") => Expect::Token;
        post_64kb_body: raw("POST", "/token", &[&bearer_alice()], &vec![b'x'; 64 * 1024]) => Expect::Token;
        post_chunked_body: {
            let mut r = raw("POST", "/token", &[&bearer_alice(), b"Transfer-Encoding: chunked"], b"");
            r.extend_from_slice(b"5\r\nhello\r\n0\r\n\r\n");
            r
        } => Expect::Token;
        post_empty_body: raw("POST", "/token", &[&bearer_alice(), b"Content-Length: 0"], b"") => Expect::Token;
        get_with_body: raw("GET", "/token", &[&bearer_alice()], b"identity=mallory") => Expect::Token;
        query_identity_ignored: raw("GET", "/token?identity=mallory&grants=all", &[&bearer_alice()], b"") => Expect::Token;
        query_2kb: raw("GET", &format!("/token?pad={}", "q".repeat(2048)), &[&bearer_alice()], b"") => Expect::Token;
        query_percent_encoded: raw("GET", "/token?x=%20%E2%9C%93&y=%41", &[&bearer_alice()], b"") => Expect::Token;
        query_empty: raw("GET", "/token?", &[&bearer_alice()], b"") => Expect::Token;
        path_trailing_slash: raw("GET", "/token/", &[&bearer_alice()], b"") => Expect::Token;
        path_upper_case: raw("GET", "/TOKEN", &[&bearer_alice()], b"") => Expect::NotFound;
        path_nul_escape: raw("GET", "/token%00", &[&bearer_alice()], b"") => Expect::ClientError;
        path_dot_segments: raw("GET", "/x/../token/..", &[&bearer_alice()], b"") => Expect::ClientError;
        path_suffix: raw("GET", "/tokens", &[&bearer_alice()], b"") => Expect::NotFound;
        path_sub_resource: raw("GET", "/token/extra", &[&bearer_alice()], b"") => Expect::NotFound;
        http10_request: format!("GET /token HTTP/1.0\r\nAuthorization: Bearer {ALICE}\r\n\r\n").into_bytes() => Expect::Token;
        absolute_form_target: raw("GET", "http://localhost/token", &[&bearer_alice()], b"") => Expect::Token;
    }

    // The client is 127.0.0.1. Only a network that holds it, in whatever form it is
    // written, lets its user header through.
    table check_proxy("Trusted-proxy address form") {
        proxy_mapped_other_address: ["::ffff:10.9.9.9"] => Expect::Error(401, "invalid_credentials");
        proxy_mapped_client_address: ["::ffff:127.0.0.1"] => Expect::Token;
        proxy_mapped_client_network: ["::ffff:127.0.0.0/104"] => Expect::Token;
        proxy_mapped_other_network: ["::ffff:10.0.0.0/104"] => Expect::Error(401, "invalid_credentials");
        proxy_ipv6_loopback_only: ["::1"] => Expect::Error(401, "invalid_credentials");
        proxy_ipv6_network_over_mapped_space: ["::/64"] => Expect::Error(401, "invalid_credentials");
        proxy_neighbour_address: ["127.0.0.2"] => Expect::Error(401, "invalid_credentials");
        proxy_client_among_others: ["10.9.9.9", "::ffff:127.0.0.1/128"] => Expect::Token;
    }

    /// A connection that sends half a header line and then nothing holds no other request
    /// up: good requests on other connections keep getting tokens while it stays open.
    pub fn slow_header_does_not_block_good_requests<H: Harness>() {
        use std::io::Write as _;
        let (server, _) = crate::cases::start::<H>();
        let mut idle: Vec<std::net::TcpStream> = Vec::new();
        for _ in 0..8 {
            let mut stream = std::net::TcpStream::connect(server.addr).expect("connect");
            stream
                .write_all(b"GET /token HTTP/1.1\r\nHost: localhost\r\nAuthor")
                .expect("half a header");
            idle.push(stream);
        }
        for _ in 0..5 {
            let r = get(server.addr, "/token", Some(ALICE));
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(r.json()["identity"], "alice");
        }
        drop(idle);
        let again = get(server.addr, "/token", Some(ALICE));
        assert_eq!(again.status, 200);
    }
}
