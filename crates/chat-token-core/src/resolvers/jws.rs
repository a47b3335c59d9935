//! Checking a compact JWS (a bearer JWT): its parts split and decoded once, the signature
//! checked with a key prepared when it was loaded, then the registered claims.
//!
//! With the `aws-lc-rs` feature, public keys are parsed into aws-lc-rs verifying keys
//! once, when the JWKS is fetched, so a request pays for the signature operation alone.
//! Without it, keys are decoded once and each signature is checked by jsonwebtoken's
//! RustCrypto provider (named, not taken from the process default). HS256 uses the
//! crate's own HMAC with a constant-time comparison.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::Jwk;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::crypto::HmacKey;
use crate::resolver::ResolveError;

/// The smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_BYTES: usize = 256;

/// A key that verifies the signatures of exactly one algorithm, prepared once.
pub(crate) struct VerifyingKey {
    alg: Algorithm,
    inner: Inner,
}

enum Inner {
    Hmac(HmacKey),
    #[cfg(feature = "aws-lc-rs")]
    Parsed(aws_lc_rs::signature::ParsedPublicKey),
    #[cfg(not(feature = "aws-lc-rs"))]
    Decoding(jsonwebtoken::DecodingKey),
}

impl VerifyingKey {
    /// An HS256 key from a shared secret.
    pub(crate) fn hs256(secret: &[u8]) -> Self {
        Self {
            alg: Algorithm::HS256,
            inner: Inner::Hmac(HmacKey::new(secret)),
        }
    }

    /// The key a JWK describes, for `alg` (chosen by the caller from the JWK's own `alg`
    /// and key type), or `None` when its parameters do not form a key.
    /// RSA keys under 2048 bits are refused, whichever backend is built (RFC 7518, 3.3).
    pub(crate) fn from_jwk(jwk: &Jwk, alg: Algorithm) -> Option<Self> {
        if let jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) = &jwk.algorithm {
            let n = URL_SAFE_NO_PAD.decode(&rsa.n).ok()?;
            let significant = n.iter().skip_while(|b| **b == 0).count();
            if significant < MIN_RSA_BYTES {
                return None;
            }
        }
        let inner = parse_public(jwk, alg)?;
        Some(Self { alg, inner })
    }

    /// The one algorithm this key verifies.
    pub(crate) fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Whether `signature` (base64url, as in the token) is this key's signature of
    /// `message`.
    fn verifies(&self, message: &[u8], signature: &str) -> bool {
        let decoded = || URL_SAFE_NO_PAD.decode(signature).ok();
        match &self.inner {
            Inner::Hmac(key) => decoded().is_some_and(|sig| key.verify(message, &sig)),
            #[cfg(feature = "aws-lc-rs")]
            Inner::Parsed(key) => {
                decoded().is_some_and(|sig| key.verify_sig(message, &sig).is_ok())
            }
            #[cfg(not(feature = "aws-lc-rs"))]
            Inner::Decoding(key) => {
                // RustCrypto's provider by name, not the process default: another crate
                // may have turned on jsonwebtoken's aws-lc-rs feature too, and then the
                // default must be installed first.
                let factory = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.verifier_factory;
                match (factory(&self.alg, key), decoded()) {
                    (Ok(verifier), Some(sig)) => verifier.verify(message, &sig).is_ok(),
                    _ => false,
                }
            }
        }
    }
}

