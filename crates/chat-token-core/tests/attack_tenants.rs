//! Attacks on the multi-tenant feature: `TenantSource`, the tenant cache behind
//! `TokenServiceBuilder::tenants`, and where the tenant comes from (a bearer JWT's
//! claim, the trusted proxy's header, a users entry `token=identity;tenant=id`).
//!
//! The attackers: a signed-in user of tenant A who wants a token of tenant B, and who can
//! send any header or query; a flood of requests naming many tenants; a JWT whose tenant
//! claim has an odd type; a tenant source that is slow, hangs, fails or panics; a key
//! rotation racing a fetch. Every test asserts the SAFE behaviour: a test fails exactly
//! when the weakness it names exists. Timings are asserted only as generous upper bounds
//! ("does not hang": ten times the configured timeout).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chat_token_core::http::HttpReply;
use chat_token_core::inspect::SignatureCheck;
use chat_token_core::resolvers::IpNet;
use chat_token_core::tenants::{
    MAX_TENANT_ID_LEN, Tenant, TenantError, TenantSource, valid_tenant_id,
};
use chat_token_core::{
    Credentials, IdentityResolver as _, IncomingRequest, JwtBearerResolver, Resolved, SecretString,
    StaticUsers, TokenIssuer, TokenService, TrustedHeader, async_trait, inspect,
};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// The platform's own account: no tenant's user may ever get a token of it.
const PLATFORM_ACCOUNT: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const PLATFORM_SECRET: &str = "platform-secret-never-shown-000000";

fn platform() -> TokenIssuer {
    TokenIssuer::new(
        Credentials::try_new(
            PLATFORM_ACCOUNT,
            "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            PLATFORM_SECRET,
        )
        .expect("platform credentials"),
    )
    .with_chat_service_sid("ISdddddddddddddddddddddddddddddddd")
    .expect("platform service")
}

/// A small number unique to tenant `id` (its SIDs are made from it).
fn number_of(id: &str) -> u128 {
    // FNV-1a: stable and good enough to tell test tenants apart.
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in id.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    h
}

fn account_of(id: &str) -> String {
    format!("AC{:032x}", number_of(id))
}

fn key_of(id: &str, version: usize) -> String {
    format!("SK{:032x}", number_of(id).wrapping_add(version as u128))
}

fn service_of(id: &str) -> String {
    format!("IS{:032x}", number_of(id))
}

fn secret_of(id: &str, version: usize) -> String {
    format!("secret-of-tenant-{id}-version-{version}-never-shown")
}

/// Tenant `id`'s configuration at key `version`: its own account, key, secret and chat
/// service.
fn tenant(id: &str, version: usize) -> Tenant {
    let credentials =
        Credentials::try_new(account_of(id), key_of(id, version), secret_of(id, version))
            .expect("tenant credentials");
    Tenant::new(
        TokenIssuer::new(credentials)
            .with_chat_service_sid(service_of(id))
            .expect("tenant service"),
    )
}

type Answer = Result<Option<Tenant>, TenantError>;
type Behaviour = dyn Fn(String) -> BoxFuture<'static, Answer> + Send + Sync;

/// A tenant source whose answer for each id is `behaviour`'s, counting the calls.
#[derive(Clone)]
struct Source {
    calls: Arc<AtomicUsize>,
    per_id: Arc<Mutex<HashMap<String, usize>>>,
    behaviour: Arc<Behaviour>,
}

impl Source {
    fn new(
        behaviour: impl Fn(String) -> BoxFuture<'static, Answer> + Send + Sync + 'static,
    ) -> Self {
        Self {
            calls: Arc::new(AtomicUsize::new(0)),
            per_id: Arc::new(Mutex::new(HashMap::new())),
            behaviour: Arc::new(behaviour),
        }
    }

    /// Only these ids are tenants (at version 1), answered at once.
    fn known(ids: &'static [&'static str]) -> Self {
        Self::new(move |id| {
            Box::pin(async move { Ok(ids.contains(&id.as_str()).then(|| tenant(&id, 1))) })
        })
    }

    /// Every id is a tenant at version 1, answered at once.
    fn everyone() -> Self {
        Self::new(|id| Box::pin(async move { Ok(Some(tenant(&id, 1))) }))
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn calls_for(&self, id: &str) -> usize {
        self.per_id
            .lock()
            .expect("calls")
            .get(id)
            .copied()
            .unwrap_or(0)
    }
}

#[async_trait]
impl TenantSource for Source {
    async fn tenant(&self, id: &str) -> Result<Option<Tenant>, TenantError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        *self
            .per_id
            .lock()
            .expect("calls")
            .entry(id.to_owned())
            .or_default() += 1;
        (self.behaviour)(id.to_owned()).await
    }
}

