//! `chat-token serve`: the stand-alone token service on the axum adapter.
//!
//! Connections are accepted by a loop of its own on hyper's HTTP/1 server, so that every
//! connection is bounded: its request head must arrive within `--header-read-timeout`
//! (also between requests on a kept-alive connection), every request is answered within
//! `--request-timeout` (a 503 `unavailable` otherwise), and at most `--max-connections`
//! are served at once. When that many are open, the loop stops accepting: further
//! connections wait in the kernel's listen queue, unanswered, until one closes (and the
//! kernel refuses new ones when that queue is full). Waiting rather than closing keeps a
//! short burst from failing; the header timeout makes sure idle and slow connections do
//! not hold their slots for long.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use axum::middleware;
use chat_token_core::resolvers::{HttpJwks, JwtBearerBuilder};
use chat_token_core::setup::{DEMO_USERS, ENV_USERS, EnvSetup};
use chat_token_core::{
    IdentityResolver, JwtBearerResolver, SecretString, TokenService, TrustedHeader,
    cors::CorsPolicy, policy::UserPolicy, resolvers::IpNet, resolvers::JwtConfigError,
    resolvers::parse_proxy_net,
};
use clap::{ArgGroup, Args};
use tokio::net::TcpListener;

use secrecy::ExposeSecret as _;

use crate::secrets;

mod listener;
mod metrics;
mod reload;
mod routes;
mod tenants;

use listener::{Limits, accept_loop, time_limit};
use metrics::install_metrics_recorder;
use reload::{Followed, JwtSecretFile, PolicyFile, Swappable, UsersFile};
use routes::{app, console, loopback_host_only};
use tenants::TenantsFile;

