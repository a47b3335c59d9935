//! The token route, and the translation between axum's types and the core's.

use std::borrow::Cow;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, FromRef, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use chat_token_core::{DEFAULT_TOKEN_PATH, HttpReply, IncomingRequest, TokenService};

/// A router with the token endpoint at `/token` (and `/token/`, as rocket matches it
/// too), every method routed to it (the core answers 405 with `Allow` for those other
/// than GET and POST).
///
/// The [`TokenService`] comes from the router's state: call `.with_state(service)`, or
/// implement `FromRef<YourState> for TokenService`.
pub fn router<S>() -> Router<S>
where
    TokenService: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    router_at(DEFAULT_TOKEN_PATH)
}

/// As [`router`], with the token endpoint at `path`.
pub fn router_at<S>(path: &str) -> Router<S>
where
    TokenService: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    let path = path.trim_end_matches('/');
    Router::new()
        .route(path, any(token_endpoint))
        .route(&format!("{path}/"), any(token_endpoint))
}

/// The token endpoint as a handler, for routers built by hand.
pub async fn token_endpoint(State(service): State<TokenService>, request: Request) -> Response {
    let incoming = snapshot(
        request.method(),
        request.uri(),
        request.headers(),
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0),
    );
    render(service.handle(&incoming).await)
}

/// Copies what the core needs out of an axum request.
pub(crate) fn snapshot(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> IncomingRequest {
    let mut req = IncomingRequest::new(method.as_str(), uri.path());
    if let Some(query) = uri.query() {
        req = req.with_query(query);
    }
    if let Some(peer) = peer {
        req = req.with_peer(peer);
    }
    for (name, value) in headers {
        req.push_header(name.as_str(), value.as_bytes());
    }
    req
}

/// Turns the core's reply into an axum response, as it is.
pub(crate) fn render(reply: HttpReply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, reply.body).into_response();
    let headers = response.headers_mut();
    for (name, value) in reply.headers {
        let value = match value {
            Cow::Borrowed(v) => Ok(HeaderValue::from_static(v)),
            Cow::Owned(v) => HeaderValue::try_from(v),
        };
        if let Ok(value) = value {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    response
}
