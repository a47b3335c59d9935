//! The rocket test app.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;

use chat_token_core::TokenService;
use chat_token_rocket::ResolvedIdentity;
use rocket::config::{LogLevel, Shutdown};
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
                let rocket = rocket::custom(test_config())
                    .manage(service)
                    .mount("/", chat_token_rocket::routes())
                    .mount("/", rocket::routes![me, index])
                    .register("/", chat_token_rocket::catchers())
                    .attach(AdHoc::on_liftoff("report the port", move |r| {
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
