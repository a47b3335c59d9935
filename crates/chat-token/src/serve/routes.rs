//! The axum app `serve` runs: the token route, `/me`, `/metrics` when asked, and in
//! development mode the console, answered only to a loopback `Host`.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use axum::{Json, Router};
use chat_token_axum::{ResolvedIdentity, TokenRejection};
use chat_token_core::http::{ErrorCode, Rejection};
use chat_token_core::setup::DEMO_USERS;
use chat_token_core::{JwtBearerResolver, TokenService};
use metrics_exporter_prometheus::PrometheusHandle;

use super::metrics::{describe_jwt_cache_metrics, record_jwt_cache_metrics};
use super::reload::Swappable;

/// The Content-Security-Policy of the development console: its script, style and API
/// calls come from this server only; no frames, forms, plugins or base-URL tricks.
pub const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// In development mode, answers only requests addressed to a loopback name: every `Host`
/// header (and the target's authority, in absolute form) must be `localhost`, a
/// `*.localhost` name or a loopback address, with any port; anything else, a missing
/// `Host` included, is 403 `forbidden`.
pub(super) async fn loopback_host_only(request: Request, next: Next) -> Response {
    let hosts = request.headers().get_all(header::HOST);
    let named = hosts.iter().next().is_some() || request.uri().authority().is_some();
    let all_loopback = hosts
        .iter()
        .all(|h| h.to_str().is_ok_and(is_loopback_authority))
        && request
            .uri()
            .authority()
            .is_none_or(|a| is_loopback_authority(a.as_str()));
    if named && all_loopback {
        return next.run(request).await;
    }
    TokenRejection(Rejection::new(
        ErrorCode::Forbidden,
        "in development mode this server answers only requests addressed to localhost, a *.localhost name or a loopback address (the Host header names another host, or is missing)",
    ))
    .into_response()
}

/// Whether `authority` (`host[:port]`) names this machine's loopback interface.
fn is_loopback_authority(authority: &str) -> bool {
    let valid_port = |port: &str| {
        !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
    };
    if let Some(rest) = authority.strip_prefix('[') {
        let Some((address, after)) = rest.split_once(']') else {
            return false;
        };
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(valid_port);
        return port_ok && address.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    let (host, port_ok) = match authority.split_once(':') {
        Some((host, port)) => (host, valid_port(port)),
        None => (authority, true),
    };
    if !port_ok || host.is_empty() {
        return false;
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return ip.is_loopback();
    }
    let host = host.to_ascii_lowercase();
    let name_ok = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    name_ok
        && (host == "localhost"
            || host
                .strip_suffix(".localhost")
                .is_some_and(|sub| !sub.is_empty() && !sub.starts_with('.') && !sub.ends_with('.')))
}

/// The console's security headers, on every console response.
async fn console_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONSOLE_CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub(super) fn app(
    service: TokenService,
    development: bool,
    metrics: Option<PrometheusHandle>,
    jwt: Option<Arc<Swappable<JwtBearerResolver>>>,
) -> Router {
    let about = serde_json::json!({
        "service": "chat-token",
        "version": env!("CARGO_PKG_VERSION"),
        "development": development,
        "routes": {
            "/token": "GET or POST with the user's credentials: a Twilio Access Token",
            "/me": "who the resolver says the caller is",
            "/healthz": "liveness",
        },
    });
    let mut router = Router::new();
    if let Some(handle) = metrics {
        if jwt.is_some() {
            describe_jwt_cache_metrics();
        }
        router = router.route(
            "/metrics",
            get(move || {
                if let Some(jwt) = &jwt {
                    record_jwt_cache_metrics(&jwt.current().cache_stats());
                }
                let text = handle.render();
                async move { ([("content-type", "text/plain; version=0.0.4")], text) }
            }),
        );
    }
    router
        .route(
            if development { "/about" } else { "/" },
            get(move || async move { Json(about) }),
        )
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route(
            "/me",
            get(|ResolvedIdentity(user): ResolvedIdentity| async move {
                (
                    [(header::CACHE_CONTROL, "no-store")],
                    Json(serde_json::json!({ "identity": user.identity() })),
                )
            }),
        )
        .merge(chat_token_axum::router())
        .with_state(service)
}

/// The development console (development mode only): `/` is a page that gets a token for
/// a demo user, decodes it, counts down to expiry, refreshes it before then, and shows
/// whether Twilio would accept it (its script and style are `/console/app.js` and
/// `/console/app.css`, so that [`CONSOLE_CSP`] needs no inline exception);
/// `/console/users` lists the demo users and `/console/inspect` runs the inspector on a
/// token. Every console response carries [`CONSOLE_CSP`] and `X-Frame-Options: DENY`.
pub(super) fn console(service: TokenService, demo: bool) -> Router {
    let users: Vec<serde_json::Value> = if demo {
        DEMO_USERS
            .split(',')
            .filter_map(|entry| entry.split_once('='))
            .map(|(token, identity)| serde_json::json!({ "identity": identity, "token": token }))
            .collect()
    } else {
        Vec::new()
    };
    Router::new()
        .route(
            "/",
            get(|| async { axum::response::Html(include_str!("../console.html")) }),
        )
        .route(
            "/console/app.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    include_str!("../console.js"),
                )
            }),
        )
        .route(
            "/console/app.css",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
                    include_str!("../console.css"),
                )
            }),
        )
        .route(
            "/console/users",
            get(move || async move { Json(serde_json::Value::from(users)) }),
        )
        .route(
            "/console/inspect",
            axum::routing::post(move |token: String| async move {
                let verdict = match service.issuer().inspect(token.trim()) {
                    Ok(inspection) => serde_json::json!({
                        "accepted": inspection.is_accepted(),
                        "signature": format!("{:?}", inspection.signature()).to_lowercase(),
                        "problems": inspection.problems().iter().map(|p| serde_json::json!({
                            "code": p.code.code(), "message": p.message,
                        })).collect::<Vec<_>>(),
                    }),
                    Err(err) => serde_json::json!({
                        "accepted": false, "signature": "not checked",
                        "problems": [{ "code": 0, "message": err.to_string() }],
                    }),
                };
                Json(verdict)
            }),
        )
        .layer(middleware::map_response(console_headers))
}