fn service(source: Source, entries: usize, ttl: Duration, timeout: Duration) -> TokenService {
    TokenService::without_resolver(platform())
        .tenants(source)
        .tenant_cache(entries, ttl)
        .tenant_timeout(timeout)
        .build()
        .expect("service")
}

/// The app's login says who the caller is: `resolved`.
async fn ask(service: &TokenService, resolved: Resolved) -> HttpReply {
    service
        .answer(&IncomingRequest::new("GET", "/token"), async move {
            Ok(resolved)
        })
        .await
}

fn as_user_of(tenant: &str) -> Resolved {
    Resolved::new("someone").with_tenant(tenant)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// The reply's JWT.
fn jwt_of(reply: &HttpReply) -> String {
    let body: Value = serde_json::from_str(&reply.body).expect("json body");
    body["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {} {}", reply.status, reply.body))
        .to_owned()
}

/// Whether `reply` is a 200 whose token is tenant `id`'s at key `version`: signed with
/// that secret, naming that key, account and chat service.
fn is_token_of(reply: &HttpReply, id: &str, version: usize) -> bool {
    if reply.status != 200 {
        return false;
    }
    let jwt = jwt_of(reply);
    let secret = SecretString::from(secret_of(id, version));
    let Ok(inspection) = inspect(&jwt, Some(&secret), now()) else {
        return false;
    };
    let claims = inspection.claims();
    inspection.signature() == SignatureCheck::Valid
        && claims["sub"] == account_of(id).as_str()
        && claims["iss"] == key_of(id, version).as_str()
        && claims["grants"]["chat"]["service_sid"] == service_of(id).as_str()
}

/// The claims of the reply's token, unchecked.
fn claims_of(reply: &HttpReply) -> serde_json::Map<String, Value> {
    inspect(&jwt_of(reply), None, now())
        .expect("a JWT")
        .claims()
        .clone()
}

fn assert_refused(reply: &HttpReply, status: u16, why: &str) {
    assert_eq!(reply.status, status, "{why}: {}", reply.body);
    assert!(!reply.body.contains("\"token\""), "{why}: {}", reply.body);
}

/// Log lines written while a test runs (this thread's subscriber).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs")).into_owned()
    }

    fn dispatch(&self) -> tracing::Dispatch {
        let logs = self.clone();
        tracing::Dispatch::new(
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_ansi(false)
                .with_writer(move || logs.clone())
                .finish(),
        )
    }
}

// ---------------------------------------------------------------------------------------
// Who names the tenant: nothing the client sends
// ---------------------------------------------------------------------------------------

const ALICE_TOKEN: &str = "tok-alice-0123456789abcdef";
const NOBODY_TOKEN: &str = "tok-nobody-0123456789abcde";

/// Finding probed: a users-file user of tenant acme gets a token of globex (or of the
/// platform) by naming another tenant in a header, the query, a cookie, or a second
/// Authorization header.
#[tokio::test]
async fn a_users_entry_user_cannot_pick_another_tenant_with_headers_query_or_cookies() {
    let users: StaticUsers = format!("{ALICE_TOKEN}=alice;tenant=acme\n{NOBODY_TOKEN}=nobody")
        .parse()
        .expect("users");
    let service = TokenService::builder(platform(), users)
        .tenants(Source::known(&["acme", "globex"]))
        .build()
        .expect("service");
    let bearer = |t: &str| format!("Bearer {t}");
    let forged = |req: IncomingRequest| {
        req.with_query("tenant=globex&org_id=globex")
            .with_header("x-tenant", "globex")
            .with_header("x-org", "globex")
            .with_header("x-org-id", "globex")
            .with_header("cookie", "tenant=globex; org_id=globex")
    };
    let alice = forged(
        IncomingRequest::new("GET", "/token").with_header("authorization", bearer(ALICE_TOKEN)),
    );
    let reply = service.handle(&alice).await;
    assert!(
        is_token_of(&reply, "acme", 1),
        "alice must get acme's token whatever she sends: {} {}",
        reply.status,
        reply.body
    );
    let nobody = forged(
        IncomingRequest::new("GET", "/token").with_header("authorization", bearer(NOBODY_TOKEN)),
    );
    assert_refused(
        &service.handle(&nobody).await,
        403,
        "a user of no tenant naming one herself",
    );
    let both = IncomingRequest::new("POST", "/token")
        .with_header("authorization", bearer(NOBODY_TOKEN))
        .with_header("authorization", bearer(ALICE_TOKEN));
    let reply = service.handle(&both).await;
    assert!(
        reply.status != 200 || is_token_of(&reply, "acme", 1),
        "two Authorization headers: {} {}",
        reply.status,
        reply.body
    );
    assert!(
        !reply.body.contains("globex"),
        "no other tenant: {}",
        reply.body
    );
}

