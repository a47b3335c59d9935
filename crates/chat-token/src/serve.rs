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

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use axum::{Json, Router};
use chat_token_axum::{ResolvedIdentity, TokenRejection};
use chat_token_core::env::{DEMO_USERS, ENV_USERS, EnvSetup};
use chat_token_core::{
    IdentityResolver, JwtBearerResolver, SecretString, StaticUsers, TokenService, TrustedHeader,
    cors::CorsPolicy, http::ErrorCode, http::Rejection, metrics::METRIC_RESOLVE_SECONDS,
    metrics::RESOLVE_SECONDS_BUCKETS, policy::UserPolicy, resolvers::IpNet,
    resolvers::parse_proxy_net,
};
use clap::{ArgGroup, Args};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::secrets;

/// The Content-Security-Policy of the development console: its script, style and API
/// calls come from this server only; no frames, forms, plugins or base-URL tricks.
pub const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Flags of `chat-token serve`.
#[derive(Debug, Args)]
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
    /// Verify the caller's bearer JWT with the keys of this JWKS document (RS256/ES256).
    #[arg(long, value_name = "URL", conflicts_with_all = ["trusted_header", "users_file", "jwt_hs256_secret_file"])]
    jwks_url: Option<String>,
    /// Verify the caller's bearer JWT with HS256 and the secret in this file.
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
    /// Remember this many verified bearer JWTs, each until its exp (5 minutes at most),
    /// so a token presented again is not verified again; 0 turns the cache off.
    #[arg(long, default_value_t = 10_000, value_name = "N", requires = "jwt_keys",
          value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    jwt_cache_entries: u64,
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
    /// Serve at most this many connections at once; more wait in the listen queue until
    /// one closes (1..=1000000; the open-files limit must allow them).
    #[arg(long, default_value_t = 10_000, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,
}

/// What bounds each connection and request (from the flags).
#[derive(Debug, Clone, Copy)]
struct Limits {
    header_read: Duration,
    request: Duration,
    max_connections: usize,
}

impl Limits {
    fn of(args: &ServeArgs) -> Self {
        Self {
            header_read: Duration::from_secs(args.header_read_timeout),
            request: Duration::from_secs(args.request_timeout),
            max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        }
    }
}

/// Runs `chat-token serve` until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    for warning in secrets::environment_warnings() {
        tracing::warn!("{warning}");
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

/// The resolver, a description for the log, and the bearer-JWT resolver (for its cache
/// metrics) when that is the one.
type Chosen = (
    Arc<dyn IdentityResolver>,
    String,
    Option<Arc<JwtBearerResolver>>,
);

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
        let description = format!("trusted header {header} from {}", list.join(", "));
        return Ok((
            Arc::new(TrustedHeader::try_new(header.clone(), proxies)?),
            description,
            None,
        ));
    }
    let jwt = match (&args.jwks_url, &args.jwt_hs256_secret_file) {
        (Some(url), _) => Some(JwtBearerResolver::jwks_url(url.clone())),
        (None, Some(path)) => {
            warn_if_readable_by_others("--jwt-hs256-secret-file", path);
            let secret = std::fs::read_to_string(path)
                .with_context(|| format!("reading --jwt-hs256-secret-file {}", path.display()))?;
            Some(JwtBearerResolver::hs256(SecretString::from(
                secret.trim_end_matches(['\r', '\n']),
            )))
        }
        (None, None) => None,
    };
    if let Some(builder) = jwt {
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
        let description = format!(
            "bearer JWT ({}), identity from claim {}",
            args.jwks_url.as_deref().unwrap_or("HS256 shared secret"),
            args.identity_claim
        );
        let jwt = Arc::new(
            builder
                .verified_cache(usize::try_from(args.jwt_cache_entries).unwrap_or(usize::MAX))
                .build()?,
        );
        return Ok((jwt.clone(), description, Some(jwt)));
    }
    if let Some(path) = &args.users_file {
        warn_if_readable_by_others("--users-file", path);
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading --users-file {}", path.display()))?;
        let users: StaticUsers = text
            .parse()
            .with_context(|| format!("parsing --users-file {}", path.display()))?;
        let description = format!("{} static users from {}", users.len(), path.display());
        return Ok((Arc::new(users), description, None));
    }
    match (&setup.users, setup.development) {
        (Some(users), _) => Ok((
            Arc::new(users.clone()),
            format!("{} static users from {ENV_USERS}", users.len()),
            None,
        )),
        (None, true) => {
            let (users, _) = setup.users_or_demo()?;
            Ok((Arc::new(users), "demo users".into(), None))
        }
        (None, false) => bail!(
            "no users configured: set {ENV_USERS}=\"token=identity,...\", pass --users-file PATH, or --trusted-header NAME behind an authenticating proxy"
        ),
    }
}

