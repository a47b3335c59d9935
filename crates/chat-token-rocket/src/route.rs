//! The token route, and the translation between rocket's types and the core's.

use std::future::Future;
use std::io::Cursor;
use std::marker::PhantomData;

use chat_token_core::{
    IncomingRequest, ResolveError, Resolved, TokenService, http::DEFAULT_TOKEN_PATH,
    http::HttpReply, http::Rejection,
};
use rocket::http::{Method, Status};
use rocket::request::FromRequest;
use rocket::response::Responder;
use rocket::route::{BoxFuture, Handler, Outcome, Route};
use rocket::{Data, Request, Response};

/// What to add when no [`TokenService`] is managed; logged with the 500.
pub(crate) const HOW_TO_REGISTER: &str = "register it with `rocket::build().manage(service)`";

/// Every method rocket routes; all go to the endpoint, which answers 405 with `Allow` for
/// those other than GET and POST. (Rocket itself answers 400 to a method it does not
/// know, before any route.)
const METHODS: [Method; 9] = [
    Method::Get,
    Method::Post,
    Method::Put,
    Method::Delete,
    Method::Patch,
    Method::Head,
    Method::Options,
    Method::Trace,
    Method::Connect,
];

/// The token endpoint at `/token` under the mount point, one route per method.
///
/// The [`TokenService`] comes from managed state: `rocket::build().manage(service)`.
/// The route answers every error as JSON itself and needs no catcher: the app's own
/// catchers stay as they are. ([`catchers`](crate::catchers) are for routes of the app's
/// guarded by [`ResolvedIdentity`](crate::ResolvedIdentity), registered at their base
/// only.)
pub fn routes() -> Vec<Route> {
    routes_at(DEFAULT_TOKEN_PATH)
}

/// As [`routes`], with the token endpoint at `path` under the mount point.
pub fn routes_at(path: &str) -> Vec<Route> {
    METHODS
        .iter()
        .map(|method| Route::new(*method, path, TokenEndpoint))
        .collect()
}

/// The token endpoint as a rocket [`Handler`], for routes built by hand.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenEndpoint;

// Written out rather than with `async_trait`: the request is converted before the
// answer's future is made, so that the future rocket boxes for each request holds the
// service and the converted request, and not the request's body handle as well.
impl Handler for TokenEndpoint {
    fn handle<'r, 'life0, 'life1, 'async_trait>(
        &'life0 self,
        req: &'r Request<'life1>,
        _data: Data<'r>,
    ) -> BoxFuture<'r>
    where
        'r: 'async_trait,
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        let service = req.rocket().state::<TokenService>();
        let incoming = incoming_request(req);
        Box::pin(async move {
            let reply = match service {
                Some(service) => service.handle(&incoming).await,
                None => Rejection::not_configured(HOW_TO_REGISTER).reply(),
            };
            Outcome::Success(render(reply))
        })
    }
}

/// The request as the core sees it: method, path, query, every header and the peer
/// address, exactly what the ready routes pass to [`TokenService::answer`], so that a
/// hand-written route gets the same CORS answers, `Origin` checks and trusted-proxy
/// decisions. The [`Incoming`] guard does this for a route's arguments.
pub fn incoming_request(req: &Request<'_>) -> IncomingRequest {
    let uri = req.uri();
    let mut incoming = IncomingRequest::new(req.method().as_str(), uri.path().as_str());
    if let Some(query) = uri.query() {
        incoming = incoming.with_query(query.as_str());
    }
    if let Some(peer) = req.remote() {
        incoming = incoming.with_peer(peer);
    }
    for header in req.headers().iter() {
        incoming.push_header(header.name().as_str(), header.value().as_bytes());
    }
    incoming
}

/// Turns the core's reply into a rocket response, as it is.
pub(crate) fn render<'r>(reply: HttpReply) -> Response<'r> {
    let mut response = Response::build();
    response.status(Status::new(reply.status));
    for (name, value) in reply.headers {
        response.raw_header(name, value);
    }
    let body = reply.body.into_bytes();
    response.sized_body(body.len(), Cursor::new(body));
    response.finalize()
}

