//! The token route, and the translation between actix-web's types and the core's.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use chat_token_core::{DEFAULT_TOKEN_PATH, HttpReply, IncomingRequest, Rejection, TokenService};

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
    let Some(service) = service(&req) else {
        return render(Rejection::not_configured(HOW_TO_REGISTER).reply());
    };
    render(service.handle(&snapshot(&req)).await)
}

/// The registered service, if any.
pub(crate) fn service(req: &HttpRequest) -> Option<TokenService> {
    req.app_data::<web::Data<TokenService>>()
        .map(|data| data.get_ref().clone())
}

/// Copies what the core needs out of an actix-web request.
pub(crate) fn snapshot(req: &HttpRequest) -> IncomingRequest {
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
