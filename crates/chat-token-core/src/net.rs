//! Trusted-proxy networks: [`IpNet`] from the `ipnet` crate, and the two things this
//! crate adds to it.
//!
//! An IPv4 client reached over a dual-stack socket shows up as an IPv4-mapped IPv6
//! address (`::ffff:10.0.0.5`), and deployers copy that form from their logs. Both forms
//! therefore mean the same network here: a mapped network (`::ffff:10.0.0.0/104`) is
//! taken as the IPv4 network it stands for (`10.0.0.0/8`), and a client address is
//! compared in its canonical form. And a network written with bits set below its prefix
//! (`10.0.0.5/8`, which `ipnet` accepts) is refused: it is a typo for one address or for
//! the whole network, and guessing which could trust far more clients than meant.
//!
//! `ipnet` checks prefix lengths when a network is built, so no prefix, in any form, can
//! turn into a mask that matches every address by accident; the conversions here use
//! checked arithmetic only.

use std::net::IpAddr;

/// The `ipnet` crate, re-exported so that apps can name its types ([`ipnet::Ipv4Net`],
/// [`ipnet::Ipv6Net`], its parse errors) without depending on it themselves.
pub use ipnet;
/// An IP network (`10.0.0.0/8`, `::1/128`): `ipnet`'s type, the one trusted proxies are
/// given as (see [`TrustedHeader::try_new`](crate::TrustedHeader::try_new) and
/// [`parse_proxy_net`]). Shown as `ipnet`'s, whose pages link its other types.
#[doc(no_inline)]
pub use ipnet::IpNet;

/// Why [`parse_proxy_net`] refused its input. The message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpNetParseError {
    /// Not an address, or a prefix that is not a number.
    #[error("{0:?} is not an IP address or network such as 10.0.0.0/8 or ::1")]
    Syntax(String),
    /// The prefix is longer than the address.
    #[error("{input:?}: the prefix /{prefix} is longer than the address ({max} bits at most)")]
    PrefixTooLong {
        /// What was given.
        input: String,
        /// The prefix.
        prefix: u16,
        /// The address length in bits.
        max: u8,
    },
    /// Bits below the prefix are set: a typo for one address or for the network.
    #[error(
        "{input:?} has bits set below the /{prefix} prefix; write {network} for the whole network, or the address alone for one host"
    )]
    HostBitsSet {
        /// What was given.
        input: String,
        /// The prefix as written.
        prefix: u8,
        /// The network address with the host bits cleared, and its prefix.
        network: String,
    },
}

/// Parses a trusted-proxy network: `ADDR` (a network of one address) or `ADDR/PREFIX`,
/// surrounding whitespace ignored.
///
/// Unlike `ipnet`'s own parser, it accepts a plain address, refuses bits set below the
/// prefix (`10.0.0.5/8`), and returns an IPv4-mapped IPv6 network of prefix 96 or more as
/// the IPv4 network it maps (`::ffff:10.0.0.0/104` is `10.0.0.0/8`). A network of every
/// address parses; [`TrustedHeader::try_new`](crate::TrustedHeader::try_new) refuses it.
///
/// ```
/// use chat_token_core::{resolvers::IpNetParseError, resolvers::parse_proxy_net};
///
/// let net = parse_proxy_net("::ffff:10.9.9.9")?;
/// assert_eq!(net.to_string(), "10.9.9.9/32");
/// assert_eq!(parse_proxy_net("::ffff:10.0.0.0/104")?, parse_proxy_net("10.0.0.0/8")?);
/// assert!(matches!(
///     parse_proxy_net("10.0.0.5/8"),
///     Err(IpNetParseError::HostBitsSet { .. })
/// ));
/// # Ok::<(), IpNetParseError>(())
/// ```
pub fn parse_proxy_net(s: &str) -> Result<IpNet, IpNetParseError> {
    let input = s.trim();
    let syntax = || IpNetParseError::Syntax(s.to_owned());
    let (addr, prefix) = match input.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (input, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| syntax())?;
    let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
    let too_long = |prefix: u16| IpNetParseError::PrefixTooLong {
        input: s.to_owned(),
        prefix,
        max,
    };
    let prefix = match prefix {
        None => max,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            let value: u16 = p.parse().map_err(|_| too_long(u16::MAX))?;
            u8::try_from(value)
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| too_long(value))?
        }
        Some(_) => return Err(syntax()),
    };
    let net = canonical(IpNet::new(addr, prefix).map_err(|_| too_long(prefix.into()))?);
    let network = net.trunc();
    if network != net {
        return Err(IpNetParseError::HostBitsSet {
            input: s.to_owned(),
            prefix,
            network: network.to_string(),
        });
    }
    Ok(net)
}

