//! Who is calling: the [`IdentityResolver`] trait, its answer [`Resolved`] and its
//! failure [`ResolveError`]. The ready resolvers live in [`resolvers`](crate::resolvers).
//!
//! The application decides who the user is with its own login system; a resolver is the
//! bridge. It reads an [`IncomingRequest`] (a bearer token, a session cookie, a header
//! set by an authenticating proxy) and answers with the user's identity, or with why
//! there is none. The HTTP status for each answer is decided once, by
//! [`TokenService`](crate::TokenService).

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;

use crate::grants::Grant;
use crate::request::IncomingRequest;

/// Turns a request's credentials into the user's identity.
///
/// Implement it for your own authentication, or pass a closure (see the impl for `Fn`).
///
/// ```
/// use chat_token_core::{IdentityResolver, IncomingRequest, ResolveError, Resolved};
///
/// struct ApiKeys;
///
/// #[async_trait::async_trait]
/// impl IdentityResolver for ApiKeys {
///     async fn resolve(&self, req: &IncomingRequest) -> Result<Resolved, ResolveError> {
///         match req.header("x-api-key") {
///             None => Err(ResolveError::missing("send the X-Api-Key header")),
///             Some("k-alice") => Ok(Resolved::new("alice")),
///             Some(_) => Err(ResolveError::invalid("unknown API key")),
///         }
///     }
/// }
/// ```
#[async_trait]
pub trait IdentityResolver: Send + Sync + 'static {
    /// Resolves the caller of `req`.
    async fn resolve(&self, req: &IncomingRequest) -> Result<Resolved, ResolveError>;
}

/// A closure taking `&IncomingRequest` and returning a future is a resolver. The future
/// cannot borrow the request: copy what it needs first.
///
/// ```
/// use chat_token_core::{IdentityResolver, IncomingRequest, ResolveError, Resolved};
///
/// fn assert_resolver(_: impl IdentityResolver) {}
/// assert_resolver(|req: &IncomingRequest| {
///     let user = req.header("x-user").map(str::to_owned);
///     async move { user.map(Resolved::new).ok_or_else(|| ResolveError::missing("no X-User")) }
/// });
/// ```
#[async_trait]
impl<F, Fut> IdentityResolver for F
where
    F: Fn(&IncomingRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Resolved, ResolveError>> + Send,
{
    async fn resolve(&self, req: &IncomingRequest) -> Result<Resolved, ResolveError> {
        (self)(req).await
    }
}

/// A resolver's answer: the identity and, optionally, per-user choices.
///
/// ```
/// use chat_token_core::{Resolved, VideoGrant};
///
/// // A support agent: an 8-hour token with video only.
/// let agent = Resolved::new("agent_42")
///     .with_ttl(8 * 3600)
///     .with_grants([VideoGrant::new().into()]);
/// assert_eq!(agent.ttl(), Some(28_800));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    identity: String,
    ttl: Option<u64>,
    grants: Option<Vec<Grant>>,
    claims: Option<std::sync::Arc<serde_json::Map<String, serde_json::Value>>>,
}

impl Resolved {
    /// The user's identity, with the service's default ttl and grants.
    pub fn new(identity: impl Into<String>) -> Self {
        Self {
            identity: identity.into(),
            ttl: None,
            grants: None,
            claims: None,
        }
    }

    /// Claims that describe the user (a verified JWT's, say), for per-user policy.
    pub fn with_claims(mut self, claims: serde_json::Map<String, serde_json::Value>) -> Self {
        self.claims = Some(std::sync::Arc::new(claims));
        self
    }

    /// As [`with_claims`](Self::with_claims), with claims already shared (a cache's).
    pub fn with_shared_claims(
        mut self,
        claims: std::sync::Arc<serde_json::Map<String, serde_json::Value>>,
    ) -> Self {
        self.claims = Some(claims);
        self
    }

    /// The claims, if the resolver gave any.
    pub fn claims(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.claims.as_deref()
    }

    /// A ttl for this user's tokens, in seconds (1..=86400), instead of the default.
    pub fn with_ttl(mut self, seconds: u64) -> Self {
        self.ttl = Some(seconds);
        self
    }

    /// Grants for this user's tokens, instead of the service's default grants.
    pub fn with_grants(mut self, grants: impl IntoIterator<Item = Grant>) -> Self {
        self.grants = Some(grants.into_iter().collect());
        self
    }

    /// The identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The per-user ttl, if any.
    pub fn ttl(&self) -> Option<u64> {
        self.ttl
    }

    /// The per-user grants, if any.
    pub fn grants(&self) -> Option<&[Grant]> {
        self.grants.as_deref()
    }
}

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
