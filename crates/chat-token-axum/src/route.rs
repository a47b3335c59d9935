//! The token route, and the translation between axum's types and the core's.

use std::borrow::Cow;
use std::net::SocketAddr;

use axum::Router;
use std::future::Future;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use chat_token_core::{
    IncomingRequest, ResolveError, Resolved, TokenService, http::DEFAULT_TOKEN_PATH,
    http::HttpReply,
};

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

/// The token route at [`DEFAULT_TOKEN_PATH`], the caller identified by the app's own
/// login: `E` is any extractor the app already uses (`tower_sessions::Session`, its own
/// `AuthUser`, ...), and `identify` turns it into the identification, async (a database
/// lookup, say). When `E` itself rejects the request, a 5xx rejection is answered 500
/// `internal` (logged), a 403 `forbidden`, anything else 401 `missing_credentials`.
/// `identify`'s errors map as a resolver's do; the resolve timeout and the panic guard
/// apply to both.
///
/// ```
/// use axum::Router;
/// use chat_token_axum::{ResolveError, Resolved, TokenService};
///
/// // The app's own login extractor.
/// struct User(String);
/// impl<S: Send + Sync> axum::extract::FromRequestParts<S> for User {
///     type Rejection = axum::http::StatusCode;
///     async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
///         parts.headers.get("x-demo-user").and_then(|v| v.to_str().ok())
///             .map(|u| User(u.to_owned())).ok_or(axum::http::StatusCode::UNAUTHORIZED)
///     }
/// }
///
/// fn app(service: TokenService) -> Router {
///     Router::new()
///         .merge(chat_token_axum::router_with(|User(name): User| async move {
///             Ok::<_, ResolveError>(Resolved::new(name))
///         }))
///         .with_state(service)
/// }
/// ```
pub fn router_with<S, E, F, Fut>(identify: F) -> Router<S>
where
    TokenService: FromRef<S>,
    S: Clone + Send + Sync + 'static,
    E: FromRequestParts<S> + Send + 'static,
    F: Fn(E) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Resolved, ResolveError>> + Send + 'static,
{
    router_with_at(DEFAULT_TOKEN_PATH, identify)
}

/// As [`router_with`], at `path` (and `path/`).
pub fn router_with_at<S, E, F, Fut>(path: &str, identify: F) -> Router<S>
where
    TokenService: FromRef<S>,
    S: Clone + Send + Sync + 'static,
    E: FromRequestParts<S> + Send + 'static,
    F: Fn(E) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Resolved, ResolveError>> + Send + 'static,
{
    let path = path.trim_end_matches('/');
    let handler = move |State(state): State<S>, request: Request| {
        let identify = identify.clone();
        async move { login_endpoint(state, request, identify).await }
    };
    Router::new()
        .route(path, any(handler.clone()))
        .route(&format!("{path}/"), any(handler))
}

async fn login_endpoint<S, E, F, Fut>(state: S, request: Request, identify: F) -> Response
where
    TokenService: FromRef<S>,
    S: Send + Sync,
    E: FromRequestParts<S>,
    F: Fn(E) -> Fut,
    Fut: Future<Output = Result<Resolved, ResolveError>>,
{
    let service = TokenService::from_ref(&state);
    let (mut parts, _body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let incoming = snapshot(&parts.method, &parts.uri, &parts.headers, peer);
    let outcome = async {
        // The rejection becomes a response at once: it need not be `Send`.
        let extracted = E::from_request_parts(&mut parts, &state)
            .await
            .map_err(IntoResponse::into_response);
        match extracted {
            Ok(extracted) => identify(extracted).await,
            Err(response) => {
                let status = response.status().as_u16();
                // What the extractor said (tower-sessions: "Is `SessionManagerLayer`
                // enabled?"), for the log.
                let said = axum::body::to_bytes(response.into_body(), 512)
                    .await
                    .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
                    .unwrap_or_default();
                let extractor = std::any::type_name::<E>();
                Err(ResolveError::from_login_rejection(
                    status,
                    format!("{extractor} answered {said:?}"),
                ))
            }
        }
    };
    render(service.answer(&incoming, outcome).await)
}

/// The core's reply as an axum response: what a hand-written handler returns after
/// [`TokenService::answer`].
#[derive(Debug, Clone)]
pub struct TokenReply(pub HttpReply);

impl IntoResponse for TokenReply {
    fn into_response(self) -> Response {
        render(self.0)
    }
}