/// Flags of `chat-token serve`.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("jwt_keys").args(["jwks_url", "jwt_hs256_secret_file"])))]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000", value_name = "ADDR")]
    bind: SocketAddr,
    /// Read the users table (token=identity per line) from this file instead of CHAT_TOKEN_USERS.
    #[arg(long, value_name = "PATH", conflicts_with = "trusted_header")]
    users_file: Option<PathBuf>,
    /// Take the identity from this header, set by an authenticating reverse proxy.
    #[arg(long, value_name = "NAME")]
    trusted_header: Option<String>,
    /// Address or network of the trusted proxy, e.g. 10.0.0.5 or 10.0.0.0/8 (repeatable;
    /// default 127.0.0.1 and ::1).
    #[arg(long, value_name = "IP[/PREFIX]", requires = "trusted_header", value_parser = parse_proxy_net)]
    trusted_proxy: Vec<IpNet>,
    /// Verify the caller's bearer JWT with the keys of this JWKS document (RS256/384/512,
    /// PS256/384/512, ES256/384, EdDSA): https, or plain http to a loopback address. Needs
    /// --jwt-issuer and --jwt-audience (or their --jwt-insecure-any-* waivers).
    #[arg(long, value_name = "URL", conflicts_with_all = ["trusted_header", "users_file", "jwt_hs256_secret_file"])]
    jwks_url: Option<String>,
    /// Verify the caller's bearer JWT with HS256 and the secret in this file: its bytes as
    /// written (not base64-decoded), one trailing line break ignored, 32 bytes or more.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["trusted_header", "users_file"])]
    jwt_hs256_secret_file: Option<PathBuf>,
    /// The issuer (iss) the caller's JWT must have (needs --jwks-url or
    /// --jwt-hs256-secret-file).
    #[arg(long, value_name = "ISS", requires = "jwt_keys")]
    jwt_issuer: Option<String>,
    /// The audience (aud) the caller's JWT must have (needs --jwks-url or
    /// --jwt-hs256-secret-file).
    #[arg(long, value_name = "AUD", requires = "jwt_keys")]
    jwt_audience: Option<String>,
    /// UNSAFE: accept the caller's JWT whatever its audience (tokens your identity
    /// provider minted for any other app get Twilio tokens); instead of --jwt-audience.
    #[arg(long, requires = "jwt_keys", conflicts_with = "jwt_audience")]
    jwt_insecure_any_audience: bool,
    /// UNSAFE: accept the caller's JWT whatever its issuer; instead of --jwt-issuer.
    #[arg(long, requires = "jwt_keys", conflicts_with = "jwt_issuer")]
    jwt_insecure_any_issuer: bool,
    /// The JWT claim that becomes the Twilio identity (sub, email, preferred_username, ...;
    /// needs --jwks-url or --jwt-hs256-secret-file).
    #[arg(
        long,
        default_value = "sub",
        value_name = "CLAIM",
        requires = "jwt_keys"
    )]
    identity_claim: String,
    /// Refuse a JWT whose email_verified claim is not true, or missing, whatever the
    /// identity claim (without it, only with --identity-claim email is a present
    /// email_verified that is not true refused): for providers that always send it.
    #[arg(long, requires = "jwt_keys")]
    jwt_require_email_verified: bool,
    /// Remember this many verified bearer JWTs, each until its exp (5 minutes at most),
    /// so a token presented again is not verified again; 0 turns the cache off.
    #[arg(long, default_value_t = 10_000, value_name = "N", requires = "jwt_keys",
          value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    jwt_cache_entries: u64,
    /// Sign each user's token with their organisation's own Twilio account, from this file.
    ///
    /// Each organisation, or tenant, has its own Twilio account (a subaccount, usually),
    /// configured in this TOML file. The user's tenant comes from --tenant-claim,
    /// --tenant-header, or a users entry token=identity;tenant=ID. A user without a
    /// tenant, or of a tenant the file does not name, gets 403 `forbidden`. One table per
    /// tenant:
    ///
    ///     [tenants.acme]
    ///     account_sid = "AC..."
    ///     api_key_sid = "SK..."
    ///     api_secret_file = "/run/secrets/acme-twilio"
    ///     chat_service_sid = "IS..."   # its own Conversations service; without it, 500
    ///     ttl = 3600                   # optional
    ///
    /// Exactly one of api_secret_file (a path; relative to the tenants file's directory),
    /// api_secret_env (the name of an environment variable of serve) or api_secret (inline:
    /// only in a file no one but its owner can read, chmod 600). Unknown keys are refused.
    ///
    /// A file that is not valid TOML or breaks these rules stops serve from starting. A
    /// tenant whose SIDs, secret or ttl cannot be used does not: its users get 500
    /// `internal` and the log says why, while the other tenants are served.
    ///
    /// A missing, unreadable or empty secret file, or an unset or empty api_secret_env
    /// variable, is such a tenant: 500 for its users, not a refusal to start.
    ///
    /// The file and every tenant's api_secret_file are read again when they change (and
    /// on SIGHUP), and the tenants that changed are served with their new settings at
    /// once; a variable named by api_secret_env keeps the value serve started with. A new
    /// file that is not valid is logged and the current tenants are kept; a tenant whose
    /// new credentials cannot be used keeps its current ones.
    #[arg(long, value_name = "FILE", verbatim_doc_comment)]
    tenants_file: Option<PathBuf>,
    /// The JWT claim (org_id, say) that names the user's tenant (needs --tenants-file and
    /// --jwks-url or --jwt-hs256-secret-file); a JWT without it gets 403.
    #[arg(
        long,
        value_name = "CLAIM",
        requires = "tenants_file",
        requires = "jwt_keys"
    )]
    tenant_claim: Option<String>,
    /// The header, set by the trusted proxy like the identity's, that names the user's
    /// tenant (needs --tenants-file and --trusted-header); a request without it gets 403.
    #[arg(
        long,
        value_name = "NAME",
        requires = "tenants_file",
        requires = "trusted_header"
    )]
    tenant_header: Option<String>,
    /// Let browsers on this origin call /token (repeatable; * for any).
    #[arg(long, value_name = "ORIGIN")]
    cors_origin: Vec<String>,
    /// Send Access-Control-Allow-Credentials: true to allowed origins.
    #[arg(long, requires = "cors_origin")]
    cors_credentials: bool,
    /// Vary ttl, chat role and endpoint id by identity, role claim or device header (JSON;
    /// see `UserPolicy` in chat-token-core).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Serve Prometheus metrics at /metrics: tokens minted, errors by code, resolver latency
    /// (a histogram), and the bearer-JWT cache's hits, misses, evictions and size.
    #[arg(long)]
    metrics: bool,
    /// Default token lifetime in seconds (1..=86400).
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    ttl: u64,
    /// Close a connection whose request line and headers have not all arrived this many
    /// seconds after it opened or after its previous answer (1..=3600).
    #[arg(long, default_value_t = 10, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_read_timeout: u64,
    /// Answer 503 `unavailable` to a request (its body included) not answered within this
    /// many seconds (1..=3600).
    #[arg(long, default_value_t = 30, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    request_timeout: u64,
    /// Close a connection whose answers the client does not take: no byte of an answer
    /// could be sent for this many seconds (1..=3600).
    #[arg(long, default_value_t = 10, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    write_timeout: u64,
    /// Serve at most this many connections at once; more wait in the listen queue until
    /// one closes (1..=1000000; lowered, with a warning, to the open-files limit less 64).
    #[arg(long, default_value_t = 10_000, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,
    /// Read the files (credentials, users, JWT secret, tenants, policy) again as soon as
    /// they change on disk (the default): a renamed or rewritten file, a mounted secret
    /// or config map updated by its platform. SIGHUP reads them in any case.
    #[arg(long, overrides_with = "no_watch")]
    watch: bool,
    /// Read the files again on SIGHUP only.
    #[arg(long, overrides_with = "watch")]
    no_watch: bool,
}

