//! [`JwtBearerResolver`]: the caller's identity from a bearer JWT issued by the app's
//! identity provider (Auth0, Cognito, Keycloak, Firebase, or the app's own login).
//!
//! The JWT is read and checked by jsonwebtoken (signature, then the registered claims),
//! with the rules it lacks added by [`jws`](super::jws): HS256 with a shared secret of at
//! least 32 bytes, or RS256/384/512, PS256/384/512, ES256/384 and EdDSA with keys from a
//! JWKS document (parsed by jsonwebtoken's JWK types, prepared once per fetch); issuer,
//! audience, expiry, not-before and issued-at with a small leeway. One
//! configurable claim (`sub`, `email`, `preferred_username`, ...) becomes the Twilio
//! identity. Issuer and audience are required: without them a token minted for another
//! application that shares the key set (a Google, Firebase or Auth0 tenant) would be
//! accepted, and its user chooses their own `sub` and `email`. Opting out takes a
//! builder call whose name says it is unsafe, and logs a warning.
//!
//! With `email` as the identity claim, a token whose `email_verified` claim is present
//! must have it true (`true` or `"true"`, as Cognito writes it). After
//! [`JwtBearerBuilder::require_email_verified`], every token must have it true, whatever
//! the identity claim.
//!
//! `exp` is required. A token with a `crit` header is refused (no critical extension is
//! understood, RFC 7515, 4.1.11), as are the headers of an encrypted JWT (`enc`, `zip`)
//! and a `typ` of `logout+jwt`, `secevent+jwt` or `dpop+jwt`: other JWTs the provider
//! signs for the same audience, which are not bearer tokens (RFC 8725, 3.11).
//!
//! JWKS keys are parsed once, when fetched, and cached by key id. A token signed with an
//! unknown key id triggers a refetch, so a rotation is picked up on the first token that
//! uses the new key; refetches are budgeted ([`JwtBearerBuilder::refetch_budget`],
//! default 10 per minute) so that a flood of forged key ids cannot hammer the provider.
//! Keys are also fetched again once they are older than
//! [`JwtBearerBuilder::max_key_age`] (default 15 minutes), outside the budget, so a key
//! the provider withdrew stops being accepted. A fetch that fails, or yields no usable
//! key, keeps the keys already cached. When no cached key fits and the JWKS cannot be
//! fetched, the answer is 503 `unavailable`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::Algorithm;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

#[cfg(feature = "jwks")]
use super::jwks::HttpJwks;
use super::jwks::{JwksCache, JwksSource, Refresh};
use super::jws::{self, ClaimRules, VerifyingKey};
use super::verified_cache::{Bounds, Verified, VerifiedCache, VerifiedCacheStats};
use crate::clock::{Clock as _, SystemClock};
use crate::request::IncomingRequest;
use crate::resolver::{IdentityResolver, ResolveError, Resolved};

/// The shortest HS256 secret accepted, in bytes (RFC 7518, 3.2: at least the hash size).
pub const MIN_HS256_SECRET_LEN: usize = 32;

/// Why a [`JwtBearerResolver`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtConfigError {
    /// The identity claim name is empty.
    #[error("the identity claim name is empty; use sub, email or preferred_username")]
    EmptyIdentityClaim,
    /// The shared HS256 secret is shorter than [`MIN_HS256_SECRET_LEN`] bytes.
    #[error(
        "the HS256 secret has {len} bytes; at least {MIN_HS256_SECRET_LEN} are needed (e.g. `openssl rand -base64 48`)"
    )]
    ShortSecret {
        /// The secret's length in bytes.
        len: usize,
    },
    /// No audience was configured and none was explicitly waived.
    #[error(
        "no audience configured: set the audience (aud) your identity provider puts in tokens for this app; without it, tokens minted for any other app of the same provider are accepted"
    )]
    MissingAudience,
    /// No issuer was configured and none was explicitly waived.
    #[error(
        "no issuer configured: set the issuer (iss) of your identity provider; without it, tokens from any issuer that shares the keys are accepted"
    )]
    MissingIssuer,
    /// Neither an issuer nor an audience was configured, and neither was waived: both
    /// are named at once, rather than one per failed build.
    #[error(
        "no issuer and no audience configured: set the issuer (iss) of your identity provider and the audience (aud) it puts in tokens for this app; without them, tokens minted for any other app, or by any issuer that shares the keys, are accepted"
    )]
    MissingIssuerAndAudience,
    /// The JWKS URL cannot be used.
    #[error("the JWKS URL cannot be used: {reason}")]
    JwksUrl {
        /// Why (the URL is not repeated: it may hold a secret).
        reason: String,
    },
    /// The refetch budget allows no fetch at all, or its period is zero (no limit).
    #[error("the JWKS refetch budget must allow at least one fetch per period of more than zero")]
    ZeroBudget,
    /// The maximum key age is zero: every request would fetch the JWKS.
    #[error("the JWKS maximum key age must be more than zero")]
    ZeroKeyAge,
    /// The leeway is longer than [`MAX_LEEWAY`]: expired tokens would be accepted for
    /// that long.
    #[error(
        "the leeway on exp, nbf and iat may be at most one day (a few seconds to minutes of clock skew is usual)"
    )]
    LeewayTooLong,
    /// Both crypto backends are on and jsonwebtoken's process-wide provider was chosen
    /// before any was installed (the app called jsonwebtoken first): every verification
    /// would panic.
    #[error(
        "jsonwebtoken has no usable crypto provider: both of its backends are enabled and it was used before one was installed; call chat_token_core::crypto::ensure_jsonwebtoken_provider() (through an adapter: chat_token_axum::chat_token_core::crypto::..., and so on), or install a provider, before the app's first jsonwebtoken call"
    )]
    NoJwtProvider,
}

