//! Following the files `serve` reads, as container platforms change them: the API key and
//! secret files, the users file, the HS256 login secret, the tenants file (with the
//! tenants' secret files) and the policy.
//!
//! One path for every file and every trigger (`SIGHUP`, or a change on disk seen by the
//! watcher): the file is read on a blocking thread, by the rules of secret files (a
//! regular file, bounded in size), checked whole, compared with what is served, and only
//! then swapped in at once (an `ArcSwap`): a request in flight finishes with the version
//! it started with, the next one gets the new version. A version that does not check is
//! logged, without any secret, and the current one keeps serving.
//!
//! The watcher follows the *directories* that hold the files, not the files: a mounted
//! Kubernetes secret or config map changes by swapping a `..data` symlink in that
//! directory, an editor renames a new file over the old one, a deploy script deletes and
//! re-creates it, and all of these are events in the directory. Events are gathered for
//! [`SETTLE`] before the files are read, so that a file written in several steps (a key
//! and its secret, a file truncated and then written) is read once it is whole.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Result, anyhow, bail};
use arc_swap::ArcSwap;
use chat_token_core::policy::UserPolicy;
use chat_token_core::setup::EnvSetup;
use chat_token_core::{
    IdentityResolver, IncomingRequest, JwtBearerResolver, ResolveError, Resolved, SecretString,
    StaticUsers, TokenIssuer, TokenService, async_trait,
};
use secrecy::ExposeSecret as _;

use super::tenants::TenantsFile;
use crate::secrets;

/// How long the watcher gathers events before it reads the files.
pub(super) const SETTLE: Duration = Duration::from_millis(250);

/// How long after a new API key SID is served its secret may still change (a secret
/// file written in steps, the first of them read): the later versions complete the
/// rotation rather than being refused as a new secret under an old key.
const ROTATION_WINDOW: Duration = Duration::from_secs(60);

/// The largest users or policy file read, in bytes.
pub(super) const MAX_CONFIG_FILE: u64 = 16 * 1024 * 1024;

/// The reload counter: `file` (what was reloaded) and `result` (`ok` or `error`).
pub(super) const METRIC_RELOADS: &str = "chat_token_reloads_total";
/// The Unix time of the last reading of each `file` that checked (at start, and each
/// reload that found it valid, changed or not).
pub(super) const METRIC_LAST_LOAD: &str = "chat_token_reload_last_success_timestamp_seconds";
/// 1 while the newest reading of each `file` checked, 0 while a newer version that does
/// not check waits on disk (the version served is older than the file).
pub(super) const METRIC_LOADED: &str = "chat_token_reload_ok";

/// A resolver that can be replaced while requests run (a users file or a login secret
/// that changed); each request uses the version current when it started.
pub(super) struct Swappable<R> {
    current: ArcSwap<R>,
}

impl<R> Swappable<R> {
    pub(super) fn new(resolver: R) -> Self {
        Self {
            current: ArcSwap::from_pointee(resolver),
        }
    }

    /// The version in use now.
    pub(super) fn current(&self) -> Arc<R> {
        self.current.load_full()
    }

    fn replace(&self, resolver: R) {
        self.current.store(Arc::new(resolver));
    }
}

#[async_trait]
impl<R: IdentityResolver> IdentityResolver for Swappable<R> {
    async fn resolve(&self, req: &IncomingRequest) -> Result<Resolved, ResolveError> {
        let resolver = self.current();
        resolver.resolve(req).await
    }
}

/// The files `serve` follows, each kind with what it needs to be read again.
pub(super) struct Followed {
    pub(super) service: TokenService,
    pub(super) setup: EnvSetup,
    pub(super) users: Option<UsersFile>,
    pub(super) jwt_secret: Option<JwtSecretFile>,
    pub(super) tenants: Option<TenantsFile>,
    pub(super) policy: Option<PolicyFile>,
    /// The tenants the users file names (to warn about those the tenants file lacks).
    pub(super) named_tenants: Mutex<BTreeSet<String>>,
    /// When a reload last served a new API key SID.
    pub(super) key_rotated_at: Mutex<Option<std::time::Instant>>,
}

/// `--users-file`: the resolver that serves it, and a digest of each entry served.
pub(super) struct UsersFile {
    pub(super) path: PathBuf,
    pub(super) resolver: Arc<Swappable<StaticUsers>>,
    pub(super) entries: Mutex<HashSet<u64>>,
}

/// `--jwt-hs256-secret-file`: the resolver, how to build it with another secret, and a
/// digest of the secret served.
pub(super) struct JwtSecretFile {
    pub(super) path: PathBuf,
    pub(super) resolver: Arc<Swappable<JwtBearerResolver>>,
    pub(super) build: Box<dyn Fn(SecretString) -> Result<JwtBearerResolver> + Send + Sync>,
    pub(super) secret: Mutex<u64>,
}

/// Reads and checks one version of a policy file.
pub(super) type PolicyLoader = Box<dyn Fn(&Path) -> Result<UserPolicy> + Send + Sync>;

