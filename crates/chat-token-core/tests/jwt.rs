//! `JwtBearerResolver` against a JWKS server on loopback started here: keys of every
//! asymmetric algorithm, key rotation, the refetch budget, an unreachable, redirecting, oversized
//! or empty JWKS, and every way a token can be wrong (401). Keys: `tests/data/jwt/`
//! (test-only).

#![cfg(feature = "jwks")]

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chat_token_core::{
    IdentityResolver, IncomingRequest, JwtBearerResolver, ResolveError, SecretString,
    resolvers::{HttpJwks, JwtBearerBuilder, JwtConfigError},
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const ISSUER: &str = "https://login.example.test/";
const AUDIENCE: &str = "chat-app";

fn jwk(kid: &str) -> Value {
    let all: Value =
        serde_json::from_str(include_str!("data/jwt/public-jwks.json")).expect("jwks fixture");
    all[kid].clone()
}

fn pem(name: &str) -> &'static [u8] {
    match name {
        "key1" => include_bytes!("data/jwt/key1.pem"),
        "key2" => include_bytes!("data/jwt/key2.pem"),
        "p384" => include_bytes!("data/jwt/p384.pem"),
        "ed1" => include_bytes!("data/jwt/ed1.pem"),
        _ => include_bytes!("data/jwt/rsa1.pem"),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn sign(kid: &str, claims: Value) -> String {
    chat_token_core::crypto::ensure_jsonwebtoken_provider();
    let (alg, key) = if kid == "rsa1" {
        (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(pem(kid)).expect("rsa key"),
        )
    } else if kid == "ps1" {
        (
            Algorithm::PS256,
            EncodingKey::from_rsa_pem(pem("rsa1")).expect("rsa key"),
        )
    } else if !["key1", "key2"].contains(&kid) {
        // Any other key id: signed with key2, which no test JWKS publishes under it.
        (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(pem("key2")).expect("ec key"),
        )
    } else {
        (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(pem(kid)).expect("ec key"),
        )
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, &claims, &key).expect("sign")
}

fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-123",
        "email": "alice@example.com",
        "exp": now() + 600,
        "iat": now(),
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn request(token: &str) -> IncomingRequest {
    IncomingRequest::new("GET", "/token").with_header("authorization", format!("Bearer {token}"))
}

/// How the test JWKS server answers.
const SERVE: u8 = 0;
const DOWN: u8 = 1;
const REDIRECT: u8 = 2;
const HUGE: u8 = 3;

/// A JWKS server on loopback: serves the current key set, counts fetches, and can go
/// down, redirect, or send a body over the size limit without a length.
struct Jwks {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
    mode: Arc<AtomicU8>,
}

impl Jwks {
    async fn start(kids: &[&str]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().expect("addr")
        );
        let keys = Arc::new(Mutex::new(kids.iter().map(|k| jwk(k)).collect::<Vec<_>>()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let mode = Arc::new(AtomicU8::new(SERVE));
        let (k, f, m) = (keys.clone(), fetches.clone(), mode.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 2048];
                let _ = stream.read(&mut buf).await;
                f.fetch_add(1, Ordering::SeqCst);
                let response = match m.load(Ordering::SeqCst) {
                    DOWN => "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_owned(),
                    REDIRECT => "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/evil.json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_owned(),
                    HUGE => {
                        // No Content-Length: the client must stop reading by itself.
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"keys\":[")
                            .await;
                        let pad = vec![b' '; 64 * 1024];
                        for _ in 0..40 {
                            if stream.write_all(&pad).await.is_err() {
                                break;
                            }
                        }
                        String::new()
                    }
                    _ => {
                    let body = json!({ "keys": *k.lock().expect("keys") }).to_string();
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    }
                };
                let _ = stream.write_all(response.as_bytes()).await;
            }
        });
        Self {
            url,
            keys,
            fetches,
            mode,
        }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// A resolver of these keys for the test issuer and audience, to configure further.
    fn builder(&self) -> JwtBearerBuilder {
        JwtBearerResolver::jwks_url(&self.url)
            .issuer(ISSUER)
            .audience(AUDIENCE)
    }

    /// With the default refetch budget (10 a minute).
    fn resolver(&self) -> JwtBearerResolver {
        self.builder()
            .identity_claim("email")
            .build()
            .expect("resolver")
    }
}

