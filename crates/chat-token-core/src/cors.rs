//! CORS for the token endpoint, decided in the core so that every adapter answers browser
//! preflights and cross-origin requests the same way.
//!
//! Without a [`CorsPolicy`] the endpoint sends no CORS headers and `OPTIONS` is 405.
//! With one, an allowed `Origin` gets `Access-Control-Allow-Origin` (and `Vary: Origin`)
//! on every answer, errors included, so that the page's script can read them; a
//! preflight (`OPTIONS` with `Access-Control-Request-Method`) from an allowed origin is
//! 204 with the allowed methods and headers; from any other origin, 403.

use std::borrow::Cow;

/// Why a [`CorsPolicy`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorsError {
    /// An origin is not `scheme://host[:port]`.
    #[error(
        "CORS origin {0:?} must look like https://app.example.com (scheme, host, optional port, no path)"
    )]
    BadOrigin(String),
    /// `*` together with credentials, which browsers refuse.
    #[error("a CORS policy cannot allow any origin (*) and credentials at once; list the origins")]
    WildcardWithCredentials,
}

/// Which browser origins may call the token endpoint.
///
/// ```
/// use chat_token_core::cors::CorsPolicy;
///
/// let policy = CorsPolicy::try_new(["https://app.example.com", "http://localhost:5173"])?
///     .with_allow_credentials(true)?
///     .with_max_age(3600);
/// assert!(CorsPolicy::try_new(["app.example.com"]).is_err()); // no scheme
/// # let _ = policy;
/// # Ok::<(), chat_token_core::cors::CorsError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsPolicy {
    origins: Vec<String>,
    any: bool,
    credentials: bool,
    max_age: u64,
}

impl CorsPolicy {
    /// Allows the listed origins (`https://app.example.com`), or any with `*`.
    pub fn try_new(
        origins: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<Self, CorsError> {
        let mut policy = Self {
            origins: Vec::new(),
            any: false,
            credentials: false,
            max_age: 600,
        };
        for origin in origins {
            let origin: String = origin.into();
            if origin == "*" {
                policy.any = true;
                continue;
            }
            let valid = origin.split_once("://").is_some_and(|(scheme, rest)| {
                !scheme.is_empty()
                    && scheme
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
                    && !rest.is_empty()
                    && !rest.contains(['/', '?', '#', ' ', ','])
            });
            if !valid {
                return Err(CorsError::BadOrigin(origin));
            }
            policy.origins.push(origin.trim_end_matches('/').to_owned());
        }
        Ok(policy)
    }

    /// Also send `Access-Control-Allow-Credentials: true` (cookies, HTTP auth).
    pub fn with_allow_credentials(mut self, allow: bool) -> Result<Self, CorsError> {
        if allow && self.any {
            return Err(CorsError::WildcardWithCredentials);
        }
        self.credentials = allow;
        Ok(self)
    }

    /// How long a browser may cache a preflight, in seconds (default 600).
    pub fn with_max_age(mut self, seconds: u64) -> Self {
        self.max_age = seconds;
        self
    }

    fn allows(&self, origin: &str) -> bool {
        self.any || self.origins.iter().any(|o| o == origin)
    }

    /// The `Access-Control-Allow-Origin` value for `origin`, if it is allowed.
    fn allow_origin(&self, origin: &str) -> Option<Cow<'static, str>> {
        if !self.allows(origin) {
            return None;
        }
        Some(if self.any && !self.credentials {
            Cow::Borrowed("*")
        } else {
            Cow::Owned(origin.to_owned())
        })
    }

    /// Adds the CORS headers for a request from `origin` to a reply.
    pub(crate) fn decorate(
        &self,
        origin: Option<&str>,
        headers: &mut Vec<(&'static str, Cow<'static, str>)>,
    ) {
        let Some(allowed) = origin.and_then(|o| self.allow_origin(o)) else {
            return;
        };
        headers.push(("access-control-allow-origin", allowed));
        headers.push(("vary", Cow::Borrowed("Origin")));
        if self.credentials {
            headers.push(("access-control-allow-credentials", Cow::Borrowed("true")));
        }
    }

    /// The preflight answer: 204 with the allowed methods and headers, or `None` when the
    /// origin is not allowed.
    pub(crate) fn preflight(&self, origin: &str) -> Option<Vec<(&'static str, Cow<'static, str>)>> {
        let allowed = self.allow_origin(origin)?;
        let mut headers = vec![
            ("access-control-allow-origin", allowed),
            ("vary", Cow::Borrowed("Origin")),
            ("access-control-allow-methods", Cow::Borrowed("GET, POST")),
            (
                "access-control-allow-headers",
                Cow::Borrowed("authorization, content-type"),
            ),
            (
                "access-control-max-age",
                Cow::Owned(self.max_age.to_string()),
            ),
            ("cache-control", Cow::Borrowed("no-store")),
        ];
        if self.credentials {
            headers.push(("access-control-allow-credentials", Cow::Borrowed("true")));
        }
        Some(headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked() {
        assert!(CorsPolicy::try_new(["https://app.example.com"]).is_ok());
        assert!(CorsPolicy::try_new(["http://localhost:5173"]).is_ok());
        for bad in [
            "app.example.com",
            "https://",
            "https://a.example/path",
            "https://a, https://b",
        ] {
            assert!(CorsPolicy::try_new([bad]).is_err(), "{bad}");
        }
        assert_eq!(
            CorsPolicy::try_new(["*"])
                .unwrap()
                .with_allow_credentials(true),
            Err(CorsError::WildcardWithCredentials)
        );
    }

    #[test]
    fn allow_origin() {
        let p = CorsPolicy::try_new(["https://a.example"]).unwrap();
        assert_eq!(
            p.allow_origin("https://a.example").as_deref(),
            Some("https://a.example")
        );
        assert_eq!(p.allow_origin("https://b.example"), None);
        let any = CorsPolicy::try_new(["*"]).unwrap();
        assert_eq!(any.allow_origin("https://b.example").as_deref(), Some("*"));
    }
}
