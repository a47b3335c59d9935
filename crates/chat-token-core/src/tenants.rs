//! Many Twilio accounts behind one token service: a platform that gives each customer
//! organisation its own Twilio subaccount signs each user's token with *that*
//! organisation's account SID, API key and chat service.
//!
//! The resolver (or the app's own login) names the user's tenant next to the identity
//! ([`Resolved::with_tenant`](crate::Resolved::with_tenant)); a [`TenantSource`] (the
//! app's database, a secrets manager, a file) says what each tenant's [`Tenant`]
//! configuration is; the service keeps them in a [`TenantCache`]: bounded in entries,
//! each entry kept for a time, and one fetch per tenant however many requests ask for it
//! at once.
//!
//! | the source says | the answer |
//! |---|---|
//! | `Ok(Some(tenant))` | the token, signed with the tenant's credentials |
//! | `Ok(None)`: no such tenant | 403 `forbidden`, the organisation has no Twilio configuration |
//! | `Err(TenantError::Unavailable)`, or no answer within the timeout | 503 `unavailable` with `Retry-After`; not remembered |
//! | `Err(TenantError::Malformed)` | 500 `internal`, logged once per fetch |
//!
//! Unknown and malformed tenants are remembered like known ones, so a flood of requests
//! naming them does not reach the source more than once per entry lifetime.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};

use crate::grants::Grant;
use crate::issuer::TokenIssuer;
use crate::token::{AccessToken, TokenError};

/// How many tenants the cache holds by default.
pub const DEFAULT_TENANT_ENTRIES: usize = 10_000;
/// How long a tenant's configuration is used before it is fetched again, by default.
pub const DEFAULT_TENANT_TTL: Duration = Duration::from_secs(300);
/// How long a fetch may take by default before the request is answered 503.
pub const DEFAULT_TENANT_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest tenant id, in bytes.
pub const MAX_TENANT_ID_LEN: usize = 256;

/// Whether `id` can name a tenant: 1 to [`MAX_TENANT_ID_LEN`] bytes, and the characters
/// an identity may have (no control, invisible format or line-separator character, so
/// that two tenants cannot look alike).
pub fn valid_tenant_id(id: &str) -> bool {
    id.len() <= MAX_TENANT_ID_LEN && crate::identity::IdentityRules::basic().check(id).is_ok()
}

/// One tenant's Twilio configuration: the issuer (its account SID, API key and secret,
/// and its default chat service) and, optionally, its own default grants and ttl.
#[derive(Debug, Clone)]
pub struct Tenant {
    issuer: TokenIssuer,
    grants: Option<Vec<Grant>>,
    ttl: Option<u64>,
}

impl Tenant {
    /// A tenant whose users get the service's default ttl and one chat grant for the
    /// issuer's default chat service. A tenant with neither a chat service
    /// ([`TokenIssuer::with_chat_service_sid`]) nor grants of its own
    /// ([`with_grants`](Self::with_grants)) cannot be served (500): the service's own
    /// default grants name services of another account.
    pub fn new(issuer: TokenIssuer) -> Self {
        Self {
            issuer,
            grants: None,
            ttl: None,
        }
    }

    /// The grants this tenant's users get unless the resolver chooses others.
    pub fn with_grants(mut self, grants: impl IntoIterator<Item = Grant>) -> Self {
        self.grants = Some(grants.into_iter().collect());
        self
    }

    /// The ttl of this tenant's tokens, in seconds (1..=86400), unless the resolver
    /// chooses another.
    pub fn with_ttl(mut self, seconds: u64) -> Self {
        self.ttl = Some(seconds);
        self
    }

    /// The issuer that signs this tenant's tokens.
    pub fn issuer(&self) -> &TokenIssuer {
        &self.issuer
    }

    /// The tenant's own default grants, if any.
    pub fn grants(&self) -> Option<&[Grant]> {
        self.grants.as_deref()
    }

    /// The tenant's own default ttl, if any.
    pub fn ttl(&self) -> Option<u64> {
        self.ttl
    }
}

