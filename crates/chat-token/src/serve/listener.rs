//! The accept loop: every connection bounded (header-read timeout, request timeout, a
//! write timeout and a bounded buffer for answers a client does not read, a connection
//! cap), and a graceful stop on SIGINT or SIGTERM.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use chat_token_axum::TokenRejection;
use chat_token_core::http::{ErrorCode, Rejection};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Sleep;

use super::ServeArgs;

/// What bounds each connection and request (from the flags).
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) header_read: Duration,
    pub(super) request: Duration,
    pub(super) write: Duration,
    pub(super) max_connections: usize,
}

/// How much of a connection's requests and answers hyper buffers: a request head must
/// fit (larger ones are refused with 431), and a client that sends requests without
/// reading the answers makes the server stop reading once this much is queued.
const CONNECTION_BUFFER: usize = 64 * 1024;

impl Limits {
    pub(super) fn of(args: &ServeArgs) -> Self {
        Self {
            header_read: Duration::from_secs(args.header_read_timeout),
            request: Duration::from_secs(args.request_timeout),
            write: Duration::from_secs(args.write_timeout),
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
        .header_read_timeout(limits.header_read)
        .max_buf_size(CONNECTION_BUFFER);
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
        let stream = WriteDeadline::new(stream, limits.write);
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

/// A connection that fails its pending write once no byte could be sent for `limit`, so
/// that a client that never reads its answers cannot hold the connection (and its slot)
/// for ever. The clock starts when a write cannot proceed and stops at the next byte
/// sent.
struct WriteDeadline {
    stream: TcpStream,
    limit: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl WriteDeadline {
    fn new(stream: TcpStream, limit: Duration) -> Self {
        Self {
            stream,
            limit,
            stalled: None,
        }
    }

    /// `Pending` while the stall is younger than the limit (the timer wakes the task when
    /// it is not), then an error; any progress clears the stall.
    fn stall<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                tracing::debug!(
                    limit_s = limit.as_secs(),
                    "a client took no answer bytes in time; closing its connection"
                );
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client did not read its answers in time",
                )))
            }
        }
    }
}

impl AsyncRead for WriteDeadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteDeadline {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.stall(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.stall(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.stream).poll_flush(cx);
        self.stall(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.stream).poll_shutdown(cx);
        self.stall(cx, polled)
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
