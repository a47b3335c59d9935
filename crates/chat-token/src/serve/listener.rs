//! The accept loop: every connection bounded (header-read timeout, request timeout, a
//! write timeout and a bounded buffer for answers a client does not read, a connection
//! cap whose idle and stuck connections make room for new ones), and a graceful stop on
//! SIGINT or SIGTERM.

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

/// Open files kept for what is not a connection: the listener, the runtime's, the file
/// watcher's, the files read on a reload, the JWKS client's.
const FILES_NOT_CONNECTIONS: u64 = 64;

impl Limits {
    /// The limits of the flags; `--max-connections` lowered (with a warning) to what the
    /// process's open-files limit allows, since past it every accept fails and the slots
    /// are never all taken, so no idle connection would ever give its slot up.
    pub(super) fn of(args: &ServeArgs) -> Self {
        let asked = u64::from(args.max_connections);
        let max_connections = match open_files_limit() {
            Some(limit) if asked.saturating_add(FILES_NOT_CONNECTIONS) > limit => {
                let allowed = limit.saturating_sub(FILES_NOT_CONNECTIONS).max(1);
                tracing::warn!(
                    "--max-connections {asked} is more than the open-files limit allows ({limit}, of which {FILES_NOT_CONNECTIONS} are kept for other files): serving at most {allowed} connections at once; raise the limit (`ulimit -n`, the container's nofile limit) to serve more"
                );
                allowed
            }
            _ => asked,
        };
        Self {
            header_read: Duration::from_secs(args.header_read_timeout),
            request: Duration::from_secs(args.request_timeout),
            write: Duration::from_secs(args.write_timeout),
            max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
        }
    }
}

/// The process's soft limit of open files; `None` when it is unlimited, or off Unix.
fn open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// How long a connection must have been idle (no request in flight, nothing being
/// written), or its answers stuck unread, before it gives its slot up to a new connection
/// when every slot is taken.
const EVICTABLE_AFTER: Duration = Duration::from_secs(1);

/// How often, while every slot is taken, connections are looked at for one to evict.
const EVICTION_ROUND: Duration = Duration::from_millis(200);

/// Eviction: keep-alive ends, the connection closes after the answer in flight.
const CLOSE_AFTER: u8 = 1;
/// Eviction: the connection closes at once (idle, or its answers stuck unread).
const CLOSE_NOW: u8 = 2;

/// What the accept loop knows of one open connection.
struct Conn {
    /// When it was accepted, for the clock below.
    born: Instant,
    /// Whether a request is being answered.
    busy: std::sync::atomic::AtomicBool,
    /// Whether an answer was given on it.
    served: std::sync::atomic::AtomicBool,
    /// Milliseconds since `born` at which it last became idle.
    idle_since: std::sync::atomic::AtomicU64,
    /// Milliseconds since `born` at which its pending write began, or `u64::MAX` when no
    /// write is pending.
    stalled_since: std::sync::atomic::AtomicU64,
    /// Set when the accept loop wants its slot: [`CLOSE_AFTER`] or [`CLOSE_NOW`].
    evict: std::sync::atomic::AtomicU8,
    wake: tokio::sync::Notify,
}

