//! A platform on axum whose customer organisations each have their own Twilio
//! subaccount: users sign in with the app's own login (tower-sessions), each user belongs
//! to an organisation, and each user's token is signed with that organisation's account,
//! API key and Conversations service, which a `TenantSource` reads from the platform's
//! store (an in-memory table here, a database in a real platform).
//!
//! Run: `cargo run -p chat-token-examples --example platform_axum`, then
//! `curl -c jar -d 'user=alice&password=wonderland' http://127.0.0.1:3000/login`,
//! `curl -b jar http://127.0.0.1:3000/token` (signed by acme's account), and
//! `curl -X POST http://127.0.0.1:3000/orgs/acme/disable` (alice's next request is 403 at
//! once: the app tells the tenant cache). The organisations' credentials below are made
//! up: Twilio refuses their tokens.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::post;
use axum::{Form, Router};
use chat_token_axum::chat_token_core::tenants::{Tenant, TenantError, TenantSource};
use chat_token_axum::prelude::*;
use chat_token_examples::{
    SIGN_IN_PAGE, check_password, init_tracing, issuer_from_env, listen_addr,
};
use serde::Deserialize;
use tower_sessions::{MemoryStore, Session, SessionManagerLayer};

/// One organisation as the platform stores it.
#[derive(Clone)]
struct Organisation {
    account_sid: String,
    api_key_sid: String,
    api_secret: String,
    chat_service_sid: String,
    enabled: bool,
}

/// The platform's store of organisations (a database in a real platform).
#[derive(Clone, Default)]
struct Organisations(Arc<RwLock<HashMap<String, Organisation>>>);

impl Organisations {
    /// Two made-up organisations, `acme` (alice's) and `globex` (bob's).
    fn demo() -> Self {
        let org = |digit: char, secret: &str| Organisation {
            account_sid: format!("AC{}", digit.to_string().repeat(32)),
            api_key_sid: format!("SK{}", digit.to_string().repeat(32)),
            api_secret: secret.to_owned(),
            chat_service_sid: format!("IS{}", digit.to_string().repeat(32)),
            enabled: true,
        };
        let orgs = [
            ("acme", org('1', "made-up-acme-secret-not-twilios")),
            ("globex", org('2', "made-up-globex-secret-not-twilios")),
        ];
        Self(Arc::new(RwLock::new(
            orgs.into_iter().map(|(id, o)| (id.to_owned(), o)).collect(),
        )))
    }

    fn set_enabled(&self, id: &str, enabled: bool) -> bool {
        let mut orgs = self.0.write().unwrap_or_else(|e| e.into_inner());
        orgs.get_mut(id).map(|org| org.enabled = enabled).is_some()
    }
}

// chat-token: how the service finds an organisation's Twilio account.
#[async_trait]
impl TenantSource for Organisations {
    async fn tenant(&self, id: &str) -> Result<Option<Tenant>, TenantError> {
        let org = self
            .0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned();
        let Some(org) = org.filter(|o| o.enabled) else {
            return Ok(None); // unknown or disabled: 403
        };
        let issuer = Credentials::try_new(org.account_sid, org.api_key_sid, org.api_secret)
            .map(TokenIssuer::new)
            .and_then(|issuer| issuer.with_chat_service_sid(org.chat_service_sid))
            .map_err(|e| TenantError::Malformed(e.to_string()))?; // 500, logged
        Ok(Some(Tenant::new(issuer)))
    }
}

/// Which organisation each user belongs to (the platform's user table).
fn organisation_of(user: &str) -> Option<&'static str> {
    match user {
        "alice" => Some("acme"),
        "bob" => Some("globex"),
        _ => None,
    }
}

#[derive(Clone)]
struct AppState {
    orgs: Organisations,
    tokens: TokenService,
}

#[derive(Deserialize)]
struct Login {
    user: String,
    password: String,
}

async fn login(session: Session, Form(login): Form<Login>) -> impl IntoResponse {
    if !check_password(&login.user, &login.password) {
        return (StatusCode::UNAUTHORIZED, Html(SIGN_IN_PAGE)).into_response();
    }
    if session.cycle_id().await.is_err() || session.insert("user", login.user).await.is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    Redirect::to("/token").into_response()
}

/// The platform's admin switch; a real one is behind the platform's admin login. The
/// tenant cache is told at once, so the change does not wait for its 5 minutes.
async fn set_organisation(
    State(app): State<AppState>,
    Path((id, action)): Path<(String, String)>,
) -> StatusCode {
    let enabled = match action.as_str() {
        "enable" => true,
        "disable" => false,
        _ => return StatusCode::NOT_FOUND,
    };
    if !app.orgs.set_enabled(&id, enabled) {
        return StatusCode::NOT_FOUND;
    }
    if let Some(cache) = app.tokens.tenant_cache() {
        cache.forget(&id); // chat-token
    }
    StatusCode::NO_CONTENT
}

// chat-token: the signed-in user and their organisation, from the session.
async fn chat_user(session: Session) -> Result<Resolved, ResolveError> {
    match session.get::<String>("user").await {
        Ok(Some(user)) => match organisation_of(&user) {
            Some(org) => Ok(Resolved::new(user).with_tenant(org)),
            None => Ok(Resolved::new(user)), // no organisation: 403
        },
        Ok(None) => Err(ResolveError::missing("sign in first")),
        Err(_) => Err(ResolveError::unavailable("the session store failed")),
    }
}

#[tokio::main]
async fn main() -> Result<(), chat_token_examples::MainError> {
    init_tracing();
    let orgs = Organisations::demo();
    // The platform's own credentials sign no organisation's token (a user without one is
    // refused); the service is built with them all the same.
    let tokens = TokenService::without_resolver(issuer_from_env()?) // chat-token
        .tenants(orgs.clone()) // chat-token
        .build()?; // chat-token
    let app = Router::new()
        .route("/login", post(login))
        .route("/orgs/{id}/{action}", post(set_organisation))
        .merge(chat_token_axum::router_for(tokens.clone(), chat_user)) // chat-token
        .with_state(AppState { orgs, tokens })
        // Plain http on loopback for the example; behind https keep the secure default.
        .layer(SessionManagerLayer::new(MemoryStore::default()).with_secure(false));
    let addr = listen_addr()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "axum platform example listening");
    axum::serve(listener, app).await?;
    Ok(())
}