/// Finding probed: a client that can reach the server directly (not through the proxy),
/// or that adds its own tenant header next to the proxy's, names its tenant.
#[tokio::test]
async fn the_tenant_header_is_believed_only_once_and_only_from_the_proxy() {
    let proxy: IpNet = "10.0.0.0/8".parse().expect("network");
    let resolver = TrustedHeader::try_new("X-User", [proxy])
        .expect("trusted header")
        .with_tenant_header("X-Org")
        .expect("tenant header");
    let service = TokenService::builder(platform(), resolver)
        .tenants(Source::known(&["acme", "globex"]))
        .build()
        .expect("service");
    let from = |peer: &str| {
        IncomingRequest::new("GET", "/token")
            .with_peer(peer.parse().expect("peer"))
            .with_header("x-user", "mallory")
    };
    // Straight to the server, past the proxy: refused whatever it says.
    let direct = from("192.0.2.7:5000").with_header("x-org", "globex");
    assert_refused(&service.handle(&direct).await, 401, "not from the proxy");
    // The proxy set acme; the client added globex: refused, not either of them.
    let twice = from("10.1.2.3:5000")
        .with_header("x-org", "acme")
        .with_header("x-org", "globex");
    let reply = service.handle(&twice).await;
    assert!(
        reply.status >= 400,
        "a repeated tenant header must be refused: {} {}",
        reply.status,
        reply.body
    );
    // One header, two values folded into it: no tenant is called that.
    let folded = from("10.1.2.3:5000").with_header("x-org", "acme, globex");
    assert_refused(&service.handle(&folded).await, 403, "a folded list");
    // The proxy's one header: that tenant.
    let reply = service
        .handle(&from("10.1.2.3:5000").with_header("x-org", "acme"))
        .await;
    assert!(is_token_of(&reply, "acme", 1), "{}", reply.body);
    // Header-value tricks: an id with a control character, or too long, is no tenant.
    for odd in [
        "acme\u{7f}".to_owned(),
        "a".repeat(MAX_TENANT_ID_LEN + 1),
        "acme\tglobex".to_owned(),
    ] {
        let reply = service
            .handle(&from("10.1.2.3:5000").with_header("x-org", odd.as_bytes()))
            .await;
        assert!(
            matches!(reply.status, 400 | 401 | 403),
            "{odd:?}: {} {}",
            reply.status,
            reply.body
        );
    }
}

const IDP_SECRET: &str = "idp-shared-secret-of-at-least-32-bytes!";

fn hs256(claims: &Value) -> String {
    // In a workspace build both of jsonwebtoken's backends are on: pick one first.
    chat_token_core::crypto::ensure_jsonwebtoken_provider();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(IDP_SECRET.as_bytes()),
    )
    .expect("sign")
}

/// Finding probed: a bearer JWT whose `org_id` claim is an array, an object, a boolean,
/// a number in exponent form, null, empty, padded, differently cased, with a control
/// character or too long names a tenant anyway (the first of an array, a trimmed or
/// lower-cased one), or an X-Org header next to the JWT does.
#[tokio::test]
async fn odd_tenant_claim_types_name_no_tenant_but_their_own() {
    let resolver = JwtBearerResolver::hs256(SecretString::from(IDP_SECRET))
        .issuer("https://idp.example/")
        .audience("chat")
        .tenant_claim("org_id")
        .build()
        .expect("resolver");
    // Only these are tenants: a claim read as any of them gets a token.
    let source = Source::known(&["acme", "globex", "7"]);
    let service = TokenService::builder(platform(), resolver)
        .tenants(source.clone())
        .build()
        .expect("service");
    let with_org = |org: Option<Value>| {
        let mut claims = json!({
            "iss": "https://idp.example/", "aud": "chat", "sub": "mallory",
            "exp": now() + 300,
        });
        if let Some(org) = org {
            claims["org_id"] = org;
        }
        IncomingRequest::new("GET", "/token")
            .with_header("authorization", format!("Bearer {}", hs256(&claims)))
            .with_header("x-org", "globex")
    };
    let refused = [
        json!(["globex", "acme"]),
        json!({"id": "globex"}),
        json!(true),
        json!(1e3),
        json!(null),
        json!(""),
        json!(" acme"),
        json!("ACME"),
        json!("acme\u{0}"),
        json!("a".repeat(MAX_TENANT_ID_LEN + 1)),
        json!("x".repeat(1024)),
    ];
    for org in refused {
        let reply = service.handle(&with_org(Some(org.clone()))).await;
        assert_refused(&reply, 403, &format!("org_id {org}"));
    }
    assert_refused(
        &service.handle(&with_org(None)).await,
        403,
        "no org_id, but an X-Org header",
    );
    assert!(
        source.calls_for("") == 0
            && source.calls_for(&"a".repeat(MAX_TENANT_ID_LEN + 1)) == 0
            && source.calls_for(&"x".repeat(1024)) == 0,
        "ids no tenant can have must not reach the source"
    );
    // An integer claim names the tenant of that number, and only it.
    let reply = service.handle(&with_org(Some(json!(7)))).await;
    assert!(is_token_of(&reply, "7", 1), "{}", reply.body);
    let reply = service.handle(&with_org(Some(json!("acme")))).await;
    assert!(is_token_of(&reply, "acme", 1), "{}", reply.body);
}

