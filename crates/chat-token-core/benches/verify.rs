//! Bearer-JWT signature verification with each jsonwebtoken backend, side by side in one
//! run: RS256 (RSA-2048) and ES256 (P-256), the key prepared once, as the JWKS cache
//! holds it. `cargo bench -p chat-token-core --features rust-crypto,aws-lc-rs --bench
//! verify`; `cargo xtask bench` runs it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};

fn token(alg: Algorithm, key: &EncodingKey) -> (Vec<u8>, Vec<u8>) {
    chat_token_core::crypto::ensure_jsonwebtoken_provider();
    let claims = serde_json::json!({"sub": "user-123", "aud": "chat", "exp": 4_000_000_000u64});
    let jwt = jsonwebtoken::encode(&Header::new(alg), &claims, key).expect("sign");
    let (message, signature) = jwt.rsplit_once('.').expect("three parts");
    (
        message.as_bytes().to_vec(),
        URL_SAFE_NO_PAD.decode(signature).expect("b64"),
    )
}

fn verify(c: &mut Criterion) {
    let rsa = include_bytes!("../tests/data/jwt/rsa1.pem");
    let ec = include_bytes!("../tests/data/jwt/key1.pem");
    let jwks: serde_json::Value =
        serde_json::from_str(include_str!("../tests/data/jwt/public-jwks.json")).expect("jwks");
    let cases = [
        (
            "rs256",
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(rsa).expect("rsa"),
            &jwks["rsa1"],
        ),
        (
            "es256",
            Algorithm::ES256,
            EncodingKey::from_ec_pem(ec).expect("ec"),
            &jwks["key1"],
        ),
    ];
    let providers: [(&str, &CryptoProvider); 2] = [
        (
            "rust_crypto",
            &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER,
        ),
        ("aws_lc_rs", &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER),
    ];
    for (name, alg, encoding, jwk) in cases {
        let (message, signature) = token(alg, &encoding);
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).expect("jwk");
        let decoding = DecodingKey::from_jwk(&jwk).expect("decoding key");
        for (backend, provider) in providers {
            let verifier = (provider.verifier_factory)(&alg, &decoding).expect("verifier");
            verifier.verify(&message, &signature).expect("valid");
            c.bench_function(&format!("verify_{name}_{backend}"), |b| {
                b.iter(|| verifier.verify(&message, &signature).expect("valid"));
            });
            c.bench_function(&format!("verify_{name}_{backend}_with_key_setup"), |b| {
                b.iter(|| {
                    let verifier = (provider.verifier_factory)(&alg, &decoding).expect("verifier");
                    verifier.verify(&message, &signature).expect("valid")
                });
            });
        }
    }
}

criterion_group!(benches, verify);
criterion_main!(benches);
