//! Configuration from the environment, as the examples and `chat-token serve` read it,
//! with a clearly marked development mode when no Twilio credentials are set.
//!
//! | variable | meaning |
//! |---|---|
//! | `TWILIO_ACCOUNT_SID`, `TWILIO_API_KEY`, `TWILIO_API_SECRET` | the credentials; all three, or none for development mode |
//! | `TWILIO_API_SECRET_FILE` | a file holding the secret, instead of `TWILIO_API_SECRET` |
//! | `TWILIO_API_KEY_FILE` | a file holding the API key SID, instead of `TWILIO_API_KEY` |
//! | `TWILIO_CHAT_SERVICE_SID` | the Conversations/Chat service of the default chat grant |
//! | `CHAT_TOKEN_USERS` | `token=identity,...` for [`StaticUsers`]; demo users when unset, in development mode only |
//!
//! The demo users' bearer tokens are public. They are handed out only with the public
//! development credentials, whose tokens Twilio refuses: with real credentials and no
//! users, [`EnvSetup::users_or_demo`] is an error that names `CHAT_TOKEN_USERS`.

use std::path::Path;

use secrecy::ExposeSecret as _;
use secrecy::SecretString;

use crate::issuer::{ConfigError, Credentials, TokenIssuer};
use crate::resolvers::{StaticUsers, UsersParseError};

/// The environment variable holding the Account SID (`AC...`).
pub const ENV_ACCOUNT_SID: &str = "TWILIO_ACCOUNT_SID";
/// The environment variable holding the API key SID (`SK...`).
pub const ENV_API_KEY: &str = "TWILIO_API_KEY";
/// The environment variable holding the API key secret.
pub const ENV_API_SECRET: &str = "TWILIO_API_SECRET";
/// The environment variable naming a file that holds the API key secret (a container
/// secret mount), as an alternative to [`ENV_API_SECRET`].
pub const ENV_API_SECRET_FILE: &str = "TWILIO_API_SECRET_FILE";
/// The environment variable naming a file that holds the API key SID, as an alternative
/// to [`ENV_API_KEY`]. With it and [`ENV_API_SECRET_FILE`], a key rotation (a new key SID
/// and its secret) is two file writes and a reload.
pub const ENV_API_KEY_FILE: &str = "TWILIO_API_KEY_FILE";
/// The environment variable holding the default Chat/Conversations service SID (`IS...`).
pub const ENV_CHAT_SERVICE_SID: &str = "TWILIO_CHAT_SERVICE_SID";

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

impl Credentials {
    /// Reads `TWILIO_ACCOUNT_SID`, `TWILIO_API_KEY` and `TWILIO_API_SECRET`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(std::env::var)
    }

    /// Reads the three variables through `lookup` (for tests and custom sources).
    pub fn from_lookup(
        lookup: impl Fn(&'static str) -> Result<String, std::env::VarError>,
    ) -> Result<Self, ConfigError> {
        let get = |var: &'static str, what: &'static str| match lookup(var) {
            Ok(v) => Ok(v),
            Err(std::env::VarError::NotPresent) => Err(ConfigError::MissingVar { var, what }),
            Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::NotUnicode { var }),
        };
        let account = get(ENV_ACCOUNT_SID, "Account SID (AC...)")?;
        let key = match (lookup(ENV_API_KEY), lookup(ENV_API_KEY_FILE)) {
            (Ok(_), Ok(_)) => return Err(ConfigError::AmbiguousKey),
            (Err(std::env::VarError::NotPresent), Ok(path)) => read_secret_file(Path::new(&path))
                .map(|text| text.expose_secret().trim().to_owned())
                .map_err(|e| ConfigError::KeyFile {
                    path,
                    reason: e.to_string(),
                })?,
            (Err(std::env::VarError::NotPresent), Err(std::env::VarError::NotUnicode(_))) => {
                return Err(ConfigError::NotUnicode {
                    var: ENV_API_KEY_FILE,
                });
            }
            _ => get(
                ENV_API_KEY,
                "API key SID (SK...), or TWILIO_API_KEY_FILE to a file holding it",
            )?,
        };
        let secret = match (lookup(ENV_API_SECRET), lookup(ENV_API_SECRET_FILE)) {
            (Ok(_), Ok(_)) => return Err(ConfigError::AmbiguousSecret),
            (Err(std::env::VarError::NotPresent), Ok(path)) => {
                read_secret_file(Path::new(&path)).map_err(|e| ConfigError::SecretFile {
                    path,
                    reason: e.to_string(),
                })?
            }
            (Err(std::env::VarError::NotPresent), Err(std::env::VarError::NotUnicode(_))) => {
                return Err(ConfigError::NotUnicode {
                    var: ENV_API_SECRET_FILE,
                });
            }
            _ => SecretString::from(get(
                ENV_API_SECRET,
                "API key secret, or TWILIO_API_SECRET_FILE to a file holding it",
            )?),
        };
        Self::try_new(account, key, secret.expose_secret())
    }
}

