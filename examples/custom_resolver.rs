//! A resolver for a realistic login: the app already issues its own HS256 session JWTs
//! (`{"sub": "...", "role": "..."}`), sent as `Authorization: Bearer <jwt>`. The resolver
//! verifies them and chooses grants and lifetime per role.
//!
//! Run: `cargo run -p chat-token-examples --example custom_resolver`, then
//! `TOKEN=$(curl -s -X POST http://127.0.0.1:3000/login/alice)` and
//! `curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/token`.
//!
//! The app is served with axum, so chat-token comes from `chat-token-axum` alone. The
//! resolver itself names no framework: with `use chat_token_actix::prelude::*;` or
//! `use chat_token_rocket::prelude::*;` it compiles unchanged.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::Path;
use axum::routing::post;
use chat_token_axum::chat_token_core::crypto::ensure_jsonwebtoken_provider;
use chat_token_axum::prelude::*;
use chat_token_examples::{init_tracing, issuer_from_env, listen_addr};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The app's own session claims.
#[derive(Debug, Serialize, Deserialize)]
struct Session {
    sub: String,
    role: String,
    exp: u64,
}

/// Verifies the app's session JWT and maps its role to Twilio grants.
struct SessionJwt {
    key: DecodingKey,
    validation: Validation,
    chat_service: Option<String>,
}

impl SessionJwt {
    fn new(secret: &[u8], chat_service: Option<String>) -> Self {
        ensure_jsonwebtoken_provider();
        Self {
            key: DecodingKey::from_secret(secret),
            validation: Validation::new(Algorithm::HS256),
            chat_service,
        }
    }

    fn chat(&self) -> ChatGrant {
        match &self.chat_service {
            Some(sid) => ChatGrant::new().with_service_sid(sid.clone()),
            None => ChatGrant::new(),
        }
    }
}

#[async_trait]
impl IdentityResolver for SessionJwt {
    async fn resolve(&self, req: &IncomingRequest) -> Result<Resolved, ResolveError> {
        let jwt = req.bearer_token()?;
        let session = jsonwebtoken::decode::<Session>(jwt, &self.key, &self.validation)
            .map_err(|_| ResolveError::invalid("the session is invalid or expired; log in again"))?
            .claims;
        match session.role.as_str() {
            // Support agents: chat with a device-specific endpoint, plus video, 8 hours.
            "agent" => Ok(Resolved::new(session.sub.clone())
                .with_ttl(8 * 3600)
                .with_grants([
                    self.chat()
                        .with_endpoint_id(format!("agent:{}", session.sub))
                        .into(),
                    VideoGrant::new().into(),
                ])),
            // Customers: chat only, the default one hour.
            "customer" => Ok(Resolved::new(session.sub).with_grants([self.chat().into()])),
            _ => Err(ResolveError::forbidden("this account has no chat access")),
        }
    }
}

const SESSION_SECRET: &[u8] = b"example-session-secret-change-me";

/// A stand-in for the app's real login: issues a session JWT for `user`.
async fn login(Path(user): Path<String>) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let role = if user == "alice" { "agent" } else { "customer" };
    let session = Session {
        sub: user,
        role: role.into(),
        exp: now + 3600,
    };
    ensure_jsonwebtoken_provider();
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &session,
        &EncodingKey::from_secret(SESSION_SECRET),
    )
    .unwrap_or_default()
}

#[tokio::main]
async fn main() -> Result<(), chat_token_examples::MainError> {
    init_tracing();
    let issuer = issuer_from_env()?;
    let resolver = SessionJwt::new(SESSION_SECRET, issuer.chat_service_sid().map(str::to_owned));
    let service = TokenService::builder(issuer, resolver).build()?;
    let app = Router::new()
        .route("/login/{user}", post(login))
        .merge(chat_token_axum::router()) // GET|POST /token
        .with_state(service);
    let addr = listen_addr()?;
    tracing::info!(%addr, "custom resolver example listening");
    axum::serve(tokio::net::TcpListener::bind(addr).await?, app).await?;
    Ok(())
}
