//! [`TokenService`]: resolver + issuer + policy. One request in, one [`HttpReply`] out.
//!
//! Every HTTP decision of the token endpoint is made here, once, so that the axum,
//! actix-web and rocket adapters answer with the same bytes: which methods are allowed,
//! which status and `error` code each [`ResolveError`] gets, the `WWW-Authenticate`,
//! `Retry-After` and `Cache-Control` headers, and both JSON bodies. Adapters only copy
//! the request in and the reply out.
//!
//! One step answers every token request, [`TokenService::answer`]: this request, and
//! the outcome of identifying its caller, in, the reply out (405, CORS, user policy,
//! minting, metrics, spans, bodies and headers). The outcome is a future, awaited only
//! once the method and CORS checks have passed: [`TokenService::handle`] passes the
//! resolver's, the adapters' framework-native routes pass the app's own login (a
//! session, an extractor, a guard), and a hand-written handler may pass its own.
//!
//! The identification runs under a timeout (a hung backend becomes 503 `unavailable`)
//! and a panic guard (a panic becomes 500 `internal`, and the server keeps going).
//! Internal details go to `tracing`, never into a reply.

use std::fmt;
use std::future::Future as _;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use futures_util::FutureExt as _;
use tracing::Instrument as _;

mod builder;

pub use builder::{BuildError, DEFAULT_RESOLVE_TIMEOUT, TokenServiceBuilder};

use crate::cors::CorsPolicy;
use crate::http::{ErrorCode, HttpReply, Rejection, internal, token_body};
use crate::issuer::TokenIssuer;
use crate::policy::{Decision, PolicyError, UserPolicy};
use crate::request::IncomingRequest;
use crate::resolver::{IdentityResolver, ResolveError, Resolved};
use crate::tenants::{Lookup, TenantCache};
use crate::token::AccessToken;

/// What the token service does by default for every user.
#[derive(Debug, Clone)]
pub(super) struct TokenPolicy {
    /// The default token: grants and strictness, cloned (cheaply) per request.
    pub(super) template: AccessToken,
    pub(super) ttl: u64,
    pub(super) resolve_timeout: Duration,
    pub(super) strict_identity: bool,
    pub(super) cors: Option<CorsPolicy>,
}

pub(super) struct Inner {
    /// `None` when identity only ever comes from the app's own login.
    pub(super) resolver: Option<Arc<dyn IdentityResolver>>,
    /// Replaceable at run time (key rotation) without stopping requests.
    pub(super) issuer: ArcSwap<TokenIssuer>,
    /// Replaceable at run time (a policy file changed) without stopping requests.
    pub(super) users: ArcSwapOption<UserPolicy>,
    pub(super) policy: TokenPolicy,
    /// Each tenant's configuration, when users belong to tenants with their own accounts.
    pub(super) tenants: Option<TenantCache>,
}

/// Resolver + issuer + policy: answers token requests and authenticates app routes.
///
/// Cloning is cheap (an `Arc`). Build it with [`TokenService::builder`].
///
/// ```
/// use chat_token_core::{Credentials, IncomingRequest, StaticUsers, TokenIssuer, TokenService};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let issuer = TokenIssuer::new(Credentials::try_new(
///     "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
///     "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
///     "not-a-real-secret-for-docs",
/// )?);
/// let users: StaticUsers = "tok-alice-0123456789=alice".parse()?;
/// let service = TokenService::builder(issuer, users).build()?;
///
/// let reply = service
///     .handle(&IncomingRequest::new("GET", "/token").with_header("authorization", "Bearer tok-alice-0123456789"))
///     .await;
/// assert_eq!(reply.status, 200);
/// let reply = service.handle(&IncomingRequest::new("GET", "/token")).await;
/// assert_eq!(reply.status, 401);
/// assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct TokenService {
    pub(super) inner: Arc<Inner>,
}

impl fmt::Debug for TokenService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenService")
            .field("issuer", &self.inner.issuer.load())
            .field("policy", &self.inner.policy)
            .field("users", &self.inner.users.load())
            .finish_non_exhaustive()
    }
}

