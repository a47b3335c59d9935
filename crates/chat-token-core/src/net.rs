//! [`IpNet`]: the networks a trusted proxy may call from.
//!
//! An IPv4 client reached over a dual-stack socket shows up as an IPv4-mapped IPv6
//! address (`::ffff:10.0.0.5`), and deployers copy that form from their logs. Both forms
//! therefore mean the same network here: a mapped network (`::ffff:10.0.0.0/104`) is
//! stored as the IPv4 network it stands for (`10.0.0.0/8`), and a client address is
//! compared in its canonical form. All prefix arithmetic is checked: no prefix, in any
//! form, can turn into a mask that matches every address by accident.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP network: an address and a prefix length (`10.0.0.0/8`, `::1/128`). A plain
/// address is a network of one; an IPv4-mapped IPv6 network is the IPv4 network it maps.
///
/// ```
/// use chat_token_core::IpNet;
///
/// let net: IpNet = "::ffff:10.9.9.9".parse()?;
/// assert_eq!(net.to_string(), "10.9.9.9/32");
/// assert!(net.contains("10.9.9.9".parse().unwrap()));
/// assert!(!net.contains("10.9.9.8".parse().unwrap()));
/// # Ok::<(), chat_token_core::IpNetParseError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// Why an [`IpNet`] did not parse. The message says what was expected.
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

/// The mask of the `prefix` leading bits of a `BITS`-bit number, for `prefix <= BITS`.
fn mask128(prefix: u8, bits: u32) -> u128 {
    let host_bits = bits.saturating_sub(u32::from(prefix));
    let all = if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    all.checked_shr(host_bits)
        .and_then(|m| m.checked_shl(host_bits))
        .unwrap_or(0)
        & all
}

/// The IPv4 address a mapped IPv6 address stands for (not the deprecated compatible
/// form `::a.b.c.d`, which `to_ipv4_mapped` also leaves alone).
fn mapped(addr: Ipv6Addr) -> Option<Ipv4Addr> {
    addr.to_ipv4_mapped()
}

impl IpNet {
    /// The network `addr/prefix`. A prefix longer than the address is capped at its
    /// length, bits below the prefix are cleared, and an IPv4-mapped network of prefix
    /// 96 or more becomes the IPv4 network it maps (`::ffff:10.0.0.0/104` is
    /// `10.0.0.0/8`).
    pub fn new(addr: IpAddr, prefix: u8) -> Self {
        let (addr, prefix) = match addr {
            IpAddr::V4(v4) => (IpAddr::V4(v4), prefix.min(32)),
            IpAddr::V6(v6) => {
                let prefix = prefix.min(128);
                match (mapped(v6), prefix.checked_sub(96)) {
                    (Some(v4), Some(v4_prefix)) => (IpAddr::V4(v4), v4_prefix),
                    _ => (IpAddr::V6(v6), prefix),
                }
            }
        };
        let addr = match addr {
            IpAddr::V4(v4) => {
                let bits = u128::from(u32::from(v4)) & mask128(prefix, 32);
                IpAddr::V4(Ipv4Addr::from(u32::try_from(bits).unwrap_or(0)))
            }
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask128(prefix, 128))),
        };
        Self { addr, prefix }
    }

    /// The network address (host bits cleared; IPv4 for mapped networks).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length, in bits of [`addr`](Self::addr).
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// How many addresses the network holds, as a power of two (`32` for an IPv4 `/0`).
    pub fn host_bits(&self) -> u8 {
        let max: u8 = if self.addr.is_ipv4() { 32 } else { 128 };
        max.saturating_sub(self.prefix)
    }

    /// Whether the network is every address of its family (`0.0.0.0/0`, `::/0`, and
    /// `::ffff:0:0/96`, which is every IPv4 address).
    pub fn is_everything(&self) -> bool {
        self.prefix == 0
    }

    /// Whether `ip` is in the network. IPv4-mapped IPv6 addresses count as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask128(self.prefix, 32);
                u128::from(u32::from(net)) & mask == u128::from(u32::from(ip)) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask128(self.prefix, 128);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl From<IpAddr> for IpNet {
    /// The network of one address.
    fn from(addr: IpAddr) -> Self {
        Self::new(addr, 128)
    }
}

impl std::str::FromStr for IpNet {
    type Err = IpNetParseError;

