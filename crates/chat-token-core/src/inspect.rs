//! Decoding and checking an Access Token the way Twilio does, with Twilio's error codes.
//!
//! [`inspect`] accepts every official helper's way of writing a token (any key order,
//! `iat` present or not, `nbf` absent, `"twr":null`, `\/` escapes, raw UTF-8) and lists
//! every problem it finds, each with the five-digit Twilio error code the token would
//! get. Only input that is not a JWT at all (not three base64url parts of JSON objects,
//! or longer than [`MAX_TOKEN_LEN`]) is an [`InspectError`]. It never panics.

use std::fmt;

use base64::Engine as _;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use crate::crypto::HmacKey;
use crate::sid::SidKind;
use crate::token::MAX_TTL;

/// The longest input [`inspect`] decodes, in bytes.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The Twilio error codes an Access Token can earn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TwilioErrorCode {
    /// 20102: invalid header (`alg`, `cty`, `typ`, `twr`).
    InvalidHeader,
    /// 20103: invalid issuer (`iss`) or subject (`sub`).
    InvalidIssuerOrSubject,
    /// 20104: expired, or `exp` missing or invalid.
    Expired,
    /// 20105: not valid yet (`nbf` in the future), or `nbf` invalid.
    NotYetValid,
    /// 20106: invalid grants.
    InvalidGrants,
    /// 20107: invalid signature.
    InvalidSignature,
    /// 20157: lifetime over 24 hours.
    LifetimeTooLong,
}

impl TwilioErrorCode {
    /// The five-digit code.
    pub const fn code(self) -> u32 {
        match self {
            TwilioErrorCode::InvalidHeader => 20102,
            TwilioErrorCode::InvalidIssuerOrSubject => 20103,
            TwilioErrorCode::Expired => 20104,
            TwilioErrorCode::NotYetValid => 20105,
            TwilioErrorCode::InvalidGrants => 20106,
            TwilioErrorCode::InvalidSignature => 20107,
            TwilioErrorCode::LifetimeTooLong => 20157,
        }
    }
}

impl fmt::Display for TwilioErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// One reason Twilio would refuse the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The Twilio error code.
    pub code: TwilioErrorCode,
    /// What is wrong, in one line.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Whether the signature was checked, and how that went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    /// The signature matches the secret.
    Valid,
    /// The signature does not match the secret (a problem 20107 is listed too).
    Invalid,
    /// No secret was given, so the signature was not checked.
    NotChecked,
}

/// Input that is not a JWT at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// Longer than [`MAX_TOKEN_LEN`].
    #[error(
        "token is {len} bytes long; an Access Token is a few hundred bytes (at most {MAX_TOKEN_LEN} accepted)"
    )]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// Not three dot-separated parts.
    #[error("not a JWT: expected three parts separated by '.', found {parts}")]
    NotThreeParts {
        /// How many parts were found.
        parts: usize,
    },
    /// A part is not base64url.
    #[error("not a JWT: the {part} is not base64url")]
    NotBase64 {
        /// `header` or `payload`.
        part: &'static str,
    },
    /// A part does not decode to a JSON object.
    #[error("not a JWT: the {part} is not a JSON object")]
    NotJsonObject {
        /// `header` or `payload`.
        part: &'static str,
    },
}

/// What [`inspect`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    signature: SignatureCheck,
    problems: Vec<Problem>,
}

impl Inspection {
    /// The decoded header.
    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// The decoded claims.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// How the signature check went.
    pub fn signature(&self) -> SignatureCheck {
        self.signature
    }

    /// Every problem found; empty when Twilio would accept the token (as far as could be
    /// checked: see [`signature`](Self::signature)).
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Whether the token has no problem and its signature was checked and valid.
    pub fn is_accepted(&self) -> bool {
        self.problems.is_empty() && self.signature == SignatureCheck::Valid
    }

    /// Whether the list holds a problem with this code.
    pub fn has(&self, code: TwilioErrorCode) -> bool {
        self.problems.iter().any(|p| p.code == code)
    }