/// Logs a warning when the secret file `path` (given with `flag`) can be read by others.
fn warn_if_readable_by_others(flag: &str, path: &Path) {
    if let Some(warning) = secrets::readable_by_others(flag, path) {
        tracing::warn!("{warning}");
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    let setup = EnvSetup::from_env()?;
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
    let (resolver, description, jwt) = resolver(&args, &setup)?;
    let mut builder = TokenService::builder_arc(setup.issuer.clone(), resolver).ttl(args.ttl);
    if !args.cors_origin.is_empty() {
        let policy = CorsPolicy::try_new(args.cors_origin.iter().cloned())?
            .with_allow_credentials(args.cors_credentials)?;
        builder = builder.cors(policy);
    }
    if let Some(path) = &args.policy {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading --policy {}", path.display()))?;
        let policy = UserPolicy::from_json(&text)
            .with_context(|| format!("parsing --policy {}", path.display()))?;
        let gives_claims = args.jwks_url.is_some() || args.jwt_hs256_secret_file.is_some();
        if !policy.roles.is_empty() && !gives_claims {
            tracing::warn!(
                policy = %path.display(),
                "the policy's role rules never apply: only a bearer JWT (--jwks-url or --jwt-hs256-secret-file) gives the claims that name roles; with these users only the identity rules apply"
            );
        }
        builder = builder.user_policy(policy);
    }
    let service = builder.build()?;
    reload_on_sighup(service.clone(), setup.clone());
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
    let listener = TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("binding {}", args.bind))?;
    let addr = listener.local_addr()?;
    setup.warn();
    if setup.development
        && args.trusted_header.is_none()
        && args.users_file.is_none()
        && setup.users.is_none()
    {
        eprintln!(
            "\nchat-token DEVELOPMENT MODE: tokens are signed with development credentials and Twilio will NOT accept them.\n\
             Demo users (bearer token = identity): {DEMO_USERS}\n\
             Try: curl -H 'Authorization: Bearer demo-alice' http://{addr}/token\n"
        );
    }
    tracing::info!(
        %addr,
        resolver = %description,
        development = setup.development,
        header_read_timeout_s = limits.header_read.as_secs(),
        request_timeout_s = limits.request.as_secs(),
        max_connections = limits.max_connections,
        "chat-token serving /token"
    );
    accept_loop(listener, app, limits).await;
    tracing::info!("chat-token stopped");
    Ok(())
}

/// Accepts connections until SIGINT or SIGTERM, each on its own task, at most
/// `limits.max_connections` at once; then lets open requests finish (for at most the
/// longer of the two timeouts, and a second).
async fn accept_loop(listener: TcpListener, app: Router, limits: Limits) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut warned_full: Option<Instant> = None;
    loop {
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if warned_full.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "connection limit reached: new connections wait until one closes"
                    );
                    warned_full = Some(Instant::now());
                }
                let acquired = tokio::select! {
                    slot = Arc::clone(&slots).acquire_owned() => slot.ok(),
                    () = &mut shutdown => None,
                };
                match acquired {
                    Some(slot) => slot,
                    None => break,
                }
            }
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => Some(accepted),
            () = &mut shutdown => None,
        };
        let (stream, peer) = match accepted {
            None => break,
            Some(Ok(pair)) => pair,
            Some(Err(err)) if is_connection_error(&err) => continue,
            Some(Err(err)) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::error!(error = %err, "cannot accept connections; trying again in 1 s");
                let stop = tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => false,
                    () = &mut shutdown => true,
                };
                if stop {
                    break;
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = app.clone();
        let service =
            hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
                // What `into_make_service_with_connect_info` did: the trusted-header resolver
                // needs the peer's address.
                request.extensions_mut().insert(ConnectInfo(peer));
                tower_service::Service::call(&mut router.clone(), request)
            });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%peer, error = %err, "connection closed on an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    let grace = limits.header_read.max(limits.request) + Duration::from_secs(1);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("connections still open {} s after the signal are closed", grace.as_secs());
        }
    }
}