/// A secret file larger than this is refused: an API key secret is 32 characters, a key
/// SID 34.
pub const MAX_SECRET_FILE: u64 = 4096;

/// Why a secret file cannot be used. The messages name the rule, never the content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretFileError {
    /// The path is empty.
    #[error("no path is given")]
    NoPath,
    /// It could not be opened or read.
    #[error("it could not be read ({0})")]
    Unreadable(String),
    /// It is not a regular file (a FIFO or a device would block the read, or never end).
    #[error("it is not a regular file")]
    NotRegular,
    /// It is larger than [`MAX_SECRET_FILE`].
    #[error("it has more than {MAX_SECRET_FILE} bytes; it must hold the one value alone")]
    TooLarge,
    /// It is not UTF-8.
    #[error("it is not UTF-8")]
    NotUtf8,
    /// It is empty (but for a line break).
    #[error("it is empty")]
    Empty,
    /// It holds more than one line.
    #[error("it has more than one line; it must hold the one value alone")]
    Lines,
}

/// Opens `path` for reading if it is a regular file: opened without waiting (a FIFO or
/// a device opened for reading may wait for a writer for ever), then checked on what
/// was opened, so that no swap between a check and the opening slips another kind of
/// file in. The file and its metadata. It blocks on the file system (a hung network
/// mount): an async caller runs it on a blocking thread.
pub fn open_regular(path: &Path) -> Result<(std::fs::File, std::fs::Metadata), SecretFileError> {
    if path.as_os_str().is_empty() {
        return Err(SecretFileError::NoPath);
    }
    let unreadable = |e: std::io::Error| SecretFileError::Unreadable(e.to_string());
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(unreadable)?;
    let metadata = file.metadata().map_err(unreadable)?;
    if !metadata.is_file() {
        return Err(SecretFileError::NotRegular);
    }
    Ok((file, metadata))
}

/// Reads a file that holds one secret value (an API key secret, a key SID, a login
/// secret), by the rules every secret file of this project follows: a regular file of
/// at most [`MAX_SECRET_FILE`] bytes, UTF-8, one line, not empty; one trailing line break
/// (as editors and `echo` write) is dropped. It blocks on the file system: an async
/// caller runs it on a blocking thread (`tokio::task::spawn_blocking`).
pub fn read_secret_file(path: &Path) -> Result<SecretString, SecretFileError> {
    use std::io::Read as _;
    let (file, metadata) = open_regular(path)?;
    if metadata.len() > MAX_SECRET_FILE {
        return Err(SecretFileError::TooLarge);
    }
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| SecretFileError::Unreadable(e.to_string()))?;
    if bytes.len() as u64 > MAX_SECRET_FILE {
        return Err(SecretFileError::TooLarge);
    }
    let text = SecretString::from(String::from_utf8(bytes).map_err(|_| SecretFileError::NotUtf8)?);
    let exposed = text.expose_secret();
    let value = exposed
        .strip_suffix("\r\n")
        .or_else(|| exposed.strip_suffix('\n'))
        .unwrap_or(exposed);
    if value.is_empty() {
        return Err(SecretFileError::Empty);
    }
    if value.contains(['\n', '\r']) {
        return Err(SecretFileError::Lines);
    }
    Ok(SecretString::from(value))
}

