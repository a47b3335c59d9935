//! The accept loop: every connection bounded (header-read timeout, request timeout, a
//! connection cap), and a graceful stop on SIGINT or SIGTERM.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use chat_token_axum::TokenRejection;
use chat_token_core::http::{ErrorCode, Rejection};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::ServeArgs;

/// What bounds each connection and request (from the flags).
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) header_read: Duration,
    pub(super) request: Duration,
    pub(super) max_connections: usize,
}

impl Limits {
    pub(super) fn of(args: &ServeArgs) -> Self {
        Self {
            header_read: Duration::from_secs(args.header_read_timeout),
            request: Duration::from_secs(args.request_timeout),
            max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        }
    }
}

/// Accepts connections until SIGINT or SIGTERM, each on its own task, at most
/// `limits.max_connections` at once; then lets open requests finish (for at most the
/// longer of the two timeouts, and a second).
pub(super) async fn accept_loop(listener: TcpListener, app: Router, limits: Limits) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut warned_full: Option<Instant> = None;
    loop {
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if warned_full.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "connection limit reached: new connections wait until one closes"
                    );
                    warned_full = Some(Instant::now());
                }
                let acquired = tokio::select! {
                    slot = Arc::clone(&slots).acquire_owned() => slot.ok(),
                    () = &mut shutdown => None,
                };
                match acquired {
                    Some(slot) => slot,
                    None => break,
                }
            }
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => Some(accepted),
            () = &mut shutdown => None,
        };
        let (stream, peer) = match accepted {
            None => break,
            Some(Ok(pair)) => pair,
            Some(Err(err)) if is_connection_error(&err) => continue,
            Some(Err(err)) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::error!(error = %err, "cannot accept connections; trying again in 1 s");
                let stop = tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => false,
                    () = &mut shutdown => true,
                };
                if stop {
                    break;
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = app.clone();
        let service =
            hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
                // What `into_make_service_with_connect_info` did: the trusted-header resolver
                // needs the peer's address.
                request.extensions_mut().insert(ConnectInfo(peer));
                tower_service::Service::call(&mut router.clone(), request)
            });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%peer, error = %err, "connection closed on an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    let grace = limits.header_read.max(limits.request) + Duration::from_secs(1);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("connections still open {} s after the signal are closed", grace.as_secs());
        }
    }
}

/// Errors of one connection that was closed before it could be accepted.
fn is_connection_error(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Answers 503 `unavailable` (the JSON error contract, with `Retry-After`) to a request
/// that is not answered within `limit`.
pub(super) async fn time_limit(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                limit_s = limit.as_secs(),
                "a request was not answered in time; answered 503"
            );
            TokenRejection(Rejection::new(
                ErrorCode::Unavailable,
                format!(
                    "the request was not answered within {} s; try again",
                    limit.as_secs()
                ),
            ))
            .into_response()
        }
    }
}

pub(super) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
