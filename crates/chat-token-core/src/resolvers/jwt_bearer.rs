//! [`JwtBearerResolver`]: the caller's identity from a bearer JWT issued by the app's
//! identity provider (Auth0, Cognito, Keycloak, Firebase, or the app's own login).
//!
//! The JWT is checked with jsonwebtoken: signature (HS256 with a shared secret of at
//! least 32 bytes, or RS256/384/512, PS256/384/512, ES256/384 and EdDSA with keys from a
//! JWKS document), issuer, audience, expiry and not-before with a small leeway. One
//! configurable claim (`sub`, `email`, `preferred_username`, ...) becomes the Twilio
//! identity. Issuer and audience are required: without them a token minted for another
//! application that shares the key set (a Google, Firebase or Auth0 tenant) would be
//! accepted, and its user chooses their own `sub` and `email`. Opting out takes a
//! builder call whose name says it is unsafe, and logs a warning.
//!
//! With `email` as the identity claim, a token whose `email_verified` claim is present
//! must have it true (`true` or `"true"`, as Cognito writes it).
//!
//! A token with a `crit` header is refused: no critical extension is understood
//! (RFC 7515, 4.1.11).
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

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use crate::request::IncomingRequest;
use crate::resolver::{IdentityResolver, ResolveError, Resolved};
use crate::resolvers::verified_cache::{Bounds, Verified, VerifiedCache, VerifiedCacheStats};

/// The shortest HS256 secret accepted, in bytes (RFC 7518, 3.2: at least the hash size).
pub const MIN_HS256_SECRET_LEN: usize = 32;

/// Where a [`JwtBearerResolver`] gets its verification keys (a JWKS document).
#[async_trait]
pub trait JwksSource: Send + Sync + 'static {
    /// Fetches the current key set; the error text is logged, never sent to a client.
    async fn fetch(&self) -> Result<JwkSet, String>;
}

/// Fetches a JWKS document over HTTPS (feature `jwks`).
///
/// Only `https` URLs are accepted, and plain `http` to a loopback address (for tests
/// and a local provider); redirects are not followed; the body is read in chunks and
/// refused past [`HttpJwks::MAX_BYTES`]; each fetch times out after 5 s.
#[cfg(feature = "jwks")]
#[derive(Debug, Clone)]
pub struct HttpJwks {
    url: reqwest::Url,
    shown: String,
    client: reqwest::Client,
}

#[cfg(feature = "jwks")]
impl HttpJwks {
    /// The largest JWKS document accepted.
    pub const MAX_BYTES: usize = 1 << 20;

    /// A source for `url`.
    pub fn new(url: impl Into<String>) -> Result<Self, JwtConfigError> {
        let text: String = url.into();
        let bad = |reason: &str| JwtConfigError::JwksUrl {
            reason: reason.to_owned(),
        };
        let url = reqwest::Url::parse(&text).map_err(|_| bad("it is not an absolute URL"))?;
        let host = url.host_str().unwrap_or_default();
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(bad(
                    "plain http lets anyone on the path swap the keys; use https (http is accepted only to a loopback address)",
                ));
            }
            _ => return Err(bad("the scheme must be https")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "it holds credentials; a JWKS document is public and needs none",
            ));
        }
        let shown = format!(
            "{}://{}{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port().map(|p| format!(":{p}")).unwrap_or_default()
        ) + url.path();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| bad("the HTTP client could not be built"))?;
        Ok(Self { url, shown, client })
    }
}