/// Finding probed: a user without a tenant, of an unknown tenant, or of a tenant whose
/// configuration is unusable, is given a token of the platform's own account instead.
#[tokio::test]
async fn no_tenant_or_a_bad_one_never_falls_back_to_the_platform_account() {
    let source = Source::new(|id| {
        Box::pin(async move {
            match id.as_str() {
                "unknown" => Ok(None),
                "broken" => Err(TenantError::Malformed("bad SID".into())),
                "bare" => Ok(Some(Tenant::new(TokenIssuer::new(
                    Credentials::try_new(account_of(&id), key_of(&id, 1), secret_of(&id, 1))
                        .expect("credentials"),
                )))),
                "empty-grants" => Ok(Some(tenant(&id, 1).with_grants([]))),
                _ => Ok(Some(tenant(&id, 1))),
            }
        })
    });
    let service = service(
        source,
        100,
        Duration::from_secs(300),
        Duration::from_secs(5),
    );
    let cases: [(Resolved, u16); 6] = [
        (Resolved::new("a"), 403),
        (Resolved::new("a").with_tenant(""), 403),
        (as_user_of("unknown"), 403),
        (as_user_of("broken"), 500),
        (as_user_of("bare"), 500),
        (as_user_of("empty-grants"), 500),
    ];
    for (resolved, status) in cases {
        let what = format!("{:?}", resolved.tenant());
        let reply = ask(&service, resolved).await;
        assert_refused(&reply, status, &what);
    }
    // Resolver-chosen grants with a tenant: signed by the tenant, never the platform.
    let reply = ask(
        &service,
        as_user_of("acme").with_grants([chat_token_core::VideoGrant::new().into()]),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(claims_of(&reply)["sub"], account_of("acme").as_str());
}

// ---------------------------------------------------------------------------------------
// The cache: isolation, poisoning, rotation races
// ---------------------------------------------------------------------------------------

/// Finding probed: under concurrency and constant eviction (a cache of 2 entries, 24
/// tenants, fetches of varying length), a request for tenant X is answered with the
/// issuer of tenant Y.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_under_eviction_each_get_their_own_tenant() {
    let turn = Arc::new(AtomicUsize::new(0));
    let source = Source::new(move |id| {
        let n = turn.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis((n % 7) as u64 * 3)).await;
            if id.ends_with("-unknown") {
                return Ok(None);
            }
            Ok(Some(tenant(&id, 1)))
        })
    });
    let service = service(
        source.clone(),
        2,
        Duration::from_secs(300),
        Duration::from_secs(5),
    );
    let tasks: Vec<_> = (0..600)
        .map(|i| {
            let service = service.clone();
            tokio::spawn(async move {
                let id = if i % 5 == 4 {
                    format!("t{}-unknown", i % 24)
                } else {
                    format!("t{}", i % 24)
                };
                let reply = ask(&service, as_user_of(&id)).await;
                (id, reply)
            })
        })
        .collect();
    for task in tasks {
        let (id, reply) = task.await.expect("task");
        if id.ends_with("-unknown") {
            assert_refused(&reply, 403, &id);
        } else {
            assert!(
                is_token_of(&reply, &id, 1),
                "{id} got another tenant's token: {} {}",
                reply.status,
                reply.body
            );
        }
        assert!(service.tenant_cache().expect("cache").len() <= 2);
    }
}