/// `--policy`: how a version is read and checked, and the version served.
pub(super) struct PolicyFile {
    pub(super) path: PathBuf,
    pub(super) load: PolicyLoader,
    pub(super) current: Mutex<UserPolicy>,
}

/// What a kind of file is called in logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
/// In the order a reload reads them: the tenants before the users that name them.
pub(super) enum Kind {
    /// `TWILIO_API_KEY_FILE` and `TWILIO_API_SECRET_FILE`, read together.
    Credentials,
    Tenants,
    Users,
    JwtSecret,
    Policy,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::Credentials,
        Kind::Tenants,
        Kind::Users,
        Kind::JwtSecret,
        Kind::Policy,
    ];

    /// The `file` label of the metrics.
    fn label(self) -> &'static str {
        match self {
            Kind::Credentials => "credentials",
            Kind::Users => "users",
            Kind::JwtSecret => "jwt_secret",
            Kind::Tenants => "tenants",
            Kind::Policy => "policy",
        }
    }

    /// What the log calls it, and what is kept when a version does not check.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Kind::Credentials => ("credentials", "the current ones"),
            Kind::Users => ("users file", "the current users"),
            Kind::JwtSecret => ("JWT secret file", "the current secret"),
            Kind::Tenants => ("tenants file", "the current tenants"),
            Kind::Policy => ("policy file", "the current policy"),
        }
    }
}

/// Why the files are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trigger {
    /// `SIGHUP`: every file, and a line for each even when it did not change.
    Signal,
    /// A change on disk: the files of the directories that changed.
    Change,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Signal => "SIGHUP",
            Trigger::Change => "file change",
        }
    }
}

/// What reading one kind of file again gave.
enum Outcome {
    /// The same as what is served.
    Unchanged,
    /// A new version, swapped in; what changed, in counts (never values).
    Reloaded(String),
    /// A new version swapped in but for some of its parts, which keep their current
    /// version (a tenant whose new credentials cannot be used): what changed, and what
    /// was kept and why. Counted and shown as an error, so that an alert on
    /// `chat_token_reload_ok == 0` sees it.
    Partly(String, String),
}

/// The digest of one users entry (`token=identity[;tenant=id]`), so that two versions can
/// be compared without keeping the tokens a second time.
fn entry_digests(text: &str) -> HashSet<u64> {
    user_entries(text)
        .map(|entry| secrets::digest(&[entry.as_bytes()]))
        .collect()
}

/// The entries of a users table: comma- or line-separated, trimmed, without blank lines
/// and `#` comments.
pub(super) fn user_entries(text: &str) -> impl Iterator<Item = &str> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|entry| !entry.is_empty() && !entry.starts_with('#'))
}

/// The tenants named by users entries `token=identity;tenant=id`.
pub(super) fn named_tenants(text: &str) -> BTreeSet<String> {
    user_entries(text)
        .filter_map(|entry| {
            entry
                .split_once(";tenant=")
                .map(|(_, t)| t.trim().to_owned())
        })
        .collect()
}

/// Reads a users file: the table (`None` when its entries are those of `served`, which
/// is then not parsed again), the digest of each entry, and the tenants the entries name.
pub(super) fn load_users(
    path: &Path,
    served: Option<&Mutex<HashSet<u64>>>,
) -> Result<(Option<StaticUsers>, HashSet<u64>, BTreeSet<String>)> {
    let (text, _) = secrets::read_text(path, MAX_CONFIG_FILE)
        .map_err(|e| anyhow!("--users-file {} cannot be used: {e:#}", path.display()))?;
    let entries = entry_digests(text.expose_secret());
    let named = named_tenants(text.expose_secret());
    if served.is_some_and(|s| *s.lock().unwrap_or_else(|e| e.into_inner()) == entries) {
        return Ok((None, entries, named));
    }
    let users: StaticUsers = text
        .expose_secret()
        .parse()
        .map_err(|e| anyhow!("parsing --users-file {}: {e}", path.display()))?;
    Ok((Some(users), entries, named))
}

/// `SK…1234`: enough of a key SID to tell two apart in a log line.
pub(super) fn short_sid(sid: &str) -> String {
    let tail = sid.get(sid.len().saturating_sub(4)..).unwrap_or_default();
    format!("{}…{tail}", sid.get(..2).unwrap_or_default())
}

