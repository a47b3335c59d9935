//! The actix-web test app.

use std::collections::HashMap;

use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::Key;
use actix_web::{App, HttpResponse, HttpServer, web};
use chat_token_actix::{Incoming, ResolvedIdentity, TokenReply};
use chat_token_core::{ResolveError, Resolved, TokenService};

use crate::fixtures::{APP_LOGIN_PAGE, APP_STATE, APP_USER_HEADER, app_login, identify_user};

use super::{Harness, Server};

/// actix-web 4.
pub struct Actix;

async fn me(ResolvedIdentity(user): ResolvedIdentity) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "identity": user.identity() }))
}

impl Harness for Actix {
    const NAME: &'static str = "actix-web";

    fn start(service: TokenService) -> Server {
        serve(service, None)
    }

    fn start_login(service: TokenService) -> Server {
        // A key of this server alone: another server's cookies do not open here.
        serve(service, Some(Key::generate()))
    }

    fn start_hand_written(service: TokenService) -> Server {
        serve_app(move || {
            App::new()
                .app_data(web::Data::new(AppState {
                    tokens: service.clone(),
                    greeting: APP_STATE,
                }))
                .route(
                    "/state",
                    web::get().to(|app: web::Data<AppState>| async move {
                        HttpResponse::Ok().body(app.greeting)
                    }),
                )
                .route("/token", web::route().to(hand_written_token))
                .route("/token-resolver", web::route().to(hand_written_resolver))
                .configure(chat_token_actix::configure_for_at(
                    "/token-for",
                    service.clone(),
                    |AppUser(user): AppUser| async move { app_login(Some(&user)) },
                ))
        })
    }
}

/// The hand-written app's own state, with the service in it.
struct AppState {
    tokens: TokenService,
    greeting: &'static str,
}

/// The hand-written app's own login extractor.
struct AppUser(String);

impl actix_web::FromRequest for AppUser {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(
            req.headers()
                .get(APP_USER_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(|user| AppUser(user.to_owned()))
                .ok_or_else(|| actix_web::error::ErrorUnauthorized("sign in")),
        )
    }
}

/// The hand-written token handler: the app's login, the core's answer.
async fn hand_written_token(app: web::Data<AppState>, Incoming(request): Incoming) -> TokenReply {
    let user = request.header(APP_USER_HEADER).map(str::to_owned);
    TokenReply(
        app.tokens
            .answer(&request, async move { app_login(user.as_deref()) })
            .await,
    )
}

/// The hand-written handler that lets the service's resolver identify the caller.
async fn hand_written_resolver(
    app: web::Data<AppState>,
    Incoming(request): Incoming,
) -> TokenReply {
    TokenReply(app.tokens.handle(&request).await)
}

/// Serves the app `make` builds, on a free loopback port, on a thread of its own.
fn serve_app<F, T, B>(make: F) -> Server
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: actix_web::body::MessageBody + 'static,
{
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("addr");
            let server = HttpServer::new(make)
                .workers(2)
                .disable_signals()
                .listen(listener)
                .expect("listen")
                .run();
            let handle = server.handle();
            addr_tx.send(addr).expect("send addr");
            actix_web::rt::spawn(async move {
                let _ = stop_rx.await;
                handle.stop(false).await;
            });
            let _ = server.await;
        });
    });
    Server::new(addr_rx.recv().expect("server address"), stop_tx, thread)
}

/// The signed-in user, from actix-session, for the token route.
async fn from_session(session: Session) -> Result<Resolved, ResolveError> {
    match session.get::<String>("user") {
        Ok(Some(user)) => identify_user(user).await,
        Ok(None) => Err(ResolveError::missing("sign in first")),
        Err(_) => Err(ResolveError::invalid("the session cannot be read")),
    }
}

async fn login(session: Session, q: web::Query<HashMap<String, String>>) -> HttpResponse {
    let user = q.get("user").cloned().unwrap_or_default();
    session.insert("user", user).expect("session insert");
    HttpResponse::NoContent().finish()
}

async fn logout(session: Session) -> HttpResponse {
    session.purge();
    HttpResponse::NoContent().finish()
}

async fn app_page(session: Session) -> HttpResponse {
    match session.get::<String>("user") {
        Ok(Some(user)) => HttpResponse::Ok()
            .content_type("text/html")
            .body(format!("hello {user}")),
        _ => HttpResponse::Unauthorized()
            .content_type("text/html")
            .body(APP_LOGIN_PAGE),
    }
}

/// The suite's app, or with `login`'s key the existing app with actix-session's
/// `CookieSessionStore`, its own login and pages.
fn serve(service: TokenService, login_key: Option<Key>) -> Server {
    serve_app(move || {
        let enabled = login_key.is_some();
        let key = login_key.clone().unwrap_or_else(Key::generate);
        let sessions = SessionMiddleware::builder(CookieSessionStore::default(), key)
            .cookie_secure(false)
            .build();
        let app = App::new().app_data(web::Data::new(service.clone()));
        let app = if enabled {
            app.route("/login", web::post().to(login))
                .route("/logout", web::post().to(logout))
                .route("/app", web::get().to(app_page))
                .configure(chat_token_actix::configure_with(from_session))
                .configure(chat_token_actix::configure_with_at(
                    "/token-broken",
                    |_: BrokenLogin| async { Ok(Resolved::new("never")) },
                ))
        } else {
            app.configure(chat_token_actix::configure)
                .route("/me", web::get().to(me))
                .route(
                    "/",
                    web::get()
                        .to(|| async { HttpResponse::Ok().json(serde_json::json!({"app": "ok"})) }),
                )
        };
        app.wrap(actix_web::middleware::Condition::new(enabled, sessions))
    })
}

/// A login extractor that always fails with 500, as a session middleware that is
/// missing makes `Session` fail.
struct BrokenLogin;

impl actix_web::FromRequest for BrokenLogin {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(_: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(Err(actix_web::error::ErrorInternalServerError(
            crate::fixtures::BROKEN_LOGIN_SAYS,
        )))
    }
}
