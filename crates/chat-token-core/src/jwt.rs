//! [`JwtBearerResolver`]: the caller's identity from a bearer JWT issued by the app's
//! identity provider (Auth0, Cognito, Keycloak, Firebase, or the app's own login).
//!
//! The JWT is checked with jsonwebtoken: signature (HS256 with a shared secret, or RS256
//! / ES256 with keys from a JWKS document), issuer, audience, expiry and not-before with
//! a small leeway. One configurable claim (`sub`, `email`, `preferred_username`, ...)
//! becomes the Twilio identity.
//!
//! JWKS keys are cached by key id. A token signed with an unknown key id triggers one
//! refresh, at most once per [`JwtBearerBuilder::min_refresh_interval`], so a provider
//! can rotate keys without a restart and a flood of forged key ids cannot hammer it. When
//! the JWKS cannot be fetched and no cached key fits, the answer is 503 `unavailable`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use crate::request::IncomingRequest;
use crate::resolver::{IdentityResolver, ResolveError, Resolved};

/// Where a [`JwtBearerResolver`] gets its verification keys (a JWKS document).
#[async_trait]
pub trait JwksSource: Send + Sync + 'static {
    /// Fetches the current key set; the error text is logged, never sent to a client.
    async fn fetch(&self) -> Result<JwkSet, String>;
}

/// Fetches a JWKS document over HTTP(S) (feature `jwks`).
#[cfg(feature = "jwks")]
#[derive(Debug, Clone)]
pub struct HttpJwks {
    url: String,
    client: reqwest::Client,
}

#[cfg(feature = "jwks")]
impl HttpJwks {
    /// The largest JWKS document accepted.
    pub const MAX_BYTES: usize = 1 << 20;

    /// A source for `url`, with a 5 s timeout per fetch.
    pub fn new(url: impl Into<String>) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self {
            url: url.into(),
            client,
        })
    }
}

#[cfg(feature = "jwks")]
#[async_trait]
impl JwksSource for HttpJwks {
    async fn fetch(&self) -> Result<JwkSet, String> {
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| format!("fetching {}: {e}", self.url))?;
        if !response.status().is_success() {
            return Err(format!("fetching {}: HTTP {}", self.url, response.status()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("reading {}: {e}", self.url))?;
        if body.len() > Self::MAX_BYTES {
            return Err(format!("{} is over {} bytes", self.url, Self::MAX_BYTES));
        }
        serde_json::from_slice(&body)
            .map_err(|e| format!("{} is not a JWKS document: {e}", self.url))
    }
}

/// Why a [`JwtBearerResolver`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtConfigError {
    /// The identity claim name is empty.
    #[error("the identity claim name is empty; use sub, email or preferred_username")]
    EmptyIdentityClaim,
    /// The shared HS256 secret is empty.
    #[error("the HS256 secret is empty")]
    EmptySecret,
}

enum Keys {
    Shared(DecodingKey),
    Jwks(JwksCache),
}

struct JwksCache {
    source: Box<dyn JwksSource>,
    keys: Mutex<Arc<HashMap<String, (DecodingKey, Algorithm)>>>,
    last_fetch: Mutex<Option<Instant>>,
    min_refresh_interval: Duration,
    fetching: tokio::sync::Mutex<()>,
}

impl JwksCache {
    fn cached(&self, kid: &str) -> Option<(DecodingKey, Algorithm)> {
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(kid)
            .cloned()
    }

    fn only_key(&self) -> Option<(DecodingKey, Algorithm)> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        (keys.len() == 1)
            .then(|| keys.values().next().cloned())
            .flatten()
    }

    /// Refetches unless a fetch happened within the minimum interval. `Err` when the
    /// source failed.
    async fn refresh(&self) -> Result<(), String> {
        let _one_at_a_time = self.fetching.lock().await;
        let recent = self
            .last_fetch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|t| t.elapsed() < self.min_refresh_interval);
        if recent {
            return Ok(());
        }
        *self.last_fetch.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        let set = self.source.fetch().await?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let alg = match jwk.common.key_algorithm {
                Some(KeyAlgorithm::RS256) => Algorithm::RS256,
                Some(KeyAlgorithm::ES256) => Algorithm::ES256,
                None => match &jwk.algorithm {
                    jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                    jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                    _ => continue,
                },
                Some(_) => continue,
            };
            let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk))
            else {
                continue;
            };
            keys.insert(kid, (key, alg));
        }
        tracing::info!(keys = keys.len(), "JWKS refreshed");
        *self.keys.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        Ok(())
    }
}

/// Resolves the caller from `Authorization: Bearer <JWT>` issued by an identity provider.
///
/// ```
/// use chat_token_core::{JwtBearerResolver, SecretString};
///
/// let resolver = JwtBearerResolver::hs256(SecretString::from("app-session-secret"))
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
    identity_claim: String,
    leeway: Duration,
    min_refresh_interval: Duration,
}

