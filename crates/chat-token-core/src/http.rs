//! The HTTP vocabulary of the token endpoint: the `error` codes, the statuses and headers
//! that go with them, and the two JSON bodies (a token, an error). Framework-free: the
//! adapters copy an [`HttpReply`] out as it is.

use std::borrow::Cow;
use std::fmt;

use crate::issuer::TokenIssuer;
use crate::resolver::ResolveError;
use crate::token::{AccessToken, Times, TokenError};

/// The `Retry-After` value, in seconds, when the resolver gives none.
pub const DEFAULT_RETRY_AFTER: u64 = 5;

/// The path the adapters mount the token endpoint at unless told otherwise.
pub const DEFAULT_TOKEN_PATH: &str = "/token";

/// The methods the token endpoint answers, as sent in `Allow`.
pub const ALLOWED_METHODS: &str = "GET, POST";

/// The `error` codes of the JSON error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 401: no credentials.
    MissingCredentials,
    /// 401: wrong credentials.
    InvalidCredentials,
    /// 403: known user, no token.
    Forbidden,
    /// 503: the resolver's backend is down or slow.
    Unavailable,
    /// 500: anything else.
    Internal,
    /// 405: a method other than GET or POST on the token path.
    MethodNotAllowed,
}

impl ErrorCode {
    /// Every code, in a fixed order (the metrics count errors by it).
    pub const ALL: [ErrorCode; 6] = [
        ErrorCode::MissingCredentials,
        ErrorCode::InvalidCredentials,
        ErrorCode::Forbidden,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
        ErrorCode::MethodNotAllowed,
    ];