impl ServeArgs {
    /// Whether `serve` watches its files: yes unless `--no-watch` is the last word.
    fn watch(&self) -> bool {
        !self.no_watch
    }
}

/// How many connections the kernel holds for `serve` while every slot is taken: beyond
/// it, new clients' connection attempts are dropped and retried after seconds.
const LISTEN_BACKLOG: u32 = 1024;

/// A listener on `addr` with a backlog of [`LISTEN_BACKLOG`] (the standard library's is
/// 128).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// `filter`, with notify's own warnings about its bookkeeping (a watch on a directory
/// that a mounted secret's update removed) left out unless `RUST_LOG` names notify.
fn quiet_notify(filter: tracing_subscriber::EnvFilter) -> tracing_subscriber::EnvFilter {
    let named = std::env::var("RUST_LOG").is_ok_and(|v| v.contains("notify"));
    match "notify=error".parse() {
        Ok(directive) if !named => filter.add_directive(directive),
        _ => filter,
    }
}

/// Runs `chat-token serve` until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(quiet_notify(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        ))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // A log line that cannot be written (the reader of stderr went away: a log
        // shipper restarting, `| tee` killed) is dropped. By default tracing-subscriber
        // reports that with `eprintln!`, which panics on the same broken stderr, in the
        // request or the reload that logged.
        .log_internal_errors(false)
        .init();
    // A secret with an Auth Token's shape stops `serve` (see `serve`), so only the file's
    // mode is a warning here.
    if let Some(warning) = secrets::secret_file_warning() {
        tracing::warn!("{warning}");
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let served = runtime.block_on(serve(args));
    // A file read that hangs (a FIFO swapped in, a hung mount) must not keep the process
    // from exiting once the connections are closed.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    served?;
    Ok(ExitCode::SUCCESS)
}

/// The resolver, a description for the log, the bearer-JWT resolver (for its cache
/// metrics) when that is the one, and the files it is read from, which `serve` follows.
struct Chosen {
    resolver: Arc<dyn IdentityResolver>,
    description: String,
    jwt: Option<Arc<Swappable<JwtBearerResolver>>>,
    users: Option<UsersFile>,
    jwt_secret: Option<JwtSecretFile>,
}

impl Chosen {
    fn plain(resolver: Arc<dyn IdentityResolver>, description: String) -> Self {
        Self {
            resolver,
            description,
            jwt: None,
            users: None,
            jwt_secret: None,
        }
    }
}

