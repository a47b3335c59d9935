//! `--tenants-file`: each customer organisation's own Twilio account (a subaccount,
//! usually), from a TOML file that `serve` reads again when it changes (and on SIGHUP).
//!
//! ```toml
//! [tenants.acme]
//! account_sid = "AC..."
//! api_key_sid = "SK..."
//! api_secret_file = "/run/secrets/acme-twilio"   # or api_secret_env, or api_secret
//! chat_service_sid = "IS..."                     # its own Conversations service; without it, 500
//! ttl = 3600                                     # optional
//! ```
//!
//! Two kinds of mistake, two answers:
//!
//! - the *file* is wrong (not TOML, an unknown key, a missing SID, a tenant id that is
//!   empty, too long or not printable, not exactly one of `api_secret_file`,
//!   `api_secret_env` and `api_secret`, an inline `api_secret` in a file others can
//!   read): [`load`] fails, so `serve` does not start, and a reload keeps the tenants it
//!   has;
//! - one *tenant's credentials* are wrong (a malformed SID, a secret file that cannot be
//!   read, an unset variable, an unusable secret or ttl): that tenant is kept as
//!   unusable, its users are answered 500 and the log says why, the others are served.
//!
//! Secrets are read when the file is loaded, so a reload reads them again. They are held
//! as [`SecretString`]s and appear in no log line, `Debug` output, error or reply; an
//! error about the file gives the line, the column and the parser's message with any
//! quoted value left out.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{Context as _, Result, bail};
use chat_token_core::sid::SidKind;
use chat_token_core::tenants::{
    MAX_TENANT_ID_LEN, Tenant, TenantError, TenantSource, valid_tenant_id,
};
use chat_token_core::token::MAX_TTL;
use chat_token_core::{Credentials, SecretString, TokenIssuer, async_trait};
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Deserializer};

use crate::secrets;

/// The largest tenants file read, in bytes: far more than any real one.
const MAX_FILE_LEN: u64 = 16 * 1024 * 1024;

/// One tenant as loaded: ready to sign, or why its configuration cannot be used (a
/// reason never holds the secret).
enum Entry {
    Ready(Tenant),
    Unusable(String),
}

/// A tenant as loaded, and a keyed digest of everything it was loaded from (SIDs,
/// secret, chat service, ttl, or the reason it cannot be used), to tell which tenants a
/// reload changed without keeping a second copy of any secret.
struct Slot {
    entry: Entry,
    digest: u64,
}

type Table = HashMap<String, Slot>;

/// What a reload changed: the tenants added, removed and changed, by id.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Tenants the new file configures and the old one did not.
    pub added: Vec<String>,
    /// Tenants the old file configured and the new one does not.
    pub removed: Vec<String>,
    /// Tenants in both whose SIDs, secret, chat service or ttl changed.
    pub changed: Vec<String>,
    /// How many tenants the new file configures.
    pub total: usize,
    /// Tenants whose new configuration cannot be used and that keep their current
    /// credentials (not counted as changed).
    pub kept: Vec<String>,
}

impl Changes {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// Every tenant whose cached answer is now out of date.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.added
            .iter()
            .chain(&self.removed)
            .chain(&self.changed)
            .map(String::as_str)
    }
}

impl std::fmt::Display for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tenant ids are not secret: up to ten of each are named.
        let named = |ids: &[String]| {
            let shown: Vec<&str> = ids.iter().take(10).map(String::as_str).collect();
            match (shown.is_empty(), ids.len() > shown.len()) {
                (true, _) => String::new(),
                (false, false) => format!(" ({})", shown.join(", ")),
                (false, true) => format!(" ({}, ...)", shown.join(", ")),
            }
        };
        write!(
            f,
            "{} added{}, {} removed{}, {} changed{}, {} in all",
            self.added.len(),
            named(&self.added),
            self.removed.len(),
            named(&self.removed),
            self.changed.len(),
            named(&self.changed),
            self.total
        )
    }
}