impl Conn {
    fn new() -> Self {
        Self {
            born: Instant::now(),
            busy: std::sync::atomic::AtomicBool::new(false),
            served: std::sync::atomic::AtomicBool::new(false),
            idle_since: std::sync::atomic::AtomicU64::new(0),
            stalled_since: std::sync::atomic::AtomicU64::new(u64::MAX),
            evict: std::sync::atomic::AtomicU8::new(0),
            wake: tokio::sync::Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// How it may be evicted now: [`CLOSE_NOW`] when its answers have been stuck unread
    /// for [`EVICTABLE_AFTER`], or when it has been idle that long; [`CLOSE_AFTER`] when it
    /// has been answered before (a kept-alive connection: it closes after the answer in
    /// flight, if any, and its client queues again like everyone else); 0 otherwise (a
    /// new connection whose first request has not come yet, for a second).
    fn evictable(&self) -> u8 {
        use std::sync::atomic::Ordering::Relaxed;
        let now = self.now_ms();
        let after = u64::try_from(EVICTABLE_AFTER.as_millis()).unwrap_or(u64::MAX);
        let stalled = self.stalled_since.load(Relaxed);
        if stalled != u64::MAX && now.saturating_sub(stalled) >= after {
            return CLOSE_NOW;
        }
        let idle = !self.busy.load(Relaxed) && stalled == u64::MAX;
        if idle && now.saturating_sub(self.idle_since.load(Relaxed)) >= after {
            return CLOSE_NOW;
        }
        if self.served.load(Relaxed) {
            return CLOSE_AFTER;
        }
        0
    }
}

/// The open connections, by number.
type Conns = Arc<std::sync::Mutex<std::collections::HashMap<u64, Arc<Conn>>>>;

/// Asks every connection that has been idle, or whose answers have been stuck unread,
/// for [`EVICTABLE_AFTER`] to give its slot up at once, and every kept-alive one to close
/// after the answer in flight (a client that holds a kept-alive connection, busy or not,
/// or that sends requests and never reads, must not keep a new client out while every
/// slot is taken: it queues again behind the clients that wait).
fn evict(conns: &Conns) {
    let conns = conns.lock().unwrap_or_else(|e| e.into_inner());
    for conn in conns.values() {
        let how = conn.evictable();
        if how > conn.evict.load(std::sync::atomic::Ordering::Relaxed) {
            conn.evict.store(how, std::sync::atomic::Ordering::Relaxed);
            conn.wake.notify_one();
        }
    }
}

/// Accepts connections until SIGINT or SIGTERM, each on its own task, at most
/// `limits.max_connections` at once; then lets open requests finish (for at most the
/// longer of the two timeouts, and a second). While every slot is taken, connections
/// idle or stuck for [`EVICTABLE_AFTER`] are closed to make room, and kept-alive ones
/// close after their answer.
pub(super) async fn accept_loop(listener: TcpListener, app: Router, limits: Limits) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .max_buf_size(CONNECTION_BUFFER);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let conns: Conns = Arc::default();
    let (stopping, _) = tokio::sync::watch::channel(false);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut warned_full: Option<Instant> = None;
    let mut next = 0u64;
    loop {
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if warned_full.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "connection limit reached: new connections wait until one closes (idle and stuck ones are closed to make room)"
                    );
                    warned_full = Some(Instant::now());
                }
                let acquired = loop {
                    evict(&conns);
                    tokio::select! {
                        slot = Arc::clone(&slots).acquire_owned() => break slot.ok(),
                        () = tokio::time::sleep(EVICTION_ROUND) => {}
                        () = &mut shutdown => break None,
                    }
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
        // Kernel buffers of a fixed, small size: a client that sends and never reads
        // holds this much of the host's memory, not what autotuning would grow to.
        let socket = socket2::SockRef::from(&stream);
        let _ = socket.set_recv_buffer_size(CONNECTION_BUFFER);
        let _ = socket.set_send_buffer_size(CONNECTION_BUFFER);
        let conn = Arc::new(Conn::new());
        next += 1;
        let id = next;
        conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, conn.clone());
        let router = app.clone();
        let tracked = conn.clone();
        let service =
            hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
                // What `into_make_service_with_connect_info` did: the trusted-header resolver
                // needs the peer's address.
                request.extensions_mut().insert(ConnectInfo(peer));
                tracked.busy.store(true, Relaxed);
                let answered = tower_service::Service::call(&mut router.clone(), request);
                let tracked = tracked.clone();
                async move {
                    let response = answered.await;
                    tracked.idle_since.store(tracked.now_ms(), Relaxed);
                    tracked.served.store(true, Relaxed);
                    tracked.busy.store(false, Relaxed);
                    response
                }
            });
        let stream = WriteDeadline::new(stream, limits.write, conn.clone());
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let (conns, mut stopping) = (conns.clone(), stopping.subscribe());
        tokio::spawn(async move {
            tokio::pin!(connection);
            let mut closing = false;
            loop {
                tokio::select! {
                    done = connection.as_mut() => {
                        if let Err(err) = done {
                            tracing::debug!(%peer, error = %err, "connection closed on an error");
                        }
                        break;
                    }
                    // Nothing is cut: an idle connection has nothing in flight and its
                    // last answer was written a second ago; a stuck one is not reading;
                    // a kept-alive one closes after the answer in flight.
                    () = conn.wake.notified() => {
                        if conn.evict.load(Relaxed) == CLOSE_NOW {
                            tracing::debug!(%peer, "every slot taken: an idle or stuck connection is closed");
                            break;
                        }
                        if !closing {
                            connection.as_mut().graceful_shutdown();
                            closing = true;
                        }
                    }
                    Ok(()) = stopping.changed(), if !closing => {
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            }
            conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            drop(slot);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    let grace = limits.header_read.max(limits.request) + Duration::from_secs(1);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    tokio::select! {
        _ = slots.acquire_many(all) => {}
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
    /// Where the accept loop sees the stall, to evict the connection when every slot is
    /// taken.
    conn: Arc<Conn>,
}

impl WriteDeadline {
    fn new(stream: TcpStream, limit: Duration, conn: Arc<Conn>) -> Self {
        Self {
            stream,
            limit,
            stalled: None,
            conn,
        }
    }

    /// `Pending` while the stall is younger than the limit (the timer wakes the task when
    /// it is not), then an error; any progress clears the stall.
    fn stall<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        use std::sync::atomic::Ordering::Relaxed;
        if polled.is_ready() {
            if self.stalled.take().is_some() {
                self.conn.stalled_since.store(u64::MAX, Relaxed);
            }
            return polled;
        }
        if self.stalled.is_none() {
            self.conn.stalled_since.store(self.conn.now_ms(), Relaxed);
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
