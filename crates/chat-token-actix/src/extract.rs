//! [`ResolvedIdentity`]: protect the app's own routes with the token service's resolver.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use chat_token_core::{Resolved, http::Rejection};

use crate::route::{HOW_TO_REGISTER, incoming_request, render, service};

/// The caller, as the [`TokenService`](chat_token_core::TokenService)'s resolver
/// identified them.
///
/// Rejects with exactly the responses of the token route (401 with `WWW-Authenticate`,
/// 403, 503 with `Retry-After`, 500), as JSON.
///
/// ```
/// use actix_web::{HttpResponse, get};
/// use chat_token_actix::ResolvedIdentity;
///
/// #[get("/me")]
/// async fn me(ResolvedIdentity(user): ResolvedIdentity) -> HttpResponse {
///     HttpResponse::Ok().json(serde_json::json!({ "identity": user.identity() }))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct ResolvedIdentity(pub Resolved);

/// Why [`ResolvedIdentity`] refused a request; renders as the core's JSON error.
#[derive(Debug, Clone)]
pub struct TokenRejection(pub Rejection);

impl fmt::Display for TokenRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl ResponseError for TokenRejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.code().status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        render(self.0.reply())
    }
}

impl FromRequest for ResolvedIdentity {
    type Error = TokenRejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let service = service(req);
        let incoming = incoming_request(req);
        Box::pin(async move {
            let Some(service) = service else {
                return Err(TokenRejection(Rejection::not_configured(HOW_TO_REGISTER)));
            };
            service
                .authenticate(&incoming)
                .await
                .map(ResolvedIdentity)
                .map_err(TokenRejection)
        })
    }
}