/// Finding probed: a hanging or failing fetch for tenant X holds up, or is answered to,
/// the users of tenant Y; a failure of X is remembered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_or_failing_tenant_does_not_hold_up_or_spoil_another() {
    let x_down = Arc::new(AtomicBool::new(true));
    let down = x_down.clone();
    let source = Source::new(move |id| {
        let down = down.load(Ordering::SeqCst);
        Box::pin(async move {
            match (id.as_str(), down) {
                ("x-hangs", _) => std::future::pending().await,
                ("x-fails", true) => Err(TenantError::Unavailable("database down".into())),
                _ => Ok(Some(tenant(&id, 1))),
            }
        })
    });
    let timeout = Duration::from_millis(800);
    let service = service(source.clone(), 10, Duration::from_secs(300), timeout);
    let hanging = {
        let service = service.clone();
        tokio::spawn(async move { ask(&service, as_user_of("x-hangs")).await })
    };
    let failing = {
        let service = service.clone();
        tokio::spawn(async move { ask(&service, as_user_of("x-fails")).await })
    };
    while source.calls_for("x-hangs") == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let y = ask(&service, as_user_of("y")).await;
    assert!(is_token_of(&y, "y", 1), "{}", y.body);
    assert!(
        !hanging.is_finished(),
        "y was answered while x's fetch still hangs: it did not wait for x"
    );
    let x = hanging.await.expect("x");
    assert_refused(&x, 503, "x hangs");
    assert!(x.header("retry-after").is_some());
    assert_refused(&failing.await.expect("x"), 503, "x fails");
    // x's failure is not remembered: once the source is back, x is served.
    x_down.store(false, Ordering::SeqCst);
    let reply = ask(&service, as_user_of("x-fails")).await;
    assert!(is_token_of(&reply, "x-fails", 1), "{}", reply.body);
    assert!(is_token_of(&ask(&service, as_user_of("y")).await, "y", 1));
}

/// Finding probed: a key rotation (the source now says version 2, then `forget` or
/// `forget_all`) during a slow fetch that read version 1 is undone: the old fetch
/// lands in the cache after the rotation and later requests are signed with the
/// withdrawn secret. Also with the entry expiring during the fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_racing_an_in_flight_fetch_is_not_undone() {
    for how in ["forget", "forget_all", "expiry"] {
        let version = Arc::new(AtomicUsize::new(1));
        let gate = Arc::new(tokio::sync::Notify::new());
        let (v, g) = (version.clone(), gate.clone());
        let source = Source::new(move |id| {
            let read = v.load(Ordering::SeqCst);
            let gate = g.clone();
            Box::pin(async move {
                if read == 1 {
                    // The old configuration, read before the rotation, lands late.
                    gate.notified().await;
                }
                Ok(Some(tenant(&id, read)))
            })
        });
        let ttl = if how == "expiry" {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(300)
        };
        let service = service(source.clone(), 10, ttl, Duration::from_secs(10));
        let first = {
            let service = service.clone();
            tokio::spawn(async move { ask(&service, as_user_of("acme")).await })
        };
        while source.calls() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        version.store(2, Ordering::SeqCst);
        let cache = service.tenant_cache().expect("cache");
        match how {
            "forget" => cache.forget("acme"),
            "forget_all" => cache.forget_all(),
            _ => tokio::time::sleep(ttl + Duration::from_millis(50)).await,
        }
        // A request after the rotation: the new key.
        let after = ask(&service, as_user_of("acme")).await;
        assert!(is_token_of(&after, "acme", 2), "{how}: {}", after.body);
        // The old fetch completes now; its waiter may get the old key (it asked first)...
        gate.notify_waiters();
        let old = first.await.expect("first");
        assert!(
            is_token_of(&old, "acme", 1) || is_token_of(&old, "acme", 2),
            "{how}"
        );
        // ... but it must not be what later requests get.
        for _ in 0..5 {
            let later = ask(&service, as_user_of("acme")).await;
            assert!(
                is_token_of(&later, "acme", 2),
                "{how}: the withdrawn key came back after the rotation: {:?}",
                claims_of(&later).get("iss")
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Exhaustion: floods, huge ids, hanging and panicking sources
// ---------------------------------------------------------------------------------------

/// Finding probed: a scan of unique tenant ids (known, unknown, failing) grows the cache
/// past its bound; huge or invalid ids reach the source or take a place in it.
#[tokio::test]
async fn a_scan_of_unique_tenant_ids_stays_within_the_bound() {
    let source = Source::new(|id| {
        Box::pin(async move {
            match id.as_bytes()[0] {
                b'u' => Ok(None),
                b'm' => Err(TenantError::Malformed("bad".into())),
                b'd' => Err(TenantError::Unavailable("down".into())),
                _ => Ok(Some(tenant(&id, 1))),
            }
        })
    });
    let service = service(
        source.clone(),
        50,
        Duration::from_secs(300),
        Duration::from_secs(5),
    );
    let cache = service.tenant_cache().expect("cache");
    for i in 0..3_000 {
        let id = format!("{}{i:0>250}", ["k", "u", "m", "d"][i % 4]);
        let _ = ask(&service, as_user_of(&id)).await;
        assert!(cache.len() <= 50, "{} entries after {i}", cache.len());
    }
    let before = source.calls();
    let huge = "h".repeat(1024 * 1024);
    for id in [
        huge.as_str(),
        &"h".repeat(MAX_TENANT_ID_LEN + 1),
        "",
        "a\nb",
        "a\u{0}",
    ] {
        assert_refused(&ask(&service, as_user_of(id)).await, 403, "invalid id");
    }
    assert_eq!(source.calls(), before, "invalid ids reached the source");
    assert!(cache.len() <= 50);
    // The longest valid id still works.
    let longest = "k".repeat(MAX_TENANT_ID_LEN);
    assert!(is_token_of(
        &ask(&service, as_user_of(&longest)).await,
        &longest,
        1
    ));
}

/// Finding probed: a source that never answers, hit by many requests at once, holds
/// them past the timeout (one after another), or is asked once per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_source_answers_every_concurrent_request_503_within_the_timeout() {
    let source = Source::new(|_| Box::pin(std::future::pending()));
    let timeout = Duration::from_millis(300);
    let service = service(source.clone(), 100, Duration::from_secs(300), timeout);
    let started = Instant::now();
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move { ask(&service, as_user_of("acme")).await })
        })
        .collect();
    for task in tasks {
        let reply = task.await.expect("task");
        assert_refused(&reply, 503, "a hanging source");
        assert!(reply.header("retry-after").is_some());
    }
    let took = started.elapsed();
    assert!(
        took < timeout * 10,
        "200 requests on a hanging source took {took:?} (timeout {timeout:?})"
    );
    assert!(
        source.calls() <= 5,
        "one fetch for the burst, not one per request: {}",
        source.calls()
    );
    assert!(service.tenant_cache().expect("cache").is_empty());
}