#[cfg(feature = "aws-lc-rs")]
fn parse_public(jwk: &Jwk, alg: Algorithm) -> Option<Inner> {
    use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaPublicKeyComponents};
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve};

    let bytes = |text: &str| URL_SAFE_NO_PAD.decode(text).ok();
    let parsed = match (&jwk.algorithm, alg) {
        (AlgorithmParameters::RSA(rsa), _) => {
            let params: &'static sig::RsaParameters = match alg {
                Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
                Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
                Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
                Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
                Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
                _ => return None,
            };
            let (n, e) = (bytes(&rsa.n)?, bytes(&rsa.e)?);
            let components = RsaPublicKeyComponents {
                n: &n[..],
                e: &e[..],
            };
            components.to_parsed_public_key(params).ok()?
        }
        (AlgorithmParameters::EllipticCurve(ec), _) => {
            let (params, len): (&'static sig::EcdsaVerificationAlgorithm, usize) =
                match (ec.curve.clone(), alg) {
                    (EllipticCurve::P256, Algorithm::ES256) => (&sig::ECDSA_P256_SHA256_FIXED, 32),
                    (EllipticCurve::P384, Algorithm::ES384) => (&sig::ECDSA_P384_SHA384_FIXED, 48),
                    _ => return None,
                };
            let (x, y) = (bytes(&ec.x)?, bytes(&ec.y)?);
            if x.len() != len || y.len() != len {
                return None;
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            ParsedPublicKey::new(params, point).ok()?
        }
        (AlgorithmParameters::OctetKeyPair(okp), Algorithm::EdDSA)
            if okp.curve == EllipticCurve::Ed25519 =>
        {
            let x = bytes(&okp.x)?;
            if small_order_ed25519(&x) {
                return None;
            }
            ParsedPublicKey::new(&sig::ED25519, x).ok()?
        }
        _ => return None,
    };
    Some(Inner::Parsed(parsed))
}

#[cfg(not(feature = "aws-lc-rs"))]
fn parse_public(jwk: &Jwk, _alg: Algorithm) -> Option<Inner> {
    if let jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(okp) = &jwk.algorithm
        && URL_SAFE_NO_PAD
            .decode(&okp.x)
            .map_or(true, |x| small_order_ed25519(&x))
    {
        return None;
    }
    jsonwebtoken::DecodingKey::from_jwk(jwk)
        .ok()
        .map(Inner::Decoding)
}

/// Whether `key` encodes an Ed25519 point of small order (or is not 32 bytes): such a
/// key verifies signatures its publisher never made. The encodings, sign bit ignored.
fn small_order_ed25519(key: &[u8]) -> bool {
    const fn ends(first: u8, fill: u8, last: u8) -> [u8; 32] {
        let mut p = [fill; 32];
        p[0] = first;
        p[31] = last;
        p
    }
    const SMALL_ORDER: [[u8; 32]; 7] = [
        [0; 32],
        ends(1, 0, 0),
        [
            0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef,
            0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88,
            0x6d, 0x53, 0xfc, 0x05,
        ],
        [
            0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10,
            0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77,
            0x92, 0xac, 0x03, 0x7a,
        ],
        ends(0xec, 0xff, 0x7f),
        ends(0xed, 0xff, 0x7f),
        ends(0xee, 0xff, 0x7f),
    ];
    let Ok(key) = <[u8; 32]>::try_from(key) else {
        return true;
    };
    SMALL_ORDER
        .iter()
        .any(|p| p[..31] == key[..31] && p[31] == key[31] & 0x7f)
}

/// The header fields a bearer JWT is checked with.
#[derive(Deserialize)]
pub(crate) struct Header {
    /// The algorithm the token claims to be signed with.
    pub(crate) alg: Algorithm,
    /// The id of the key that signed it.
    #[serde(default)]
    pub(crate) kid: Option<String>,
    /// Whether a `crit` member is present, whatever its value.
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// A compact JWS split into its parts, its header decoded; nothing verified yet.
pub(crate) struct Compact<'t> {
    /// The decoded header.
    pub(crate) header: Header,
    /// `header.payload`, the bytes the signature covers.
    signed: &'t str,
    payload: &'t str,
    signature: &'t str,
}

fn not_jwt() -> ResolveError {
    ResolveError::invalid("the bearer token is not a JWT")
}

