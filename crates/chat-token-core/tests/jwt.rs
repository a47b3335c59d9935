//! `JwtBearerResolver` against a JWKS server on loopback started here: ES256 and RS256
//! keys, key rotation, the refresh interval, an unreachable JWKS (503), and every way a
//! token can be wrong (401). Keys: `tests/data/jwt/` (test-only).

#![cfg(feature = "jwks")]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chat_token_core::{
    IdentityResolver, IncomingRequest, JwtBearerResolver, ResolveError, SecretString,
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

/// A JWKS server on loopback: serves the current key set, counts fetches, can go down.
struct Jwks {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
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
        let down = Arc::new(AtomicBool::new(false));
        let (k, f, d) = (keys.clone(), fetches.clone(), down.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 2048];
                let _ = stream.read(&mut buf).await;
                f.fetch_add(1, Ordering::SeqCst);
                let response = if d.load(Ordering::SeqCst) {
                    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_owned()
                } else {
                    let body = json!({ "keys": *k.lock().expect("keys") }).to_string();
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let _ = stream.write_all(response.as_bytes()).await;
            }
        });
        Self {
            url,
            keys,
            fetches,
            down,
        }
    }

    fn resolver(&self) -> JwtBearerResolver {
        self.resolver_refreshing_every(Duration::from_millis(200))
    }

    fn resolver_refreshing_every(&self, interval: Duration) -> JwtBearerResolver {
        JwtBearerResolver::jwks_url(&self.url)
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .identity_claim("email")
            .min_refresh_interval(interval)
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
async fn a_rotated_key_is_fetched_once_on_first_sight() {
    let jwks = Jwks::start(&["key1"]).await;
    let resolver = jwks.resolver();
    resolver
        .resolve(&request(&sign("key1", claims())))
        .await
        .expect("key1");
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1);

    // The provider rotates: key2 is added, later key1 is retired.
    jwks.keys.lock().expect("keys").push(jwk("key2"));
    tokio::time::sleep(Duration::from_millis(250)).await;
    resolver
        .resolve(&request(&sign("key2", claims())))
        .await
        .expect("key2 after rotation");
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 2);
    // Cached now: no more fetches for either key.
    for kid in ["key1", "key2", "key2"] {
        resolver
            .resolve(&request(&sign(kid, claims())))
            .await
            .expect("cached");
    }
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn unknown_key_ids_cannot_hammer_the_provider() {
    let jwks = Jwks::start(&["key1"]).await;
    let resolver = jwks.resolver_refreshing_every(Duration::from_secs(60));
    // Signed with key2, which the JWKS does not publish.
    for _ in 0..20 {
        invalid_because(
            resolver.resolve(&request(&sign("key2", claims()))).await,
            "unknown key",
        );
    }
    assert_eq!(
        jwks.fetches.load(Ordering::SeqCst),
        1,
        "one fetch per interval"
    );
}

#[tokio::test]
async fn an_unreachable_jwks_is_unavailable() {
    let jwks = Jwks::start(&["key1"]).await;
    jwks.down.store(true, Ordering::SeqCst);
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
        .build()
        .expect("resolver");
    assert!(matches!(
        gone.resolve(&request(&sign("key1", claims()))).await,
        Err(ResolveError::Unavailable { .. })
    ));
}

#[tokio::test]
async fn cached_keys_keep_working_while_the_jwks_is_down() {
    let jwks = Jwks::start(&["key1"]).await;
    let resolver = jwks.resolver();
    resolver
        .resolve(&request(&sign("key1", claims())))
        .await
        .expect("first");
    jwks.down.store(true, Ordering::SeqCst);
    resolver
        .resolve(&request(&sign("key1", claims())))
        .await
        .expect("cached key while down");
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
    let resolver = JwtBearerResolver::hs256(SecretString::from("app-session-secret"))
        .audience(AUDIENCE)
        .build()
        .expect("resolver");
    chat_token_core::crypto::ensure_jsonwebtoken_provider();
    let good = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(b"app-session-secret"),
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
