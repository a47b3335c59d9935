//! Who is calling: the [`IdentityResolver`] trait, its answer [`Resolved`], its failure
//! [`ResolveError`], and one ready resolver, [`StaticUsers`].
//!
//! The application decides who the user is with its own login system; a resolver is the
//! bridge. It reads an [`IncomingRequest`] (a bearer token, a session cookie, a header
//! set by an authenticating proxy) and answers with the user's identity, or with why
//! there is none. The HTTP status for each answer is decided once, by
//! [`TokenService`](crate::TokenService).

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use subtle::ConstantTimeEq;

use crate::grants::Grant;
use crate::request::IncomingRequest;

/// Turns a request's credentials into the user's identity.
///
/// Implement it for your own authentication, or pass a closure (see the impl for `Fn`).
///
/// ```
/// use chat_token_core::{IdentityResolver, IncomingRequest, ResolveError, Resolved};
///
/// struct ApiKeys;
///
/// #[async_trait::async_trait]
/// impl IdentityResolver for ApiKeys {
///     async fn resolve(&self, req: &IncomingRequest) -> Result<Resolved, ResolveError> {
///         match req.header("x-api-key") {
///             None => Err(ResolveError::missing("send the X-Api-Key header")),
///             Some("k-alice") => Ok(Resolved::new("alice")),
///             Some(_) => Err(ResolveError::invalid("unknown API key")),
///         }
///     }
/// }
/// ```
#[async_trait]
pub trait IdentityResolver: Send + Sync + 'static {
    /// Resolves the caller of `req`.
    async fn resolve(&self, req: &IncomingRequest) -> Result<Resolved, ResolveError>;
}

/// A closure taking `&IncomingRequest` and returning a future is a resolver. The future
/// cannot borrow the request: copy what it needs first.
///
/// ```
/// use chat_token_core::{IdentityResolver, IncomingRequest, ResolveError, Resolved};
///
/// fn assert_resolver(_: impl IdentityResolver) {}
/// assert_resolver(|req: &IncomingRequest| {
///     let user = req.header("x-user").map(str::to_owned);
///     async move { user.map(Resolved::new).ok_or_else(|| ResolveError::missing("no X-User")) }
/// });
/// ```
#[async_trait]
impl<F, Fut> IdentityResolver for F
where
    F: Fn(&IncomingRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Resolved, ResolveError>> + Send,
{
    async fn resolve(&self, req: &IncomingRequest) -> Result<Resolved, ResolveError> {
        (self)(req).await
    }
}

/// A resolver's answer: the identity and, optionally, per-user choices.
///
/// ```
/// use chat_token_core::{Resolved, VideoGrant};
///
/// // A support agent: an 8-hour token with video only.
/// let agent = Resolved::new("agent_42")
///     .with_ttl(8 * 3600)
///     .with_grants([VideoGrant::new().into()]);
/// assert_eq!(agent.ttl(), Some(28_800));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    identity: String,
    ttl: Option<u64>,
    grants: Option<Vec<Grant>>,
    claims: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Resolved {
    /// The user's identity, with the service's default ttl and grants.
    pub fn new(identity: impl Into<String>) -> Self {
        Self {
            identity: identity.into(),
            ttl: None,
            grants: None,
            claims: None,
        }
    }

    /// Claims that describe the user (a verified JWT's, say), for per-user policy.
    pub fn with_claims(mut self, claims: serde_json::Map<String, serde_json::Value>) -> Self {
        self.claims = Some(claims);
        self
    }

    /// The claims, if the resolver gave any.
    pub fn claims(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.claims.as_ref()
    }

    /// A ttl for this user's tokens, in seconds (1..=86400), instead of the default.
    pub fn with_ttl(mut self, seconds: u64) -> Self {
        self.ttl = Some(seconds);
        self
    }

    /// Grants for this user's tokens, instead of the service's default grants.
    pub fn with_grants(mut self, grants: impl IntoIterator<Item = Grant>) -> Self {
        self.grants = Some(grants.into_iter().collect());
        self
    }

    /// The identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The per-user ttl, if any.
    pub fn ttl(&self) -> Option<u64> {
        self.ttl
    }

    /// The per-user grants, if any.
    pub fn grants(&self) -> Option<&[Grant]> {
        self.grants.as_deref()
    }
}

/// Why a resolver found no identity. Each variant maps to one HTTP answer (see
/// [`TokenService`](crate::TokenService)).
///
/// The messages of `MissingCredentials`, `InvalidCredentials` and `Forbidden` are sent to
/// the client, so they must not hold secrets or the presented credential. Those of
/// `Unavailable` and `Internal` only go to the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// No credentials were presented (401, `missing_credentials`).
    #[error("missing credentials: {0}")]
    MissingCredentials(Cow<'static, str>),
    /// Credentials were presented but are not valid (401, `invalid_credentials`).
    #[error("invalid credentials: {0}")]
    InvalidCredentials(Cow<'static, str>),
    /// The user is known but may not have a token (403, `forbidden`).
    #[error("forbidden: {0}")]
    Forbidden(Cow<'static, str>),
    /// The service behind the resolver is down or slow (503, `unavailable`).
    #[error("identity backend unavailable: {message}")]
    Unavailable {
        /// What failed; logged, not sent.
        message: Cow<'static, str>,
        /// How long the client should wait before trying again.
        retry_after: Option<Duration>,
    },
    /// Anything else (500, `internal`).
    #[error("resolver failed: {0}")]
    Internal(Cow<'static, str>),
}

impl ResolveError {
    /// [`ResolveError::MissingCredentials`] with a message for the client.
    pub fn missing(message: impl Into<Cow<'static, str>>) -> Self {
        Self::MissingCredentials(message.into())
    }

    /// [`ResolveError::InvalidCredentials`] with a message for the client.
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidCredentials(message.into())
    }

    /// [`ResolveError::Forbidden`] with a message for the client.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Forbidden(message.into())
    }

    /// [`ResolveError::Unavailable`] with a message for the log and no retry hint.
    pub fn unavailable(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Unavailable {
            message: message.into(),
            retry_after: None,
        }
    }

    /// [`ResolveError::Internal`] with a message for the log.
    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Internal(message.into())
    }
}

/// Why a `CHAT_TOKEN_USERS` list could not be parsed. No message repeats a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsersParseError {
    /// An entry has no `=`.
    #[error(
        "users entry {entry} has no '='; write entries as token=identity, separated by commas or new lines"
    )]
    MissingEquals {
        /// The entry's position, from 1.
        entry: usize,
    },
    /// An entry's token is empty or not visible ASCII.
    #[error(
        "users entry {entry} has an empty token, or one with characters other than visible ASCII"
    )]
    BadToken {
        /// The entry's position, from 1.
        entry: usize,
    },
    /// An entry's identity is not a valid identity.
    #[error("users entry {entry} has an invalid identity: {source}")]
    BadIdentity {
        /// The entry's position, from 1.
        entry: usize,
        /// Why.
        source: crate::identity::IdentityError,
    },
    /// Two entries have the same token.
    #[error("users entries {first} and {second} have the same token; every token must be unique")]
    DuplicateToken {
        /// The first entry, from 1.
        first: usize,
        /// The second entry, from 1.
        second: usize,
    },
    /// The list has no entry.
    #[error("the users list is empty; give at least one token=identity entry")]
    Empty,
}