impl TokenService {
    /// The tenant cache, when the service was built with a
    /// [`TenantSource`](crate::tenants::TenantSource)
    /// ([`TokenServiceBuilder::tenants`]): [`forget`](TenantCache::forget) a tenant when
    /// its configuration changes (a key rotated, the organisation removed, disabled or
    /// restored), or its users keep the cached answer until it expires (5 minutes by
    /// default, [`TokenServiceBuilder::tenant_cache`]); an unknown tenant's 403 is cached
    /// too.
    pub fn tenant_cache(&self) -> Option<&TenantCache> {
        self.inner.tenants.as_ref()
    }

    /// The issuer in use now.
    pub fn issuer(&self) -> TokenIssuer {
        TokenIssuer::clone(&self.inner.issuer.load())
    }

    /// Signs every later token with `issuer` (new credentials after a key rotation).
    /// Requests already minting finish with the old one; none fails.
    pub fn replace_issuer(&self, issuer: TokenIssuer) {
        self.inner.issuer.store(Arc::new(issuer));
        tracing::info!("token issuer replaced; new tokens use the new credentials");
    }

    /// Applies `policy` (or none) to every later token, after checking it as
    /// [`TokenServiceBuilder::user_policy`] does (a policy file changed). Requests already
    /// minting finish with the old one; none fails. A policy that does not check is
    /// refused and the current one stays.
    pub fn replace_user_policy(&self, policy: Option<UserPolicy>) -> Result<(), PolicyError> {
        if let Some(policy) = &policy {
            policy.check()?;
        }
        self.inner.users.store(policy.map(Arc::new));
        Ok(())
    }

    /// The resolver's answer for `req`, as a future that [`identify`](Self::identify)
    /// and [`answer`](Self::answer) take.
    async fn resolve(&self, req: &IncomingRequest) -> Result<Resolved, ResolveError> {
        match &self.inner.resolver {
            Some(resolver) => resolver.resolve(req).await,
            None => Err(ResolveError::internal(
                "this TokenService was built without a resolver: it answers only through the adapter's framework-native token route, where the app's own login identifies the caller",
            )),
        }
    }

    /// Runs the resolver on `req` (with timeout and panic guard) and checks the identity.
    /// Adapters' `ResolvedIdentity` extractors call this.
    pub async fn authenticate(&self, req: &IncomingRequest) -> Result<Resolved, Rejection> {
        self.identify(req, self.resolve(req)).await
    }

    /// Awaits `outcome`, the identification of `req`'s caller by any means (a resolver,
    /// the app's session), under the resolve timeout and a panic guard, records the
    /// metrics and span, and checks the identity: the step [`answer`](Self::answer) and
    /// [`authenticate`](Self::authenticate) share.
    async fn identify<F>(&self, req: &IncomingRequest, outcome: F) -> Result<Resolved, Rejection>
    where
        F: std::future::Future<Output = Result<Resolved, ResolveError>>,
    {
        let span = tracing::debug_span!(
            "resolve",
            identity = tracing::field::Empty,
            outcome = tracing::field::Empty
        );
        let started = std::time::Instant::now();
        // Below the debug level (the usual production filter) the span is disabled:
        // entering and leaving it at every poll would cost for nothing.
        let result = if span.is_disabled() {
            self.identify_inner(req, outcome).await
        } else {
            self.identify_inner(req, outcome)
                .instrument(span.clone())
                .await
        };
        crate::metrics::resolved_in(started.elapsed());
        match &result {
            Ok(resolved) => {
                span.record("identity", resolved.identity());
                span.record("outcome", "resolved");
            }
            Err(rejection) => {
                span.record("outcome", rejection.code().as_str());
                crate::metrics::error(rejection.code());
            }
        }
        result
    }

