//! [`TrustedHeader`]: the identity from a header set by an authenticating reverse proxy,
//! believed only on requests from the proxy's own networks.

use async_trait::async_trait;

use crate::net::{self, IpNet};
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
    /// Bits below a proxy network's prefix are set (`10.0.0.5/8`): a typo for one address
    /// or for the whole network.
    #[error(
        "the trusted proxy network {given} has bits set below the /{prefix} prefix; write {network} for the whole network, or the address alone for one host",
        prefix = .given.prefix_len()
    )]
    HostBitsSet {
        /// The network as given.
        given: IpNet,
        /// The network with the host bits cleared (IPv4 for an IPv4-mapped one).
        network: IpNet,
    },
    /// The header name is empty or not a valid HTTP header name.
    #[error("{0:?} is not a valid header name")]
    BadHeader(String),
    /// The header carries the client's credentials or the request's address
    /// (`Authorization`, `Cookie`, `Host`, `X-Forwarded-For`, ...), not a name the proxy
    /// sets: its value would become the identity, and be shown in tokens and logs.
    #[error(
        "{0:?} carries the client's credentials or the request's address, not a user the proxy names; use the header your proxy sets (X-Forwarded-User, say)"
    )]
    NotAnIdentityHeader(String),
}

/// Trusts an identity header set by an authenticating reverse proxy (oauth2-proxy style),
/// but only on requests whose peer address is in one of the proxy networks.
///
/// A request from any other address is refused (401 `invalid_credentials`) even when it
/// carries the header, so that clients cannot name themselves. The networks are
/// [`ipnet::IpNet`](crate::resolvers::IpNet) values, as an app's configuration already holds them,
/// or text through [`parse_proxy_net`](crate::resolvers::parse_proxy_net). An IPv4-mapped IPv6
/// network (`::ffff:10.0.0.0/104`) is the IPv4 network it maps (`10.0.0.0/8`), and an
/// IPv4-mapped peer address is matched as the IPv4 address it maps. A network with bits
/// set below its prefix (`10.0.0.5/8`) is refused, and so is a network of every address
/// (`0.0.0.0/0`, `::/0`, `::ffff:0:0/96`); one broader than a `/8` is accepted with a
/// warning in the log.
///
/// ```
/// use chat_token_core::{resolvers::IpNet, TrustedHeader, resolvers::TrustedHeaderError, resolvers::parse_proxy_net};
///
/// // ipnet values, as from the app's configuration ...
/// let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse()?, "::1/128".parse()?];
/// let resolver = TrustedHeader::try_new("X-Forwarded-User", proxies)?;
/// assert_eq!(resolver.header(), "x-forwarded-user");
///
/// // ... or text, where a plain address is a network of one.
/// let resolver = TrustedHeader::try_new("X-User", [parse_proxy_net("::ffff:10.9.9.9")?])?;
/// assert_eq!(resolver.proxies()[0].to_string(), "10.9.9.9/32");
///
/// let all: IpNet = "0.0.0.0/0".parse()?;
/// assert!(matches!(TrustedHeader::try_new("X-User", [all]), Err(TrustedHeaderError::Everything(_))));
/// let typo: IpNet = "10.0.0.5/8".parse()?; // ipnet accepts it; the resolver does not
/// assert!(matches!(TrustedHeader::try_new("X-User", [typo]), Err(TrustedHeaderError::HostBitsSet { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct TrustedHeader {
    header: String,
    proxies: Vec<IpNet>,
    tenant_header: Option<String>,
}

