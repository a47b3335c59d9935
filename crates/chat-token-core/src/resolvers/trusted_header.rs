//! [`TrustedHeader`]: the identity from a header set by an authenticating reverse proxy,
//! believed only on requests from the proxy's own networks.

use async_trait::async_trait;

use crate::net::IpNet;
use crate::request::IncomingRequest;
use crate::resolver::{IdentityResolver, ResolveError, Resolved};

/// A trusted proxy network broader than this prefix is accepted with a warning.
pub const BROAD_PROXY_PREFIX: u8 = 8;

/// Why a [`TrustedHeader`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustedHeaderError {
    /// No proxy network was given.
    #[error("no trusted proxy address given; list the addresses of the proxy that sets the header")]
    NoProxies,
    /// A proxy network is every address of its family: any client could name itself.
    #[error(
        "the trusted proxy network {0} is every address, so any client could send the header and name itself; list the proxy's own addresses"
    )]
    Everything(IpNet),
    /// The header name is empty or not a valid HTTP header name.
    #[error("{0:?} is not a valid header name")]
    BadHeader(String),
}

/// Trusts an identity header set by an authenticating reverse proxy (oauth2-proxy style),
/// but only on requests whose peer address is in one of the proxy networks.
///
/// A request from any other address is refused (401 `invalid_credentials`) even when it
/// carries the header, so that clients cannot name themselves. A network of every
/// address (`0.0.0.0/0`, `::/0`, `::ffff:0:0/96`) is refused; one broader than a `/8` is
/// accepted with a warning in the log.
///
/// ```
/// use chat_token_core::{IpNet, TrustedHeader};
///
/// let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse()?, "::1".parse()?];
/// let resolver = TrustedHeader::try_new("X-Forwarded-User", proxies)?;
/// assert_eq!(resolver.header(), "x-forwarded-user");
/// assert!("0.0.0.0/0".parse().map(|all: IpNet| TrustedHeader::try_new("X-User", [all])).unwrap().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct TrustedHeader {
    header: String,
    proxies: Vec<IpNet>,
}

impl TrustedHeader {
    /// Trusts `header` from the given proxy addresses or networks.
    pub fn try_new(
        header: impl Into<String>,
        proxies: impl IntoIterator<Item = impl Into<IpNet>>,
    ) -> Result<Self, TrustedHeaderError> {
        let header: String = header.into();
        let token_char = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if header.is_empty() || !header.bytes().all(token_char) {
            return Err(TrustedHeaderError::BadHeader(header));
        }
        let proxies: Vec<IpNet> = proxies.into_iter().map(Into::into).collect();
        if proxies.is_empty() {
            return Err(TrustedHeaderError::NoProxies);
        }
        for net in &proxies {
            if net.is_everything() {
                return Err(TrustedHeaderError::Everything(*net));
            }
            if net.prefix() < BROAD_PROXY_PREFIX {
                tracing::warn!(
                    network = %net,
                    "the trusted proxy network is broader than a /{BROAD_PROXY_PREFIX}: every client in it can name itself with the user header"
                );
            }
        }
        Ok(Self {
            header: header.to_ascii_lowercase(),
            proxies,
        })
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

    fn from(peer: &str, value: Option<&str>) -> IncomingRequest {
        let mut req = IncomingRequest::new("GET", "/token").with_peer(peer.parse().unwrap());
        if let Some(v) = value {
            req = req.with_header("x-forwarded-user", v);
        }
        req
    }

    #[tokio::test]
    async fn only_from_the_proxy() {
        let proxy: std::net::SocketAddr = "10.0.0.1:4000".parse().unwrap();
        let resolver = TrustedHeader::try_new("X-Forwarded-User", [proxy.ip()]).unwrap();
        assert_eq!(
            resolver
                .resolve(&from("10.0.0.1:4000", Some("alice")))
                .await
                .unwrap()
                .identity(),
            "alice"
        );
        assert!(matches!(
            resolver
                .resolve(&from("10.0.0.2:4000", Some("alice")))
                .await,
            Err(ResolveError::InvalidCredentials(_))
        ));
        assert!(matches!(
            resolver.resolve(&from("10.0.0.1:4000", None)).await,
            Err(ResolveError::MissingCredentials(_))
        ));
        let no_peer = IncomingRequest::new("GET", "/").with_header("x-forwarded-user", "alice");
        assert!(resolver.resolve(&no_peer).await.is_err());
    }

    #[tokio::test]
    async fn a_mapped_proxy_address_trusts_that_proxy_only() {
        let net: IpNet = "::ffff:10.9.9.9".parse().unwrap();
        let resolver = TrustedHeader::try_new("X-Forwarded-User", [net]).unwrap();
        for peer in ["10.9.9.9:1", "[::ffff:10.9.9.9]:1"] {
            assert!(
                resolver.resolve(&from(peer, Some("a"))).await.is_ok(),
                "{peer}"
            );
        }
        for peer in [
            "127.0.0.1:1",
            "10.9.9.8:1",
            "1.2.3.4:1",
            "[::1]:1",
            "[::ffff:127.0.0.1]:1",
        ] {
            assert!(
                matches!(
                    resolver.resolve(&from(peer, Some("mallory"))).await,
                    Err(ResolveError::InvalidCredentials(_))
                ),
                "{peer}"
            );
        }
    }

    #[test]
    fn every_address_is_refused_and_names_are_checked() {
        for all in ["0.0.0.0/0", "::/0", "::ffff:0:0/96"] {
            let net: IpNet = all.parse().unwrap();
            assert!(
                matches!(
                    TrustedHeader::try_new("X-User", [net]),
                    Err(TrustedHeaderError::Everything(_))
                ),
                "{all}"
            );
        }
        let none: [IpNet; 0] = [];
        assert_eq!(
            TrustedHeader::try_new("X-User", none).unwrap_err(),
            TrustedHeaderError::NoProxies
        );
        let one: IpNet = "10.0.0.1".parse().unwrap();
        for bad in ["", "X User", "X-User:", "X-Üser"] {
            assert!(
                matches!(
                    TrustedHeader::try_new(bad, [one]),
                    Err(TrustedHeaderError::BadHeader(_))
                ),
                "{bad:?}"
            );
        }
        let broad: IpNet = "10.0.0.0/7".parse().unwrap();
        assert!(TrustedHeader::try_new("X-User", [broad]).is_ok());
    }
}
