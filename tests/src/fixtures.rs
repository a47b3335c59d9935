//! Fake credentials, a scripted resolver that answers by bearer token, and services.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chat_token_core::{
    Credentials, IdentityResolver, IncomingRequest, ResolveError, Resolved, TokenIssuer,
    TokenService, VideoGrant, async_trait,
};

/// The fake Account SID.
pub const ACCOUNT_SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// The fake API key SID.
pub const API_KEY_SID: &str = "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
/// The fake API secret: must never appear in a response or log line.
pub const API_SECRET: &str = "fake-secret-Q7x9-never-in-output";
/// The chat service every default token grants.
pub const CHAT_SERVICE_SID: &str = "ISdddddddddddddddddddddddddddddddd";
/// The bearer token that resolves to `alice`.
pub const ALICE: &str = "tok-alice-S3cr3t";
/// A detail only the log may see (the internal error's message).
pub const INTERNAL_DETAIL: &str = "db-password-hunter2";

/// Answers by bearer token; counts its calls.
#[derive(Debug, Default)]
pub struct Scripted {
    calls: AtomicUsize,
}

impl Scripted {
    /// How many times `resolve` ran.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl IdentityResolver for Scripted {
    async fn resolve(&self, req: &IncomingRequest) -> Result<Resolved, ResolveError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match req.bearer_token()? {
            ALICE => Ok(Resolved::new("alice")),
            "forbid" => Err(ResolveError::forbidden("alice may not chat")),
            "down" => Err(ResolveError::Unavailable {
                message: "session store timed out".into(),
                retry_after: Some(Duration::from_secs(7)),
            }),
            "down-default" => Err(ResolveError::unavailable("session store down")),
            "boom" => Err(ResolveError::internal(INTERNAL_DETAIL)),
            "panic" => panic!("resolver panicked on purpose"),
            "hang" => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(Resolved::new("late"))
            }
            "slow" => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(Resolved::new("alice"))
            }
            "bad-identity" => Ok(Resolved::new("bad\nidentity")),
            "short" => Ok(Resolved::new("alice").with_ttl(120)),
            "video" => {
                Ok(Resolved::new("alice").with_grants([VideoGrant::new().with_room("r1").into()]))
            }
            "zoe" => Ok(Resolved::new("Zoë 🦀")),
            _ => Err(ResolveError::invalid("unknown bearer token")),
        }
    }
}

/// The browser origin the CORS cases allow.
pub const APP_ORIGIN: &str = "https://app.example.test";

/// The scripted service with a CORS policy for [`APP_ORIGIN`], credentials allowed.
pub fn cors_service() -> TokenService {
    let policy = chat_token_core::cors::CorsPolicy::try_new([APP_ORIGIN])
        .and_then(|p| p.with_allow_credentials(true))
        .expect("cors policy");
    TokenService::builder(issuer(), Scripted::default())
        .cors(policy)
        .build()
        .expect("service")
}

/// A service that trusts `X-Forwarded-User` from the given proxy networks.
pub fn proxy_service(proxies: &[&str]) -> TokenService {
    let nets: Vec<chat_token_core::resolvers::IpNet> = proxies
        .iter()
        .map(|p| chat_token_core::resolvers::parse_proxy_net(p).expect("proxy network"))
        .collect();
    TokenService::builder(
        issuer(),
        chat_token_core::TrustedHeader::try_new("X-Forwarded-User", nets).expect("proxy resolver"),
    )
    .build()
    .expect("service")
}

/// The issuer with the fake credentials.
pub fn issuer() -> TokenIssuer {
    TokenIssuer::new(
        Credentials::try_new(ACCOUNT_SID, API_KEY_SID, API_SECRET).expect("fake credentials"),
    )
    .with_chat_service_sid(CHAT_SERVICE_SID)
    .expect("fake chat service")
}

/// A service over a fresh [`Scripted`] resolver (returned too, to count calls), with a
/// short resolver timeout so the hang case is quick.
pub fn service() -> (TokenService, Arc<Scripted>) {
    let resolver = Arc::new(Scripted::default());
    let service = TokenService::builder_arc(issuer(), resolver.clone())
        .resolve_timeout(Duration::from_millis(300))
        .build()
        .expect("service");
    (service, resolver)
}

/// The page the login test apps answer on their own routes when nobody is signed in:
/// the token route must never replace it.
pub const APP_LOGIN_PAGE: &str = "<h1>Please sign in to the app</h1>";

/// What the broken login extractor of the login test apps says when it fails.
pub const BROKEN_LOGIN_SAYS: &str = "the session layer is not installed";

/// What the login test apps' token route makes of the signed-in user's name, the way an
/// app's own lookup would: most users are themselves; a few names stand for what a
/// lookup can answer instead.
pub async fn identify_user(user: String) -> Result<Resolved, ResolveError> {
    match user.as_str() {
        "forbid" => Err(ResolveError::forbidden("this user may not chat")),
        "down" => Err(ResolveError::Unavailable {
            message: "the user database timed out".into(),
            retry_after: Some(Duration::from_secs(7)),
        }),
        "boom" => Err(ResolveError::internal(INTERNAL_DETAIL)),
        "panic" => panic!("the login lookup panicked on purpose"),
        "hang" => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(Resolved::new("late"))
        }
        _ => Ok(Resolved::new(user)),
    }
}

/// A service without a resolver: identity comes only from the app's login. Short
/// resolve timeout, so the hang case is quick.
pub fn login_service() -> TokenService {
    TokenService::without_resolver(issuer())
        .resolve_timeout(Duration::from_millis(300))
        .build()
        .expect("service")
}
