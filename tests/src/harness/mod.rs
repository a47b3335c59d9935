//! One harness per adapter: the same small app on each framework.

mod actix;
mod axum;
mod rocket;

use std::net::SocketAddr;

pub use self::actix::Actix;
pub use self::axum::Axum;
pub use self::rocket::Rocket;

use chat_token_core::TokenService;

/// Starts an adapter's test app on `127.0.0.1:0`.
pub trait Harness {
    /// The adapter's name.
    const NAME: &'static str;

    /// Serves `/token`, a guarded `/me` (`{"identity": ...}`) and an unguarded `/`
    /// (`{"app":"ok"}`) with `service`, until the returned [`Server`] is dropped.
    fn start(service: TokenService) -> Server;

    /// Starts an existing app with its own login through the framework's real session
    /// library: `POST /login?user=NAME` signs in, `POST /logout` signs out, `GET /app`
    /// is the app's own route (its own 401 page when nobody is signed in), and the
    /// token route is the adapter's framework-native one, fed by that session through
    /// [`identify_user`](crate::fixtures::identify_user).
    fn start_login(service: TokenService) -> Server;

    /// Starts an app with a state of its own and its own login (the
    /// [`APP_USER_HEADER`](crate::fixtures::APP_USER_HEADER) header) whose token routes
    /// are written by hand with the adapter's `Incoming` and `TokenReply`: `/token` takes
    /// the user from that login through `TokenService::answer` (every method routed to
    /// it; rocket's own GET and POST routes with `other_methods_at`), `/token-resolver`
    /// answers through `TokenService::handle` (the service's resolver); `/token-for` is
    /// the adapter's ready route given the service directly (`router_for`,
    /// `configure_for`, `routes_for`) with the app's login extractor or guard; `/state`
    /// answers the app's own state ([`APP_STATE`](crate::fixtures::APP_STATE)).
    fn start_hand_written(service: TokenService) -> Server;
}

/// A running test server; dropping it asks the server to stop.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Wraps a server thread that stops when `stop` fires.
    pub fn new(
        addr: SocketAddr,
        stop: tokio::sync::oneshot::Sender<()>,
        thread: std::thread::JoinHandle<()>,
    ) -> Self {
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
