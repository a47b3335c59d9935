//! actix-web finds the service at run time (app data): without it, the route and the
//! extractor answer the core's 500 JSON, and the log says how to register the service.

use std::io::Write;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, test, web};
use chat_token_actix::ResolvedIdentity;

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

async fn me(ResolvedIdentity(user): ResolvedIdentity) -> HttpResponse {
    HttpResponse::Ok().body(user.identity().to_owned())
}

#[actix_web::test]
async fn a_missing_service_is_a_500_with_a_fix_in_the_log() {
    let log = Log::default();
    let sink = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = test::init_service(
        App::new()
            .configure(chat_token_actix::configure)
            .route("/me", web::get().to(me)),
    )
    .await;
    for path in ["/token", "/me"] {
        let resp = test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
        assert_eq!(resp.status(), 500, "{path}");
        let body: serde_json::Value = test::read_body_json(resp).await;
        assert_eq!(body["error"], "internal", "{path}");
    }
    let text = String::from_utf8_lossy(&log.0.lock().expect("log")).into_owned();
    assert!(
        text.contains("app_data(web::Data::new(service))"),
        "the log should say how to register the service: {text}"
    );
}