enum Keys {
    Shared(Arc<VerifyingKey>),
    Jwks(Box<JwksCache>),
}

/// Resolves the caller from `Authorization: Bearer <JWT>` issued by an identity provider.
///
/// With the provider's published keys (feature `jwks`), fetched when first needed:
///
/// ```
/// # #[cfg(feature = "jwks")] {
/// use chat_token_core::JwtBearerResolver;
///
/// let resolver = JwtBearerResolver::jwks_url("https://login.example.com/.well-known/jwks.json")
///     .issuer("https://login.example.com/")
///     .audience("chat")
///     .build()?;
/// # }
/// # Ok::<(), chat_token_core::resolvers::JwtConfigError>(())
/// ```
///
/// With a secret shared with the app that signs the JWTs:
///
/// ```
/// use chat_token_core::{JwtBearerResolver, SecretString};
///
/// let resolver = JwtBearerResolver::hs256(SecretString::from("app-session-secret-of-32-bytes-or-more"))
///     .issuer("https://login.example.com/")
///     .audience("chat")
///     .identity_claim("email")
///     .build()?;
/// # Ok::<(), chat_token_core::resolvers::JwtConfigError>(())
/// ```
pub struct JwtBearerResolver {
    keys: Keys,
    rules: ClaimRules,
    identity_claim: String,
    require_email_verified: bool,
    tenant_claim: Option<String>,
    cache: VerifiedCache,
}

impl std::fmt::Debug for JwtBearerResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtBearerResolver")
            .field("identity_claim", &self.identity_claim)
            .field("issuer", &self.rules.issuer)
            .field("audience", &self.rules.audience)
            .finish_non_exhaustive()
    }
}

/// Builds a [`JwtBearerResolver`].
pub struct JwtBearerBuilder {
    keys: Result<Keys, JwtConfigError>,
    issuer: Option<String>,
    audience: Option<String>,
    any_issuer: bool,
    any_audience: bool,
    identity_claim: String,
    require_email_verified: bool,
    tenant_claim: Option<String>,
    leeway: Duration,
    budget: (usize, Duration),
    max_key_age: Duration,
    cache: Bounds,
}

impl JwtBearerResolver {
    /// Tokens signed with HS256 and this shared secret (at least
    /// [`MIN_HS256_SECRET_LEN`] bytes).
    pub fn hs256(secret: SecretString) -> JwtBearerBuilder {
        let len = secret.expose_secret().len();
        let keys = if len < MIN_HS256_SECRET_LEN {
            Err(JwtConfigError::ShortSecret { len })
        } else {
            Ok(Keys::Shared(Arc::new(VerifyingKey::hs256(
                secret.expose_secret().as_bytes(),
            ))))
        };
        JwtBearerBuilder::new(keys)
    }

    /// Tokens signed with keys from a JWKS source.
    pub fn jwks(source: impl JwksSource) -> JwtBearerBuilder {
        JwtBearerBuilder::new(Ok(Keys::Jwks(Box::new(JwksCache::new(
            Box::new(source),
            DEFAULT_BUDGET,
            DEFAULT_MAX_KEY_AGE,
        )))))
    }