impl TrustedHeader {
    /// Trusts `header` from the given proxy addresses or networks (anything that is
    /// [`Into<IpNet>`]: an [`IpNet`], [`ipnet::Ipv4Net`](crate::resolvers::ipnet::Ipv4Net),
    /// [`ipnet::Ipv6Net`](crate::resolvers::ipnet::Ipv6Net) or a [`std::net::IpAddr`], which is a
    /// network of one address).
    ///
    /// IPv4-mapped networks of prefix 96 or more are kept as the IPv4 networks they map.
    /// Refuses an invalid header name, an empty list, a network with bits set below its
    /// prefix and a network of every address; warns about networks broader than
    /// [`BROAD_PROXY_PREFIX`].
    pub fn try_new(
        header: impl Into<String>,
        proxies: impl IntoIterator<Item = impl Into<IpNet>>,
    ) -> Result<Self, TrustedHeaderError> {
        let header = header_name(header.into())?;
        let proxies = proxies
            .into_iter()
            .map(|given| {
                let given: IpNet = given.into();
                let net = net::canonical(given);
                let network = net.trunc();
                if network != net {
                    return Err(TrustedHeaderError::HostBitsSet { given, network });
                }
                if net.prefix_len() == 0 {
                    return Err(TrustedHeaderError::Everything(given));
                }
                if net.prefix_len() < BROAD_PROXY_PREFIX {
                    tracing::warn!(
                        network = %net,
                        "the trusted proxy network is broader than a /{BROAD_PROXY_PREFIX}: every client in it can name itself with the user header"
                    );
                }
                Ok(net)
            })
            .collect::<Result<Vec<IpNet>, _>>()?;
        if proxies.is_empty() {
            return Err(TrustedHeaderError::NoProxies);
        }
        Ok(Self {
            header,
            proxies,
            tenant_header: None,
        })
    }

    /// Also takes the user's tenant (see [`Resolved::with_tenant`]) from header `name`,
    /// believed, like the user header, only from the proxy's networks. A request without
    /// it resolves to a user with no tenant; one with it twice, empty or not UTF-8 is
    /// refused.
    pub fn with_tenant_header(
        mut self,
        name: impl Into<String>,
    ) -> Result<Self, TrustedHeaderError> {
        self.tenant_header = Some(header_name(name.into())?);
        Ok(self)
    }

    /// The tenant header, if any.
    pub fn tenant_header(&self) -> Option<&str> {
        self.tenant_header.as_deref()
    }

    /// The trusted proxy networks, IPv4-mapped ones as the IPv4 networks they map.
    pub fn proxies(&self) -> &[IpNet] {
        &self.proxies
    }

    /// The header's name, lower case.
    pub fn header(&self) -> &str {
        &self.header
    }
}

/// A valid header name that carries no credentials or address, lower-cased.
fn header_name(header: String) -> Result<String, TrustedHeaderError> {
    if !crate::request::is_header_name(&header) {
        return Err(TrustedHeaderError::BadHeader(header));
    }
    if crate::request::carries_credentials_or_address(&header) {
        return Err(TrustedHeaderError::NotAnIdentityHeader(header));
    }
    Ok(header.to_ascii_lowercase())
}

/// The one value of header `name`: `Ok(None)` when absent, refused when repeated, empty
/// or not UTF-8.
fn single_value<'r>(
    req: &'r IncomingRequest,
    name: &str,
    what: &str,
) -> Result<Option<&'r str>, ResolveError> {
    let mut values = req.header_values(name);
    let value = match (values.next(), values.next()) {
        (None, _) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(ResolveError::invalid(format!(
                "the {what} header was sent more than once"
            )));
        }
        (Some(value), None) => value,
    };
    match std::str::from_utf8(value).map(str::trim) {
        Ok(value) if !value.is_empty() => Ok(Some(value)),
        Ok(_) => Err(ResolveError::missing(format!("the {what} header is empty"))),
        Err(_) => Err(ResolveError::invalid(format!(
            "the {what} header is not valid UTF-8"
        ))),
    }
}

