//! Checking a bearer JWT. jsonwebtoken reads it: `decode_header` for the key id, then
//! `decode` with a strict [`Validation`] (the key's one algorithm, `exp` required, `nbf`,
//! `iss`, `aud`, the leeway). What stays here is what jsonwebtoken leaves to its caller:
//! which keys are admitted (RSA of at least 2048 bits, no small-order Ed25519 point),
//! claims whose names each appear once, NumericDates below 2^63 read as whole seconds
//! (the same reading the verified-token cache uses), `iat` not in the future, `iss` a
//! single string, and mapping each refusal to a message for the client.
//!
//! Keys are prepared once, when loaded: with the `aws-lc-rs` feature, public keys are
//! parsed into aws-lc-rs verifying keys, and HS256 keys always have their HMAC pads
//! computed. jsonwebtoken's `decode` takes them through the crate's own extension point,
//! a [`CryptoProvider`](jsonwebtoken::crypto::CryptoProvider) (see
//! [`crate::crypto::ensure_jsonwebtoken_provider`]).

use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, Header, Validation};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::crypto::{HmacKey, Prepared};
use crate::resolver::ResolveError;

/// The smallest RSA modulus accepted, in bits (RFC 7518, 3.3).
const MIN_RSA_BITS: usize = 2048;

/// The largest RSA modulus RustCrypto's `rsa` crate verifies with, in bits: without
/// aws-lc-rs, a larger key is not admitted rather than failing every signature.
#[cfg(not(feature = "aws-lc-rs"))]
const MAX_RSA_BITS: usize = 4096;

/// Whether an RSA public key (big-endian modulus and exponent) is admitted: a modulus
/// of at least [`MIN_RSA_BITS`] (and at most what the backend verifies with), an odd
/// exponent above 1.
fn rsa_admitted(n: &[u8], e: &[u8]) -> bool {
    let bits = |bytes: &[u8]| match bytes.iter().position(|b| *b != 0) {
        Some(first) => (bytes.len() - first) * 8 - bytes[first].leading_zeros() as usize,
        None => 0,
    };
    let odd = e.last().is_some_and(|last| last & 1 == 1);
    #[cfg(not(feature = "aws-lc-rs"))]
    let fits = bits(n) <= MAX_RSA_BITS;
    #[cfg(feature = "aws-lc-rs")]
    let fits = true;
    bits(n) >= MIN_RSA_BITS && fits && odd && bits(e) > 1
}

/// A key that verifies the signatures of exactly one algorithm.
pub(crate) struct VerifyingKey {
    decoding: DecodingKey,
    prepared: Arc<Prepared>,
}

impl VerifyingKey {
    /// An HS256 key from a shared secret.
    pub(crate) fn hs256(secret: &[u8]) -> Self {
        Self {
            decoding: DecodingKey::from_secret(secret),
            prepared: Arc::new(Prepared::hmac(HmacKey::new(secret))),
        }
    }

    /// The key a JWK describes, for `alg` (chosen by the caller from the JWK's own `alg`
    /// and key type), or `None` when it is not admitted: its parameters do not form a
    /// key, an RSA key that [`rsa_admitted`] refuses, or an Ed25519 point of small order,
    /// whichever backend is built.
    pub(crate) fn from_jwk(jwk: &Jwk, alg: Algorithm) -> Option<Self> {
        let decoding = DecodingKey::from_jwk(jwk).ok()?;
        let admitted = match decoding.kind() {
            DecodingKeyKind::RsaModulusExponent { n, e } => rsa_admitted(n, e),
            DecodingKeyKind::SecretOrDer(point) => {
                alg != Algorithm::EdDSA || !small_order_ed25519(point)
            }
        };
        if !admitted {
            return None;
        }
        #[cfg(feature = "aws-lc-rs")]
        let prepared = Prepared::parsed(alg, parse_public(&decoding, alg)?);
        #[cfg(not(feature = "aws-lc-rs"))]
        let prepared = Prepared::backend(alg);
        Some(Self {
            decoding,
            prepared: Arc::new(prepared),
        })
    }