/// The bearer-JWT resolver `builder` gives with the JWT flags of `args`.
fn jwt_resolver(args: &ServeArgs, builder: JwtBearerBuilder) -> Result<JwtBearerResolver> {
    let mut builder = builder.identity_claim(args.identity_claim.clone());
    if let Some(iss) = &args.jwt_issuer {
        builder = builder.issuer(iss.clone());
    }
    if let Some(aud) = &args.jwt_audience {
        builder = builder.audience(aud.clone());
    }
    if args.jwt_insecure_any_audience {
        builder = builder.insecure_any_audience();
    }
    if args.jwt_insecure_any_issuer {
        builder = builder.insecure_any_issuer();
    }
    if let Some(claim) = &args.tenant_claim {
        builder = builder.tenant_claim(claim.clone());
    }
    if args.jwt_require_email_verified {
        builder = builder.require_email_verified();
    }
    builder
        .verified_cache(usize::try_from(args.jwt_cache_entries).unwrap_or(usize::MAX))
        .build()
        .map_err(|err| match err {
            JwtConfigError::MissingIssuer => {
                anyhow::anyhow!("{err}; pass --jwt-issuer ISS (or --jwt-insecure-any-issuer)")
            }
            JwtConfigError::MissingIssuerAndAudience => anyhow::anyhow!(
                "{err}; pass --jwt-issuer ISS and --jwt-audience AUD (or --jwt-insecure-any-issuer and --jwt-insecure-any-audience)"
            ),
            JwtConfigError::MissingAudience => {
                anyhow::anyhow!("{err}; pass --jwt-audience AUD (or --jwt-insecure-any-audience)")
            }
            other => other.into(),
        })
}

/// Reads `--jwt-hs256-secret-file` by the secret-file rules.
fn read_jwt_secret(path: &Path) -> Result<SecretString> {
    chat_token_core::env::read_secret_file(path).map_err(|e| {
        anyhow::anyhow!(
            "--jwt-hs256-secret-file {} cannot be used: {e}",
            path.display()
        )
    })
}

fn resolver(args: &ServeArgs, setup: &EnvSetup) -> Result<Chosen> {
    if let Some(header) = &args.trusted_header {
        let proxies = if args.trusted_proxy.is_empty() {
            vec![
                IpNet::from(IpAddr::from([127, 0, 0, 1])),
                IpNet::from(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])),
            ]
        } else {
            args.trusted_proxy.clone()
        };
        let list: Vec<String> = proxies.iter().map(ToString::to_string).collect();
        let mut description = format!("trusted header {header} from {}", list.join(", "));
        let mut trusted = TrustedHeader::try_new(header.clone(), proxies)?;
        if let Some(tenant_header) = &args.tenant_header {
            trusted = trusted.with_tenant_header(tenant_header.clone())?;
            description.push_str(&format!(", tenant from header {tenant_header}"));
        }
        return Ok(Chosen::plain(Arc::new(trusted), description));
    }
    if args.jwks_url.is_some() || args.jwt_hs256_secret_file.is_some() {
        // The JWKS as it may be logged: without the parts of its URL that may hold an
        // access key.
        let jwks = args.jwks_url.as_deref().map(HttpJwks::new).transpose()?;
        let source = jwks
            .as_ref()
            .map_or_else(|| "HS256 shared secret".to_owned(), HttpJwks::to_string);
        let mut description = format!(
            "bearer JWT ({source}), identity from claim {}",
            args.identity_claim
        );
        if let Some(claim) = &args.tenant_claim {
            description.push_str(&format!(", tenant from claim {claim}"));
        }
        let (resolver, jwt_secret) = match (jwks, &args.jwt_hs256_secret_file) {
            (Some(jwks), _) => (jwt_resolver(args, JwtBearerResolver::jwks(jwks))?, None),
            (None, Some(path)) => {
                warn_if_readable_by_others("--jwt-hs256-secret-file", path);
                let secret = read_jwt_secret(path)?;
                let digest = secrets::digest(&[secret.expose_secret().as_bytes()]);
                let resolver = jwt_resolver(args, JwtBearerResolver::hs256(secret))?;
                (resolver, Some((path.clone(), digest)))
            }
            (None, None) => unreachable!("one of the two was checked"),
        };
        let jwt = Arc::new(Swappable::new(resolver));
        let jwt_secret = jwt_secret.map(|(path, digest)| {
            let flags = args.clone();
            JwtSecretFile {
                path,
                resolver: jwt.clone(),
                build: Box::new(move |secret| {
                    jwt_resolver(&flags, JwtBearerResolver::hs256(secret))
                }),
                secret: std::sync::Mutex::new(digest),
            }
        });
        return Ok(Chosen {
            resolver: jwt.clone(),
            description,
            jwt: Some(jwt),
            users: None,
            jwt_secret,
        });
    }
    if let Some(path) = &args.users_file {
        warn_if_readable_by_others("--users-file", path);
        let (users, entries, _) = reload::load_users(path, None)?;
        let users =
            users.ok_or_else(|| anyhow::anyhow!("--users-file {} was not read", path.display()))?;
        let description = format!("{} static users from {}", users.len(), path.display());
        let users = Arc::new(Swappable::new(users));
        return Ok(Chosen {
            resolver: users.clone(),
            description,
            jwt: None,
            users: Some(UsersFile {
                path: path.clone(),
                resolver: users,
                entries: std::sync::Mutex::new(entries),
            }),
            jwt_secret: None,
        });
    }
    match (&setup.users, setup.development) {
        (Some(users), _) => Ok(Chosen::plain(
            Arc::new(users.clone()),
            format!("{} static users from {ENV_USERS}", users.len()),
        )),
        (None, true) => {
            let (users, _) = setup.users_or_demo()?;
            Ok(Chosen::plain(Arc::new(users), "demo users".into()))
        }
        (None, false) => bail!(
            "no users configured: set {ENV_USERS}=\"token=identity,...\", pass --users-file PATH, --jwks-url URL or --jwt-hs256-secret-file PATH for bearer JWTs, or --trusted-header NAME behind an authenticating proxy"
        ),
    }
}