/// FINDING (low): a panicking source is not single-flight. Tokio's `OnceCell` releases
/// the initialisation to the next waiter when the initialiser panics, so N requests
/// waiting on one tenant whose source panics after a delay run the source N times, one
/// after another: the last waits N fetches, far beyond the timeout, and the source is
/// hit once per request (a malformed tenant is remembered; a panicking one is not).
/// Safe: the panic is shared by the waiters of that fetch (500 for all of them at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_source_does_not_make_waiters_queue_behind_each_other() {
    let source = Source::new(|_| {
        Box::pin(async {
            tokio::time::sleep(Duration::from_millis(250)).await;
            panic!("the tenant source has a bug");
        })
    });
    let timeout = Duration::from_millis(500);
    let service = service(source.clone(), 100, Duration::from_secs(300), timeout);
    let started = Instant::now();
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move { ask(&service, as_user_of("acme")).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task").status);
    }
    let took = started.elapsed();
    assert!(statuses.iter().all(|s| *s == 500), "{statuses:?}");
    assert!(
        took < timeout * 10,
        "40 concurrent requests on a panicking source took {took:?} (timeout {timeout:?}); the source ran {} times, one after another",
        source.calls()
    );
}

/// FINDING (low): the timeout bounds one fetch, not one request's wait. When the request
/// running the fetch is dropped (its client disconnects), the next waiter starts the
/// fetch again with a fresh timeout; a user of the same tenant who keeps opening
/// requests and dropping them just before the timeout keeps the others waiting for a
/// multiple of it while the source hangs. Safe: a waiter is answered within about the
/// timeout of the fetch it joined (e.g. the fetch keeps running, or the deadline is the
/// first one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_request_does_not_extend_the_wait_of_the_others() {
    let source = Source::new(|_| Box::pin(std::future::pending()));
    let timeout = Duration::from_millis(400);
    let service = service(source.clone(), 100, Duration::from_secs(300), timeout);
    // The attacker's requests queue first, one after another (the wait is first come,
    // first served) ...
    let mut attackers = Vec::new();
    for _ in 0..25 {
        let service = service.clone();
        attackers.push(tokio::spawn(async move {
            ask(&service, as_user_of("acme")).await
        }));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // ... then a legitimate user of the same tenant.
    let started = Instant::now();
    let user = {
        let service = service.clone();
        tokio::spawn(async move { ask(&service, as_user_of("acme")).await })
    };
    // Each time one of the attacker's requests starts the fetch, the attacker drops it
    // half a timeout later (its client disconnects).
    for (i, attacker) in attackers.into_iter().enumerate() {
        let waiting = Instant::now();
        while source.calls() <= i && !user.is_finished() && waiting.elapsed() < timeout * 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if user.is_finished() || source.calls() <= i {
            break;
        }
        tokio::time::sleep(timeout / 2).await;
        attacker.abort();
    }
    let deadline = timeout * 10;
    let reply = tokio::time::timeout(deadline.saturating_sub(started.elapsed()), user).await;
    let took = started.elapsed();
    let fetches = source.calls();
    match reply {
        Ok(reply) => assert_refused(&reply.expect("user"), 503, "a hanging source"),
        Err(_) => panic!(
            "the user was not answered within {deadline:?} (timeout {timeout:?}): {fetches} fetches were started one after another as the attacker dropped requests"
        ),
    }
    assert!(
        took < deadline,
        "the user waited {took:?} with a timeout of {timeout:?}: {fetches} fetches were started as the attacker dropped requests"
    );
}

