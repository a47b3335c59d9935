//! [`TokenIssuer`]: the Twilio credentials, checked once and prepared for signing, that
//! mint any number of tokens concurrently.
//!
//! The API key secret is held as a [`SecretString`] (zeroized on drop) and never appears
//! in a `Debug`, `Display` or error. The HMAC key schedule and the header's base64 are
//! computed once, when the issuer is built.

use std::fmt;
use std::sync::{Arc, LazyLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};

use crate::clock::{Clock, SystemClock};
use crate::crypto::{HmacKey, HmacState};
use crate::grants::ChatGrant;
use crate::sid::{AccountSid, ApiKeySid, SID_LEN, SidError, SidKind};
use crate::token::{AccessToken, HEADER, Times, TokenError};

/// The per-thread payload buffer: its starting size, and the size past which it is
/// given back rather than kept (after an unusually large token).
const SCRATCH_START: usize = 512;
const SCRATCH_KEEP: usize = 16 * 1024;

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(SCRATCH_START));
}

/// The length of unpadded base64 for `n` bytes.
const fn b64_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

/// Why Twilio credentials were refused (by [`Credentials::try_new`], or a chat service
/// SID by [`TokenIssuer::with_chat_service_sid`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// A SID is malformed or of the wrong kind.
    #[error(transparent)]
    Sid(#[from] SidError),
    /// The API key secret is empty.
    #[error(
        "the API key secret is empty; it is the secret shown once when the API key was created"
    )]
    EmptySecret,
    /// The API key secret has the shape of a SID: probably the wrong value.
    #[error(
        "the API key secret looks like a SID (it starts with {prefix} and has 34 characters); it must be the API key's secret, not its SID"
    )]
    SecretLooksLikeSid {
        /// The SID prefix found.
        prefix: String,
    },
    /// The secret has leading or trailing white space, usually a stray newline.
    #[error(
        "the API key secret has leading or trailing white space (often a newline from a file); remove it"
    )]
    SecretWhitespace,
}

/// The Twilio credentials that sign tokens: Account SID, API key SID and API key secret.
#[derive(Clone)]
pub struct Credentials {
    account_sid: AccountSid,
    api_key_sid: ApiKeySid,
    secret: SecretString,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("account_sid", &self.account_sid)
            .field("api_key_sid", &self.api_key_sid)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl Credentials {
    /// Checks and wraps the three values.
    pub fn try_new(
        account_sid: impl Into<String>,
        api_key_sid: impl Into<String>,
        secret: impl Into<String>,
    ) -> Result<Self, CredentialsError> {
        let secret = SecretString::from(secret.into());
        let account_sid = AccountSid::try_new(account_sid)?;
        let api_key_sid = ApiKeySid::try_new(api_key_sid)?;
        check_secret(secret.expose_secret())?;
        Ok(Self {
            account_sid,
            api_key_sid,
            secret,
        })
    }

    /// The Account SID.
    pub fn account_sid(&self) -> &AccountSid {
        &self.account_sid
    }

    /// The API key SID.
    pub fn api_key_sid(&self) -> &ApiKeySid {
        &self.api_key_sid
    }

    /// The API key secret; handle with care.
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    /// Whether the secret has the shape of an account Auth Token (32 lower-case hex
    /// characters) rather than an API key secret: a common mistake, which Twilio answers
    /// with error 20107 on every token.
    pub fn secret_looks_like_auth_token(&self) -> bool {
        let secret = self.secret.expose_secret();
        secret.len() == 32
            && secret
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }
}

fn check_secret(secret: &str) -> Result<(), CredentialsError> {
    if secret.is_empty() {
        return Err(CredentialsError::EmptySecret);
    }
    if secret.trim() != secret {
        return Err(CredentialsError::SecretWhitespace);
    }
    if secret.len() == crate::sid::SID_LEN
        && let Some(prefix) = secret.get(..2)
        && [SidKind::Account, SidKind::ApiKey]
            .iter()
            .any(|k| k.prefix() == prefix)
    {
        return Err(CredentialsError::SecretLooksLikeSid {
            prefix: prefix.to_owned(),
        });
    }
    Ok(())
}

/// A signed token and the times an HTTP response or a log line needs about it.
#[derive(Clone, PartialEq, Eq)]
pub struct MintedToken {
    jwt: String,
    issued_at: u64,
    expires_at: u64,
    not_before: Option<u64>,
}

impl fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The JWT is a bearer credential: keep it out of logs.
        f.debug_struct("MintedToken")
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("not_before", &self.not_before)
            .finish_non_exhaustive()
    }
}

