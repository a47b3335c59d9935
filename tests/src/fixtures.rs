//! Fake credentials, a scripted resolver that answers by bearer token, an in-memory
//! tenant source, and services.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_token_core::policy::UserPolicy;
use chat_token_core::tenants::{Tenant, TenantError, TenantSource};
use chat_token_core::{
    Credentials, IdentityResolver, IncomingRequest, ResolveError, Resolved, StaticUsers,
    TokenIssuer, TokenService, VideoGrant, async_trait,
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

/// The header the hand-written apps' own login reads the user from.
pub const APP_USER_HEADER: &str = "x-app-user";

/// What the hand-written apps' own state holds, answered at `/state`.
pub const APP_STATE: &str = "the app's own state";

/// The hand-written apps' identification: the user their login header names, or 401.
pub fn app_login(user: Option<&str>) -> Result<Resolved, ResolveError> {
    user.map(Resolved::new)
        .ok_or_else(|| ResolveError::missing("sign in to the app first"))
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
    let service = TokenService::builder(issuer(), resolver.clone())
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

/// One tenant's made-up Twilio account: what the tenant source stores for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    /// The account (subaccount) SID: the token's `sub`.
    pub account_sid: &'static str,
    /// The API key SID: the token's `iss`.
    pub api_key_sid: &'static str,
    /// The API key secret that signs the tenant's tokens.
    pub secret: &'static str,
    /// The tenant's chat service: the chat grant's `service_sid`.
    pub chat_service_sid: &'static str,
}

/// Tenant `acme`'s account.
pub const ACME: Account = Account {
    account_sid: "AC11111111111111111111111111111111",
    api_key_sid: "SK11111111111111111111111111111111",
    secret: "acme-secret-v1-never-in-output",
    chat_service_sid: "IS11111111111111111111111111111111",
};

/// Tenant `acme`'s account after its API key secret was rotated.
pub const ACME_ROTATED: Account = Account {
    secret: "acme-secret-v2-never-in-output",
    ..ACME
};

/// Tenant `globex`'s account.
pub const GLOBEX: Account = Account {
    account_sid: "AC22222222222222222222222222222222",
    api_key_sid: "SK22222222222222222222222222222222",
    secret: "globex-secret-never-in-output",
    chat_service_sid: "IS22222222222222222222222222222222",
};

/// Tenant `umbrella`'s stored account, which cannot be used: its account SID is not
/// one.
pub const UMBRELLA_BROKEN: Account = Account {
    account_sid: "AC-umbrella-not-a-sid",
    api_key_sid: "SK33333333333333333333333333333333",
    secret: "umbrella-secret-never-in-output",
    chat_service_sid: "IS33333333333333333333333333333333",
};

/// Every API key secret the tenant cases know, the service's own included: a tenant's
/// token verifies with its own and with none of the others.
pub const ALL_SECRETS: [&str; 5] = [
    API_SECRET,
    ACME.secret,
    ACME_ROTATED.secret,
    GLOBEX.secret,
    UMBRELLA_BROKEN.secret,
];

/// The bearer token of `alice`, of tenant `acme`.
pub const ALICE_ACME: &str = "tok-alice-acme-Hq3v8Wm2";
/// The bearer token of `bob`, of tenant `globex`.
pub const BOB_GLOBEX: &str = "tok-bob-globex-Z7c1Pn4e";
/// The bearer token of `carol`, of tenant `initech`, which the source does not know.
pub const CAROL_INITECH: &str = "tok-carol-initech-R5t0Ky6u";
/// The bearer token of `dave`, who belongs to no tenant.
pub const DAVE_NO_TENANT: &str = "tok-dave-none-B2x8Jd5s";
/// The bearer token of `erin`, of tenant `umbrella`, whose stored account is broken.
pub const ERIN_UMBRELLA: &str = "tok-erin-umbrella-M9f4Lw3a";

/// The users of the tenant cases, in the users-file form that names each one's tenant.
pub fn tenant_users() -> String {
    format!(
        "# token=identity;tenant=id\n\
         {ALICE_ACME}=alice;tenant=acme\n\
         {BOB_GLOBEX}=bob;tenant=globex\n\
         {CAROL_INITECH}=carol;tenant=initech\n\
         {DAVE_NO_TENANT}=dave\n\
         {ERIN_UMBRELLA}=erin;tenant=umbrella\n"
    )
}

/// How the whole [`FakeTenants`] source answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// With what it stores.
    Ok,
    /// `Err(TenantError::Unavailable)`: the database is down.
    Down,
    /// Not within 10 s.
    Hang,
}

