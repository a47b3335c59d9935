//! An existing rocket app that adds a Twilio token route.
//!
//! Run: `cargo run -p chat-token-examples --example rocket`, then
//! `curl -H 'Authorization: Bearer demo-alice' http://127.0.0.1:3000/token`.

use chat_token_examples::{control_body, init_tracing, listen_addr, service_from_env};
use chat_token_rocket::prelude::*;
use rocket::serde::json::{Json, Value, json};

/// The app's own route: no authentication.
#[rocket::get("/")]
fn index() -> Json<Value> {
    Json(json!({ "app": "rocket example" }))
}

/// A static body of token-response size, with the token route's headers (the
/// benchmark's control route).
#[rocket::get("/control")]
fn control(body: &rocket::State<Control>) -> NoStore<(rocket::http::ContentType, String)> {
    NoStore {
        body: (rocket::http::ContentType::JSON, body.0.clone()),
        cache_control: rocket::http::Header::new("Cache-Control", "no-store"),
    }
}

/// The control route's body, made once at start-up.
struct Control(String);

/// An answer no cache may keep.
#[derive(rocket::Responder)]
struct NoStore<T> {
    body: T,
    cache_control: rocket::http::Header<'static>,
}

/// An app route protected by the same resolver as the token route; its answer is about
/// one user, so no cache may keep it.
#[rocket::get("/me")]
fn me(user: ResolvedIdentity) -> NoStore<Json<Value>> {
    NoStore {
        body: Json(json!({ "identity": user.0.identity() })),
        cache_control: rocket::http::Header::new("Cache-Control", "no-store"),
    }
}

#[rocket::main]
async fn main() -> Result<(), chat_token_examples::MainError> {
    init_tracing();
    let service = service_from_env()?;
    let control_body = Control(control_body(&service));
    let addr = listen_addr()?;
    let config = rocket::Config {
        address: addr.ip(),
        port: addr.port(),
        // This app keeps no private cookie; a key of its own lets release builds start
        // (the examples package turns on rocket's `secrets` for `login_rocket`).
        secret_key: rocket::config::SecretKey::generate().ok_or("no randomness for a key")?,
        ..rocket::Config::default()
    };
    let _rocket = rocket::custom(config)
        .manage(service)
        .manage(control_body)
        .mount("/", chat_token_rocket::routes()) // GET|POST /token
        .mount("/", rocket::routes![index, me, control])
        .register("/", chat_token_rocket::catchers())
        .launch()
        .await?;
    Ok(())
}
