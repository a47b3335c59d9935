//! Bearer-JWT signature verification with each jsonwebtoken backend, side by side in one
//! run: RS256 (RSA-2048) and ES256 (P-256), the key prepared once, as the JWKS cache
//! holds it; then `JwtBearerResolver::resolve` on 2,000 distinct tokens in turn (cache
//! off), the whole check a request pays, beside the signature alone.
//! `cargo bench -p chat-token-core --features rust-crypto,aws-lc-rs --bench verify`;
//! `cargo xtask bench` runs it.

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

/// The JWKS of the test keys, as a provider would serve it.
struct TestJwks(jsonwebtoken::jwk::JwkSet);

#[chat_token_core::async_trait]
impl chat_token_core::resolvers::JwksSource for TestJwks {
    async fn fetch(&self) -> Result<jsonwebtoken::jwk::JwkSet, String> {
        Ok(self.0.clone())
    }
}

fn resolve(c: &mut Criterion) {
    use chat_token_core::{IdentityResolver as _, IncomingRequest, JwtBearerResolver};
    use futures_util::FutureExt as _;
    let jwks: serde_json::Value =
        serde_json::from_str(include_str!("../tests/data/jwt/public-jwks.json")).expect("jwks");
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(serde_json::json!({"keys": [jwks["rsa1"], jwks["key1"]]}))
            .expect("jwk set");
    let build = |cache: usize| {
        JwtBearerResolver::jwks(TestJwks(set.clone()))
            .issuer("https://idp.bench.test/")
            .audience("chat")
            .verified_cache(cache)
            .build()
            .expect("resolver")
    };
    let (resolver, cached) = (build(0), build(10_000));
    let cases = [
        (
            "rs256",
            Algorithm::RS256,
            "rsa1",
            EncodingKey::from_rsa_pem(include_bytes!("../tests/data/jwt/rsa1.pem")).expect("rsa"),
        ),
        (
            "es256",
            Algorithm::ES256,
            "key1",
            EncodingKey::from_ec_pem(include_bytes!("../tests/data/jwt/key1.pem")).expect("ec"),
        ),
    ];
    for (name, alg, kid, key) in cases {
        let mut header = Header::new(alg);
        header.kid = Some(kid.into());
        let requests: Vec<IncomingRequest> = (0..2_000)
            .map(|n| {
                let claims = serde_json::json!({
                    "sub": format!("user-{n}"), "iss": "https://idp.bench.test/",
                    "aud": "chat", "exp": 4_000_000_000u64,
                });
                let jwt = jsonwebtoken::encode(&header, &claims, &key).expect("sign");
                IncomingRequest::new("GET", "/token")
                    .with_header("authorization", format!("Bearer {jwt}"))
            })
            .collect();
        // Nothing in a check waits once the keys are loaded: each call is ready at once.
        let check = |resolver: &JwtBearerResolver, req: &IncomingRequest| {
            resolver
                .resolve(req)
                .now_or_never()
                .expect("ready")
                .expect("valid")
        };
        check(&resolver, &requests[0]);
        let mut turn = requests.iter().cycle();
        c.bench_function(&format!("resolve_{name}_distinct_tokens"), |b| {
            b.iter(|| check(&resolver, turn.next().expect("cycle")));
        });
        // One token again and again: answered from the verified-token cache.
        c.bench_function(&format!("resolve_{name}_repeated_token"), |b| {
            b.iter(|| check(&cached, &requests[1]));
        });
    }
}

criterion_group!(benches, verify, resolve);
criterion_main!(benches);
