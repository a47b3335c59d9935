//! [`TokenServiceBuilder`]: a [`TokenService`]'s settings, checked once by `build`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};

use super::{Inner, TokenPolicy, TokenService};
use crate::cors::CorsPolicy;
use crate::grants::Grant;
use crate::issuer::TokenIssuer;
use crate::policy::{PolicyError, UserPolicy};
use crate::resolver::IdentityResolver;
use crate::tenants::{
    DEFAULT_TENANT_ENTRIES, DEFAULT_TENANT_TIMEOUT, DEFAULT_TENANT_TTL, TenantCache, TenantSource,
};
use crate::token::{AccessToken, MAX_TTL, TokenError};

/// How long a resolver may take by default before the request is answered 503.
pub const DEFAULT_RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a [`TokenService`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The default token is not valid: ttl out of range, no grants, or a bad SID in a
    /// grant.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The user policy is not valid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The tenant cache would keep no tenant at all (a lifetime of zero).
    #[error("the tenant cache must keep each tenant for more than zero time")]
    ZeroTenantTtl,
}

/// Builds a [`TokenService`].
pub struct TokenServiceBuilder {
    resolver: Option<Arc<dyn IdentityResolver>>,
    issuer: TokenIssuer,
    grants: Option<Vec<Grant>>,
    ttl: u64,
    resolve_timeout: Duration,
    strict_identity: bool,
    cors: Option<CorsPolicy>,
    users: Option<UserPolicy>,
    tenants: Option<Box<dyn TenantSource>>,
    tenant_entries: usize,
    tenant_ttl: Duration,
    tenant_timeout: Duration,
}

impl fmt::Debug for TokenServiceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenServiceBuilder")
            .field("issuer", &self.issuer)
            .field("grants", &self.grants)
            .field("ttl", &self.ttl)
            .field("resolve_timeout", &self.resolve_timeout)
            .finish_non_exhaustive()
    }
}

impl TokenServiceBuilder {
    /// The grants every user's token gets unless the resolver chooses others. Without
    /// this, the default is one chat grant for the issuer's default chat service.
    pub fn grants(mut self, grants: impl IntoIterator<Item = Grant>) -> Self {
        self.grants = Some(grants.into_iter().collect());
        self
    }

    /// The default ttl in seconds (1..=86400; default 3600).
    pub fn ttl(mut self, seconds: u64) -> Self {
        self.ttl = seconds;
        self
    }

    /// How long the resolver may take before the request is answered 503 (default 5 s).
    pub fn resolve_timeout(mut self, timeout: Duration) -> Self {
        self.resolve_timeout = timeout;
        self
    }

    /// Also refuse identities with the characters Twilio advises against.
    pub fn strict_identity(mut self, strict: bool) -> Self {
        self.strict_identity = strict;
        self
    }

    /// Lets browsers on these origins call the token endpoint (see [`CorsPolicy`]).
    pub fn cors(mut self, policy: CorsPolicy) -> Self {
        self.cors = Some(policy);
        self
    }

    /// Varies ttl and grants by identity, role or device (see [`UserPolicy`]).
    pub fn user_policy(mut self, policy: UserPolicy) -> Self {
        self.users = Some(policy);
        self
    }

    /// Signs each user's token with the Twilio account of the tenant the resolver (or the
    /// app's login) names with [`Resolved::with_tenant`](crate::Resolved::with_tenant), as `source` configures it (see
    /// [`tenants`](crate::tenants)). With a source, a user without a tenant is refused
    /// (403): no token is signed with this builder's own issuer for them.
    pub fn tenants(mut self, source: impl TenantSource) -> Self {
        self.tenants = Some(Box::new(source));
        self
    }

    /// How many tenants to remember (default 10,000; the least used leave first) and for
    /// how long (default 5 minutes).
    pub fn tenant_cache(mut self, entries: usize, ttl: Duration) -> Self {
        self.tenant_entries = entries;
        self.tenant_ttl = ttl;
        self
    }

    /// How long the tenant source may take before the request is answered 503 (default
    /// 5 s).
    pub fn tenant_timeout(mut self, timeout: Duration) -> Self {
        self.tenant_timeout = timeout;
        self
    }

