//! Hand-written token handlers: an app with a state of its own and its own login writes
//! its token route by hand with the adapter's `Incoming` (the request as the core sees
//! it) and `TokenReply`, and gets exactly what the ready routes give (405, CORS, the
//! peer address for a trusted proxy); the ready route given the service directly fits
//! that app without a `FromRef` or managed state.
//!
//! The cases stand in the `cases!` block at the end, which is also the list
//! [`suite!`](crate::suite!) runs them by (in its `hand_written` submodule).

use crate::cases::{assert_error, assert_token_ok};
use crate::fixtures::{APP_ORIGIN, APP_STATE, APP_USER_HEADER, cors_service, proxy_service};
use crate::harness::{Harness, Server};
use crate::http::{Response, send};
use crate::logs;

/// `method path` with `headers`.
fn ask(server: &Server, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let headers: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
    send(server.addr, method, path, &headers, b"")
}

cases! { hand_written => __suite_hand_written;
    /// A hand-written handler answers as the ready route does: a token for the app's
    /// signed-in user on GET and POST, 401 `missing_credentials` without one, 405 with
    /// `Allow` for other methods (rocket: next to its own GET and POST routes,
    /// `other_methods_at`).
    pub fn hand_written_handler_answers_as_the_ready_route<H: Harness>() {
        logs::install();
        let server = H::start_hand_written(cors_service());
        for method in ["GET", "POST"] {
            let r = ask(&server, method, "/token", &[(APP_USER_HEADER, "alice")]);
            assert_token_ok(&r, "alice");
            assert_eq!(r.header("cache-control"), Some("no-store"), "{method}");
        }
        let r = ask(&server, "GET", "/token", &[]);
        assert_error(&r, 401, "missing_credentials");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        for method in ["DELETE", "PUT", "PATCH"] {
            let r = ask(&server, method, "/token", &[(APP_USER_HEADER, "alice")]);
            assert_error(&r, 405, "method_not_allowed");
            assert_eq!(r.header("allow"), Some("GET, POST"), "{method}");
        }
    }

    /// A hand-written handler keeps the service's CORS policy: a preflight from an
    /// allowed origin is 204 with the CORS headers, from another origin 403; tokens and
    /// errors to an allowed origin carry `Access-Control-Allow-Origin`.
    pub fn hand_written_handler_keeps_cors<H: Harness>() {
        logs::install();
        let server = H::start_hand_written(cors_service());
        let preflight = ask(&server, "OPTIONS", "/token", &[("Origin", APP_ORIGIN), ("Access-Control-Request-Method", "POST")]);
        assert_eq!(preflight.status, 204, "{}", preflight.body);
        assert_eq!(preflight.header("access-control-allow-origin"), Some(APP_ORIGIN));
        assert_eq!(preflight.header("access-control-allow-methods"), Some("GET, POST"));
        let other = ask(&server, "OPTIONS", "/token", &[("Origin", "https://evil.example"), ("Access-Control-Request-Method", "POST")]);
        assert_error(&other, 403, "forbidden");
        assert_eq!(other.header("access-control-allow-origin"), None);
        let ok = ask(&server, "GET", "/token", &[("Origin", APP_ORIGIN), (APP_USER_HEADER, "alice")]);
        assert_token_ok(&ok, "alice");
        assert_eq!(ok.header("access-control-allow-origin"), Some(APP_ORIGIN));
        let denied = ask(&server, "GET", "/token", &[("Origin", APP_ORIGIN)]);
        assert_error(&denied, 401, "missing_credentials");
        assert_eq!(denied.header("access-control-allow-origin"), Some(APP_ORIGIN));
    }

    /// The request a hand-written handler passes on carries the peer address: a proxy
    /// header is trusted from the trusted network (loopback here), and only from there.
    pub fn hand_written_handler_carries_the_peer<H: Harness>() {
        logs::install();
        let server = H::start_hand_written(proxy_service(&["127.0.0.1"]));
        let r = ask(&server, "GET", "/token-resolver", &[("X-Forwarded-User", "bob")]);
        assert_token_ok(&r, "bob");
        let elsewhere = H::start_hand_written(proxy_service(&["10.9.9.9"]));
        let r = ask(&elsewhere, "GET", "/token-resolver", &[("X-Forwarded-User", "bob")]);
        assert_eq!(r.status, 401, "{}", r.body);
    }

    /// The ready route given the service directly fits an app with a state of its own
    /// and a login extractor that needs that state: tokens for the signed-in user, 401
    /// without one, 405 for other methods, and the app's own routes keep their state.
    pub fn route_given_the_service_fits_an_app_with_its_own_state<H: Harness>() {
        logs::install();
        let server = H::start_hand_written(cors_service());
        let state = ask(&server, "GET", "/state", &[]);
        assert_eq!((state.status, state.body.as_str()), (200, APP_STATE));
        let r = ask(&server, "GET", "/token-for", &[(APP_USER_HEADER, "carol")]);
        assert_token_ok(&r, "carol");
        let r = ask(&server, "GET", "/token-for", &[]);
        assert_error(&r, 401, "missing_credentials");
        let r = ask(&server, "DELETE", "/token-for", &[(APP_USER_HEADER, "carol")]);
        assert_error(&r, 405, "method_not_allowed");
    }
}