impl<'t> Compact<'t> {
    /// Splits `token` into header, payload and signature, and decodes the header, refusing
    /// one with critical extensions (`crit`), which no verifier here understands.
    pub(crate) fn parse(token: &'t str) -> Result<Self, ResolveError> {
        let (signed, signature) = token.rsplit_once('.').ok_or_else(not_jwt)?;
        let (header, payload) = signed.split_once('.').ok_or_else(not_jwt)?;
        if payload.contains('.') {
            return Err(not_jwt());
        }
        let header = URL_SAFE_NO_PAD.decode(header).map_err(|_| not_jwt())?;
        let header: Header = serde_json::from_slice(&header).map_err(|_| not_jwt())?;
        if header.crit {
            return Err(ResolveError::invalid(
                "the bearer token has critical header extensions (crit), which are not supported",
            ));
        }
        Ok(Self {
            header,
            signed,
            payload,
            signature,
        })
    }

    /// The claims, once the signature is checked with `key`, which must be a key for the
    /// header's algorithm.
    pub(crate) fn verify(&self, key: &VerifyingKey) -> Result<Map<String, Value>, ResolveError> {
        if self.header.alg != key.algorithm() {
            return Err(ResolveError::invalid(
                "the bearer token's algorithm does not match its key",
            ));
        }
        if !key.verifies(self.signed.as_bytes(), self.signature) {
            return Err(ResolveError::invalid(
                "the bearer token's signature is invalid",
            ));
        }
        let payload = URL_SAFE_NO_PAD
            .decode(self.payload)
            .map_err(|_| not_jwt())?;
        serde_json::from_slice::<UniqueClaims>(&payload)
            .map(|claims| claims.0)
            .map_err(|_| {
                ResolveError::invalid(
                    "the bearer token's claims are not one JSON object with each name once",
                )
            })
    }
}

/// A payload object whose member names are all different, at every depth: with a
/// repeated name, parsers that keep the first and those that keep the last would read
/// different claims (a role inside `realm_access`, say).
struct UniqueClaims(Map<String, Value>);

/// A JSON value whose objects, at every depth, name each member once.
struct UniqueValue(Value);