fn invalid_because(result: Result<chat_token_core::Resolved, ResolveError>, needle: &str) {
    match result {
        Err(ResolveError::InvalidCredentials(message)) => {
            assert!(
                message.contains(needle),
                "{message:?} should mention {needle:?}"
            );
        }
        other => panic!("expected invalid credentials ({needle}), got {other:?}"),
    }
}

#[tokio::test]
async fn the_tenant_claim_names_the_tenant_fresh_and_cached() {
    let jwks = Jwks::start(&["key1"]).await;
    let resolver = jwks
        .builder()
        .tenant_claim("org_id")
        .build()
        .expect("resolver");
    let tenant = |r: Result<chat_token_core::Resolved, ResolveError>| {
        r.expect("valid token").tenant().map(str::to_owned)
    };
    let acme = sign("key1", with(claims(), "org_id", json!("acme")));
    assert_eq!(
        tenant(resolver.resolve(&request(&acme)).await),
        Some("acme".into())
    );
    assert_eq!(
        tenant(resolver.resolve(&request(&acme)).await),
        Some("acme".into()),
        "from the cache"
    );
    let numbered = sign("key1", with(claims(), "org_id", json!(42)));
    assert_eq!(
        tenant(resolver.resolve(&request(&numbered)).await),
        Some("42".into())
    );
    for absent in [json!(null), json!(""), json!(["acme"]), json!(1.5)] {
        let token = sign("key1", with(claims(), "org_id", absent));
        assert_eq!(tenant(resolver.resolve(&request(&token)).await), None);
    }
}

#[tokio::test]
async fn a_valid_es256_token_names_the_user_by_the_configured_claim() {
    let jwks = Jwks::start(&["key1"]).await;
    let resolved = jwks
        .resolver()
        .resolve(&request(&sign("key1", claims())))
        .await
        .expect("valid token");
    assert_eq!(resolved.identity(), "alice@example.com");
    assert_eq!(resolved.claims().expect("claims")["sub"], "user-123");
}

/// A finding checked: an identity claim of another type was reported as missing.
#[tokio::test]
async fn an_identity_claim_missing_or_not_a_string_is_named_as_such() {
    let jwks = Jwks::start(&["key1"]).await;
    let resolver = jwks.resolver();
    let mut without = claims();
    without.as_object_mut().expect("claims").remove("email");
    invalid_because(
        resolver.resolve(&request(&sign("key1", without))).await,
        "has no email claim",
    );
    for other in [json!(42), json!(""), json!(["alice"]), json!(null)] {
        invalid_because(
            resolver
                .resolve(&request(&sign("key1", with(claims(), "email", other))))
                .await,
            "email claim is not a non-empty string",
        );
    }
}

#[tokio::test]
async fn rs256_keys_work_too() {
    let jwks = Jwks::start(&["rsa1"]).await;
    let resolved = jwks
        .resolver()
        .resolve(&request(&sign("rsa1", claims())))
        .await
        .expect("valid token");
    assert_eq!(resolved.identity(), "alice@example.com");
}

#[tokio::test]
async fn a_key_added_right_after_start_is_accepted_on_first_use() {
    let jwks = Jwks::start(&["key1"]).await;
    let resolver = jwks.resolver();
    resolver
        .resolve(&request(&sign("key1", claims())))
        .await
        .expect("key1");
    assert_eq!(jwks.fetches(), 1);

    // The provider rotates a second later: key2 is added, later key1 is retired.
    tokio::time::sleep(Duration::from_secs(1)).await;
    jwks.keys.lock().expect("keys").push(jwk("key2"));
    resolver
        .resolve(&request(&sign("key2", claims())))
        .await
        .expect("key2 on its first use");
    assert_eq!(jwks.fetches(), 2);
    // Cached now: no more fetches for either key.
    for kid in ["key1", "key2", "key2"] {
        resolver
            .resolve(&request(&sign(kid, claims())))
            .await
            .expect("cached");
    }
    assert_eq!(jwks.fetches(), 2);
}

