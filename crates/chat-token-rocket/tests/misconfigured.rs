//! rocket finds the service at run time (managed state): without it, the route and the
//! guard answer the core's 500 JSON (through the catchers), and the log says how to
//! register the service.

use std::io::Write;
use std::sync::{Arc, Mutex};

use chat_token_rocket::ResolvedIdentity;
use rocket::local::blocking::Client;

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[rocket::get("/me")]
fn me(user: ResolvedIdentity) -> String {
    user.0.identity().to_owned()
}

#[test]
fn a_missing_service_is_a_500_with_a_fix_in_the_log() {
    let log = Log::default();
    let sink = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let rocket = rocket::custom(rocket::Config {
        log_level: rocket::config::LogLevel::Off,
        ..rocket::Config::debug_default()
    })
    .mount("/", chat_token_rocket::routes())
    .mount("/", rocket::routes![me])
    .register("/", chat_token_rocket::catchers());
    let client = Client::untracked(rocket).expect("rocket");
    for path in ["/token", "/me"] {
        let resp = client.get(path).dispatch();
        assert_eq!(resp.status().code, 500, "{path}");
        let body: serde_json::Value =
            serde_json::from_str(&resp.into_string().unwrap_or_default()).expect("json");
        assert_eq!(body["error"], "internal", "{path}");
    }
    let text = String::from_utf8_lossy(&log.0.lock().expect("log")).into_owned();
    assert!(
        text.contains("rocket::build().manage(service)"),
        "the log should say how to register the service: {text}"
    );
}