/// Finding checked: with `tenant_cache(entries, Duration::ZERO)` (or a ttl shorter than
/// a fetch), single flight was lost: an entry's age counted from when its fetch *started*,
/// so each concurrent request found it expired and ran a fetch of its own. Safe: a zero
/// lifetime is refused when the service is built, and a burst joins the fetch in flight
/// (begun less than a lifetime ago); an answer's age counts from when it arrived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_cache_ttl_still_fetches_once_per_burst() {
    let zero = TokenService::without_resolver(platform())
        .tenants(Source::new(|id| {
            Box::pin(async move { Ok(Some(tenant(&id, 1))) })
        }))
        .tenant_cache(100, Duration::ZERO)
        .build();
    assert!(
        matches!(zero, Err(chat_token_core::BuildError::ZeroTenantTtl)),
        "a zero tenant lifetime must be refused"
    );
    let source = Source::new(|id| {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok(Some(tenant(&id, 1)))
        })
    });
    let service = service(
        source.clone(),
        100,
        Duration::from_millis(100),
        Duration::from_secs(5),
    );
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move { ask(&service, as_user_of("acme")).await })
        })
        .collect();
    for task in tasks {
        assert!(is_token_of(&task.await.expect("task"), "acme", 1));
    }
    assert!(
        source.calls() <= 5,
        "a burst of 50 requests ran {} fetches",
        source.calls()
    );
}

// ---------------------------------------------------------------------------------------
// Configuration values, logs, secrets
// ---------------------------------------------------------------------------------------

/// Finding probed: a tenant ttl of 0 or 10^12 (or a resolver's ttl of 10^12) gives a
/// token that expires at once or lives for millennia instead of a 500.
#[tokio::test]
async fn tenant_ttls_out_of_range_are_refused() {
    let source = Source::new(|id| {
        Box::pin(async move {
            let ttl = match id.as_str() {
                "zero" => 0,
                "huge" => 1_000_000_000_000,
                "max" => u64::MAX,
                _ => 600,
            };
            Ok(Some(tenant(&id, 1).with_ttl(ttl)))
        })
    });
    let service = service(source, 10, Duration::from_secs(300), Duration::from_secs(5));
    for id in ["zero", "huge", "max"] {
        assert_refused(&ask(&service, as_user_of(id)).await, 500, id);
    }
    let reply = ask(&service, as_user_of("fine")).await;
    let claims = claims_of(&reply);
    assert_eq!(
        claims["exp"].as_u64().expect("exp") - claims["nbf"].as_u64().unwrap_or(now()),
        600
    );
    let reply = ask(&service, as_user_of("fine").with_ttl(1_000_000_000_000)).await;
    assert_refused(&reply, 500, "a resolver's ttl of 10^12 with a tenant");
}

/// Finding probed: a tenant whose configuration is malformed, or who has no chat service,
/// is logged once per request (a log flood) rather than once per fetch; the source's
/// outage reason reaches the client.
#[test]
fn a_malformed_tenant_is_logged_once_per_fetch_and_reasons_stay_out_of_replies() {
    let logs = Logs::default();
    let _guard = tracing::dispatcher::set_default(&logs.dispatch());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let source = Source::new(|id| {
            Box::pin(async move {
                match id.as_str() {
                    "broken" => Err(TenantError::Malformed("account SID is not AC...".into())),
                    "down" => Err(TenantError::Unavailable(
                        "db at 10.0.0.5 refused user admin".into(),
                    )),
                    _ => Ok(Some(Tenant::new(TokenIssuer::new(
                        Credentials::try_new(account_of(&id), key_of(&id, 1), secret_of(&id, 1))
                            .expect("credentials"),
                    )))),
                }
            })
        });
        let service = service(
            source.clone(),
            10,
            Duration::from_secs(300),
            Duration::from_secs(5),
        );
        for _ in 0..100 {
            assert_refused(&ask(&service, as_user_of("broken")).await, 500, "broken");
            assert_refused(&ask(&service, as_user_of("nochat")).await, 500, "nochat");
        }
        assert_eq!(source.calls_for("broken"), 1, "malformed is remembered");
        assert_eq!(source.calls_for("nochat"), 1, "malformed is remembered");
        let reply = ask(&service, as_user_of("down")).await;
        assert_refused(&reply, 503, "down");
        assert!(
            !reply.body.contains("10.0.0.5") && !reply.body.contains("admin"),
            "the source's reason reached the client: {}",
            reply.body
        );
    });
    let text = logs.text();
    let broken = text
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("broken"))
        .count();
    let nochat = text
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("nochat"))
        .count();
    assert_eq!(
        (broken, nochat),
        (1, 1),
        "logged once per fetch, not per request:\n{text}"
    );
    assert!(
        !text.contains("never-shown"),
        "a secret was logged:\n{text}"
    );
}

