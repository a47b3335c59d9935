//! An existing actix-web app that adds a Twilio token route.
//!
//! Run: `cargo run -p chat-token-examples --example actix`, then
//! `curl -H 'Authorization: Bearer demo-alice' http://127.0.0.1:3000/token`.

use actix_web::http::header;
use actix_web::{App, HttpResponse, HttpServer, web};
use chat_token_actix::prelude::*;
use chat_token_examples::{control_body, init_tracing, listen_addr, service_from_env};
use serde_json::json;

/// The app's own route: no authentication.
async fn index() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "app": "actix-web example" }))
}

/// An app route protected by the same resolver as the token route; its answer is about
/// one user, so no cache may keep it.
async fn me(ResolvedIdentity(user): ResolvedIdentity) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "identity": user.identity() }))
}

#[actix_web::main]
async fn main() -> Result<(), chat_token_examples::MainError> {
    init_tracing();
    let service = service_from_env()?;
    let control = control_body(&service);
    let addr = listen_addr()?;
    tracing::info!(%addr, "actix-web example listening");
    HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(service.clone()))
            .configure(chat_token_actix::configure) // GET|POST /token
            .route("/", web::get().to(index))
            .route(
                "/control",
                web::get().to({
                    let control = control.clone();
                    move || {
                        let control = control.clone();
                        async move {
                            HttpResponse::Ok()
                                .content_type("application/json")
                                .insert_header(("cache-control", "no-store"))
                                .body(control)
                        }
                    }
                }),
            )
            .route("/me", web::get().to(me))
    })
    .bind(addr)?
    .run()
    .await?;
    Ok(())
}
