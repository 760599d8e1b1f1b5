//! Who the client is when vytalcall runs behind a reverse proxy (`TRUSTED_PROXIES`).
//!
//! Behind nginx every TCP peer is nginx, so a per-address rate limit would lump all clients
//! together and the audit trail would record nginx's address. A proxy names the client in
//! `Forwarded` (RFC 7239) or `X-Forwarded-For`, but any client can send those headers too, so
//! they are believed only from a trusted peer, and only as far as the chain of trusted hops
//! goes: walking the list from the right (the hop nearest to us), each trusted hop is
//! skipped and the first untrusted one is the client. A client behind the proxy that sends
//! its own `X-Forwarded-For: 1.2.3.4` only adds hops to the left of the one the proxy
//! appended, which is never reached.
//!
//! The layer replaces the request's `ConnectInfo<SocketAddr>` with the resolved client, so
//! every consumer (the REST and handshake limits, the audit trail, the logs) sees the same
//! address without knowing about proxies. With no trusted proxy (the default) nothing changes.

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The networks whose forwarding headers are believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

impl TrustedProxies {
    /// Parses `TRUSTED_PROXIES`: comma-separated CIDRs or single addresses.
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        let nets = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{s:?} is not an address or CIDR"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustedProxies(Arc::new(nets)))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`, given the request's forwarding headers.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_hops(headers);
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) => {
                    client = *ip;
                    if !self.trusts(*ip) {
                        break;
                    }
                }
                // A hop a trusted proxy passed on but nobody can read (`unknown`, an
                // obfuscated name, garbage): the last address we could trust is all we know.
                None => break,
            }
        }
        client
    }
}

/// An IPv4 address seen through an IPv6 socket (`::ffff:10.0.0.1`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The hops named by `Forwarded` (preferred, RFC 7239) or else `X-Forwarded-For`, left to
/// right across every instance of the header; `None` for a hop that is not an address.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, value)| parse_node(value.trim().trim_matches('"')))
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().ok())
        .flat_map(|v| v.unwrap_or("\u{0}").split(','))
        .map(|hop| parse_node(hop.trim()))
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711` or `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(canonical(addr.ip()));
    }
    let bracketed = node.strip_prefix('[')?.split(']').next()?;
    bracketed.parse::<IpAddr>().ok().map(canonical)
}

/// Middleware: replaces the peer address with the client's, as `TrustedProxies` resolves it.
pub async fn resolve(State(proxies): State<TrustedProxies>, mut req: Request, next: Next) -> Response {
    if !proxies.is_empty()
        && let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied()
    {
        let client = proxies.client(peer.ip(), req.headers());
        if client != peer.ip() {
            req.extensions_mut().insert(ConnectInfo(SocketAddr::new(client, 0)));
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().expect("header value"));
        }
        h
    }

    fn nginx() -> TrustedProxies {
        TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").expect("valid")
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(nginx().client(ip("203.0.113.9"), &h), ip("203.0.113.9"));
        assert_eq!(TrustedProxies::default().client(ip("10.0.0.2"), &h), ip("10.0.0.2"));
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
        // The client forged "1.2.3.4"; nginx appended the address it really saw.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7")]);
        assert_eq!(nginx().client(ip("10.0.0.2"), &h), ip("198.51.100.7"));
        // Two trusted proxies in a row are both skipped.
        let h = headers(&[("x-forwarded-for", "198.51.100.7, 10.1.2.3")]);
        assert_eq!(nginx().client(ip("10.0.0.2"), &h), ip("198.51.100.7"));
        // Several header lines count as one list.
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(nginx().client(ip("10.0.0.2"), &h), ip("198.51.100.7"));
    }

    #[test]
    fn forwarded_is_preferred_and_understands_ports_brackets_and_quotes() {
        let h = headers(&[
            ("forwarded", r#"for=1.2.3.4, for="[2001:db8::7]:4711";proto=https"#),
            ("x-forwarded-for", "9.9.9.9"),
        ]);
        assert_eq!(nginx().client(ip("10.0.0.2"), &h), ip("2001:db8::7"));
        let h = headers(&[("forwarded", "for=198.51.100.7:3000;by=10.0.0.2")]);
        assert_eq!(nginx().client(ip("10.0.0.2"), &h), ip("198.51.100.7"));
    }

    #[test]
    fn an_unreadable_hop_stops_the_walk_at_the_last_trusted_address() {
        let h = headers(&[("x-forwarded-for", "198.51.100.7, unknown, 10.1.2.3")]);
        assert_eq!(nginx().client(ip("10.0.0.2"), &h), ip("10.1.2.3"));
        let h = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(nginx().client(ip("10.0.0.2"), &h), ip("10.0.0.2"));
    }

    #[test]
    fn a_trusted_peer_without_headers_is_itself_the_client() {
        assert_eq!(nginx().client(ip("10.0.0.2"), &HeaderMap::new()), ip("10.0.0.2"));
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_networks() {
        let h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(nginx().client(ip("::ffff:10.0.0.2"), &h), ip("198.51.100.7"));
    }

    #[test]
    fn a_bad_list_names_the_entry() {
        assert!(TrustedProxies::parse("10.0.0.0/8,,  ").is_ok());
        let e = TrustedProxies::parse("10.0.0.0/8, nginx").expect_err("not an address");
        assert!(e.contains("nginx"), "{e}");
    }
}