/// A fixed table of bearer tokens and the identities they stand for, compared in
/// constant time. For development, demos and small internal deployments.
///
/// ```
/// use chat_token_core::StaticUsers;
///
/// let users: StaticUsers = "tok1=alice, tok2=bob@example.com".parse()?;
/// assert_eq!(users.len(), 2);
/// # Ok::<(), chat_token_core::UsersParseError>(())
/// ```
#[derive(Clone)]
pub struct StaticUsers {
    users: Vec<(Vec<u8>, String)>,
}

impl fmt::Debug for StaticUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let identities: Vec<&str> = self.users.iter().map(|(_, i)| i.as_str()).collect();
        f.debug_struct("StaticUsers")
            .field("identities", &identities)
            .finish_non_exhaustive()
    }
}

impl StaticUsers {
    /// Builds the table from `(token, identity)` pairs, checking each.
    pub fn try_new<T, I>(pairs: impl IntoIterator<Item = (T, I)>) -> Result<Self, UsersParseError>
    where
        T: Into<String>,
        I: Into<String>,
    {
        let mut users: Vec<(Vec<u8>, String)> = Vec::new();
        for (n, (token, identity)) in pairs.into_iter().enumerate() {
            let entry = n + 1;
            let token: String = token.into();
            let identity: String = identity.into();
            if token.is_empty() || !token.bytes().all(|b| (0x21..0x7f).contains(&b)) {
                return Err(UsersParseError::BadToken { entry });
            }
            crate::identity::IdentityRules::basic()
                .check(&identity)
                .map_err(|source| UsersParseError::BadIdentity { entry, source })?;
            if let Some(first) = users.iter().position(|(t, _)| *t == token.as_bytes()) {
                return Err(UsersParseError::DuplicateToken {
                    first: first + 1,
                    second: entry,
                });
            }
            users.push((token.into_bytes(), identity));
        }
        if users.is_empty() {
            return Err(UsersParseError::Empty);
        }
        Ok(Self { users })
    }