/// The Unix time now, in seconds.
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Followed {
    /// The kinds of file this `serve` follows.
    fn kinds(&self) -> Vec<Kind> {
        Kind::ALL
            .into_iter()
            .filter(|kind| match kind {
                Kind::Credentials => !self.setup.development && !credential_files().is_empty(),
                Kind::Users => self.users.is_some(),
                Kind::JwtSecret => self.jwt_secret.is_some(),
                Kind::Tenants => self.tenants.is_some(),
                Kind::Policy => self.policy.is_some(),
            })
            .collect()
    }

    /// The files of each kind (the tenants' secret files with the tenants file).
    fn files(&self, kind: Kind) -> Vec<PathBuf> {
        match kind {
            Kind::Credentials => credential_files(),
            Kind::Users => self.users.iter().map(|u| u.path.clone()).collect(),
            Kind::JwtSecret => self.jwt_secret.iter().map(|j| j.path.clone()).collect(),
            Kind::Tenants => self
                .tenants
                .iter()
                .flat_map(|t| std::iter::once(t.path().to_owned()).chain(t.secret_files()))
                .collect(),
            Kind::Policy => self.policy.iter().map(|p| p.path.clone()).collect(),
        }
    }

    /// Records that every followed file loaded at start.
    pub(super) fn loaded_at_start(&self) {
        metrics::describe_counter!(
            METRIC_RELOADS,
            "Reloads of serve's files, by file and result (ok or error)"
        );
        metrics::describe_gauge!(
            METRIC_LAST_LOAD,
            metrics::Unit::Seconds,
            "When each of serve's files was last read and found valid (Unix time)"
        );
        metrics::describe_gauge!(
            METRIC_LOADED,
            "1 while the newest version of each of serve's files is the one served, 0 while a newer one does not check"
        );
        for kind in self.kinds() {
            for result in ["ok", "error"] {
                metrics::counter!(METRIC_RELOADS, "file" => kind.label(), "result" => result)
                    .absolute(0);
            }
            metrics::gauge!(METRIC_LAST_LOAD, "file" => kind.label()).set(unix_now());
            metrics::gauge!(METRIC_LOADED, "file" => kind.label()).set(1.0);
        }
    }

    /// Reads the files of `kinds` again, swaps in each new version that checks, and logs
    /// and counts each result. Blocks on the file system: runs on a blocking thread.
    pub(super) fn reload(&self, kinds: &BTreeSet<Kind>, trigger: Trigger) {
        if kinds.is_empty() && trigger == Trigger::Signal {
            tracing::info!(
                "SIGHUP: no file to read again; the settings come from the environment and the flags, which a running process cannot read anew (restart it)"
            );
        }
        for &kind in kinds {
            let (name, kept) = kind.names();
            let started = std::time::Instant::now();
            let result = match kind {
                Kind::Credentials => self.reload_credentials(),
                Kind::Users => self.reload_users(),
                Kind::JwtSecret => self.reload_jwt_secret(),
                Kind::Tenants => self.reload_tenants(),
                Kind::Policy => self.reload_policy(),
            };
            let took = started.elapsed();
            // A version read and found valid: when, and that it is the one served.
            let loaded = || {
                metrics::gauge!(METRIC_LAST_LOAD, "file" => kind.label()).set(unix_now());
                metrics::gauge!(METRIC_LOADED, "file" => kind.label()).set(1.0);
            };
            match result {
                Ok(outcome) => match outcome {
                    Outcome::Reloaded(what) => {
                        loaded();
                        metrics::counter!(METRIC_RELOADS, "file" => kind.label(), "result" => "ok")
                            .increment(1);
                        tracing::info!(
                            took = ?took,
                            "{}: {name} reloaded: {what}",
                            trigger.as_str()
                        );
                    }
                    Outcome::Unchanged if trigger == Trigger::Signal => {
                        loaded();
                        tracing::info!("{}: {name} unchanged", trigger.as_str());
                    }
                    Outcome::Unchanged => loaded(),
                    Outcome::Partly(what, kept) => {
                        metrics::counter!(METRIC_RELOADS, "file" => kind.label(), "result" => "error")
                            .increment(1);
                        metrics::gauge!(METRIC_LOADED, "file" => kind.label()).set(0.0);
                        tracing::warn!(
                            took = ?took,
                            "{}: {name} reloaded in part: {what}; {kept}",
                            trigger.as_str()
                        );
                    }
                },
                Err(err) => {
                    metrics::counter!(METRIC_RELOADS, "file" => kind.label(), "result" => "error")
                        .increment(1);
                    metrics::gauge!(METRIC_LOADED, "file" => kind.label()).set(0.0);
                    tracing::warn!(
                        error = %format!("{err:#}"),
                        "{}: {name}: the new version is not valid; keeping {kept}",
                        trigger.as_str()
                    );
                }
            }
        }
    }

    fn reload_credentials(&self) -> Result<Outcome> {
        let current = self.service.issuer();
        let credentials = chat_token_core::Credentials::from_env()?;
        if credentials.secret_looks_like_auth_token() {
            bail!("{}", secrets::AUTH_TOKEN_WARNING);
        }
        let old = current.credentials();
        let same_key = old.api_key_sid() == credentials.api_key_sid();
        let same_secret = old.secret().expose_secret() == credentials.secret().expose_secret();
        let mut rotated = self
            .key_rotated_at
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // A new key's secret written in steps: its later parts complete the rotation.
        let completing = rotated.is_some_and(|at| at.elapsed() < ROTATION_WINDOW);
        match (same_key, same_secret) {
            (true, true) => return Ok(Outcome::Unchanged),
            (false, true) => bail!(
                "the API key SID changed but its secret did not; every Twilio API key has a secret of its own: write the new key's secret to TWILIO_API_SECRET_FILE too"
            ),
            (true, false) if !completing => bail!(
                "the API key secret changed but the API key SID did not; a Twilio API key's secret never changes, so a new secret belongs to a new key: update TWILIO_API_KEY_FILE with the new key SID together with TWILIO_API_SECRET_FILE (a key's secret may still be completed within {} s of its SID)",
                ROTATION_WINDOW.as_secs()
            ),
            _ => {}
        }
        let what = if same_key {
            format!(
                "the secret of API key {} (completing its rotation)",
                short_sid(old.api_key_sid().as_str())
            )
        } else {
            *rotated = Some(std::time::Instant::now());
            format!(
                "API key {} → {}",
                short_sid(old.api_key_sid().as_str()),
                short_sid(credentials.api_key_sid().as_str())
            )
        };
        let issuer = TokenIssuer::new(credentials);
        let issuer = match self.setup.issuer.chat_service_sid() {
            Some(sid) => issuer.with_chat_service_sid(sid)?,
            None => issuer,
        };
        self.service.replace_issuer(issuer);
        for warning in secrets::environment_warnings() {
            tracing::warn!("{warning}");
        }
        Ok(Outcome::Reloaded(what))
    }

    fn reload_users(&self) -> Result<Outcome> {
        let Some(file) = &self.users else {
            return Ok(Outcome::Unchanged);
        };
        let (users, entries, named) = load_users(&file.path, Some(&file.entries))?;
        let Some(users) = users else {
            return Ok(Outcome::Unchanged);
        };
        let mut current = file.entries.lock().unwrap_or_else(|e| e.into_inner());
        if *current == entries {
            return Ok(Outcome::Unchanged);
        }
        let added = entries.difference(&current).count();
        let removed = current.difference(&entries).count();
        file.resolver.replace(users);
        *current = entries;
        drop(current);
        if let Some(tenants) = &self.tenants {
            super::warn_unconfigured(&named, tenants);
        }
        *self.named_tenants.lock().unwrap_or_else(|e| e.into_inner()) = named;
        Ok(Outcome::Reloaded(format!(
            "{added} added, {removed} removed"
        )))
    }

    fn reload_jwt_secret(&self) -> Result<Outcome> {
        let Some(file) = &self.jwt_secret else {
            return Ok(Outcome::Unchanged);
        };
        let secret = chat_token_core::env::read_secret_file(&file.path).map_err(|e| {
            anyhow!(
                "--jwt-hs256-secret-file {} cannot be used: {e}",
                file.path.display()
            )
        })?;
        let digest = secrets::digest(&[secret.expose_secret().as_bytes()]);
        let mut current = file.secret.lock().unwrap_or_else(|e| e.into_inner());
        if *current == digest {
            return Ok(Outcome::Unchanged);
        }
        let resolver = (file.build)(secret)?;
        file.resolver.replace(resolver);
        *current = digest;
        Ok(Outcome::Reloaded(
            "a new HS256 secret: JWTs signed with the previous one are refused from now on".into(),
        ))
    }

    fn reload_tenants(&self) -> Result<Outcome> {
        let Some(tenants) = &self.tenants else {
            return Ok(Outcome::Unchanged);
        };
        let changes = tenants.reload()?;
        if changes.is_empty() && changes.kept.is_empty() {
            return Ok(Outcome::Unchanged);
        }
        if let Some(cache) = self.service.tenant_cache() {
            for id in changes.ids() {
                cache.forget(id);
            }
        }
        let named = self
            .named_tenants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        super::warn_unconfigured(&named, tenants);
        if changes.kept.is_empty() {
            return Ok(Outcome::Reloaded(changes.to_string()));
        }
        let shown: Vec<&str> = changes.kept.iter().take(10).map(String::as_str).collect();
        let more = if changes.kept.len() > shown.len() {
            ", ..."
        } else {
            ""
        };
        Ok(Outcome::Partly(
            changes.to_string(),
            format!(
                "kept on their current credentials, as their new ones cannot be used (see each one's warning): {} ({}{more})",
                changes.kept.len(),
                shown.join(", ")
            ),
        ))
    }

    fn reload_policy(&self) -> Result<Outcome> {
        let Some(file) = &self.policy else {
            return Ok(Outcome::Unchanged);
        };
        let policy = (file.load)(&file.path)?;
        let mut current = file.current.lock().unwrap_or_else(|e| e.into_inner());
        if *current == policy {
            return Ok(Outcome::Unchanged);
        }
        let changed = |same: bool| if same { "unchanged" } else { "changed" };
        let what = format!(
            "identity rules: {}; role rules: {}; role_claim {}, endpoint_id_header {}",
            rule_changes(&current.identities, &policy.identities),
            rule_changes(&current.roles, &policy.roles),
            changed(current.role_claim == policy.role_claim),
            changed(current.endpoint_id_header == policy.endpoint_id_header),
        );
        self.service.replace_user_policy(Some(policy.clone()))?;
        *current = policy;
        Ok(Outcome::Reloaded(what))
    }
}