/// What one reading of the tenants file gave: every tenant, the warnings to log, and
/// the secret files it read.
pub struct Loaded {
    table: Table,
    warnings: Vec<String>,
    secret_files: Vec<PathBuf>,
}

impl Loaded {
    /// How many tenants the file configures, usable or not.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// The tenants whose configuration cannot be used, with the reason, by id.
    pub fn unusable(&self) -> Vec<(&str, &str)> {
        let mut unusable: Vec<(&str, &str)> = self
            .table
            .iter()
            .filter_map(|(id, slot)| match &slot.entry {
                Entry::Unusable(reason) => Some((id.as_str(), reason.as_str())),
                Entry::Ready(_) => None,
            })
            .collect();
        unusable.sort_unstable();
        unusable
    }

    /// What should be logged as warnings: a file or secret file others can read, a
    /// secret with an Auth Token's shape.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Logs the warnings, each unusable tenant and the count (`what`: "loaded",
    /// "reloaded").
    fn log(&self, path: &Path, what: &str) {
        for warning in self.warnings() {
            tracing::warn!("{warning}");
        }
        let unusable = self.unusable();
        for (tenant, reason) in &unusable {
            tracing::error!(
                tenant,
                %reason,
                "the tenant's Twilio configuration cannot be used; its users are answered 500 until it is fixed"
            );
        }
        tracing::info!(
            file = %path.display(),
            tenants = self.len(),
            unusable = unusable.len(),
            "tenants file {what}"
        );
        metrics::describe_gauge!(
            METRIC_UNUSABLE,
            "Tenants of --tenants-file whose Twilio configuration cannot be used: their users are answered 500"
        );
        metrics::gauge!(METRIC_UNUSABLE).set(unusable.len() as f64);
    }
}

/// The gauge of the tenants whose users are answered 500 (see [`Loaded::unusable`]).
const METRIC_UNUSABLE: &str = "chat_token_tenants_unusable";

/// The tenants of a `--tenants-file`, as the service's [`TenantSource`]: a cheap handle
/// (clones share the table), whose [`reload`](Self::reload) replaces the table at once.
#[derive(Clone)]
pub struct TenantsFile {
    path: PathBuf,
    table: Arc<RwLock<Arc<Table>>>,
    secret_files: Arc<RwLock<Vec<PathBuf>>>,
}

impl std::fmt::Debug for TenantsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantsFile")
            .field("path", &self.path)
            .field("tenants", &self.current().len())
            .finish_non_exhaustive()
    }
}

impl TenantsFile {
    /// Loads the file at `path` (see [`load`]) and logs what it holds; an invalid file
    /// is an error.
    pub fn open(path: &Path) -> Result<Self> {
        let loaded = load(path)?;
        loaded.log(path, "loaded");
        Ok(Self {
            path: path.to_owned(),
            table: Arc::new(RwLock::new(Arc::new(loaded.table))),
            secret_files: Arc::new(RwLock::new(loaded.secret_files)),
        })
    }