/// Finding probed: `Debug` of a tenant, the cache, the service, a tenant error, or a
/// reply shows a tenant's API key secret.
#[tokio::test]
async fn debug_output_and_replies_show_no_tenant_secret() {
    let t = tenant("acme", 1);
    let secret = secret_of("acme", 1);
    let texts = [
        format!("{t:?}"),
        format!("{t:#?}"),
        format!("{:?}", t.issuer()),
        format!("{:?}", t.issuer().credentials()),
    ];
    for text in &texts {
        assert!(!text.contains(&secret), "{text}");
    }
    let service = service(
        Source::everyone(),
        10,
        Duration::from_secs(300),
        Duration::from_secs(5),
    );
    let reply = ask(&service, as_user_of("acme")).await;
    assert!(is_token_of(&reply, "acme", 1));
    for text in [
        format!("{service:?}"),
        format!("{:?}", service.tenant_cache()),
        format!("{reply:?}"),
        format!("{:?}", TenantError::Malformed("bad".into())),
    ] {
        assert!(!text.contains(&secret), "{text}");
        assert!(!text.contains(PLATFORM_SECRET), "{text}");
    }
}

/// FINDING (info): tenant ids may hold invisible format characters (zero-width space,
/// bidi overrides) that identities may not: `acme\u{200B}` and `acme\u{202E}` pass
/// `valid_tenant_id`, so a tenants file or a source can hold a tenant that looks like
/// another one, and logs name a tenant that reads as a different one. Safe: refused like
/// in identities (the tenants file says "not printable" for ids failing this check).
#[test]
fn tenant_ids_with_invisible_format_characters_are_not_valid() {
    for lookalike in [
        "acme\u{200B}",
        "\u{FEFF}acme",
        "ac\u{202E}em",
        "acme\u{2060}",
        "acme\u{00AD}",
    ] {
        assert!(
            !valid_tenant_id(lookalike),
            "{lookalike:?} passes as a tenant id"
        );
    }
    assert!(valid_tenant_id("acme"));
    assert!(valid_tenant_id("société-générale"));
}

/// FINDING (low): a users entry naming two tenants, `token=alice;tenant=acme;tenant=globex`
/// (an edit gone wrong), is accepted: the identity becomes `alice;tenant=acme` and the
/// tenant globex, so alice is silently moved to globex under a mangled identity. Safe:
/// the entry is refused like other malformed entries.
#[test]
fn a_users_entry_naming_two_tenants_is_refused() {
    let entry = format!("{ALICE_TOKEN}=alice;tenant=acme;tenant=globex");
    match entry.parse::<StaticUsers>() {
        Err(_) => {}
        Ok(users) => {
            let identity = users.lookup(ALICE_TOKEN).unwrap_or_default().to_owned();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime");
            let resolved = runtime
                .block_on(
                    users.resolve(
                        &IncomingRequest::new("GET", "/token")
                            .with_header("authorization", format!("Bearer {ALICE_TOKEN}")),
                    ),
                )
                .expect("resolved");
            panic!(
                "accepted: identity {identity:?}, tenant {:?}",
                resolved.tenant()
            );
        }
    }
}

/// Finding probed: `forget` of an id never cached (or a huge one) and `forget_all`
/// corrupt the cache's bookkeeping (its length, its order of eviction).
#[tokio::test]
async fn forget_of_unknown_ids_and_forget_all_leave_a_usable_cache() {
    let source = Source::everyone();
    let service = service(
        source.clone(),
        3,
        Duration::from_secs(300),
        Duration::from_secs(5),
    );
    let cache = service.tenant_cache().expect("cache");
    for id in ["a", "b", "c", "d"] {
        assert!(is_token_of(&ask(&service, as_user_of(id)).await, id, 1));
    }
    assert_eq!(cache.len(), 3);
    cache.forget("never-seen");
    cache.forget(&"x".repeat(1 << 20));
    assert_eq!(cache.len(), 3);
    cache.forget("d");
    assert_eq!(cache.len(), 2);
    cache.forget_all();
    assert!(cache.is_empty());
    assert!(is_token_of(&ask(&service, as_user_of("a")).await, "a", 1));
    for id in ["b", "c", "d", "e"] {
        assert!(is_token_of(&ask(&service, as_user_of(id)).await, id, 1));
        assert!(cache.len() <= 3);
    }
    assert!(format!("{cache:?}").contains("cached: 3"), "{cache:?}");
}