/// `N added, N removed, N changed` between two sets of policy rules.
fn rule_changes<R: PartialEq>(
    old: &std::collections::BTreeMap<String, R>,
    new: &std::collections::BTreeMap<String, R>,
) -> String {
    let added = new.keys().filter(|k| !old.contains_key(*k)).count();
    let removed = old.keys().filter(|k| !new.contains_key(*k)).count();
    let changed = new
        .iter()
        .filter(|(k, rule)| old.get(*k).is_some_and(|o| o != *rule))
        .count();
    format!("{added} added, {removed} removed, {changed} changed")
}

/// The files named by `TWILIO_API_KEY_FILE` and `TWILIO_API_SECRET_FILE`, when set.
fn credential_files() -> Vec<PathBuf> {
    use chat_token_core::env::{ENV_API_KEY_FILE, ENV_API_SECRET_FILE};
    [ENV_API_KEY_FILE, ENV_API_SECRET_FILE]
        .into_iter()
        .filter_map(std::env::var_os)
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// How often the watched directories are watched again (a replaced directory's watch is
/// gone with it) and the files compared with what they were, behind the events.
const RECHECK: Duration = Duration::from_secs(2);

/// What the watcher has seen since the last reload: the kinds of file that changed, and
/// whether events were lost (the kernel's queue overflowed), so that every file is read.
#[derive(Default)]
struct Pending {
    kinds: Mutex<BTreeSet<Kind>>,
    everything: std::sync::atomic::AtomicBool,
    wake: tokio::sync::Notify,
}

/// Runs every reload: on `SIGHUP` (every file) and, with `watch`, on a change in a
/// directory that holds a followed file (the files of that directory), one reload at a
/// time, each on a blocking thread.
pub(super) fn follow(followed: Arc<Followed>, watch: bool) {
    let pending = Arc::new(Pending::default());
    let watcher = if watch && !followed.kinds().is_empty() {
        match Watcher::start(&followed, pending.clone()) {
            Ok(watcher) => Some(watcher),
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "cannot watch the files for changes; they are read again on SIGHUP only");
                None
            }
        }
    } else {
        if !watch && !followed.kinds().is_empty() {
            tracing::info!("--no-watch: the files are read again on SIGHUP only");
        }
        None
    };
    tokio::spawn(async move {
        let mut watcher = watcher;
        #[cfg(unix)]
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(hup) => Some(hup),
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGHUP; files are read again on change only");
                None
            }
        };
        let mut recheck = tokio::time::interval(RECHECK);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let signal = async {
                match hup.as_mut() {
                    Some(hup) => hup.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let signal = std::future::pending::<Option<()>>();
            let changed = async {
                match &watcher {
                    Some(_) => pending.wake.notified().await,
                    None => std::future::pending().await,
                }
            };
            let (kinds, trigger) = tokio::select! {
                Some(()) = signal => (followed.kinds().into_iter().collect::<BTreeSet<_>>(), Trigger::Signal),
                () = changed => {
                    // Let the writer finish, and gather what else changed meanwhile.
                    tokio::time::sleep(SETTLE).await;
                    let mut kinds = std::mem::take(
                        &mut *pending.kinds.lock().unwrap_or_else(|e| e.into_inner()),
                    );
                    if pending.everything.swap(false, std::sync::atomic::Ordering::Relaxed) {
                        kinds.extend(followed.kinds());
                    }
                    if kinds.is_empty() {
                        continue;
                    }
                    (kinds, Trigger::Change)
                }
                _ = recheck.tick(), if watcher.is_some() => {
                    let kinds = match &mut watcher {
                        Some(watcher) => watcher.recheck(&followed),
                        None => BTreeSet::new(),
                    };
                    if kinds.is_empty() {
                        continue;
                    }
                    (kinds, Trigger::Change)
                }
            };
            let reading = followed.clone();
            let done = tokio::task::spawn_blocking(move || reading.reload(&kinds, trigger)).await;
            if let Err(err) = done {
                tracing::error!(error = %err, "reading the files again failed; the current versions stay");
            }
            // The tenants file may name new secret files, in new directories.
            if let Some(watcher) = &mut watcher {
                watcher.follow_new_directories(&followed);
                watcher.note_files(&followed);
            }
        }
    });
}