impl MintedToken {
    /// The JWT in compact form.
    pub fn jwt(&self) -> &str {
        &self.jwt
    }

    /// The JWT, owned.
    pub fn into_jwt(self) -> String {
        self.jwt
    }

    /// The issue time (Unix seconds).
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }

    /// `exp` (Unix seconds).
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// `nbf` (Unix seconds), if present.
    pub fn not_before(&self) -> Option<u64> {
        self.not_before
    }

    /// Seconds from the issue time to expiry.
    pub fn expires_in(&self) -> u64 {
        self.expires_at.saturating_sub(self.issued_at)
    }
}

#[derive(Clone)]
struct Inner {
    /// The two SIDs every token names, next to the signing state: minting reads no other
    /// allocation of the issuer (many issuers, one per tenant, share the CPU's caches).
    api_key_sid: [u8; SID_LEN],
    account_sid: [u8; SID_LEN],
    /// The key having absorbed the header's base64 and the dot that follows it.
    header_state: HmacState,
    key: HmacKey,
    /// `None`: the system clock, read without an indirection.
    clock: Option<Arc<dyn Clock>>,
    credentials: Credentials,
    chat_service_sid: Option<String>,
}

/// The base64 of [`HEADER`], the same for every issuer.
static HEADER_B64: LazyLock<String> = LazyLock::new(|| URL_SAFE_NO_PAD.encode(HEADER));

