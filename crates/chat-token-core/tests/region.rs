//! The region (`twr` header): an empty region is no region, as in Twilio's Python, Node,
//! Go, Java and PHP helpers; any other value must be a region code.

use base64::Engine as _;
use chat_token_core::{
    AccessToken, ChatGrant, Credentials, TokenError, TokenIssuer, clock::FixedClock,
};

fn issuer() -> TokenIssuer {
    TokenIssuer::new(
        Credentials::try_new(
            "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            "cccccccccccccccccccccccccccccccc",
        )
        .expect("credentials"),
    )
    .with_clock(FixedClock(1_700_000_000))
}

fn token() -> AccessToken {
    AccessToken::new()
        .with_identity("alice")
        .with_grant(ChatGrant::new().with_service_sid("ISdddddddddddddddddddddddddddddddd"))
}

fn header(jwt: &str) -> String {
    let header = jwt.split('.').next().expect("header");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("base64url header");
    String::from_utf8(bytes).expect("UTF-8 header")
}

#[test]
fn an_empty_region_mints_the_token_without_a_region() {
    let issuer = issuer();
    let plain = issuer.mint(&token()).expect("mint").into_jwt();
    let empty = issuer
        .mint(&token().with_region(""))
        .expect("mint")
        .into_jwt();
    assert_eq!(empty, plain);
    assert_eq!(
        header(&empty),
        r#"{"alg":"HS256","cty":"twilio-fpa;v=1","typ":"JWT"}"#
    );
}

#[test]
fn an_empty_region_clears_an_earlier_one() {
    let issuer = issuer();
    let plain = issuer.mint(&token()).expect("mint").into_jwt();
    let cleared = issuer
        .mint(&token().with_region("ie1").with_region(""))
        .expect("mint")
        .into_jwt();
    assert_eq!(cleared, plain);
}

#[test]
fn a_region_code_is_written_as_twr() {
    let jwt = issuer()
        .mint(&token().with_region("ie1"))
        .expect("mint")
        .into_jwt();
    assert_eq!(
        header(&jwt),
        r#"{"alg":"HS256","cty":"twilio-fpa;v=1","twr":"ie1","typ":"JWT"}"#
    );
}

#[test]
fn other_malformed_regions_are_still_refused() {
    let issuer = issuer();
    for bad in ["US", " us1", "us1 ", "ie_1", "ie1\n", " "] {
        let err = issuer.mint(&token().with_region(bad)).expect_err(bad);
        let len = bad.chars().count();
        assert_eq!(err, TokenError::InvalidRegion { len }, "{bad:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "region must be a Twilio region code such as us1, ie1 or au1 (lower-case letters, digits and '-'), got {len} characters that are not"
            )
        );
    }
}