#[tokio::test]
async fn a_thousand_unknown_key_ids_stay_within_the_budget() {
    let jwks = Jwks::start(&["key1"]).await;
    let resolver = Arc::new(jwks.resolver());
    resolver
        .resolve(&request(&sign("key1", claims())))
        .await
        .expect("key1");
    let mut tasks = Vec::new();
    for n in 0..1000 {
        let resolver = resolver.clone();
        let token = sign(&format!("forged-{n}"), claims());
        tasks.push(tokio::spawn(async move {
            resolver.resolve(&request(&token)).await
        }));
    }
    for task in tasks {
        invalid_because(task.await.expect("task"), "unknown key");
    }
    assert!(jwks.fetches() <= 10, "{} fetches", jwks.fetches());
    // The known key still works, without a fetch.
    let before = jwks.fetches();
    resolver
        .resolve(&request(&sign("key1", claims())))
        .await
        .expect("key1");
    assert_eq!(jwks.fetches(), before);
}

#[tokio::test]
async fn a_provider_that_was_down_at_start_is_used_as_soon_as_it_answers() {
    let jwks = Jwks::start(&["key1"]).await;
    jwks.set(DOWN);
    let resolver = jwks.resolver();
    assert!(matches!(
        resolver.resolve(&request(&sign("key1", claims()))).await,
        Err(ResolveError::Unavailable { .. })
    ));
    jwks.set(SERVE);
    resolver
        .resolve(&request(&sign("key1", claims())))
        .await
        .expect("the provider answers again");
    assert_eq!(jwks.fetches(), 2);
}

#[tokio::test]
async fn while_down_cached_keys_work_and_unknown_keys_are_unavailable() {
    let jwks = Jwks::start(&["key1"]).await;
    let resolver = jwks.resolver();
    resolver
        .resolve(&request(&sign("key1", claims())))
        .await
        .expect("key1");
    jwks.set(DOWN);
    for _ in 0..30 {
        resolver
            .resolve(&request(&sign("key1", claims())))
            .await
            .expect("cached key while down");
        assert!(matches!(
            resolver.resolve(&request(&sign("key2", claims()))).await,
            Err(ResolveError::Unavailable { .. })
        ));
    }
    assert!(jwks.fetches() <= 10, "{} fetches", jwks.fetches());
}

#[tokio::test]
async fn redirects_oversized_and_empty_key_sets_keep_the_cached_keys() {
    let jwks = Jwks::start(&["key1"]).await;
    let resolver = jwks.resolver();
    resolver
        .resolve(&request(&sign("key1", claims())))
        .await
        .expect("key1");
    for mode in [REDIRECT, HUGE] {
        jwks.set(mode);
        assert!(
            matches!(
                resolver.resolve(&request(&sign("key2", claims()))).await,
                Err(ResolveError::Unavailable { .. })
            ),
            "mode {mode}"
        );
        resolver
            .resolve(&request(&sign("key1", claims())))
            .await
            .expect("the cached key survives");
    }
    // A key set with nothing usable (empty, or only an encryption key) is not taken.
    jwks.set(SERVE);
    let mut encryption_only = jwk("key2");
    encryption_only["use"] = json!("enc");
    *jwks.keys.lock().expect("keys") = vec![encryption_only];
    assert!(matches!(
        resolver.resolve(&request(&sign("key2", claims()))).await,
        Err(ResolveError::Unavailable { .. })
    ));
    *jwks.keys.lock().expect("keys") = Vec::new();
    assert!(matches!(
        resolver.resolve(&request(&sign("key2", claims()))).await,
        Err(ResolveError::Unavailable { .. })
    ));
    resolver
        .resolve(&request(&sign("key1", claims())))
        .await
        .expect("key1 still cached");
}

/// A token signed with the private half of `pem` under `alg`, naming key `kid`.
fn sign_with(kid: &str, alg: Algorithm, pem_name: &str, claims: Value) -> String {
    chat_token_core::crypto::ensure_jsonwebtoken_provider();
    let key = match alg {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem(pem_name)),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(pem(pem_name)),
        _ => EncodingKey::from_rsa_pem(pem(pem_name)),
    }
    .expect("test key");
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, &claims, &key).expect("sign")
}

