//! Development mode and demo users, as `chat-token serve` and the examples read them
//! from the environment (feature `setup`). An app reads its credentials with
//! [`TokenIssuer::from_env`] and does not need this.
//!
//! | variable | meaning |
//! |---|---|
//! | the Twilio variables of [`crate::env`] | the credentials: all, or none for development mode |
//! | `CHAT_TOKEN_USERS` | `token=identity,...` for [`StaticUsers`]; demo users when unset, in development mode only |
//!
//! The demo users' bearer tokens are public. They are handed out only with the public
//! development credentials, whose tokens Twilio refuses: with real credentials and no
//! users, [`EnvSetup::users_or_demo`] is an error that names `CHAT_TOKEN_USERS`.

use crate::env::{
    ENV_ACCOUNT_SID, ENV_API_KEY, ENV_API_KEY_FILE, ENV_API_SECRET, ENV_API_SECRET_FILE, EnvError,
    chat_service,
};
use crate::issuer::{Credentials, TokenIssuer};
use crate::resolvers::{StaticUsers, UsersParseError};

/// The variable holding the static users table.
pub const ENV_USERS: &str = "CHAT_TOKEN_USERS";

/// The demo users of development mode (bearer token = identity).
pub const DEMO_USERS: &str = "demo-alice=alice,demo-bob=bob";

/// [`DEMO_USERS`] as pairs; a test holds the two to each other.
const DEMO_PAIRS: [(&str, &str); 2] = [("demo-alice", "alice"), ("demo-bob", "bob")];

/// The development Account SID: not an account, Twilio refuses its tokens.
pub const DEV_ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
/// The development API key SID.
pub const DEV_API_KEY_SID: &str = "SK00000000000000000000000000000000";
/// The development API key secret: public, so tokens signed with it prove nothing.
pub const DEV_API_SECRET: &str = "development-only-secret-twilio-refuses-it";
/// The development chat service SID.
pub const DEV_CHAT_SERVICE_SID: &str = "IS00000000000000000000000000000000";

/// Why the environment describes no setup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The credentials are incomplete or wrong.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// `CHAT_TOKEN_USERS` does not parse.
    #[error("CHAT_TOKEN_USERS: {0}")]
    Users(#[from] UsersParseError),
    /// Real credentials are set but no users: the public demo users are refused.
    #[error(
        "CHAT_TOKEN_USERS is not set: with real Twilio credentials the public demo users are refused; set CHAT_TOKEN_USERS=\"token=identity,...\" (tokens of 16 characters or more)"
    )]
    NoUsers,
}

