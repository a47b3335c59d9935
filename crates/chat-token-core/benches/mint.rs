//! Minting and verifying the reference chat token (identity `alice` and a chat grant with
//! service, endpoint and push credential, as `token()` builds it), with
//! `jsonwebtoken::encode` of the same header and claims as an in-run baseline; one token
//! request for the same token through `TokenService::handle`, in process.

use std::hint::black_box;

use chat_token_core::{AccessToken, ChatGrant, Credentials, TokenIssuer, clock::FixedClock};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const AC: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SK: &str = "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const SECRET: &str = "cccccccccccccccccccccccccccccccc";
const NOW: u64 = 1_700_000_000;

fn token() -> AccessToken {
    AccessToken::new().with_identity("alice").with_grant(
        ChatGrant::new()
            .with_service_sid(format!("IS{}", "d".repeat(32)))
            .with_endpoint_id("app:alice@example.com:browser")
            .with_push_credential_sid(format!("CR{}", "e".repeat(32))),
    )
}

fn bench(c: &mut Criterion) {
    chat_token_core::crypto::ensure_jsonwebtoken_provider();
    let issuer = TokenIssuer::new(Credentials::try_new(AC, SK, SECRET).expect("credentials"))
        .with_clock(FixedClock(NOW));
    let token = token();
    let jwt = issuer.mint(&token).expect("mint").into_jwt();

    let mut group = c.benchmark_group("token");
    group.throughput(Throughput::Elements(1));
    group.bench_function("mint", |b| {
        b.iter(|| issuer.mint(black_box(&token)).map(|m| m.into_jwt()))
    });
    group.finish();

    // Two threads minting at once: each iteration is one token on each thread.
    let mut group = c.benchmark_group("token_2_threads");
    group.throughput(Throughput::Elements(2));
    group.bench_function("mint", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        for _ in 0..iters {
                            black_box(issuer.mint(black_box(&token)).map(|m| m.into_jwt()).ok());
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    group.finish();

    let mut group = c.benchmark_group("token");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify", |b| {
        let checker = issuer.clone().with_clock(FixedClock(NOW + 1));
        b.iter(|| checker.inspect(black_box(&jwt)).map(|i| i.is_accepted()))
    });

    // The same header and claims through jsonwebtoken, for comparison.
    let header = jsonwebtoken::Header {
        typ: Some("JWT".into()),
        cty: Some("twilio-fpa;v=1".into()),
        ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
    };
    let claims: serde_json::Value = serde_json::json!({
        "jti": format!("{SK}-{NOW}"),
        "grants": {
            "chat": {
                "service_sid": format!("IS{}", "d".repeat(32)),
                "endpoint_id": "app:alice@example.com:browser",
                "push_credential_sid": format!("CR{}", "e".repeat(32)),
            },
            "identity": "alice",
        },
        "iss": SK, "exp": NOW + 3600, "nbf": NOW, "sub": AC,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
    group.bench_function("jsonwebtoken_encode", |b| {
        b.iter(|| jsonwebtoken::encode(black_box(&header), black_box(&claims), &key))
    });
    group.finish();
}

/// Why minting encodes with base64-simd and not the `base64` crate used everywhere else:
/// the reference token's payload and signature encoded into one string, as `mint` does,
/// by each crate.
fn base64url(c: &mut Criterion) {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let issuer = TokenIssuer::new(Credentials::try_new(AC, SK, SECRET).expect("credentials"))
        .with_clock(FixedClock(NOW));
    let jwt = issuer.mint(&token()).expect("mint").into_jwt();
    let mut parts = jwt.split('.').skip(1);
    let mut part = || {
        URL_SAFE_NO_PAD
            .decode(parts.next().expect("part"))
            .expect("base64url")
    };
    let (payload, tag) = (part(), part());
    let capacity = jwt.len();
    let mut group = c.benchmark_group("base64url_payload_and_tag");
    group.bench_function("base64_simd", |b| {
        b.iter(|| {
            let mut out = String::with_capacity(capacity);
            base64_simd::URL_SAFE_NO_PAD.encode_append(black_box(&payload), &mut out);
            base64_simd::URL_SAFE_NO_PAD.encode_append(black_box(&tag), &mut out);
            out
        })
    });
    group.bench_function("base64", |b| {
        b.iter(|| {
            let mut out = String::with_capacity(capacity);
            URL_SAFE_NO_PAD.encode_string(black_box(&payload), &mut out);
            URL_SAFE_NO_PAD.encode_string(black_box(&tag), &mut out);
            out
        })
    });
    group.finish();
}

/// One static-users lookup (a digest and a hash-map probe), with 2 and 50,000 users.
fn lookup(c: &mut Criterion) {
    for count in [2usize, 50_000] {
        let pairs: Vec<(String, String)> = (0..count)
            .map(|n| (format!("tok-{n:016}"), format!("user{n}")))
            .collect();
        let users = chat_token_core::StaticUsers::try_new(pairs).expect("users");
        let token = format!("tok-{:016}", count - 1);
        c.bench_function(&format!("static_users_lookup_{count}"), |b| {
            b.iter(|| users.lookup(std::hint::black_box(&token)))
        });
    }
}

/// One token request through `TokenService::handle`, in process: what each adapter's
/// ready route runs once the request is converted (the bearer token looked up in a users
/// table, the identity checked, the token minted, the JSON body and headers written), for
/// the same token as `mint`.
fn request(c: &mut Criterion) {
    use futures_util::FutureExt as _;
    let issuer = TokenIssuer::new(Credentials::try_new(AC, SK, SECRET).expect("credentials"))
        .with_clock(FixedClock(NOW));
    let users: chat_token_core::StaticUsers = "tok-0123456789abcdef=alice".parse().expect("users");
    let service = chat_token_core::TokenService::builder(issuer, users)
        .grants(token().grants().iter().cloned())
        .build()
        .expect("service");
    let req = chat_token_core::IncomingRequest::new("GET", "/token")
        .with_header("authorization", "Bearer tok-0123456789abcdef");
    let answered = service
        .handle(&req)
        .now_or_never()
        .expect("ready at the first poll");
    assert_eq!(answered.status, 200, "{}", answered.body);
    let mut group = c.benchmark_group("token_request");
    group.throughput(Throughput::Elements(1));
    group.bench_function("handle", |b| {
        // The users table answers at once, so the answer is ready at the first poll.
        b.iter(|| service.handle(black_box(&req)).now_or_never())
    });
    group.finish();
}

criterion_group!(benches, bench, base64url, lookup, request);
criterion_main!(benches);
