//! [`ResolveError`]: why a resolver, or the app's own login, found no identity, and the
//! HTTP answer each reason gets. Reading a request's credentials
//! ([`IncomingRequest::bearer_token`](crate::IncomingRequest::bearer_token)) fails with it
//! too.

use std::borrow::Cow;
use std::time::Duration;

/// Why a resolver found no identity. Each variant maps to one HTTP answer (see
/// [`TokenService`](crate::TokenService)).
///
/// The messages of `MissingCredentials`, `InvalidCredentials` and `Forbidden` are sent to
/// the client, so they must not hold secrets or the presented credential. Those of
/// `Unavailable` and `Internal` only go to the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// No credentials were presented (401, `missing_credentials`).
    #[error("missing credentials: {0}")]
    MissingCredentials(Cow<'static, str>),
    /// Credentials were presented but are not valid (401, `invalid_credentials`).
    #[error("invalid credentials: {0}")]
    InvalidCredentials(Cow<'static, str>),
    /// The user is known but may not have a token (403, `forbidden`).
    #[error("forbidden: {0}")]
    Forbidden(Cow<'static, str>),
    /// The service behind the resolver is down or slow (503, `unavailable`).
    #[error("identity backend unavailable: {message}")]
    Unavailable {
        /// What failed; logged, not sent.
        message: Cow<'static, str>,
        /// How long the client should wait before trying again.
        retry_after: Option<Duration>,
    },
    /// Anything else (500, `internal`).
    #[error("resolver failed: {0}")]
    Internal(Cow<'static, str>),
}

impl ResolveError {
    /// [`ResolveError::MissingCredentials`] with a message for the client.
    pub fn missing(message: impl Into<Cow<'static, str>>) -> Self {
        Self::MissingCredentials(message.into())
    }

    /// [`ResolveError::InvalidCredentials`] with a message for the client.
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidCredentials(message.into())
    }

    /// [`ResolveError::Forbidden`] with a message for the client.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Forbidden(message.into())
    }

    /// [`ResolveError::Unavailable`] with a message for the log and no retry hint.
    pub fn unavailable(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Unavailable {
            message: message.into(),
            retry_after: None,
        }
    }

    /// [`ResolveError::Internal`] with a message for the log.
    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Internal(message.into())
    }

    /// The answer for an app's own login extractor or guard that refused the request
    /// with HTTP `status`; `detail` names the extractor and what it said, for the log.
    /// 403 stays `Forbidden`; a 5xx (the session store is down, the session layer is
    /// missing or does not cover the route) is `Internal`, logged with `detail`; anything
    /// else means nobody is signed in, `MissingCredentials`. The adapters'
    /// framework-native routes use it.
    pub fn from_login_rejection(status: u16, detail: impl std::fmt::Display) -> Self {
        match status {
            403 => Self::forbidden("this user may not have a token"),
            500..=599 => Self::internal(format!(
                "the app's login extractor or guard failed with HTTP {status}: {detail}"
            )),
            _ => {
                tracing::debug!(status, %detail, "the app's login extractor or guard found no signed-in user");
                Self::missing("no user is signed in; sign in first")
            }
        }
    }
}
