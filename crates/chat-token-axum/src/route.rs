//! The token route, and the translation between axum's types and the core's.

use std::borrow::Cow;
use std::net::SocketAddr;

use axum::Router;
use std::future::Future;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts, Request, State};
use axum::http::request::Parts;
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

/// The token endpoint as a handler, for routers built by hand: the router's state is the
/// [`TokenService`] (`.with_state(service)`), or a state it implements
/// `FromRef` for. It answers at the path it is routed at only; [`router_at`] also
/// routes the path with a trailing `/`.
///
/// ```
/// use axum::{Router, routing::any};
/// use chat_token_axum::{TokenService, token_endpoint};
///
/// fn app(service: TokenService) -> Router {
///     Router::new()
///         .route("/api/chat-token", any(token_endpoint))
///         .with_state(service)
/// }
/// ```
pub fn token_endpoint(
    State(service): State<TokenService>,
    request: Request,
) -> impl Future<Output = Response> + Send {
    // The request is converted before the answer's future is made, so that the future
    // axum keeps for each request does not hold the framework's request as well.
    let incoming = incoming_request(&request.into_parts().0);
    async move { render(service.handle(&incoming).await) }
}

/// The request as the core sees it: method, path, query, every header and the peer
/// address (from `ConnectInfo<SocketAddr>`, when the app is served with
/// `into_make_service_with_connect_info::<SocketAddr>()`), exactly what the ready routes
/// pass to [`TokenService::answer`], so that a hand-written handler gets the same CORS
/// answers, `Origin` checks and trusted-proxy decisions. The [`Incoming`] extractor
/// does this for a handler's arguments.
pub fn incoming_request(parts: &Parts) -> IncomingRequest {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    snapshot(&parts.method, &parts.uri, &parts.headers, peer)
}

/// Extracts the request as the core sees it ([`incoming_request`]), for a hand-written
/// token handler: pass it to [`TokenService::answer`] and return the [`TokenReply`].
///
/// ```
/// use axum::Router;
/// use axum::extract::State;
/// use axum::routing::any;
/// use chat_token_axum::{Incoming, Resolved, TokenReply, TokenService};
///
/// #[derive(Clone)]
/// struct AppState { tokens: TokenService }
///
/// // Every method: the core answers 405 and CORS preflights itself.
/// async fn token(State(app): State<AppState>, Incoming(request): Incoming) -> TokenReply {
///     let user = request.header("x-demo-user").map(str::to_owned);
///     TokenReply(app.tokens.answer(&request, async move {
///         user.map(Resolved::new).ok_or_else(|| chat_token_axum::ResolveError::missing("sign in first"))
///     }).await)
/// }
///
/// fn app(tokens: TokenService) -> Router {
///     Router::new().route("/token", any(token)).with_state(AppState { tokens })
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Incoming(pub IncomingRequest);

impl<S: Send + Sync> FromRequestParts<S> for Incoming {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(incoming_request(parts)))
    }
}

/// Copies what the core needs out of an axum request.
fn snapshot(
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
    // The body's buffer becomes the response's as it is; the reply's headers are the
    // only ones (no content type of axum's own, none on a preflight's empty 204).
    let body = if reply.body.is_empty() {
        axum::body::Body::empty()
    } else {
        axum::body::Body::from(reply.body)
    };
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.reserve(reply.headers.len());
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
        let service = TokenService::from_ref(&state);
        login_endpoint(service, state, request.into_parts().0, identify)
    };
    Router::new()
        .route(path, any(handler.clone()))
        .route(&format!("{path}/"), any(handler))
}

/// As [`router_with`], with the [`TokenService`] given here rather than taken from the
/// router's state: the route fits a router of any state `S` (an app's own `AppState`,
/// with no `FromRef` implementation and no field for the service), and `E` may be an
/// extractor that needs that state.
///
/// ```
/// use axum::Router;
/// use axum::routing::get;
/// use chat_token_axum::{ResolveError, Resolved, TokenService};
///
/// // The app's own state and login extractor.
/// #[derive(Clone)]
/// struct AppState { greeting: &'static str }
/// struct User(String);
/// impl axum::extract::FromRequestParts<AppState> for User {
///     type Rejection = axum::http::StatusCode;
///     async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &AppState) -> Result<Self, Self::Rejection> {
///         parts.headers.get("x-demo-user").and_then(|v| v.to_str().ok())
///             .map(|u| User(u.to_owned())).ok_or(axum::http::StatusCode::UNAUTHORIZED)
///     }
/// }
///
/// fn app(service: TokenService) -> Router {
///     Router::new()
///         .route("/", get(|axum::extract::State(s): axum::extract::State<AppState>| async move { s.greeting }))
///         .merge(chat_token_axum::router_for(service, |User(name): User| async move {
///             Ok::<_, ResolveError>(Resolved::new(name))
///         }))
///         .with_state(AppState { greeting: "hello" })
/// }
/// ```
pub fn router_for<S, E, F, Fut>(service: TokenService, identify: F) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    E: FromRequestParts<S> + Send + 'static,
    F: Fn(E) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Resolved, ResolveError>> + Send + 'static,
{
    router_for_at(DEFAULT_TOKEN_PATH, service, identify)
}

/// As [`router_for`], at `path` (and `path/`).
pub fn router_for_at<S, E, F, Fut>(path: &str, service: TokenService, identify: F) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    E: FromRequestParts<S> + Send + 'static,
    F: Fn(E) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Resolved, ResolveError>> + Send + 'static,
{
    let path = path.trim_end_matches('/');
    let handler = move |State(state): State<S>, request: Request| {
        let (service, identify) = (service.clone(), identify.clone());
        login_endpoint(service, state, request.into_parts().0, identify)
    };
    Router::new()
        .route(path, any(handler.clone()))
        .route(&format!("{path}/"), any(handler))
}

async fn login_endpoint<S, E, F, Fut>(
    service: TokenService,
    state: S,
    mut parts: Parts,
    identify: F,
) -> Response
where
    S: Send + Sync,
    E: FromRequestParts<S>,
    F: Fn(E) -> Fut,
    Fut: Future<Output = Result<Resolved, ResolveError>>,
{
    let incoming = incoming_request(&parts);
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
