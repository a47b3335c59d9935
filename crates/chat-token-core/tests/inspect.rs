//! The inspector against tokens in every official helper's shape, bad tokens for each
//! Twilio error code, and garbage. See `tests/data/helper_shapes.json` for how each token
//! was obtained (`xtask/shapes/make_shapes.py` regenerates the file).

use chat_token_core::{
    InspectError, SecretString, inspect, inspect::SignatureCheck, inspect::TwilioErrorCode,
};
use serde_json::Value;

const SHAPES: &str = include_str!("data/helper_shapes.json");
const SECRET: &str = "cccccccccccccccccccccccccccccccc";

fn secret() -> SecretString {
    SecretString::from(SECRET)
}

fn shapes() -> Vec<Value> {
    serde_json::from_str::<Value>(SHAPES)
        .expect("shapes json")
        .as_array()
        .expect("array")
        .clone()
}

#[test]
fn every_helpers_shape_is_accepted() {
    let mut helpers = std::collections::BTreeSet::new();
    for shape in shapes().iter().filter(|s| s["accepted"] == true) {
        let name = shape["name"].as_str().unwrap();
        let now = shape["now"].as_u64().unwrap();
        let inspection = inspect(shape["token"].as_str().unwrap(), Some(&secret()), now)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(inspection.problems(), &[], "{name}");
        assert_eq!(inspection.signature(), SignatureCheck::Valid, "{name}");
        assert!(inspection.is_accepted(), "{name}");
        assert!(inspection.identity().is_some(), "{name}");
        helpers.insert(shape["helper"].as_str().unwrap().to_owned());
    }
    for helper in ["python", "node", "ruby", "php"] {
        assert!(helpers.contains(helper), "no {helper} token tested");
    }
}

#[test]
fn php_escapes_and_raw_utf8_decode_to_the_same_identity() {
    let find = |name: &str| {
        let shape = shapes()
            .into_iter()
            .find(|s| s["name"] == name)
            .expect(name);
        inspect(shape["token"].as_str().unwrap(), None, 1_700_000_010)
            .unwrap()
            .identity()
            .map(str::to_owned)
    };
    assert_eq!(find("php-chat").as_deref(), Some("zoë/alice"));
    assert_eq!(find("ruby-chat").as_deref(), Some("zoë/alice"));
}

#[test]
fn each_bad_token_gets_its_twilio_code() {
    let mut seen = std::collections::BTreeSet::new();
    for shape in shapes().iter().filter(|s| s["accepted"] == false) {
        let name = shape["name"].as_str().unwrap();
        let now = shape["now"].as_u64().unwrap();
        let inspection = inspect(shape["token"].as_str().unwrap(), Some(&secret()), now).unwrap();
        assert!(!inspection.is_accepted(), "{name}");
        let codes: Vec<u32> = inspection
            .problems()
            .iter()
            .map(|p| p.code.code())
            .collect();
        for want in shape["codes"].as_array().unwrap() {
            let want = want.as_u64().unwrap() as u32;
            assert!(codes.contains(&want), "{name}: want {want}, got {codes:?}");
            seen.insert(want);
        }
        // Only the fault that was put in is reported.
        assert!(
            codes
                .iter()
                .all(|c| shape["codes"].as_array().unwrap().contains(&(*c).into())),
            "{name}: extra codes in {codes:?}"
        );
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [20102, 20103, 20104, 20105, 20106, 20107, 20157]
    );
}

#[test]
fn without_the_secret_the_signature_is_not_checked() {
    let shape = &shapes()[0];
    let inspection = inspect(shape["token"].as_str().unwrap(), None, 1_700_000_010).unwrap();
    assert_eq!(inspection.signature(), SignatureCheck::NotChecked);
    assert!(inspection.problems().is_empty());
    assert!(!inspection.is_accepted());
    assert!(!inspection.has(TwilioErrorCode::InvalidSignature));
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let huge = "a".repeat(1 << 20);
    type Check = fn(&InspectError) -> bool;
    let cases: [(&str, Check); 7] = [
        ("", |e| matches!(e, InspectError::NotThreeParts { .. })),
        ("abc", |e| {
            matches!(e, InspectError::NotThreeParts { parts: 1 })
        }),
        ("a.b.c.d", |e| {
            matches!(e, InspectError::NotThreeParts { parts: 4 })
        }),
        ("%%%.e30.x", |e| {
            matches!(e, InspectError::NotBase64 { part: "header" })
        }),
        ("e30.bm90IGpzb24.x", |e| {
            matches!(e, InspectError::NotJsonObject { part: "payload" })
        }),
        ("WzEsMl0.e30.x", |e| {
            matches!(e, InspectError::NotJsonObject { part: "header" })
        }),
        (huge.as_str(), |e| matches!(e, InspectError::TooLong { .. })),
    ];
    for (input, check) in cases {
        let err = inspect(input, Some(&secret()), 0).unwrap_err();
        assert!(check(&err), "{err:?}");
    }
}

#[test]
fn wrong_types_are_problems_not_panics() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let header = b64(r#"{"alg":7,"cty":null,"typ":[],"twr":{}}"#);
    let payload = b64(
        r#"{"iss":1,"sub":{},"exp":"soon","nbf":-1,"iat":1.5,"grants":{"identity":3,"chat":"x"}}"#,
    );
    let inspection = inspect(&format!("{header}.{payload}.!!"), Some(&secret()), 10).unwrap();
    for code in [20102, 20103, 20104, 20105, 20106, 20107] {
        assert!(
            inspection.problems().iter().any(|p| p.code.code() == code),
            "{code} missing in {:?}",
            inspection.problems()
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { failure_persistence: None, ..proptest::prelude::ProptestConfig::default() })]

    #[test]
    fn never_panics_on_any_string(s in ".{0,400}") {
        let _ = inspect(&s, Some(&secret()), 1_700_000_000);
    }

    #[test]
    fn never_panics_on_three_random_parts(a in "[A-Za-z0-9_=-]{0,80}", b in "[A-Za-z0-9_=-]{0,200}", c in "[A-Za-z0-9_=-]{0,60}") {
        let _ = inspect(&format!("{a}.{b}.{c}"), Some(&secret()), 1_700_000_000);
    }

    #[test]
    fn never_panics_on_arbitrary_json_claims(json in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        use base64::Engine as _;
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let token = format!("{}.{}.{}", e.encode(br#"{"alg":"HS256","cty":"twilio-fpa;v=1"}"#), e.encode(&json), e.encode([0u8; 32]));
        let _ = inspect(&token, Some(&secret()), 1_700_000_000);
    }
}