#[async_trait]
impl IdentityResolver for TrustedHeader {
    async fn resolve(&self, req: &IncomingRequest) -> Result<Resolved, ResolveError> {
        let trusted = req
            .peer()
            .is_some_and(|peer| self.proxies.iter().any(|n| net::contains(n, peer.ip())));
        if !trusted {
            return Err(ResolveError::invalid(
                "this request did not come through the authenticating proxy",
            ));
        }
        let identity = single_value(req, &self.header, "user")?
            .ok_or_else(|| ResolveError::missing("the authenticating proxy sent no user header"))?;
        // A user name Twilio cannot take (control or invisible characters) is the
        // caller's, not a fault of this service: 401, not 500.
        if crate::identity::IdentityRules::default()
            .check(identity)
            .is_err()
        {
            return Err(ResolveError::invalid(
                "the proxy's user header is not a valid Twilio identity (control or invisible characters)",
            ));
        }
        let resolved = Resolved::new(identity);
        let tenant = match &self.tenant_header {
            Some(name) => single_value(req, name, "tenant")?,
            None => None,
        };
        Ok(match tenant {
            Some(tenant) => resolved.with_tenant(tenant),
            None => resolved,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::parse_proxy_net;

    fn from(peer: &str, value: Option<&str>) -> IncomingRequest {
        let mut req = IncomingRequest::new("GET", "/token").with_peer(peer.parse().unwrap());
        if let Some(v) = value {
            req = req.with_header("x-forwarded-user", v);
        }
        req
    }

    fn ipnet(s: &str) -> IpNet {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
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
        // A user name Twilio cannot take is the caller's fault: 401, never a 500.
        for odd in ["ali\u{200b}ce", "ali\u{202e}ce", "ali\u{2028}ce"] {
            assert!(
                matches!(
                    resolver.resolve(&from("10.0.0.1:4000", Some(odd))).await,
                    Err(ResolveError::InvalidCredentials(_))
                ),
                "{odd:?}"
            );
        }
    }

    #[tokio::test]
    async fn the_tenant_header_is_read_from_the_proxy_only_once() {
        let proxy: std::net::IpAddr = "10.0.0.1".parse().unwrap();
        let resolver = TrustedHeader::try_new("X-Forwarded-User", [proxy])
            .unwrap()
            .with_tenant_header("X-Org")
            .unwrap();
        let with = |org: &[&str]| {
            org.iter()
                .fold(from("10.0.0.1:4000", Some("alice")), |r, o| {
                    r.with_header("x-org", *o)
                })
        };
        let tenant = |r: Result<Resolved, ResolveError>| r.map(|r| r.tenant().map(str::to_owned));
        assert_eq!(
            tenant(resolver.resolve(&with(&["acme"])).await),
            Ok(Some("acme".into()))
        );
        assert_eq!(tenant(resolver.resolve(&with(&[])).await), Ok(None));
        assert!(resolver.resolve(&with(&["acme", "evil"])).await.is_err());
        assert!(resolver.resolve(&with(&[" "])).await.is_err());
        let outsider = from("10.0.0.2:4000", Some("alice")).with_header("x-org", "acme");
        assert!(resolver.resolve(&outsider).await.is_err());
        assert!(
            TrustedHeader::try_new("X-User", [proxy])
                .unwrap()
                .with_tenant_header("bad header")
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_mapped_proxy_address_trusts_that_proxy_only() {
        // As text, as an ipnet value and as an address: the same single IPv4 proxy.
        let forms: [IpNet; 3] = [
            parse_proxy_net("::ffff:10.9.9.9").unwrap(),
            ipnet("::ffff:10.9.9.9/128"),
            IpNet::from("::ffff:10.9.9.9".parse::<std::net::IpAddr>().unwrap()),
        ];
        for net in forms {
            let resolver = TrustedHeader::try_new("X-Forwarded-User", [net]).unwrap();
            assert_eq!(resolver.proxies(), [ipnet("10.9.9.9/32")], "{net}");
            for peer in ["10.9.9.9:1", "[::ffff:10.9.9.9]:1"] {
                assert!(
                    resolver.resolve(&from(peer, Some("a"))).await.is_ok(),
                    "{net} {peer}"
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
                    "{net} {peer}"
                );
            }
        }
    }

    #[tokio::test]
    async fn mapped_peers_match_ipv4_networks_and_ipv6_networks_hold_no_ipv4_peer() {
        let v4 = TrustedHeader::try_new("X-Forwarded-User", [ipnet("10.0.0.0/8")]).unwrap();
        let mapped =
            TrustedHeader::try_new("X-Forwarded-User", [ipnet("::ffff:10.0.0.0/104")]).unwrap();
        assert_eq!(mapped.proxies(), v4.proxies());
        for resolver in [&v4, &mapped] {
            for peer in ["10.1.2.3:1", "[::ffff:10.1.2.3]:1"] {
                assert!(
                    resolver.resolve(&from(peer, Some("a"))).await.is_ok(),
                    "{peer}"
                );
            }
            for peer in ["11.1.2.3:1", "[::ffff:11.1.2.3]:1", "[::a01:203]:1"] {
                assert!(
                    resolver.resolve(&from(peer, Some("a"))).await.is_err(),
                    "{peer}"
                );
            }
        }
        let v6 = TrustedHeader::try_new("X-Forwarded-User", [ipnet("::/80")]).unwrap();
        assert!(v6.resolve(&from("[::1]:1", Some("a"))).await.is_ok());
        for peer in ["10.0.0.1:1", "[::ffff:10.0.0.1]:1"] {
            assert!(v6.resolve(&from(peer, Some("a"))).await.is_err(), "{peer}");
        }
    }

    #[test]
    fn every_address_is_refused_and_names_are_checked() {
        for all in ["0.0.0.0/0", "::/0", "::ffff:0:0/96"] {
            for net in [parse_proxy_net(all).unwrap(), ipnet(all)] {
                assert!(
                    matches!(
                        TrustedHeader::try_new("X-User", [net]),
                        Err(TrustedHeaderError::Everything(_))
                    ),
                    "{all}"
                );
            }
        }
        let none: [IpNet; 0] = [];
        assert_eq!(
            TrustedHeader::try_new("X-User", none).unwrap_err(),
            TrustedHeaderError::NoProxies
        );
        let one = ipnet("10.0.0.1/32");
        for bad in ["", "X User", "X-User:", "X-Üser"] {
            assert!(
                matches!(
                    TrustedHeader::try_new(bad, [one]),
                    Err(TrustedHeaderError::BadHeader(_))
                ),
                "{bad:?}"
            );
        }
        assert!(TrustedHeader::try_new("X-User", [ipnet("10.0.0.0/7")]).is_ok());
        assert!(TrustedHeader::try_new("X-User", [ipnet("::ffff:10.0.0.0/103")]).is_ok());
        // A client's credentials or the request's address never name the user: as the
        // user header or the tenant header, in any case.
        for credentials in [
            "Authorization",
            "COOKIE",
            "Proxy-Authorization",
            "host",
            "X-Forwarded-For",
            "X-Real-IP",
            "x-api-key",
        ] {
            assert!(
                matches!(
                    TrustedHeader::try_new(credentials, [one]),
                    Err(TrustedHeaderError::NotAnIdentityHeader(_))
                ),
                "{credentials:?}"
            );
            let user = TrustedHeader::try_new("X-User", [one]).expect("user header");
            assert!(
                matches!(
                    user.with_tenant_header(credentials),
                    Err(TrustedHeaderError::NotAnIdentityHeader(_))
                ),
                "{credentials:?}"
            );
        }
    }

    #[test]
    fn ipnet_values_with_host_bits_are_refused() {
        for (given, network) in [
            ("10.0.0.5/8", "10.0.0.0/8"),
            ("::ffff:10.0.0.5/104", "10.0.0.0/8"),
            ("fd00::1/8", "fd00::/8"),
            ("::ffff:0:0/80", "::/80"),
            ("0.0.0.1/0", "0.0.0.0/0"),
            ("::1/0", "::/0"),
        ] {
            let err =
                TrustedHeader::try_new("X-User", [ipnet("10.9.9.9/32"), ipnet(given)]).unwrap_err();
            assert_eq!(
                err,
                TrustedHeaderError::HostBitsSet {
                    given: ipnet(given),
                    network: ipnet(network),
                },
                "{given}"
            );
            let text = err.to_string();
            assert!(
                text.contains(&ipnet(given).to_string()) && text.contains(network),
                "{text}"
            );
        }
    }

    #[test]
    fn every_prefix_of_every_family_builds_or_is_refused_without_panicking() {
        for prefix in 0u8..=128 {
            for addr in [
                "10.1.2.3",
                "2001:db8::1",
                "::ffff:10.9.9.9",
                "0.0.0.0",
                "::",
            ] {
                let Ok(given) = IpNet::new(addr.parse().unwrap(), prefix) else {
                    continue;
                };
                match TrustedHeader::try_new("X-User", [given]) {
                    Ok(resolver) => {
                        let net = resolver.proxies()[0];
                        assert_eq!(net.trunc(), net, "{given}");
                        assert_ne!(net.prefix_len(), 0, "{given}");
                    }
                    Err(
                        TrustedHeaderError::HostBitsSet { .. } | TrustedHeaderError::Everything(_),
                    ) => {}
                    Err(other) => panic!("{given}: {other}"),
                }
            }
        }
    }
}