/// Reads and checks a `--policy` file: the policy's own rules, and none that could never
/// apply to this `serve` (role rules without bearer JWTs, whose claims name the roles).
fn load_policy(path: &Path, gives_claims: bool) -> Result<UserPolicy> {
    let (text, _) = secrets::read_text(path, reload::MAX_CONFIG_FILE)
        .map_err(|e| anyhow::anyhow!("--policy {} cannot be used: {e:#}", path.display()))?;
    let policy = UserPolicy::from_json(text.expose_secret())
        .with_context(|| format!("parsing --policy {}", path.display()))?;
    if !policy.roles.is_empty() && !gives_claims {
        bail!(
            "--policy {}: its role rules would never apply (a deny among them would let every user through): only a bearer JWT (--jwks-url or --jwt-hs256-secret-file) gives the claims role_claim reads; remove the role rules, or use identity rules",
            path.display()
        );
    }
    Ok(policy)
}

/// Warns when `policy` changes the chat grant (`endpoint_id_header`,
/// `chat_deployment_role_sid`) of tokens that carry none (`chat` is false).
fn warn_chat_rules(policy: &UserPolicy, path: &Path, chat: bool) {
    let chat_rules = policy.endpoint_id_header.is_some()
        || policy
            .roles
            .values()
            .chain(policy.identities.values())
            .any(|rule| rule.chat_deployment_role_sid.is_some());
    if chat_rules && !chat {
        tracing::warn!(
            policy = %path.display(),
            "the policy's endpoint_id_header and chat_deployment_role_sid change the chat grant, and these tokens carry none: set TWILIO_CHAT_SERVICE_SID, or remove those rules"
        );
    }
}

/// Logs a warning when the secret file `path` (given with `flag`) can be read by others.
fn warn_if_readable_by_others(flag: &str, path: &Path) {
    if let Some(warning) = secrets::readable_by_others(flag, path) {
        tracing::warn!("{warning}");
    }
}

/// The flag that chooses where the users come from instead of `CHAT_TOKEN_USERS`, if any.
fn users_flag(args: &ServeArgs) -> Option<&'static str> {
    [
        (args.trusted_header.is_some(), "--trusted-header"),
        (args.jwks_url.is_some(), "--jwks-url"),
        (
            args.jwt_hs256_secret_file.is_some(),
            "--jwt-hs256-secret-file",
        ),
        (args.users_file.is_some(), "--users-file"),
    ]
    .into_iter()
    .find_map(|(given, flag)| given.then_some(flag))
}

