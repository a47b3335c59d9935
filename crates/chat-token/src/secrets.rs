//! Where the command finds the API key secret on its own (`inspect`), how it reads the
//! files of `serve` that may hold secrets, and the warnings about how secrets are kept.
//! No function here prints or returns a secret's content.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Result, bail};
use chat_token_core::{Credentials, SecretString, env::ENV_API_SECRET, env::ENV_API_SECRET_FILE};
use secrecy::ExposeSecret as _;

pub use chat_token_core::env::AUTH_TOKEN_WARNING;

/// The API key secret from `TWILIO_API_SECRET` or the file named by
/// `TWILIO_API_SECRET_FILE`, or `None` when neither is set (or `TWILIO_API_SECRET` is
/// empty). Both set at once is an error, as it is for the credentials of `mint` and
/// `serve`; a file loses one trailing line break, as there.
pub fn api_secret_from_env() -> Result<Option<SecretString>> {
    use std::env::VarError;
    match (
        std::env::var(ENV_API_SECRET),
        std::env::var(ENV_API_SECRET_FILE),
    ) {
        (Err(VarError::NotPresent), Err(VarError::NotPresent)) => Ok(None),
        (Err(VarError::NotPresent), Ok(path)) => read_secret_file(Path::new(&path)).map(Some),
        (Err(VarError::NotPresent), Err(VarError::NotUnicode(_))) => {
            bail!("{ENV_API_SECRET_FILE} is not valid UTF-8")
        }
        (Ok(secret), Err(VarError::NotPresent)) if secret.is_empty() => Ok(None),
        (Ok(secret), Err(VarError::NotPresent)) => Ok(Some(SecretString::from(secret))),
        (Err(VarError::NotUnicode(_)), Err(VarError::NotPresent)) => {
            bail!("{ENV_API_SECRET} is not valid UTF-8")
        }
        _ => bail!("both {ENV_API_SECRET} and {ENV_API_SECRET_FILE} are set; set only one"),
    }
}

/// Reads the file `TWILIO_API_SECRET_FILE` names by the secret-file rules (see
/// [`read_secret_file`](chat_token_core::env::read_secret_file)); a secret padded with
/// white space is refused too. Errors name the file, never its content.
fn read_secret_file(path: &Path) -> Result<SecretString> {
    let secret = chat_token_core::env::read_secret_file(path).map_err(|e| {
        anyhow::anyhow!(
            "{ENV_API_SECRET_FILE} {} cannot be used: {e}",
            path.display()
        )
    })?;
    if secret.expose_secret().trim() != secret.expose_secret() {
        bail!(
            "the secret in {ENV_API_SECRET_FILE} {} has leading or trailing white space; remove it",
            path.display()
        );
    }
    Ok(secret)
}

/// A digest of `parts` under a key drawn once per process, to tell whether a secret (a
/// users table, a tenant's credentials) changed without keeping a second copy of it:
/// equal parts give equal digests within a run, and a digest tells nothing outside it.
pub fn digest(parts: &[&[u8]]) -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    static KEY: std::sync::OnceLock<std::hash::RandomState> = std::sync::OnceLock::new();
    let mut hasher = KEY.get_or_init(std::hash::RandomState::new).build_hasher();
    for part in parts {
        hasher.write_usize(part.len());
        hasher.write(part);
    }
    hasher.finish()
}

/// Reads a configuration file that may hold secrets (the users table, the tenants file,
/// the policy) by the rules of secret files, but for its size and lines: a regular file
/// (a FIFO or a device would block the read) of at most `max` bytes, UTF-8. The text, held
/// as a secret, and the file's metadata; the error says which rule, never the content.
/// It blocks on the file system: `serve` calls it on a blocking thread.
pub fn read_text(path: &Path, max: u64) -> Result<(SecretString, std::fs::Metadata)> {
    use std::io::Read as _;
    let (file, metadata) = chat_token_core::env::open_regular(path)?;
    if metadata.len() > max {
        bail!("it has more than {max} bytes");
    }
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| anyhow::anyhow!("it could not be read ({e})"))?;
    if bytes.len() as u64 > max {
        bail!("it has more than {max} bytes");
    }
    let text = String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("it is not UTF-8"))?;
    Ok((SecretString::from(text), metadata))
}

/// A warning when `path` (the file named by `what`) can be read by users other than its
/// owner (any group or other permission bit set). Unix only; `None` elsewhere, when the
/// file cannot be examined or is not a regular file (reading it will say why), or when
/// it is private.
pub fn readable_by_others(what: &str, path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        // Only a regular file: anything else is refused when it is read, with its own
        // message.
        let metadata = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
        let mode = metadata.mode();
        (mode & 0o077 != 0).then(|| {
            format!(
                "{what} {} can be read by other users (mode {:03o}); make it private to the owner, e.g. chmod 600",
                path.display(),
                mode & 0o777
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = (what, path);
        None
    }
}

/// A warning when the file named by `TWILIO_API_SECRET_FILE` can be read by others.
pub fn secret_file_warning() -> Option<String> {
    let path = std::env::var(ENV_API_SECRET_FILE).ok()?;
    if path.is_empty() {
        return None;
    }
    readable_by_others(ENV_API_SECRET_FILE, Path::new(&path))
}

/// The warnings about the credentials in the environment (for `mint`, and for `serve`
/// after it read them again): a secret file others can read, and a secret with an Auth
/// Token's shape (which `serve` refuses before it gets here; only checked
/// when the credentials are complete and valid; otherwise the command's own error says
/// what is wrong).
pub fn environment_warnings() -> Vec<String> {
    let mut warnings: Vec<String> = secret_file_warning().into_iter().collect();
    if let Ok(credentials) = Credentials::from_env()
        && credentials.secret_looks_like_auth_token()
    {
        warnings.push(AUTH_TOKEN_WARNING.to_owned());
    }
    warnings
}

/// Whether `secret` alone has an account Auth Token's shape, by the core's rule (which
/// it applies to complete credentials; the development SIDs stand in for the others).
pub fn looks_like_auth_token(secret: &SecretString) -> bool {
    use chat_token_core::setup::{DEV_ACCOUNT_SID, DEV_API_KEY_SID};
    Credentials::try_new(DEV_ACCOUNT_SID, DEV_API_KEY_SID, secret.expose_secret())
        .is_ok_and(|credentials| credentials.secret_looks_like_auth_token())
}

/// Prints one warning line to stderr, as `mint` and `inspect` do.
pub fn print_warning(warning: &str) {
    let _ = writeln!(std::io::stderr(), "chat-token: warning: {warning}");
}