    /// The code as written in the body.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MissingCredentials => "missing_credentials",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
        }
    }

    /// The HTTP status that goes with the code.
    pub const fn status(self) -> u16 {
        match self {
            ErrorCode::MissingCredentials | ErrorCode::InvalidCredentials => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
            ErrorCode::MethodNotAllowed => 405,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An HTTP answer, ready for any framework to send as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// The status code.
    pub status: u16,
    /// Headers, lower-case names, in order. `content-type` is always among them.
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    /// The JSON body.
    pub body: String,
}

impl HttpReply {
    pub(crate) fn json(status: u16, body: String) -> Self {
        Self {
            status,
            headers: vec![
                ("content-type", Cow::Borrowed("application/json")),
                ("cache-control", Cow::Borrowed("no-store")),
            ],
            body,
        }
    }

    /// The value of header `name`, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

/// A refused request: its error code, the message for the client, and the headers that
/// go with it. Adapters' extractors reject with this; [`Rejection::reply`] renders it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Rejection {
    code: ErrorCode,
    message: Cow<'static, str>,
    retry_after: Option<u64>,
}

impl Rejection {
    /// A rejection with this code and client message.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: (code == ErrorCode::Unavailable).then_some(DEFAULT_RETRY_AFTER),
        }
    }

    /// The 500 an adapter answers when no `TokenService` was registered with the app;
    /// `fix` says how to register it in that framework, and is logged, not sent.
    pub fn not_configured(fix: &str) -> Self {
        tracing::error!(
            "chat-token: no TokenService is registered with this app, so the request cannot be answered; {fix}"
        );
        Self::new(
            ErrorCode::Internal,
            "the token service is not configured on this server",
        )
    }

    /// The 405 for a method other than GET or POST.
    pub fn method_not_allowed() -> Self {
        Self::new(
            ErrorCode::MethodNotAllowed,
            "use GET or POST to request a token",
        )
    }

    /// The error code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message sent to the client.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP reply: status, headers and the JSON body `{"error","message"}`.
    pub fn reply(&self) -> HttpReply {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            error: &'a str,
            message: &'a str,
        }
        let body = serde_json::to_string(&Body {
            error: self.code.as_str(),
            message: &self.message,
        })
        .unwrap_or_else(|_| String::from(r#"{"error":"internal","message":"internal error"}"#));
        let mut reply = HttpReply::json(self.code.status(), body);
        match self.code {
            ErrorCode::MissingCredentials => {
                reply
                    .headers
                    .push(("www-authenticate", Cow::Borrowed("Bearer")));
            }
            ErrorCode::InvalidCredentials => reply.headers.push((
                "www-authenticate",
                Cow::Borrowed(r#"Bearer error="invalid_token""#),
            )),
            ErrorCode::Unavailable => reply.headers.push((
                "retry-after",
                Cow::Owned(self.retry_after.unwrap_or(DEFAULT_RETRY_AFTER).to_string()),
            )),
            ErrorCode::MethodNotAllowed => {
                reply
                    .headers
                    .push(("allow", Cow::Borrowed(ALLOWED_METHODS)));
            }
            ErrorCode::Forbidden | ErrorCode::Internal => {}
        }
        reply
    }
}

impl From<ResolveError> for Rejection {
    fn from(err: ResolveError) -> Self {
        match err {
            ResolveError::MissingCredentials(m) => Self::new(ErrorCode::MissingCredentials, m),
            ResolveError::InvalidCredentials(m) => Self::new(ErrorCode::InvalidCredentials, m),
            ResolveError::Forbidden(m) => Self::new(ErrorCode::Forbidden, m),
            ResolveError::Unavailable { retry_after, .. } => Self {
                code: ErrorCode::Unavailable,
                message: "the identity service is unavailable; try again shortly".into(),
                retry_after: Some(retry_after.map_or(DEFAULT_RETRY_AFTER, |d| d.as_secs().max(1))),
            },
            ResolveError::Internal(_) => internal(),
        }
    }
}

pub(crate) fn internal() -> Rejection {
    Rejection::new(
        ErrorCode::Internal,
        "the token service failed; the details are in the server log",
    )
}

/// Mints `token` with `issuer` straight into the body
/// `{"identity":...,"token":...,"expires_in":...,"expires_at":...}`: one buffer of exactly
/// its size, which the adapters hand to their framework's body without copying it or
/// allocating again. With the token's times.
pub(crate) fn token_body(
    identity: &str,
    issuer: &TokenIssuer,
    token: &AccessToken,
) -> Result<(String, Times), TokenError> {
    let times = token.plan(issuer.now())?;
    let identity = crate::json::escaped(identity);
    let (mut expires_in, mut expires_at) = (itoa::Buffer::new(), itoa::Buffer::new());
    // A JWT is base64url and dots: nothing to escape.
    let before = [r#"{"identity":""#, &identity, r#"","token":""#];
    let after = [
        r#"","expires_in":"#,
        expires_in.format(times.expires_at.saturating_sub(times.issued_at)),
        r#","expires_at":"#,
        expires_at.format(times.expires_at),
        "}",
    ];
    Ok((issuer.sign_between(token, &times, &before, &after), times))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::ChatGrant;
    use crate::issuer::{Credentials, TokenIssuer};
    use crate::token::AccessToken;

    #[test]
    fn the_token_body_fills_its_buffer_exactly() {
        let issuer = TokenIssuer::new(
            Credentials::try_new(
                "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                "not-a-real-secret-for-tests",
            )
            .unwrap(),
        )
        .with_clock(crate::clock::FixedClock(1_700_000_000));
        for (identity, ttl) in [("alice", 3600), ("bob@example.com", 60), ("c", 86_400)] {
            let token = AccessToken::new()
                .with_identity(identity)
                .with_ttl(ttl)
                .with_grant(ChatGrant::new());
            let minted = issuer.mint(&token).unwrap();
            let (body, times) = token_body(identity, &issuer, &token).unwrap();
            let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(parsed["identity"], identity);
            assert_eq!(parsed["token"], minted.jwt());
            assert_eq!(parsed["expires_in"], ttl);
            assert_eq!(parsed["expires_at"], minted.expires_at());
            assert_eq!(times.expires_at, minted.expires_at());
            // The frameworks take a full buffer as their body without allocating again.
            assert_eq!(body.len(), body.capacity(), "{body}");
        }
        // A token with a region signs its own header: the text before the JWT is not
        // signed, and the JWT is the one `mint` gives.
        let token = AccessToken::new()
            .with_identity("alice")
            .with_region("ie1")
            .with_grant(ChatGrant::new());
        let (body, _) = token_body("alice", &issuer, &token).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        let jwt = parsed["token"].as_str().unwrap();
        assert_eq!(jwt, issuer.mint(&token).unwrap().jwt());
        assert!(issuer.inspect(jwt).unwrap().is_accepted());
        assert_eq!(body.len(), body.capacity(), "{body}");
        // An identity with escapes too.
        for identity in ["o\"neil", "zoë\\x", "日本"] {
            let token = AccessToken::new()
                .with_identity(identity)
                .with_grant(ChatGrant::new());
            let (body, _) = token_body(identity, &issuer, &token).unwrap();
            let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(parsed["identity"], identity);
            assert_eq!(body.len(), body.capacity(), "{body}");
        }
    }
}