/// `sid`'s bytes (always [`SID_LEN`] ASCII characters once checked).
fn sid_bytes(sid: &str) -> [u8; SID_LEN] {
    let mut out = [0; SID_LEN];
    let bytes = sid.as_bytes();
    let n = bytes.len().min(SID_LEN);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

/// Signs [`AccessToken`]s with one set of Twilio credentials.
///
/// Built once, shared freely: cloning is an `Arc` increment, and `mint` takes `&self`.
///
/// ```
/// use chat_token_core::{AccessToken, ChatGrant, Credentials, TokenIssuer};
///
/// let issuer = TokenIssuer::new(Credentials::try_new(
///     "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
///     "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
///     "not-a-real-secret-for-docs",
/// )?);
/// let minted = issuer.mint(
///     &AccessToken::new()
///         .with_identity("alice")
///         .with_grant(ChatGrant::new().with_service_sid("IS0123456789abcdef0123456789abcdef")),
/// )?;
/// assert_eq!(minted.jwt().split('.').count(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TokenIssuer {
    inner: Arc<Inner>,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("account_sid", &self.inner.credentials.account_sid)
            .field("api_key_sid", &self.inner.credentials.api_key_sid)
            .field("chat_service_sid", &self.inner.chat_service_sid)
            .field(
                "clock",
                &self
                    .inner
                    .clock
                    .as_deref()
                    .map_or(&SystemClock as &dyn Clock, |c| c),
            )
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// An issuer reading the system clock.
    pub fn new(credentials: Credentials) -> Self {
        let key = HmacKey::new(credentials.secret.expose_secret().as_bytes());
        let header_state = key.absorb(format!("{}.", *HEADER_B64).as_bytes());
        Self {
            inner: Arc::new(Inner {
                api_key_sid: sid_bytes(credentials.api_key_sid.as_str()),
                account_sid: sid_bytes(credentials.account_sid.as_str()),
                credentials,
                key,
                header_state,
                clock: None,
                chat_service_sid: None,
            }),
        }
    }

    /// Sets the default Chat/Conversations service SID (`IS...`), used by
    /// [`default_chat_grant`](Self::default_chat_grant).
    pub fn with_chat_service_sid(self, sid: impl Into<String>) -> Result<Self, CredentialsError> {
        let sid = sid.into();
        SidKind::Service.check("chat_service_sid", &sid)?;
        Ok(self.rebuild(|inner| inner.chat_service_sid = Some(sid)))
    }

    /// Replaces the clock (tests, reproducible tokens).
    pub fn with_clock(self, clock: impl Clock) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(clock);
        self.rebuild(|inner| inner.clock = Some(clock))
    }

    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.inner.credentials
    }

    /// The default chat service SID, if configured.
    pub fn chat_service_sid(&self) -> Option<&str> {
        self.inner.chat_service_sid.as_deref()
    }

    /// A chat grant for the default chat service (an empty chat grant without one).
    pub fn default_chat_grant(&self) -> ChatGrant {
        match &self.inner.chat_service_sid {
            Some(sid) => ChatGrant::new().with_service_sid(sid.clone()),
            None => ChatGrant::new(),
        }
    }

    /// The current time by this issuer's clock.
    pub fn now(&self) -> u64 {
        match &self.inner.clock {
            None => SystemClock.now(),
            Some(clock) => clock.now(),
        }
    }

    /// Checks `token` against Twilio's rules and signs it.
    ///
    /// The payload is written into a per-thread buffer that is reused from token to
    /// token, and the JWT into one string of exactly the right size: one heap
    /// allocation per token.
    pub fn mint(&self, token: &AccessToken) -> Result<MintedToken, TokenError> {
        let times = token.plan(self.now())?;
        Ok(MintedToken {
            jwt: self.sign_between(token, &times, &[], &[]),
            issued_at: times.issued_at,
            expires_at: times.expires_at,
            not_before: times.not_before,
        })
    }

    /// The JWT of `token` (already planned into `times`) between the texts `before` and
    /// `after`, in one new string of exactly their size together.
    pub(crate) fn sign_between(
        &self,
        token: &AccessToken,
        times: &Times,
        before: &[&str],
        after: &[&str],
    ) -> String {
        let reused = SCRATCH.try_with(|scratch| {
            let mut scratch = scratch.try_borrow_mut().ok()?;
            let out = self.sign_into(&mut scratch, token, times, before, after);
            if scratch.capacity() > SCRATCH_KEEP {
                *scratch = Vec::with_capacity(SCRATCH_START);
            }
            Some(out)
        });
        // Without the thread's buffer (during thread teardown), use a fresh one.
        match reused {
            Ok(Some(out)) => out,
            _ => self.sign_into(
                &mut Vec::with_capacity(SCRATCH_START),
                token,
                times,
                before,
                after,
            ),
        }
    }

    /// Has the token write its JSON into `scratch`, then encodes and signs the JWT into a
    /// new string, between `before` and `after`.
    fn sign_into(
        &self,
        scratch: &mut Vec<u8>,
        token: &AccessToken,
        times: &Times,
        before: &[&str],
        after: &[&str],
    ) -> String {
        scratch.clear();
        let payload_len = token.write_json(
            scratch,
            times,
            &self.inner.api_key_sid,
            &self.inner.account_sid,
        );
        let (payload, region_header) = scratch.split_at(payload_len);
        let header_len = if region_header.is_empty() {
            HEADER_B64.len()
        } else {
            b64_len(region_header.len())
        };
        let jwt_len = header_len + 1 + b64_len(payload.len()) + 1 + 43;
        let around: usize = before.iter().chain(after).map(|s| s.len()).sum();
        let mut out = String::with_capacity(around + jwt_len);
        before.iter().for_each(|s| out.push_str(s));
        let jwt_from = out.len();
        let fast = base64_simd::URL_SAFE_NO_PAD;
        let tag = if region_header.is_empty() {
            out.push_str(&HEADER_B64);
            out.push('.');
            let signed_from = out.len();
            fast.encode_append(payload, &mut out);
            self.inner
                .header_state
                .sign_rest(&out.as_bytes()[signed_from..])
        } else {
            fast.encode_append(region_header, &mut out);
            out.push('.');
            fast.encode_append(payload, &mut out);
            self.inner.key.sign(&out.as_bytes()[jwt_from..])
        };
        out.push('.');
        fast.encode_append(tag, &mut out);
        after.iter().for_each(|s| out.push_str(s));
        out
    }

    /// Checks a token's signature and claims with this issuer's secret and clock.
    pub fn inspect(
        &self,
        jwt: &str,
    ) -> Result<crate::inspect::Inspection, crate::inspect::InspectError> {
        crate::inspect::inspect_with_key(jwt, Some(&self.inner.key), self.now())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::clock::FixedClock;

    pub(crate) const AC: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    pub(crate) const SK: &str = "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    pub(crate) const SECRET: &str = "cccccccccccccccccccccccccccccccc";
    const REFERENCE: &str = "eyJhbGciOiJIUzI1NiIsImN0eSI6InR3aWxpby1mcGE7dj0xIiwidHlwIjoiSldUIn0.eyJqdGkiOiJTS2JiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiLTE3MDAwMDAwMDAiLCJncmFudHMiOnsiY2hhdCI6eyJzZXJ2aWNlX3NpZCI6IklTZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGQiLCJlbmRwb2ludF9pZCI6ImFwcDphbGljZUBleGFtcGxlLmNvbTpicm93c2VyIiwicHVzaF9jcmVkZW50aWFsX3NpZCI6IkNSZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWUifSwiaWRlbnRpdHkiOiJhbGljZUBleGFtcGxlLmNvbSJ9LCJpc3MiOiJTS2JiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiIiwiZXhwIjoxNzAwMDAzNjAwLCJuYmYiOjE3MDAwMDAwMDAsInN1YiI6IkFDYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWEifQ.HMpvzflNg1bFxVrs5bezHifQfQh6gaLojFDGWkMapIs";

    fn issuer() -> TokenIssuer {
        TokenIssuer::new(Credentials::try_new(AC, SK, SECRET).unwrap())
            .with_clock(FixedClock(1_700_000_000))
    }

    #[test]
    fn reproduces_the_reference_vector() {
        let token = AccessToken::new()
            .with_identity("alice@example.com")
            .with_grant(
                ChatGrant::new()
                    .with_service_sid(format!("IS{}", "d".repeat(32)))
                    .with_endpoint_id("app:alice@example.com:browser")
                    .with_push_credential_sid(format!("CR{}", "e".repeat(32))),
            );
        let minted = issuer().mint(&token).unwrap();
        assert_eq!(minted.jwt(), REFERENCE);
        assert_eq!(minted.expires_in(), 3600);
        assert_eq!(minted.expires_at(), 1_700_003_600);
    }

    #[test]
    fn debug_shows_no_secret() {
        let issuer = issuer();
        let creds = issuer.credentials().clone();
        for text in [format!("{issuer:?}"), format!("{creds:?}")] {
            assert!(!text.contains(SECRET), "{text}");
            assert!(text.contains(SK), "{text}");
        }
    }

    #[test]
    fn credential_mistakes_are_named() {
        assert!(matches!(
            Credentials::try_new(AC, AC, SECRET).unwrap_err(),
            CredentialsError::Sid(SidError::WrongKind { .. })
        ));
        assert_eq!(
            Credentials::try_new(AC, SK, "").unwrap_err(),
            CredentialsError::EmptySecret
        );
        assert_eq!(
            Credentials::try_new(AC, SK, format!("{SECRET}\n")).unwrap_err(),
            CredentialsError::SecretWhitespace
        );
        assert!(matches!(
            Credentials::try_new(AC, SK, SK).unwrap_err(),
            CredentialsError::SecretLooksLikeSid { .. }
        ));
    }

    #[test]
    fn default_chat_service_is_checked() {
        assert!(issuer().with_chat_service_sid("ISabc").is_err());
        let issuer = issuer()
            .with_chat_service_sid(format!("IS{}", "d".repeat(32)))
            .unwrap();
        assert_eq!(
            issuer.default_chat_grant().service_sid(),
            Some(format!("IS{}", "d".repeat(32)).as_str())
        );
    }
}
