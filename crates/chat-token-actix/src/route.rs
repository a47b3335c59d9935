//! The token route, and the translation between actix-web's types and the core's.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use std::future::Future;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, Responder, web};
use chat_token_core::{
    IncomingRequest, ResolveError, Resolved, TokenService, http::DEFAULT_TOKEN_PATH,
    http::HttpReply, http::Rejection,
};

/// What to add when no [`TokenService`] is registered; logged with the 500.
pub(crate) const HOW_TO_REGISTER: &str =
    "register it with `App::new().app_data(web::Data::new(service))`";

/// Adds the token endpoint at `/token` (and `/token/`, as rocket matches it too) to an
/// app or scope; every method is routed to it (the core answers 405 with `Allow` for
/// those other than GET and POST).
///
/// The [`TokenService`] comes from app data: `App::new().app_data(web::Data::new(service))`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    configure_at(DEFAULT_TOKEN_PATH)(cfg);
}

/// As [`configure`], with the token endpoint at `path`.
pub fn configure_at(path: &str) -> impl FnOnce(&mut web::ServiceConfig) + '_ {
    let path = path.trim_end_matches('/');
    move |cfg| {
        // Two static resources: a resource with several paths is matched by regex.
        for path in [path.to_owned(), format!("{path}/")] {
            cfg.service(web::resource(path).default_service(web::to(token_endpoint)));
        }
    }
}

/// The token endpoint as a handler, for apps that route it by hand.
pub async fn token_endpoint(req: HttpRequest) -> HttpResponse {
    let Some(service) = req.app_data::<web::Data<TokenService>>() else {
        return render(Rejection::not_configured(HOW_TO_REGISTER).reply());
    };
    render(service.handle(&incoming_request(&req)).await)
}

/// The registered service, if any.
pub(crate) fn service(req: &HttpRequest) -> Option<TokenService> {
    req.app_data::<web::Data<TokenService>>()
        .map(|data| data.get_ref().clone())
}

/// The request as the core sees it: method, path, query, every header and the peer
/// address, exactly what the ready routes pass to [`TokenService::answer`], so that a
/// hand-written handler gets the same CORS answers, `Origin` checks and trusted-proxy
/// decisions. The [`Incoming`] extractor does this for a handler's arguments.
pub fn incoming_request(req: &HttpRequest) -> IncomingRequest {
    let mut incoming = IncomingRequest::new(req.method().as_str(), req.path());
    if !req.query_string().is_empty() {
        incoming = incoming.with_query(req.query_string());
    }
    if let Some(peer) = req.peer_addr() {
        incoming = incoming.with_peer(peer);
    }
    for (name, value) in req.headers() {
        incoming.push_header(name.as_str(), value.as_bytes());
    }
    incoming
}

/// Turns the core's reply into an actix-web response, as it is.
pub(crate) fn render(reply: HttpReply) -> HttpResponse {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    for (name, value) in reply.headers {
        let value = match value {
            Cow::Borrowed(v) => Ok(HeaderValue::from_static(v)),
            Cow::Owned(v) => HeaderValue::try_from(v),
        };
        if let Ok(value) = value {
            response.insert_header((HeaderName::from_static(name), value));
        }
    }
    response.body(reply.body)
}

/// The token route at [`DEFAULT_TOKEN_PATH`], the caller identified by the app's own
/// login: `E` is any extractor the app already uses (`actix_session::Session`,
/// `actix_identity::Identity`, its own), and `identify` turns it into the
/// identification, async (a database lookup, say). When `E` itself fails, a 5xx error
/// is answered 500 `internal` (logged), a 403 `forbidden`, anything else 401
/// `missing_credentials`. `identify`'s errors map as a resolver's do; the resolve
/// timeout and the panic guard apply to both.
///
/// ```
/// use actix_web::{App, HttpRequest, web};
/// use chat_token_actix::{ResolveError, Resolved, TokenService};
///
/// // The app's own login: here, a header set by an earlier middleware.
/// async fn identify(req: HttpRequest) -> Result<Resolved, ResolveError> {
///     match req.headers().get("x-demo-user").and_then(|v| v.to_str().ok()) {
///         Some(user) => Ok(Resolved::new(user)),
///         None => Err(ResolveError::missing("sign in first")),
///     }
/// }
///
/// fn app(service: TokenService) {
///     let _ = App::new()
///         .app_data(web::Data::new(service))
///         .configure(chat_token_actix::configure_with(identify));
/// }
/// ```
pub fn configure_with<E, F, Fut>(identify: F) -> impl FnOnce(&mut web::ServiceConfig)
where
    E: FromRequest + 'static,
    F: Fn(E) -> Fut + Clone + 'static,
    Fut: Future<Output = Result<Resolved, ResolveError>> + 'static,
{
    configure_with_at(DEFAULT_TOKEN_PATH, identify)
}