impl TokenIssuer {
    /// An issuer from `TWILIO_ACCOUNT_SID`, `TWILIO_API_KEY`, `TWILIO_API_SECRET`, and
    /// the optional `TWILIO_CHAT_SERVICE_SID` as the default chat service.
    pub fn from_env() -> Result<Self, ConfigError> {
        let issuer = Self::new(Credentials::from_env()?);
        match chat_service(std::env::var)? {
            Some(sid) => issuer.with_chat_service_sid(sid),
            None => Ok(issuer),
        }
    }
}

/// `TWILIO_CHAT_SERVICE_SID`, when set and not empty.
fn chat_service(
    lookup: impl Fn(&'static str) -> Result<String, std::env::VarError>,
) -> Result<Option<String>, ConfigError> {
    match lookup(ENV_CHAT_SERVICE_SID) {
        Ok(sid) if !sid.is_empty() => {
            crate::sid::SidKind::Service.check(ENV_CHAT_SERVICE_SID, &sid)?;
            Ok(Some(sid))
        }
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::NotUnicode {
            var: ENV_CHAT_SERVICE_SID,
        }),
    }
}

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
    /// Real credentials are set but no users: the public demo users are refused.
    #[error(
        "CHAT_TOKEN_USERS is not set: with real Twilio credentials the public demo users are refused; set CHAT_TOKEN_USERS=\"token=identity,...\" (tokens of 16 characters or more)"
    )]
    NoUsers,
    /// A reload found a new secret under the same API key SID.
    #[error(
        "the API key secret changed but the API key SID did not; a Twilio API key's secret never changes, so a new secret belongs to a new key: update TWILIO_API_KEY_FILE with the new key SID together with TWILIO_API_SECRET_FILE"
    )]
    SecretWithoutNewKey,
    /// A reload found a secret with the shape of an Auth Token.
    #[error(
        "the new API key secret has the shape of an account Auth Token (32 lower-case hex characters), which Twilio refuses (20107); use the secret of an API key"
    )]
    SecretLooksLikeAuthToken,
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
            ENV_API_KEY_FILE,
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
        let chat_service = match chat_service(&lookup)? {
            None if development => Some(DEV_CHAT_SERVICE_SID.to_owned()),
            sid => sid,
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

    /// The configured users, or, in development mode only, the demo users (and `true`).
    ///
    /// With real credentials and no `CHAT_TOKEN_USERS`, [`EnvError::NoUsers`]: the demo
    /// users' tokens are public and must never get a token Twilio accepts.
    pub fn users_or_demo(&self) -> Result<(StaticUsers, bool), EnvError> {
        match (&self.users, self.development) {
            (Some(users), _) => Ok((users.clone(), false)),
            (None, true) => {
                tracing::warn!(
                    "DEMO USERS: {ENV_USERS} is not set, so anyone with a demo token gets a token: {DEMO_USERS}"
                );
                Ok((StaticUsers::demo(&DEMO_PAIRS), true))
            }
            (None, false) => Err(EnvError::NoUsers),
        }
    }

    /// Reads the credentials again (a rotation written to `TWILIO_API_KEY_FILE` and
    /// `TWILIO_API_SECRET_FILE`, say) and returns an issuer with them and this setup's
    /// chat service.
    ///
    /// Refused, so that the caller keeps `current`: credentials that do not check, a
    /// secret with an Auth Token's shape, and a new secret under `current`'s API key SID
    /// (Twilio never changes a key's secret, so tokens signed that way would all be
    /// refused).
    pub fn reload_issuer(&self, current: &TokenIssuer) -> Result<TokenIssuer, EnvError> {
        self.reload_issuer_from(current, std::env::var)
    }

    /// [`reload_issuer`](Self::reload_issuer) with the variables read through `lookup`.
    pub fn reload_issuer_from(
        &self,
        current: &TokenIssuer,
        lookup: impl Fn(&'static str) -> Result<String, std::env::VarError>,
    ) -> Result<TokenIssuer, EnvError> {
        if self.development {
            return Ok(self.issuer.clone());
        }
        let credentials = Credentials::from_lookup(lookup)?;
        if credentials.secret_looks_like_auth_token() {
            return Err(EnvError::SecretLooksLikeAuthToken);
        }
        let old = current.credentials();
        let same_key = credentials.api_key_sid() == old.api_key_sid();
        let same_secret = credentials.secret().expose_secret() == old.secret().expose_secret();
        if same_key && !same_secret {
            return Err(EnvError::SecretWithoutNewKey);
        }
        let issuer = TokenIssuer::new(credentials);
        Ok(match self.issuer.chat_service_sid() {
            Some(sid) => issuer.with_chat_service_sid(sid)?,
            None => issuer,
        })
    }

    /// Logs a warning in development mode: tokens are signed with the public development
    /// credentials, which Twilio refuses. (Building a [`TokenService`](crate::TokenService)
    /// with them warns too; the demo users warn when [`users_or_demo`](Self::users_or_demo)
    /// hands them out.)
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
    use crate::issuer::tests::{AC, SECRET, SK};

    #[test]
    fn a_missing_secret_is_named() {
        let err = Credentials::from_lookup(|v| {
            if v == ENV_API_SECRET || v == ENV_API_SECRET_FILE || v == ENV_API_KEY_FILE {
                Err(std::env::VarError::NotPresent)
            } else if v == ENV_ACCOUNT_SID {
                Ok(AC.into())
            } else {
                Ok(SK.into())
            }
        })
        .unwrap_err();
        assert_eq!(
            err,
            ConfigError::MissingVar {
                var: ENV_API_SECRET,
                what: "API key secret, or TWILIO_API_SECRET_FILE to a file holding it"
            }
        );
        assert!(err.to_string().contains("TWILIO_API_SECRET is not set"));
    }

    /// Opening never waits on a FIFO, even one swapped in for a regular file while
    /// secret files are being read (a check of the path before the opening would not see
    /// it): every read ends, refused or with the secret.
    #[cfg(unix)]
    #[test]
    fn a_fifo_swapped_in_is_never_waited_on() {
        let dir = std::env::temp_dir().join(format!("chat-token-fifo-race-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, format!("{SECRET}\n")).unwrap();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flipper = {
            let (dir, path, done) = (dir.clone(), path.clone(), done.clone());
            std::thread::spawn(move || {
                for n in 0..300 {
                    let aside = dir.join(format!("aside-{n}"));
                    let made = if n % 2 == 0 {
                        std::process::Command::new("mkfifo")
                            .arg(&aside)
                            .status()
                            .is_ok_and(|s| s.success())
                    } else {
                        std::fs::write(&aside, format!("{SECRET}\n")).is_ok()
                    };
                    if made {
                        let _ = std::fs::rename(&aside, &path);
                    }
                }
                done.store(true, std::sync::atomic::Ordering::Relaxed);
            })
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = {
            let (path, done) = (path.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = read_secret_file(&path);
                    if tx.send(()).is_err() {
                        break;
                    }
                }
            })
        };
        let mut reads = 0;
        loop {
            // A read waiting on a FIFO never ends: 30 s is ample for one read.
            match rx.recv_timeout(std::time::Duration::from_secs(30)) {
                Ok(()) => reads += 1,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    panic!("a read of a secret file did not end: it waits on a FIFO")
                }
            }
        }
        let _ = (flipper.join(), reader.join());
        assert!(reads > 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn secret_from_a_file() {
        let dir = std::env::temp_dir().join(format!("chat-token-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("secret");
        std::fs::write(&file, format!("{SECRET}\n")).unwrap();
        let path = file.to_string_lossy().into_owned();
        let lookup = |with_plain: bool, path: String| {
            move |v: &'static str| match v {
                ENV_ACCOUNT_SID => Ok(AC.to_owned()),
                ENV_API_KEY => Ok(SK.to_owned()),
                ENV_API_SECRET_FILE => Ok(path.clone()),
                ENV_API_SECRET if with_plain => Ok(SECRET.to_owned()),
                _ => Err(std::env::VarError::NotPresent),
            }
        };
        let creds = Credentials::from_lookup(lookup(false, path.clone())).unwrap();
        assert_eq!(creds.secret().expose_secret(), SECRET);
        assert_eq!(
            Credentials::from_lookup(lookup(true, path.clone())).unwrap_err(),
            ConfigError::AmbiguousSecret
        );
        let missing = dir.join("missing").to_string_lossy().into_owned();
        let err = Credentials::from_lookup(lookup(false, missing)).unwrap_err();
        assert!(matches!(err, ConfigError::SecretFile { .. }), "{err}");
        // The secret-file rules, named in the error.
        for (content, rule) in [
            ("".to_owned(), SecretFileError::Empty),
            ("\n".to_owned(), SecretFileError::Empty),
            (format!("{SECRET}\nsecond\n"), SecretFileError::Lines),
            ("s".repeat(4097), SecretFileError::TooLarge),
        ] {
            std::fs::write(&file, content).unwrap();
            assert_eq!(
                Credentials::from_lookup(lookup(false, path.clone())).unwrap_err(),
                ConfigError::SecretFile {
                    path: path.clone(),
                    reason: rule.to_string()
                }
            );
        }
        assert_eq!(
            read_secret_file(&dir).err(),
            Some(SecretFileError::NotRegular)
        );
        assert_eq!(
            read_secret_file(Path::new("")).err(),
            Some(SecretFileError::NoPath)
        );
        std::fs::write(&file, format!("{SECRET}\r\n")).unwrap();
        assert_eq!(
            read_secret_file(&file).map(|s| s.expose_secret().to_owned()),
            Ok(SECRET.to_owned())
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

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
    const KEY_2: &str = "SKcccccccccccccccccccccccccccccccc";

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
        assert_eq!(err, EnvError::NoUsers);
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
    fn a_reload_takes_the_key_sid_with_the_secret() {
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
        let current = setup.issuer.clone();
        // A real rotation: new key SID and its secret.
        std::fs::write(&key_file, KEY_2).unwrap();
        std::fs::write(&secret_file, "second-secret-Bb2").unwrap();
        let rotated = setup.reload_issuer_from(&current, vars(&list)).unwrap();
        assert_eq!(rotated.credentials().api_key_sid().as_str(), KEY_2);
        // Only the secret changed: refused, the caller keeps the current issuer.
        std::fs::write(&secret_file, "third-secret-Cc3").unwrap();
        assert_eq!(
            setup.reload_issuer_from(&rotated, vars(&list)).unwrap_err(),
            EnvError::SecretWithoutNewKey
        );
        // An Auth Token's shape: refused.
        std::fs::write(&key_file, KEY_1).unwrap();
        std::fs::write(&secret_file, "0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(
            setup.reload_issuer_from(&rotated, vars(&list)).unwrap_err(),
            EnvError::SecretLooksLikeAuthToken
        );
        // Nothing changed: fine.
        std::fs::write(&key_file, KEY_2).unwrap();
        std::fs::write(&secret_file, "second-secret-Bb2").unwrap();
        assert!(setup.reload_issuer_from(&rotated, vars(&list)).is_ok());
        // Both key variables: refused.
        let both = [
            (ENV_ACCOUNT_SID, ACCOUNT),
            (ENV_API_KEY, KEY_1),
            (ENV_API_KEY_FILE, key_path.as_str()),
            (ENV_API_SECRET_FILE, secret_path.as_str()),
        ];
        assert!(matches!(
            EnvSetup::from_lookup(vars(&both)).unwrap_err(),
            EnvError::Config(ConfigError::AmbiguousKey)
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
        assert!(matches!(err, EnvError::Users(_)));
    }
}
