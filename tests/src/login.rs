//! The framework-native cases: an existing app signs its users in through the
//! framework's real session library (tower-sessions, actix-session, rocket's private
//! cookies), and the adapter's token route takes the identity from that session.
//!
//! The cases stand in the `cases!` block at the end, which is also the list
//! [`suite!`](crate::suite!) runs them by (in its `login` submodule).

use std::time::Duration;

use crate::fixtures::{APP_LOGIN_PAGE, APP_ORIGIN, INTERNAL_DETAIL, issuer, login_service};
use crate::harness::{Harness, Server};
use crate::http::{Response, send};
use crate::logs;

/// The cookies a browser would hold for one server.
#[derive(Debug, Default, Clone)]
pub struct Jar(Vec<(String, String)>);

impl Jar {
    /// Takes the `Set-Cookie` headers of `r`, as a browser does: a cookie set again
    /// replaces the old one; an empty value, `Max-Age=0` or an expiry in the past
    /// removes it.
    pub fn take(&mut self, r: &Response) {
        for (name, value) in &r.headers {
            if name != "set-cookie" {
                continue;
            }
            let mut parts = value.split(';');
            let Some((cookie, content)) = parts.next().and_then(|p| p.trim().split_once('='))
            else {
                continue;
            };
            let attributes: Vec<String> = parts.map(|a| a.trim().to_ascii_lowercase()).collect();
            let removed = content.is_empty()
                || attributes.iter().any(|a| a == "max-age=0")
                || attributes
                    .iter()
                    .any(|a| a.starts_with("expires=") && a.contains("1970"));
            self.0.retain(|(n, _)| n != cookie);
            if !removed {
                self.0.push((cookie.to_owned(), content.to_owned()));
            }
        }
    }

    /// The `Cookie` header value.
    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The same cookies with each value changed by `f`.
    fn map(&self, f: impl Fn(&str) -> String) -> Self {
        Self(self.0.iter().map(|(n, v)| (n.clone(), f(v))).collect())
    }
}

/// `method path` with the jar's cookies (if any) and `extra` headers.
fn request(
    server: &Server,
    method: &str,
    path: &str,
    jar: &Jar,
    extra: &[(&str, &[u8])],
) -> Response {
    let cookie = jar.header();
    let mut headers: Vec<(&str, &[u8])> = extra.to_vec();
    if !cookie.is_empty() {
        headers.push(("Cookie", cookie.as_bytes()));
    }
    send(server.addr, method, path, &headers, b"")
}

/// Signs `user` in; the jar holds the session cookie afterwards.
fn sign_in(server: &Server, user: &str) -> Jar {
    let mut jar = Jar::default();
    let r = request(server, "POST", &format!("/login?user={user}"), &jar, &[]);
    assert!(
        (200..300).contains(&r.status),
        "login: {} {}",
        r.status,
        r.body
    );
    jar.take(&r);
    assert!(!jar.0.is_empty(), "login set no cookie: {:?}", r.headers);
    jar
}

fn start<H: Harness>() -> Server {
    logs::install();
    H::start_login(login_service())
}

fn token(server: &Server, jar: &Jar) -> Response {
    request(server, "GET", "/token", jar, &[])
}

fn assert_token_for(r: &Response, identity: &str) -> serde_json::Value {
    crate::cases::assert_token_ok(r, identity)
}

fn assert_error(r: &Response, status: u16, code: &str) {
    crate::cases::assert_error(r, status, code);
}