    /// Tokens signed with keys from the JWKS document at `url` (feature `jwks`); see
    /// [`HttpJwks`] for what URLs are accepted. A URL that cannot be used is an error
    /// of [`JwtBearerBuilder::build`].
    #[cfg(feature = "jwks")]
    pub fn jwks_url(url: impl Into<String>) -> JwtBearerBuilder {
        match HttpJwks::new(url) {
            Ok(source) => Self::jwks(source),
            Err(err) => JwtBearerBuilder::new(Err(JwtConfigError::JwksUrl { reason: err.reason })),
        }
    }

    async fn key_for(
        &self,
        header: &jsonwebtoken::Header,
    ) -> Result<Arc<VerifyingKey>, ResolveError> {
        let cache = match &self.keys {
            Keys::Shared(key) => {
                if header.alg != Algorithm::HS256 {
                    return Err(ResolveError::invalid(
                        "the bearer token must be signed with HS256",
                    ));
                }
                return Ok(key.clone());
            }
            Keys::Jwks(cache) => cache,
        };
        let kid = header.kid.as_deref();
        if cache.is_stale() {
            cache.refresh_stale().await;
        }
        if let Some(found) = cache.cached(kid) {
            return Ok(found);
        }
        // Logged once, with this reason, where the service answers the 503.
        let unavailable = |reason: String| ResolveError::Unavailable {
            message: reason.into(),
            retry_after: Some(Duration::from_secs(5)),
        };
        match cache.refresh(kid).await {
            Refresh::Failed(reason) => return Err(unavailable(reason)),
            Refresh::OverBudget => {
                if let Some(reason) = cache.last_failure() {
                    return Err(unavailable(reason));
                }
            }
            Refresh::Fetched => {}
        }
        cache
            .cached(kid)
            .ok_or_else(|| ResolveError::invalid("the bearer token is signed with an unknown key"))
    }
}

/// Ten fetches a minute, as widely used JWKS clients allow by default.
const DEFAULT_BUDGET: (usize, Duration) = (10, Duration::from_secs(60));

/// The verified-token cache by default: 10,000 tokens, 16 MiB, 5 minutes at most.
const DEFAULT_CACHE: Bounds = Bounds {
    entries: 10_000,
    bytes: 16 << 20,
    max_age_secs: 300,
};

/// The longest leeway [`JwtBearerBuilder::leeway`] accepts: one day.
pub const MAX_LEEWAY: Duration = Duration::from_secs(24 * 60 * 60);

/// How long fetched keys are used before they are fetched again.
pub const DEFAULT_MAX_KEY_AGE: Duration = Duration::from_secs(15 * 60);

impl JwtBearerBuilder {
    fn new(keys: Result<Keys, JwtConfigError>) -> Self {
        Self {
            keys,
            issuer: None,
            audience: None,
            any_issuer: false,
            any_audience: false,
            identity_claim: "sub".into(),
            require_email_verified: false,
            tenant_claim: None,
            leeway: Duration::from_secs(30),
            budget: DEFAULT_BUDGET,
            max_key_age: DEFAULT_MAX_KEY_AGE,
            cache: DEFAULT_CACHE,
        }
    }

    /// The required `iss` (required unless [`insecure_any_issuer`](Self::insecure_any_issuer)).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The required `aud` (required unless [`insecure_any_audience`](Self::insecure_any_audience)).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Accepts tokens whatever their issuer. Unsafe when the keys are shared with other
    /// issuers; logs a warning when the resolver is built.
    pub fn insecure_any_issuer(mut self) -> Self {
        self.any_issuer = true;
        self
    }

    /// Accepts tokens whatever their audience: tokens your provider minted for any other
    /// application are then accepted, and their users choose their own `sub` and
    /// `email`. Logs a warning when the resolver is built.
    pub fn insecure_any_audience(mut self) -> Self {
        self.any_audience = true;
        self
    }

    /// The claim whose string value is the Twilio identity (default `sub`).
    pub fn identity_claim(mut self, claim: impl Into<String>) -> Self {
        self.identity_claim = claim.into();
        self
    }

    /// Refuses every token whose `email_verified` is not true (`true` or `"true"`),
    /// including one without it, whatever the identity claim. Without this call, only
    /// with `email` as the identity claim, and only a present `email_verified` that is not
    /// true, is refused. For providers that always send it (Google, Auth0, Cognito): a
    /// token without it then comes from a flow or provider that does not vouch for the
    /// address, whose user may have chosen it.
    pub fn require_email_verified(mut self) -> Self {
        self.require_email_verified = true;
        self
    }

