//! Serves the shared suite's test app on one adapter until killed, for `cargo xtask soak`.
//!
//! Usage: `soak-server axum|actix|rocket`; prints `listening on ADDR` once ready. The
//! resolver is the suite's scripted one: bearer `tok-alice-S3cr3t` is alice, `slow`
//! answers after 50 ms, `boom` fails, `down` is unavailable, `hang` times out (300 ms),
//! `panic` panics, anything else is refused.

use chat_token_tests::harness::{Actix, Axum, Harness, Rocket};

fn main() {
    let adapter = std::env::args().nth(1).unwrap_or_default();
    let (service, _resolver) = chat_token_tests::fixtures::service();
    let server = match adapter.as_str() {
        "axum" => Axum::start(service),
        "actix" => Actix::start(service),
        "rocket" => Rocket::start(service),
        other => {
            eprintln!("soak-server: unknown adapter {other:?}; use axum, actix or rocket");
            std::process::exit(2);
        }
    };
    println!("listening on {}", server.addr);
    loop {
        std::thread::park();
    }
}
