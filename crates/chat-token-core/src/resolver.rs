//! Who is calling: the [`IdentityResolver`] trait, its answer [`Resolved`] and its
//! failure [`ResolveError`]. The ready resolvers live in [`resolvers`](crate::resolvers).
//!
//! The application decides who the user is with its own login system; a resolver is the
//! bridge. It reads an [`IncomingRequest`] (a bearer token, a session cookie, a header
//! set by an authenticating proxy) and answers with the user's identity, or with why
//! there is none. The HTTP status for each answer is decided once, by
//! [`TokenService`](crate::TokenService).

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;

use crate::grants::Grant;
use crate::request::IncomingRequest;
pub use crate::resolve_error::ResolveError;

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

/// A resolver already shared (one resolver behind several services, or kept by the
/// app to look at later) is a resolver. It hands back the shared resolver's own future,
/// so that sharing costs no allocation per request.
impl<R: IdentityResolver + ?Sized> IdentityResolver for std::sync::Arc<R> {
    fn resolve<'life0, 'life1, 'async_trait>(
        &'life0 self,
        req: &'life1 IncomingRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Resolved, ResolveError>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        R::resolve(self, req)
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
    tenant: Option<String>,
}

impl Resolved {
    /// The user's identity, with the service's default ttl and grants.
    pub fn new(identity: impl Into<String>) -> Self {
        Self {
            identity: identity.into(),
            ttl: None,
            grants: None,
            claims: None,
            tenant: None,
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

    /// The tenant (the customer organisation, with its own Twilio account) the user
    /// belongs to: the service signs the token with that tenant's credentials (see
    /// [`tenants`](crate::tenants)).
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The user's tenant, if any.
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
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
