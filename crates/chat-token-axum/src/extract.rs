//! [`ResolvedIdentity`]: protect the app's own routes with the token service's resolver.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chat_token_core::{Resolved, TokenService, http::Rejection};

use crate::route::{incoming_request, render};

/// The caller, as the [`TokenService`]'s resolver identified them.
///
/// Rejects with exactly the responses of the token route (401 with `WWW-Authenticate`,
/// 403, 503 with `Retry-After`, 500), as JSON.
///
/// ```
/// use axum::{Json, Router, routing::get};
/// use chat_token_axum::{ResolvedIdentity, TokenService};
///
/// async fn me(ResolvedIdentity(user): ResolvedIdentity) -> Json<serde_json::Value> {
///     Json(serde_json::json!({ "identity": user.identity() }))
/// }
///
/// fn app(service: TokenService) -> Router {
///     Router::new().route("/me", get(me)).merge(chat_token_axum::router()).with_state(service)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct ResolvedIdentity(pub Resolved);

/// Why [`ResolvedIdentity`] refused a request; renders as the core's JSON error.
#[derive(Debug, Clone)]
pub struct TokenRejection(pub Rejection);

impl IntoResponse for TokenRejection {
    fn into_response(self) -> Response {
        render(self.0.reply())
    }
}

impl<S> FromRequestParts<S> for ResolvedIdentity
where
    TokenService: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = TokenRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let service = TokenService::from_ref(state);
        let incoming = incoming_request(parts);
        service
            .authenticate(&incoming)
            .await
            .map(ResolvedIdentity)
            .map_err(TokenRejection)
    }
}