    /// Parses `ADDR` or `ADDR/PREFIX`. Refuses a prefix longer than the address and bits
    /// set below the prefix (`10.0.0.5/8`), which is a typo either way.
    fn from_str(s: &str) -> Result<Self, IpNetParseError> {
        let input = s.trim();
        let syntax = || IpNetParseError::Syntax(s.to_owned());
        let (addr, prefix) = match input.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (input, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| syntax())?;
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                let value: u16 = p.parse().map_err(|_| IpNetParseError::PrefixTooLong {
                    input: s.to_owned(),
                    prefix: u16::MAX,
                    max,
                })?;
                u8::try_from(value)
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| IpNetParseError::PrefixTooLong {
                        input: s.to_owned(),
                        prefix: value,
                        max,
                    })?
            }
            Some(_) => return Err(syntax()),
        };
        let host_bits_clear = match addr {
            IpAddr::V4(v4) => {
                let bits = u128::from(u32::from(v4));
                bits & mask128(prefix, 32) == bits
            }
            IpAddr::V6(v6) => u128::from(v6) & mask128(prefix, 128) == u128::from(v6),
        };
        let net = Self::new(addr, prefix);
        if !host_bits_clear {
            return Err(IpNetParseError::HostBitsSet {
                input: s.to_owned(),
                prefix,
                network: net.to_string(),
            });
        }
        Ok(net)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn plain_networks() {
        let n = net("10.0.0.0/8");
        assert!(n.contains(ip("10.200.3.4")));
        assert!(!n.contains(ip("11.0.0.1")));
        assert!(n.contains(ip("::ffff:10.1.2.3")));
        let one = net("::1");
        assert!(one.contains(ip("::1")));
        assert!(!one.contains(ip("::2")));
        let v6 = net("fd00::/8");
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        assert_eq!(net("127.0.0.1").to_string(), "127.0.0.1/32");
        assert_eq!(net(" 192.168.0.0/16 ").to_string(), "192.168.0.0/16");
    }

    #[test]
    fn a_mapped_address_is_that_ipv4_address_only() {
        let n = net("::ffff:10.9.9.9");
        assert_eq!(n, net("10.9.9.9"));
        assert_eq!(n.to_string(), "10.9.9.9/32");
        assert!(n.contains(ip("10.9.9.9")));
        assert!(n.contains(ip("::ffff:10.9.9.9")));
        for other in [
            "127.0.0.1",
            "10.9.9.8",
            "1.2.3.4",
            "::1",
            "::ffff:10.9.9.10",
        ] {
            assert!(!n.contains(ip(other)), "{other}");
        }
    }

    #[test]
    fn mapped_networks_of_every_prefix_from_96_to_128() {
        for prefix in 96u8..=128 {
            let v4_prefix = prefix - 96;
            let text = format!("::ffff:0:0/{prefix}");
            let n = net(&text);
            assert_eq!(n.prefix(), v4_prefix, "{text}");
            assert!(n.addr().is_ipv4(), "{text}");
            assert!(n.contains(ip("0.0.0.0")), "{text}");
            // 255.255.255.255 is inside only for /96 (every IPv4 address).
            assert_eq!(n.contains(ip("255.255.255.255")), v4_prefix == 0, "{text}");
            assert!(!n.contains(ip("::1")), "{text}");
        }
        assert!(net("::ffff:0:0/96").is_everything());
        let n = net("::ffff:10.0.0.0/104");
        assert_eq!(n, net("10.0.0.0/8"));
        assert!(n.contains(ip("10.1.2.3")));
        assert!(!n.contains(ip("11.1.2.3")));
    }

    #[test]
    fn a_mapped_network_below_96_is_an_ipv6_network() {
        let n = net("::/80");
        assert!(n.contains(ip("::1")));
        assert!(n.addr().is_ipv6());
        // IPv4 clients are compared as IPv4: an IPv6 network never holds them.
        assert!(!n.contains(ip("10.0.0.1")));
        assert!(!n.contains(ip("::ffff:10.0.0.1")));
    }

    #[test]
    fn zero_prefixes_are_everything_and_say_so() {
        for all in ["0.0.0.0/0", "::/0", "::ffff:0:0/96"] {
            let n = net(all);
            assert!(n.is_everything(), "{all}");
        }
        assert!(net("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(!net("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(net("::/0").contains(ip("2001:db8::1")));
        assert!(!net("::/0").contains(ip("8.8.8.8")));
        assert_eq!(net("10.0.0.0/8").host_bits(), 24);
    }

    #[test]
    fn host_bits_and_bad_prefixes_are_refused() {
        let err = "10.0.0.5/8".parse::<IpNet>().unwrap_err();
        assert!(err.to_string().contains("10.0.0.0/8"), "{err}");
        assert!(matches!(err, IpNetParseError::HostBitsSet { .. }));
        assert!(matches!(
            "::ffff:10.0.0.5/104".parse::<IpNet>(),
            Err(IpNetParseError::HostBitsSet { .. })
        ));
        assert!(matches!(
            "fd00::1/8".parse::<IpNet>(),
            Err(IpNetParseError::HostBitsSet { .. })
        ));
        for long in [
            "10.0.0.0/33",
            "::/129",
            "::ffff:10.0.0.0/129",
            "1.2.3.4/300",
            "1.2.3.4/99999999999",
        ] {
            assert!(
                matches!(
                    long.parse::<IpNet>(),
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
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn new_caps_and_clears_without_overflow() {
        for prefix in [0u8, 1, 31, 32, 33, 96, 127, 128, 129, 255] {
            let v4 = IpNet::new(ip("10.1.2.3"), prefix);
            assert!(v4.prefix() <= 32);
            assert!(v4.contains(ip("10.1.2.3")), "{prefix}");
            let v6 = IpNet::new(ip("2001:db8::1"), prefix);
            assert!(v6.prefix() <= 128);
            assert!(v6.contains(ip("2001:db8::1")), "{prefix}");
            let mapped = IpNet::new(ip("::ffff:10.9.9.9"), prefix);
            // Below 96 bits a mapped network is an IPv6 one, which holds no IPv4 client.
            assert_eq!(mapped.contains(ip("10.9.9.9")), prefix >= 96, "{prefix}");
            if prefix >= 128 {
                assert!(!mapped.contains(ip("10.9.9.8")), "{prefix}");
                assert!(!mapped.contains(ip("127.0.0.1")), "{prefix}");
            }
        }
        assert_eq!(IpNet::from(ip("::ffff:10.9.9.9")), net("10.9.9.9"));
        assert_eq!(IpNet::new(ip("10.1.2.3"), 8).to_string(), "10.0.0.0/8");
    }
}