async fn serve(args: ServeArgs) -> Result<()> {
    // Its users would not be served: a deployer who set both would expect them to be.
    if let (Some(flag), Some(users)) = (users_flag(&args), std::env::var_os(ENV_USERS)) {
        let set = if users.to_string_lossy().trim().is_empty() {
            "set but empty"
        } else {
            "set"
        };
        bail!(
            "{ENV_USERS} is {set}, and {flag} chooses the users, so its users would not be served: unset {ENV_USERS}"
        );
    }
    let setup = EnvSetup::from_env()?;
    // As a reload refuses such a secret, so does the start: a replica that started with
    // it would answer every request with a token Twilio refuses, and look healthy.
    if !setup.development && setup.issuer.credentials().secret_looks_like_auth_token() {
        bail!(
            "{}; serve does not start with it",
            secrets::AUTH_TOKEN_WARNING
        );
    }
    if setup.development && !args.bind.ip().is_loopback() {
        bail!(
            "refusing to listen on {} in development mode (no Twilio credentials set): bind a loopback address, or configure TWILIO_ACCOUNT_SID, TWILIO_API_KEY and TWILIO_API_SECRET",
            args.bind
        );
    }
    // Before the service is built, so that it describes its metrics to this recorder.
    let metrics = if args.metrics {
        Some(install_metrics_recorder()?)
    } else {
        None
    };
    let named_tenants = check_tenant_naming(&args, &setup)?;
    let chosen = resolver(&args, &setup)?;
    let mut builder =
        TokenService::builder(setup.issuer.clone(), chosen.resolver.clone()).ttl(args.ttl);
    let tenants = match &args.tenants_file {
        Some(path) => {
            let tenants = TenantsFile::open(path)?;
            warn_unconfigured(&named_tenants, &tenants);
            builder = builder.tenants(tenants.clone());
            Some(tenants)
        }
        None => None,
    };
    if !args.cors_origin.is_empty() {
        let policy = CorsPolicy::try_new(args.cors_origin.iter().cloned())?
            .with_allow_credentials(args.cors_credentials)?;
        builder = builder.cors(policy);
    }
    let policy = match &args.policy {
        Some(path) => {
            let gives_claims = args.jwks_url.is_some() || args.jwt_hs256_secret_file.is_some();
            let chat = setup.issuer.chat_service_sid().is_some() || tenants.is_some();
            let policy = load_policy(path, gives_claims)?;
            warn_chat_rules(&policy, path, chat);
            builder = builder.user_policy(policy.clone());
            Some(PolicyFile {
                path: path.clone(),
                load: Box::new(move |path| {
                    let policy = load_policy(path, gives_claims)?;
                    warn_chat_rules(&policy, path, chat);
                    Ok(policy)
                }),
                current: std::sync::Mutex::new(policy),
            })
        }
        None => None,
    };
    let service = builder.build()?;
    let followed = Arc::new(Followed {
        service: service.clone(),
        setup: setup.clone(),
        users: chosen.users,
        jwt_secret: chosen.jwt_secret,
        tenants,
        policy,
        named_tenants: std::sync::Mutex::new(named_tenants),
        key_rotated_at: std::sync::Mutex::new(None),
    });
    followed.loaded_at_start();
    reload::follow(followed, args.watch());
    let (description, jwt) = (chosen.description, chosen.jwt);
    let demo = setup.development
        && setup.users.is_none()
        && args.trusted_header.is_none()
        && args.users_file.is_none()
        && args.jwks_url.is_none()
        && args.jwt_hs256_secret_file.is_none();
    let limits = Limits::of(&args);
    let mut app = app(service.clone(), setup.development, metrics, jwt);
    if setup.development {
        app = app.merge(console(service, demo));
    }
    let mut app = app.layer(middleware::from_fn_with_state(limits.request, time_limit));
    if setup.development {
        // Against DNS rebinding: a page on another site whose name resolves to 127.0.0.1
        // would otherwise reach the console and the demo users' tokens.
        app = app.layer(middleware::from_fn(loopback_host_only));
    }
    let listener = listen(args.bind).with_context(|| format!("binding {}", args.bind))?;
    let addr = listener.local_addr()?;
    if args.tenants_file.is_none() {
        setup.warn();
    } else if setup.development {
        tracing::warn!(
            "DEVELOPMENT MODE: no Twilio credentials of this service are set; each tenant's tokens are signed with its own key from --tenants-file"
        );
    }
    if demo && args.tenants_file.is_none() {
        // Written as the log is: a stderr nobody reads is no reason to stop.
        let _ = writeln!(
            std::io::stderr(),
            "\nchat-token DEVELOPMENT MODE: tokens are signed with development credentials and Twilio will NOT accept them.\n\
             Demo users (bearer token = identity): {DEMO_USERS}\n\
             Try: curl -H 'Authorization: Bearer demo-alice' http://{addr}/token\n"
        );
    }
    tracing::info!(
        %addr,
        resolver = %description,
        development = setup.development,
        api_key = %reload::short_sid(setup.issuer.credentials().api_key_sid().as_str()),
        header_read_timeout_s = limits.header_read.as_secs(),
        request_timeout_s = limits.request.as_secs(),
        write_timeout_s = limits.write.as_secs(),
        max_connections = limits.max_connections,
        "chat-token serving /token"
    );
    accept_loop(listener, app, limits).await;
    tracing::info!("chat-token stopped");
    Ok(())
}