    /// Reads the file (and every tenant's secret) again and, when it is valid and differs,
    /// serves its tenants from now on; an invalid file changes nothing, and a tenant
    /// served now whose new credentials cannot be used keeps its current ones (logged).
    /// What changed: the caller forgets those tenants' cached answers, and keeps the
    /// others'.
    pub fn reload(&self) -> Result<Changes> {
        let mut loaded = load(&self.path)?;
        let current = self.current();
        let mut kept = Vec::new();
        // A tenant served now keeps its credentials when its new ones cannot be used (a
        // secret file half written, say): a reload never turns a working tenant into 500s.
        // Nor does it sign with a new API key SID and the old secret: a new key has a
        // secret of its own, which has not been written yet.
        for (id, slot) in &mut loaded.table {
            let Some(old) = current.get(id) else { continue };
            let Entry::Ready(tenant) = &old.entry else {
                continue;
            };
            let reason = match &slot.entry {
                Entry::Unusable(reason) => reason.clone(),
                Entry::Ready(new) if key_without_secret(tenant, new) => {
                    "its api_key_sid changed but its secret did not (a new API key has a secret of its own: write both)".to_owned()
                }
                Entry::Ready(_) => continue,
            };
            tracing::warn!(
                tenant = %id,
                %reason,
                "the tenant's new Twilio configuration cannot be used; keeping its current credentials"
            );
            kept.push(id.clone());
            *slot = Slot {
                entry: Entry::Ready(tenant.clone()),
                digest: old.digest,
            };
        }
        kept.sort_unstable();
        let mut changes = Changes {
            total: loaded.len(),
            kept,
            ..Changes::default()
        };
        for (id, slot) in &loaded.table {
            match current.get(id) {
                None => changes.added.push(id.clone()),
                Some(old) if old.digest != slot.digest => changes.changed.push(id.clone()),
                Some(_) => {}
            }
        }
        changes.removed = current
            .keys()
            .filter(|id| !loaded.table.contains_key(*id))
            .cloned()
            .collect();
        for list in [
            &mut changes.added,
            &mut changes.removed,
            &mut changes.changed,
        ] {
            list.sort_unstable();
        }
        *self.secret_files.write().unwrap_or_else(|e| e.into_inner()) = loaded.secret_files.clone();
        if !changes.is_empty() {
            loaded.log(&self.path, "reloaded");
            *self.table.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded.table);
        }
        Ok(changes)
    }

    /// Whether the file configures tenant `id` (usable or not).
    pub fn configures(&self, id: &str) -> bool {
        self.current().contains_key(id)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tenants' `api_secret_file`s, as the last reading named them.
    pub fn secret_files(&self) -> Vec<PathBuf> {
        self.secret_files
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn current(&self) -> Arc<Table> {
        self.table.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Whether `new` names another API key than `old` with the same secret.
fn key_without_secret(old: &Tenant, new: &Tenant) -> bool {
    let (old, new) = (old.issuer().credentials(), new.issuer().credentials());
    old.api_key_sid() != new.api_key_sid()
        && old.secret().expose_secret() == new.secret().expose_secret()
}

#[async_trait]
impl TenantSource for TenantsFile {
    async fn tenant(&self, id: &str) -> Result<Option<Tenant>, TenantError> {
        match self.current().get(id).map(|slot| &slot.entry) {
            None => Ok(None),
            Some(Entry::Ready(tenant)) => Ok(Some(tenant.clone())),
            Some(Entry::Unusable(reason)) => Err(TenantError::Malformed(reason.clone())),
        }
    }
}

/// The file as written: `[tenants.<id>]` tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    tenants: BTreeMap<String, RawTenant>,
}

/// One `[tenants.<id>]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    account_sid: String,
    api_key_sid: String,
    api_secret_file: Option<PathBuf>,
    api_secret_env: Option<String>,
    #[serde(default, deserialize_with = "inline_secret")]
    api_secret: Option<SecretString>,
    /// The tenant's own chat service: without it the tenant cannot be served (its users
    /// get 500), since the serve account's service belongs to another account.
    chat_service_sid: Option<String>,
    ttl: Option<u64>,
}

fn inline_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(SecretString::from))
}

