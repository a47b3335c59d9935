//! [`ResolvedIdentity`]: protect the app's own routes with the token service's resolver,
//! and the [`catchers`] that render its failures as the core's JSON errors.

use chat_token_core::{Resolved, TokenService, http::ErrorCode, http::Rejection};
use rocket::Request;
use rocket::catcher::{BoxFuture, Catcher};
use rocket::http::Status;
use rocket::request::{FromRequest, Outcome};

use crate::route::{HOW_TO_REGISTER, incoming_request, render};

/// The caller, as the [`TokenService`]'s resolver identified them.
///
/// On failure the guard stores the rejection for the request and fails with its status;
/// the [`catchers`] then render exactly the token route's JSON error and headers.
///
/// ```
/// use chat_token_rocket::ResolvedIdentity;
/// use rocket::serde::json::{Json, Value, json};
///
/// #[rocket::get("/me")]
/// fn me(user: ResolvedIdentity) -> Json<Value> {
///     Json(json!({ "identity": user.0.identity() }))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct ResolvedIdentity(pub Resolved);

/// Why [`ResolvedIdentity`] refused a request.
#[derive(Debug, Clone)]
pub struct TokenRejection(pub Rejection);

/// The rejection of the current request, kept for the catchers.
struct Cached(Option<Rejection>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for ResolvedIdentity {
    type Error = TokenRejection;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let result = match req.rocket().state::<TokenService>() {
            Some(service) => service.authenticate(&incoming_request(req)).await,
            None => Err(Rejection::not_configured(HOW_TO_REGISTER)),
        };
        match result {
            Ok(resolved) => Outcome::Success(ResolvedIdentity(resolved)),
            Err(rejection) => {
                req.local_cache(|| Cached(Some(rejection.clone())));
                Outcome::Error((
                    Status::new(rejection.code().status()),
                    TokenRejection(rejection),
                ))
            }
        }
    }
}

/// Catchers for 401, 403, 500 and 503 that render a [`ResolvedIdentity`] failure as the
/// token route's JSON error (with `WWW-Authenticate` or `Retry-After`); for other causes
/// of those statuses they answer the same JSON shape. Register them at the base of the
/// routes that take the guard (`.register("/api", chat_token_rocket::catchers())`), not
/// over the app's own catchers at `/`; or let those routes take
/// `Result<ResolvedIdentity, TokenRejection>` and return the rejection, which needs no
/// catcher.
pub fn catchers() -> Vec<Catcher> {
    [401, 403, 500, 503]
        .into_iter()
        .map(|code| Catcher::new(code, json_catcher))
        .collect()
}

fn json_catcher<'r>(status: Status, req: &'r Request<'_>) -> BoxFuture<'r> {
    let rejection = req
        .local_cache(|| Cached(None))
        .0
        .clone()
        .unwrap_or_else(|| {
            let (code, message) = match status.code {
                401 => (
                    ErrorCode::InvalidCredentials,
                    "the request could not be authenticated",
                ),
                403 => (ErrorCode::Forbidden, "the request is not allowed"),
                503 => (
                    ErrorCode::Unavailable,
                    "the service is unavailable; try again shortly",
                ),
                _ => (
                    ErrorCode::Internal,
                    "the server failed; the details are in its log",
                ),
            };
            Rejection::new(code, message)
        });
    Box::pin(async move { Ok(render(rejection.reply())) })
}

/// A route that takes `Result<ResolvedIdentity, TokenRejection>` answers the rejection
/// itself, as the JSON error of the token endpoint, without any catcher.
impl<'r> rocket::response::Responder<'r, 'static> for TokenRejection {
    fn respond_to(self, _req: &'r Request<'_>) -> rocket::response::Result<'static> {
        Ok(render(self.0.reply()))
    }
}