/// Which names in each watched directory belong to which kinds of file.
type Names = HashMap<PathBuf, HashMap<OsString, BTreeSet<Kind>>>;

/// The file-system watcher: which directories it watches (and which directory each is,
/// to tell when one was replaced), and which kinds of file each name in them belongs to.
struct Watcher {
    inner: notify::RecommendedWatcher,
    names: Arc<std::sync::RwLock<Names>>,
    identities: HashMap<PathBuf, Option<(u64, u64)>>,
    /// What each kind's files were when last looked at.
    fingerprints: HashMap<Kind, u64>,
}

/// The device and inode of the directory at `dir` (through symlinks), if it exists.
fn identity(dir: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(dir).ok().map(|_| (0, 0))
    }
}

impl Watcher {
    /// Watches the directory of every followed file; the kinds of file each event may
    /// have changed go to `pending`.
    fn start(followed: &Followed, pending: Arc<Pending>) -> Result<Self> {
        let mut watcher = Self::new(pending)?;
        watcher.follow_new_directories(followed);
        watcher.note_files(followed);
        if watcher.identities.is_empty() {
            bail!("no directory of the followed files could be watched");
        }
        tracing::info!(
            directories = watcher.identities.len(),
            "watching the files for changes"
        );
        Ok(watcher)
    }