/// The issuer and users the environment describes.
#[derive(Debug, Clone)]
#[non_exhaustive]
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
    pub fn from_env() -> Result<Self, SetupError> {
        Self::from_lookup(std::env::var)
    }

    /// Reads the variables through `lookup`.
    pub fn from_lookup(
        lookup: impl Fn(&'static str) -> Result<String, std::env::VarError>,
    ) -> Result<Self, SetupError> {
        let set = |var| !matches!(lookup(var), Err(std::env::VarError::NotPresent));
        let development = ![
            ENV_ACCOUNT_SID,
            ENV_API_KEY,
            ENV_API_KEY_FILE,
            ENV_API_SECRET,
            ENV_API_SECRET_FILE,
        ]
        .into_iter()
        .any(set);
        let issuer = if development {
            TokenIssuer::new(
                Credentials::try_new(DEV_ACCOUNT_SID, DEV_API_KEY_SID, DEV_API_SECRET)
                    .map_err(EnvError::from)?,
            )
        } else {
            TokenIssuer::new(Credentials::from_lookup(&lookup)?)
        };
        let chat_service = match chat_service(&lookup)? {
            None if development => Some(DEV_CHAT_SERVICE_SID.to_owned()),
            sid => sid,
        };
        let issuer = match chat_service {
            Some(sid) => issuer.with_chat_service_sid(sid).map_err(EnvError::from)?,
            None => issuer,
        };
        let users = match lookup(ENV_USERS) {
            Ok(text) => Some(text.parse()?),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(SetupError::from(EnvError::NotUnicode { var: ENV_USERS }));
            }
        };
        Ok(Self {
            issuer,
            development,
            users,
        })
    }

    /// The configured users, or, in development mode only, the demo users (and `true`).
    ///
    /// With real credentials and no `CHAT_TOKEN_USERS`, [`SetupError::NoUsers`]: the demo
    /// users' tokens are public and must never get a token Twilio accepts.
    pub fn users_or_demo(&self) -> Result<(StaticUsers, bool), SetupError> {
        match (&self.users, self.development) {
            (Some(users), _) => Ok((users.clone(), false)),
            (None, true) => {
                tracing::warn!(
                    "DEMO USERS: {ENV_USERS} is not set, so anyone with a demo token gets a token: {DEMO_USERS}"
                );
                Ok((StaticUsers::demo(&DEMO_PAIRS), true))
            }
            (None, false) => Err(SetupError::NoUsers),
        }
    }

    /// Logs a warning in development mode: tokens are signed with the public development
    /// credentials, which Twilio refuses. (The demo users warn when
    /// [`users_or_demo`](Self::users_or_demo) hands them out.)
    pub fn warn(&self) {
        if self.development {
            tracing::warn!(
                "DEVELOPMENT MODE: no Twilio credentials are set, so tokens are signed with public development credentials and Twilio will refuse them; set {ENV_ACCOUNT_SID}, {ENV_API_KEY} and {ENV_API_SECRET}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::ENV_API_SECRET_FILE;

    use std::env::VarError;

    #[test]
    fn the_demo_pairs_are_the_documented_demo_users() {
        let listed: Vec<(&str, &str)> = DEMO_USERS
            .split(',')
            .filter_map(|e| e.split_once('='))
            .collect();
        assert_eq!(listed, DEMO_PAIRS);
        let setup = EnvSetup::from_lookup(|_| Err(VarError::NotPresent)).unwrap();
        let (demo, _) = setup.users_or_demo().unwrap();
        assert_eq!(demo.identities().collect::<Vec<_>>(), ["alice", "bob"]);
        assert_eq!(demo.lookup("demo-bob"), Some("bob"));
    }

    const ACCOUNT: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const KEY_1: &str = "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn vars<'a>(
        list: &'a [(&'static str, &'a str)],
    ) -> impl Fn(&'static str) -> Result<String, VarError> + 'a {
        move |v| {
            list.iter()
                .find(|(k, _)| *k == v)
                .map(|(_, value)| (*value).to_owned())
                .ok_or(VarError::NotPresent)
        }
    }

    #[test]
    fn real_credentials_never_get_the_demo_users() {
        let setup = EnvSetup::from_lookup(vars(&[
            (ENV_ACCOUNT_SID, ACCOUNT),
            (ENV_API_KEY, KEY_1),
            (ENV_API_SECRET, "a-real-looking-secret-Xy7"),
        ]))
        .unwrap();
        assert!(!setup.development);
        let err = setup.users_or_demo().unwrap_err();
        assert_eq!(err, SetupError::NoUsers);
        assert!(err.to_string().contains("CHAT_TOKEN_USERS"), "{err}");
        let with_users = EnvSetup::from_lookup(vars(&[
            (ENV_ACCOUNT_SID, ACCOUNT),
            (ENV_API_KEY, KEY_1),
            (ENV_API_SECRET, "a-real-looking-secret-Xy7"),
            (ENV_USERS, "user-token-0123456789=carol"),
        ]))
        .unwrap();
        let (users, demo) = with_users.users_or_demo().unwrap();
        assert!(!demo);
        assert_eq!(users.lookup("demo-alice"), None);
    }

    #[test]
    fn the_key_sid_is_read_from_its_file_and_not_from_both_forms() {
        let dir = std::env::temp_dir().join(format!("chat-token-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key_file = dir.join("key");
        let secret_file = dir.join("secret");
        std::fs::write(&key_file, format!("{KEY_1}\n")).unwrap();
        std::fs::write(&secret_file, "first-secret-Aa1\n").unwrap();
        let (key_path, secret_path) = (
            key_file.to_str().unwrap().to_owned(),
            secret_file.to_str().unwrap().to_owned(),
        );
        let list = [
            (ENV_ACCOUNT_SID, ACCOUNT),
            (ENV_API_KEY_FILE, key_path.as_str()),
            (ENV_API_SECRET_FILE, secret_path.as_str()),
        ];
        let setup = EnvSetup::from_lookup(vars(&list)).unwrap();
        assert_eq!(setup.issuer.credentials().api_key_sid().as_str(), KEY_1);
        // Both key variables: refused.
        let both = [
            (ENV_ACCOUNT_SID, ACCOUNT),
            (ENV_API_KEY, KEY_1),
            (ENV_API_KEY_FILE, key_path.as_str()),
            (ENV_API_SECRET_FILE, secret_path.as_str()),
        ];
        assert!(matches!(
            EnvSetup::from_lookup(vars(&both)).unwrap_err(),
            SetupError::Env(EnvError::AmbiguousKey)
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nothing_set_is_development() {
        let setup = EnvSetup::from_lookup(|_| Err(VarError::NotPresent)).unwrap();
        assert!(setup.development);
        assert_eq!(setup.issuer.chat_service_sid(), Some(DEV_CHAT_SERVICE_SID));
        let (users, demo) = setup.users_or_demo().unwrap();
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
        assert!(matches!(err, SetupError::Users(_)));
    }
}
