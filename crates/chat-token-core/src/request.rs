//! [`IncomingRequest`]: an owned, framework-neutral snapshot of an HTTP request, which is
//! all an [`IdentityResolver`](crate::IdentityResolver) gets to see.
//!
//! Adapters fill it from their framework's request; resolvers read it through helpers
//! that parse the usual credential carriers strictly: [`IncomingRequest::bearer_token`]
//! and [`IncomingRequest::cookie`].

use std::borrow::Cow;
use std::net::SocketAddr;

use crate::resolve_error::ResolveError;

/// The longest bearer token [`IncomingRequest::bearer_token`] accepts, in bytes.
pub const MAX_BEARER_LEN: usize = 4096;

/// An owned snapshot of one HTTP request: method, path, query, headers, peer address.
///
/// ```
/// use chat_token_core::IncomingRequest;
///
/// let req = IncomingRequest::new("GET", "/token")
///     .with_header("Authorization", "bearer tok-123")
///     .with_header("Cookie", "theme=dark; session=abc");
/// assert_eq!(req.bearer_token()?, "tok-123");
/// assert_eq!(req.cookie("session"), Some("abc"));
/// # Ok::<(), chat_token_core::ResolveError>(())
/// ```
///
/// Header names are kept in lower case; values are kept as raw bytes, since a client may
/// send bytes that are not UTF-8. The path and every header share one buffer, so that a
/// snapshot costs one allocation however many headers the request has.
#[derive(Clone, Default)]
pub struct IncomingRequest {
    method: Cow<'static, str>,
    /// The path, then each header as its name's length and its value's length (4 bytes
    /// each, native order), its lower-case name and its value.
    bytes: Vec<u8>,
    /// Where the path ends (and the headers start) in `bytes`.
    path_end: usize,
    query: Option<String>,
    peer: Option<SocketAddr>,
}

impl std::fmt::Debug for IncomingRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values carry credentials: only their names are shown.
        let names: Vec<&str> = self
            .headers()
            .map(|(n, _)| std::str::from_utf8(n).unwrap_or("?"))
            .collect();
        f.debug_struct("IncomingRequest")
            .field("method", &self.method)
            .field("path", &self.path())
            .field("header_names", &names)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// The room reserved for headers when a request is made: what a browser's usual headers
/// take, so that most requests fill their buffer without growing it.
const HEADER_ROOM: usize = 512;

impl IncomingRequest {
    /// A request with this method and path, no headers. Methods are case-sensitive
    /// (`GET`, not `get`), as in HTTP.
    pub fn new(method: impl AsRef<str>, path: impl AsRef<str>) -> Self {
        let method = method.as_ref();
        // The usual methods cost no allocation.
        let method = match method {
            "GET" => Cow::Borrowed("GET"),
            "POST" => Cow::Borrowed("POST"),
            "HEAD" => Cow::Borrowed("HEAD"),
            "OPTIONS" => Cow::Borrowed("OPTIONS"),
            other => Cow::Owned(other.to_owned()),
        };
        let path = path.as_ref().as_bytes();
        let mut bytes = Vec::with_capacity(path.len() + HEADER_ROOM);
        bytes.extend_from_slice(path);
        Self {
            method,
            bytes,
            path_end: path.len(),
            query: None,
            peer: None,
        }
    }

    /// Sets the query string (without the `?`).
    pub fn with_query(mut self, query: impl Into<String>) -> Self {
        self.query = Some(query.into());
        self
    }

    /// Adds a header; a name may be added more than once.
    pub fn with_header(mut self, name: impl AsRef<str>, value: impl AsRef<[u8]>) -> Self {
        self.push_header(name.as_ref(), value.as_ref());
        self
    }

    /// Adds a header in place (for adapters copying many headers). A name or value of
    /// 4 GiB or more (which no HTTP server accepts) is not added.
    pub fn push_header(&mut self, name: &str, value: &[u8]) {
        let (Ok(name_len), Ok(value_len)) = (u32::try_from(name.len()), u32::try_from(value.len()))
        else {
            return;
        };
        self.bytes.reserve(8 + name.len() + value.len());
        self.bytes.extend_from_slice(&name_len.to_ne_bytes());
        self.bytes.extend_from_slice(&value_len.to_ne_bytes());
        self.bytes
            .extend(name.bytes().map(|b| b.to_ascii_lowercase()));
        self.bytes.extend_from_slice(value);
    }

