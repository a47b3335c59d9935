//! The [`AccessToken`] builder: what one token says (identity, lifetime, region, grants),
//! checked against Twilio's rules, and written byte for byte as Twilio's helpers write it.
//!
//! An `AccessToken` holds no credentials; a [`TokenIssuer`](crate::TokenIssuer) signs it.

use std::sync::{Arc, OnceLock};

use crate::grants::Grant;
use crate::identity::{IdentityError, IdentityRules};
use crate::json::{write_str, write_u64};
use crate::sid::SidError;

/// The header of every token without a region: Twilio's key order and content type.
pub(crate) const HEADER: &str = r#"{"alg":"HS256","cty":"twilio-fpa;v=1","typ":"JWT"}"#;

/// The default time to live, in seconds (Twilio's helpers use the same).
pub const DEFAULT_TTL: u64 = 3600;

/// The longest lifetime Twilio accepts, in seconds (24 hours).
pub const MAX_TTL: u64 = 86_400;

/// The latest Unix time a token may name: 9999-12-31T23:59:59Z.
pub const MAX_UNIX_TIME: u64 = 253_402_300_799;

/// When the token starts to be valid (`nbf`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NotBefore {
    /// `nbf` = the issued-at time (what Twilio's helpers do by default).
    #[default]
    IssuedAt,
    /// An explicit Unix time.
    At(u64),
    /// No `nbf` claim at all.
    Omit,
}

/// Why a token could not be minted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The ttl is outside 1..=86400 seconds.
    #[error(
        "ttl of {ttl} seconds is out of range: Twilio accepts 1 to 86400 seconds (24 hours); pick a shorter ttl and refresh the token before it expires"
    )]
    TtlOutOfRange {
        /// The ttl that was asked for.
        ttl: u64,
    },
    /// `exp - nbf` (or `exp - issued-at` without `nbf`) is over 86400 seconds.
    #[error(
        "token lifetime of {lifetime} seconds (from not-before or issue time to expiry) is over Twilio's maximum of 86400 seconds (error 20157); move valid-until closer"
    )]
    LifetimeTooLong {
        /// The lifetime in seconds.
        lifetime: u64,
    },
    /// The token would expire before, or at the moment, it becomes valid.
    #[error(
        "token would never be valid: it expires at {expires_at} but is valid only from {valid_from}; check valid-until and not-before"
    )]
    NeverValid {
        /// `exp`.
        expires_at: u64,
        /// `nbf`, or the issue time without `nbf`.
        valid_from: u64,
    },
    /// A grant that needs an identity is present but no identity was set.
    #[error(
        "the {grant} grant needs an identity, but none was set; set the signed-in user's identity"
    )]
    IdentityRequired {
        /// The key of the grant that needs it.
        grant: &'static str,
    },
    /// The identity breaks one of Twilio's rules.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// A SID in a grant is malformed or of the wrong kind.
    #[error(transparent)]
    Sid(#[from] SidError),
    /// A time (issued-at, valid-until or not-before) is past the year 9999.
    #[error(
        "{what} of {value} is not a plausible Unix time in seconds (the latest accepted is {MAX_UNIX_TIME}); was it given in milliseconds?"
    )]
    TimeOutOfRange {
        /// Which time.
        what: &'static str,
        /// The value given.
        value: u64,
    },
    /// The token has no product grant, so Twilio would refuse it (error 20106).
    #[error(
        "token has no grant; add at least one (chat, data_sync, video, voice, task_router or player)"
    )]
    NoGrants,
    /// The region is not a Twilio region code.
    #[error(
        "region must be a Twilio region code such as us1, ie1 or au1 (lower-case letters, digits and '-'), got {len} characters that are not"
    )]
    InvalidRegion {
        /// The length of the rejected value.
        len: usize,
    },
}

/// The content of one Access Token, before it is signed.
///
/// Build it with the methods named after each field, then sign it with
/// [`TokenIssuer::mint`](crate::TokenIssuer::mint).
///
/// ```
/// use chat_token_core::{AccessToken, ChatGrant};
///
/// let token = AccessToken::new()
///     .with_identity("alice")
///     .with_ttl(600)
///     .with_grant(ChatGrant::new().with_service_sid("IS0123456789abcdef0123456789abcdef"));
/// assert_eq!(token.identity(), Some("alice"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AccessToken {
    identity: Option<String>,
    ttl: u64,
    valid_until: Option<u64>,
    not_before: NotBefore,
    issued_at: Option<u64>,
    region: Option<String>,
    /// Shared, so that cloning a template token per request copies no grant.
    grants: Arc<GrantList>,
    strict_identity: bool,
}

