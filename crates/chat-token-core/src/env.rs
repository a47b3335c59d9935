//! Configuration from the environment, as the examples and `chat-token serve` read it,
//! with a clearly marked development mode when no Twilio credentials are set.
//!
//! | variable | meaning |
//! |---|---|
//! | `TWILIO_ACCOUNT_SID`, `TWILIO_API_KEY`, `TWILIO_API_SECRET` | the credentials; all three, or none for development mode |
//! | `TWILIO_API_SECRET_FILE` | a file holding the secret, instead of `TWILIO_API_SECRET` |
//! | `TWILIO_CHAT_SERVICE_SID` | the Conversations/Chat service of the default chat grant |
//! | `CHAT_TOKEN_USERS` | `token=identity,...` for [`StaticUsers`]; demo users when unset |

use crate::issuer::{
    ConfigError, Credentials, ENV_ACCOUNT_SID, ENV_API_KEY, ENV_API_SECRET, ENV_API_SECRET_FILE,
    ENV_CHAT_SERVICE_SID, TokenIssuer,
};
use crate::resolver::{StaticUsers, UsersParseError};

/// The variable holding the static users table.
pub const ENV_USERS: &str = "CHAT_TOKEN_USERS";

/// The demo users of development mode (bearer token = identity).
pub const DEMO_USERS: &str = "demo-alice=alice,demo-bob=bob";

/// The development Account SID: not an account, Twilio refuses its tokens.
pub const DEV_ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
/// The development API key SID.
pub const DEV_API_KEY_SID: &str = "SK00000000000000000000000000000000";
/// The development API key secret: public, so tokens signed with it prove nothing.
pub const DEV_API_SECRET: &str = "development-only-secret-twilio-refuses-it";
/// The development chat service SID.
pub const DEV_CHAT_SERVICE_SID: &str = "IS00000000000000000000000000000000";

/// Why the environment could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// The credentials are incomplete or wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `CHAT_TOKEN_USERS` does not parse.
    #[error("CHAT_TOKEN_USERS: {0}")]
    Users(#[from] UsersParseError),
}

/// The issuer and users the environment describes.
#[derive(Debug, Clone)]
pub struct EnvSetup {
    /// Signs the tokens.
    pub issuer: TokenIssuer,
    /// True when no Twilio credentials were set and the development ones are in use.
    pub development: bool,
    /// The users from `CHAT_TOKEN_USERS`, if set.
    pub users: Option<StaticUsers>,
}

impl EnvSetup {
    /// Reads the environment (see the module docs).
    pub fn from_env() -> Result<Self, EnvError> {
        Self::from_lookup(std::env::var)
    }

    /// Reads the variables through `lookup`.
    pub fn from_lookup(
        lookup: impl Fn(&'static str) -> Result<String, std::env::VarError>,
    ) -> Result<Self, EnvError> {
        let set = |var| !matches!(lookup(var), Err(std::env::VarError::NotPresent));
        let development = ![
            ENV_ACCOUNT_SID,
            ENV_API_KEY,
            ENV_API_SECRET,
            ENV_API_SECRET_FILE,
        ]
        .into_iter()
        .any(set);
        let issuer = if development {
            TokenIssuer::new(Credentials::try_new(
                DEV_ACCOUNT_SID,
                DEV_API_KEY_SID,
                DEV_API_SECRET,
            )?)
        } else {
            TokenIssuer::new(Credentials::from_lookup(&lookup)?)
        };
        let chat_service = match lookup(ENV_CHAT_SERVICE_SID) {
            Ok(sid) if !sid.is_empty() => Some(sid),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(ConfigError::NotUnicode {
                    var: ENV_CHAT_SERVICE_SID,
                }
                .into());
            }
            _ if development => Some(DEV_CHAT_SERVICE_SID.to_owned()),
            _ => None,
        };
        let issuer = match chat_service {
            Some(sid) => issuer.with_chat_service_sid(sid)?,
            None => issuer,
        };
        let users = match lookup(ENV_USERS) {
            Ok(text) => Some(text.parse()?),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(ConfigError::NotUnicode { var: ENV_USERS }.into());
            }
        };
        Ok(Self {
            issuer,
            development,
            users,
        })
    }

    /// The configured users, or the demo users (and `true`) when none are configured.
    pub fn users_or_demo(&self) -> (StaticUsers, bool) {
        match &self.users {
            Some(users) => (users.clone(), false),
            None => (
                StaticUsers::from_checked_pairs(
                    DEMO_USERS
                        .split(',')
                        .filter_map(|entry| entry.split_once('=')),
                ),
                true,
            ),
        }
    }

    /// Reads the credentials again (a rotated `TWILIO_API_SECRET_FILE`, say) and returns
    /// an issuer with them and this setup's chat service and clock settings.
    pub fn reload_issuer(&self) -> Result<TokenIssuer, EnvError> {
        if self.development {
            return Ok(self.issuer.clone());
        }
        let issuer = TokenIssuer::new(Credentials::from_env()?);
        Ok(match self.issuer.chat_service_sid() {
            Some(sid) => issuer.with_chat_service_sid(sid)?,
            None => issuer,
        })
    }

    /// Logs a loud warning when in development mode or using demo users.
    pub fn warn(&self) {
        if self.development {
            tracing::warn!(
                "DEVELOPMENT MODE: no Twilio credentials are set, so tokens are signed with public development credentials and Twilio will refuse them; set {ENV_ACCOUNT_SID}, {ENV_API_KEY} and {ENV_API_SECRET}"
            );
        }
        if self.users.is_none() {
            tracing::warn!(
                "DEMO USERS: {ENV_USERS} is not set, so anyone with a demo token gets a token: {DEMO_USERS}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::env::VarError;

    #[test]
    fn the_demo_users_pass_the_checked_parser() {
        let checked: StaticUsers = DEMO_USERS.parse().unwrap();
        let setup = EnvSetup::from_lookup(|_| Err(VarError::NotPresent)).unwrap();
        let (demo, _) = setup.users_or_demo();
        assert_eq!(
            checked.identities().collect::<Vec<_>>(),
            demo.identities().collect::<Vec<_>>()
        );
        assert_eq!(demo.lookup("demo-bob"), Some("bob"));
    }

    #[test]
    fn nothing_set_is_development() {
        let setup = EnvSetup::from_lookup(|_| Err(VarError::NotPresent)).unwrap();
        assert!(setup.development);
        assert_eq!(setup.issuer.chat_service_sid(), Some(DEV_CHAT_SERVICE_SID));
        let (users, demo) = setup.users_or_demo();
        assert!(demo);
        assert_eq!(users.lookup("demo-alice"), Some("alice"));
    }

    #[test]
    fn partial_credentials_name_the_missing_variable() {
        let err = EnvSetup::from_lookup(|v| {
            if v == ENV_ACCOUNT_SID {
                Ok("ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into())
            } else {
                Err(VarError::NotPresent)
            }
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("TWILIO_API_KEY is not set"),
            "{err}"
        );
    }

    #[test]
    fn bad_users_are_reported() {
        let err = EnvSetup::from_lookup(|v| {
            if v == ENV_USERS {
                Ok("nonsense".into())
            } else {
                Err(VarError::NotPresent)
            }
        })
        .unwrap_err();
        assert!(matches!(err, EnvError::Users(_)));
    }
}