    /// A watcher of no directory yet, whose events go to `pending`.
    fn new(pending: Arc<Pending>) -> Result<Self> {
        let names: Arc<std::sync::RwLock<Names>> = Arc::default();
        let seen = names.clone();
        let inner =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
                Ok(event) if event.paths.is_empty() || event.need_rescan() => {
                    pending
                        .everything
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    pending.wake.notify_one();
                }
                Ok(event) if changes_content(&event.kind) => {
                    let names = seen.read().unwrap_or_else(|e| e.into_inner());
                    let kinds = kinds_of(&names, &event.paths);
                    drop(names);
                    if !kinds.is_empty() {
                        pending
                            .kinds
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .extend(kinds);
                        pending.wake.notify_one();
                    }
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "the file watcher reported an error"),
            })
            .map_err(|e| anyhow!("starting the file watcher: {e}"))?;
        Ok(Self {
            inner,
            names,
            identities: HashMap::new(),
            fingerprints: HashMap::new(),
        })
    }

    /// Adds the directories of followed files not yet watched (a tenants file may name
    /// new secret files, a mounted secret's files move to a new directory on each
    /// update), and notes which names in them belong to which kind.
    fn follow_new_directories(&mut self, followed: &Followed) {
        let mut found: Names = HashMap::new();
        for kind in followed.kinds() {
            // The path as given; every symlink on the way to it, as a name in its own
            // directory (a mounted secret's `..data`, a directory swapped by a symlink
            // renamed over it); and the file it leads to (a file kept elsewhere and
            // linked in, rewritten in place there).
            let files = followed.files(kind).into_iter().flat_map(|file| {
                let target = std::fs::canonicalize(&file).ok().filter(|t| *t != file);
                std::iter::once(file.clone())
                    .chain(target)
                    .chain(symlinks_on_the_way(&file))
            });
            for file in files {
                let (Some(dir), Some(name)) = (directory_of(&file), file.file_name()) else {
                    continue;
                };
                found
                    .entry(dir)
                    .or_default()
                    .entry(name.to_owned())
                    .or_default()
                    .insert(kind);
            }
        }
        self.follow(found);
    }

    /// Watches the directories of `found` not watched yet and no others, and notes which
    /// names in each belong to which kinds.
    ///
    /// `watch` and `unwatch` wait for the watcher's thread, and that thread runs the event
    /// handler, which reads `names`: `names` is never locked across either call, or an
    /// event arriving meanwhile (a mounted secret swapped again at once) would leave the
    /// two waiting for each other for good.
    fn follow(&mut self, found: Names) {
        use notify::Watcher as _;
        {
            // The names first, so that an event of a directory is known once it is watched.
            let mut names = self.names.write().unwrap_or_else(|e| e.into_inner());
            for (dir, of_dir) in &found {
                let known = names.entry(dir.clone()).or_default();
                for (name, kinds) in of_dir {
                    known.entry(name.clone()).or_default().extend(kinds);
                }
            }
        }
        let mut gone: Vec<PathBuf> = Vec::new();
        for dir in found.keys() {
            if self.identities.contains_key(dir) {
                continue;
            }
            if let Err(err) = self.inner.watch(dir, notify::RecursiveMode::NonRecursive) {
                tracing::warn!(
                    directory = %dir.display(),
                    error = %err,
                    "cannot watch this directory; its files are compared with what they were every 2 s instead"
                );
                gone.push(dir.clone());
                continue;
            }
            self.identities.insert(dir.clone(), identity(dir));
        }
        // Directories no file leads to any more (a mounted secret's previous version, a
        // release switched away from): not watched, not remembered.
        let unwanted: Vec<PathBuf> = self
            .identities
            .keys()
            .filter(|dir| !found.contains_key(*dir))
            .cloned()
            .collect();
        for dir in &unwanted {
            self.identities.remove(dir);
            if identity(dir).is_some() {
                let _ = self.inner.unwatch(dir);
            }
        }
        let mut names = self.names.write().unwrap_or_else(|e| e.into_inner());
        for dir in gone.iter().chain(&unwanted) {
            names.remove(dir);
        }
    }

    /// The periodic check behind the events: watches each directory again (a directory
    /// replaced since it was watched lost its watch with the old one, and a watch may be
    /// dropped by a late event of the old one), and compares each kind's files with what
    /// they were (device, inode, size, times), which also catches a change whose event
    /// was missed (a network file system that sends none). The kinds that changed.
    fn recheck(&mut self, followed: &Followed) -> BTreeSet<Kind> {
        use notify::Watcher as _;
        let mut kinds = BTreeSet::new();
        // `names` is read only between the watcher calls (see `follow`).
        for (dir, known) in &mut self.identities {
            let now = identity(dir);
            if now.is_none() {
                *known = None;
                continue;
            }
            if now != *known && known.is_some() {
                // Renamed aside, the old directory keeps its watch: it goes first.
                let _ = self.inner.unwatch(dir);
            }
            // Watching a directory watched already changes nothing.
            if let Err(err) = self.inner.watch(dir, notify::RecursiveMode::NonRecursive) {
                tracing::debug!(directory = %dir.display(), error = %err, "cannot watch this directory");
                continue;
            }
            if now != *known {
                *known = now;
                let names = self.names.read().unwrap_or_else(|e| e.into_inner());
                kinds.extend(
                    names
                        .get(dir)
                        .into_iter()
                        .flat_map(|n| n.values().flatten()),
                );
            }
        }
        for kind in followed.kinds() {
            let now = fingerprint(&followed.files(kind));
            if self.fingerprints.insert(kind, now) != Some(now) {
                kinds.insert(kind);
            }
        }
        kinds
    }

    /// Notes what each kind's files are now, after a reload read them.
    fn note_files(&mut self, followed: &Followed) {
        for kind in followed.kinds() {
            self.fingerprints
                .insert(kind, fingerprint(&followed.files(kind)));
        }
    }
}