impl Default for AccessToken {
    fn default() -> Self {
        Self::new()
    }
}

impl AccessToken {
    /// A token with no identity and no grants, ttl 3600 s, `nbf` = issued-at.
    pub fn new() -> Self {
        Self {
            identity: None,
            ttl: DEFAULT_TTL,
            valid_until: None,
            not_before: NotBefore::IssuedAt,
            issued_at: None,
            region: None,
            grants: Arc::new(GrantList::default()),
            strict_identity: false,
        }
    }

    /// The user's identity (`grants.identity`).
    pub fn with_identity(mut self, identity: impl Into<String>) -> Self {
        self.identity = Some(identity.into());
        self
    }

    /// Time to live in seconds, from the issue time (1..=86400). Ignored with
    /// [`with_valid_until`](Self::with_valid_until).
    pub fn with_ttl(mut self, seconds: u64) -> Self {
        self.ttl = seconds;
        self
    }

    /// An explicit expiry (`exp`), in Unix seconds, instead of issued-at + ttl.
    pub fn with_valid_until(mut self, unix: u64) -> Self {
        self.valid_until = Some(unix);
        self
    }

    /// When the token becomes valid (`nbf`).
    pub fn with_not_before(mut self, not_before: NotBefore) -> Self {
        self.not_before = not_before;
        self
    }

    /// Fixes the issue time instead of reading the issuer's clock (reproducible tokens).
    pub fn with_issued_at(mut self, unix: u64) -> Self {
        self.issued_at = Some(unix);
        self
    }

