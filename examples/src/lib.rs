//! What the examples share: configuration from the environment, so that each example
//! file shows only what a framework's app adds.
//!
//! - Twilio credentials from `TWILIO_ACCOUNT_SID`, `TWILIO_API_KEY`, `TWILIO_API_SECRET`
//!   and `TWILIO_CHAT_SERVICE_SID`; without them, development credentials (tokens Twilio
//!   refuses) and a loud warning.
//! - Users from `CHAT_TOKEN_USERS="token=identity,..."`; without it, the demo users
//!   `demo-alice=alice,demo-bob=bob`, in development mode only: with real credentials
//!   and no `CHAT_TOKEN_USERS`, the example refuses to start.
//! - The port from `PORT` (default 3000), always on 127.0.0.1.

use std::net::{Ipv4Addr, SocketAddr};

// The three adapters re-export one and the same core, so these framework-neutral helpers
// name its types through any one of them (axum's); the actix-web and rocket examples get
// the very same `TokenService`.
use chat_token_axum::prelude::{IncomingRequest, Resolved, TokenIssuer, TokenService};
use chat_token_core::setup::EnvSetup;

/// What an example's `main` returns on failure. `main` prints an error with `Debug`,
/// which for a typed error is its structure (`Env(MissingVar { var: ... })`); this one
/// prints the error's message and the message of each cause, which say what to fix.
pub struct MainError(Box<dyn std::error::Error>);

impl<E: Into<Box<dyn std::error::Error>>> From<E> for MainError {
    fn from(error: E) -> Self {
        Self(error.into())
    }
}

impl std::fmt::Debug for MainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            // Many errors repeat their cause's message in their own: say it once.
            let message = error.to_string();
            if !shown.contains(&message) {
                write!(f, "\n  caused by: {message}")?;
                shown = message;
            }
            cause = error.source();
        }
        Ok(())
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A line that cannot be written is dropped, rather than reported with
        // `eprintln!`, which panics on the same closed stderr.
        .log_internal_errors(false)
        .try_init();
}

/// The token service the environment describes, with the static users resolver.
pub fn service_from_env() -> Result<TokenService, Box<dyn std::error::Error>> {
    let setup = EnvSetup::from_env()?;
    setup.warn();
    let (users, _demo) = setup.users_or_demo()?;
    Ok(TokenService::builder(setup.issuer, users).build()?)
}

/// The body of the `/control` route: a real token response for `alice`, made once at
/// start-up, so that it has the size of a `/token` answer. `cargo xtask bench` loads
/// `/control` next to `/token` to show what the token route costs over a static route.
pub fn control_body(service: &TokenService) -> String {
    let req = IncomingRequest::new("GET", "/token");
    let alice = std::future::ready(Ok(Resolved::new("alice")));
    // The outcome is ready, so the answer completes on its first poll.
    futures_util::FutureExt::now_or_never(service.answer(&req, alice))
        .map(|reply| reply.body)
        .unwrap_or_default()
}

/// `127.0.0.1:$PORT`, port 3000 by default.
pub fn listen_addr() -> Result<SocketAddr, Box<dyn std::error::Error>> {
    let port = match std::env::var("PORT") {
        Ok(p) => p
            .parse::<u16>()
            .map_err(|_| format!("PORT must be a port number, got {p:?}"))?,
        Err(_) => 3000,
    };
    Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

/// The Twilio issuer the environment describes, for apps whose users sign in with the
/// app's own login (no users table, no demo users).
pub fn issuer_from_env() -> Result<TokenIssuer, Box<dyn std::error::Error>> {
    let setup = EnvSetup::from_env()?;
    setup.warn();
    Ok(setup.issuer)
}

/// The login examples' own accounts. A real app checks a password hash in its user
/// store; this stands in for that, and is not chat-token code.
pub fn check_password(user: &str, password: &str) -> bool {
    const ACCOUNTS: [(&str, &str); 2] = [("alice", "wonderland"), ("bob", "builder")];
    ACCOUNTS.iter().any(|(u, p)| *u == user && *p == password)
}

/// The login examples' own page for visitors who are not signed in.
pub const SIGN_IN_PAGE: &str = "<h1>Sign in</h1><form method=post action=/login><input name=user><input name=password type=password><button>Sign in</button></form>";

#[cfg(test)]
mod tests {
    use super::MainError;

    #[test]
    fn a_failed_main_shows_the_message_and_its_causes() {
        let missing = chat_token_core::env::EnvError::MissingVar {
            var: "TWILIO_API_KEY",
            what: "API key SID",
        };
        let shown = format!("{:?}", MainError::from(missing.clone()));
        assert_eq!(shown, missing.to_string());
        assert!(shown.starts_with("TWILIO_API_KEY is not set"), "{shown}");

        /// An error that names `missing` as its cause.
        #[derive(Debug)]
        struct Wrapped(chat_token_core::env::EnvError);
        impl std::fmt::Display for Wrapped {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("the service cannot start")
            }
        }
        impl std::error::Error for Wrapped {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let shown = format!("{:?}", MainError::from(Wrapped(missing.clone())));
        assert_eq!(
            shown,
            format!("the service cannot start\n  caused by: {missing}")
        );

        // An error whose message already holds its cause's: the cause is not repeated.
        let users = "x=alice"
            .parse::<chat_token_core::StaticUsers>()
            .unwrap_err();
        let setup = chat_token_core::setup::SetupError::from(users.clone());
        let shown = format!("{:?}", MainError::from(setup.clone()));
        assert_eq!(shown, setup.to_string());
        assert_eq!(shown.matches(&users.to_string()).count(), 1, "{shown}");
    }
}