/// Why a [`TenantSource`] gave no configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TenantError {
    /// The source is down or slow (503 `unavailable`); the next request tries again.
    #[error("the tenant source is unavailable: {0}")]
    Unavailable(String),
    /// The tenant's stored configuration cannot be used (malformed SIDs, an empty
    /// secret): 500 `internal`, logged with the tenant. Must not hold the secret.
    #[error("the tenant's configuration cannot be used: {0}")]
    Malformed(String),
}

/// Where each tenant's configuration comes from.
///
/// ```
/// use chat_token_core::tenants::{Tenant, TenantError, TenantSource};
/// use chat_token_core::{Credentials, TokenIssuer, async_trait};
///
/// struct Organisations; // the app's database, in a real app
///
/// #[async_trait]
/// impl TenantSource for Organisations {
///     async fn tenant(&self, id: &str) -> Result<Option<Tenant>, TenantError> {
///         if id != "acme" {
///             return Ok(None);
///         }
///         let credentials = Credentials::try_new(
///             "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
///             "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
///             "acme-api-key-secret",
///         )
///         .map_err(|e| TenantError::Malformed(e.to_string()))?;
///         Ok(Some(Tenant::new(TokenIssuer::new(credentials))))
///     }
/// }
/// ```
#[async_trait]
pub trait TenantSource: Send + Sync + 'static {
    /// The configuration of tenant `id`, `Ok(None)` when there is no such tenant.
    async fn tenant(&self, id: &str) -> Result<Option<Tenant>, TenantError>;
}

/// How the service builds a tenant's default token (its grants checked once).
pub(crate) type TemplateFn = Box<dyn Fn(&Tenant) -> Result<AccessToken, TokenError> + Send + Sync>;

/// A tenant ready to mint: its issuer and its default token (grants checked once).
pub(crate) struct Ready {
    pub(crate) issuer: TokenIssuer,
    pub(crate) template: AccessToken,
    pub(crate) ttl: Option<u64>,
}

/// What the cache remembers about one tenant.
#[derive(Clone)]
pub(crate) enum Known {
    Ready(Arc<Ready>),
    Unknown,
    Malformed,
}

impl From<Known> for Lookup {
    fn from(known: Known) -> Self {
        match known {
            Known::Ready(ready) => Lookup::Ready(ready),
            Known::Unknown => Lookup::Unknown,
            Known::Malformed => Lookup::Malformed,
        }
    }
}

/// How the cache answered for a tenant.
pub(crate) enum Lookup {
    Ready(Arc<Ready>),
    Unknown,
    Malformed,
    Unavailable(String),
    Panicked,
}

/// A fetch's outcome, failures included, so that every request waiting on one fetch gets
/// its answer (a failure is then dropped from the table, for the next request to retry).
type Fetched = Result<Known, Failure>;

/// Why a fetch gave no answer; not remembered.
#[derive(Clone)]
enum Failure {
    /// The source is down or slow (503).
    Unavailable(String),
    /// The source panicked (500).
    Panicked,
}

/// One fetch, run by a task of its own (so that a request that goes away does not cancel
/// it for the others, and a panic in the source is a failure like another), awaited by
/// every request for that tenant while it runs.
type Flight = Shared<BoxFuture<'static, Fetched>>;

/// The answer of a fetch and when it arrived (its age counts from then), written by the
/// fetch's task, whether or not any request still waits.
type Answer = Arc<OnceLock<(Known, Instant)>>;

/// The table: tenant id to slot.
type Table = quick_cache::sync::Cache<String, Slot>;

/// One tenant's place in the table: its fetch, and the answer once the fetch gave one.
#[derive(Clone)]
struct Slot(Arc<SlotState>);

struct SlotState {
    flight: Flight,
    /// When the fetch began.
    started: Instant,
    answer: Answer,
}

