//! JWKS keys for [`JwtBearerResolver`](super::JwtBearerResolver): where they come from
//! ([`JwksSource`], [`HttpJwks`]) and the cache that parses them once, refetches on an
//! unknown key id within a budget, and refreshes them when they grow old.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, KeyOperations, PublicKeyUse,
};

use super::jws::VerifyingKey;

/// Where a [`JwtBearerResolver`](super::JwtBearerResolver) gets its verification keys (a JWKS document).
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
///
/// A URL with a user name or password is refused: a JWKS document is public.
///
/// Its `Display` and `Debug` show the URL as it may be logged: scheme, host, port and
/// path, with `;…` and `?…` in place of each segment's parameters (`;key=...`) and the
/// query, and without the fragment, any of which may hold an access key. Only a literal
/// `;` or `?` starts what is left out: a percent-encoded one (`%3B`, `%3F`) is part of
/// the path, and shown, as is a key written into the path itself. The fetch uses the
/// whole URL.
///
/// ```
/// use chat_token_core::resolvers::HttpJwks;
///
/// let jwks = HttpJwks::new("https://idp.example/keys;k=secret?key=secret")?;
/// assert_eq!(jwks.to_string(), "https://idp.example/keys;…?…");
/// # Ok::<(), chat_token_core::resolvers::JwksUrlError>(())
/// ```
#[cfg(feature = "jwks")]
#[derive(Clone)]
pub struct HttpJwks {
    url: reqwest::Url,
    shown: String,
    client: reqwest::Client,
}

/// Why a JWKS URL cannot be used (the URL itself is not repeated: it may hold a secret).
#[cfg(feature = "jwks")]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the JWKS URL cannot be used: {reason}")]
pub struct JwksUrlError {
    /// Why.
    pub reason: String,
}

#[cfg(feature = "jwks")]
impl HttpJwks {
    /// The largest JWKS document accepted.
    pub const MAX_BYTES: usize = 1 << 20;

    /// A source for `url`.
    pub fn new(url: impl Into<String>) -> Result<Self, JwksUrlError> {
        let text: String = url.into();
        let bad = |reason: &str| JwksUrlError {
            reason: reason.to_owned(),
        };
        // The parser's reason ("invalid port number", "empty host") never repeats the URL.
        let url = reqwest::Url::parse(&text)
            .map_err(|e| bad(&format!("it is not a valid absolute URL ({e})")))?;
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
        // Without the query, nor any segment's parameters (`;key=...`): either may hold
        // a secret. What is left out is marked, so that a reader of the log knows it was
        // there; the segments after a parameter stay, so the log names the document.
        let path: Vec<String> = url
            .path()
            .split('/')
            .map(|segment| match segment.split_once(';') {
                Some((name, parameters)) if !parameters.is_empty() => format!("{name};…"),
                _ => segment.to_owned(),
            })
            .collect();
        let shown = format!(
            "{}://{}{}{}{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port().map(|p| format!(":{p}")).unwrap_or_default(),
            path.join("/"),
            if url.query().is_some_and(|q| !q.is_empty()) {
                "?…"
            } else {
                ""
            },
        );
        let mut client = reqwest::Client::builder();
        if loopback {
            // Plain http to this machine: a proxy from the environment would carry the
            // keys in clear text and could answer with its own.
            client = client.no_proxy();
        }
        let client = client
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| bad("the HTTP client could not be built"))?;
        Ok(Self { url, shown, client })
    }
}

#[cfg(feature = "jwks")]
impl std::fmt::Display for HttpJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

#[cfg(feature = "jwks")]
impl std::fmt::Debug for HttpJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the parsed URL: its query may hold an access key.
        f.debug_struct("HttpJwks")
            .field("url", &self.shown)
            .finish_non_exhaustive()
    }
}