    async fn identify_inner<F>(
        &self,
        req: &IncomingRequest,
        outcome: F,
    ) -> Result<Resolved, Rejection>
    where
        F: std::future::Future<Output = Result<Resolved, ResolveError>>,
    {
        let policy = &self.inner.policy;
        let mut call = std::pin::pin!(AssertUnwindSafe(outcome).catch_unwind());
        // Most resolvers answer at once (a table lookup, a header): poll once before
        // arming the timer, so that they pay nothing for the timeout.
        let first = std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await;
        let outcome = match first {
            Poll::Ready(result) => Ok(result),
            // Boxed: the timer is large, and most requests never reach this state.
            Poll::Pending => Box::pin(tokio::time::timeout(policy.resolve_timeout, call)).await,
        };
        let resolved = match outcome {
            Err(_elapsed) => {
                tracing::warn!(
                    timeout_ms = policy.resolve_timeout.as_millis() as u64,
                    path = req.path(),
                    "identifying the caller timed out; answering 503"
                );
                return Err(Rejection::from(ResolveError::unavailable("timed out")));
            }
            Ok(Err(panic)) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a non-string payload".to_owned());
                tracing::error!(panic = %what, path = req.path(), "identifying the caller panicked; answering 500");
                return Err(internal());
            }
            Ok(Ok(result)) => result,
        };
        match resolved {
            Ok(resolved) => {
                let rules = crate::identity::IdentityRules {
                    strict: policy.strict_identity,
                    voice: false,
                };
                if let Err(err) = rules.check(resolved.identity()) {
                    tracing::error!(error = %err, "the identification gave an invalid identity; answering 500");
                    return Err(internal());
                }
                Ok(resolved)
            }
            Err(err) => {
                match &err {
                    ResolveError::Unavailable { message, .. } => {
                        tracing::warn!(reason = %message, "the identification's backend is unavailable; answering 503");
                    }
                    ResolveError::Internal(message) => {
                        tracing::error!(reason = %message, "identifying the caller failed; answering 500");
                    }
                    other => tracing::debug!(outcome = %other, "request not authenticated"),
                }
                Err(Rejection::from(err))
            }
        }
    }

    /// Answers one request to the token endpoint: 405 for methods other than GET and POST,
    /// otherwise resolve, mint, and the token JSON (or the error JSON).
    ///
    /// With a [`CorsPolicy`], a preflight (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`) is answered 204 (allowed origin) or 403, and
    /// every other answer to an allowed origin carries its CORS headers.
    pub async fn handle(&self, req: &IncomingRequest) -> HttpReply {
        self.answer(req, self.resolve(req)).await
    }

    /// Answers one request to the token endpoint whose caller `outcome` identifies: the
    /// one step behind [`handle`](Self::handle), the adapters' framework-native routes
    /// and hand-written handlers. `outcome` is awaited only for GET and POST (after the
    /// CORS preflight), under the resolve timeout and a panic guard; then the user
    /// policy, minting, metrics and the reply, with CORS headers.
    ///
    /// ```
    /// use chat_token_core::{Credentials, IncomingRequest, Resolved, TokenIssuer, TokenService};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let issuer = TokenIssuer::new(Credentials::try_new(
    ///     "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ///     "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
    ///     "not-a-real-secret-for-docs",
    /// )?);
    /// let service = TokenService::without_resolver(issuer).build()?;
    /// // The app's own login said who this is.
    /// let req = IncomingRequest::new("GET", "/token");
    /// let reply = service.answer(&req, async { Ok(Resolved::new("alice")) }).await;
    /// assert_eq!(reply.status, 200);
    /// let reply = service
    ///     .answer(&IncomingRequest::new("DELETE", "/token"), async { Ok(Resolved::new("alice")) })
    ///     .await;
    /// assert_eq!(reply.status, 405);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn answer<F>(&self, req: &IncomingRequest, outcome: F) -> HttpReply
    where
        F: std::future::Future<Output = Result<Resolved, ResolveError>>,
    {
        let cors = self.inner.policy.cors.as_ref();
        let origin = req.header("origin");
        if let (Some(cors), Some(origin), "OPTIONS") = (cors, origin, req.method())
            && req.header("access-control-request-method").is_some()
        {
            return match cors.preflight(origin) {
                Some(headers) => HttpReply {
                    status: 204,
                    headers,
                    body: String::new(),
                },
                None => Rejection::new(
                    ErrorCode::Forbidden,
                    "this origin may not call the token endpoint; add it to the CORS origins",
                )
                .reply(),
            };
        }
        let mut reply = if !matches!(req.method(), "GET" | "POST") {
            crate::metrics::error(ErrorCode::MethodNotAllowed);
            Rejection::method_not_allowed().reply()
        } else {
            match self.identify(req, outcome).await {
                Ok(resolved) => self.mint_for(req, &resolved).await,
                Err(rejection) => rejection.reply(),
            }
        };
        if let Some(cors) = cors {
            cors.decorate(origin, &mut reply.headers);
        }
        reply
    }

    /// Chooses the account that signs for an identified user (the service's own, or its
    /// tenant's) and mints. Only [`answer`](Self::answer) calls it.
    async fn mint_for(&self, req: &IncomingRequest, resolved: &Resolved) -> HttpReply {
        let policy = &self.inner.policy;
        let refuse = |rejection: Rejection| {
            crate::metrics::error(rejection.code());
            rejection.reply()
        };
        let (tenant, cache) = match (resolved.tenant(), &self.inner.tenants) {
            (None, None) => {
                let issuer = self.inner.issuer.load();
                return self.mint_reply(
                    req,
                    resolved,
                    &issuer,
                    &policy.template,
                    (policy.ttl, None),
                );
            }
            (None, Some(_)) => {
                tracing::info!(
                    identity = resolved.identity(),
                    "the user belongs to no tenant; answering 403"
                );
                return refuse(Rejection::new(
                    ErrorCode::Forbidden,
                    "this user belongs to no organisation with a Twilio configuration",
                ));
            }
            (Some(tenant), None) => {
                tracing::error!(
                    tenant,
                    "the identification named a tenant, but this TokenService has no tenant source; answering 500"
                );
                return refuse(internal());
            }
            (Some(tenant), Some(cache)) => (tenant, cache),
        };
        let lookup = AssertUnwindSafe(cache.lookup(tenant)).catch_unwind().await;
        match lookup {
            Ok(Lookup::Ready(ready)) => self.mint_reply(
                req,
                resolved,
                &ready.issuer,
                &ready.template,
                (ready.ttl.unwrap_or(policy.ttl), ready.ttl),
            ),
            Ok(Lookup::Unknown) => {
                tracing::warn!(
                    tenant,
                    "the tenant has no Twilio configuration; answering 403"
                );
                refuse(Rejection::new(
                    ErrorCode::Forbidden,
                    "this user's organisation has no Twilio configuration",
                ))
            }
            Ok(Lookup::Malformed | Lookup::Panicked) => refuse(internal()),
            Ok(Lookup::Unavailable(reason)) => {
                tracing::warn!(tenant, %reason, "the tenant source is unavailable; answering 503");
                refuse(Rejection::new(
                    ErrorCode::Unavailable,
                    "this user's organisation's Twilio configuration cannot be read right now; try again shortly",
                ))
            }
            Err(_panic) => {
                tracing::error!(tenant, "the tenant source panicked; answering 500");
                refuse(internal())
            }
        }
    }

    /// Mints the token for an identified user with `issuer`, from `template` (the
    /// default token of the service or of the user's tenant) and `(ttl, cap)`: the
    /// default ttl, and the tenant's own ttl, which no user-policy rule may exceed. Renders
    /// the 200 reply (or the 403 of the user policy, or a logged 500).
    fn mint_reply(
        &self,
        req: &IncomingRequest,
        resolved: &Resolved,
        issuer: &TokenIssuer,
        template: &AccessToken,
        (ttl, cap): (u64, Option<u64>),
    ) -> HttpReply {
        let policy = &self.inner.policy;
        let token = match resolved.grants() {
            None => template.clone(),
            Some(grants) => AccessToken::new()
                .with_strict_identity(policy.strict_identity)
                .with_grants(grants.iter().cloned()),
        }
        .with_identity(resolved.identity())
        .with_ttl(resolved.ttl().unwrap_or(ttl));
        let users = self.inner.users.load();
        let token = match users.as_deref() {
            None => token,
            Some(users) => match users.apply(Some(req), resolved, token, cap) {
                Decision::Mint(token) => token,
                Decision::Deny => {
                    crate::metrics::error(ErrorCode::Forbidden);
                    return Rejection::new(
                        ErrorCode::Forbidden,
                        "the user policy does not allow this user a token",
                    )
                    .reply();
                }
            },
        };
        let _span = tracing::debug_span!("mint", identity = resolved.identity()).entered();
        let body = match token_body(resolved.identity(), issuer, &token) {
            Ok((body, times)) => {
                crate::metrics::minted();
                tracing::debug!(
                    identity = resolved.identity(),
                    expires_at = times.expires_at,
                    "token issued"
                );
                body
            }
            Err(err) => {
                crate::metrics::error(ErrorCode::Internal);
                tracing::error!(identity = resolved.identity(), error = %err, "could not mint a token; answering 500");
                return internal().reply();
            }
        };
        HttpReply::json(200, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issuer::Credentials;
    use crate::token::{MAX_TTL, TokenError};

    fn issuer() -> TokenIssuer {
        TokenIssuer::new(
            Credentials::try_new(
                "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                "not-a-real-secret-for-tests",
            )
            .unwrap(),
        )
        .with_chat_service_sid("ISdddddddddddddddddddddddddddddddd")
        .unwrap()
    }

    struct Orgs;

    #[async_trait::async_trait]
    impl crate::tenants::TenantSource for Orgs {
        async fn tenant(
            &self,
            id: &str,
        ) -> Result<Option<crate::tenants::Tenant>, crate::tenants::TenantError> {
            use crate::tenants::{Tenant, TenantError};
            let creds = |ac: char, sk: char| {
                Credentials::try_new(
                    format!("AC{}", ac.to_string().repeat(32)),
                    format!("SK{}", sk.to_string().repeat(32)),
                    format!("secret-of-{id}"),
                )
                .map_err(|e| TenantError::Malformed(e.to_string()))
            };
            match id {
                "acme" => Ok(Some(Tenant::new(
                    TokenIssuer::new(creds('1', '2')?)
                        .with_chat_service_sid(format!("IS{}", "3".repeat(32)))
                        .map_err(|e| TenantError::Malformed(e.to_string()))?,
                ))),
                "globex" => Ok(Some(
                    Tenant::new(TokenIssuer::new(creds('4', '5')?))
                        .with_ttl(60)
                        .with_grants([crate::VideoGrant::new().into()]),
                )),
                "bare" => Ok(Some(Tenant::new(TokenIssuer::new(creds('8', '9')?)))),
                "badttl" => Ok(Some(
                    Tenant::new(TokenIssuer::new(creds('6', '7')?)).with_ttl(0),
                )),
                "down" => Err(TenantError::Unavailable("the database is down".into())),
                "broken" => Err(TenantError::Malformed("account SID is not AC...".into())),
                "panics" => panic!("source bug"),
                _ => Ok(None),
            }
        }
    }

    #[tokio::test]
    async fn each_tenant_signs_with_its_own_account() {
        let service = TokenService::without_resolver(issuer())
            .tenants(Orgs)
            .build()
            .unwrap();
        let req = IncomingRequest::new("GET", "/token");
        let answer = |resolved: Resolved| {
            let (service, req) = (service.clone(), req.clone());
            async move { service.answer(&req, async { Ok(resolved) }).await }
        };
        let claims = |reply: &HttpReply| {
            let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
            let jwt = body["token"].as_str().unwrap().to_owned();
            let payload = jwt.split('.').nth(1).unwrap().to_owned();
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap();
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
        };
        let acme = answer(Resolved::new("alice").with_tenant("acme")).await;
        assert_eq!(acme.status, 200, "{}", acme.body);
        let c = claims(&acme);
        assert_eq!(c["sub"], format!("AC{}", "1".repeat(32)));
        assert_eq!(c["iss"], format!("SK{}", "2".repeat(32)));
        assert_eq!(
            c["grants"]["chat"]["service_sid"],
            format!("IS{}", "3".repeat(32))
        );
        let globex = answer(Resolved::new("bob").with_tenant("globex")).await;
        let c = claims(&globex);
        assert_eq!(c["sub"], format!("AC{}", "4".repeat(32)));
        assert_eq!(
            c["grants"]["video"],
            serde_json::json!({}),
            "the tenant's own grants"
        );
        let bare = answer(Resolved::new("ivy").with_tenant("bare")).await;
        assert_eq!(
            bare.status, 500,
            "no grants and no chat service: never the service's"
        );
        assert_eq!(c["exp"].as_u64().unwrap() - c["nbf"].as_u64().unwrap(), 60);
        let status = |reply: HttpReply| (reply.status, reply.header("retry-after").is_some());
        assert_eq!(
            status(answer(Resolved::new("carol").with_tenant("initech")).await),
            (403, false)
        );
        assert_eq!(status(answer(Resolved::new("dave")).await), (403, false));
        assert_eq!(
            status(answer(Resolved::new("erin").with_tenant("down")).await),
            (503, true)
        );
        assert_eq!(
            status(answer(Resolved::new("frank").with_tenant("broken")).await),
            (500, false)
        );
        assert_eq!(
            status(answer(Resolved::new("gina").with_tenant("badttl")).await),
            (500, false)
        );
        assert_eq!(
            status(answer(Resolved::new("hal").with_tenant("panics")).await),
            (500, false)
        );
        assert_eq!(
            answer(Resolved::new("alice").with_tenant("acme"))
                .await
                .status,
            200,
            "still serving"
        );
        let single = TokenService::without_resolver(issuer()).build().unwrap();
        let reply = single
            .answer(&req, async {
                Ok(Resolved::new("alice").with_tenant("acme"))
            })
            .await;
        assert_eq!(
            reply.status, 500,
            "a tenant without a tenant source is a configuration error"
        );
    }

    #[test]
    fn a_default_token_that_cannot_be_minted_is_a_build_error() {
        let err = |b: TokenServiceBuilder| b.build().err();
        assert_eq!(
            err(TokenService::without_resolver(issuer()).ttl(0)),
            Some(BuildError::Token(TokenError::TtlOutOfRange { ttl: 0 }))
        );
        assert_eq!(
            err(TokenService::without_resolver(issuer()).ttl(MAX_TTL + 1)),
            Some(BuildError::Token(TokenError::TtlOutOfRange {
                ttl: MAX_TTL + 1
            }))
        );
        assert_eq!(
            err(TokenService::without_resolver(issuer()).grants([])),
            Some(BuildError::Token(TokenError::NoGrants))
        );
        let bad_sid = crate::ChatGrant::new().with_service_sid("IS1");
        assert!(matches!(
            err(TokenService::without_resolver(issuer()).grants([bad_sid.into()])),
            Some(BuildError::Token(TokenError::Sid(_)))
        ));
    }

    #[tokio::test]
    async fn a_service_without_a_resolver_answers_handle_with_a_500_not_a_panic() {
        let service = TokenService::without_resolver(issuer()).build().unwrap();
        let req = IncomingRequest::new("GET", "/token").with_header("authorization", "Bearer x");
        let reply = service.handle(&req).await;
        assert_eq!(reply.status, 500);
        assert!(reply.body.contains("\"internal\""), "{}", reply.body);
        let rejection = service.authenticate(&req).await.unwrap_err();
        assert_eq!(rejection.code(), ErrorCode::Internal);
        // The same service answers when the app's login identifies the caller.
        let reply = service
            .answer(&req, async { Ok(Resolved::new("alice")) })
            .await;
        assert_eq!(reply.status, 200);
    }

    #[tokio::test]
    async fn the_outcome_is_not_awaited_for_other_methods() {
        let service = TokenService::without_resolver(issuer()).build().unwrap();
        let awaited = std::sync::atomic::AtomicBool::new(false);
        let reply = service
            .answer(&IncomingRequest::new("DELETE", "/token"), async {
                awaited.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(Resolved::new("alice"))
            })
            .await;
        assert_eq!(reply.status, 405);
        assert!(!awaited.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_panicking_outcome_is_a_500() {
        let service = TokenService::without_resolver(issuer()).build().unwrap();
        let reply = service
            .answer(&IncomingRequest::new("GET", "/token"), async {
                panic!("the app's lookup panicked on purpose")
            })
            .await;
        assert_eq!(reply.status, 500);
    }
}
