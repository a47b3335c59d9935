//! Many Twilio accounts behind one service: each user's token is signed with the account
//! of the user's tenant (the customer organisation) as an in-memory source
//! ([`FakeTenants`]) stores it, and nothing in a request chooses another tenant's.
//!
//! The cases stand in the `cases!` block at the end, which is also the list
//! [`suite!`](crate::suite!) runs them by (in its `tenants` submodule): a table of the
//! ways alice (of acme) might ask for globex's token, then the cases written out.

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chat_token_core::TokenService;
use chat_token_core::policy::UserPolicy;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::cases::assert_error;
use crate::fixtures::{
    ACME, ACME_ROTATED, ALICE_ACME, ALL_SECRETS, Account, BOB_GLOBEX, CAROL_INITECH,
    DAVE_NO_TENANT, ERIN_UMBRELLA, FakeTenants, GLOBEX, Mode, UMBRELLA_BROKEN, tenant_service,
    tenant_service_with,
};
use crate::harness::{Harness, Server};
use crate::http::{Response, get, send_raw};
use crate::logs;

/// How long the source may take in the cases that do not test its timeout: far longer
/// than any answer needs.
const GENEROUS: Duration = Duration::from_secs(10);

/// How long a waiting loop may go on before the case gives up.
const DEADLINE: Duration = Duration::from_secs(30);

/// Starts `H`'s app with a tenant service over `tenants`, whose source may take
/// `timeout`; returns the server and a clone of the service (it shares the tenant cache).
fn start<H: Harness>(tenants: &FakeTenants, timeout: Duration) -> (Server, TokenService) {
    logs::install();
    let service = tenant_service(tenants, timeout);
    (H::start(service.clone()), service)
}

/// Verifies `jwt` with jsonwebtoken (HS256) and `secret`, whatever its issuer; its claims.
fn verify(jwt: &str, secret: &str) -> jsonwebtoken::errors::Result<Value> {
    chat_token_core::crypto::ensure_jsonwebtoken_provider();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "sub"]);
    jsonwebtoken::decode::<Value>(
        jwt,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map(|data| data.claims)
}

/// A 200 with a token for `identity` of `account`'s tenant: `iss`, `sub` and the chat
/// service are the account's, and it verifies with the account's secret and with no
/// other secret the cases know (the other tenants', the service's own issuer's). Its
/// claims.
fn assert_tenant_token(r: &Response, identity: &str, account: &Account) -> Value {
    assert_eq!(r.status, 200, "{identity}: {}", r.body);
    let body = r.json();
    assert_eq!(body["identity"], identity, "{}", r.body);
    let jwt = body["token"].as_str().expect("token");
    let claims = verify(jwt, account.secret).unwrap_or_else(|e| {
        panic!("{identity}'s token does not verify with its tenant's secret: {e}")
    });
    assert_eq!(claims["iss"], account.api_key_sid, "{identity}: {claims}");
    assert_eq!(claims["sub"], account.account_sid, "{identity}: {claims}");
    assert_eq!(claims["grants"]["identity"], identity, "{claims}");
    assert_eq!(
        claims["grants"]["chat"]["service_sid"], account.chat_service_sid,
        "{identity}: {claims}"
    );
    for secret in ALL_SECRETS.into_iter().filter(|s| *s != account.secret) {
        match verify(jwt, secret) {
            Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {}
            other => panic!("{identity}'s token checked with another secret: {other:?}"),
        }
    }
    claims
}

/// A 503 `unavailable` with a `Retry-After` of whole seconds; the source's reason is not
/// in it.
fn assert_unavailable(r: &Response) {
    assert_error(r, 503, "unavailable");
    let retry = r.header("retry-after").and_then(|v| v.parse::<u64>().ok());
    assert!(retry.is_some_and(|s| s >= 1), "{:?}", r.headers);
    assert!(!r.all_text().contains("tenants database"), "{}", r.body);
}

