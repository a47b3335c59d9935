//! `chat-token serve`: the stand-alone token service on the axum adapter.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use axum::routing::get;
use axum::{Json, Router};
use chat_token_axum::ResolvedIdentity;
use chat_token_core::env::{DEMO_USERS, ENV_USERS, EnvSetup};
use chat_token_core::{
    CorsPolicy, IdentityResolver, IpNet, JwtBearerResolver, SecretString, StaticUsers,
    TokenService, TrustedHeader, UserPolicy,
};
use clap::Args;

/// Flags of `chat-token serve`.
#[derive(Debug, Args)]
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
    #[arg(long, value_name = "IP[/PREFIX]", requires = "trusted_header")]
    trusted_proxy: Vec<IpNet>,
    /// Verify the caller's bearer JWT with the keys of this JWKS document (RS256/ES256).
    #[arg(long, value_name = "URL", conflicts_with_all = ["trusted_header", "users_file", "jwt_hs256_secret_file"])]
    jwks_url: Option<String>,
    /// Verify the caller's bearer JWT with HS256 and the secret in this file.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["trusted_header", "users_file"])]
    jwt_hs256_secret_file: Option<PathBuf>,
    /// The issuer (iss) the caller's JWT must have.
    #[arg(long, value_name = "ISS")]
    jwt_issuer: Option<String>,
    /// The audience (aud) the caller's JWT must have.
    #[arg(long, value_name = "AUD")]
    jwt_audience: Option<String>,
    /// The JWT claim that becomes the Twilio identity (sub, email, preferred_username, ...).
    #[arg(long, default_value = "sub", value_name = "CLAIM")]
    identity_claim: String,
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
    /// Serve Prometheus metrics at /metrics (tokens minted, errors by code, resolver latency).
    #[arg(long)]
    metrics: bool,
    /// Default token lifetime in seconds (1..=86400).
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    ttl: u64,
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
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

fn resolver(args: &ServeArgs, setup: &EnvSetup) -> Result<(Arc<dyn IdentityResolver>, String)> {
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
            Arc::new(TrustedHeader::new(header.clone(), proxies)),
            description,
        ));
    }
    let jwt = match (&args.jwks_url, &args.jwt_hs256_secret_file) {
        (Some(url), _) => Some(JwtBearerResolver::jwks_url(url.clone())),
        (None, Some(path)) => {
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
        let description = format!(
            "bearer JWT ({}), identity from claim {}",
            args.jwks_url.as_deref().unwrap_or("HS256 shared secret"),
            args.identity_claim
        );
        return Ok((Arc::new(builder.build()?), description));
    }
    if let Some(path) = &args.users_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading --users-file {}", path.display()))?;
        let users: StaticUsers = text
            .parse()
            .with_context(|| format!("parsing --users-file {}", path.display()))?;
        let description = format!("{} static users from {}", users.len(), path.display());
        return Ok((Arc::new(users), description));
    }
    match (&setup.users, setup.development) {
        (Some(users), _) => Ok((
            Arc::new(users.clone()),
            format!("{} static users from {ENV_USERS}", users.len()),
        )),
        (None, true) => {
            let (users, _) = setup.users_or_demo();
            Ok((Arc::new(users), "demo users".into()))
        }
        (None, false) => bail!(
            "no users configured: set {ENV_USERS}=\"token=identity,...\", pass --users-file PATH, or --trusted-header NAME behind an authenticating proxy"
        ),
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
    let (resolver, description) = resolver(&args, &setup)?;
    let mut builder = TokenService::builder_arc(setup.issuer.clone(), resolver).ttl(args.ttl);
    if !args.cors_origin.is_empty() {
        let policy = CorsPolicy::try_new(args.cors_origin.iter().cloned())?
            .allow_credentials(args.cors_credentials)?;
        builder = builder.cors(policy);
    }
    if let Some(path) = &args.policy {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading --policy {}", path.display()))?;
        let policy = UserPolicy::from_json(&text)
            .with_context(|| format!("parsing --policy {}", path.display()))?;
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
    let mut app = app(service.clone(), setup.development, args.metrics);
    if setup.development {
        app = app.merge(console(service, demo));
    }
    let listener = tokio::net::TcpListener::bind(args.bind)
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
    tracing::info!(%addr, resolver = %description, development = setup.development, "chat-token serving /token");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("serving")?;
    tracing::info!("chat-token stopped");
    Ok(())
}

fn app(service: TokenService, development: bool, metrics: bool) -> Router {
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
    if metrics {
        let service = service.clone();
        router = router.route(
            "/metrics",
            get(move || {
                let text = service.metrics().render();
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
                Json(serde_json::json!({ "identity": user.identity() }))
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
            match setup.reload_issuer() {
                Ok(issuer) => {
                    service.replace_issuer(issuer);
                    tracing::info!("SIGHUP: credentials reloaded");
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
/// whether Twilio would accept it; `/console/users` lists the demo users and
/// `/console/inspect` runs the inspector on a token.
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