#[tokio::test]
async fn every_asymmetric_algorithm_verifies_and_refuses_a_forged_signature() {
    let cases = [
        ("p384", Algorithm::ES384, "p384", "ES384"),
        ("ed1", Algorithm::EdDSA, "ed1", "EdDSA"),
        ("rs384", Algorithm::RS384, "rsa1", "RS384"),
        ("rs512", Algorithm::RS512, "rsa1", "RS512"),
        ("ps384", Algorithm::PS384, "rsa1", "PS384"),
        ("ps512", Algorithm::PS512, "rsa1", "PS512"),
    ];
    let jwks = Jwks::start(&[]).await;
    for (kid, _, pem_name, declared) in cases {
        let mut key = jwk(pem_name);
        key["kid"] = json!(kid);
        key["alg"] = json!(declared);
        jwks.keys.lock().expect("keys").push(key);
    }
    let resolver = jwks.resolver();
    for (kid, alg, pem_name, _) in cases {
        let token = sign_with(kid, alg, pem_name, claims());
        let resolved = resolver.resolve(&request(&token)).await;
        assert_eq!(
            resolved.map(|r| r.identity().to_owned()).ok().as_deref(),
            Some("alice@example.com"),
            "{kid}"
        );
        // The same signature over another payload.
        let other = sign_with(
            kid,
            alg,
            pem_name,
            with(claims(), "email", json!("eve@example.com")),
        );
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[1] = other.split('.').nth(1).expect("payload");
        invalid_because(
            resolver.resolve(&request(&parts.join("."))).await,
            "signature",
        );
    }
    // A key published for one algorithm does not verify another of its family.
    let token = sign_with("rs384", Algorithm::RS256, "rsa1", claims());
    invalid_because(
        resolver.resolve(&request(&token)).await,
        "does not match its key",
    );
}

#[tokio::test]
async fn rsa_keys_under_2048_bits_are_not_used() {
    let jwks = Jwks::start(&["key1", "rsa1024"]).await;
    let resolver = jwks.resolver();
    // Signed with another key (aws-lc-rs will not sign with 1024 bits): the key id is
    // what matters, and it must be unknown rather than tried.
    let token = sign_with("rsa1024", Algorithm::RS256, "rsa1", claims());
    invalid_because(resolver.resolve(&request(&token)).await, "unknown key");
    resolver
        .resolve(&request(&sign("key1", claims())))
        .await
        .expect("the other key of the set stays in use");
}

#[tokio::test]
async fn ps256_keys_declared_in_the_jwks_work() {
    let mut ps = jwk("rsa1");
    ps["kid"] = json!("ps1");
    ps["alg"] = json!("PS256");
    let jwks = Jwks::start(&[]).await;
    jwks.keys.lock().expect("keys").push(ps);
    let resolver = jwks.resolver();
    resolver
        .resolve(&request(&sign("ps1", claims())))
        .await
        .expect("PS256");
}

#[tokio::test]
async fn an_unreachable_jwks_is_unavailable() {
    let jwks = Jwks::start(&["key1"]).await;
    jwks.set(DOWN);
    match jwks
        .resolver()
        .resolve(&request(&sign("key1", claims())))
        .await
    {
        Err(ResolveError::Unavailable { retry_after, .. }) => assert!(retry_after.is_some()),
        other => panic!("expected unavailable, got {other:?}"),
    }
    // Nothing listening at all.
    let gone = JwtBearerResolver::jwks_url("http://127.0.0.1:9/jwks.json")
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .expect("resolver");
    assert!(matches!(
        gone.resolve(&request(&sign("key1", claims()))).await,
        Err(ResolveError::Unavailable { .. })
    ));
}

