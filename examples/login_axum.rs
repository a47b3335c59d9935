//! An existing axum app with its own state and its own login (tower-sessions), adding a
//! Twilio token route that takes the signed-in user from the session.
//!
//! Run: `cargo run -p chat-token-examples --example login_axum`, then
//! `curl -c jar -d 'user=alice&password=wonderland' http://127.0.0.1:3000/login` and
//! `curl -b jar http://127.0.0.1:3000/token`.

use axum::Form;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::{get, post};
use chat_token_axum::prelude::*;
use chat_token_examples::{
    SIGN_IN_PAGE, check_password, init_tracing, issuer_from_env, listen_addr,
};
use serde::Deserialize;
use tower_sessions::{MemoryStore, Session, SessionManagerLayer};

const USER: &str = "user";

/// The app's own state (the token route needs no field in it).
#[derive(Clone)]
struct AppState {
    name: &'static str,
}

#[derive(Deserialize)]
struct Login {
    user: String,
    password: String,
}

/// The app's own login: checks the password and keeps the user in the session.
async fn login(session: Session, Form(login): Form<Login>) -> impl IntoResponse {
    if !check_password(&login.user, &login.password) {
        return (StatusCode::UNAUTHORIZED, Html(SIGN_IN_PAGE)).into_response();
    }
    match session.cycle_id().await {
        Ok(()) => {}
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
    match session.insert(USER, login.user).await {
        Ok(()) => Redirect::to("/app").into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn logout(session: Session) -> impl IntoResponse {
    match session.flush().await {
        Ok(()) => Redirect::to("/app").into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The app's own page, with its own answer for visitors who are not signed in.
async fn app_page(State(app): State<AppState>, session: Session) -> impl IntoResponse {
    match session.get::<String>(USER).await {
        Ok(Some(user)) => (
            StatusCode::OK,
            Html(format!("<p>Hello {user}, welcome to {}</p>", app.name)),
        ),
        _ => (StatusCode::UNAUTHORIZED, Html(SIGN_IN_PAGE.to_owned())),
    }
}

// chat-token: the signed-in user, from the session the app already has.
async fn chat_user(session: Session) -> Result<Resolved, ResolveError> {
    match session.get::<String>(USER).await {
        Ok(Some(user)) => Ok(Resolved::new(user)),
        Ok(None) => Err(ResolveError::missing("sign in first")),
        Err(_) => Err(ResolveError::unavailable("the session store failed")),
    }
}

#[tokio::main]
async fn main() -> Result<(), chat_token_examples::MainError> {
    init_tracing();
    let service = TokenService::without_resolver(issuer_from_env()?).build()?; // chat-token
    let app = Router::new()
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/app", get(app_page))
        .merge(chat_token_axum::router_for(service, chat_user)) // chat-token: GET|POST /token
        .with_state(AppState { name: "the app" })
        // Plain http on loopback for the example; behind https keep the secure default.
        .layer(SessionManagerLayer::new(MemoryStore::default()).with_secure(false));
    let addr = listen_addr()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "axum login example listening");
    axum::serve(listener, app).await?;
    Ok(())
}