impl Slot {
    /// The answer if it is younger than `ttl`; or else the fetch to join, when it began
    /// less than `ttl` ago (an older one may carry a configuration read before a
    /// rotation); `None` when the slot is to be replaced.
    fn fresh(&self, ttl: Duration) -> Option<Result<Known, Flight>> {
        match self.0.answer.get() {
            Some((known, since)) if since.elapsed() < ttl => Some(Ok(known.clone())),
            None if self.0.started.elapsed() < ttl => Some(Err(self.0.flight.clone())),
            _ => None,
        }
    }

    /// Whether this slot's fetch writes `answer`.
    fn answers_to(&self, answer: &Answer) -> bool {
        Arc::ptr_eq(&self.0.answer, answer)
    }
}

/// The service's memory of tenant configurations: at most `entries` tenants, each kept
/// for `ttl`, fetched once however many requests ask at the same time.
///
/// The table is a [`quick_cache`] cache (its bound is strict and kept as entries are
/// added, with no task of its own; it evicts the entries least used, not merely the
/// oldest). The fetch itself is shared here, not by the cache's own loading, so that a
/// failure reaches every request that waited on it and a request that goes away cancels
/// nothing.
pub struct TenantCache {
    source: Arc<dyn TenantSource>,
    ttl: Duration,
    timeout: Duration,
    /// Shared with the fetches' tasks, which drop their slot when they fail.
    table: Arc<Table>,
    /// How the service builds a tenant's default token.
    template: Arc<TemplateFn>,
}

impl fmt::Debug for TenantCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantCache")
            .field("entries", &self.table.capacity())
            .field("ttl", &self.ttl)
            .field("timeout", &self.timeout)
            .field("cached", &self.len())
            .finish_non_exhaustive()
    }
}

/// What a fetch's answer means, logged when the tenant cannot be used.
fn read(
    id: &str,
    fetched: Result<Result<Option<Tenant>, TenantError>, tokio::time::error::Elapsed>,
    timeout: Duration,
    template: &TemplateFn,
) -> Fetched {
    match fetched {
        Err(_) => Err(Failure::Unavailable(format!(
            "the tenant source gave no answer within {timeout:?}"
        ))),
        Ok(Err(TenantError::Unavailable(reason))) => Err(Failure::Unavailable(reason)),
        Ok(Err(TenantError::Malformed(reason))) => {
            tracing::error!(tenant = id, %reason, "the tenant's Twilio configuration cannot be used; answering 500 until it is fixed");
            Ok(Known::Malformed)
        }
        Ok(Ok(None)) => Ok(Known::Unknown),
        Ok(Ok(Some(tenant))) => match template(&tenant) {
            Ok(default) => Ok(Known::Ready(Arc::new(Ready {
                issuer: tenant.issuer,
                template: default,
                ttl: tenant.ttl,
            }))),
            Err(err) => {
                tracing::error!(tenant = id, error = %err, "the tenant's default token cannot be minted; answering 500 until it is fixed");
                Ok(Known::Malformed)
            }
        },
    }
}

impl TenantCache {
    pub(crate) fn new(
        source: Box<dyn TenantSource>,
        entries: usize,
        ttl: Duration,
        timeout: Duration,
        template: TemplateFn,
    ) -> Self {
        let entries = entries.max(1);
        // One shard: a sharded table's bound is its shards' bounds rounded up.
        let options = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity(entries)
            .weight_capacity(entries as u64)
            .shards(1)
            .build();
        let table = match options {
            Ok(options) => Table::with_options(
                options,
                Default::default(),
                Default::default(),
                Default::default(),
            ),
            Err(_) => Table::new(entries),
        };
        Self {
            source: Arc::from(source),
            ttl,
            timeout,
            table: Arc::new(table),
            template: Arc::new(template),
        }
    }

    /// How many tenants are held now.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no tenant is held.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Forgets tenant `id`: its next request fetches it again (after a key rotation).
    pub fn forget(&self, id: &str) {
        self.table.remove(id);
    }

    /// Forgets every tenant (the source's configuration was replaced).
    pub fn forget_all(&self) {
        self.table.clear();
    }