    /// A table from pairs known to be valid (the crate's own demo users), without the
    /// checks of [`try_new`](Self::try_new); a test holds them to the checked parser.
    pub(crate) fn from_checked_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        Self {
            users: pairs
                .into_iter()
                .map(|(token, identity)| (token.as_bytes().to_vec(), identity.to_owned()))
                .collect(),
        }
    }

    /// How many users the table holds.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the table is empty (never true for a table built by `try_new`).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The identities, in table order.
    pub fn identities(&self) -> impl Iterator<Item = &str> {
        self.users.iter().map(|(_, i)| i.as_str())
    }

    /// The identity for `token`, comparing against every entry in constant time.
    pub fn lookup(&self, token: &str) -> Option<&str> {
        let mut found = None;
        for (candidate, identity) in &self.users {
            // Every entry is compared, so the time does not tell which one matched.
            if bool::from(candidate.as_slice().ct_eq(token.as_bytes())) {
                found = Some(identity.as_str());
            }
        }
        found
    }
}

impl std::str::FromStr for StaticUsers {
    type Err = UsersParseError;

    /// Parses `token=identity` entries separated by commas or new lines; blank entries
    /// and lines starting with `#` are skipped; white space around each part is trimmed.
    fn from_str(s: &str) -> Result<Self, UsersParseError> {
        let mut pairs = Vec::new();
        let entries = s
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty() && !e.starts_with('#'));
        for (n, entry) in entries.enumerate() {
            let (token, identity) = entry
                .split_once('=')
                .ok_or(UsersParseError::MissingEquals { entry: n + 1 })?;
            pairs.push((token.trim().to_owned(), identity.trim().to_owned()));
        }
        Self::try_new(pairs)
    }
}

#[async_trait]
impl IdentityResolver for StaticUsers {
    async fn resolve(&self, req: &IncomingRequest) -> Result<Resolved, ResolveError> {
        let token = req.bearer_token()?;
        match self.lookup(token) {
            Some(identity) => Ok(Resolved::new(identity)),
            None => Err(ResolveError::invalid("unknown bearer token")),
        }
    }
}

/// An IP network: an address and a prefix length (`10.0.0.0/8`, `::1/128`). A plain
/// address is a network of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: std::net::IpAddr,
    prefix: u8,
}

/// Why an [`IpNet`] did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address or network such as 10.0.0.0/8 or ::1")]
pub struct IpNetParseError(String);

impl IpNet {
    /// The network `addr/prefix`; the prefix is capped at the address length.
    pub fn new(addr: std::net::IpAddr, prefix: u8) -> Self {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        Self {
            addr: addr.to_canonical(),
            prefix: prefix.min(max),
        }
    }