/// `net` with an IPv4-mapped IPv6 network of prefix 96 or more replaced by the IPv4
/// network it maps (`::ffff:10.0.0.0/104` becomes `10.0.0.0/8`, `::ffff:0:0/96` becomes
/// `0.0.0.0/0`). Host bits are kept as they are. Below 96 bits a network is left IPv6:
/// it is not one IPv4 network, and IPv4 clients are never compared with it.
pub(crate) fn canonical(net: IpNet) -> IpNet {
    let IpNet::V6(v6) = net else {
        return net;
    };
    match (v6.addr().to_ipv4_mapped(), v6.prefix_len().checked_sub(96)) {
        (Some(v4), Some(prefix)) => ipnet::Ipv4Net::new(v4, prefix).map_or(net, IpNet::V4),
        _ => net,
    }
}

/// Whether `ip` is in `net`, a network in [`canonical`] form. An IPv4-mapped IPv6 address
/// counts as the IPv4 address it maps.
pub(crate) fn contains(net: &IpNet, ip: IpAddr) -> bool {
    net.contains(&ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        parse_proxy_net(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn plain_networks() {
        let n = net("10.0.0.0/8");
        assert!(contains(&n, ip("10.200.3.4")));
        assert!(!contains(&n, ip("11.0.0.1")));
        assert!(contains(&n, ip("::ffff:10.1.2.3")));
        let one = net("::1");
        assert!(contains(&one, ip("::1")));
        assert!(!contains(&one, ip("::2")));
        let v6 = net("fd00::/8");
        assert!(contains(&v6, ip("fd12::1")));
        assert!(!contains(&v6, ip("10.0.0.1")));
        assert_eq!(net("127.0.0.1").to_string(), "127.0.0.1/32");
        assert_eq!(net(" 192.168.0.0/16 ").to_string(), "192.168.0.0/16");
        // The same values as ipnet's own parser gives, where that accepts the input.
        for s in ["10.0.0.0/8", "fd00::/8", "::1/128", "0.0.0.0/0"] {
            assert_eq!(net(s), s.parse::<IpNet>().unwrap(), "{s}");
        }
    }

    #[test]
    fn a_mapped_address_is_that_ipv4_address_only() {
        let n = net("::ffff:10.9.9.9");
        assert_eq!(n, net("10.9.9.9"));
        assert_eq!(n.to_string(), "10.9.9.9/32");
        assert!(contains(&n, ip("10.9.9.9")));
        assert!(contains(&n, ip("::ffff:10.9.9.9")));
        for other in [
            "127.0.0.1",
            "10.9.9.8",
            "1.2.3.4",
            "::1",
            "::ffff:10.9.9.10",
        ] {
            assert!(!contains(&n, ip(other)), "{other}");
        }
    }

    #[test]
    fn mapped_networks_of_every_prefix_from_96_to_128() {
        for prefix in 96u8..=128 {
            let v4_prefix = prefix - 96;
            let text = format!("::ffff:0:0/{prefix}");
            let n = net(&text);
            assert_eq!(n.prefix_len(), v4_prefix, "{text}");
            assert!(matches!(n, IpNet::V4(_)), "{text}");
            assert!(contains(&n, ip("0.0.0.0")), "{text}");
            // 255.255.255.255 is inside only for /96 (every IPv4 address).
            assert_eq!(
                contains(&n, ip("255.255.255.255")),
                v4_prefix == 0,
                "{text}"
            );
            assert!(!contains(&n, ip("::1")), "{text}");
        }
        assert_eq!(net("::ffff:0:0/96").prefix_len(), 0);
        let n = net("::ffff:10.0.0.0/104");
        assert_eq!(n, net("10.0.0.0/8"));
        assert!(contains(&n, ip("10.1.2.3")));
        assert!(!contains(&n, ip("11.1.2.3")));
    }

    #[test]
    fn mapped_networks_built_with_ipnet_are_the_same_ipv4_networks() {
        let given: IpNet = "::ffff:10.0.0.0/104".parse().unwrap();
        assert_eq!(canonical(given), net("10.0.0.0/8"));
        let one = IpNet::from(ip("::ffff:10.9.9.9"));
        assert_eq!(canonical(one), net("10.9.9.9"));
        assert_eq!(canonical(net("::/0")), net("::/0"));
        assert_eq!(canonical(net("10.0.0.0/8")), net("10.0.0.0/8"));
    }

    #[test]
    fn a_mapped_network_below_96_is_an_ipv6_network() {
        let n = net("::/80");
        assert!(contains(&n, ip("::1")));
        assert!(matches!(n, IpNet::V6(_)));
        // IPv4 clients are compared as IPv4: an IPv6 network never holds them.
        assert!(!contains(&n, ip("10.0.0.1")));
        assert!(!contains(&n, ip("::ffff:10.0.0.1")));
    }

    #[test]
    fn zero_prefixes_are_everything_and_say_so() {
        for all in ["0.0.0.0/0", "::/0", "::ffff:0:0/96"] {
            assert_eq!(net(all).prefix_len(), 0, "{all}");
        }
        assert!(contains(&net("0.0.0.0/0"), ip("8.8.8.8")));
        assert!(!contains(&net("0.0.0.0/0"), ip("2001:db8::1")));
        assert!(contains(&net("::/0"), ip("2001:db8::1")));
        assert!(!contains(&net("::/0"), ip("8.8.8.8")));
    }

    #[test]
    fn host_bits_and_bad_prefixes_are_refused() {
        let err = parse_proxy_net("10.0.0.5/8").unwrap_err();
        assert!(err.to_string().contains("10.0.0.0/8"), "{err}");
        assert!(matches!(err, IpNetParseError::HostBitsSet { .. }));
        let err = parse_proxy_net("::ffff:10.0.0.5/104").unwrap_err();
        assert!(err.to_string().contains("10.0.0.0/8"), "{err}");
        assert!(matches!(
            err,
            IpNetParseError::HostBitsSet { prefix: 104, .. }
        ));
        for host_bits in ["fd00::1/8", "::ffff:0:0/80", "0.0.0.1/0", "::1/0"] {
            assert!(
                matches!(
                    parse_proxy_net(host_bits),
                    Err(IpNetParseError::HostBitsSet { .. })
                ),
                "{host_bits}"
            );
        }
        for long in [
            "10.0.0.0/33",
            "::/129",
            "::ffff:10.0.0.0/129",
            "1.2.3.4/300",
            "1.2.3.4/99999999999",
        ] {
            assert!(
                matches!(
                    parse_proxy_net(long),
                    Err(IpNetParseError::PrefixTooLong { .. })
                ),
                "{long}"
            );
        }
        for bad in [
            "",
            "host",
            "10.0.0.0/x",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "/8",
            "10.0.0.0/8/8",
        ] {
            assert!(
                matches!(parse_proxy_net(bad), Err(IpNetParseError::Syntax(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_prefix_of_every_family_without_overflow() {
        for prefix in 0u8..=255 {
            for (addr, max) in [
                ("10.1.2.3", 32),
                ("2001:db8::1", 128),
                ("::ffff:10.9.9.9", 128),
            ] {
                let Ok(given) = IpNet::new(ip(addr), prefix) else {
                    assert!(prefix > max, "{addr}/{prefix}");
                    continue;
                };
                let n = canonical(given);
                assert!(n.prefix_len() <= n.max_prefix_len());
                // ipnet ignores host bits when matching: the address is in its network.
                assert_eq!(
                    contains(&n, ip(addr)),
                    addr != "::ffff:10.9.9.9" || prefix >= 96,
                    "{addr}/{prefix}"
                );
                if addr == "::ffff:10.9.9.9" {
                    // Below 96 bits a mapped network is an IPv6 one, which holds no IPv4
                    // client; from 96 on, the IPv4 network it maps.
                    assert_eq!(contains(&n, ip("10.9.9.9")), prefix >= 96, "{prefix}");
                    if prefix >= 128 {
                        assert!(!contains(&n, ip("10.9.9.8")), "{prefix}");
                        assert!(!contains(&n, ip("127.0.0.1")), "{prefix}");
                    }
                }
                let text = format!("{addr}/{prefix}");
                let parsed = parse_proxy_net(&text);
                assert_eq!(parsed.is_ok(), n.trunc() == n, "{text}");
            }
        }
        for prefix in 0u16..=300 {
            for addr in [
                "10.1.2.3",
                "2001:db8::1",
                "::ffff:10.9.9.9",
                "0.0.0.0",
                "::",
            ] {
                let _ = parse_proxy_net(&format!("{addr}/{prefix}"));
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        #[test]
        fn never_panics_and_a_parsed_network_holds_its_own_address(
            text in "[0-9a-fA-F:./ ]{0,48}",
            bits in proptest::num::u128::ANY,
            v6 in proptest::bool::ANY,
            mapped in proptest::bool::ANY,
            prefix in proptest::num::u8::ANY,
            peer in proptest::num::u128::ANY,
        ) {
            if let Ok(n) = parse_proxy_net(&text) {
                proptest::prop_assert_eq!(n.trunc(), n);
                proptest::prop_assert!(contains(&n, n.addr()));
            }
            let addr = match (v6, mapped) {
                (true, true) => IpAddr::from(std::net::Ipv4Addr::from(bits as u32).to_ipv6_mapped()),
                (true, false) => IpAddr::from(std::net::Ipv6Addr::from(bits)),
                (false, _) => IpAddr::from(std::net::Ipv4Addr::from(bits as u32)),
            };
            let text = format!("{addr}/{prefix}");
            let parsed = parse_proxy_net(&text);
            match IpNet::new(addr, prefix) {
                Err(_) => proptest::prop_assert!(
                    matches!(parsed, Err(IpNetParseError::PrefixTooLong { .. })),
                    "{}", text
                ),
                Ok(given) => {
                    let n = canonical(given);
                    proptest::prop_assert_eq!(parsed.is_ok(), n.trunc() == n);
                    let mapped_below_96 = v6 && mapped && prefix < 96;
                    proptest::prop_assert_eq!(contains(&n, addr), !mapped_below_96);
                    let peer = IpAddr::from(std::net::Ipv6Addr::from(peer));
                    let _ = contains(&n, peer);
                }
            }
        }
    }
}
