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
use rocket::route::{Handler, Outcome, Route};
use rocket::{Data, Request, Response};

/// What to add when no [`TokenService`] is managed; logged with the 500.
pub(crate) const HOW_TO_REGISTER: &str = "register it with `rocket::build().manage(service)`";

/// Every method rocket routes; all go to the endpoint, which answers 405 with `Allow` for
/// those other than GET and POST.
const METHODS: [Method; 8] = [
    Method::Get,
    Method::Post,
    Method::Put,
    Method::Delete,
    Method::Patch,
    Method::Head,
    Method::Options,
    Method::Trace,
];

/// The token endpoint at `/token` under the mount point, one route per method.
///
/// The [`TokenService`] comes from managed state: `rocket::build().manage(service)`.
/// Register [`catchers`](crate::catchers) too, so that guard failures render as JSON.
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

#[rocket::async_trait]
impl Handler for TokenEndpoint {
    async fn handle<'r>(&self, req: &'r Request<'_>, _data: Data<'r>) -> Outcome<'r> {
        let reply = match req.rocket().state::<TokenService>() {
            Some(service) => service.handle(&snapshot(req)).await,
            None => Rejection::not_configured(HOW_TO_REGISTER).reply(),
        };
        Outcome::Success(render(reply))
    }
}

/// Copies what the core needs out of a rocket request.
pub(crate) fn snapshot(req: &Request<'_>) -> IncomingRequest {
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
        identify,
        guard: PhantomData::<fn() -> G>,
    };
    METHODS
        .iter()
        .map(|method| Route::new(*method, path, handler.clone()))
        .collect()
}

/// The handler of [`routes_with`]: the guard `G`, then `identify`, then the core's
/// answer.
pub struct LoginEndpoint<G, F> {
    identify: F,
    guard: PhantomData<fn() -> G>,
}

impl<G, F: Clone> Clone for LoginEndpoint<G, F> {
    fn clone(&self) -> Self {
        Self {
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
        let Some(service) = req.rocket().state::<TokenService>() else {
            return Outcome::Success(render(Rejection::not_configured(HOW_TO_REGISTER).reply()));
        };
        let incoming = snapshot(req);
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