/// As [`configure_with`], at `path` (and `path/`).
pub fn configure_with_at<E, F, Fut>(path: &str, identify: F) -> impl FnOnce(&mut web::ServiceConfig)
where
    E: FromRequest + 'static,
    F: Fn(E) -> Fut + Clone + 'static,
    Fut: Future<Output = Result<Resolved, ResolveError>> + 'static,
{
    let path = path.trim_end_matches('/').to_owned();
    move |cfg| {
        for path in [path.clone(), format!("{path}/")] {
            let identify = identify.clone();
            cfg.service(
                web::resource(path).default_service(web::to(move |req: HttpRequest| {
                    let identify = identify.clone();
                    async move { login_endpoint(req, identify).await }
                })),
            );
        }
    }
}

/// As [`configure_with`], with the [`TokenService`] given here rather than registered as
/// app data: `App::new().configure(chat_token_actix::configure_for(service, identify))`
/// is the whole wiring (the service is the token route's own data, so the app's data and
/// other routes are left as they are).
///
/// ```
/// use actix_web::{App, HttpRequest};
/// use chat_token_actix::{ResolveError, Resolved, TokenService};
///
/// async fn identify(req: HttpRequest) -> Result<Resolved, ResolveError> {
///     match req.headers().get("x-demo-user").and_then(|v| v.to_str().ok()) {
///         Some(user) => Ok(Resolved::new(user)),
///         None => Err(ResolveError::missing("sign in first")),
///     }
/// }
///
/// fn app(service: TokenService) {
///     let _ = App::new().configure(chat_token_actix::configure_for(service, identify));
/// }
/// ```
pub fn configure_for<E, F, Fut>(
    service: TokenService,
    identify: F,
) -> impl FnOnce(&mut web::ServiceConfig)
where
    E: FromRequest + 'static,
    F: Fn(E) -> Fut + Clone + 'static,
    Fut: Future<Output = Result<Resolved, ResolveError>> + 'static,
{
    configure_for_at(DEFAULT_TOKEN_PATH, service, identify)
}

/// As [`configure_for`], at `path` (and `path/`).
pub fn configure_for_at<E, F, Fut>(
    path: &str,
    service: TokenService,
    identify: F,
) -> impl FnOnce(&mut web::ServiceConfig)
where
    E: FromRequest + 'static,
    F: Fn(E) -> Fut + Clone + 'static,
    Fut: Future<Output = Result<Resolved, ResolveError>> + 'static,
{
    let path = path.trim_end_matches('/').to_owned();
    move |cfg| {
        let data = web::Data::new(service);
        for path in [path.clone(), format!("{path}/")] {
            let identify = identify.clone();
            cfg.service(
                web::resource(path)
                    .app_data(data.clone())
                    .default_service(web::to(move |req: HttpRequest| {
                        let identify = identify.clone();
                        async move { login_endpoint(req, identify).await }
                    })),
            );
        }
    }
}

/// Extracts the request as the core sees it ([`incoming_request`]), for a hand-written
/// token handler: pass it to [`TokenService::answer`] and return the [`TokenReply`].
///
/// ```
/// use actix_web::{App, web};
/// use chat_token_actix::{Incoming, ResolveError, Resolved, TokenReply, TokenService};
///
/// // Every method: the core answers 405 and CORS preflights itself.
/// async fn token(tokens: web::Data<TokenService>, Incoming(request): Incoming) -> TokenReply {
///     let user = request.header("x-demo-user").map(str::to_owned);
///     TokenReply(tokens.answer(&request, async move {
///         user.map(Resolved::new).ok_or_else(|| ResolveError::missing("sign in first"))
///     }).await)
/// }
///
/// fn app(tokens: TokenService) {
///     let _ = App::new()
///         .app_data(web::Data::new(tokens))
///         .route("/token", web::route().to(token));
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Incoming(pub IncomingRequest);

impl FromRequest for Incoming {
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        std::future::ready(Ok(Self(incoming_request(req))))
    }
}

async fn login_endpoint<E, F, Fut>(req: HttpRequest, identify: F) -> HttpResponse
where
    E: FromRequest,
    F: Fn(E) -> Fut,
    Fut: Future<Output = Result<Resolved, ResolveError>>,
{
    let Some(service) = service(&req) else {
        return render(Rejection::not_configured(HOW_TO_REGISTER).reply());
    };
    let incoming = incoming_request(&req);
    let outcome = async {
        let extracted = E::from_request(&req, &mut Payload::None)
            .await
            .map_err(|err| {
                let err: actix_web::Error = err.into();
                let status = err.as_response_error().status_code().as_u16();
                let extractor = std::any::type_name::<E>();
                (
                    status,
                    format!("{extractor} answered {:?}", err.to_string()),
                )
            });
        match extracted {
            Ok(extracted) => identify(extracted).await,
            Err((status, detail)) => Err(ResolveError::from_login_rejection(status, detail)),
        }
    };
    render(service.answer(&incoming, outcome).await)
}

/// The core's reply as an actix-web response: what a hand-written handler returns after
/// [`TokenService::answer`].
#[derive(Debug, Clone)]
pub struct TokenReply(pub HttpReply);

impl Responder for TokenReply {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _req: &HttpRequest) -> HttpResponse {
        render(self.0)
    }
}
