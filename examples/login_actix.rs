//! An existing actix-web app with its own login (actix-session), adding a Twilio token
//! route that takes the signed-in user from the session.
//!
//! Run: `cargo run -p chat-token-examples --example login_actix`, then
//! `curl -c jar -d 'user=alice&password=wonderland' http://127.0.0.1:3000/login` and
//! `curl -b jar http://127.0.0.1:3000/token`.
//!
//! The session lives in the cookie itself (actix-session's `CookieSessionStore`, signed
//! and encrypted with `key`): signing out removes it from the browser, but a copy of the
//! cookie taken before keeps getting tokens. A real app keeps sessions on the server
//! (actix-session's Redis store), so that signing out ends them; the token route is the
//! same either way.

use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::Key;
use actix_web::http::header;
use actix_web::{App, HttpResponse, HttpServer, web};
use chat_token_actix::prelude::*;
use chat_token_examples::{
    SIGN_IN_PAGE, check_password, init_tracing, issuer_from_env, listen_addr,
};
use serde::Deserialize;

const USER: &str = "user";

#[derive(Deserialize)]
struct Login {
    user: String,
    password: String,
}

fn see_app() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/app"))
        .finish()
}

/// The app's own login: checks the password and keeps the user in the session.
async fn login(session: Session, form: web::Form<Login>) -> HttpResponse {
    if !check_password(&form.user, &form.password) {
        return HttpResponse::Unauthorized()
            .content_type("text/html")
            .body(SIGN_IN_PAGE);
    }
    session.renew();
    match session.insert(USER, &form.user) {
        Ok(()) => see_app(),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

async fn logout(session: Session) -> HttpResponse {
    session.purge();
    see_app()
}

/// The app's own page, with its own answer for visitors who are not signed in.
async fn app_page(session: Session) -> HttpResponse {
    match session.get::<String>(USER) {
        Ok(Some(user)) => HttpResponse::Ok()
            .content_type("text/html")
            .body(format!("<p>Hello {user}</p>")),
        _ => HttpResponse::Unauthorized()
            .content_type("text/html")
            .body(SIGN_IN_PAGE),
    }
}

// chat-token: the signed-in user, from the session the app already has.
async fn chat_user(session: Session) -> Result<Resolved, ResolveError> {
    match session.get::<String>(USER) {
        Ok(Some(user)) => Ok(Resolved::new(user)),
        _ => Err(ResolveError::missing("sign in first")),
    }
}

#[actix_web::main]
async fn main() -> Result<(), chat_token_examples::MainError> {
    init_tracing();
    let service = TokenService::without_resolver(issuer_from_env()?).build()?; // chat-token
    // A real app loads its session key from its configuration.
    let key = Key::generate();
    let addr = listen_addr()?;
    tracing::info!(%addr, "actix-web login example listening");
    HttpServer::new(move || {
        App::new()
            .route("/login", web::post().to(login))
            .route("/logout", web::post().to(logout))
            .route("/app", web::get().to(app_page))
            .configure(chat_token_actix::configure_for(service.clone(), chat_user)) // chat-token: GET|POST /token
            // Plain http on loopback for the example; behind https keep the secure default.
            .wrap(
                SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                    .cookie_secure(false)
                    .build(),
            )
    })
    .bind(addr)?
    .run()
    .await?;
    Ok(())
}