impl<'de> Deserialize<'de> for UniqueValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<UniqueValue, E> {
                Ok(UniqueValue(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<UniqueValue, E> {
                Ok(UniqueValue(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<UniqueValue, E> {
                Ok(UniqueValue(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<UniqueValue, E> {
                Ok(UniqueValue(Value::from(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<UniqueValue, E> {
                Ok(UniqueValue(Value::String(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<UniqueValue, E> {
                Ok(UniqueValue(Value::String(v)))
            }
            fn visit_unit<E>(self) -> Result<UniqueValue, E> {
                Ok(UniqueValue(Value::Null))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<UniqueValue, A::Error> {
                let mut items = Vec::new();
                while let Some(UniqueValue(item)) = seq.next_element()? {
                    items.push(item);
                }
                Ok(UniqueValue(Value::Array(items)))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<UniqueValue, A::Error> {
                unique_members(map).map(|members| UniqueValue(Value::Object(members)))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The members of a JSON object, each name once (else an error naming it).
fn unique_members<'de, A: serde::de::MapAccess<'de>>(
    mut map: A,
) -> Result<Map<String, Value>, A::Error> {
    let mut members = Map::new();
    while let Some((name, UniqueValue(value))) = map.next_entry::<String, UniqueValue>()? {
        if members.contains_key(&name) {
            return Err(serde::de::Error::custom(format!(
                "the member {name:?} appears twice"
            )));
        }
        members.insert(name, value);
    }
    Ok(members)
}

impl<'de> Deserialize<'de> for UniqueClaims {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueClaims;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<UniqueClaims, A::Error> {
                unique_members(map).map(UniqueClaims)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// The registered claims every bearer JWT is checked against.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRules {
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub(crate) leeway: u64,
    /// The required `iss`, if any.
    pub(crate) issuer: Option<String>,
    /// The required `aud` (or one of the `aud` array), if any.
    pub(crate) audience: Option<String>,
}

/// The token's validity window, from its claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    /// `exp`, in Unix seconds.
    pub(crate) exp: u64,
    /// `nbf`, in Unix seconds, when present.
    pub(crate) nbf: Option<u64>,
}

/// The first NumericDate refused: 2^63 seconds, as an integer or a float alike.
const TIME_LIMIT: u64 = 1 << 63;

/// A NumericDate claim in whole seconds: a JSON number (never a string), non-negative
/// and below 2^63, a fraction rounded down. Larger ones, integer or float, are refused,
/// not read as "never".
fn seconds(value: &Value) -> Option<u64> {
    match value.as_u64() {
        Some(whole) => Some(whole).filter(|s| *s < TIME_LIMIT),
        None => value
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0 && *f < 9.2e18)
            .map(|f| f as u64),
    }
}

impl ClaimRules {
    /// Checks `exp`, `nbf`, `iat`, `iss` and `aud` at `now`, in that order.
    pub(crate) fn check(
        &self,
        claims: &Map<String, Value>,
        now: u64,
    ) -> Result<Window, ResolveError> {
        let missing =
            || ResolveError::invalid("the bearer token lacks a required claim (exp, aud or iss)");
        let bad_time = || ResolveError::invalid("the bearer token's exp or nbf is not a number");
        let exp = seconds(claims.get("exp").ok_or_else(missing)?).ok_or_else(bad_time)?;
        let nbf = match claims.get("nbf") {
            None => None,
            Some(value) => Some(seconds(value).ok_or_else(bad_time)?),
        };
        let window = Window { exp, nbf };
        window.check(now, self.leeway)?;
        if let Some(iat) = claims.get("iat") {
            let iat = seconds(iat)
                .ok_or_else(|| ResolveError::invalid("the bearer token's iat is not a number"))?;
            if iat > now.saturating_add(self.leeway) {
                return Err(ResolveError::invalid(
                    "the bearer token was issued in the future (iat); check the clocks",
                ));
            }
        }
        if let Some(issuer) = &self.issuer {
            match claims.get("iss").ok_or_else(missing)? {
                Value::String(iss) if iss == issuer => {}
                _ => {
                    return Err(ResolveError::invalid(
                        "the bearer token was issued by another issuer",
                    ));
                }
            }
        }
        if let Some(audience) = &self.audience {
            let matches = match claims.get("aud").ok_or_else(missing)? {
                Value::String(aud) => aud == audience,
                Value::Array(auds) if auds.iter().all(Value::is_string) => {
                    auds.iter().any(|aud| aud.as_str() == Some(audience))
                }
                Value::Array(_) => {
                    return Err(ResolveError::invalid(
                        "the bearer token's aud array holds a member that is not a string",
                    ));
                }
                _ => false,
            };
            if !matches {
                return Err(ResolveError::invalid(
                    "the bearer token was issued for another audience",
                ));
            }
        }
        Ok(window)
    }
}

impl Window {
    /// Refuses the token when `now` is past `exp` or before `nbf`, beyond `leeway`.
    pub(crate) fn check(&self, now: u64, leeway: u64) -> Result<(), ResolveError> {
        if now > self.exp.saturating_add(leeway) {
            return Err(ResolveError::invalid("the bearer token has expired"));
        }
        if self.nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Err(ResolveError::invalid("the bearer token is not valid yet"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_900_000_000;

    fn rules() -> ClaimRules {
        ClaimRules {
            leeway: 30,
            issuer: Some("https://idp.example/".into()),
            audience: Some("chat".into()),
        }
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn message(err: ResolveError) -> String {
        match err {
            ResolveError::InvalidCredentials(message) => message.into_owned(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn registered_claims() {
        let ok = json!({"exp": NOW, "iss": "https://idp.example/", "aud": ["x", "chat"]});
        assert_eq!(
            rules().check(&claims(ok), NOW).ok(),
            Some(Window {
                exp: NOW,
                nbf: None
            })
        );
        let cases = [
            (
                json!({"iss": "https://idp.example/", "aud": "chat"}),
                "lacks",
            ),
            (json!({"exp": NOW, "aud": "chat"}), "lacks"),
            (json!({"exp": NOW, "iss": "https://idp.example/"}), "lacks"),
            (
                json!({"exp": "soon", "iss": "https://idp.example/", "aud": "chat"}),
                "not a number",
            ),
            (
                json!({"exp": -1, "iss": "https://idp.example/", "aud": "chat"}),
                "not a number",
            ),
            (
                json!({"exp": NOW - 31, "iss": "https://idp.example/", "aud": "chat"}),
                "expired",
            ),
            (
                json!({"exp": NOW, "nbf": NOW + 31, "iss": "https://idp.example/", "aud": "chat"}),
                "not valid yet",
            ),
            (
                json!({"exp": NOW, "iss": ["https://idp.example/"], "aud": "chat"}),
                "another issuer",
            ),
            (
                json!({"exp": NOW, "iss": "https://other/", "aud": "chat"}),
                "another issuer",
            ),
            (
                json!({"exp": NOW, "iss": "https://idp.example/", "aud": ["x"]}),
                "another audience",
            ),
            (
                json!({"exp": NOW, "iss": "https://idp.example/", "aud": 7}),
                "another audience",
            ),
        ];
        for (value, expected) in cases {
            let err = rules().check(&claims(value.clone()), NOW).err();
            let text = err.map(message).unwrap_or_default();
            assert!(text.contains(expected), "{value}: {text}");
        }
        let within = json!({"exp": NOW - 30, "nbf": NOW as f64 + 30.5, "iss": "https://idp.example/", "aud": "chat"});
        assert!(rules().check(&claims(within), NOW).is_ok());
    }

    #[test]
    fn compact_form() {
        let header = |json: &str| URL_SAFE_NO_PAD.encode(json);
        let good = format!("{}.e30.c2ln", header(r#"{"alg":"HS256","kid":"k"}"#));
        let parsed = Compact::parse(&good)
            .ok()
            .map(|c| (c.header.alg, c.header.kid));
        assert_eq!(parsed, Some((Algorithm::HS256, Some("k".into()))));
        let refused = [
            "no-dots".to_owned(),
            "a.b".to_owned(),
            format!("{}.e30.c2ln.x", header(r#"{"alg":"HS256"}"#)),
            format!("{}.e30.c2ln", header(r#"{"alg":"none"}"#)),
            format!("{}.e30.c2ln", header(r#"{"alg":"HS256","alg":"RS256"}"#)),
            format!("{}.e30.c2ln", header(r#"{"alg":"HS256","crit":null}"#)),
            format!("{}.e30.c2ln", header(r#"{"alg":"HS256","kid":7}"#)),
        ];
        for token in refused {
            assert!(Compact::parse(&token).is_err(), "{token}");
        }
    }

    #[test]
    fn hs256_signature_and_algorithm() {
        let key = VerifyingKey::hs256(b"a-shared-secret-of-at-least-32-bytes!");
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"exp":1}"#)
        );
        let tag = HmacKey::new(b"a-shared-secret-of-at-least-32-bytes!").sign(signed.as_bytes());
        let token = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag));
        let claims = Compact::parse(&token).and_then(|c| c.verify(&key));
        assert_eq!(
            claims.ok().and_then(|c| c.get("exp").cloned()),
            Some(json!(1))
        );
        let forged = format!("{signed}.{}", URL_SAFE_NO_PAD.encode([0u8; 32]));
        let err = Compact::parse(&forged).and_then(|c| c.verify(&key)).err();
        assert!(
            err.map(message)
                .unwrap_or_default()
                .contains("signature is invalid")
        );
        let rs = format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#));
        let err = Compact::parse(&rs).and_then(|c| c.verify(&key)).err();
        assert!(
            err.map(message)
                .unwrap_or_default()
                .contains("does not match its key")
        );
    }
}