    /// The one algorithm this key verifies.
    pub(crate) fn algorithm(&self) -> Algorithm {
        self.prepared.algorithm()
    }
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

/// The aws-lc-rs key for `alg` from the key jsonwebtoken decoded (an RSA modulus and
/// exponent, an EC point `04 || x || y`, an Ed25519 point), or `None` when aws-lc-rs
/// finds it is not one (a point off its curve or of the wrong length, say).
#[cfg(feature = "aws-lc-rs")]
fn parse_public(
    key: &DecodingKey,
    alg: Algorithm,
) -> Option<aws_lc_rs::signature::ParsedPublicKey> {
    use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaPublicKeyComponents};
    let point = |params: &'static dyn sig::VerificationAlgorithm| {
        ParsedPublicKey::new(params, key.try_get_as_bytes().ok()?).ok()
    };
    let rsa: &'static sig::RsaParameters = match alg {
        Algorithm::ES256 => return point(&sig::ECDSA_P256_SHA256_FIXED),
        Algorithm::ES384 => return point(&sig::ECDSA_P384_SHA384_FIXED),
        Algorithm::EdDSA => return point(&sig::ED25519),
        Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    };
    match key.kind() {
        DecodingKeyKind::RsaModulusExponent { n, e } => RsaPublicKeyComponents { n, e }
            .to_parsed_public_key(rsa)
            .ok(),
        DecodingKeyKind::SecretOrDer(_) => None,
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

/// The registered claims every bearer JWT is checked against, and jsonwebtoken's
/// [`Validation`] for each algorithm, built once.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRules {
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
    pub(crate) leeway: u64,
    /// The required `iss`, if any.
    pub(crate) issuer: Option<String>,
    /// The required `aud` (or one of the `aud` array), if any.
    pub(crate) audience: Option<String>,
    validations: Vec<Validation>,
}

/// The algorithms a bearer JWT may be signed with, in the order of
/// [`ClaimRules::validations`].
const ALGORITHMS: [Algorithm; 10] = [
    Algorithm::HS256,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

impl ClaimRules {
    /// The rules, with a [`Validation`] per algorithm: that algorithm alone, `exp`
    /// required and checked with `nbf` within `leeway`, `iss` and `aud` required and
    /// compared when given.
    pub(crate) fn new(leeway: u64, issuer: Option<String>, audience: Option<String>) -> Self {
        let validations = ALGORITHMS
            .iter()
            .map(|alg| {
                let mut v = Validation::new(*alg);
                v.leeway = leeway;
                v.validate_nbf = true;
                let mut required = vec!["exp"];
                if let Some(iss) = &issuer {
                    v.set_issuer(&[iss]);
                    required.push("iss");
                }
                match &audience {
                    Some(aud) => {
                        v.set_audience(&[aud]);
                        required.push("aud");
                    }
                    None => v.validate_aud = false,
                }
                v.set_required_spec_claims(&required);
                v
            })
            .collect();
        Self {
            leeway,
            issuer,
            audience,
            validations,
        }
    }

    /// The claims of `token` (whose header is `header`), once jsonwebtoken has checked
    /// its signature with `key` and its registered claims at `now`, and the rules
    /// jsonwebtoken lacks hold; with its validity window.
    pub(crate) fn check(
        &self,
        token: &str,
        header: &Header,
        key: &VerifyingKey,
        now: u64,
    ) -> Result<(Map<String, Value>, Window), ResolveError> {
        let alg = key.algorithm();
        let validation = ALGORITHMS
            .iter()
            .position(|a| *a == alg)
            .and_then(|i| self.validations.get(i));
        let (Some(validation), true) = (validation, header.alg == alg) else {
            return Err(ResolveError::invalid(
                "the bearer token's algorithm does not match its key",
            ));
        };
        let claims = crate::crypto::decode_prepared::<UniqueClaims>(
            token,
            &key.decoding,
            &key.prepared,
            validation,
        )
        .map_err(refusal)?
        .claims
        .0;
        let date = |name: &str| match claims.get(name) {
            None => Ok(None),
            Some(value) => seconds(value).map(Some).ok_or_else(|| {
                ResolveError::invalid(format!(
                    "the bearer token's {name} is not a number of seconds below 2^63"
                ))
            }),
        };
        let window = Window {
            exp: date("exp")?
                .ok_or_else(|| refusal(ErrorKind::MissingRequiredClaim("exp".into()).into()))?,
            nbf: date("nbf")?,
        };
        // The reading a cached answer is checked with (a fraction rounded down), so that
        // a fresh answer and a cached one agree.
        window.check(now, self.leeway)?;
        if date("iat")?.is_some_and(|iat| iat > now.saturating_add(self.leeway)) {
            return Err(ResolveError::invalid(
                "the bearer token was issued in the future (iat); check the clocks",
            ));
        }
        // jsonwebtoken also takes an array of issuers; `iss` is one string (RFC 7519, 4.1.1).
        if self.issuer.is_some() && !matches!(claims.get("iss"), Some(Value::String(_))) {
            return Err(ResolveError::invalid(
                "the bearer token was issued by another issuer",
            ));
        }
        Ok((claims, window))
    }
}

/// The message for a token jsonwebtoken refused.
fn refusal(err: jsonwebtoken::errors::Error) -> ResolveError {
    match err.kind() {
        ErrorKind::MissingRequiredClaim(claim) => {
            return ResolveError::invalid(format!(
                "the bearer token lacks a required claim ({claim}), or it is not of the right type"
            ));
        }
        ErrorKind::InvalidClaimFormat(claim) => {
            return ResolveError::invalid(format!("the bearer token's {claim} is not a number"));
        }
        _ => {}
    }
    ResolveError::invalid(match err.kind() {
        ErrorKind::InvalidSignature => "the bearer token's signature is invalid",
        ErrorKind::InvalidAlgorithm => "the bearer token's algorithm does not match its key",
        ErrorKind::ExpiredSignature => "the bearer token has expired",
        ErrorKind::ImmatureSignature => "the bearer token is not valid yet",
        ErrorKind::InvalidIssuer => "the bearer token was issued by another issuer",
        ErrorKind::InvalidAudience => "the bearer token was issued for another audience",
        ErrorKind::Json(_) => {
            "the bearer token's claims are not one JSON object with each name once"
        }
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
            "the bearer token is not a JWT"
        }
        ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => {
            "the key published under the bearer token's key id cannot verify it (the identity provider's key is malformed)"
        }
        _ => "the bearer token cannot be verified",
    })
}