    /// The identity in the grants, if it is a string.
    pub fn identity(&self) -> Option<&str> {
        self.claims
            .get("grants")
            .and_then(|g| g.get("identity"))
            .and_then(Value::as_str)
    }
}

/// Decodes `jwt` and checks it at time `now` (Unix seconds); with `secret`, the signature too.
///
/// ```
/// use chat_token_core::{inspect, inspect::SignatureCheck};
///
/// let inspection = inspect(
///     "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln",
///     None,
///     1_700_000_000,
/// )?;
/// assert_eq!(inspection.signature(), SignatureCheck::NotChecked);
/// assert!(!inspection.problems().is_empty());
/// # Ok::<(), chat_token_core::InspectError>(())
/// ```
pub fn inspect(
    jwt: &str,
    secret: Option<&SecretString>,
    now: u64,
) -> Result<Inspection, InspectError> {
    let key = secret.map(|s| HmacKey::new(s.expose_secret().as_bytes()));
    inspect_with_key(jwt, key.as_ref(), now)
}

fn decode_object(part: &str, name: &'static str) -> Result<Map<String, Value>, InspectError> {
    let bytes = LENIENT
        .decode(part)
        .map_err(|_| InspectError::NotBase64 { part: name })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(InspectError::NotJsonObject { part: name }),
    }
}

pub(crate) fn inspect_with_key(
    jwt: &str,
    key: Option<&HmacKey>,
    now: u64,
) -> Result<Inspection, InspectError> {
    let jwt = jwt.trim();
    if jwt.len() > MAX_TOKEN_LEN {
        return Err(InspectError::TooLong { len: jwt.len() });
    }
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header_b64, payload_b64, signature_b64] = parts[..] else {
        return Err(InspectError::NotThreeParts { parts: parts.len() });
    };
    let header = decode_object(header_b64, "header")?;
    let claims = decode_object(payload_b64, "payload")?;

    let mut problems = Vec::new();
    let mut add = |code, message: String| problems.push(Problem { code, message });

    check_header(&header, &mut add);
    check_claims(&claims, now, &mut add);

    let tag = LENIENT.decode(signature_b64).ok().filter(|t| t.len() == 32);
    let signature = match (key, tag) {
        (_, None) => {
            add(
                TwilioErrorCode::InvalidSignature,
                "the signature is not 32 bytes of base64url (an HS256 signature)".into(),
            );
            if key.is_some() {
                SignatureCheck::Invalid
            } else {
                SignatureCheck::NotChecked
            }
        }
        (None, Some(_)) => SignatureCheck::NotChecked,
        (Some(key), Some(tag)) => {
            let signed = &jwt[..header_b64.len() + 1 + payload_b64.len()];
            if key.verify(signed.as_bytes(), &tag) {
                SignatureCheck::Valid
            } else {
                add(
                    TwilioErrorCode::InvalidSignature,
                    "the signature does not match the API key secret: the token was signed with another secret, or altered".into(),
                );
                SignatureCheck::Invalid
            }
        }
    };
    Ok(Inspection {
        header,
        claims,
        signature,
        problems,
    })
}

fn check_header(header: &Map<String, Value>, add: &mut impl FnMut(TwilioErrorCode, String)) {
    let code = TwilioErrorCode::InvalidHeader;
    match header.get("alg") {
        Some(Value::String(alg)) if alg == "HS256" => {}
        Some(other) => add(code, format!("alg is {other}, must be \"HS256\"")),
        None => add(code, "alg is missing, must be \"HS256\"".into()),
    }
    match header.get("cty") {
        Some(Value::String(cty)) if cty == "twilio-fpa;v=1" => {}
        Some(other) => add(code, format!("cty is {other}, must be \"twilio-fpa;v=1\"")),
        None => add(code, "cty is missing, must be \"twilio-fpa;v=1\"".into()),
    }
    match header.get("typ") {
        None | Some(Value::Null) => {}
        Some(Value::String(typ)) if typ == "JWT" => {}
        Some(other) => add(code, format!("typ is {other}, must be \"JWT\" or absent")),
    }
    match header.get("twr") {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(other) => add(code, format!("twr (region) is {other}, must be a string")),
    }
}