/// The token routes at [`DEFAULT_TOKEN_PATH`], the caller identified by the app's own
/// login: `G` is any request guard the app already uses (its `LoggedIn` guard reading
/// `CookieJar::get_private`, say), and `identify` turns it into the identification,
/// async (a database lookup, say). When `G` fails, a 5xx is answered 500 `internal`
/// (logged), a 403 `forbidden`, a forward or anything else 401 `missing_credentials`.
/// `identify`'s errors map as a resolver's do; the resolve timeout and the panic guard
/// apply to both. No catcher is needed.
///
/// ```
/// use chat_token_rocket::{ResolveError, Resolved};
/// use rocket::request::{FromRequest, Outcome, Request};
///
/// // The app's own login guard.
/// struct LoggedIn(String);
///
/// #[rocket::async_trait]
/// impl<'r> FromRequest<'r> for LoggedIn {
///     type Error = ();
///     async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
///         match req.headers().get_one("x-demo-user") {
///             Some(user) => Outcome::Success(LoggedIn(user.to_owned())),
///             None => Outcome::Forward(rocket::http::Status::Unauthorized),
///         }
///     }
/// }
///
/// let routes = chat_token_rocket::routes_with(|LoggedIn(user): LoggedIn| async move {
///     Ok::<_, ResolveError>(Resolved::new(user))
/// });
/// let _ = rocket::build().mount("/", routes);
/// ```
pub fn routes_with<G, F, Fut>(identify: F) -> Vec<Route>
where
    G: for<'r> FromRequest<'r> + Send + 'static,
    F: Fn(G) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Resolved, ResolveError>> + Send + 'static,
{
    routes_with_at(DEFAULT_TOKEN_PATH, identify)
}

/// As [`routes_with`], at `path`.
pub fn routes_with_at<G, F, Fut>(path: &str, identify: F) -> Vec<Route>
where
    G: for<'r> FromRequest<'r> + Send + 'static,
    F: Fn(G) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Resolved, ResolveError>> + Send + 'static,
{
    let handler = LoginEndpoint {
        service: None,
        identify,
        guard: PhantomData::<fn() -> G>,
    };
    METHODS
        .iter()
        .map(|method| Route::new(*method, path, handler.clone()))
        .collect()
}

/// As [`routes_with`], with the [`TokenService`] given here rather than managed:
/// `.mount("/", chat_token_rocket::routes_for(service, identify))` is the whole wiring.
///
/// ```
/// use chat_token_rocket::{ResolveError, Resolved, TokenService};
/// use rocket::request::{FromRequest, Outcome, Request};
///
/// struct LoggedIn(String);
///
/// #[rocket::async_trait]
/// impl<'r> FromRequest<'r> for LoggedIn {
///     type Error = ();
///     async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
///         match req.headers().get_one("x-demo-user") {
///             Some(user) => Outcome::Success(LoggedIn(user.to_owned())),
///             None => Outcome::Forward(rocket::http::Status::Unauthorized),
///         }
///     }
/// }
///
/// fn app(service: TokenService) -> rocket::Rocket<rocket::Build> {
///     rocket::build().mount("/", chat_token_rocket::routes_for(service, |LoggedIn(user): LoggedIn| async move {
///         Ok::<_, ResolveError>(Resolved::new(user))
///     }))
/// }
/// ```
pub fn routes_for<G, F, Fut>(service: TokenService, identify: F) -> Vec<Route>
where
    G: for<'r> FromRequest<'r> + Send + 'static,
    F: Fn(G) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Resolved, ResolveError>> + Send + 'static,
{
    routes_for_at(DEFAULT_TOKEN_PATH, service, identify)
}

/// As [`routes_for`], at `path`.
pub fn routes_for_at<G, F, Fut>(path: &str, service: TokenService, identify: F) -> Vec<Route>
where
    G: for<'r> FromRequest<'r> + Send + 'static,
    F: Fn(G) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Resolved, ResolveError>> + Send + 'static,
{
    let handler = LoginEndpoint {
        service: Some(service),
        identify,
        guard: PhantomData::<fn() -> G>,
    };
    METHODS
        .iter()
        .map(|method| Route::new(*method, path, handler.clone()))
        .collect()
}