/// Token types (`typ`, RFC 8725, 3.11) of JWTs an identity provider signs that are not
/// bearer tokens: a logout token, a security event, a DPoP proof.
const NOT_BEARER: [&str; 3] = ["logout+jwt", "secevent+jwt", "dpop+jwt"];

/// The header of `token`, read by jsonwebtoken, refusing one with critical extensions
/// (`crit`, RFC 7515, 4.1.11), which no verifier here understands, one of an encrypted
/// JWT (`enc`, `zip`), and one whose `typ` says it is not a bearer token
/// ([`NOT_BEARER`], with or without `application/`, in any case).
pub(crate) fn header(token: &str) -> Result<Header, ResolveError> {
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| ResolveError::invalid("the bearer token is not a JWT"))?;
    if header.crit.is_some() {
        return Err(ResolveError::invalid(
            "the bearer token has critical header extensions (crit), which are not supported",
        ));
    }
    if header.enc.is_some() || header.zip.is_some() {
        return Err(ResolveError::invalid(
            "the bearer token has headers of an encrypted JWT (enc, zip)",
        ));
    }
    let typ = header
        .typ
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if NOT_BEARER.contains(&typ.strip_prefix("application/").unwrap_or(&typ)) {
        return Err(ResolveError::invalid(
            "the bearer token's typ says it is not an access or ID token (a logout token, a security event or a DPoP proof)",
        ));
    }
    Ok(header)
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

    /// Each refusal says what is wrong: the token's form, its key, or neither.
    #[test]
    fn refusals_name_their_cause() {
        let message = |kind: ErrorKind| match refusal(kind.into()) {
            ResolveError::InvalidCredentials(message) => message.into_owned(),
            other => format!("{other:?}"),
        };
        assert!(message(ErrorKind::InvalidToken).contains("not a JWT"));
        assert!(message(ErrorKind::InvalidEcdsaKey).contains("key is malformed"));
        assert!(message(ErrorKind::InvalidRsaKey("n".into())).contains("key is malformed"));
        assert!(message(ErrorKind::Provider("x".into())).contains("cannot be verified"));
        assert!(message(ErrorKind::ExpiredSignature).contains("expired"));
        assert!(message(ErrorKind::MissingRequiredClaim("aud".into())).contains("claim (aud)"));
        assert!(message(ErrorKind::InvalidClaimFormat("nbf".into())).contains("nbf is not"));
    }

    #[test]
    fn rsa_keys_are_admitted_by_bits_and_exponent() {
        let modulus = |first: u8| [&[first][..], &[0xff; 255]].concat();
        let f4 = [1, 0, 1];
        assert!(rsa_admitted(&modulus(0x80), &f4), "2048 bits");
        assert!(
            rsa_admitted(&[&[0][..], &modulus(0xc0)].concat(), &f4),
            "leading zero"
        );
        assert!(!rsa_admitted(&modulus(0x01), &f4), "256 bytes, 2041 bits");
        assert!(!rsa_admitted(&modulus(0x7f), &f4), "2047 bits");
        assert!(!rsa_admitted(&modulus(0x80), &[1]), "e = 1");
        assert!(!rsa_admitted(&modulus(0x80), &[1, 0, 0]), "even e");
        assert!(!rsa_admitted(&modulus(0x80), &[]), "no e");
        assert!(rsa_admitted(&modulus(0x80), &[3]), "e = 3");
        #[cfg(not(feature = "aws-lc-rs"))]
        assert!(
            !rsa_admitted(&[0xff; 513], &f4),
            "over 4096 bits without aws-lc-rs"
        );
        #[cfg(feature = "aws-lc-rs")]
        assert!(rsa_admitted(&[0xff; 768], &f4), "6144 bits with aws-lc-rs");
    }
}