#[cfg(feature = "jwks")]
#[async_trait]
impl JwksSource for HttpJwks {
    async fn fetch(&self) -> Result<JwkSet, String> {
        let shown = &self.shown;
        let mut response = self
            .client
            .get(self.url.clone())
            .send()
            .await
            .map_err(|e| format!("fetching {shown}: {}", e.without_url()))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(format!(
                "fetching {shown}: HTTP {status}; redirects are not followed, configure the final URL"
            ));
        }
        if !status.is_success() {
            return Err(format!("fetching {shown}: HTTP {status}"));
        }
        let too_big = || format!("{shown} is over {} bytes", Self::MAX_BYTES);
        if response
            .content_length()
            .is_some_and(|len| len > Self::MAX_BYTES as u64)
        {
            return Err(too_big());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading {shown}: {}", e.without_url()))?
        {
            if body.len() + chunk.len() > Self::MAX_BYTES {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| format!("{shown} is not a JWKS document: {e}"))
    }
}

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
    /// The JWKS URL cannot be used.
    #[error("the JWKS URL cannot be used: {reason}")]
    JwksUrl {
        /// Why (the URL is not repeated: it may hold a secret).
        reason: String,
    },
    /// The refetch budget allows no fetch at all.
    #[error("the JWKS refetch budget must allow at least one fetch per period")]
    ZeroBudget,
}

enum Keys {
    Shared(SecretString),
    Jwks(Box<JwksCache>),
}

/// A verifying key ready for use, and the one algorithm it verifies.
type ReadyKey = (Arc<DecodingKey>, Algorithm);

struct JwksCache {
    source: Box<dyn JwksSource>,
    keys: Mutex<Arc<HashMap<String, ReadyKey>>>,
    /// When the recent fetches started, oldest first, within the budget period.
    fetches: Mutex<VecDeque<Instant>>,
    /// Whether the last fetch failed (an unknown key is then 503, not 401).
    last_failed: Mutex<Option<String>>,
    budget: (usize, Duration),
    /// Keys older than this are fetched again on the next request (outside the budget).
    max_key_age: Duration,
    /// When the cached keys were fetched, and when a refresh of stale keys last began.
    fetched_at: Mutex<Option<Instant>>,
    stale_attempt: Mutex<Option<Instant>>,
    fetching: tokio::sync::Mutex<()>,
}

/// What a fetch attempt came to.
enum Refresh {
    /// Fetched; the cache holds the new keys.
    Fetched,
    /// The budget is spent; the cache is as it was.
    OverBudget,
    /// The source failed or gave no usable key; the cache is as it was.
    Failed(String),
}

/// The algorithm a JWK verifies, or `None` for keys we do not use (symmetric keys,
/// encryption keys, unknown curves).
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    let declared = match jwk.common.key_algorithm {
        None => None,
        Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
        Some(KeyAlgorithm::RS384) => Some(Algorithm::RS384),
        Some(KeyAlgorithm::RS512) => Some(Algorithm::RS512),
        Some(KeyAlgorithm::PS256) => Some(Algorithm::PS256),
        Some(KeyAlgorithm::PS384) => Some(Algorithm::PS384),
        Some(KeyAlgorithm::PS512) => Some(Algorithm::PS512),
        Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
        Some(KeyAlgorithm::ES384) => Some(Algorithm::ES384),
        Some(KeyAlgorithm::EdDSA) => Some(Algorithm::EdDSA),
        Some(_) => return None,
    };
    let family = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512]
            .iter()
            .chain(&[Algorithm::PS256, Algorithm::PS384, Algorithm::PS512])
            .copied()
            .collect::<Vec<_>>(),
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            vec![Algorithm::EdDSA]
        }
        _ => return None,
    };
    match declared {
        Some(alg) => family.contains(&alg).then_some(alg),
        // An RSA key without `alg` verifies RS256 only, the common default.
        None => family.first().copied(),
    }
}