/// Reads and checks the tenants file at `path`, and each tenant's secret.
///
/// An error (the file cannot be read, is not valid TOML, has an unknown key or a missing
/// one, an invalid tenant id, not exactly one secret source for a tenant, an inline
/// secret while others can read the file, or no tenant at all) names the file and, when
/// it can, the tenant or the line; it never holds a secret. A tenant whose credentials
/// cannot be used is not an error: it is loaded as unusable, with the reason.
pub fn load(path: &Path) -> Result<Loaded> {
    let what = format!("--tenants-file {}", path.display());
    // Held as a secret: the file may hold inline secrets.
    let (text, metadata) = secrets::read_text(path, MAX_FILE_LEN)
        .map_err(|e| anyhow::anyhow!("{what} cannot be used: {e}"))?;
    let private = is_private(&metadata);
    let raw: RawFile = match toml::from_str(text.expose_secret()) {
        Ok(raw) => raw,
        Err(err) => bail!("{what}: {}", describe(&err, text.expose_secret())),
    };
    if raw.tenants.is_empty() {
        bail!("{what} configures no tenant; add a [tenants.<id>] table for each organisation");
    }
    let dir = path.parent().unwrap_or(Path::new(""));
    // The file itself needs no warning when others can read it: it holds SIDs, and an
    // inline secret is refused unless the file is private.
    let mut warnings: Vec<String> = Vec::new();
    let mut secret_files = Vec::new();
    let mut table = Table::with_capacity(raw.tenants.len());
    for (id, tenant) in raw.tenants {
        check_id(&id).with_context(|| what.clone())?;
        if let Some(file) = &tenant.api_secret_file {
            secret_files.push(dir.join(file));
        }
        let slot =
            tenant_entry(&id, tenant, dir, private, &mut warnings).with_context(|| what.clone())?;
        table.insert(id, slot);
    }
    Ok(Loaded {
        table,
        warnings,
        secret_files,
    })
}

/// Whether only the file's owner may read it (no group or other permission bit). True
/// where permissions cannot be examined this way.
fn is_private(metadata: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        metadata.mode() & 0o077 == 0
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        true
    }
}

/// A tenant id, by the core's rule (1 to [`MAX_TENANT_ID_LEN`] bytes, no control
/// character), and no white space at either end (users entries trim theirs, so such an
/// id would never be named). Shown in the error only when it is valid otherwise.
fn check_id(id: &str) -> Result<()> {
    if id.is_empty() {
        bail!("a tenant id is empty: [tenants.\"\"]; name each tenant");
    }
    if !valid_tenant_id(id) {
        bail!(
            "a tenant id is not printable or longer than {MAX_TENANT_ID_LEN} bytes ({} bytes)",
            id.len()
        );
    }
    if id.trim() != id {
        bail!("tenant id {id:?} has leading or trailing white space");
    }
    Ok(())
}

/// One tenant: the rules of the file (an error), then its credentials (an unusable
/// entry when they cannot be used).
fn tenant_entry(
    id: &str,
    raw: RawTenant,
    dir: &Path,
    private: bool,
    warnings: &mut Vec<String>,
) -> Result<Slot> {
    let sources = [
        raw.api_secret_file.is_some(),
        raw.api_secret_env.is_some(),
        raw.api_secret.is_some(),
    ];
    let given = sources.iter().filter(|given| **given).count();
    if given != 1 {
        bail!(
            "tenant {id} gives {given} of api_secret_file, api_secret_env and api_secret; give exactly one"
        );
    }
    if raw.api_secret.is_some() && !private {
        bail!(
            "tenant {id} has an inline api_secret, but the file can be read by other users; make it private to its owner (chmod 600), or use api_secret_file or api_secret_env"
        );
    }
    // Only a variable's name: a secret written here by mistake is never echoed.
    if let Some(var) = &raw.api_secret_env
        && !(var.len() <= 128
            && var.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        bail!(
            "tenant {id}: api_secret_env must name an environment variable (letters, digits and _, not starting with a digit, at most 128)"
        );
    }
    if raw
        .api_secret_file
        .as_ref()
        .is_some_and(|p| p.as_os_str().is_empty())
    {
        bail!("tenant {id}: api_secret_file is empty; give the path of the secret's file");
    }
    let secret = match (raw.api_secret_file, raw.api_secret_env, raw.api_secret) {
        (Some(file), _, _) => {
            let file = dir.join(file);
            if let Some(warning) =
                secrets::readable_by_others(&format!("tenant {id}'s api_secret_file"), &file)
            {
                warnings.push(warning);
            }
            read_secret_file(&file)
        }
        (None, Some(var), _) => secret_from_env(&var),
        (None, None, Some(secret)) => Ok(secret),
        (None, None, None) => unreachable!("exactly one secret source was checked"),
    };
    let ttl = raw.ttl.map(u64::to_be_bytes);
    let ready = secret.and_then(|secret| {
        let digest = secrets::digest(&[
            raw.account_sid.as_bytes(),
            raw.api_key_sid.as_bytes(),
            secret.expose_secret().as_bytes(),
            raw.chat_service_sid.as_deref().unwrap_or("\0").as_bytes(),
            ttl.as_ref().map_or(&[][..], |t| &t[..]),
        ]);
        credentials(
            &raw.account_sid,
            &raw.api_key_sid,
            &secret,
            raw.chat_service_sid,
            raw.ttl,
        )
        .map(|tenant| (tenant, digest))
    });
    Ok(match ready {
        Ok((tenant, digest)) => Slot {
            entry: Entry::Ready(tenant),
            digest,
        },
        Err(reason) => Slot {
            digest: secrets::digest(&[b"unusable", reason.as_bytes()]),
            entry: Entry::Unusable(reason),
        },
    })
}