#[tokio::test]
async fn every_wrong_token_is_401_with_a_reason() {
    let jwks = Jwks::start(&["key1"]).await;
    let r = jwks.resolver();
    let cases = [
        (with(claims(), "aud", json!("other-app")), "audience"),
        (
            with(claims(), "iss", json!("https://evil.example/")),
            "issuer",
        ),
        (with(claims(), "exp", json!(now() - 3600)), "expired"),
        (with(claims(), "nbf", json!(now() + 3600)), "not valid yet"),
        (with(claims(), "email", json!(null)), "email claim"),
        (with(claims(), "email", json!("")), "email claim"),
        (
            with(claims(), "email_verified", json!(false)),
            "not verified",
        ),
        (
            with(claims(), "email_verified", json!("false")),
            "not verified",
        ),
        (
            with(claims(), "email_verified", json!(null)),
            "not verified",
        ),
    ];
    for (claims, reason) in cases {
        invalid_because(r.resolve(&request(&sign("key1", claims))).await, reason);
    }
    // Within the 30 s leeway an expired token still passes.
    let fresh = with(claims(), "exp", json!(now() - 5));
    r.resolve(&request(&sign("key1", fresh)))
        .await
        .expect("within leeway");
    // A tampered payload breaks the signature.
    let token = sign("key1", claims());
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = sign(
        "key1",
        with(claims(), "email", json!("mallory@example.com")),
    )
    .split('.')
    .nth(1)
    .expect("payload")
    .to_owned();
    invalid_because(r.resolve(&request(&parts.join("."))).await, "signature");
    invalid_because(r.resolve(&request("not-a-jwt")).await, "not a JWT");
}

#[tokio::test]
async fn hs256_tokens_cannot_pass_as_jwks_keys() {
    let jwks = Jwks::start(&["key1"]).await;
    // An attacker signs HS256 with the public key's bytes as the secret.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("key1".into());
    chat_token_core::crypto::ensure_jsonwebtoken_provider();
    let forged = jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(jwk("key1").to_string().as_bytes()),
    )
    .expect("sign");
    invalid_because(
        jwks.resolver().resolve(&request(&forged)).await,
        "algorithm",
    );
}

#[tokio::test]
async fn hs256_with_a_shared_secret() {
    let resolver = JwtBearerResolver::hs256(SecretString::from(HS_SECRET))
        .audience(AUDIENCE)
        .issuer(ISSUER)
        .build()
        .expect("resolver");
    chat_token_core::crypto::ensure_jsonwebtoken_provider();
    let good = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(HS_SECRET.as_bytes()),
    )
    .expect("sign");
    assert_eq!(
        resolver
            .resolve(&request(&good))
            .await
            .expect("ok")
            .identity(),
        "user-123"
    );
    let wrong = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(b"another-secret"),
    )
    .expect("sign");
    invalid_because(resolver.resolve(&request(&wrong)).await, "signature");
    invalid_because(
        resolver.resolve(&request(&sign("key1", claims()))).await,
        "HS256",
    );
    assert!(matches!(
        resolver
            .resolve(&IncomingRequest::new("GET", "/token"))
            .await,
        Err(ResolveError::MissingCredentials(_))
    ));
}

const HS_SECRET: &str = "app-session-secret-of-at-least-32-bytes";

#[tokio::test]
async fn email_verified_true_or_absent_passes() {
    let jwks = Jwks::start(&["key1"]).await;
    let r = jwks.resolver();
    for verified in [json!(true), json!("true")] {
        r.resolve(&request(&sign(
            "key1",
            with(claims(), "email_verified", verified),
        )))
        .await
        .expect("verified");
    }
    // `sub` as the identity: email_verified does not matter.
    let by_sub = jwks.builder().build().expect("resolver");
    by_sub
        .resolve(&request(&sign(
            "key1",
            with(claims(), "email_verified", json!(false)),
        )))
        .await
        .expect("sub identity");
}

#[tokio::test]
async fn require_email_verified_refuses_a_token_without_it() {
    let jwks = Jwks::start(&["key1"]).await;
    let strict = jwks
        .builder()
        .identity_claim("email")
        .require_email_verified()
        .build()
        .expect("resolver");
    let mut without = claims();
    without
        .as_object_mut()
        .expect("object")
        .remove("email_verified");
    invalid_because(
        strict
            .resolve(&request(&sign("key1", without.clone())))
            .await,
        "not verified",
    );
    // Whatever the identity claim.
    let by_sub = jwks
        .builder()
        .require_email_verified()
        .build()
        .expect("resolver");
    invalid_because(
        by_sub
            .resolve(&request(&sign("key1", without.clone())))
            .await,
        "no email_verified claim",
    );
    invalid_because(
        by_sub
            .resolve(&request(&sign(
                "key1",
                with(claims(), "email_verified", json!(false)),
            )))
            .await,
        "not true",
    );
    // Without the call, a token without the claim passes.
    jwks.resolver()
        .resolve(&request(&sign("key1", without)))
        .await
        .expect("email_verified absent");
    strict
        .resolve(&request(&sign(
            "key1",
            with(claims(), "email_verified", json!(true)),
        )))
        .await
        .expect("verified");
}