/// Waits until `ready` holds (or gives up after [`DEADLINE`]).
fn wait_for(what: &str, ready: impl Fn() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < DEADLINE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What an attempt by alice to get globex's token must get.
#[derive(Debug, Clone, Copy)]
pub enum Smuggled {
    /// Alice's own token, signed for acme: the extra input was ignored.
    OwnToken,
    /// 401 `invalid_credentials`: the credentials themselves are malformed.
    Refused,
    /// 404: not the token route.
    NotFound,
}

/// A request sent with `Authorization: <authorization>` and the `extra` header lines
/// (`Host: localhost` unless one of them is a `Host`); POST when there is a body.
pub fn with_auth(authorization: &str, target: &str, extra: &[&str], body: &str) -> Vec<u8> {
    let method = if body.is_empty() { "GET" } else { "POST" };
    let mut out = format!("{method} {target} HTTP/1.1\r\nConnection: close\r\n");
    if !extra
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("host:"))
    {
        out.push_str("Host: localhost\r\n");
    }
    out.push_str(&format!("Authorization: {authorization}\r\n"));
    for line in extra {
        out.push_str(line);
        out.push_str("\r\n");
    }
    if !body.is_empty() {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

/// A request with alice's bearer token and the `extra` header lines (see [`with_auth`]).
pub fn as_alice(target: &str, extra: &[&str], body: &str) -> Vec<u8> {
    with_auth(&format!("Bearer {ALICE_ACME}"), target, extra, body)
}

/// Sends alice's `request`, checks the answer against `expect`, and that nothing of
/// globex's account came back and the source was never asked about globex.
fn smuggle<H: Harness>(request: &[u8], expect: Smuggled) {
    let tenants = FakeTenants::new();
    let (server, _) = start::<H>(&tenants, GENEROUS);
    let r = send_raw(server.addr, request, false);
    let what = String::from_utf8_lossy(request).into_owned();
    let text = r.all_text();
    for globex in [
        GLOBEX.account_sid,
        GLOBEX.api_key_sid,
        GLOBEX.chat_service_sid,
    ] {
        assert!(!text.contains(globex), "{what:?}: {text}");
    }
    match expect {
        Smuggled::OwnToken => {
            assert_tenant_token(&r, "alice", &ACME);
        }
        Smuggled::Refused => {
            let body = assert_error(&r, 401, "invalid_credentials");
            assert!(body.get("token").is_none(), "{what:?}: {}", r.body);
        }
        Smuggled::NotFound => {
            assert_eq!(r.status, 404, "{what:?}: {}", r.body);
            assert!(!r.body.contains("token\""), "{what:?}: {}", r.body);
        }
    }
    assert_eq!(
        tenants.calls("globex"),
        0,
        "{what:?}: the source was asked for globex"
    );
}

cases! { tenants => __suite_tenants;
    table smuggle("Alice, of acme, cannot get globex's token by") {
        header_x_tenant: as_alice("/token", &["X-Tenant: globex"], "") => Smuggled::OwnToken;
        header_tenant_names: as_alice("/token", &["X-Tenant-Id: globex", "Tenant: globex", "X-Organization: globex", "X-Org-Id: globex", "X-Customer: globex"], "") => Smuggled::OwnToken;
        header_twilio_account: as_alice("/token", &[&format!("X-Twilio-Account: {}", GLOBEX.account_sid), &format!("X-Twilio-AccountSid: {}", GLOBEX.account_sid), &format!("X-Twilio-Api-Key: {}", GLOBEX.api_key_sid), &format!("X-Twilio-Chat-Service: {}", GLOBEX.chat_service_sid)], "") => Smuggled::OwnToken;
        header_forwarded: as_alice("/token", &["Forwarded: for=127.0.0.1;host=globex.example.test;proto=https", "X-Forwarded-Host: globex.example.test", "X-Forwarded-Tenant: globex", "X-Forwarded-User: bob"], "") => Smuggled::OwnToken;
        header_host_of_globex: as_alice("/token", &["Host: globex.example.test"], "") => Smuggled::OwnToken;
        absolute_target_of_globex: as_alice("http://globex.example.test/token", &[], "") => Smuggled::OwnToken;
        cookie_tenant: as_alice("/token", &[&format!("Cookie: tenant=globex; org=globex; account_sid={}", GLOBEX.account_sid)], "") => Smuggled::OwnToken;
        query_tenant: as_alice("/token?tenant=globex", &[], "") => Smuggled::OwnToken;
        query_account: as_alice(&format!("/token?tenant_id=globex&account_sid={}&AccountSid={}&service_sid={}", GLOBEX.account_sid, GLOBEX.account_sid, GLOBEX.chat_service_sid), &[], "") => Smuggled::OwnToken;
        query_repeated: as_alice("/token?tenant=acme&tenant=globex&tenant%5B%5D=globex", &[], "") => Smuggled::OwnToken;
        post_json_tenant: as_alice("/token", &["Content-Type: application/json"], &format!(r#"{{"tenant":"globex","account_sid":"{}","identity":"bob"}}"#, GLOBEX.account_sid)) => Smuggled::OwnToken;
        post_form_tenant: as_alice("/token", &["Content-Type: application/x-www-form-urlencoded"], "tenant=globex&identity=bob") => Smuggled::OwnToken;
        second_authorization_bob: as_alice("/token", &[&format!("Authorization: Bearer {BOB_GLOBEX}")], "") => Smuggled::Refused;
        second_authorization_tenant: as_alice("/token", &["Authorization: Tenant globex"], "") => Smuggled::Refused;
        token_with_tenant_suffix: with_auth(&format!("Bearer {ALICE_ACME};tenant=globex"), "/token", &[], "") => Smuggled::Refused;
        token_list_with_bob: with_auth(&format!("Bearer {ALICE_ACME}, Bearer {BOB_GLOBEX}"), "/token", &[], "") => Smuggled::Refused;
        path_tenant_segment: as_alice("/token/globex", &[], "") => Smuggled::NotFound;
    }

    /// Each user's token is signed with the account of the user's tenant: `iss`, `sub`
    /// and the chat service are the tenant's, and it verifies with the tenant's secret
    /// only (not the other tenant's, not the service's own issuer's).
    pub fn tokens_signed_by_each_tenant<H: Harness>() {
        let tenants = FakeTenants::new();
        let (server, _) = start::<H>(&tenants, GENEROUS);
        let alice = get(server.addr, "/token", Some(ALICE_ACME));
        assert_tenant_token(&alice, "alice", &ACME);
        let bob = get(server.addr, "/token", Some(BOB_GLOBEX));
        assert_tenant_token(&bob, "bob", &GLOBEX);
        for r in [&alice, &bob] {
            for secret in ALL_SECRETS {
                assert!(!r.all_text().contains(secret), "a secret in a response");
            }
        }
        let again = get(server.addr, "/token", Some(ALICE_ACME));
        assert_tenant_token(&again, "alice", &ACME);
        assert_eq!((tenants.calls("acme"), tenants.calls("globex")), (1, 1));
    }

    /// A tenant's own ttl caps the user policy's: a rule's longer ttl gives the tenant's
    /// (alice's 8 hours become acme's 10 minutes), a shorter one still wins (bob's 60 s
    /// under globex's hour).
    pub fn tenant_ttl_caps_policy_ttl<H: Harness>() {
        logs::install();
        let tenants = FakeTenants::new();
        tenants.set_ttl("acme", 600);
        tenants.set_ttl("globex", 3600);
        let policy = UserPolicy::from_json(
            r#"{"identities":{"alice":{"ttl":28800},"bob":{"ttl":60}}}"#,
        )
        .expect("policy");
        let server = H::start(tenant_service_with(&tenants, GENEROUS, Some(policy)));
        let alice = get(server.addr, "/token", Some(ALICE_ACME));
        let claims = assert_tenant_token(&alice, "alice", &ACME);
        assert_eq!(alice.json()["expires_in"], 600, "{}", alice.body);
        assert_eq!(claims["exp"].as_u64(), claims["nbf"].as_u64().map(|n| n + 600));
        let bob = get(server.addr, "/token", Some(BOB_GLOBEX));
        assert_tenant_token(&bob, "bob", &GLOBEX);
        assert_eq!(bob.json()["expires_in"], 60, "{}", bob.body);
    }

    /// A tenant the source does not know: 403 `forbidden`, saying the organisation has
    /// no Twilio configuration; the answer is remembered, and other tenants are served.
    pub fn unknown_tenant_forbidden<H: Harness>() {
        let tenants = FakeTenants::new();
        let (server, _) = start::<H>(&tenants, GENEROUS);
        for _ in 0..3 {
            let r = get(server.addr, "/token", Some(CAROL_INITECH));
            let body = assert_error(&r, 403, "forbidden");
            let message = body["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("organisation") && message.contains("no Twilio configuration"),
                "{message}"
            );
            assert!(body.get("token").is_none(), "{}", r.body);
        }
        assert_eq!(
            tenants.calls("initech"),
            1,
            "an unknown tenant is remembered"
        );
        let alice = get(server.addr, "/token", Some(ALICE_ACME));
        assert_tenant_token(&alice, "alice", &ACME);
    }

    /// A user who belongs to no tenant: 403 `forbidden`, not a token signed with the
    /// service's own account; the source is not asked.
    pub fn user_without_tenant_forbidden<H: Harness>() {
        let tenants = FakeTenants::new();
        let (server, _) = start::<H>(&tenants, GENEROUS);
        let r = get(server.addr, "/token", Some(DAVE_NO_TENANT));
        let body = assert_error(&r, 403, "forbidden");
        assert!(body.get("token").is_none(), "{}", r.body);
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains("organisation"), "{message}");
        assert_eq!(tenants.total_calls(), 0);
        let bob = get(server.addr, "/token", Some(BOB_GLOBEX));
        assert_tenant_token(&bob, "bob", &GLOBEX);
    }

    /// The source down: 503 `unavailable` with `Retry-After`, and the source is asked
    /// again on the next request (an outage is not remembered); a tenant fetched before
    /// the outage is still served; once the source is back, the same server answers 200.
    pub fn source_outage_then_recovery<H: Harness>() {
        let tenants = FakeTenants::new();
        let (server, _) = start::<H>(&tenants, GENEROUS);
        let bob = get(server.addr, "/token", Some(BOB_GLOBEX));
        assert_tenant_token(&bob, "bob", &GLOBEX);
        tenants.set_mode(Mode::Down);
        for asked in 1..=2 {
            let r = get(server.addr, "/token", Some(ALICE_ACME));
            assert_unavailable(&r);
            assert_eq!(tenants.calls("acme"), asked, "an outage is not remembered");
        }
        let bob = get(server.addr, "/token", Some(BOB_GLOBEX));
        assert_tenant_token(&bob, "bob", &GLOBEX);
        tenants.set_mode(Mode::Ok);
        let alice = get(server.addr, "/token", Some(ALICE_ACME));
        assert_tenant_token(&alice, "alice", &ACME);
        assert_eq!(tenants.calls("acme"), 3);
    }

    /// A source that hangs past the tenant timeout: 503 `unavailable` with
    /// `Retry-After`, while the server keeps answering others (a tenant fetched before,
    /// the app's own route); once the source answers again, 200.
    pub fn source_hang_times_out<H: Harness>() {
        let tenants = FakeTenants::new();
        let (server, _) = start::<H>(&tenants, Duration::from_millis(200));
        let bob = get(server.addr, "/token", Some(BOB_GLOBEX));
        assert_tenant_token(&bob, "bob", &GLOBEX);
        tenants.set_mode(Mode::Hang);
        let addr = server.addr;
        let waiting = std::thread::spawn(move || get(addr, "/token", Some(ALICE_ACME)));
        wait_for("the source to be asked for acme", || {
            tenants.calls("acme") == 1
        });
        let bob = get(server.addr, "/token", Some(BOB_GLOBEX));
        assert_tenant_token(&bob, "bob", &GLOBEX);
        let app = get(server.addr, "/", None);
        assert_eq!(app.status, 200, "{}", app.body);
        let alice = waiting.join().expect("alice's request");
        assert_unavailable(&alice);
        let again = get(server.addr, "/token", Some(ALICE_ACME));
        assert_unavailable(&again);
        assert_eq!(tenants.calls("acme"), 2, "a timeout is not remembered");
        tenants.set_mode(Mode::Ok);
        let alice = get(server.addr, "/token", Some(ALICE_ACME));
        assert_tenant_token(&alice, "alice", &ACME);
    }

    /// A tenant whose stored account cannot be used: 500 `internal`, the body saying
    /// nothing of the tenant or why (the log says); the other tenants are served.
    pub fn malformed_tenant_internal<H: Harness>() {
        let tenants = FakeTenants::new();
        let (server, _) = start::<H>(&tenants, GENEROUS);
        for _ in 0..2 {
            let r = get(server.addr, "/token", Some(ERIN_UMBRELLA));
            let body = assert_error(&r, 500, "internal");
            assert!(body.get("token").is_none(), "{}", r.body);
            let text = r.all_text();
            for detail in [
                "umbrella",
                "SID",
                UMBRELLA_BROKEN.account_sid,
                UMBRELLA_BROKEN.api_key_sid,
                UMBRELLA_BROKEN.secret,
            ] {
                assert!(!text.contains(detail), "{detail:?} leaked: {text}");
            }
        }
        assert_eq!(
            tenants.calls("umbrella"),
            1,
            "a malformed tenant is remembered"
        );
        let alice = get(server.addr, "/token", Some(ALICE_ACME));
        assert_tenant_token(&alice, "alice", &ACME);
        let bob = get(server.addr, "/token", Some(BOB_GLOBEX));
        assert_tenant_token(&bob, "bob", &GLOBEX);
        let log = logs::text();
        assert!(
            log.contains("umbrella"),
            "the log names the malformed tenant"
        );
        assert!(
            !log.contains(UMBRELLA_BROKEN.secret),
            "the log holds the secret"
        );
    }

    /// acme's API key secret rotated: the cached account signs until the service forgets
    /// acme, then alice's next token verifies with the new secret (not the old); bob, of
    /// globex, is served before, during and after, and globex is not fetched again.
    pub fn rotation_forgets_one_tenant<H: Harness>() {
        let tenants = FakeTenants::new();
        let (server, service) = start::<H>(&tenants, GENEROUS);
        let alice = get(server.addr, "/token", Some(ALICE_ACME));
        assert_tenant_token(&alice, "alice", &ACME);
        let bob = get(server.addr, "/token", Some(BOB_GLOBEX));
        assert_tenant_token(&bob, "bob", &GLOBEX);
        let (addr, stop) = (server.addr, AtomicBool::new(false));
        let served = std::thread::scope(|scope| {
            let bob = scope.spawn(|| {
                let (started, mut served) = (Instant::now(), 0);
                while served == 0 || !stop.load(Ordering::SeqCst) {
                    let r = get(addr, "/token", Some(BOB_GLOBEX));
                    assert_tenant_token(&r, "bob", &GLOBEX);
                    served += 1;
                    assert!(started.elapsed() < DEADLINE, "the rotation never ended");
                }
                served
            });
            tenants.set_account("acme", ACME_ROTATED);
            let cached = get(addr, "/token", Some(ALICE_ACME));
            assert_tenant_token(&cached, "alice", &ACME);
            service.tenant_cache().expect("a tenant cache").forget("acme");
            let rotated = get(addr, "/token", Some(ALICE_ACME));
            assert_tenant_token(&rotated, "alice", &ACME_ROTATED);
            stop.store(true, Ordering::SeqCst);
            bob.join().expect("bob's requests during the rotation")
        });
        assert!(served >= 1);
        let bob = get(server.addr, "/token", Some(BOB_GLOBEX));
        assert_tenant_token(&bob, "bob", &GLOBEX);
        assert_eq!((tenants.calls("acme"), tenants.calls("globex")), (2, 1));
    }

    /// 50 concurrent first requests for one tenant: all 200 with the tenant's token, and
    /// the source was asked once.
    pub fn concurrent_first_requests_fetch_once<H: Harness>() {
        const REQUESTS: usize = 50;
        let tenants = FakeTenants::new().with_delay(Duration::from_millis(300));
        let (server, _) = start::<H>(&tenants, GENEROUS);
        let (addr, barrier) = (server.addr, Barrier::new(REQUESTS));
        let answers: Vec<Response> = std::thread::scope(|scope| {
            let requests: Vec<_> = (0..REQUESTS)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        get(addr, "/token", Some(ALICE_ACME))
                    })
                })
                .collect();
            requests
                .into_iter()
                .map(|r| r.join().expect("a request"))
                .collect()
        });
        for r in &answers {
            assert_tenant_token(r, "alice", &ACME);
        }
        assert_eq!(
            tenants.calls("acme"),
            1,
            "the source was asked more than once"
        );
    }
}