    /// Whether `ip` is in the network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr::{V4, V6};
        match (self.addr, ip.to_canonical()) {
            (V4(net), V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (V6(net), V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl From<std::net::IpAddr> for IpNet {
    fn from(addr: std::net::IpAddr) -> Self {
        Self::new(addr, 128)
    }
}

impl std::str::FromStr for IpNet {
    type Err = IpNetParseError;

    fn from_str(s: &str) -> Result<Self, IpNetParseError> {
        let bad = || IpNetParseError(s.to_owned());
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s.trim(), None),
        };
        let addr: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Self::new(addr, prefix))
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Trusts an identity header set by an authenticating reverse proxy (oauth2-proxy style),
/// but only on requests whose peer address is in one of the proxy networks.
///
/// A request from any other address is refused (401 `invalid_credentials`) even when it
/// carries the header, so that clients cannot name themselves.
///
/// ```
/// use chat_token_core::{IpNet, TrustedHeader};
///
/// let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse()?, "::1".parse()?];
/// let resolver = TrustedHeader::new("X-Forwarded-User", proxies);
/// assert_eq!(resolver.header(), "x-forwarded-user");
/// # Ok::<(), chat_token_core::IpNetParseError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TrustedHeader {
    header: String,
    proxies: Vec<IpNet>,
}

impl TrustedHeader {
    /// Trusts `header` from the given proxy addresses or networks.
    pub fn new(
        header: impl Into<String>,
        proxies: impl IntoIterator<Item = impl Into<IpNet>>,
    ) -> Self {
        Self {
            header: header.into().to_ascii_lowercase(),
            proxies: proxies.into_iter().map(Into::into).collect(),
        }
    }

    /// The trusted proxy networks.
    pub fn proxies(&self) -> &[IpNet] {
        &self.proxies
    }

    /// The header's name, lower case.
    pub fn header(&self) -> &str {
        &self.header
    }
}

#[async_trait]
impl IdentityResolver for TrustedHeader {
    async fn resolve(&self, req: &IncomingRequest) -> Result<Resolved, ResolveError> {
        let trusted = req
            .peer()
            .is_some_and(|peer| self.proxies.iter().any(|net| net.contains(peer.ip())));
        if !trusted {
            return Err(ResolveError::invalid(
                "this request did not come through the authenticating proxy",
            ));
        }
        let mut values = req.header_values(&self.header);
        let value = match (values.next(), values.next()) {
            (None, _) => {
                return Err(ResolveError::missing(
                    "the authenticating proxy sent no user header",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(ResolveError::invalid(
                    "the user header was sent more than once",
                ));
            }
            (Some(value), None) => value,
        };
        match std::str::from_utf8(value).map(str::trim) {
            Ok(identity) if !identity.is_empty() => Ok(Resolved::new(identity)),
            Ok(_) => Err(ResolveError::missing("the user header is empty")),
            Err(_) => Err(ResolveError::invalid("the user header is not valid UTF-8")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_users() {
        let users: StaticUsers = "tok1=alice,tok2=bob@example.com\n# comment\n tok3 = carol ,"
            .parse()
            .unwrap();
        assert_eq!(users.len(), 3);
        assert_eq!(users.lookup("tok1"), Some("alice"));
        assert_eq!(users.lookup("tok3"), Some("carol"));
        assert_eq!(users.lookup("tok"), None);
        assert_eq!(users.lookup(""), None);
        assert_eq!(
            users.identities().collect::<Vec<_>>(),
            ["alice", "bob@example.com", "carol"]
        );
    }

    #[test]
    fn rejects_bad_lists_without_echoing_tokens() {
        assert_eq!(
            "".parse::<StaticUsers>().unwrap_err(),
            UsersParseError::Empty
        );
        assert_eq!(
            "secret-tok".parse::<StaticUsers>().unwrap_err(),
            UsersParseError::MissingEquals { entry: 1 }
        );
        assert_eq!(
            "a=x,=y".parse::<StaticUsers>().unwrap_err(),
            UsersParseError::BadToken { entry: 2 }
        );
        assert!(matches!(
            "a=".parse::<StaticUsers>().unwrap_err(),
            UsersParseError::BadIdentity { entry: 1, .. }
        ));
        let err = "dup-secret=x,dup-secret=y"
            .parse::<StaticUsers>()
            .unwrap_err();
        assert_eq!(
            err,
            UsersParseError::DuplicateToken {
                first: 1,
                second: 2
            }
        );
        assert!(!err.to_string().contains("dup-secret"));
        let users: StaticUsers = "hidden-token=alice".parse().unwrap();
        assert!(!format!("{users:?}").contains("hidden-token"));
    }

    #[test]
    fn ip_networks() {
        let net: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains("10.200.3.4".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()));
        let one: IpNet = "::1".parse().unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!(!one.contains("::2".parse().unwrap()));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6: IpNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        for bad in ["", "10.0.0.0/33", "::/129", "host", "10.0.0.0/x"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
        assert_eq!(
            "127.0.0.1".parse::<IpNet>().unwrap().to_string(),
            "127.0.0.1/32"
        );
    }

    #[tokio::test]
    async fn trusted_header_only_from_the_proxy() {
        let proxy: std::net::SocketAddr = "10.0.0.1:4000".parse().unwrap();
        let other: std::net::SocketAddr = "10.0.0.2:4000".parse().unwrap();
        let resolver = TrustedHeader::new("X-Forwarded-User", [proxy.ip()]);
        let from = |peer, value: Option<&str>| {
            let mut req = IncomingRequest::new("GET", "/token").with_peer(peer);
            if let Some(v) = value {
                req = req.with_header("x-forwarded-user", v);
            }
            req
        };
        assert_eq!(
            resolver
                .resolve(&from(proxy, Some("alice")))
                .await
                .unwrap()
                .identity(),
            "alice"
        );
        assert!(matches!(
            resolver.resolve(&from(other, Some("alice"))).await,
            Err(ResolveError::InvalidCredentials(_))
        ));
        assert!(matches!(
            resolver.resolve(&from(proxy, None)).await,
            Err(ResolveError::MissingCredentials(_))
        ));
        let no_peer = IncomingRequest::new("GET", "/").with_header("x-forwarded-user", "alice");
        assert!(resolver.resolve(&no_peer).await.is_err());
    }

    #[tokio::test]
    async fn resolves_bearer_tokens() {
        let users: StaticUsers = "tok1=alice".parse().unwrap();
        let ok = IncomingRequest::new("GET", "/").with_header("authorization", "Bearer tok1");
        assert_eq!(users.resolve(&ok).await.unwrap().identity(), "alice");
        let bad = IncomingRequest::new("GET", "/").with_header("authorization", "Bearer tok2");
        assert!(matches!(
            users.resolve(&bad).await,
            Err(ResolveError::InvalidCredentials(_))
        ));
        let none = IncomingRequest::new("GET", "/");
        assert!(matches!(
            users.resolve(&none).await,
            Err(ResolveError::MissingCredentials(_))
        ));
    }
}