    /// The Twilio region (`twr` header), for example `ie1`. An empty region means no
    /// region, as in Twilio's helpers: the header has no `twr`, and the token is the one
    /// minted without calling this.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        let region = region.into();
        self.region = (!region.is_empty()).then_some(region);
        self
    }

    /// Adds a grant. Grants are written in the order added; adding a second grant of the
    /// same kind replaces the first in its place, as Twilio's helpers do.
    pub fn with_grant(mut self, grant: impl Into<Grant>) -> Self {
        let grant = grant.into();
        let list = Arc::make_mut(&mut self.grants);
        list.checked = OnceLock::new();
        list.json = OnceLock::new();
        match list.grants.iter_mut().find(|g| g.key() == grant.key()) {
            Some(slot) => *slot = grant,
            None => list.grants.push(grant),
        }
        self
    }

    /// Adds several grants, as [`with_grant`](Self::with_grant) does one.
    pub fn with_grants(self, grants: impl IntoIterator<Item = Grant>) -> Self {
        grants.into_iter().fold(self, Self::with_grant)
    }

    /// Also refuse the characters Twilio advises against in identities.
    pub fn with_strict_identity(mut self, strict: bool) -> Self {
        self.strict_identity = strict;
        self
    }

    /// The identity, if set.
    pub fn identity(&self) -> Option<&str> {
        self.identity.as_deref()
    }

    /// The grants, in the order they will be written.
    pub fn grants(&self) -> &[Grant] {
        &self.grants.grants
    }

    /// The ttl in seconds.
    pub fn ttl(&self) -> u64 {
        self.ttl
    }

    /// Checks everything and works out the times, given the issuer's clock reading.
    pub(crate) fn plan(&self, now: u64) -> Result<Times, TokenError> {
        let issued_at = self.issued_at.unwrap_or(now);
        let not_before = match self.not_before {
            NotBefore::IssuedAt => Some(issued_at),
            NotBefore::At(t) => Some(t),
            NotBefore::Omit => None,
        };
        let times = [
            ("issued-at", Some(issued_at)),
            ("valid-until", self.valid_until),
            ("not-before", not_before),
        ];
        for (what, value) in times {
            if let Some(value) = value.filter(|v| *v > MAX_UNIX_TIME) {
                return Err(TokenError::TimeOutOfRange { what, value });
            }
        }
        let expires_at = match self.valid_until {
            Some(exp) if exp != 0 => exp,
            _ => {
                if !(1..=MAX_TTL).contains(&self.ttl) {
                    return Err(TokenError::TtlOutOfRange { ttl: self.ttl });
                }
                issued_at + self.ttl
            }
        };
        let valid_from = not_before.unwrap_or(issued_at);
        if expires_at <= valid_from {
            return Err(TokenError::NeverValid {
                expires_at,
                valid_from,
            });
        }
        if expires_at - valid_from > MAX_TTL {
            return Err(TokenError::LifetimeTooLong {
                lifetime: expires_at - valid_from,
            });
        }
        if self.grants.grants.is_empty() {
            return Err(TokenError::NoGrants);
        }
        let rules = IdentityRules {
            strict: self.strict_identity,
            voice: self
                .grants
                .grants
                .iter()
                .any(|g| matches!(g, Grant::Voice(_))),
        };
        match self.identity.as_deref() {
            Some(identity) => rules.check(identity)?,
            None => {
                if let Some(g) = self.grants.grants.iter().find(|g| g.requires_identity()) {
                    return Err(TokenError::IdentityRequired { grant: g.key() });
                }
            }
        }
        self.grants.check()?;
        if let Some(region) = &self.region
            && (region.is_empty()
                || region.len() > 32
                || !region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
        {
            return Err(TokenError::InvalidRegion {
                len: region.chars().count(),
            });
        }
        Ok(Times {
            issued_at,
            expires_at,
            not_before,
        })
    }

    /// Appends the JSON of this token: the payload, then, only when a region is set,
    /// the header that names it (without a region every token has [`HEADER`]). Returns
    /// the payload's length; the header, if any, follows it in `out`.
    pub(crate) fn write_json(
        &self,
        out: &mut Vec<u8>,
        times: &Times,
        api_key_sid: &[u8],
        account_sid: &[u8],
    ) -> usize {
        let start = out.len();
        self.write_payload(out, times, api_key_sid, account_sid);
        let payload_len = out.len() - start;
        if let Some(region) = &self.region {
            out.extend_from_slice(br#"{"alg":"HS256","cty":"twilio-fpa;v=1","twr":"#);
            write_str(out, region);
            out.extend_from_slice(br#","typ":"JWT"}"#);
        }
        payload_len
    }

    /// Appends the payload JSON: `jti`, `grants` (then `identity`), `iss`, `exp`, `nbf`, `sub`.
    fn write_payload(
        &self,
        out: &mut Vec<u8>,
        times: &Times,
        api_key_sid: &[u8],
        account_sid: &[u8],
    ) {
        // The SIDs were validated as ASCII letters and hex digits: no escaping needed.
        out.extend_from_slice(b"{\"jti\":\"");
        out.extend_from_slice(api_key_sid);
        out.push(b'-');
        write_u64(out, times.issued_at);
        out.extend_from_slice(b"\",\"grants\":{");
        out.extend_from_slice(self.grants.json());
        if let Some(identity) = self.identity.as_deref().filter(|i| !i.is_empty()) {
            if !self.grants.grants.is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(b"\"identity\":");
            write_str(out, identity);
        }
        out.extend_from_slice(b"},\"iss\":\"");
        out.extend_from_slice(api_key_sid);
        out.extend_from_slice(b"\",\"exp\":");
        write_u64(out, times.expires_at);
        if let Some(nbf) = times.not_before {
            out.extend_from_slice(b",\"nbf\":");
            write_u64(out, nbf);
        }
        out.extend_from_slice(b",\"sub\":\"");
        out.extend_from_slice(account_sid);
        out.extend_from_slice(b"\"}");
    }
}

/// The grants of a token, with the result of checking their SIDs, worked out once per
/// list however many tokens share it.
#[derive(Debug, Clone, Default)]
struct GrantList {
    grants: Vec<Grant>,
    checked: OnceLock<Result<(), SidError>>,
    /// The grants as written in the payload (`"chat":{...},"video":{}`).
    json: OnceLock<Vec<u8>>,
}

impl PartialEq for GrantList {
    fn eq(&self, other: &Self) -> bool {
        self.grants == other.grants
    }
}

impl GrantList {
    fn check(&self) -> Result<(), SidError> {
        self.checked
            .get_or_init(|| self.grants.iter().try_for_each(Grant::validate))
            .clone()
    }

    fn json(&self) -> &[u8] {
        self.json.get_or_init(|| {
            let mut out = Vec::new();
            for (i, grant) in self.grants.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.push(b'"');
                out.extend_from_slice(grant.key().as_bytes());
                out.extend_from_slice(b"\":");
                grant.write_payload(&mut out);
            }
            out
        })
    }
}

/// The times of one token, worked out at mint time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Times {
    pub(crate) issued_at: u64,
    pub(crate) expires_at: u64,
    pub(crate) not_before: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::{ChatGrant, TaskRouterGrant, VideoGrant, VoiceGrant};

    fn chat() -> AccessToken {
        AccessToken::new()
            .with_identity("alice")
            .with_grant(ChatGrant::new())
    }

    #[test]
    fn ttl_bounds() {
        assert_eq!(
            chat().with_ttl(0).plan(100),
            Err(TokenError::TtlOutOfRange { ttl: 0 })
        );
        assert_eq!(
            chat().with_ttl(86_401).plan(100),
            Err(TokenError::TtlOutOfRange { ttl: 86_401 })
        );
        assert_eq!(
            chat().with_ttl(86_400).plan(100).unwrap().expires_at,
            86_500
        );
        assert_eq!(chat().with_ttl(1).plan(100).unwrap().expires_at, 101);
    }

    #[test]
    fn lifetime_bounds() {
        assert_eq!(
            chat().with_valid_until(100 + 86_401).plan(100),
            Err(TokenError::LifetimeTooLong { lifetime: 86_401 })
        );
        assert!(chat().with_valid_until(100 + 86_400).plan(100).is_ok());
        assert!(
            chat()
                .with_valid_until(200_000)
                .with_not_before(NotBefore::At(200_000 - 86_400))
                .plan(100)
                .is_ok()
        );
        assert_eq!(
            chat()
                .with_not_before(NotBefore::Omit)
                .with_valid_until(100 + 90_000)
                .plan(100),
            Err(TokenError::LifetimeTooLong { lifetime: 90_000 })
        );
        assert_eq!(
            chat().with_valid_until(50).plan(100),
            Err(TokenError::NeverValid {
                expires_at: 50,
                valid_from: 100
            })
        );
    }

    #[test]
    fn identity_rules() {
        assert_eq!(
            AccessToken::new().with_grant(VideoGrant::new()).plan(1),
            Err(TokenError::IdentityRequired { grant: "video" })
        );
        assert!(
            AccessToken::new()
                .with_grant(TaskRouterGrant::new())
                .plan(1)
                .is_ok()
        );
        assert_eq!(
            AccessToken::new()
                .with_identity("")
                .with_grant(ChatGrant::new())
                .plan(1),
            Err(TokenError::Identity(IdentityError::Empty))
        );
        assert!(matches!(
            AccessToken::new()
                .with_identity("a@b")
                .with_grant(VoiceGrant::new())
                .plan(1),
            Err(TokenError::Identity(IdentityError::InvalidForVoice { .. }))
        ));
        assert!(chat().with_identity("a@b").plan(1).is_ok());
        assert!(matches!(
            chat()
                .with_identity("a@b")
                .with_strict_identity(true)
                .plan(1),
            Err(TokenError::Identity(
                IdentityError::ReservedCharacter { .. }
            ))
        ));
        assert_eq!(
            AccessToken::new().with_identity("a").plan(1),
            Err(TokenError::NoGrants)
        );
    }

    #[test]
    fn implausible_times_are_refused() {
        assert_eq!(
            chat().with_issued_at(1_700_000_000_000).plan(1),
            Err(TokenError::TimeOutOfRange {
                what: "issued-at",
                value: 1_700_000_000_000
            })
        );
        assert!(matches!(
            chat().with_valid_until(u64::MAX).plan(1),
            Err(TokenError::TimeOutOfRange { .. })
        ));
    }

    #[test]
    fn region_is_checked() {
        assert!(chat().with_region("ie1").plan(1).is_ok());
        assert_eq!(
            chat().with_region("IE 1").plan(1),
            Err(TokenError::InvalidRegion { len: 4 })
        );
        for bad in ["US", " us1", "us1 ", "ie1\n", &"a".repeat(33)] {
            assert_eq!(
                chat().with_region(bad).plan(1),
                Err(TokenError::InvalidRegion {
                    len: bad.chars().count()
                }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn an_empty_region_is_no_region() {
        assert_eq!(chat().with_region(""), chat());
        assert_eq!(chat().with_region("ie1").with_region(""), chat());
        assert_eq!(chat().with_region("").region, None);
        assert!(chat().with_region("").plan(1).is_ok());
    }

    #[test]
    fn same_grant_kind_replaces_in_place() {
        let t = AccessToken::new()
            .with_grant(ChatGrant::new().with_endpoint_id("a"))
            .with_grant(VideoGrant::new())
            .with_grant(ChatGrant::new().with_endpoint_id("b"));
        assert_eq!(t.grants().len(), 2);
        assert_eq!(t.grants()[0], ChatGrant::new().with_endpoint_id("b").into());
    }
}
