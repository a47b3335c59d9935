//! Twilio SIDs: validated newtypes for the identifiers a token names.
//!
//! A Twilio SID is two upper-case letters that say what it names (`AC` an account,
//! `SK` an API key, `IS` a Chat/Conversations or Sync service, ...) followed by 32
//! hexadecimal digits. Every SID that goes into a token is checked here, once, when the
//! configuration is built, so that a mistake is reported before the first token is
//! minted rather than by Twilio at connect time.
//!
//! Error messages never repeat the rejected value: a value pasted into the wrong
//! variable may well be a secret (an Auth Token given as the API key, say).

use std::fmt;

/// The length of every Twilio SID: a two-letter prefix and 32 hexadecimal digits.
pub const SID_LEN: usize = 34;

/// The article of `what` in the messages below: "an" before A, E, I or O, "a" otherwise,
/// which is right for every [`SidKind::name`].
fn article(what: &str) -> &'static str {
    match what.as_bytes().first() {
        Some(b'A' | b'E' | b'I' | b'O' | b'a' | b'e' | b'i' | b'o') => "an",
        _ => "a",
    }
}

/// What went wrong with a SID. No variant carries the rejected value itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SidError {
    /// The value is empty.
    #[error("{field} is empty; expected {} {what} SID ({prefix} followed by 32 hex digits)", article(.what))]
    Empty {
        /// Which setting or field was checked.
        field: &'static str,
        /// What the SID names.
        what: &'static str,
        /// The expected prefix.
        prefix: &'static str,
    },
    /// A 32-character hex string: the shape of an Auth Token or an API key secret.
    #[error(
        "{field} looks like an Auth Token or API key secret (32 hex characters), not {} {what} SID; \
         use the SID that starts with {prefix}, and keep the secret in TWILIO_API_SECRET",
        article(.what)
    )]
    LooksLikeSecret {
        /// Which setting or field was checked.
        field: &'static str,
        /// What the SID names.
        what: &'static str,
        /// The expected prefix.
        prefix: &'static str,
    },
    /// A well-formed SID of another kind (an Account SID where an API key SID belongs, say).
    #[error(
        "{field} is {found_what} SID (starts with {found}), but {} {what} SID (starting with {prefix}) is needed here{hint}",
        article(.what)
    )]
    WrongKind {
        /// Which setting or field was checked.
        field: &'static str,
        /// What the SID should name.
        what: &'static str,
        /// The expected prefix.
        prefix: &'static str,
        /// The prefix that was found.
        found: String,
        /// What the found prefix names, with its article ("an Account", "a").
        found_what: &'static str,
        /// A hint for the usual mix-ups, possibly empty.
        hint: &'static str,
    },
    /// The right prefix, but not 34 characters of prefix and hexadecimal digits.
    #[error(
        "{field} is not a valid {what} SID: expected {prefix} followed by 32 hex digits (34 characters), got {len} characters{detail}"
    )]
    Malformed {
        /// Which setting or field was checked.
        field: &'static str,
        /// What the SID names.
        what: &'static str,
        /// The expected prefix.
        prefix: &'static str,
        /// The length that was found.
        len: usize,
        /// More detail, possibly empty.
        detail: &'static str,
    },
}

/// The kinds of SID that chat-token checks, with their prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SidKind {
    /// `AC`: a Twilio account.
    Account,
    /// `SK`: an API key (the token's issuer).
    ApiKey,
    /// `IS`: a Chat/Conversations service or a Sync service.
    Service,
    /// `CR`: a push credential.
    Credential,
    /// `RL`: a Chat role.
    Role,
    /// `AP`: a TwiML application.
    Application,
    /// `WS`: a TaskRouter workspace.
    Workspace,
    /// `WK`: a TaskRouter worker.
    Worker,
}

impl SidKind {
    const ALL: [SidKind; 8] = [
        SidKind::Account,
        SidKind::ApiKey,
        SidKind::Service,
        SidKind::Credential,
        SidKind::Role,
        SidKind::Application,
        SidKind::Workspace,
        SidKind::Worker,
    ];