#[derive(Debug)]
struct TenantsState {
    mode: Mode,
    delay: Duration,
    accounts: HashMap<String, Account>,
    ttls: HashMap<String, u64>,
    calls: HashMap<String, usize>,
}

/// An in-memory [`TenantSource`] whose stored accounts and [`Mode`] the test changes
/// while the server runs; it counts the questions it was asked per tenant. Clones share
/// everything: hand one to the service, keep one.
#[derive(Debug, Clone)]
pub struct FakeTenants {
    state: Arc<Mutex<TenantsState>>,
}

impl Default for FakeTenants {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeTenants {
    /// A source that stores `acme` ([`ACME`]), `globex` ([`GLOBEX`]) and `umbrella`
    /// ([`UMBRELLA_BROKEN`]), answers at once, and is up.
    pub fn new() -> Self {
        let accounts = [
            ("acme", ACME),
            ("globex", GLOBEX),
            ("umbrella", UMBRELLA_BROKEN),
        ]
        .into_iter()
        .map(|(id, account)| (id.to_owned(), account))
        .collect();
        Self {
            state: Arc::new(Mutex::new(TenantsState {
                mode: Mode::Ok,
                delay: Duration::ZERO,
                accounts,
                ttls: HashMap::new(),
                calls: HashMap::new(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TenantsState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes every answer, in [`Mode::Ok`], take `delay`.
    pub fn with_delay(self, delay: Duration) -> Self {
        self.lock().delay = delay;
        self
    }

    /// Switches how the source answers from now on.
    pub fn set_mode(&self, mode: Mode) {
        self.lock().mode = mode;
    }

    /// Stores `account` for tenant `id` (a new tenant, or a rotated key).
    pub fn set_account(&self, id: &str, account: Account) {
        self.lock().accounts.insert(id.to_owned(), account);
    }

    /// Gives tenant `id` its own default ttl ([`Tenant::with_ttl`]).
    pub fn set_ttl(&self, id: &str, seconds: u64) {
        self.lock().ttls.insert(id.to_owned(), seconds);
    }

    /// How many times the source was asked for tenant `id`.
    pub fn calls(&self, id: &str) -> usize {
        self.lock().calls.get(id).copied().unwrap_or(0)
    }

    /// How many times the source was asked, for any tenant.
    pub fn total_calls(&self) -> usize {
        self.lock().calls.values().sum()
    }
}

#[async_trait]
impl TenantSource for FakeTenants {
    async fn tenant(&self, id: &str) -> Result<Option<Tenant>, TenantError> {
        let (mode, delay, account, ttl) = {
            let mut state = self.lock();
            *state.calls.entry(id.to_owned()).or_default() += 1;
            let ttl = state.ttls.get(id).copied();
            (
                state.mode,
                state.delay,
                state.accounts.get(id).copied(),
                ttl,
            )
        };
        match mode {
            Mode::Ok => tokio::time::sleep(delay).await,
            Mode::Down => {
                return Err(TenantError::Unavailable(
                    "the tenants database refused the connection".into(),
                ));
            }
            Mode::Hang => tokio::time::sleep(Duration::from_secs(10)).await,
        }
        let Some(account) = account else {
            return Ok(None);
        };
        // As an app's source would: a stored value that does not parse is malformed.
        let malformed =
            |e: chat_token_core::CredentialsError| TenantError::Malformed(e.to_string());
        let credentials =
            Credentials::try_new(account.account_sid, account.api_key_sid, account.secret)
                .map_err(malformed)?;
        let issuer = TokenIssuer::new(credentials)
            .with_chat_service_sid(account.chat_service_sid)
            .map_err(malformed)?;
        let tenant = Tenant::new(issuer);
        Ok(Some(match ttl {
            Some(seconds) => tenant.with_ttl(seconds),
            None => tenant,
        }))
    }
}

/// A service whose users are [`tenant_users`], each token signed with the account of
/// the user's tenant as `tenants` stores it; the source may take `timeout`.
pub fn tenant_service(tenants: &FakeTenants, timeout: Duration) -> TokenService {
    tenant_service_with(tenants, timeout, None)
}

/// [`tenant_service`], with `policy` as its user policy.
pub fn tenant_service_with(
    tenants: &FakeTenants,
    timeout: Duration,
    policy: Option<UserPolicy>,
) -> TokenService {
    let users: StaticUsers = tenant_users().parse().expect("tenant users");
    let builder = TokenService::builder(issuer(), users)
        .tenants(tenants.clone())
        .tenant_timeout(timeout);
    match policy {
        Some(policy) => builder.user_policy(policy),
        None => builder,
    }
    .build()
    .expect("service")
}
