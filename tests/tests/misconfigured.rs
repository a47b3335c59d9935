//! actix-web and rocket find the service at run time (app data, managed state): without
//! it, the token route and the extractor or guard answer the core's 500 JSON, and the log
//! says how to register the service in that framework. (On axum a missing service does
//! not compile.)

use actix_web::test as actix_test;
use actix_web::{App, HttpResponse, web};
use chat_token_tests::logs;

async fn actix_me(
    chat_token_actix::ResolvedIdentity(user): chat_token_actix::ResolvedIdentity,
) -> HttpResponse {
    HttpResponse::Ok().body(user.identity().to_owned())
}

#[actix_web::test]
async fn actix_a_missing_service_is_a_500_with_a_fix_in_the_log() {
    logs::install();
    let app = actix_test::init_service(
        App::new()
            .configure(chat_token_actix::configure)
            .route("/me", web::get().to(actix_me)),
    )
    .await;
    for path in ["/token", "/me"] {
        let resp =
            actix_test::call_service(&app, actix_test::TestRequest::get().uri(path).to_request())
                .await;
        assert_eq!(resp.status(), 500, "{path}");
        let body: serde_json::Value = actix_test::read_body_json(resp).await;
        assert_eq!(body["error"], "internal", "{path}");
    }
    let text = logs::text();
    assert!(
        text.contains("app_data(web::Data::new(service))"),
        "the log should say how to register the service: {text}"
    );
}

#[rocket::get("/me")]
fn rocket_me(user: chat_token_rocket::ResolvedIdentity) -> String {
    user.0.identity().to_owned()
}

#[test]
fn rocket_a_missing_service_is_a_500_with_a_fix_in_the_log() {
    logs::install();
    let rocket = rocket::custom(rocket::Config {
        log_level: rocket::config::LogLevel::Off,
        ..rocket::Config::debug_default()
    })
    .mount("/", chat_token_rocket::routes())
    .mount("/", rocket::routes![rocket_me])
    .register("/", chat_token_rocket::catchers());
    let client = rocket::local::blocking::Client::untracked(rocket).expect("rocket");
    for path in ["/token", "/me"] {
        let resp = client.get(path).dispatch();
        assert_eq!(resp.status().code, 500, "{path}");
        let body: serde_json::Value =
            serde_json::from_str(&resp.into_string().unwrap_or_default()).expect("json");
        assert_eq!(body["error"], "internal", "{path}");
    }
    let text = logs::text();
    assert!(
        text.contains("rocket::build().manage(service)"),
        "the log should say how to register the service: {text}"
    );
}