/// Refuses a tenants file no request could name a tenant of (a bearer JWT without
/// `--tenant-claim`, a trusted header without `--tenant-header`), and warns when users
/// entries carry tenants but no tenants file is given, or when none carries one but a
/// tenants file is.
fn check_tenant_naming(args: &ServeArgs, setup: &EnvSetup) -> Result<BTreeSet<String>> {
    let jwt = args.jwks_url.is_some() || args.jwt_hs256_secret_file.is_some();
    // Also checked here: clap waives a requirement that conflicts with a flag given
    // (--tenant-header with --users-file, say).
    if args.tenant_claim.is_some() && !jwt {
        bail!("--tenant-claim needs bearer JWTs: --jwks-url or --jwt-hs256-secret-file");
    }
    if args.tenant_header.is_some() && args.trusted_header.is_none() {
        bail!("--tenant-header needs --trusted-header");
    }
    if args.tenants_file.is_some() {
        if jwt && args.tenant_claim.is_none() {
            bail!(
                "--tenants-file with bearer JWTs needs --tenant-claim CLAIM, the claim that names the user's tenant; without it every request would be refused 403"
            );
        }
        if args.trusted_header.is_some() && args.tenant_header.is_none() {
            bail!(
                "--tenants-file with --trusted-header needs --tenant-header NAME, the proxy's header that names the user's tenant; without it every request would be refused 403"
            );
        }
    }
    if jwt || args.trusted_header.is_some() {
        return Ok(BTreeSet::new());
    }
    // The users table: a users file, CHAT_TOKEN_USERS, or (development mode) the demo
    // users, who belong to no tenant.
    let (entries, users) = match &args.users_file {
        Some(path) => (
            secrets::read_text(path, reload::MAX_CONFIG_FILE)
                .map(|(text, _)| text.expose_secret().to_owned())
                .unwrap_or_default(),
            "--users-file",
        ),
        None if setup.users.is_some() => (std::env::var(ENV_USERS).unwrap_or_default(), ENV_USERS),
        None => (String::new(), "the demo users"),
    };
    let named = reload::named_tenants(&entries);
    let name_tenants = !named.is_empty();
    match (&args.tenants_file, name_tenants) {
        (Some(_), false) => tracing::warn!(
            "--tenants-file is given, but no entry of {users} names a tenant (token=identity;tenant=ID): every request will be refused 403"
        ),
        (None, true) => tracing::warn!(
            "entries of {users} name tenants, but no --tenants-file is given: their requests will be refused 500"
        ),
        _ => {}
    }
    Ok(named)
}

/// Warns about tenants that users entries name but `tenants` does not configure: their
/// users are refused 403.
pub(super) fn warn_unconfigured(named: &BTreeSet<String>, tenants: &TenantsFile) {
    let missing: Vec<&str> = named
        .iter()
        .filter(|t| !tenants.configures(t))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(10).copied().collect();
        tracing::warn!(
            missing = missing.len(),
            "users entries name tenants the tenants file does not configure (their users are refused 403): {}{}",
            shown.join(", "),
            if missing.len() > shown.len() {
                ", ..."
            } else {
                ""
            }
        );
    }
}