impl JwtBearerResolver {
    /// Tokens signed with HS256 and this shared secret.
    pub fn hs256(secret: SecretString) -> JwtBearerBuilder {
        let keys = if secret.expose_secret().is_empty() {
            Err(JwtConfigError::EmptySecret)
        } else {
            Ok(Keys::Shared(DecodingKey::from_secret(
                secret.expose_secret().as_bytes(),
            )))
        };
        JwtBearerBuilder::new(keys)
    }

    /// Tokens signed with RS256 or ES256 keys from a JWKS source.
    pub fn jwks(source: impl JwksSource) -> JwtBearerBuilder {
        JwtBearerBuilder::new(Ok(Keys::Jwks(JwksCache {
            source: Box::new(source),
            keys: Mutex::new(Arc::new(HashMap::new())),
            last_fetch: Mutex::new(None),
            min_refresh_interval: Duration::ZERO,
            fetching: tokio::sync::Mutex::new(()),
        })))
    }

    /// Tokens signed with keys from the JWKS document at `url` (feature `jwks`).
    #[cfg(feature = "jwks")]
    pub fn jwks_url(url: impl Into<String>) -> JwtBearerBuilder {
        match HttpJwks::new(url) {
            Ok(source) => Self::jwks(source),
            Err(_) => Self::jwks(FailingSource),
        }
    }

    async fn key_for(
        &self,
        header: &jsonwebtoken::Header,
    ) -> Result<(DecodingKey, Algorithm), ResolveError> {
        match &self.keys {
            Keys::Shared(key) => {
                if header.alg != Algorithm::HS256 {
                    return Err(ResolveError::invalid(
                        "the bearer token must be signed with HS256",
                    ));
                }
                Ok((key.clone(), Algorithm::HS256))
            }
            Keys::Jwks(cache) => {
                let find = || match &header.kid {
                    Some(kid) => cache.cached(kid),
                    None => cache.only_key(),
                };
                if let Some(found) = find() {
                    return Ok(found);
                }
                if let Err(reason) = cache.refresh().await {
                    tracing::warn!(%reason, "cannot fetch the JWKS; answering 503");
                    return Err(ResolveError::Unavailable {
                        message: reason.into(),
                        retry_after: Some(Duration::from_secs(5)),
                    });
                }
                find().ok_or_else(|| {
                    ResolveError::invalid("the bearer token is signed with an unknown key")
                })
            }
        }
    }
}

#[cfg(feature = "jwks")]
struct FailingSource;

#[cfg(feature = "jwks")]
#[async_trait]
impl JwksSource for FailingSource {
    async fn fetch(&self) -> Result<JwkSet, String> {
        Err("the JWKS HTTP client could not be built".into())
    }
}

impl JwtBearerBuilder {
    fn new(keys: Result<Keys, JwtConfigError>) -> Self {
        Self {
            keys,
            issuer: None,
            audience: None,
            identity_claim: "sub".into(),
            leeway: Duration::from_secs(30),
            min_refresh_interval: Duration::from_secs(30),
        }
    }

    /// The required `iss`.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The required `aud` (without one, `aud` is not checked).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
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

    /// The shortest time between two JWKS fetches (default 30 s).
    pub fn min_refresh_interval(mut self, interval: Duration) -> Self {
        self.min_refresh_interval = interval;
        self
    }

    /// Builds the resolver.
    pub fn build(self) -> Result<JwtBearerResolver, JwtConfigError> {
        if self.identity_claim.is_empty() {
            return Err(JwtConfigError::EmptyIdentityClaim);
        }
        let mut keys = self.keys?;
        if let Keys::Jwks(cache) = &mut keys {
            cache.min_refresh_interval = self.min_refresh_interval;
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        match &self.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &self.issuer {
            validation.set_issuer(&[iss]);
        }
        Ok(JwtBearerResolver {
            keys,
            validation,
            identity_claim: self.identity_claim,
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
        ErrorKind::MissingRequiredClaim(_) => "the bearer token lacks a required claim (exp)",
        _ => "the bearer token is not a valid JWT",
    })
}

#[async_trait]
impl IdentityResolver for JwtBearerResolver {
    async fn resolve(&self, req: &IncomingRequest) -> Result<Resolved, ResolveError> {
        crate::crypto::ensure_jsonwebtoken_provider();
        let token = req.bearer_token()?;
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| ResolveError::invalid("the bearer token is not a JWT"))?;
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
        match claims.get(&self.identity_claim) {
            Some(Value::String(identity)) if !identity.is_empty() => {
                Ok(Resolved::new(identity.clone()).with_claims(claims))
            }
            _ => Err(ResolveError::invalid(format!(
                "the bearer token has no {} claim to use as the identity",
                self.identity_claim
            ))),
        }
    }
}
