//! The API secret and presented credentials never reach a `Debug`, a `Display`, an error,
//! an HTTP reply or a log line (captured at TRACE), on any path: success, each resolver
//! error, a panicking resolver, a timeout, an invalid identity, and every configuration
//! mistake that puts the secret where it does not belong.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_token_core::{
    AccessToken, ChatGrant, Credentials, IdentityResolver, IncomingRequest, ResolveError, Resolved,
    TokenIssuer, TokenService, async_trait,
};

const AC: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SK: &str = "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
/// Shaped like a real secret: 32 hex characters.
const SECRET: &str = "0123456789abcdef0123456789abcdef";
const PRESENTED: &str = "presented-credential-9f8e7d";

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Everything;

#[async_trait]
impl IdentityResolver for Everything {
    async fn resolve(&self, req: &IncomingRequest) -> Result<Resolved, ResolveError> {
        let token = req.bearer_token()?;
        match req.header("x-case").unwrap_or_default() {
            "ok" => Ok(Resolved::new("alice")),
            "forbidden" => Err(ResolveError::forbidden("no chat for you")),
            "unavailable" => Err(ResolveError::unavailable("backend down")),
            "internal" => Err(ResolveError::internal("database error")),
            "panic" => panic!("resolver bug"),
            "hang" => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(Resolved::new("late"))
            }
            "bad-identity" => Ok(Resolved::new("bad\u{0}identity")),
            "bad-ttl" => Ok(Resolved::new("alice").with_ttl(999_999)),
            _ => Err(ResolveError::invalid(if token.is_empty() {
                "empty"
            } else {
                "unknown"
            })),
        }
    }
}

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(SECRET), "the secret is in {what}: {text}");
    assert!(
        !text.contains(PRESENTED),
        "the presented credential is in {what}: {text}"
    );
}

#[test]
fn no_path_leaks_the_secret_or_the_credential() {
    let log = Log::default();
    let sink = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let issuer = TokenIssuer::new(Credentials::try_new(AC, SK, SECRET).expect("creds"));
    let service = TokenService::builder(issuer.clone(), Everything)
        .resolve_timeout(Duration::from_millis(50))
        .build()
        .expect("service");
    assert_clean("Debug of the issuer", &format!("{issuer:?}"));
    assert_clean("Debug of the service", &format!("{service:?}"));
    assert_clean(
        "Debug of the credentials",
        &format!("{:?}", issuer.credentials()),
    );
    let minted = issuer
        .mint(
            &AccessToken::new()
                .with_identity("alice")
                .with_grant(ChatGrant::new()),
        )
        .expect("mint");
    assert_clean("Debug of a minted token", &format!("{minted:?}"));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cases = [
        "ok",
        "forbidden",
        "unavailable",
        "internal",
        "panic",
        "hang",
        "bad-identity",
        "bad-ttl",
        "unknown",
    ];
    for case in cases {
        for auth in [
            format!("Bearer {PRESENTED}"),
            format!("Basic {PRESENTED}"),
            format!("Bearer {PRESENTED} {PRESENTED}"),
        ] {
            let req = IncomingRequest::new("GET", "/token")
                .with_header("authorization", auth.as_bytes())
                .with_header("x-case", case)
                .with_header("cookie", format!("session={PRESENTED}"));
            assert_clean("Debug of a request", &format!("{req:?}"));
            let reply = runtime.block_on(service.handle(&req));
            assert_clean(case, &format!("{reply:?}"));
            if let Err(rejection) = runtime.block_on(service.authenticate(&req)) {
                assert_clean(case, &format!("{rejection} {rejection:?}"));
            }
        }
    }

    // Configuration mistakes that put the secret in the wrong place.
    let mistakes = [
        Credentials::try_new(SECRET, SK, SECRET).err(),
        Credentials::try_new(AC, SECRET, SECRET).err(),
        Credentials::try_new(AC, SK, format!(" {SECRET}")).err(),
        Credentials::try_new(AC, SK, "").err(),
        Credentials::try_new(format!("AC{SECRET}x"), SK, SECRET).err(),
    ];
    for err in mistakes {
        let err = err.expect("a configuration mistake is an error");
        assert_clean("a configuration error", &format!("{err} {err:?}"));
    }
    let users_err = format!("{PRESENTED}=alice,{PRESENTED}=bob")
        .parse::<chat_token_core::StaticUsers>()
        .expect_err("duplicate tokens");
    assert_clean("a users error", &format!("{users_err} {users_err:?}"));

    let text = String::from_utf8_lossy(&log.0.lock().expect("log")).into_owned();
    assert!(
        text.contains("resolver bug"),
        "the panic was not logged: {text}"
    );
    assert!(text.contains("timed out"), "the timeout was not logged");
    assert_clean("the log", &text);
}