fn unix(value: Option<&Value>) -> Result<Option<u64>, ()> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or(()),
    }
}

fn check_claims(
    claims: &Map<String, Value>,
    now: u64,
    add: &mut impl FnMut(TwilioErrorCode, String),
) {
    for (name, kind, code) in [
        (
            "iss",
            SidKind::ApiKey,
            TwilioErrorCode::InvalidIssuerOrSubject,
        ),
        (
            "sub",
            SidKind::Account,
            TwilioErrorCode::InvalidIssuerOrSubject,
        ),
    ] {
        match claims.get(name) {
            Some(Value::String(s)) => {
                if let Err(e) = kind.check(name, s) {
                    add(code, e.to_string());
                }
            }
            Some(other) => add(
                code,
                format!("{name} is {}, must be a string", type_name(other)),
            ),
            None => add(
                code,
                format!("{name} is missing; it must be the {} SID", kind.name()),
            ),
        }
    }

    let exp = match claims.get("exp") {
        None | Some(Value::Null) => {
            add(TwilioErrorCode::Expired, "exp is missing".into());
            None
        }
        Some(v) => match v.as_u64() {
            Some(exp) => Some(exp),
            None => {
                add(
                    TwilioErrorCode::Expired,
                    format!("exp is {v}, must be a whole number of Unix seconds"),
                );
                None
            }
        },
    };
    if let Some(exp) = exp
        && exp <= now
    {
        add(
            TwilioErrorCode::Expired,
            format!("the token expired {} seconds ago (exp {exp})", now - exp),
        );
    }
    let nbf = match unix(claims.get("nbf")) {
        Ok(nbf) => nbf,
        Err(()) => {
            add(
                TwilioErrorCode::NotYetValid,
                "nbf must be a whole number of Unix seconds".into(),
            );
            None
        }
    };
    if let Some(nbf) = nbf
        && nbf > now
    {
        add(
            TwilioErrorCode::NotYetValid,
            format!(
                "the token is not valid for another {} seconds (nbf {nbf})",
                nbf - now
            ),
        );
    }
    let iat = unix(claims.get("iat")).ok().flatten();
    let jti_time = claims
        .get("jti")
        .and_then(Value::as_str)
        .and_then(|jti| jti.rsplit_once('-'))
        .and_then(|(_, t)| t.parse::<u64>().ok());
    if let Some(exp) = exp {
        let start = nbf.or(iat).or(jti_time).unwrap_or(now);
        if exp > start && exp - start > MAX_TTL {
            add(
                TwilioErrorCode::LifetimeTooLong,
                format!(
                    "the token lives {} seconds, over Twilio's maximum of {MAX_TTL} (24 hours)",
                    exp - start
                ),
            );
        }
    }
    check_grants(claims.get("grants"), add);
}

fn check_grants(grants: Option<&Value>, add: &mut impl FnMut(TwilioErrorCode, String)) {
    let code = TwilioErrorCode::InvalidGrants;
    let grants = match grants {
        Some(Value::Object(g)) => g,
        Some(other) => {
            return add(
                code,
                format!("grants is {}, must be an object", type_name(other)),
            );
        }
        None => return add(code, "grants is missing".into()),
    };
    let identity = match grants.get("identity") {
        None => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(Value::String(_)) => {
            add(code, "identity is empty".into());
            None
        }
        Some(other) => {
            add(
                code,
                format!("identity is {}, must be a string", type_name(other)),
            );
            None
        }
    };
    let mut products = 0;
    for (key, value) in grants.iter().filter(|(k, _)| *k != "identity") {
        products += 1;
        if !value.is_object() {
            add(
                code,
                format!("grant {key} is {}, must be an object", type_name(value)),
            );
        }
        if identity.is_none()
            && matches!(
                key.as_str(),
                "chat" | "ip_messaging" | "data_sync" | "voice" | "video"
            )
        {
            add(
                code,
                format!("grant {key} needs an identity, but there is none"),
            );
        }
    }
    if products == 0 {
        add(
            code,
            "grants holds no product grant (chat, video, voice, ...)".into(),
        );
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