cases! { login => __suite_login;
    /// Signed in: the token names the session's user.
    pub fn login_session_gives_a_token<H: Harness>() {
        let server = start::<H>();
        let jar = sign_in(&server, "alice");
        let claims = assert_token_for(&token(&server, &jar), "alice");
        assert_eq!(claims["grants"]["identity"], "alice");
        let jar = sign_in(&server, "bob");
        assert_token_for(&token(&server, &jar), "bob");
    }

    /// No session: 401 `missing_credentials` with `WWW-Authenticate: Bearer`.
    pub fn login_without_session_is_missing_credentials<H: Harness>() {
        let server = start::<H>();
        let r = token(&server, &Jar::default());
        assert_error(&r, 401, "missing_credentials");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }

    /// A session cookie changed in the middle, cut short, or made by another server (its
    /// own key or store): 401, never a token.
    pub fn login_tampered_truncated_or_foreign_cookie_is_refused<H: Harness>() {
        let server = start::<H>();
        let jar = sign_in(&server, "alice");
        let tampered = jar.map(|v| {
            let mut bytes: Vec<char> = v.chars().collect();
            let middle = bytes.len() / 2;
            bytes[middle] = if bytes[middle] == 'A' { 'B' } else { 'A' };
            bytes.into_iter().collect()
        });
        let truncated = jar.map(|v| v[..v.len() / 2].to_owned());
        let other = start::<H>();
        let foreign = sign_in(&other, "mallory");
        for (what, jar) in [
            ("tampered", tampered),
            ("truncated", truncated),
            ("foreign", foreign),
        ] {
            let r = token(&server, &jar);
            assert_eq!(r.status, 401, "{what}: {}", r.body);
            assert!(r.body.contains("credentials"), "{what}: {}", r.body);
        }
    }

    /// Signed out: 401.
    pub fn login_signed_out_is_refused<H: Harness>() {
        let server = start::<H>();
        let mut jar = sign_in(&server, "alice");
        assert_token_for(&token(&server, &jar), "alice");
        let r = request(&server, "POST", "/logout", &jar, &[]);
        assert!((200..300).contains(&r.status), "logout: {}", r.status);
        jar.take(&r);
        assert_error(&token(&server, &jar), 401, "missing_credentials");
    }

    /// The app's lookup answering forbidden, unavailable or internal: 403, 503 with
    /// `Retry-After`, 500 without the detail.
    pub fn login_lookup_errors_map_as_a_resolvers_do<H: Harness>() {
        let server = start::<H>();
        assert_error(
            &token(&server, &sign_in(&server, "forbid")),
            403,
            "forbidden",
        );
        let down = token(&server, &sign_in(&server, "down"));
        assert_error(&down, 503, "unavailable");
        assert_eq!(down.header("retry-after"), Some("7"));
        let boom = token(&server, &sign_in(&server, "boom"));
        assert_error(&boom, 500, "internal");
        assert!(!boom.all_text().contains(INTERNAL_DETAIL));
    }

    /// A panicking or hanging lookup: 500 or 503, and the server keeps serving.
    pub fn login_panicking_or_hanging_lookup_and_the_server_survives<H: Harness>() {
        let server = start::<H>();
        assert_error(&token(&server, &sign_in(&server, "panic")), 500, "internal");
        assert_error(
            &token(&server, &sign_in(&server, "hang")),
            503,
            "unavailable",
        );
        std::thread::sleep(Duration::from_millis(50));
        assert_token_for(&token(&server, &sign_in(&server, "alice")), "alice");
    }

    /// DELETE on the token route: 405 JSON with `Allow`, session or not.
    pub fn login_delete_is_405<H: Harness>() {
        let server = start::<H>();
        let jar = sign_in(&server, "alice");
        let r = request(&server, "DELETE", "/token", &jar, &[]);
        assert_error(&r, 405, "method_not_allowed");
        assert_eq!(r.header("allow"), Some("GET, POST"));
    }

    /// With a CORS policy: the preflight is answered, and tokens carry the CORS headers.
    pub fn login_cors_preflight_and_headers<H: Harness>() {
        logs::install();
        let policy = chat_token_core::cors::CorsPolicy::try_new([APP_ORIGIN])
            .and_then(|p| p.with_allow_credentials(true))
            .expect("cors policy");
        let service = chat_token_core::TokenService::without_resolver(issuer())
            .cors(policy)
            .build()
            .expect("service");
        let server = H::start_login(service);
        let preflight = request(
            &server,
            "OPTIONS",
            "/token",
            &Jar::default(),
            &[
                ("Origin", APP_ORIGIN.as_bytes()),
                ("Access-Control-Request-Method", b"GET"),
            ],
        );
        assert_eq!(preflight.status, 204, "{}", preflight.body);
        assert_eq!(
            preflight.header("access-control-allow-origin"),
            Some(APP_ORIGIN)
        );
        let jar = sign_in(&server, "alice");
        let r = request(
            &server,
            "GET",
            "/token",
            &jar,
            &[("Origin", APP_ORIGIN.as_bytes())],
        );
        assert_token_for(&r, "alice");
        assert_eq!(r.header("access-control-allow-origin"), Some(APP_ORIGIN));
    }

    /// The user policy applies to the session's user as to a resolver's.
    pub fn login_user_policy_applies<H: Harness>() {
        logs::install();
        let policy = chat_token_core::policy::UserPolicy::from_json(
            r#"{"identities":{"alice":{"ttl":600},"eve":{"deny":true}}}"#,
        )
        .expect("policy");
        let service = chat_token_core::TokenService::without_resolver(issuer())
            .user_policy(policy)
            .build()
            .expect("service");
        let server = H::start_login(service);
        let r = token(&server, &sign_in(&server, "alice"));
        let claims = assert_token_for(&r, "alice");
        assert_eq!(r.json()["expires_in"], 600);
        assert_eq!(
            claims["exp"]
                .as_u64()
                .zip(claims["nbf"].as_u64())
                .map(|(e, n)| e - n),
            Some(600)
        );
        assert_error(&token(&server, &sign_in(&server, "eve")), 403, "forbidden");
    }

    /// The app's own routes keep their own answers: its login page for a 401, and a
    /// signed-in user sees the app.
    pub fn login_app_routes_keep_their_own_pages<H: Harness>() {
        let server = start::<H>();
        let r = request(&server, "GET", "/app", &Jar::default(), &[]);
        assert_eq!(r.status, 401);
        assert_eq!(r.body, APP_LOGIN_PAGE, "{:?}", r.headers);
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with("text/html")),
            "{:?}",
            r.headers
        );
        let jar = sign_in(&server, "alice");
        let r = request(&server, "GET", "/app", &jar, &[]);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "hello alice");
    }

    /// The app's login extractor or guard itself failing with a 5xx (a session layer that is
    /// missing or does not cover the route): 500 `internal`, and the log names the
    /// extractor, so the developer knows where to look.
    pub fn login_failing_extractor_is_a_500_that_names_it<H: Harness>() {
        let server = start::<H>();
        let jar = sign_in(&server, "alice");
        let r = request(&server, "GET", "/token-broken", &jar, &[]);
        assert_error(&r, 500, "internal");
        assert!(!r.body.contains("BrokenLogin"), "{}", r.body);
        let log = logs::text();
        assert!(
            log.contains("BrokenLogin") && log.contains("HTTP 500"),
            "the log should name the failing extractor: {log}"
        );
    }
}