/// Errors of one connection that was closed before it could be accepted.
fn is_connection_error(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Answers 503 `unavailable` (the JSON error contract, with `Retry-After`) to a request
/// that is not answered within `limit`.
async fn time_limit(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                limit_s = limit.as_secs(),
                "a request was not answered in time; answered 503"
            );
            TokenRejection(Rejection::new(
                ErrorCode::Unavailable,
                format!(
                    "the request was not answered within {} s; try again",
                    limit.as_secs()
                ),
            ))
            .into_response()
        }
    }
}

/// In development mode, answers only requests addressed to a loopback name: every `Host`
/// header (and the target's authority, in absolute form) must be `localhost`, a
/// `*.localhost` name or a loopback address, with any port; anything else, a missing
/// `Host` included, is 403 `forbidden`.
async fn loopback_host_only(request: Request, next: Next) -> Response {
    let hosts = request.headers().get_all(header::HOST);
    let named = hosts.iter().next().is_some() || request.uri().authority().is_some();
    let all_loopback = hosts
        .iter()
        .all(|h| h.to_str().is_ok_and(is_loopback_authority))
        && request
            .uri()
            .authority()
            .is_none_or(|a| is_loopback_authority(a.as_str()));
    if named && all_loopback {
        return next.run(request).await;
    }
    TokenRejection(Rejection::new(
        ErrorCode::Forbidden,
        "in development mode this server answers only requests addressed to localhost, 127.0.0.1 or [::1] (the Host header names another host, or is missing)",
    ))
    .into_response()
}

/// Whether `authority` (`host[:port]`) names this machine's loopback interface.
fn is_loopback_authority(authority: &str) -> bool {
    let valid_port = |port: &str| {
        !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
    };
    if let Some(rest) = authority.strip_prefix('[') {
        let Some((address, after)) = rest.split_once(']') else {
            return false;
        };
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(valid_port);
        return port_ok && address.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    let (host, port_ok) = match authority.split_once(':') {
        Some((host, port)) => (host, valid_port(port)),
        None => (authority, true),
    };
    if !port_ok || host.is_empty() {
        return false;
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return ip.is_loopback();
    }
    let host = host.to_ascii_lowercase();
    let name_ok = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    name_ok
        && (host == "localhost"
            || host
                .strip_suffix(".localhost")
                .is_some_and(|sub| !sub.is_empty() && !sub.starts_with('.') && !sub.ends_with('.')))
}

/// The console's security headers, on every console response.
async fn console_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONSOLE_CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn app(
    service: TokenService,
    development: bool,
    metrics: Option<PrometheusHandle>,
    jwt: Option<Arc<JwtBearerResolver>>,
) -> Router {
    let about = serde_json::json!({
        "service": "chat-token",
        "version": env!("CARGO_PKG_VERSION"),
        "development": development,
        "routes": {
            "/token": "GET or POST with the user's credentials: a Twilio Access Token",
            "/me": "who the resolver says the caller is",
            "/healthz": "liveness",
        },
    });
    let mut router = Router::new();
    if let Some(handle) = metrics {
        if jwt.is_some() {
            describe_jwt_cache_metrics();
        }
        router = router.route(
            "/metrics",
            get(move || {
                if let Some(jwt) = &jwt {
                    record_jwt_cache_metrics(&jwt.cache_stats());
                }
                let text = handle.render();
                async move { ([("content-type", "text/plain; version=0.0.4")], text) }
            }),
        );
    }
    router
        .route(
            if development { "/about" } else { "/" },
            get(move || async move { Json(about) }),
        )
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route(
            "/me",
            get(|ResolvedIdentity(user): ResolvedIdentity| async move {
                (
                    [(header::CACHE_CONTROL, "no-store")],
                    Json(serde_json::json!({ "identity": user.identity() })),
                )
            }),
        )
        .merge(chat_token_axum::router())
        .with_state(service)
}

/// On SIGHUP, reads the credentials again (a rotated `TWILIO_API_SECRET_FILE`, say) and
/// swaps them in without stopping requests; bad new credentials keep the old ones.
fn reload_on_sighup(service: TokenService, setup: EnvSetup) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(hup) => hup,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGHUP; credentials will not be reloaded");
                return;
            }
        };
        while hup.recv().await.is_some() {
            match setup.reload_issuer(&service.issuer()) {
                Ok(issuer) => {
                    service.replace_issuer(issuer);
                    tracing::info!("SIGHUP: credentials reloaded");
                    for warning in secrets::environment_warnings() {
                        tracing::warn!("{warning}");
                    }
                }
                Err(err) => tracing::warn!(
                    error = %err,
                    "SIGHUP: the new credentials are not valid; keeping the current ones"
                ),
            }
        }
    });
    #[cfg(not(unix))]
    let _ = (service, setup);
}