    /// Every header as (lower-case name, value), in the order received.
    fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut rest = &self.bytes[self.path_end..];
        std::iter::from_fn(move || {
            let name_len = take_len(&mut rest)?;
            let value_len = take_len(&mut rest)?;
            let (name, after) = rest.split_at_checked(name_len)?;
            let (value, after) = after.split_at_checked(value_len)?;
            rest = after;
            Some((name, value))
        })
    }

    /// Sets the peer's socket address.
    pub fn with_peer(mut self, peer: SocketAddr) -> Self {
        self.peer = Some(peer);
        self
    }

    /// The method, as received.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path, as received.
    pub fn path(&self) -> &str {
        // Written from a `&str` by `new`.
        std::str::from_utf8(&self.bytes[..self.path_end]).unwrap_or_default()
    }

    /// The query string, if any.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The peer's socket address, if the adapter knows it.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Every value of header `name` (case-insensitive), as raw bytes.
    pub fn header_values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]> {
        self.headers()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The first value of header `name` if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name)
            .next()
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The bearer token of the `Authorization` header.
    ///
    /// The scheme is matched case-insensitively (`Bearer`, `bearer`, `BEARER`), followed by
    /// one or more spaces and a token of visible ASCII characters. No header (or an empty
    /// one) is [`ResolveError::MissingCredentials`]; any other scheme, a repeated header,
    /// bytes outside visible ASCII, white space inside the token, or a token longer than
    /// [`MAX_BEARER_LEN`] is [`ResolveError::InvalidCredentials`]. No message repeats the
    /// presented value.
    pub fn bearer_token(&self) -> Result<&str, ResolveError> {
        let mut values = self.header_values("authorization");
        let Some(value) = values.next() else {
            return Err(ResolveError::missing(
                "send the user's credentials as `Authorization: Bearer <token>`",
            ));
        };
        if values.next().is_some() {
            return Err(ResolveError::invalid(
                "more than one Authorization header; send exactly one",
            ));
        }
        let value = trim_ows(value);
        if value.is_empty() {
            return Err(ResolveError::missing(
                "the Authorization header is empty; send `Authorization: Bearer <token>`",
            ));
        }
        if !value.iter().all(|b| (0x20..0x7f).contains(b)) {
            return Err(ResolveError::invalid(
                "the Authorization header holds bytes that are not visible ASCII",
            ));
        }
        let value = std::str::from_utf8(value).unwrap_or_default();
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ResolveError::invalid(
                "the Authorization scheme must be Bearer (`Authorization: Bearer <token>`)",
            ));
        }
        let token = rest.trim_start_matches(' ');
        if token.is_empty() {
            return Err(ResolveError::invalid(
                "the Authorization header has the Bearer scheme but no token",
            ));
        }
        if token.contains(' ') {
            return Err(ResolveError::invalid(
                "the bearer token contains a space; send exactly one token after `Bearer `",
            ));
        }
        if token.len() > MAX_BEARER_LEN {
            return Err(ResolveError::invalid(Cow::Owned(format!(
                "the bearer token is {} bytes, over the {MAX_BEARER_LEN} accepted",
                token.len()
            ))));
        }
        Ok(token)
    }

    /// The value of cookie `name` from the `Cookie` header(s), surrounding quotes removed.
    ///
    /// Returns `None` when there is no such cookie, or when the header is not valid UTF-8.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.header_values("cookie")
            .filter_map(|v| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| n.trim() == name)
            .map(|(_, v)| {
                let v = v.trim();
                v.strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v)
            })
    }
}

/// Whether `name` is a valid HTTP header name: one or more token characters (RFC 9110).
pub(crate) fn is_header_name(name: &str) -> bool {
    let token_char = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    !name.is_empty() && name.bytes().all(token_char)
}

/// Headers that carry a client's credentials or the request's address, whatever their
/// case: never a name to read an identity, a tenant or a device from, since their value
/// would end up in tokens and logs.
const CREDENTIALS_OR_ADDRESS: [&str; 14] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
    "x-csrf-token",
    "host",
    "forwarded",
    "x-forwarded-for",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "cf-connecting-ip",
];

