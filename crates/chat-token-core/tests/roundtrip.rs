//! Property tests: every token this crate mints verifies with an independent decoder
//! (jsonwebtoken, whichever crypto backend features are on, both included) and is
//! accepted by the crate's own inspector with the same claims.

use chat_token_core::{
    AccessToken, ChatGrant, Credentials, Grant, NotBefore, SyncGrant, TaskRouterGrant, TokenIssuer,
    VideoGrant, VoiceGrant, clock::FixedClock,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use proptest::prelude::*;
use serde_json::Value;

const AC: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SK: &str = "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn decode(jwt: &str, secret: &str) -> (jsonwebtoken::Header, Value) {
    chat_token_core::crypto::ensure_jsonwebtoken_provider();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[SK]);
    let data = jsonwebtoken::decode::<Value>(
        jwt,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .expect("jsonwebtoken accepts the token");
    (data.header, data.claims)
}

fn grant() -> impl Strategy<Value = Grant> {
    prop_oneof![
        Just(
            ChatGrant::new()
                .with_service_sid(format!("IS{}", "d".repeat(32)))
                .into()
        ),
        "[a-z:@./]{0,20}".prop_map(|e| ChatGrant::new().with_endpoint_id(e).into()),
        Just(
            SyncGrant::new()
                .with_service_sid(format!("IS{}", "0".repeat(32)))
                .into()
        ),
        ".{0,12}".prop_map(|r| VideoGrant::new().with_room(r).into()),
        Just(VoiceGrant::new().with_incoming_allow(true).into()),
        Just(TaskRouterGrant::new().with_role("worker").into()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn minted_tokens_verify_independently(
        identity in "[A-Za-z0-9_]{1,40}",
        secret in "[!-~]{1,64}",
        now in 1_000_000_000u64..4_000_000_000,
        ttl in 1u64..=86_400,
        omit_nbf in any::<bool>(),
        grants in proptest::collection::vec(grant(), 1..4),
    ) {
        let issuer = TokenIssuer::new(Credentials::try_new(AC, SK, secret.clone()).unwrap())
            .with_clock(FixedClock(now));
        let mut token = AccessToken::new().with_identity(identity.clone()).with_ttl(ttl).with_grants(grants);
        if omit_nbf {
            token = token.with_not_before(NotBefore::Omit);
        }
        let minted = issuer.mint(&token).unwrap();

        let (header, claims) = decode(minted.jwt(), &secret);
        prop_assert_eq!(header.cty.as_deref(), Some("twilio-fpa;v=1"));
        prop_assert_eq!(header.typ.as_deref(), Some("JWT"));
        prop_assert_eq!(claims["grants"]["identity"].as_str(), Some(identity.as_str()));
        prop_assert_eq!(claims["exp"].as_u64(), Some(now + ttl));
        prop_assert_eq!(claims["sub"].as_str(), Some(AC));
        prop_assert_eq!(claims["jti"].as_str().map(str::to_owned), Some(format!("{SK}-{now}")));
        prop_assert_eq!(claims.get("nbf").is_none(), omit_nbf);
        prop_assert!(claims.get("iat").is_none());

        let inspection = issuer.inspect(minted.jwt()).unwrap();
        prop_assert!(inspection.is_accepted(), "{:?}", inspection.problems());
        prop_assert_eq!(&Value::Object(inspection.claims().clone()), &claims);
    }
}

#[test]
fn the_active_backend_signs_what_jsonwebtoken_verifies() {
    let secret = "cccccccccccccccccccccccccccccccc";
    let issuer = TokenIssuer::new(Credentials::try_new(AC, SK, secret).unwrap())
        .with_clock(FixedClock(1_700_000_000));
    let minted = issuer
        .mint(
            &AccessToken::new()
                .with_identity("alice")
                .with_grant(ChatGrant::new()),
        )
        .unwrap();
    let (_, claims) = decode(minted.jwt(), secret);
    assert_eq!(claims["grants"]["identity"], "alice");
    eprintln!("signed with {}", chat_token_core::crypto::BACKEND);
}
