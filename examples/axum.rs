//! An existing axum app that adds a Twilio token route.
//!
//! Run: `cargo run -p chat-token-examples --example axum`, then
//! `curl -H 'Authorization: Bearer demo-alice' http://127.0.0.1:3000/token`.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use chat_token_axum::prelude::*;
use chat_token_examples::{control_body, init_tracing, listen_addr, service_from_env};
use serde_json::{Value, json};

/// The app's own route: no authentication.
async fn index() -> Json<Value> {
    Json(json!({ "app": "axum example" }))
}

/// An app route protected by the same resolver as the token route; its answer is about
/// one user, so no cache may keep it.
async fn me(ResolvedIdentity(user): ResolvedIdentity) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "identity": user.identity() })),
    )
}

#[tokio::main]
async fn main() -> Result<(), chat_token_examples::MainError> {
    init_tracing();
    let service = service_from_env()?;
    let control = control_body(&service);
    let app = Router::new()
        .route("/", get(index))
        .route(
            "/control",
            get(move || async move {
                (
                    [
                        (header::CONTENT_TYPE, "application/json"),
                        (header::CACHE_CONTROL, "no-store"),
                    ],
                    control,
                )
            }),
        )
        .route("/me", get(me))
        .merge(chat_token_axum::router()) // GET|POST /token
        .with_state(service);
    let addr = listen_addr()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "axum example listening");
    axum::serve(listener, app).await?;
    Ok(())
}
