//! The axum test app.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::Query;
use axum::routing::{get, post};
use axum::{Json, Router};
use chat_token_axum::{Incoming, ResolvedIdentity, TokenReply};
use chat_token_core::{ResolveError, Resolved, TokenService};

use crate::fixtures::{APP_LOGIN_PAGE, APP_STATE, APP_USER_HEADER, app_login, identify_user};

use super::{Harness, Server};

/// axum 0.8.
pub struct Axum;

async fn me(ResolvedIdentity(user): ResolvedIdentity) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "identity": user.identity() }))
}

impl Harness for Axum {
    const NAME: &'static str = "axum";

    fn start(service: TokenService) -> Server {
        serve(
            Router::new()
                .route(
                    "/",
                    get(|| async { Json(serde_json::json!({"app": "ok"})) }),
                )
                .route("/me", get(me))
                .merge(chat_token_axum::router())
                .with_state(service),
        )
    }

    fn start_login(service: TokenService) -> Server {
        serve(login_app(service))
    }

    fn start_hand_written(service: TokenService) -> Server {
        serve(hand_written_app(service))
    }
}

/// The hand-written app's own state: the service is a field of it, and no `FromRef`.
#[derive(Clone)]
struct AppState {
    tokens: TokenService,
    greeting: &'static str,
}

/// The hand-written app's own login extractor, which needs the app's state.
struct AppUser(String);

impl axum::extract::FromRequestParts<AppState> for AppUser {
    type Rejection = axum::http::StatusCode;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &AppState,
    ) -> Result<Self, Self::Rejection> {
        parts
            .headers
            .get(APP_USER_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(|user| AppUser(user.to_owned()))
            .ok_or(axum::http::StatusCode::UNAUTHORIZED)
    }
}

/// The hand-written token handler: the app's login, the core's answer.
async fn hand_written_token(
    axum::extract::State(app): axum::extract::State<AppState>,
    Incoming(request): Incoming,
) -> TokenReply {
    let user = request.header(APP_USER_HEADER).map(str::to_owned);
    TokenReply(
        app.tokens
            .answer(&request, async move { app_login(user.as_deref()) })
            .await,
    )
}

/// The hand-written handler that lets the service's resolver identify the caller.
async fn hand_written_resolver(
    axum::extract::State(app): axum::extract::State<AppState>,
    Incoming(request): Incoming,
) -> TokenReply {
    TokenReply(app.tokens.handle(&request).await)
}

fn hand_written_app(service: TokenService) -> Router {
    use axum::routing::any;
    Router::new()
        .route(
            "/state",
            get(|axum::extract::State(app): axum::extract::State<AppState>| async move {
                app.greeting
            }),
        )
        .route("/token", any(hand_written_token))
        .route("/token-resolver", any(hand_written_resolver))
        .merge(chat_token_axum::router_for_at(
            "/token-for",
            service.clone(),
            |AppUser(user): AppUser| async move { app_login(Some(&user)) },
        ))
        .with_state(AppState {
            tokens: service,
            greeting: APP_STATE,
        })
}

/// Serves `app` on a free loopback port, on a thread of its own.
fn serve(app: Router) -> Server {
    {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                addr_tx
                    .send(listener.local_addr().expect("addr"))
                    .expect("send addr");
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await
                .expect("serve");
            });
        });
        Server::new(addr_rx.recv().expect("server address"), stop_tx, thread)
    }
}

/// The signed-in user, from tower-sessions, for the token route.
async fn from_session(session: tower_sessions::Session) -> Result<Resolved, ResolveError> {
    match session.get::<String>("user").await {
        Ok(Some(user)) => identify_user(user).await,
        Ok(None) => Err(ResolveError::missing("sign in first")),
        Err(_) => Err(ResolveError::unavailable("the session store failed")),
    }
}

/// The existing app: tower-sessions with its `MemoryStore`, its own login and pages.
fn login_app(service: TokenService) -> Router {
    use axum::http::StatusCode;
    use axum::response::Html;
    use tower_sessions::{MemoryStore, Session, SessionManagerLayer};
    Router::new()
        .route(
            "/login",
            post(
                |session: Session, Query(q): Query<HashMap<String, String>>| async move {
                    let user = q.get("user").cloned().unwrap_or_default();
                    session.insert("user", user).await.expect("session insert");
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .route(
            "/logout",
            post(|session: Session| async move {
                session.flush().await.expect("session flush");
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/app",
            get(|session: Session| async move {
                match session.get::<String>("user").await {
                    Ok(Some(user)) => (StatusCode::OK, Html(format!("hello {user}"))),
                    _ => (StatusCode::UNAUTHORIZED, Html(APP_LOGIN_PAGE.to_owned())),
                }
            }),
        )
        .merge(chat_token_axum::router_with(from_session))
        .merge(chat_token_axum::router_with_at(
            "/token-broken",
            |_: BrokenLogin| async { Ok(Resolved::new("never")) },
        ))
        .with_state(service)
        .layer(SessionManagerLayer::new(MemoryStore::default()).with_secure(false))
}

/// A login extractor that always fails with 500, as tower-sessions' `Session` does when
/// its layer is missing.
struct BrokenLogin;

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for BrokenLogin {
    type Rejection = (axum::http::StatusCode, &'static str);

    async fn from_request_parts(
        _: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Err((
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            crate::fixtures::BROKEN_LOGIN_SAYS,
        ))
    }
}
