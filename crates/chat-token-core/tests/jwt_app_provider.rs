//! An app that installed its own jsonwebtoken provider before building a bearer-JWT
//! resolver: tokens are verified with that provider, the same verdicts. A file of its
//! own, as the provider is chosen once per process.

use chat_token_core::resolvers::JwtBearerResolver;
use chat_token_core::{IdentityResolver, IncomingRequest, SecretString};
use jsonwebtoken::{EncodingKey, Header, encode};

const SECRET: &str = "a-shared-secret-of-at-least-32-bytes!";

#[tokio::test]
async fn the_apps_own_provider_verifies_bearer_jwts() {
    #[cfg(feature = "aws-lc-rs")]
    let installed = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    #[cfg(not(feature = "aws-lc-rs"))]
    let installed = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    assert!(installed.is_ok());
    let resolver = JwtBearerResolver::hs256(SecretString::from(SECRET))
        .issuer("https://login.example/")
        .audience("chat")
        .build()
        .expect("resolver");
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        + 600;
    let claims = serde_json::json!({
        "sub": "alice", "iss": "https://login.example/", "aud": "chat", "exp": exp
    });
    let token = |secret: &str| {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("token")
    };
    let request = |token: String| {
        IncomingRequest::new("POST", "/token")
            .with_header("authorization", format!("Bearer {token}"))
    };
    let good = resolver.resolve(&request(token(SECRET))).await;
    assert_eq!(
        good.map(|r| r.identity().to_owned()).ok(),
        Some("alice".into())
    );
    let forged = resolver
        .resolve(&request(token("another-secret-of-at-least-32-bytes!!")))
        .await;
    assert!(forged.is_err());
}
