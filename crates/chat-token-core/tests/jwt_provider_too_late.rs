//! With both crypto backends on, an app that used jsonwebtoken before any provider was
//! installed leaves jsonwebtoken with a provider that panics at every use: building a
//! bearer-JWT resolver then fails and says why, rather than every request panicking. A
//! file of its own, as the provider is chosen once per process.
#![cfg(all(feature = "rust-crypto", feature = "aws-lc-rs"))]

use chat_token_core::SecretString;
use chat_token_core::resolvers::{JwtBearerResolver, JwtConfigError};
use jsonwebtoken::{EncodingKey, Header, encode};

#[test]
fn a_resolver_built_after_jsonwebtoken_chose_no_provider_is_refused() {
    let early = std::panic::catch_unwind(|| {
        encode(
            &Header::default(),
            &serde_json::json!({"sub": "x"}),
            &EncodingKey::from_secret(b"secret"),
        )
    });
    assert!(early.is_err(), "jsonwebtoken panics without a provider");
    let built =
        JwtBearerResolver::hs256(SecretString::from("a-shared-secret-of-at-least-32-bytes!"))
            .issuer("https://login.example/")
            .audience("chat")
            .build();
    assert_eq!(built.unwrap_err(), JwtConfigError::NoJwtProvider);
}