/// What went wrong with a request, without its URL: a timeout by name, otherwise the
/// error and each cause it does not already say ("error sending request" alone says
/// nothing of a refused connection or an unknown host).
#[cfg(feature = "jwks")]
fn failure(err: reqwest::Error) -> String {
    if err.is_timeout() {
        return "no answer within 5 s".to_owned();
    }
    let err = err.without_url();
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(&err);
    while let Some(error) = cause {
        let said = error.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = error.source();
    }
    text
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
            .map_err(|e| format!("fetching {shown}: {}", failure(e)))?;
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
            .map_err(|e| format!("reading {shown}: {}", failure(e)))?
        {
            if body.len() + chunk.len() > Self::MAX_BYTES {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| format!("{shown} is not a JWKS document: {e}"))
    }
}

/// The keys of a JWKS document, parsed once, by key id.
pub(crate) struct JwksCache {
    source: Box<dyn JwksSource>,
    keys: Mutex<Arc<HashMap<String, Arc<VerifyingKey>>>>,
    /// When the recent fetches started, oldest first, within the budget period.
    fetches: Mutex<VecDeque<Instant>>,
    /// Whether the last fetch failed (an unknown key is then 503, not 401).
    last_failed: Mutex<Option<String>>,
    pub(crate) budget: (usize, Duration),
    /// Keys older than this are fetched again on the next request (outside the budget).
    pub(crate) max_key_age: Duration,
    /// When the cached keys were fetched, and when a refresh of stale keys last began.
    fetched_at: Mutex<Option<Instant>>,
    stale_attempt: Mutex<Option<Instant>>,
    fetching: tokio::sync::Mutex<()>,
    /// Held by the one request refreshing stale keys.
    stale_fetching: tokio::sync::Mutex<()>,
}

/// What a fetch attempt came to.
pub(crate) enum Refresh {
    /// Fetched; the cache holds the new keys.
    Fetched,
    /// The budget is spent; the cache is as it was.
    OverBudget,
    /// The source failed or gave no usable key; the cache is as it was.
    Failed(String),
}

/// The algorithm a JWK verifies, or `None` for keys we do not use (symmetric keys,
/// encryption keys, keys whose `key_ops` leave out `verify`, unknown curves).
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    // `key_ops` names what the key is for, like `use` (RFC 7517, 4.3): without
    // `verify` in it, the key verifies nothing.
    if let Some(ops) = &jwk.common.key_operations
        && !ops.contains(&KeyOperations::Verify)
    {
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
    /// An empty cache over `source`, with the default budget and key age.
    pub(crate) fn new(
        source: Box<dyn JwksSource>,
        budget: (usize, Duration),
        max_key_age: Duration,
    ) -> Self {
        Self {
            source,
            keys: Mutex::new(Arc::new(HashMap::new())),
            fetches: Mutex::new(VecDeque::new()),
            last_failed: Mutex::new(None),
            budget,
            max_key_age,
            fetched_at: Mutex::new(None),
            stale_attempt: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
            stale_fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The key published under `kid` (or the only key, for a token without one).
    pub(crate) fn cached(&self, kid: Option<&str>) -> Option<Arc<VerifyingKey>> {
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
    pub(crate) async fn refresh(&self, kid: Option<&str>) -> Refresh {
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
    pub(crate) fn is_stale(&self) -> bool {
        self.fetched_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|t| t.elapsed() >= self.max_key_age)
    }

    /// Fetches keys older than the maximum key age again, so that a key the provider
    /// withdrew stops being accepted and a rotation is picked up even while forged key
    /// ids hold the budget. Outside the budget, but tried at most once per
    /// `min(max_key_age, 30 s)`, and skipped while another stale refresh runs; a failure keeps
    /// the cached keys.
    pub(crate) async fn refresh_stale(&self) {
        // A lock of its own: requests with forged key ids hold `fetching` most of the time
        // during a flood, and must not keep stale keys in use.
        let Ok(_one_at_a_time) = self.stale_fetching.try_lock() else {
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
                    if let Some(key) = VerifyingKey::from_jwk(jwk, alg) {
                        keys.insert(kid, Arc::new(key));
                    }
                }
                if keys.is_empty() {
                    Err(format!(
                        "the JWKS document has no usable signing key ({} keys listed)",
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

    pub(crate) fn last_failure(&self) -> Option<String> {
        self.last_failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