/// The development console (development mode only): `/` is a page that gets a token for
/// a demo user, decodes it, counts down to expiry, refreshes it before then, and shows
/// whether Twilio would accept it (its script and style are `/console/app.js` and
/// `/console/app.css`, so that [`CONSOLE_CSP`] needs no inline exception);
/// `/console/users` lists the demo users and `/console/inspect` runs the inspector on a
/// token. Every console response carries [`CONSOLE_CSP`] and `X-Frame-Options: DENY`.
fn console(service: TokenService, demo: bool) -> Router {
    let users: Vec<serde_json::Value> = if demo {
        DEMO_USERS
            .split(',')
            .filter_map(|entry| entry.split_once('='))
            .map(|(token, identity)| serde_json::json!({ "identity": identity, "token": token }))
            .collect()
    } else {
        Vec::new()
    };
    Router::new()
        .route(
            "/",
            get(|| async { axum::response::Html(include_str!("console.html")) }),
        )
        .route(
            "/console/app.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    include_str!("console.js"),
                )
            }),
        )
        .route(
            "/console/app.css",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
                    include_str!("console.css"),
                )
            }),
        )
        .route(
            "/console/users",
            get(move || async move { Json(serde_json::Value::from(users)) }),
        )
        .route(
            "/console/inspect",
            axum::routing::post(move |token: String| async move {
                let verdict = match service.issuer().inspect(token.trim()) {
                    Ok(inspection) => serde_json::json!({
                        "accepted": inspection.is_accepted(),
                        "signature": format!("{:?}", inspection.signature()).to_lowercase(),
                        "problems": inspection.problems().iter().map(|p| serde_json::json!({
                            "code": p.code.code(), "message": p.message,
                        })).collect::<Vec<_>>(),
                    }),
                    Err(err) => serde_json::json!({
                        "accepted": false, "signature": "not checked",
                        "problems": [{ "code": 0, "message": err.to_string() }],
                    }),
                };
                Json(verdict)
            }),
        )
        .layer(middleware::map_response(console_headers))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

/// How often the Prometheus recorder folds recorded histogram samples into its buckets
/// between scrapes (a scrape does it too), so that they do not pile up unscraped.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// Installs the Prometheus recorder as the process's `metrics` recorder (with no HTTP
/// listener of its own: `/metrics` renders it), with the resolver latency as a histogram
/// with [`RESOLVE_SECONDS_BUCKETS`], and starts its upkeep. Needs the runtime.
fn install_metrics_recorder() -> Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(METRIC_RESOLVE_SECONDS.to_owned()),
            &RESOLVE_SECONDS_BUCKETS,
        )?
        .install_recorder()
        .context("installing the Prometheus metrics recorder")?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(METRICS_UPKEEP);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// The verified-token cache's metrics: name, whether it is a counter (else a gauge), and
/// its help text.
const JWT_CACHE_METRICS: [(&str, bool, &str); 5] = [
    (
        "chat_token_jwt_cache_hits_total",
        true,
        "Bearer JWTs answered from the verified-token cache.",
    ),
    (
        "chat_token_jwt_cache_misses_total",
        true,
        "Bearer JWTs verified because the cache did not hold them.",
    ),
    (
        "chat_token_jwt_cache_evictions_total",
        true,
        "Verified tokens dropped to stay within the cache's bounds or because they aged out.",
    ),
    (
        "chat_token_jwt_cache_entries",
        false,
        "Verified tokens held by the cache.",
    ),
    (
        "chat_token_jwt_cache_bytes",
        false,
        "Bytes held by the verified-token cache (an estimate).",
    ),
];

/// Describes the verified-token cache's metrics to the installed recorder.
fn describe_jwt_cache_metrics() {
    for (name, counter, help) in JWT_CACHE_METRICS {
        if counter {
            metrics::describe_counter!(name, help);
        } else {
            metrics::describe_gauge!(name, help);
        }
    }
}

/// Copies the verified-token cache's counters into the installed recorder (done on each
/// scrape: the cache keeps the counts, the recorder only shows them).
fn record_jwt_cache_metrics(stats: &chat_token_core::resolvers::VerifiedCacheStats) {
    let values = [
        stats.hits,
        stats.misses,
        stats.evictions,
        stats.entries as u64,
        stats.bytes as u64,
    ];
    for ((name, counter, _), value) in JWT_CACHE_METRICS.into_iter().zip(values) {
        if counter {
            metrics::counter!(name).absolute(value);
        } else {
            metrics::gauge!(name).set(value as f64);
        }
    }
}
