//! The rocket test app.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;

use chat_token_core::TokenService;
use chat_token_rocket::{Incoming, ResolvedIdentity, TokenReply};
use rocket::config::{LogLevel, SecretKey, Shutdown};
use rocket::http::{CookieJar, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::content::RawHtml;

use crate::fixtures::{APP_LOGIN_PAGE, APP_STATE, APP_USER_HEADER, app_login, identify_user};
use rocket::fairing::AdHoc;
use rocket::serde::json::{Json, Value, json};

use super::{Harness, Server};

/// rocket 0.5.
pub struct Rocket;

#[rocket::get("/me")]
fn me(user: ResolvedIdentity) -> Json<Value> {
    Json(json!({ "identity": user.0.identity() }))
}

#[rocket::get("/")]
fn index() -> Json<Value> {
    Json(json!({"app": "ok"}))
}

/// The rocket configuration of the test apps: loopback, a free port, quiet.
pub fn test_config() -> rocket::Config {
    rocket::Config {
        address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        workers: 2,
        log_level: LogLevel::Off,
        cli_colors: false,
        shutdown: Shutdown {
            ctrlc: false,
            grace: 1,
            mercy: 1,
            ..Shutdown::default()
        },
        ..rocket::Config::debug_default()
    }
}

impl Harness for Rocket {
    const NAME: &'static str = "rocket";

    fn start(service: TokenService) -> Server {
        serve(
            rocket::custom(test_config())
                .manage(service)
                .mount("/", chat_token_rocket::routes())
                .mount("/", rocket::routes![me, index])
                .register("/", chat_token_rocket::catchers()),
        )
    }

    fn start_login(service: TokenService) -> Server {
        // A key of this server alone: another server's cookies do not open here.
        let config = rocket::Config {
            secret_key: SecretKey::generate().expect("secret key"),
            ..test_config()
        };
        // The app's own catchers at `/`, as existing apps have them: the token routes
        // need none and must not collide with them.
        let catchers = rocket::catchers![app_401, app_403, app_404, app_500, app_503];
        serve(
            rocket::custom(config)
                .manage(service)
                .mount(
                    "/",
                    chat_token_rocket::routes_with(|LoggedIn(user): LoggedIn| identify_user(user)),
                )
                .mount("/", rocket::routes![login, logout, app_page])
                .mount(
                    "/",
                    chat_token_rocket::routes_with_at("/token-broken", |_: BrokenLogin| async {
                        Ok::<_, chat_token_core::ResolveError>(chat_token_core::Resolved::new(
                            "never",
                        ))
                    }),
                )
                .register("/", catchers),
        )
    }

    fn start_hand_written(service: TokenService) -> Server {
        serve(
            rocket::custom(test_config())
                .manage(AppState {
                    greeting: APP_STATE,
                })
                .manage(service.clone())
                .mount(
                    "/",
                    rocket::routes![
                        app_state,
                        hand_written_get,
                        hand_written_post,
                        hand_written_resolver
                    ],
                )
                .mount("/", chat_token_rocket::other_methods_at("/token"))
                .mount(
                    "/",
                    chat_token_rocket::routes_for_at(
                        "/token-for",
                        service,
                        |AppUser(user): AppUser| async move { app_login(Some(&user)) },
                    ),
                ),
        )
    }
}

/// The hand-written app's own state.
struct AppState {
    greeting: &'static str,
}

/// The hand-written app's own login guard.
struct AppUser(String);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for AppUser {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        match req.headers().get_one(APP_USER_HEADER) {
            Some(user) => Outcome::Success(AppUser(user.to_owned())),
            None => Outcome::Forward(Status::Unauthorized),
        }
    }
}

#[rocket::get("/state")]
fn app_state(app: &rocket::State<AppState>) -> &'static str {
    app.greeting
}

/// The hand-written token route: the app's login, the core's answer.
async fn hand_written(tokens: &TokenService, request: Incoming) -> TokenReply {
    let user = request.0.header(APP_USER_HEADER).map(str::to_owned);
    TokenReply(
        tokens
            .answer(&request.0, async move { app_login(user.as_deref()) })
            .await,
    )
}

#[rocket::get("/token")]
async fn hand_written_get(tokens: &rocket::State<TokenService>, request: Incoming) -> TokenReply {
    hand_written(tokens, request).await
}

#[rocket::post("/token")]
async fn hand_written_post(tokens: &rocket::State<TokenService>, request: Incoming) -> TokenReply {
    hand_written(tokens, request).await
}

/// The hand-written route that lets the service's resolver identify the caller.
#[rocket::get("/token-resolver")]
async fn hand_written_resolver(
    tokens: &rocket::State<TokenService>,
    request: Incoming,
) -> TokenReply {
    TokenReply(tokens.handle(&request.0).await)
}

/// The existing app's login guard: the user name in a private cookie.
struct LoggedIn(String);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for LoggedIn {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        match req.cookies().get_private("user") {
            Some(cookie) => Outcome::Success(LoggedIn(cookie.value().to_owned())),
            None => Outcome::Error((Status::Unauthorized, ())),
        }
    }
}

#[rocket::post("/login?<user>")]
fn login(jar: &CookieJar<'_>, user: &str) -> Status {
    jar.add_private(("user", user.to_owned()));
    Status::NoContent
}

#[rocket::post("/logout")]
fn logout(jar: &CookieJar<'_>) -> Status {
    jar.remove_private("user");
    Status::NoContent
}

#[rocket::get("/app")]
fn app_page(user: LoggedIn) -> RawHtml<String> {
    RawHtml(format!("hello {}", user.0))
}

#[rocket::catch(401)]
fn app_401() -> RawHtml<&'static str> {
    RawHtml(APP_LOGIN_PAGE)
}

#[rocket::catch(403)]
fn app_403() -> RawHtml<&'static str> {
    RawHtml("<h1>the app's own 403 page</h1>")
}

#[rocket::catch(404)]
fn app_404() -> RawHtml<&'static str> {
    RawHtml("<h1>the app's own 404 page</h1>")
}

#[rocket::catch(500)]
fn app_500() -> RawHtml<&'static str> {
    RawHtml("<h1>the app's own 500 page</h1>")
}

#[rocket::catch(503)]
fn app_503() -> RawHtml<&'static str> {
    RawHtml("<h1>the app's own 503 page</h1>")
}

/// Launches `rocket` on a free loopback port, on a thread of its own.
fn serve(rocket: rocket::Rocket<rocket::Build>) -> Server {
    {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let addr_tx = Mutex::new(Some(addr_tx));
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let rocket = rocket.attach(AdHoc::on_liftoff("report the port", move |r| {
                    let port = r.config().port;
                    let tx = addr_tx.lock().ok().and_then(|mut t| t.take());
                    Box::pin(async move {
                        if let Some(tx) = tx {
                            let _ = tx.send(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
                        }
                    })
                }));
                let ignited = rocket.ignite().await.expect("ignite");
                let shutdown = ignited.shutdown();
                tokio::spawn(async move {
                    let _ = stop_rx.await;
                    shutdown.notify();
                });
                let _ = ignited.launch().await;
            });
        });
        Server::new(addr_rx.recv().expect("server address"), stop_tx, thread)
    }
}

/// A login guard that always fails with 500.
struct BrokenLogin;

#[rocket::async_trait]
impl<'r> FromRequest<'r> for BrokenLogin {
    type Error = ();

    async fn from_request(_: &'r Request<'_>) -> Outcome<Self, ()> {
        Outcome::Error((Status::InternalServerError, ()))
    }
}