/// The tenant for these values, or why they cannot be used (never the secret).
fn credentials(
    account_sid: &str,
    api_key_sid: &str,
    secret: &SecretString,
    chat_service_sid: Option<String>,
    ttl: Option<u64>,
) -> Result<Tenant, String> {
    SidKind::Account
        .check("account_sid", account_sid)
        .map_err(|e| e.to_string())?;
    SidKind::ApiKey
        .check("api_key_sid", api_key_sid)
        .map_err(|e| e.to_string())?;
    let credentials = Credentials::try_new(account_sid, api_key_sid, secret.expose_secret())
        .map_err(|err| err.to_string())?;
    // As for the service's own secret: every token signed with it would be refused.
    if credentials.secret_looks_like_auth_token() {
        return Err(
            "its API key secret looks like an Auth Token (32 lower-case hex characters); use an API key's secret (Twilio refuses every token signed with an Auth Token: error 20107)"
                .into(),
        );
    }
    let Some(sid) = chat_service_sid else {
        return Err(
            "no chat_service_sid: its tokens would have no grant (the service's own chat service belongs to another account)"
                .into(),
        );
    };
    let issuer = TokenIssuer::new(credentials)
        .with_chat_service_sid(sid)
        .map_err(|e| e.to_string())?;
    let mut tenant = Tenant::new(issuer);
    if let Some(ttl) = ttl {
        if !(1..=MAX_TTL).contains(&ttl) {
            return Err(format!("ttl {ttl} is not within 1..={MAX_TTL} seconds"));
        }
        tenant = tenant.with_ttl(ttl);
    }
    Ok(tenant)
}

/// A tenant's `api_secret_file`, by the secret-file rules every secret file follows
/// (see [`read_secret_file`](chat_token_core::env::read_secret_file)); the error names
/// the file, never the content.
fn read_secret_file(path: &Path) -> Result<SecretString, String> {
    chat_token_core::env::read_secret_file(path)
        .map_err(|e| format!("api_secret_file {} cannot be used: {e}", path.display()))
}

/// The secret in environment variable `var`; the error names the variable.
fn secret_from_env(var: &str) -> Result<SecretString, String> {
    match std::env::var(var) {
        Ok(secret) => Ok(SecretString::from(secret)),
        Err(std::env::VarError::NotPresent) => Err(format!(
            "api_secret_env {var} is not set in serve's environment"
        )),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(format!("api_secret_env {var} is not valid UTF-8"))
        }
    }
}