/// The routes that answer every method but GET and POST at `path` as the ready route
/// does (405 `method_not_allowed` with `Allow: GET, POST`, and CORS preflights), to
/// mount next to a hand-written `#[get]` and `#[post]` token route; the
/// [`TokenService`] comes from managed state.
///
/// ```
/// use chat_token_rocket::{Incoming, Resolved, ResolveError, TokenReply, TokenService};
/// use rocket::{State, get, post, routes};
///
/// #[get("/token")]
/// async fn token(tokens: &State<TokenService>, request: Incoming) -> TokenReply {
///     let user = request.0.header("x-demo-user").map(str::to_owned);
///     TokenReply(tokens.answer(&request.0, async move {
///         user.map(Resolved::new).ok_or_else(|| ResolveError::missing("sign in first"))
///     }).await)
/// }
///
/// #[post("/token")]
/// async fn token_post(tokens: &State<TokenService>, request: Incoming) -> TokenReply {
///     token(tokens, request).await
/// }
///
/// fn app(tokens: TokenService) -> rocket::Rocket<rocket::Build> {
///     rocket::build()
///         .manage(tokens)
///         .mount("/", routes![token, token_post])
///         .mount("/", chat_token_rocket::other_methods_at("/token"))
/// }
/// ```
pub fn other_methods_at(path: &str) -> Vec<Route> {
    METHODS
        .iter()
        .filter(|method| !matches!(method, Method::Get | Method::Post))
        .map(|method| Route::new(*method, path, OtherMethods))
        .collect()
}

/// The handler of [`other_methods_at`].
#[derive(Debug, Clone, Copy)]
struct OtherMethods;

#[rocket::async_trait]
impl Handler for OtherMethods {
    async fn handle<'r>(&self, req: &'r Request<'_>, _data: Data<'r>) -> Outcome<'r> {
        let reply = match req.rocket().state::<TokenService>() {
            // The core answers these methods without identifying anyone.
            Some(service) => {
                let never = async { Err(ResolveError::internal("not a GET or POST")) };
                service.answer(&incoming_request(req), never).await
            }
            None => Rejection::not_configured(HOW_TO_REGISTER).reply(),
        };
        Outcome::Success(render(reply))
    }
}

/// The request as the core sees it ([`incoming_request`]), as a request guard, for a
/// hand-written token route: pass it to [`TokenService::answer`] and return the
/// [`TokenReply`] (see [`other_methods_at`] for a whole example).
#[derive(Debug, Clone)]
pub struct Incoming(pub IncomingRequest);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Incoming {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> rocket::request::Outcome<Self, Self::Error> {
        rocket::request::Outcome::Success(Self(incoming_request(req)))
    }
}

/// The handler of [`routes_with`] and [`routes_for`]: the guard `G`, then `identify`,
/// then the core's answer.
pub struct LoginEndpoint<G, F> {
    /// The service of [`routes_for`]; `None` takes the managed one.
    service: Option<TokenService>,
    identify: F,
    guard: PhantomData<fn() -> G>,
}

impl<G, F: Clone> Clone for LoginEndpoint<G, F> {
    fn clone(&self) -> Self {
        Self {
            service: self.service.clone(),
            identify: self.identify.clone(),
            guard: PhantomData,
        }
    }
}

#[rocket::async_trait]
impl<G, F, Fut> Handler for LoginEndpoint<G, F>
where
    G: for<'r> FromRequest<'r> + Send + 'static,
    F: Fn(G) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Resolved, ResolveError>> + Send + 'static,
{
    async fn handle<'r>(&self, req: &'r Request<'_>, _data: Data<'r>) -> Outcome<'r> {
        let Some(service) = self
            .service
            .as_ref()
            .or_else(|| req.rocket().state::<TokenService>())
        else {
            return Outcome::Success(render(Rejection::not_configured(HOW_TO_REGISTER).reply()));
        };
        let incoming = incoming_request(req);
        let outcome = async {
            let guarded = match req.guard::<G>().await {
                rocket::outcome::Outcome::Success(guard) => Ok(guard),
                rocket::outcome::Outcome::Error((status, _)) => Err(status.code),
                rocket::outcome::Outcome::Forward(status) => Err(status.code),
            };
            match guarded {
                Ok(guard) => (self.identify)(guard).await,
                Err(code) => Err(ResolveError::from_login_rejection(
                    code,
                    format!("the guard {} failed", std::any::type_name::<G>()),
                )),
            }
        };
        Outcome::Success(render(service.answer(&incoming, outcome).await))
    }
}

/// The core's reply as a rocket response: what a hand-written route returns after
/// [`TokenService::answer`].
#[derive(Debug, Clone)]
pub struct TokenReply(pub HttpReply);

impl<'r> Responder<'r, 'static> for TokenReply {
    fn respond_to(self, _req: &'r Request<'_>) -> rocket::response::Result<'static> {
        Ok(render(self.0))
    }
}