/// A digest of what `files` are on disk (through symlinks): device, inode, size, and
/// modification and change times, or that one is missing.
fn fingerprint(files: &[PathBuf]) -> u64 {
    let mut parts: Vec<Vec<u8>> = Vec::with_capacity(files.len());
    for file in files {
        let mut part = file.as_os_str().as_encoded_bytes().to_vec();
        #[cfg(unix)]
        if let Ok(m) = std::fs::metadata(file) {
            use std::os::unix::fs::MetadataExt as _;
            for n in [
                m.dev(),
                m.ino(),
                m.size(),
                m.mtime() as u64,
                m.mtime_nsec() as u64,
                m.ctime() as u64,
                m.ctime_nsec() as u64,
            ] {
                part.extend_from_slice(&n.to_le_bytes());
            }
        }
        #[cfg(not(unix))]
        if let Ok(m) = std::fs::metadata(file) {
            part.extend_from_slice(&m.len().to_le_bytes());
            if let Ok(t) = m.modified().map(|t| format!("{t:?}")) {
                part.extend_from_slice(t.as_bytes());
            }
        }
        parts.push(part);
    }
    let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    secrets::digest(&parts)
}

/// The kinds of file that changed, from the paths of an event: a followed file itself,
/// or a mounted secret's `..data` swap, which may change every file of its directory.
fn kinds_of(names: &Names, paths: &[PathBuf]) -> BTreeSet<Kind> {
    let mut kinds = BTreeSet::new();
    for path in paths {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            continue;
        };
        let Some(of_dir) = names.get(dir) else {
            continue;
        };
        if name.to_string_lossy().starts_with("..data") {
            kinds.extend(of_dir.values().flatten().copied());
        } else if let Some(of_name) = of_dir.get(name) {
            kinds.extend(of_name.iter().copied());
        }
    }
    kinds
}

/// Whether an event of this kind may have changed what a file holds: a file created,
/// written, renamed or removed. Not a file opened, read or closed unwritten (the
/// reload's own reading would start the next reload), nor its access time.
fn changes_content(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    use notify::event::{MetadataKind, ModifyKind};
    !matches!(
        kind,
        EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime))
    )
}

/// The symlinks among the directories on the way to `file` (absolute), each a name in
/// its own parent directory.
fn symlinks_on_the_way(file: &Path) -> Vec<PathBuf> {
    let Ok(file) = std::path::absolute(file) else {
        return Vec::new();
    };
    file.ancestors()
        .skip(1)
        .filter(|dir| dir.parent().is_some())
        .filter(|dir| std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_symlink()))
        .map(Path::to_path_buf)
        .collect()
}