    /// The two-letter prefix of this kind.
    pub const fn prefix(self) -> &'static str {
        match self {
            SidKind::Account => "AC",
            SidKind::ApiKey => "SK",
            SidKind::Service => "IS",
            SidKind::Credential => "CR",
            SidKind::Role => "RL",
            SidKind::Application => "AP",
            SidKind::Workspace => "WS",
            SidKind::Worker => "WK",
        }
    }

    /// What a SID of this kind names, in words.
    pub const fn name(self) -> &'static str {
        match self {
            SidKind::Account => "Account",
            SidKind::ApiKey => "API key",
            SidKind::Service => "service",
            SidKind::Credential => "push credential",
            SidKind::Role => "role",
            SidKind::Application => "TwiML application",
            SidKind::Workspace => "TaskRouter workspace",
            SidKind::Worker => "TaskRouter worker",
        }
    }

    const fn with_article(self) -> &'static str {
        match self {
            SidKind::Account => "an Account",
            SidKind::ApiKey => "an API key",
            SidKind::Service => "a service",
            SidKind::Credential => "a push credential",
            SidKind::Role => "a role",
            SidKind::Application => "a TwiML application",
            SidKind::Workspace => "a TaskRouter workspace",
            SidKind::Worker => "a TaskRouter worker",
        }
    }

    /// Checks `value` as a SID of this kind; `field` names the setting in the error.
    pub fn check(self, field: &'static str, value: &str) -> Result<(), SidError> {
        let (what, prefix) = (self.name(), self.prefix());
        if value.is_empty() {
            return Err(SidError::Empty {
                field,
                what,
                prefix,
            });
        }
        let is_hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
        if value.len() == 32 && is_hex(value) {
            return Err(SidError::LooksLikeSecret {
                field,
                what,
                prefix,
            });
        }
        let found = value.get(..2).unwrap_or("");
        if found != prefix {
            if let Some(other) = SidKind::ALL.iter().find(|k| k.prefix() == found) {
                let hint = match (self, other) {
                    (SidKind::ApiKey, SidKind::Account) => {
                        "; create an API key in the Twilio console (it starts with SK) and use its SID and secret, not the Account SID and Auth Token"
                    }
                    (SidKind::Account, SidKind::ApiKey) => {
                        "; the API key SID belongs in TWILIO_API_KEY, the Account SID (AC...) in TWILIO_ACCOUNT_SID"
                    }
                    _ => "",
                };
                return Err(SidError::WrongKind {
                    field,
                    what,
                    prefix,
                    found: found.to_owned(),
                    found_what: other.with_article(),
                    hint,
                });
            }
            return Err(SidError::Malformed {
                field,
                what,
                prefix,
                len: value.chars().count(),
                detail: "; it does not start with the expected prefix",
            });
        }
        if value.len() != SID_LEN || !is_hex(&value[2..]) {
            let detail = if value.len() == SID_LEN {
                "; the part after the prefix is not hexadecimal"
            } else if value.trim() != value {
                "; it has leading or trailing white space"
            } else {
                ""
            };
            return Err(SidError::Malformed {
                field,
                what,
                prefix,
                len: value.chars().count(),
                detail,
            });
        }
        Ok(())
    }
}

macro_rules! sid_newtype {
    ($(#[$doc:meta])* $name:ident, $kind:expr, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Checks the value and wraps it.
            pub fn try_new(value: impl Into<String>) -> Result<Self, SidError> {
                let value = value.into();
                $kind.check($field, &value)?;
                Ok(Self(value))
            }

            /// The SID as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.0).finish()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = SidError;
            fn from_str(s: &str) -> Result<Self, SidError> {
                Self::try_new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

sid_newtype!(
    /// A Twilio Account SID (`AC` + 32 hex digits): the token's subject (`sub`).
    AccountSid,
    SidKind::Account,
    "TWILIO_ACCOUNT_SID"
);
sid_newtype!(
    /// A Twilio API key SID (`SK` + 32 hex digits): the token's issuer (`iss`).
    ApiKeySid,
    SidKind::ApiKey,
    "TWILIO_API_KEY"
);

#[cfg(test)]
mod tests {
    use super::*;

    const AC: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const SK: &str = "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn accepts_well_formed_sids() {
        assert_eq!(AccountSid::try_new(AC).unwrap().as_str(), AC);
        assert_eq!(ApiKeySid::try_new(SK).unwrap().as_str(), SK);
    }

    #[test]
    fn account_sid_given_as_api_key_is_named() {
        let err = ApiKeySid::try_new(AC).unwrap_err();
        assert!(matches!(err, SidError::WrongKind { ref found, .. } if found == "AC"));
        let text = err.to_string();
        assert!(text.contains("TWILIO_API_KEY is an Account SID"), "{text}");
        assert!(text.contains("create an API key"), "{text}");
        assert!(!text.contains(AC));
    }

    #[test]
    fn api_key_given_as_account_is_named() {
        let err = AccountSid::try_new(SK).unwrap_err();
        assert!(err.to_string().contains("an API key SID"), "{err}");
    }

    #[test]
    fn auth_token_shape_is_named_without_echo() {
        let secret = "0123456789abcdef0123456789abcdef";
        let err = ApiKeySid::try_new(secret).unwrap_err();
        assert!(matches!(err, SidError::LooksLikeSecret { .. }));
        assert!(!err.to_string().contains(secret));
    }

    #[test]
    fn malformed_sids_are_rejected() {
        assert!(matches!(
            AccountSid::try_new("").unwrap_err(),
            SidError::Empty { .. }
        ));
        assert!(matches!(
            AccountSid::try_new("ACabc").unwrap_err(),
            SidError::Malformed { len: 5, .. }
        ));
        assert!(matches!(
            AccountSid::try_new("ACzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz").unwrap_err(),
            SidError::Malformed { .. }
        ));
        assert!(matches!(
            AccountSid::try_new("XXaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").unwrap_err(),
            SidError::Malformed { .. }
        ));
        assert!(matches!(
            AccountSid::try_new(format!(" {AC}")).unwrap_err(),
            SidError::Malformed { .. }
        ));
        assert!(matches!(
            AccountSid::try_new("AC\u{e9}aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").unwrap_err(),
            SidError::Malformed { .. }
        ));
    }
}