    /// The claim (`org_id`, say; a string or an integer) naming the user's tenant (see
    /// [`Resolved::with_tenant`]). A token without it resolves to a user with no tenant.
    pub fn tenant_claim(mut self, claim: impl Into<String>) -> Self {
        self.tenant_claim = Some(claim.into());
        self
    }

    /// Clock skew allowed on `exp`, `nbf` and `iat` (default 30 s). A longer one than
    /// [`MAX_LEEWAY`] makes [`build`](Self::build) fail with
    /// [`JwtConfigError::LeewayTooLong`].
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// At most `fetches` JWKS fetches within any `period` (default 10 per minute). A
    /// token with an unknown key id triggers a fetch while the budget lasts, so a key
    /// rotation is picked up on its first token, and a failed fetch is retried by the
    /// next request; past the budget, unknown key ids are refused (401, or 503 while the
    /// last fetch failed) without a fetch.
    pub fn refetch_budget(mut self, fetches: usize, period: Duration) -> Self {
        self.budget = (fetches, period);
        self
    }

    /// How long fetched JWKS keys are used before the next request fetches the document
    /// again (default 15 minutes). A key the provider withdrew is refused after at most
    /// this long; a rotation is picked up after at most this long even while forged key
    /// ids keep the refetch budget spent. This fetch is outside the budget; when it fails,
    /// the cached keys stay in use.
    pub fn max_key_age(mut self, age: Duration) -> Self {
        self.max_key_age = age;
        self
    }

    /// How many verified tokens to remember (default 10,000; `0` turns the cache off).
    /// A token seen again is answered from the cache until its `exp` (or the maximum
    /// age), after checking `exp`/`nbf` against the clock with the same leeway and that
    /// the key that verified it is still published. Tokens that fail are never kept.
    pub fn verified_cache(mut self, entries: usize) -> Self {
        self.cache.entries = entries;
        self
    }

    /// The most bytes the verified-token cache may hold (default 16 MiB; the least used
    /// entries leave first). Each entry counts at least this bound divided by the entry
    /// bound, so that both bounds hold.
    pub fn verified_cache_bytes(mut self, bytes: usize) -> Self {
        self.cache.bytes = bytes;
        self
    }

    /// The longest a verified token is remembered, whatever its `exp` (default 5
    /// minutes, whole seconds).
    pub fn verified_cache_max_age(mut self, age: Duration) -> Self {
        self.cache.max_age_secs = age.as_secs();
        self
    }

    /// Builds the resolver.
    pub fn build(self) -> Result<JwtBearerResolver, JwtConfigError> {
        if self.identity_claim.is_empty() {
            return Err(JwtConfigError::EmptyIdentityClaim);
        }
        let mut keys = self.keys?;
        if self.budget.0 == 0 || self.budget.1.is_zero() {
            return Err(JwtConfigError::ZeroBudget);
        }
        if self.max_key_age.is_zero() {
            return Err(JwtConfigError::ZeroKeyAge);
        }
        if self.leeway > MAX_LEEWAY {
            return Err(JwtConfigError::LeewayTooLong);
        }
        if !crate::crypto::ensure_jsonwebtoken_provider_usable() {
            return Err(JwtConfigError::NoJwtProvider);
        }
        if let Keys::Jwks(cache) = &mut keys {
            cache.budget = self.budget;
            cache.max_key_age = self.max_key_age;
        }
        match (
            self.issuer.is_none() && !self.any_issuer,
            self.audience.is_none() && !self.any_audience,
        ) {
            (true, true) => return Err(JwtConfigError::MissingIssuerAndAudience),
            (true, false) => return Err(JwtConfigError::MissingIssuer),
            (false, true) => return Err(JwtConfigError::MissingAudience),
            (false, false) => {}
        }
        // Past the check above, a missing claim was waived.
        if self.audience.is_none() {
            tracing::warn!(
                "INSECURE: bearer JWTs are accepted whatever their audience; tokens your identity provider minted for any other application will get Twilio tokens"
            );
        }
        if self.issuer.is_none() {
            tracing::warn!("INSECURE: bearer JWTs are accepted whatever their issuer");
        }
        let (issuer, audience) = (self.issuer, self.audience);
        let rules = ClaimRules::new(self.leeway.as_secs(), issuer, audience);
        Ok(JwtBearerResolver {
            keys,
            rules,
            identity_claim: self.identity_claim,
            require_email_verified: self.require_email_verified,
            tenant_claim: self.tenant_claim,
            cache: VerifiedCache::new(self.cache),
        })
    }
}

