//! Which address a request comes from, for rate limits: the socket's peer, unless the server is
//! configured to trust a proxy in front of it.

use std::net::IpAddr;
use std::str::FromStr;

use axum::extract::Request;
use axum::http::HeaderMap;

/// The client's address, as the runtime knows it. The Worker takes it from `CF-Connecting-IP`,
/// which Cloudflare sets, and inserts it as a request extension; it then wins over everything
/// below. The native server leaves it out, and the address comes from the socket and the
/// [`ClientIpSource`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// A block of addresses, `10.0.0.0/8` or `2001:db8::/32`; a bare address is a block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpBlock {
    network: IpAddr,
    prefix: u8,
}

impl IpBlock {
    /// Whether `ip` is in the block. IPv4 addresses mapped into IPv6 (`::ffff:10.0.0.1`) count as
    /// their IPv4 selves.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl FromStr for IpBlock {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network = canonical(
            addr.parse::<IpAddr>()
                .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?,
        );
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Self { network, prefix })
    }
}

/// Where the client's address is read from when the runtime does not give a [`ClientIp`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClientIpSource {
    /// The socket's peer; forwarding headers are ignored, since anyone can send them.
    #[default]
    Socket,
    /// `CF-Connecting-IP`, for a server that only Cloudflare reaches (the socket's peer when
    /// the header is absent or malformed).
    Cloudflare,
    /// `X-Forwarded-For` when the socket's peer is one of these proxies: the right-most
    /// address in it that is not a trusted proxy (the one the last trusted proxy saw).
    /// Addresses to its left were written by the client and prove nothing.
    TrustedProxies(Vec<IpBlock>),
}

impl ClientIpSource {
    /// The client's address of a request whose socket peer is `peer`.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        match self {
            Self::Socket => peer,
            Self::Cloudflare => headers
                .get("cf-connecting-ip")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(peer),
            Self::TrustedProxies(trusted) => {
                let is_trusted = |ip: IpAddr| trusted.iter().any(|b| b.contains(ip));
                if !is_trusted(peer) {
                    return peer;
                }
                let mut hops: Vec<&str> = Vec::new();
                for value in headers.get_all("x-forwarded-for") {
                    let Ok(text) = value.to_str() else {
                        return peer;
                    };
                    hops.extend(text.split(','));
                }
                let mut client = peer;
                for hop in hops.iter().rev() {
                    let Some(ip) = parse_hop(hop) else {
                        // A hop that is not an address: nothing left of it can be trusted.
                        break;
                    };
                    client = ip;
                    if !is_trusted(ip) {
                        break;
                    }
                }
                client
            }
        }
    }
}

/// One entry of `X-Forwarded-For`: an address, maybe with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok().map(canonical);
    }
    let (addr, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    addr.parse().ok().map(canonical)
}

/// The client's address of `req`: the runtime's [`ClientIp`], else the socket's peer resolved
/// through `source`; `None` when neither is known.
pub(crate) fn client_ip(req: &Request, source: &ClientIpSource) -> Option<IpAddr> {
    if let Some(ClientIp(ip)) = req.extensions().get::<ClientIp>() {
        return Some(*ip);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use axum::extract::ConnectInfo;
        req.extensions()
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|c| source.resolve(c.0.ip(), req.headers()))
    }
    #[cfg(target_arch = "wasm32")]
    {
        let _ = source;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn blocks_parse_and_contain() {
        let b: IpBlock = "10.0.0.0/8".parse().unwrap();
        assert!(b.contains(ip("10.200.1.2")));
        assert!(b.contains(ip("::ffff:10.0.0.1")));
        assert!(!b.contains(ip("11.0.0.1")));
        let one: IpBlock = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6: IpBlock = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::1")) && !v6.contains(ip("2001:db9::1")));
        let all: IpBlock = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        for bad in ["", "10.0.0.0/33", "example.com", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<IpBlock>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let source = ClientIpSource::TrustedProxies(vec!["10.0.0.0/8".parse().unwrap()]);
        let h = headers(&["198.51.100.1, 203.0.113.5, 10.0.0.3"]);
        assert_eq!(source.resolve(ip("10.0.0.2"), &h), ip("203.0.113.5"));
        assert_eq!(source.resolve(ip("192.0.2.1"), &h), ip("192.0.2.1"), "untrusted peer");
        let split = headers(&["198.51.100.1", "203.0.113.5:4711"]);
        assert_eq!(source.resolve(ip("10.0.0.2"), &split), ip("203.0.113.5"));
        assert_eq!(source.resolve(ip("10.0.0.2"), &headers(&[])), ip("10.0.0.2"));
        assert_eq!(
            source.resolve(ip("10.0.0.2"), &headers(&["garbage, 10.0.0.9"])),
            ip("10.0.0.9"),
            "stops at a malformed hop"
        );
        assert_eq!(ClientIpSource::Socket.resolve(ip("10.0.0.2"), &h), ip("10.0.0.2"));
    }

    #[test]
    fn cloudflare_reads_cf_connecting_ip() {
        let mut h = HeaderMap::new();
        h.insert("cf-connecting-ip", "203.0.113.7".parse().unwrap());
        assert_eq!(
            ClientIpSource::Cloudflare.resolve(ip("10.0.0.2"), &h),
            ip("203.0.113.7")
        );
        assert_eq!(
            ClientIpSource::Cloudflare.resolve(ip("10.0.0.2"), &HeaderMap::new()),
            ip("10.0.0.2")
        );
    }
}