#[tokio::test]
async fn a_crit_header_is_refused() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwks = Jwks::start(&["key1"]).await;
    let token = sign("key1", claims());
    let mut header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().expect("header"))
            .expect("b64"),
    )
    .expect("json");
    header["crit"] = json!(["exp-ext"]);
    header["exp-ext"] = json!(1);
    chat_token_core::crypto::ensure_jsonwebtoken_provider();
    // Signed again over the new header, so that only `crit` can be the reason.
    let key = EncodingKey::from_ec_pem(pem("key1")).expect("ec key");
    let head = URL_SAFE_NO_PAD.encode(header.to_string());
    let body = token.split('.').nth(1).expect("payload");
    let signing_input = format!("{head}.{body}");
    let signature =
        jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, Algorithm::ES256).expect("sign");
    let forged = format!("{signing_input}.{signature}");
    invalid_because(jwks.resolver().resolve(&request(&forged)).await, "crit");
}

#[test]
fn audience_and_issuer_are_required_unless_waived() {
    let secret = || SecretString::from(HS_SECRET);
    assert_eq!(
        JwtBearerResolver::hs256(secret())
            .issuer(ISSUER)
            .build()
            .unwrap_err(),
        JwtConfigError::MissingAudience
    );
    assert_eq!(
        JwtBearerResolver::hs256(secret())
            .audience(AUDIENCE)
            .build()
            .unwrap_err(),
        JwtConfigError::MissingIssuer
    );
    // Both missing are named at once, not one per failed build.
    let both = JwtBearerResolver::hs256(secret()).build().unwrap_err();
    assert_eq!(both, JwtConfigError::MissingIssuerAndAudience);
    assert!(
        both.to_string().contains("(iss)") && both.to_string().contains("(aud)"),
        "{both}"
    );
    assert_eq!(
        JwtBearerResolver::hs256(secret())
            .insecure_any_audience()
            .build()
            .unwrap_err(),
        JwtConfigError::MissingIssuer
    );
    assert!(
        JwtBearerResolver::hs256(secret())
            .insecure_any_audience()
            .insecure_any_issuer()
            .build()
            .is_ok()
    );
    assert_eq!(
        JwtBearerResolver::hs256(SecretString::from("short-secret"))
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .build()
            .unwrap_err(),
        JwtConfigError::ShortSecret { len: 12 }
    );
}

/// A leeway past a day is refused: jsonwebtoken subtracts it from the clock, and longer
/// ones would accept tokens long expired (or, past the Unix time, wrap).
#[test]
fn a_leeway_longer_than_a_day_is_refused() {
    use chat_token_core::resolvers::MAX_LEEWAY;
    let build = |leeway: Duration| {
        JwtBearerResolver::hs256(SecretString::from(HS_SECRET))
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .leeway(leeway)
            .build()
    };
    assert!(build(MAX_LEEWAY).is_ok());
    for too_long in [MAX_LEEWAY + Duration::from_secs(1), Duration::MAX] {
        assert_eq!(build(too_long).unwrap_err(), JwtConfigError::LeewayTooLong);
    }
}