impl JwtBearerResolver {
    /// The answer for a verified token: the identity, the claims, and the tenant when a
    /// tenant claim is configured and the token has it.
    fn resolved(&self, identity: String, claims: Arc<serde_json::Map<String, Value>>) -> Resolved {
        let tenant = self
            .tenant_claim
            .as_deref()
            .and_then(|name| match claims.get(name) {
                Some(Value::String(tenant)) if !tenant.is_empty() => Some(tenant.clone()),
                Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Some(n.to_string()),
                _ => None,
            });
        let resolved = Resolved::new(identity).with_shared_claims(claims);
        match tenant {
            Some(tenant) => resolved.with_tenant(tenant),
            None => resolved,
        }
    }

    /// The verified-token cache's counters (hits, misses, evictions, size).
    pub fn cache_stats(&self) -> VerifiedCacheStats {
        self.cache.stats()
    }

    /// A cached verification, checked as a fresh one would be: `Ok` to answer with it,
    /// `Err(Some(_))` to refuse the token, `Err(None)` to verify it afresh (its key is no
    /// longer the one published under its id).
    async fn check_hit(&self, hit: Verified, now: u64) -> Result<Resolved, Option<ResolveError>> {
        hit.window.check(now, self.rules.leeway).map_err(Some)?;
        match (&self.keys, &hit.key) {
            (Keys::Shared(_), None) => {}
            (Keys::Jwks(cache), Some((kid, key))) => {
                if cache.is_stale() {
                    cache.refresh_stale().await;
                }
                match cache.cached(kid.as_deref()) {
                    Some(current) if Arc::ptr_eq(&current, key) => {}
                    _ => return Err(None),
                }
            }
            _ => return Err(None),
        }
        Ok(self.resolved(hit.identity, hit.claims))
    }

    /// Verifies `token` with its key: the claims, the identity, and what the cache keeps.
    async fn verify(&self, token: &str, now: u64) -> Result<Verified, ResolveError> {
        let header = jws::header(token)?;
        let key = self.key_for(&header).await?;
        let (claims, window) = self.rules.check(token, &header, &key, now)?;
        if self.identity_claim == "email" || self.require_email_verified {
            match claims.get("email_verified") {
                None if !self.require_email_verified => {}
                Some(Value::Bool(true)) => {}
                Some(Value::String(s)) if s == "true" => {}
                None => {
                    return Err(ResolveError::invalid(
                        "the bearer token's email is not verified (no email_verified claim)",
                    ));
                }
                Some(_) => {
                    return Err(ResolveError::invalid(
                        "the bearer token's email is not verified (email_verified is not true)",
                    ));
                }
            }
        }
        let identity = match claims.get(&self.identity_claim) {
            Some(Value::String(identity)) if !identity.is_empty() => identity.clone(),
            None => {
                return Err(ResolveError::invalid(format!(
                    "the bearer token has no {} claim to use as the identity",
                    self.identity_claim
                )));
            }
            Some(_) => {
                return Err(ResolveError::invalid(format!(
                    "the bearer token's {} claim is not a non-empty string, so it cannot be the identity",
                    self.identity_claim
                )));
            }
        };
        // A claim Twilio cannot take as an identity (control or invisible characters) is
        // the token's fault, not this service's: 401, not 500.
        if crate::identity::IdentityRules::default()
            .check(&identity)
            .is_err()
        {
            return Err(ResolveError::invalid(format!(
                "the bearer token's {} claim is not a valid Twilio identity (control or invisible characters)",
                self.identity_claim
            )));
        }
        let key = match &self.keys {
            Keys::Shared(_) => None,
            Keys::Jwks(_) => Some((header.kid, key)),
        };
        Ok(Verified {
            identity,
            claims: Arc::new(claims),
            window,
            key,
        })
    }
}

#[async_trait]
impl IdentityResolver for JwtBearerResolver {
    async fn resolve(&self, req: &IncomingRequest) -> Result<Resolved, ResolveError> {
        let token = req.bearer_token()?;
        let now = SystemClock.now();
        let digest = self.cache.enabled().then(|| self.cache.digest(token));
        if let Some(digest) = &digest
            && let Some(hit) = self.cache.get(digest, now)
        {
            match self.check_hit(hit, now).await {
                Ok(resolved) => return Ok(resolved),
                Err(Some(refused)) => {
                    self.cache.remove(digest);
                    return Err(refused);
                }
                Err(None) => self.cache.remove(digest),
            }
        }
        let verified = self.verify(token, now).await?;
        let resolved = self.resolved(verified.identity.clone(), verified.claims.clone());
        if let Some(digest) = digest {
            self.cache.insert(digest, verified, now);
        }
        Ok(resolved)
    }
}