    /// The answer for `id` when the table holds it and it is fresh; or else the fetch to
    /// wait for: the one in flight, or a new one.
    fn flight(&self, id: &str) -> Result<Known, Flight> {
        // A hit takes the table's read lock only.
        if let Some(slot) = self.table.get(id) {
            match slot.fresh(self.ttl) {
                Some(Ok(known)) => return Ok(known),
                Some(Err(flight)) => return Err(flight),
                None => {}
            }
        }
        // A miss or a stale slot: checked again and replaced in one step, so that a burst
        // starts one fetch.
        let ttl = self.ttl;
        let guard = match self.table.entry(id, None, |_, slot| match slot.fresh(ttl) {
            Some(answer) => quick_cache::sync::EntryAction::Retain(answer),
            None => quick_cache::sync::EntryAction::ReplaceWithGuard,
        }) {
            quick_cache::sync::EntryResult::Retained(answer) => return answer,
            quick_cache::sync::EntryResult::Vacant(guard)
            | quick_cache::sync::EntryResult::Replaced(guard, _) => Some(guard),
            // Neither is asked for (no removal, no timeout).
            quick_cache::sync::EntryResult::Removed(..)
            | quick_cache::sync::EntryResult::Timeout => None,
        };
        let answer = Answer::default();
        let (placed, wait_until_placed) = tokio::sync::oneshot::channel();
        let slot = Slot(Arc::new(SlotState {
            flight: self.start(id, answer.clone(), wait_until_placed),
            started: Instant::now(),
            answer,
        }));
        match guard {
            Some(guard) => {
                let _ = guard.insert(slot.clone());
            }
            None => self.table.insert(id.to_owned(), slot.clone()),
        }
        // The fetch's task may drop its slot once it is in the table.
        let _ = placed.send(());
        Err(slot.0.flight.clone())
    }

    /// Starts fetching `id` on a task of its own, which writes the answer to `answer`, or,
    /// if the fetch failed, drops its slot from the table (if the table still holds it;
    /// the task waits for `placed`, sent once it is there): so whether any request still
    /// waits or not, an answer's age counts from its arrival and a failure is not
    /// remembered.
    fn start(
        &self,
        id: &str,
        answer: Answer,
        placed: tokio::sync::oneshot::Receiver<()>,
    ) -> Flight {
        let (source, template, timeout) =
            (self.source.clone(), self.template.clone(), self.timeout);
        let table = self.table.clone();
        let id = id.to_owned();
        let task = tokio::spawn(async move {
            // A failure must not find its slot not yet in the table (and leave it there).
            let _ = placed.await;
            let fetch = tokio::time::timeout(timeout, source.tenant(&id));
            let fetched = match AssertUnwindSafe(fetch).catch_unwind().await {
                Err(_panic) => {
                    tracing::error!(tenant = id, "the tenant source panicked; answering 500");
                    Err(Failure::Panicked)
                }
                Ok(fetched) => read(&id, fetched, timeout, &template),
            };
            match &fetched {
                Ok(known) => {
                    let _ = answer.set((known.clone(), Instant::now()));
                }
                Err(_) => {
                    table.remove_if(&id, |held| held.answers_to(&answer));
                }
            }
            fetched
        });
        async move {
            // The task itself catches the source's panics; this is the runtime shutting
            // down under it.
            task.await.unwrap_or(Err(Failure::Panicked))
        }
        .boxed()
        .shared()
    }

