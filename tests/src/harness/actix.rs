//! The actix-web test app.

use actix_web::{App, HttpResponse, HttpServer, web};
use chat_token_actix::ResolvedIdentity;
use chat_token_core::TokenService;

use super::{Harness, Server};

/// actix-web 4.
pub struct Actix;

async fn me(ResolvedIdentity(user): ResolvedIdentity) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "identity": user.identity() }))
}

impl Harness for Actix {
    const NAME: &'static str = "actix-web";

    fn start(service: TokenService) -> Server {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
                let addr = listener.local_addr().expect("addr");
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new(service.clone()))
                        .configure(chat_token_actix::configure)
                        .route("/me", web::get().to(me))
                        .route(
                            "/",
                            web::get().to(|| async {
                                HttpResponse::Ok().json(serde_json::json!({"app": "ok"}))
                            }),
                        )
                })
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
}