/// The directory that holds `file`, made absolute (events carry absolute paths).
fn directory_of(file: &Path) -> Option<PathBuf> {
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    std::path::absolute(&dir).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_entries_are_compared_by_digest() {
        let a = entry_digests("tok-aaaaaaaaaaaaaaaa=alice\n# comment\n\ntok-bbbbbbbbbbbbbbbb=bob");
        let b = entry_digests("tok-bbbbbbbbbbbbbbbb=bob, tok-aaaaaaaaaaaaaaaa=alice");
        assert_eq!(a, b, "order, commas and comments do not matter");
        let c = entry_digests("tok-aaaaaaaaaaaaaaaa=alice;tenant=acme\ntok-bbbbbbbbbbbbbbbb=bob");
        assert_eq!((c.difference(&a).count(), a.difference(&c).count()), (1, 1));
        assert_eq!(
            named_tenants("x=a;tenant=acme, y=b ;tenant= globex ,z=c"),
            ["acme", "globex"].into_iter().map(String::from).collect()
        );
    }

    /// The tenants file of `count` tenants `t0`, `t1`, ..., each with its own key and
    /// inline secret; tenant `t0`'s key is `SK` + 32 times `first`, its secret names
    /// `first` too.
    fn tenants_file(count: usize, first: char) -> String {
        let mut text = String::with_capacity(count * 200);
        for i in 0..count {
            let (key, secret) = if i == 0 {
                let key = format!("SK{}", String::from(first).repeat(32));
                (key, format!("secret-of-tenant-0-{first}-0123456789"))
            } else {
                (
                    format!("SK{i:032}"),
                    format!("secret-of-tenant-{i}-0123456789"),
                )
            };
            text.push_str(&format!(
                "[tenants.t{i}]\naccount_sid = \"AC{i:032}\"\napi_key_sid = \"{key}\"\napi_secret = \"{secret}\"\nchat_service_sid = \"IS{i:032}\"\n\n"
            ));
        }
        text
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reload_that_changes_one_of_10000_tenants_keeps_the_others_cached() {
        use std::os::unix::fs::PermissionsExt as _;
        const COUNT: usize = 10_000;
        let dir =
            std::env::temp_dir().join(format!("chat-token-reload-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("tenants.toml");
        let write = |text: String| {
            let aside = dir.join(".tenants.toml.new");
            std::fs::write(&aside, text).expect("write");
            std::fs::set_permissions(&aside, std::fs::Permissions::from_mode(0o600))
                .expect("chmod");
            std::fs::rename(&aside, &path).expect("rename");
        };
        write(tenants_file(COUNT, 'a'));
        let tenants = TenantsFile::open(&path).expect("tenants file");
        let setup = EnvSetup::from_lookup(|_| Err(std::env::VarError::NotPresent)).expect("setup");
        let service = TokenService::without_resolver(setup.issuer.clone())
            .tenants(tenants.clone())
            .tenant_cache(COUNT, Duration::from_secs(300))
            .build()
            .expect("service");
        let ask = |id: String| {
            let service = service.clone();
            async move {
                let req = IncomingRequest::new("GET", "/token");
                let reply = service
                    .answer(&req, async { Ok(Resolved::new("user").with_tenant(id)) })
                    .await;
                reply.status
            }
        };
        for i in 0..COUNT {
            assert_eq!(ask(format!("t{i}")).await, 200);
        }
        let cache = service.tenant_cache().expect("a tenant cache");
        assert_eq!(cache.len(), COUNT);
        let followed = Followed {
            service: service.clone(),
            setup,
            users: None,
            jwt_secret: None,
            tenants: Some(tenants),
            policy: None,
            named_tenants: Mutex::new(BTreeSet::new()),
            key_rotated_at: Mutex::new(None),
        };
        // Tenant t0 gets a new key; the 9,999 others are as they were.
        write(tenants_file(COUNT, 'c'));
        let started = std::time::Instant::now();
        let kinds = BTreeSet::from([Kind::Tenants]);
        let followed = Arc::new(followed);
        let reading = followed.clone();
        tokio::task::spawn_blocking(move || reading.reload(&kinds, Trigger::Change))
            .await
            .expect("reload");
        let took = started.elapsed();
        assert_eq!(
            cache.len(),
            COUNT - 1,
            "only the changed tenant is forgotten"
        );
        assert_eq!(ask("t0".into()).await, 200);
        assert_eq!(cache.len(), COUNT);
        println!("a reload of {COUNT} tenants, one changed, took {took:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A directory watched while another one's events pour in: the watcher's thread runs
    /// the event handler, so `watch` must not wait for it while the handler waits for
    /// `names` (a mounted secret swapped twice in a row left serve's watcher stuck).
    #[test]
    fn watching_a_directory_while_events_arrive_does_not_wait_for_ever() {
        let root =
            std::env::temp_dir().join(format!("chat-token-watch-storm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let busy = root.join("busy");
        std::fs::create_dir_all(&busy).expect("dir");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (stop, file) = (stop.clone(), busy.join("users"));
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::fs::write(&file, n.to_string()).expect("write");
                    n += 1;
                }
            })
        };
        let (done, finished) = std::sync::mpsc::channel();
        let follower = {
            let root = root.clone();
            std::thread::spawn(move || {
                let mut watcher = Watcher::new(Arc::default()).expect("watcher");
                for round in 0..200 {
                    let fresh = root.join(format!("v{round}"));
                    std::fs::create_dir_all(&fresh).expect("dir");
                    let mut found: Names = HashMap::new();
                    for dir in [&busy, &fresh] {
                        found
                            .entry(dir.clone())
                            .or_default()
                            .entry(OsString::from("users"))
                            .or_default()
                            .insert(Kind::Users);
                    }
                    watcher.follow(found);
                    assert!(watcher.identities.contains_key(&fresh));
                    if round > 0 {
                        let previous = root.join(format!("v{}", round - 1));
                        assert!(!watcher.identities.contains_key(&previous));
                    }
                }
                let _ = done.send(());
            })
        };
        let outcome = finished.recv_timeout(Duration::from_secs(120));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().expect("writer");
        assert!(
            outcome.is_ok(),
            "watching a new directory while events arrive never returned"
        );
        follower.join().expect("follower");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn key_sids_are_shortened() {
        assert_eq!(short_sid("SKbbbbbbbbbbbbbbbbbbbbbbbbbbbb1234"), "SK…1234");
        assert_eq!(short_sid("S"), "…S");
    }
}