    /// Tenant `id`, from the table or fetched once. An id no tenant can have (see
    /// [`valid_tenant_id`]) is unknown without asking the source or taking a place in the
    /// table. Needs a tokio runtime (the fetch runs on a task of its own).
    pub(crate) async fn lookup(&self, id: &str) -> Lookup {
        if !valid_tenant_id(id) {
            return Lookup::Unknown;
        }
        let flight = match self.flight(id) {
            Ok(known) => return known.into(),
            Err(flight) => flight,
        };
        match flight.await {
            Ok(known) => known.into(),
            Err(Failure::Unavailable(reason)) => Lookup::Unavailable(reason),
            Err(Failure::Panicked) => Lookup::Panicked,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::issuer::Credentials;

    struct Counting {
        fetches: Arc<AtomicUsize>,
        delay: Duration,
    }

    #[async_trait]
    impl TenantSource for Counting {
        async fn tenant(&self, id: &str) -> Result<Option<Tenant>, TenantError> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            match id {
                "down" => Err(TenantError::Unavailable("database down".into())),
                "broken" => Err(TenantError::Malformed("bad account SID".into())),
                "nobody" => Ok(None),
                _ => Ok(Some(Tenant::new(TokenIssuer::new(
                    Credentials::try_new(
                        "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                        "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                        "a-tenant-secret",
                    )
                    .map_err(|e| TenantError::Malformed(e.to_string()))?,
                )))),
            }
        }
    }

    fn cache(entries: usize, delay: Duration) -> (Arc<TenantCache>, Arc<AtomicUsize>) {
        let fetches = Arc::new(AtomicUsize::new(0));
        let source = Counting {
            fetches: fetches.clone(),
            delay,
        };
        let cache = TenantCache::new(
            Box::new(source),
            entries,
            DEFAULT_TENANT_TTL,
            Duration::from_secs(1),
            Box::new(|_| Ok(AccessToken::new())),
        );
        (Arc::new(cache), fetches)
    }

    #[tokio::test]
    async fn concurrent_first_requests_fetch_once() {
        let (cache, fetches) = cache(10, Duration::from_millis(50));
        let lookups = (0..50).map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { matches!(cache.lookup("acme").await, Lookup::Ready(_)) })
        });
        let lookups: Vec<_> = lookups.collect();
        for lookup in lookups {
            assert!(lookup.await.unwrap_or(false));
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_bound_holds_under_a_scan_and_failures_are_not_kept() {
        let (cache, fetches) = cache(100, Duration::ZERO);
        for i in 0..1_000 {
            assert!(matches!(
                cache.lookup(&format!("t{i}")).await,
                Lookup::Ready(_)
            ));
            assert!(cache.len() <= 100);
        }
        assert_eq!(cache.len(), 100);
        assert!(matches!(cache.lookup("nobody").await, Lookup::Unknown));
        assert!(matches!(cache.lookup("nobody").await, Lookup::Unknown));
        assert!(matches!(cache.lookup("broken").await, Lookup::Malformed));
        assert!(matches!(cache.lookup("broken").await, Lookup::Malformed));
        let before = fetches.load(Ordering::SeqCst);
        assert_eq!(
            before, 1_002,
            "unknown and malformed tenants are remembered"
        );
        assert!(matches!(cache.lookup("down").await, Lookup::Unavailable(_)));
        assert!(matches!(cache.lookup("down").await, Lookup::Unavailable(_)));
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            before + 2,
            "outages are retried"
        );
        cache.forget("nobody");
        assert!(matches!(cache.lookup("nobody").await, Lookup::Unknown));
        assert_eq!(fetches.load(Ordering::SeqCst), before + 3);
        cache.forget_all();
        assert!(cache.is_empty());
    }

    #[tokio::test]
    async fn concurrent_requests_share_one_failed_fetch() {
        let (cache, fetches) = cache(10, Duration::from_millis(50));
        let lookups = (0..20).map(|_| {
            let cache = cache.clone();
            tokio::spawn(
                async move { matches!(cache.lookup("down").await, Lookup::Unavailable(_)) },
            )
        });
        let lookups: Vec<_> = lookups.collect();
        for lookup in lookups {
            assert!(lookup.await.unwrap_or(false));
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1, "one fetch for the burst");
        assert!(cache.is_empty(), "the failure is not kept");
        assert!(matches!(cache.lookup("down").await, Lookup::Unavailable(_)));
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            2,
            "the next request asks again"
        );
    }

    /// A source that answers only once let through, as `mode` says then.
    struct Gated {
        gate: Arc<tokio::sync::Semaphore>,
        mode: Arc<std::sync::Mutex<&'static str>>,
        fetches: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl TenantSource for Gated {
        async fn tenant(&self, id: &str) -> Result<Option<Tenant>, TenantError> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            let _pass = self.gate.acquire().await;
            let mode = *self.mode.lock().unwrap_or_else(|e| e.into_inner());
            match mode {
                "down" => Err(TenantError::Unavailable("database down".into())),
                "panic" => panic!("source bug"),
                _ => {
                    Counting {
                        fetches: Arc::default(),
                        delay: Duration::ZERO,
                    }
                    .tenant(id)
                    .await
                }
            }
        }
    }

    /// A cache over a [`Gated`] source, and the source's gate (closed), mode and count.
    struct GatedCache {
        cache: Arc<TenantCache>,
        gate: Arc<tokio::sync::Semaphore>,
        mode: Arc<std::sync::Mutex<&'static str>>,
        fetches: Arc<AtomicUsize>,
    }

    fn gated(ttl: Duration) -> GatedCache {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let mode = Arc::new(std::sync::Mutex::new("ok"));
        let fetches = Arc::new(AtomicUsize::new(0));
        let source = Gated {
            gate: gate.clone(),
            mode: mode.clone(),
            fetches: fetches.clone(),
        };
        let cache = TenantCache::new(
            Box::new(source),
            10,
            ttl,
            Duration::from_secs(30),
            Box::new(|_| Ok(AccessToken::new())),
        );
        GatedCache {
            cache: Arc::new(cache),
            gate,
            mode,
            fetches,
        }
    }

    /// Starts a lookup of `id` and drops it once its fetch has begun.
    async fn lookup_and_go_away(cache: &Arc<TenantCache>, fetches: &AtomicUsize, id: &str) {
        let before = fetches.load(Ordering::SeqCst);
        let waiter = {
            let (cache, id) = (cache.clone(), id.to_owned());
            tokio::spawn(async move { cache.lookup(&id).await })
        };
        while fetches.load(Ordering::SeqCst) == before {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        waiter.abort();
        let _ = waiter.await;
    }

    /// Waits (within a minute) until `done` holds.
    async fn until(done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_answer_no_request_waited_for_ages_from_its_arrival() {
        let ttl = Duration::from_millis(1500);
        let GatedCache {
            cache,
            gate,
            fetches,
            ..
        } = gated(ttl);
        lookup_and_go_away(&cache, &fetches, "acme").await;
        gate.add_permits(1_000);
        let arrived = Instant::now();
        // Joined later, the fetch's answer still counts from when it arrived ...
        tokio::time::sleep(ttl * 4 / 5).await;
        assert!(matches!(cache.lookup("acme").await, Lookup::Ready(_)));
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        // ... so a lifetime after its arrival it is fetched again.
        tokio::time::sleep((arrived + ttl + Duration::from_millis(100)) - Instant::now()).await;
        assert!(matches!(cache.lookup("acme").await, Lookup::Ready(_)));
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            2,
            "served past its lifetime"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failure_no_request_waited_for_is_not_remembered() {
        for failure in ["down", "panic"] {
            let GatedCache {
                cache,
                gate,
                mode,
                fetches,
            } = gated(DEFAULT_TENANT_TTL);
            *mode.lock().unwrap_or_else(|e| e.into_inner()) = failure;
            lookup_and_go_away(&cache, &fetches, "acme").await;
            gate.add_permits(1_000);
            until(|| cache.is_empty()).await;
            assert!(cache.is_empty(), "{failure}: the failed fetch is kept");
            *mode.lock().unwrap_or_else(|e| e.into_inner()) = "ok";
            assert!(
                matches!(cache.lookup("acme").await, Lookup::Ready(_)),
                "{failure}"
            );
            assert_eq!(fetches.load(Ordering::SeqCst), 2, "{failure}");
        }
    }

    #[tokio::test]
    async fn a_slow_source_is_unavailable_and_retried() {
        let (cache, fetches) = cache(10, Duration::from_secs(3));
        assert!(matches!(cache.lookup("acme").await, Lookup::Unavailable(_)));
        assert!(cache.is_empty());
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }
}
