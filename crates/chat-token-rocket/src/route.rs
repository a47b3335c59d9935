//! The token route, and the translation between rocket's types and the core's.

use std::io::Cursor;

use chat_token_core::{DEFAULT_TOKEN_PATH, HttpReply, IncomingRequest, Rejection, TokenService};
use rocket::http::{Method, Status};
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