    /// Checks the policy (ttl range, every SID in the default grants) and builds.
    ///
    /// The service records its metrics through the `metrics` facade, to whatever recorder
    /// is installed when a request is answered (see
    /// [`METRIC_TOKENS_MINTED`](crate::metrics::METRIC_TOKENS_MINTED) and the other `METRIC_*`
    /// names); `build` describes them to the recorder installed now, so install it first.
    pub fn build(self) -> Result<TokenService, BuildError> {
        if !(1..=MAX_TTL).contains(&self.ttl) {
            return Err(TokenError::TtlOutOfRange { ttl: self.ttl }.into());
        }
        let grants = match self.grants {
            Some(grants) => grants,
            None => vec![self.issuer.default_chat_grant().into()],
        };
        let template = default_token(grants, self.strict_identity)?;
        if let Some(users) = &self.users {
            users.check()?;
        }
        crate::metrics::describe();
        if self.tenants.is_some() && self.tenant_ttl.is_zero() {
            return Err(BuildError::ZeroTenantTtl);
        }
        let strict = self.strict_identity;
        let tenants = self.tenants.map(|source| {
            TenantCache::new(
                source,
                self.tenant_entries,
                self.tenant_ttl,
                self.tenant_timeout,
                Box::new(move |tenant| {
                    if let Some(ttl) = tenant.ttl()
                        && !(1..=MAX_TTL).contains(&ttl)
                    {
                        return Err(TokenError::TtlOutOfRange { ttl });
                    }
                    // Without grants or a chat service of its own, a tenant has no
                    // default token: the service's default grants name the services of
                    // the service's own account, which the tenant's key cannot reach.
                    let grants = match (tenant.grants(), tenant.issuer().chat_service_sid()) {
                        (Some(grants), _) => grants.to_vec(),
                        (None, Some(_)) => vec![tenant.issuer().default_chat_grant().into()],
                        (None, None) => Vec::new(),
                    };
                    default_token(grants, strict)
                }),
            )
        });
        Ok(TokenService {
            inner: Arc::new(Inner {
                tenants,
                resolver: self.resolver,
                issuer: ArcSwap::from_pointee(self.issuer),
                users: ArcSwapOption::from(self.users.map(Arc::new)),
                policy: TokenPolicy {
                    template,
                    ttl: self.ttl,
                    resolve_timeout: self.resolve_timeout,
                    strict_identity: self.strict_identity,
                    cors: self.cors,
                },
            }),
        })
    }
}

/// The token every request starts from: `grants` (at least one, each valid) and the
/// identity rule.
fn default_token(grants: Vec<Grant>, strict: bool) -> Result<AccessToken, TokenError> {
    if grants.is_empty() {
        return Err(TokenError::NoGrants);
    }
    for grant in &grants {
        grant.validate()?;
    }
    Ok(AccessToken::new()
        .with_strict_identity(strict)
        .with_grants(grants))
}

impl TokenService {
    /// Starts a builder with the issuer that signs and the resolver that says who calls
    /// (any [`IdentityResolver`], one shared in an `Arc` included).
    pub fn builder(issuer: TokenIssuer, resolver: impl IdentityResolver) -> TokenServiceBuilder {
        let mut builder = Self::without_resolver(issuer);
        builder.resolver = Some(Arc::new(resolver));
        builder
    }

    /// Starts a builder for a service whose callers are identified only by the app's
    /// own login, through the adapters' framework-native routes (or
    /// [`answer`](Self::answer) in a hand-written handler). [`handle`](Self::handle) and
    /// [`authenticate`](Self::authenticate) on such a service answer 500 `internal` and
    /// log that no resolver is configured.
    pub fn without_resolver(issuer: TokenIssuer) -> TokenServiceBuilder {
        TokenServiceBuilder {
            resolver: None,
            issuer,
            grants: None,
            ttl: crate::token::DEFAULT_TTL,
            resolve_timeout: DEFAULT_RESOLVE_TIMEOUT,
            strict_identity: false,
            cors: None,
            users: None,
            tenants: None,
            tenant_entries: DEFAULT_TENANT_ENTRIES,
            tenant_ttl: DEFAULT_TENANT_TTL,
            tenant_timeout: DEFAULT_TENANT_TIMEOUT,
        }
    }
}