#[test]
fn jwks_urls_must_be_https_or_loopback() {
    let build = |url: &str| {
        JwtBearerResolver::jwks_url(url)
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .build()
            .map(|_| ())
    };
    for ok in [
        "https://login.example.test/.well-known/jwks.json",
        "http://127.0.0.1:8080/jwks.json",
        "http://localhost/jwks.json",
        "http://[::1]:9/jwks.json",
    ] {
        assert_eq!(build(ok), Ok(()), "{ok}");
    }
    for bad in [
        "http://login.example.test/jwks.json",
        "http://10.0.0.5/jwks.json",
        "http://169.254.169.254/latest/meta-data",
        "ftp://login.example.test/jwks.json",
        "file:///etc/passwd",
        "https://user:hunter2@login.example.test/jwks.json",
        "https://login.example.test:99999/jwks.json",
        "not a url",
    ] {
        let err = build(bad).unwrap_err();
        assert!(
            matches!(err, JwtConfigError::JwksUrl { .. }),
            "{bad}: {err}"
        );
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
    // The parser's reason, not a vague "not a URL".
    let port = build("https://login.example.test:99999/jwks.json").unwrap_err();
    assert!(port.to_string().contains("invalid port number"), "{port}");
}

/// An `HttpJwks` printed in a log line, either way, shows no part of its URL that may
/// hold an access key: not the query, path parameters or fragment.
#[test]
fn a_jwks_source_prints_no_query_path_parameter_or_fragment() {
    let jwks = HttpJwks::new("https://idp.example:8443/k/jwks.json;a=PathKey?key=QueryKey#Frag")
        .expect("a valid URL");
    let (shown, debug) = (jwks.to_string(), format!("{jwks:?}"));
    assert_eq!(shown, "https://idp.example:8443/k/jwks.json;…?…");
    assert!(debug.contains(&shown), "{debug}");
    for secret in ["PathKey", "QueryKey", "Frag"] {
        assert!(
            !debug.contains(secret) && !shown.contains(secret),
            "{debug}"
        );
    }
    let plain = HttpJwks::new("https://idp.example/jwks.json").expect("a valid URL");
    assert_eq!(
        plain.to_string(),
        "https://idp.example/jwks.json",
        "nothing to mark"
    );
    // After a review: the first `;` cut the rest of the path away (the log did not name
    // the document fetched), and an empty query or parameter list was marked as if
    // something had been left out.
    for (url, shown) in [
        (
            "https://idp.example/a;k=Secret/b;x=Other/jwks.json",
            "https://idp.example/a;…/b;…/jwks.json",
        ),
        ("https://idp.example/keys;", "https://idp.example/keys;"),
        ("https://idp.example/keys?", "https://idp.example/keys"),
        ("https://idp.example/keys;?", "https://idp.example/keys;"),
    ] {
        let jwks = HttpJwks::new(url).expect("a valid URL");
        assert_eq!(jwks.to_string(), shown, "{url}");
        assert!(!format!("{jwks:?}").contains("Secret"), "{jwks:?}");
        assert!(!format!("{jwks:?}").contains("Other"), "{jwks:?}");
    }
}

impl Jwks {
    /// With keys that go stale after `age`.
    fn resolver_with_key_age(&self, age: Duration) -> JwtBearerResolver {
        self.builder()
            .identity_claim("email")
            .max_key_age(age)
            .build()
            .expect("resolver")
    }
}

#[tokio::test]
async fn a_key_the_provider_withdrew_is_refused_once_the_keys_are_stale() {
    let jwks = Jwks::start(&["key1", "key2"]).await;
    let resolver = jwks.resolver_with_key_age(Duration::from_millis(300));
    for kid in ["key1", "key2"] {
        resolver
            .resolve(&request(&sign(kid, claims())))
            .await
            .expect("both keys");
    }
    // key2 leaks and is withdrawn.
    jwks.keys
        .lock()
        .expect("keys")
        .retain(|k| k["kid"] != "key2");
    tokio::time::sleep(Duration::from_millis(400)).await;
    invalid_because(
        resolver.resolve(&request(&sign("key2", claims()))).await,
        "unknown key",
    );
    resolver
        .resolve(&request(&sign("key1", claims())))
        .await
        .expect("key1 stays");
}

#[tokio::test]
async fn a_rotation_is_picked_up_while_forged_key_ids_hold_the_budget() {
    let jwks = Jwks::start(&["key1"]).await;
    let resolver = jwks.resolver_with_key_age(Duration::from_millis(500));
    resolver
        .resolve(&request(&sign("key1", claims())))
        .await
        .expect("key1");
    for n in 0..30 {
        invalid_because(
            resolver
                .resolve(&request(&sign(&format!("forged-{n}"), claims())))
                .await,
            "unknown key",
        );
    }
    let spent = jwks.fetches();
    assert!(spent <= 10, "{spent} fetches");
    jwks.keys.lock().expect("keys").push(jwk("key2"));
    tokio::time::sleep(Duration::from_millis(600)).await;
    resolver
        .resolve(&request(&sign("key2", claims())))
        .await
        .expect("the rotated key, once the keys are stale");
}

#[tokio::test]
async fn stale_keys_stay_in_use_while_the_provider_is_down() {
    let jwks = Jwks::start(&["key1"]).await;
    let resolver = jwks.resolver_with_key_age(Duration::from_millis(200));
    resolver
        .resolve(&request(&sign("key1", claims())))
        .await
        .expect("key1");
    jwks.set(DOWN);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let tokens: Vec<String> = (0..20).map(|_| sign("key1", claims())).collect();
    let started = std::time::Instant::now();
    for token in &tokens {
        resolver
            .resolve(&request(token))
            .await
            .expect("stale but cached key while down");
    }
    // A stale refresh is tried at most once per 200 ms (the key age), not per request:
    // the bound counts the pauses that elapsed, so a slow machine cannot fail it.
    let pauses = started.elapsed().as_millis() / 200;
    let allowed = 1 + 1 + pauses as usize;
    assert!(
        jwks.fetches() <= allowed,
        "{} fetches, {allowed} allowed",
        jwks.fetches()
    );
}

#[tokio::test]
async fn a_repeated_token_is_verified_once() {
    let jwks = Jwks::start(&["key1"]).await;
    let resolver = jwks.resolver();
    let token = sign("key1", claims());
    for _ in 0..5 {
        let resolved = resolver.resolve(&request(&token)).await.expect("valid");
        assert_eq!(resolved.identity(), "alice@example.com");
        assert_eq!(resolved.claims().expect("claims")["sub"], "user-123");
    }
    let stats = resolver.cache_stats();
    assert_eq!(
        (stats.misses, stats.hits, stats.entries),
        (1, 4, 1),
        "{stats:?}"
    );
}

#[tokio::test]
async fn tokens_that_fail_never_fill_the_cache() {
    let jwks = Jwks::start(&["key1"]).await;
    let resolver = jwks.resolver();
    let good = sign("key1", claims());
    let mut parts: Vec<&str> = good.split('.').collect();
    let wrong_signature = sign("key2", claims());
    parts[2] = wrong_signature.split('.').nth(2).expect("signature");
    let forged = parts.join(".");
    for n in 0..200 {
        let expired = sign("key1", with(claims(), "exp", json!(now() - 3600 - n)));
        assert!(resolver.resolve(&request(&forged)).await.is_err());
        assert!(resolver.resolve(&request(&expired)).await.is_err());
    }
    let stats = resolver.cache_stats();
    assert_eq!(
        (stats.entries, stats.bytes, stats.hits),
        (0, 0, 0),
        "{stats:?}"
    );
    // The same forged token, again and again, is checked every time.
    assert!(stats.misses >= 400, "{stats:?}");
}

#[tokio::test]
async fn a_cached_token_stops_working_at_its_exp() {
    let jwks = Jwks::start(&["key1"]).await;
    let resolver = jwks
        .builder()
        .leeway(Duration::ZERO)
        .build()
        .expect("resolver");
    let token = sign("key1", with(claims(), "exp", json!(now() + 1)));
    resolver.resolve(&request(&token)).await.expect("valid now");
    resolver
        .resolve(&request(&token))
        .await
        .expect("valid, cached");
    assert_eq!(resolver.cache_stats().hits, 1);
    // Wait until the clock is past `exp` (whole seconds).
    let exp = now() + 1;
    while now() <= exp {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    invalid_because(resolver.resolve(&request(&token)).await, "expired");
}

#[tokio::test]
async fn the_cache_bound_holds_under_a_scan_and_zero_turns_it_off() {
    let jwks = Jwks::start(&["key1"]).await;
    let small = jwks.builder().verified_cache(50).build().expect("resolver");
    let off = jwks.builder().verified_cache(0).build().expect("resolver");
    for n in 0..200 {
        let token = sign("key1", with(claims(), "sub", json!(format!("user-{n}"))));
        small.resolve(&request(&token)).await.expect("valid");
        off.resolve(&request(&token)).await.expect("valid");
        off.resolve(&request(&token)).await.expect("valid again");
    }
    let stats = small.cache_stats();
    assert_eq!(stats.entries, 50, "{stats:?}");
    assert_eq!(stats.evictions, 150, "{stats:?}");
    assert_eq!(
        off.cache_stats(),
        chat_token_core::resolvers::VerifiedCacheStats::default()
    );
}
