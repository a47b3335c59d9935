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
/// send bytes that are not UTF-8. All names and values share one buffer, so that a
/// snapshot costs a couple of allocations however many headers the request has.
#[derive(Clone, Default)]
pub struct IncomingRequest {
    method: Cow<'static, str>,
    path: String,
    query: Option<String>,
    /// Every header name and value, back to back.
    header_bytes: Vec<u8>,
    /// For each header: where its name ends and where its value ends in `header_bytes`
    /// (each starts where the previous part ends).
    header_ends: Vec<(usize, usize)>,
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
            .field("path", &self.path)
            .field("header_names", &names)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl IncomingRequest {
    /// A request with this method and path, no headers. Methods are case-sensitive
    /// (`GET`, not `get`), as in HTTP.
    pub fn new(method: impl AsRef<str>, path: impl Into<String>) -> Self {
        let method = method.as_ref();
        // The usual methods cost no allocation.
        let method = match method {
            "GET" => Cow::Borrowed("GET"),
            "POST" => Cow::Borrowed("POST"),
            "HEAD" => Cow::Borrowed("HEAD"),
            "OPTIONS" => Cow::Borrowed("OPTIONS"),
            other => Cow::Owned(other.to_owned()),
        };
        Self {
            method,
            path: path.into(),
            ..Self::default()
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

    /// Adds a header in place (for adapters copying many headers).
    pub fn push_header(&mut self, name: &str, value: &[u8]) {
        if self.header_ends.is_empty() {
            self.header_bytes.reserve(256);
        }
        self.header_bytes
            .extend(name.bytes().map(|b| b.to_ascii_lowercase()));
        let name_end = self.header_bytes.len();
        self.header_bytes.extend_from_slice(value);
        self.header_ends.push((name_end, self.header_bytes.len()));
    }

    /// Every header as (lower-case name, value), in the order received.
    fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut start = 0;
        self.header_ends.iter().map(move |&(name_end, value_end)| {
            let name = &self.header_bytes[start..name_end];
            let value = &self.header_bytes[name_end..value_end];
            start = value_end;
            (name, value)
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
        &self.path
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