impl JwksCache {
    fn cached(&self, kid: Option<&str>) -> Option<ReadyKey> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match kid {
            Some(kid) => keys.get(kid).cloned(),
            None if keys.len() == 1 => keys.values().next().cloned(),
            None => None,
        }
    }

    /// Takes one fetch from the budget, or says it is spent.
    fn spend(&self) -> bool {
        let (max, period) = self.budget;
        let mut fetches = self.fetches.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        while fetches
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= period)
        {
            fetches.pop_front();
        }
        if fetches.len() >= max {
            return false;
        }
        fetches.push_back(now);
        true
    }

    /// Refetches when `kid` is still unknown and the budget allows it.
    async fn refresh(&self, kid: Option<&str>) -> Refresh {
        let _one_at_a_time = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if self.cached(kid).is_some() {
            return Refresh::Fetched;
        }
        if !self.spend() {
            return Refresh::OverBudget;
        }
        self.fetch_and_store().await
    }

    /// Whether the cached keys are older than the maximum key age.
    fn is_stale(&self) -> bool {
        self.fetched_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|t| t.elapsed() >= self.max_key_age)
    }

    /// Fetches keys older than the maximum key age again, so that a key the provider
    /// withdrew stops being accepted and a rotation is picked up even while forged key
    /// ids hold the budget. Outside the budget, but tried at most once per
    /// `min(max_key_age, 30 s)`, and skipped while another fetch runs; a failure keeps
    /// the cached keys.
    async fn refresh_stale(&self) {
        let Ok(_one_at_a_time) = self.fetching.try_lock() else {
            return;
        };
        if !self.is_stale() {
            return;
        }
        {
            let mut attempt = self.stale_attempt.lock().unwrap_or_else(|e| e.into_inner());
            let pause = self.max_key_age.min(Duration::from_secs(30));
            if attempt.is_some_and(|t| t.elapsed() < pause) {
                return;
            }
            *attempt = Some(Instant::now());
        }
        if let Refresh::Failed(reason) = self.fetch_and_store().await {
            tracing::warn!(%reason, "cannot refresh the JWKS; keeping the cached keys");
        }
    }

    /// One fetch; the cache takes the keys when there is at least one usable key.
    async fn fetch_and_store(&self) -> Refresh {
        let outcome = match self.source.fetch().await {
            Err(reason) => Err(reason),
            Ok(set) => {
                let mut keys = HashMap::new();
                for jwk in &set.keys {
                    let (Some(kid), Some(alg)) = (jwk.common.key_id.clone(), algorithm_of(jwk))
                    else {
                        continue;
                    };
                    if let Ok(key) = DecodingKey::from_jwk(jwk) {
                        keys.insert(kid, (Arc::new(key), alg));
                    }
                }
                if keys.is_empty() {
                    Err(format!(
                        "the JWKS document has no usable signing key ({} keys listed); keeping the cached keys",
                        set.keys.len()
                    ))
                } else {
                    Ok(keys)
                }
            }
        };
        let mut last_failed = self.last_failed.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "JWKS refreshed");
                *self.keys.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
                *self.fetched_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                *last_failed = None;
                Refresh::Fetched
            }
            Err(reason) => {
                *last_failed = Some(reason.clone());
                Refresh::Failed(reason)
            }
        }
    }

    fn last_failure(&self) -> Option<String> {
        self.last_failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Resolves the caller from `Authorization: Bearer <JWT>` issued by an identity provider.
///
/// ```
/// use chat_token_core::{JwtBearerResolver, SecretString};
///
/// let resolver = JwtBearerResolver::hs256(SecretString::from("app-session-secret-of-32-bytes-or-more"))
///     .issuer("https://login.example.com/")
///     .audience("chat")
///     .identity_claim("email")
///     .build()?;
/// # Ok::<(), chat_token_core::JwtConfigError>(())
/// ```
pub struct JwtBearerResolver {
    keys: Keys,
    validation: Validation,
    identity_claim: String,
    cache: VerifiedCache,
}

impl std::fmt::Debug for JwtBearerResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtBearerResolver")
            .field("identity_claim", &self.identity_claim)
            .field("issuer", &self.validation.iss)
            .field("audience", &self.validation.aud)
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
            Ok(Keys::Shared(secret))
        };
        JwtBearerBuilder::new(keys)
    }

    /// Tokens signed with keys from a JWKS source.
    pub fn jwks(source: impl JwksSource) -> JwtBearerBuilder {
        JwtBearerBuilder::new(Ok(Keys::Jwks(Box::new(JwksCache {
            source: Box::new(source),
            keys: Mutex::new(Arc::new(HashMap::new())),
            fetches: Mutex::new(VecDeque::new()),
            last_failed: Mutex::new(None),
            budget: DEFAULT_BUDGET,
            max_key_age: DEFAULT_MAX_KEY_AGE,
            fetched_at: Mutex::new(None),
            stale_attempt: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        }))))
    }

    /// Tokens signed with keys from the JWKS document at `url` (feature `jwks`); see
    /// [`HttpJwks`] for what URLs are accepted. A URL that cannot be used is an error
    /// of [`JwtBearerBuilder::build`].
    #[cfg(feature = "jwks")]
    pub fn jwks_url(url: impl Into<String>) -> JwtBearerBuilder {
        match HttpJwks::new(url) {
            Ok(source) => Self::jwks(source),
            Err(err) => JwtBearerBuilder::new(Err(err)),
        }
    }

    async fn key_for(&self, header: &jsonwebtoken::Header) -> Result<ReadyKey, ResolveError> {
        let cache = match &self.keys {
            Keys::Shared(secret) => {
                if header.alg != Algorithm::HS256 {
                    return Err(ResolveError::invalid(
                        "the bearer token must be signed with HS256",
                    ));
                }
                let key = DecodingKey::from_secret(secret.expose_secret().as_bytes());
                return Ok((Arc::new(key), Algorithm::HS256));
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
        let unavailable = |reason: String| {
            tracing::warn!(%reason, "cannot fetch the JWKS; answering 503");
            ResolveError::Unavailable {
                message: reason.into(),
                retry_after: Some(Duration::from_secs(5)),
            }
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

    /// Clock skew allowed on `exp` and `nbf` (default 30 s).
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

    /// The most bytes the verified-token cache may hold (default 16 MiB; the oldest
    /// entries leave first).
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
        if self.budget.0 == 0 {
            return Err(JwtConfigError::ZeroBudget);
        }
        if let Keys::Jwks(cache) = &mut keys {
            cache.budget = self.budget;
            cache.max_key_age = self.max_key_age;
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        match (&self.audience, self.any_audience) {
            (Some(aud), _) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            (None, true) => {
                validation.validate_aud = false;
                tracing::warn!(
                    "INSECURE: bearer JWTs are accepted whatever their audience; tokens your identity provider minted for any other application will get Twilio tokens"
                );
            }
            (None, false) => return Err(JwtConfigError::MissingAudience),
        }
        match (&self.issuer, self.any_issuer) {
            (Some(iss), _) => {
                validation.set_issuer(&[iss]);
                required.push("iss");
            }
            (None, true) => {
                tracing::warn!("INSECURE: bearer JWTs are accepted whatever their issuer")
            }
            (None, false) => return Err(JwtConfigError::MissingIssuer),
        }
        validation.set_required_spec_claims(&required);
        Ok(JwtBearerResolver {
            keys,
            validation,
            identity_claim: self.identity_claim,
            cache: VerifiedCache::new(self.cache),
        })
    }
}

fn rejection(kind: &ErrorKind) -> ResolveError {
    ResolveError::invalid(match kind {
        ErrorKind::ExpiredSignature => "the bearer token has expired",
        ErrorKind::ImmatureSignature => "the bearer token is not valid yet",
        ErrorKind::InvalidAudience => "the bearer token was issued for another audience",
        ErrorKind::InvalidIssuer => "the bearer token was issued by another issuer",
        ErrorKind::InvalidSignature => "the bearer token's signature is invalid",
        ErrorKind::InvalidAlgorithm => "the bearer token uses an algorithm that is not accepted",
        ErrorKind::MissingRequiredClaim(_) => {
            "the bearer token lacks a required claim (exp, aud or iss)"
        }
        _ => "the bearer token is not a valid JWT",
    })
}

/// The token's header, refusing one with critical extensions (`crit`), which no
/// verifier here understands.
fn header_of(token: &str) -> Result<jsonwebtoken::Header, ResolveError> {
    let not_jwt = || ResolveError::invalid("the bearer token is not a JWT");
    let first = token.split('.').next().ok_or_else(not_jwt)?;
    let bytes = URL_SAFE_NO_PAD.decode(first).map_err(|_| not_jwt())?;
    let fields: Map<String, Value> = serde_json::from_slice(&bytes).map_err(|_| not_jwt())?;
    if fields.contains_key("crit") {
        return Err(ResolveError::invalid(
            "the bearer token has critical header extensions (crit), which are not supported",
        ));
    }
    jsonwebtoken::decode_header(token).map_err(|_| not_jwt())
}

impl JwtBearerResolver {
    /// The verified-token cache's counters (hits, misses, evictions, size).
    pub fn cache_stats(&self) -> VerifiedCacheStats {
        self.cache.stats()
    }

    /// A cached verification, checked as a fresh one would be: `Ok` to answer with it,
    /// `Err(Some(_))` to refuse the token, `Err(None)` to verify it afresh (its key is no
    /// longer the one published under its id).
    async fn check_hit(&self, hit: Verified, now: u64) -> Result<Resolved, Option<ResolveError>> {
        let leeway = self.validation.leeway;
        if now > hit.exp.saturating_add(leeway) {
            return Err(Some(ResolveError::invalid("the bearer token has expired")));
        }
        if hit.nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Err(Some(ResolveError::invalid(
                "the bearer token is not valid yet",
            )));
        }
        match (&self.keys, &hit.key) {
            (Keys::Shared(_), None) => {}
            (Keys::Jwks(cache), Some((kid, key))) => {
                if cache.is_stale() {
                    cache.refresh_stale().await;
                }
                match cache.cached(kid.as_deref()) {
                    Some((current, _)) if Arc::ptr_eq(&current, key) => {}
                    _ => return Err(None),
                }
            }
            _ => return Err(None),
        }
        Ok(Resolved::new(hit.identity).with_shared_claims(hit.claims))
    }

    /// Verifies `token` with its key: the claims, the identity, and what the cache keeps.
    async fn verify(&self, token: &str) -> Result<Verified, ResolveError> {
        let header = header_of(token)?;
        let (key, alg) = self.key_for(&header).await?;
        if header.alg != alg {
            return Err(ResolveError::invalid(
                "the bearer token's algorithm does not match its key",
            ));
        }
        let mut validation = self.validation.clone();
        validation.algorithms = vec![alg];
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| rejection(e.kind()))?
            .claims;
        if self.identity_claim == "email" {
            match claims.get("email_verified") {
                None | Some(Value::Bool(true)) => {}
                Some(Value::String(s)) if s == "true" => {}
                Some(_) => {
                    return Err(ResolveError::invalid(
                        "the bearer token's email is not verified (email_verified is not true)",
                    ));
                }
            }
        }
        let identity = match claims.get(&self.identity_claim) {
            Some(Value::String(identity)) if !identity.is_empty() => identity.clone(),
            _ => {
                return Err(ResolveError::invalid(format!(
                    "the bearer token has no {} claim to use as the identity",
                    self.identity_claim
                )));
            }
        };
        let seconds = |name: &str| {
            claims
                .get(name)
                .and_then(|v| v.as_u64().or_else(|| v.as_f64().map(|f| f as u64)))
        };
        let exp = seconds("exp").unwrap_or(0);
        let nbf = seconds("nbf");
        let key = match &self.keys {
            Keys::Shared(_) => None,
            Keys::Jwks(_) => Some((header.kid.clone(), key)),
        };
        Ok(Verified {
            identity,
            claims: Arc::new(claims),
            exp,
            nbf,
            key,
        })
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[async_trait]
impl IdentityResolver for JwtBearerResolver {
    async fn resolve(&self, req: &IncomingRequest) -> Result<Resolved, ResolveError> {
        crate::crypto::ensure_jsonwebtoken_provider();
        let token = req.bearer_token()?;
        let now = unix_now();
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
        let verified = self.verify(token).await?;
        let resolved =
            Resolved::new(verified.identity.clone()).with_shared_claims(verified.claims.clone());
        if let Some(digest) = digest {
            self.cache.insert(digest, verified, now);
        }
        Ok(resolved)
    }
}
