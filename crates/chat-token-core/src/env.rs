//! Twilio's credentials from the environment, for apps and for `chat-token serve`.
//!
//! | variable | meaning |
//! |---|---|
//! | `TWILIO_ACCOUNT_SID`, `TWILIO_API_KEY`, `TWILIO_API_SECRET` | the credentials |
//! | `TWILIO_API_SECRET_FILE` | a file holding the secret, instead of `TWILIO_API_SECRET` |
//! | `TWILIO_API_KEY_FILE` | a file holding the API key SID, instead of `TWILIO_API_KEY` |
//! | `TWILIO_CHAT_SERVICE_SID` | the Conversations/Chat service of the default chat grant |
//!
//! Secret files (mounted by a container platform, say) follow one set of rules,
//! [`read_secret_file`].

use std::path::Path;

use secrecy::ExposeSecret as _;
use secrecy::SecretString;

use crate::issuer::{Credentials, CredentialsError, TokenIssuer};

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

/// Why the environment gave no credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// A required environment variable is not set.
    #[error(
        "{var} is not set; set it to your {what} (Twilio console: Account > API keys & tokens)"
    )]
    MissingVar {
        /// The variable.
        var: &'static str,
        /// What it should hold.
        what: &'static str,
    },
    /// An environment variable is not valid Unicode.
    #[error("{var} is not valid UTF-8")]
    NotUnicode {
        /// The variable.
        var: &'static str,
    },
    /// Both `TWILIO_API_SECRET` and `TWILIO_API_SECRET_FILE` are set.
    #[error("both TWILIO_API_SECRET and TWILIO_API_SECRET_FILE are set; set only one")]
    AmbiguousSecret,
    /// Both `TWILIO_API_KEY` and `TWILIO_API_KEY_FILE` are set.
    #[error("both TWILIO_API_KEY and TWILIO_API_KEY_FILE are set; set only one")]
    AmbiguousKey,
    /// The key SID file cannot be used (unreadable, or breaking the rules of
    /// [`read_secret_file`]).
    #[error("TWILIO_API_KEY_FILE {path} cannot be used: {reason}")]
    KeyFile {
        /// The file's path.
        path: String,
        /// Why (the rule broken or the I/O error, never the content).
        reason: String,
    },
    /// The secret file cannot be used (unreadable, or breaking the rules of
    /// [`read_secret_file`]).
    #[error("TWILIO_API_SECRET_FILE {path} cannot be used: {reason}")]
    SecretFile {
        /// The file's path.
        path: String,
        /// Why (the rule broken or the I/O error, never the content).
        reason: String,
    },
    /// The values are set but are not valid credentials.
    #[error("the Twilio credentials in the environment: {0}")]
    Credentials(#[from] CredentialsError),
}

/// The warning for an API key secret with an account Auth Token's shape (32 lower-case
/// hex characters), which Twilio refuses: [`TokenIssuer::from_env`] logs it, and
/// `chat-token` prints it.
pub const AUTH_TOKEN_WARNING: &str = "the API key secret (TWILIO_API_SECRET or TWILIO_API_SECRET_FILE) looks like an Auth Token; use an API key's secret (32 lower-case hex characters is the shape of an Account Auth Token, and Twilio refuses every token signed with one: error 20107)";

impl Credentials {
    /// Reads `TWILIO_ACCOUNT_SID`, `TWILIO_API_KEY` (or `TWILIO_API_KEY_FILE`) and
    /// `TWILIO_API_SECRET` (or `TWILIO_API_SECRET_FILE`).
    pub fn from_env() -> Result<Self, EnvError> {
        Self::from_lookup(std::env::var)
    }