/// Whether header `name` is one of [`CREDENTIALS_OR_ADDRESS`].
pub(crate) fn carries_credentials_or_address(name: &str) -> bool {
    CREDENTIALS_OR_ADDRESS
        .iter()
        .any(|known| known.eq_ignore_ascii_case(name))
}

/// Reads a length `push_header` wrote, from the front of `rest`.
fn take_len(rest: &mut &[u8]) -> Option<usize> {
    let (len, after) = rest.split_first_chunk::<4>()?;
    *rest = after;
    usize::try_from(u32::from_ne_bytes(*len)).ok()
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(value: &[u8]) -> IncomingRequest {
        IncomingRequest::new("GET", "/token").with_header("Authorization", value)
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for v in [
            "Bearer abc",
            "bearer abc",
            "BEARER abc",
            "Bearer   abc",
            " Bearer abc ",
        ] {
            assert_eq!(auth(v.as_bytes()).bearer_token().unwrap(), "abc", "{v}");
        }
    }

    #[test]
    fn missing_and_empty_are_missing() {
        let none = IncomingRequest::new("GET", "/token");
        assert!(matches!(
            none.bearer_token(),
            Err(ResolveError::MissingCredentials(_))
        ));
        assert!(matches!(
            auth(b"").bearer_token(),
            Err(ResolveError::MissingCredentials(_))
        ));
    }

    #[test]
    fn malformed_is_invalid() {
        let long = format!("Bearer {}", "a".repeat(MAX_BEARER_LEN + 1));
        for v in [
            &b"Basic dXNlcjpwYXNz"[..],
            b"Bearer",
            b"Bearer ",
            b"Bearerabc",
            b"Bearer\tabc",
            b"Bearer abc def",
            b"Bearer \xff\xfe",
            b"Bearer a\0b",
            b"abc",
            long.as_bytes(),
        ] {
            assert!(
                matches!(
                    auth(v).bearer_token(),
                    Err(ResolveError::InvalidCredentials(_))
                ),
                "{:?}",
                String::from_utf8_lossy(v)
            );
        }
        let twice = auth(b"Bearer a").with_header("authorization", "Bearer b");
        assert!(matches!(
            twice.bearer_token(),
            Err(ResolveError::InvalidCredentials(_))
        ));
    }

    #[test]
    fn errors_do_not_echo_the_credential() {
        let err = auth(b"Basic c2VjcmV0LXZhbHVl").bearer_token().unwrap_err();
        assert!(!err.to_string().contains("c2VjcmV0LXZhbHVl"));
        let text = format!("{:?}", auth(b"Bearer topsecret"));
        assert!(!text.contains("topsecret"), "{text}");
    }

    #[test]
    fn headers_keep_their_order_and_bytes_however_many() {
        let mut req = IncomingRequest::new("PATCH", "/tøken/x").with_query("a=1");
        for i in 0..200 {
            req.push_header(&format!("X-Many-{}", i % 3), format!("v{i}").as_bytes());
        }
        req.push_header("X-Raw", b"\xff\0\r");
        req.push_header("X-Empty", b"");
        assert_eq!(
            (req.method(), req.path(), req.query()),
            ("PATCH", "/tøken/x", Some("a=1"))
        );
        let many: Vec<&[u8]> = req.header_values("x-many-1").collect();
        assert_eq!(many.len(), 67);
        assert_eq!((many[0], many[66]), (&b"v1"[..], &b"v199"[..]));
        assert_eq!(req.header_values("X-RAW").next(), Some(&b"\xff\0\r"[..]));
        assert_eq!(req.header("x-raw"), None, "not UTF-8");
        assert_eq!(req.header("x-empty"), Some(""));
        assert_eq!(req.header("x-missing"), None);
        let copy = req.clone();
        assert_eq!(copy.header_values("x-many-2").count(), 66);
    }

    #[test]
    fn cookies() {
        let req = IncomingRequest::new("GET", "/")
            .with_header("Cookie", "a=1; session=\"xyz\"; b=2")
            .with_header("cookie", "late=3");
        assert_eq!(req.cookie("session"), Some("xyz"));
        assert_eq!(req.cookie("a"), Some("1"));
        assert_eq!(req.cookie("late"), Some("3"));
        assert_eq!(req.cookie("missing"), None);
        let bad = IncomingRequest::new("GET", "/").with_header("cookie", &b"s=\xff"[..]);
        assert_eq!(bad.cookie("s"), None);
    }
}
