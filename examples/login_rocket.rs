//! An existing rocket app with its own login (a private cookie and a `LoggedIn` guard,
//! its own catchers at `/`), adding a Twilio token route that takes the signed-in user
//! from that guard.
//!
//! Run: `cargo run -p chat-token-examples --example login_rocket`, then
//! `curl -c jar -d 'user=alice&password=wonderland' http://127.0.0.1:3000/login` and
//! `curl -b jar http://127.0.0.1:3000/token`. Without `ROCKET_SECRET_KEY` the private
//! cookies use a random key, so sessions end with the process.
//!
//! The session lives in the private cookie itself: signing out removes it from the
//! browser, but a copy of the cookie taken before keeps getting tokens for as long as the
//! key is the same. A real app keeps sessions on the server (or an expiry inside the
//! cookie that its guard checks), so that signing out ends them; the token route is the
//! same either way.

use chat_token_examples::{
    SIGN_IN_PAGE, check_password, init_tracing, issuer_from_env, listen_addr,
};
use chat_token_rocket::prelude::*;
use rocket::form::Form;
use rocket::http::{CookieJar, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::Redirect;
use rocket::response::content::RawHtml;

const USER: &str = "user";

/// The app's own login guard: the user name in a private (encrypted) cookie.
struct LoggedIn(String);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for LoggedIn {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        match req.cookies().get_private(USER) {
            Some(cookie) => Outcome::Success(LoggedIn(cookie.value().to_owned())),
            None => Outcome::Error((Status::Unauthorized, ())),
        }
    }
}

#[derive(rocket::FromForm)]
struct Login {
    user: String,
    password: String,
}

/// The app's own login: checks the password and keeps the user in a private cookie.
#[rocket::post("/login", data = "<login>")]
fn login(jar: &CookieJar<'_>, login: Form<Login>) -> Result<Redirect, Status> {
    if !check_password(&login.user, &login.password) {
        return Err(Status::Unauthorized);
    }
    jar.add_private((USER, login.user.clone()));
    Ok(Redirect::to("/app"))
}

#[rocket::post("/logout")]
fn logout(jar: &CookieJar<'_>) -> Redirect {
    jar.remove_private(USER);
    Redirect::to("/app")
}

/// The app's own page; visitors who are not signed in get its own 401 page.
#[rocket::get("/app")]
fn app_page(user: LoggedIn) -> RawHtml<String> {
    RawHtml(format!("<p>Hello {}</p>", user.0))
}

/// The app's own catchers at `/`: the token route leaves them alone.
#[rocket::catch(401)]
fn sign_in_page() -> RawHtml<&'static str> {
    RawHtml(SIGN_IN_PAGE)
}

#[rocket::catch(404)]
fn not_found() -> RawHtml<&'static str> {
    RawHtml("<h1>Nothing here</h1>")
}

#[rocket::main]
async fn main() -> Result<(), chat_token_examples::MainError> {
    init_tracing();
    let service = TokenService::without_resolver(issuer_from_env()?).build()?; // chat-token
    let addr = listen_addr()?;
    let mut config: rocket::Config = rocket::Config::figment()
        .merge(("address", addr.ip()))
        .merge(("port", addr.port()))
        .extract()
        .map_err(|err: rocket::figment::Error| {
            // figment's message repeats the value it refused, and that value may be
            // ROCKET_SECRET_KEY: name the setting only.
            format!(
                "the rocket configuration does not load: {} is not valid (its value is not shown)",
                if err.path.is_empty() {
                    "a setting".to_owned()
                } else {
                    err.path.join(".")
                }
            )
        })?;
    if std::env::var_os("ROCKET_SECRET_KEY").is_none() {
        // A real app sets its key (ROCKET_SECRET_KEY); here a random one, so sessions
        // end when the example stops.
        tracing::warn!("ROCKET_SECRET_KEY is not set: private cookies use a random key");
        config.secret_key =
            rocket::config::SecretKey::generate().ok_or("no randomness for a key")?;
    }
    let _rocket = rocket::custom(config)
        .mount("/", rocket::routes![login, logout, app_page])
        // chat-token: GET|POST /token, for the user the app's own guard signed in.
        .mount(
            "/",
            chat_token_rocket::routes_for(service, |LoggedIn(user): LoggedIn| async move {
                Ok::<_, ResolveError>(Resolved::new(user))
            }),
        )
        .register("/", rocket::catchers![sign_in_page, not_found])
        .launch()
        .await?;
    Ok(())
}
