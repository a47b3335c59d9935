//! The axum test app.

use std::net::SocketAddr;

use axum::routing::get;
use axum::{Json, Router};
use chat_token_axum::ResolvedIdentity;
use chat_token_core::TokenService;

use super::{Harness, Server};

/// axum 0.8.
pub struct Axum;

async fn me(ResolvedIdentity(user): ResolvedIdentity) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "identity": user.identity() }))
}

impl Harness for Axum {
    const NAME: &'static str = "axum";

    fn start(service: TokenService) -> Server {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let app = Router::new()
                    .route(
                        "/",
                        get(|| async { Json(serde_json::json!({"app": "ok"})) }),
                    )
                    .route("/me", get(me))
                    .merge(chat_token_axum::router())
                    .with_state(service);
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