/// The parser's error as `line L, column C: message`, every quoted value in the message
/// left out (a misplaced secret would be one).
fn describe(err: &toml::de::Error, text: &str) -> String {
    let message = redact_quoted(err.message().trim()).replace('\n', "; ");
    match err.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before
                .rsplit_once('\n')
                .map_or(before, |(_, tail)| tail)
                .chars()
                .count()
                + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// `message` without any value it may quote: an unknown key is named (keys hold no
/// secret), an invalid type or value keeps only what was expected, and anything else
/// loses everything from its first quote or backtick to its last.
fn redact_quoted(message: &str) -> String {
    if message.starts_with("unknown field") || message.starts_with("missing field") {
        return message.to_owned();
    }
    if let Some(expected) = message.split_once(", expected ").map(|(_, e)| e)
        && (message.starts_with("invalid type") || message.starts_with("invalid value"))
    {
        return format!("invalid value, expected {expected}");
    }
    let quote = |c: char| c == '"' || c == '`' || c == '\'';
    match (message.find(quote), message.rfind(quote)) {
        (Some(first), Some(last)) if first < last => {
            format!("{}...{}", &message[..first], &message[last + 1..])
        }
        (Some(first), _) => format!("{}...", &message[..first]),
        _ => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const KEY: &str = "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const SECRET: &str = "inline-secret-never-shown-0123456789";

    /// A private directory of the test's own, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new(test: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "chat-token-tenants-unit-{test}-{}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("dir");
            Self(path)
        }

        fn write(&self, name: &str, text: &str, mode: u32) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).expect("write");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                    .expect("chmod");
            }
            #[cfg(not(unix))]
            let _ = mode;
            path
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn error(dir: &Dir, text: &str, mode: u32) -> String {
        let path = dir.write("tenants.toml", text, mode);
        let err = format!("{:#}", load(&path).err().expect("refused"));
        assert!(!err.contains(SECRET), "{err}");
        err
    }

    #[test]
    fn the_file_rules_refuse_the_file_and_name_the_tenant() {
        let dir = Dir::new("rules");
        let both = format!(
            "[tenants.acme]\naccount_sid = \"{ACCOUNT}\"\napi_key_sid = \"{KEY}\"\napi_secret_env = \"X\"\napi_secret = \"{SECRET}\"\n"
        );
        let err = error(&dir, &both, 0o600);
        assert!(err.contains("tenant acme gives 2 of"), "{err}");
        assert!(err.contains("exactly one"), "{err}");

        let none =
            format!("[tenants.acme]\naccount_sid = \"{ACCOUNT}\"\napi_key_sid = \"{KEY}\"\n");
        assert!(error(&dir, &none, 0o600).contains("gives 0 of"));

        let unknown = format!(
            "[tenants.acme]\naccount_sid = \"{ACCOUNT}\"\napi_key_sid = \"{KEY}\"\napi_secret_env = \"X\"\nchat_service = \"IS\"\n"
        );
        let err = error(&dir, &unknown, 0o600);
        assert!(
            err.contains("line 5") && err.contains("unknown field"),
            "{err}"
        );

        let misplaced = format!(
            "[tenants.acme]\naccount_sid = \"{ACCOUNT}\"\napi_key_sid = \"{KEY}\"\napi_secret_env = \"X\"\nttl = \"{SECRET}\"\n"
        );
        let err = error(&dir, &misplaced, 0o600);
        assert!(err.contains("line 5"), "{err}");

        let syntax = format!("[tenants.acme]\napi_secret = \"{SECRET}\n");
        error(&dir, &syntax, 0o600);

        assert!(error(&dir, "# nothing yet\n", 0o600).contains("configures no tenant"));
        let long = format!(
            "[tenants.{}]\naccount_sid = \"{ACCOUNT}\"\napi_key_sid = \"{KEY}\"\napi_secret_env = \"X\"\n",
            "a".repeat(MAX_TENANT_ID_LEN + 1)
        );
        assert!(error(&dir, &long, 0o600).contains("longer than"));
        let control = format!(
            "[tenants.\"a\\u0007b\"]\naccount_sid = \"{ACCOUNT}\"\napi_key_sid = \"{KEY}\"\napi_secret_env = \"X\"\n"
        );
        assert!(error(&dir, &control, 0o600).contains("not printable"));
        let empty = format!(
            "[tenants.\"\"]\naccount_sid = \"{ACCOUNT}\"\napi_key_sid = \"{KEY}\"\napi_secret_env = \"X\"\n"
        );
        assert!(error(&dir, &empty, 0o600).contains("empty"));
    }

    #[cfg(unix)]
    #[test]
    fn an_inline_secret_needs_a_private_file() {
        let dir = Dir::new("inline");
        let text = format!(
            "[tenants.acme]\naccount_sid = \"{ACCOUNT}\"\napi_key_sid = \"{KEY}\"\napi_secret = \"{SECRET}\"\nchat_service_sid = \"ISdddddddddddddddddddddddddddddddd\"\n"
        );
        let err = error(&dir, &text, 0o640);
        assert!(
            err.contains("tenant acme has an inline api_secret"),
            "{err}"
        );
        assert!(err.contains("chmod 600"), "{err}");
        let path = dir.write("tenants.toml", &text, 0o600);
        let loaded = load(&path).expect("private file");
        assert_eq!((loaded.len(), loaded.unusable().len()), (1, 0));
        assert!(loaded.warnings().is_empty());
    }

    #[tokio::test]
    async fn unusable_credentials_spoil_only_their_tenant() {
        let dir = Dir::new("unusable");
        let secret = dir.write("acme-secret", &format!("{SECRET}\n"), 0o600);
        let text = format!(
            "[tenants.acme]\naccount_sid = \"{ACCOUNT}\"\napi_key_sid = \"{KEY}\"\napi_secret_file = \"{}\"\nchat_service_sid = \"ISdddddddddddddddddddddddddddddddd\"\nttl = 600\n\
             [tenants.hooli]\naccount_sid = \"AC123\"\napi_key_sid = \"{KEY}\"\napi_secret = \"{SECRET}\"\n\
             [tenants.missing]\naccount_sid = \"{ACCOUNT}\"\napi_key_sid = \"{KEY}\"\napi_secret_file = \"no-such-file\"\n\
             [tenants.unset]\naccount_sid = \"{ACCOUNT}\"\napi_key_sid = \"{KEY}\"\napi_secret_env = \"CHAT_TOKEN_TEST_SURELY_UNSET\"\n\
             [tenants.long]\naccount_sid = \"{ACCOUNT}\"\napi_key_sid = \"{KEY}\"\napi_secret = \"{SECRET}\"\nttl = 86401\n",
            secret.display()
        );
        let path = dir.write("tenants.toml", &text, 0o600);
        let source = TenantsFile::open(&path).expect("loads");
        let acme = source.tenant("acme").await.expect("acme").expect("known");
        assert_eq!(acme.issuer().credentials().api_key_sid().as_str(), KEY);
        assert_eq!(acme.ttl(), Some(600));
        assert!(source.tenant("initech").await.expect("answer").is_none());
        for id in ["hooli", "missing", "unset", "long"] {
            match source.tenant(id).await {
                Err(TenantError::Malformed(reason)) => {
                    assert!(!reason.contains(SECRET), "{reason}");
                }
                other => panic!("{id}: {:?}", other.map(|t| t.is_some())),
            }
        }
        let loaded = load(&path).expect("loads");
        let reasons = loaded.unusable();
        assert!(reasons[0].1.contains("account_sid"), "{reasons:?}");
        assert!(reasons[2].1.contains("no-such-file"), "{reasons:?}");
        assert!(
            reasons[3].1.contains("CHAT_TOKEN_TEST_SURELY_UNSET"),
            "{reasons:?}"
        );
        assert!(format!("{source:?}").contains("tenants: 5"));
    }

    #[test]
    fn quoted_values_are_left_out_of_messages() {
        assert_eq!(
            redact_quoted(r#"invalid type: string "s3cret", expected u64"#),
            "invalid value, expected u64"
        );
        assert_eq!(
            redact_quoted("invalid type: integer `4815162342108`, expected a string"),
            "invalid value, expected a string"
        );
        assert_eq!(
            redact_quoted(r#"invalid string "head\"tail" here"#),
            "invalid string ... here"
        );
        assert_eq!(
            redact_quoted("unknown field `api_secrets`, expected one of `account_sid`"),
            "unknown field `api_secrets`, expected one of `account_sid`"
        );
    }
}