    /// Reads the same variables through `lookup` (for tests and custom sources).
    pub fn from_lookup(
        lookup: impl Fn(&'static str) -> Result<String, std::env::VarError>,
    ) -> Result<Self, EnvError> {
        let get = |var: &'static str, what: &'static str| match lookup(var) {
            Ok(v) => Ok(v),
            Err(std::env::VarError::NotPresent) => Err(EnvError::MissingVar { var, what }),
            Err(std::env::VarError::NotUnicode(_)) => Err(EnvError::NotUnicode { var }),
        };
        let account = get(ENV_ACCOUNT_SID, "Account SID (AC...)")?;
        let key = match (lookup(ENV_API_KEY), lookup(ENV_API_KEY_FILE)) {
            (Ok(_), Ok(_)) => return Err(EnvError::AmbiguousKey),
            (Err(std::env::VarError::NotPresent), Ok(path)) => read_secret_file(Path::new(&path))
                .map(|text| text.expose_secret().trim().to_owned())
                .map_err(|e| EnvError::KeyFile {
                    path,
                    reason: e.to_string(),
                })?,
            (Err(std::env::VarError::NotPresent), Err(std::env::VarError::NotUnicode(_))) => {
                return Err(EnvError::NotUnicode {
                    var: ENV_API_KEY_FILE,
                });
            }
            _ => get(
                ENV_API_KEY,
                "API key SID (SK...), or TWILIO_API_KEY_FILE to a file holding it",
            )?,
        };
        let secret = match (lookup(ENV_API_SECRET), lookup(ENV_API_SECRET_FILE)) {
            (Ok(_), Ok(_)) => return Err(EnvError::AmbiguousSecret),
            (Err(std::env::VarError::NotPresent), Ok(path)) => {
                read_secret_file(Path::new(&path)).map_err(|e| EnvError::SecretFile {
                    path,
                    reason: e.to_string(),
                })?
            }
            (Err(std::env::VarError::NotPresent), Err(std::env::VarError::NotUnicode(_))) => {
                return Err(EnvError::NotUnicode {
                    var: ENV_API_SECRET_FILE,
                });
            }
            _ => SecretString::from(get(
                ENV_API_SECRET,
                "API key secret, or TWILIO_API_SECRET_FILE to a file holding it",
            )?),
        };
        Ok(Self::try_new(account, key, secret.expose_secret())?)
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
    /// An issuer from the credentials of [`Credentials::from_env`], and the optional
    /// `TWILIO_CHAT_SERVICE_SID` as the default chat service (without it, a chat grant
    /// names no service unless the app gives one). A secret with an account Auth Token's
    /// shape, which Twilio refuses (20107), logs a warning.
    pub fn from_env() -> Result<Self, EnvError> {
        let credentials = Credentials::from_env()?;
        if credentials.secret_looks_like_auth_token() {
            tracing::warn!("{AUTH_TOKEN_WARNING}");
        }
        let issuer = Self::new(credentials);
        match chat_service(std::env::var)? {
            Some(sid) => Ok(issuer.with_chat_service_sid(sid)?),
            None => Ok(issuer),
        }
    }
}

/// `TWILIO_CHAT_SERVICE_SID`, when set and not empty.
pub(crate) fn chat_service(
    lookup: impl Fn(&'static str) -> Result<String, std::env::VarError>,
) -> Result<Option<String>, EnvError> {
    match lookup(ENV_CHAT_SERVICE_SID) {
        Ok(sid) if !sid.is_empty() => {
            crate::sid::SidKind::Service
                .check(ENV_CHAT_SERVICE_SID, &sid)
                .map_err(CredentialsError::from)?;
            Ok(Some(sid))
        }
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(EnvError::NotUnicode {
            var: ENV_CHAT_SERVICE_SID,
        }),
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
            EnvError::MissingVar {
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
            EnvError::AmbiguousSecret
        );
        let missing = dir.join("missing").to_string_lossy().into_owned();
        let err = Credentials::from_lookup(lookup(false, missing)).unwrap_err();
        assert!(matches!(err, EnvError::SecretFile { .. }), "{err}");
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
                EnvError::SecretFile {
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
}
