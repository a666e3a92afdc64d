//! Who is calling: the client's IP address, decided once per request and put in the request's
//! extensions as [`app::ClientIp`] (the sign-in's per-address code limit reads it). Behind a
//! load balancer every connection comes from the balancer, so when the peer is one of the
//! configured `trusted_proxies`, the client is the nearest address in `X-Forwarded-For` that is
//! not a trusted proxy; from anyone else the header is ignored (it could be forged).

use std::net::{IpAddr, SocketAddr};

use app::ClientIp;
use axum::extract::{ConnectInfo, Request};

/// The proxies whose `X-Forwarded-For` we believe (config `trusted_proxies`).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub std::sync::Arc<Vec<IpAddr>>);

/// The client behind `peer`, given the request's `X-Forwarded-For` values (in header order).
pub fn client_ip(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    // Right to left: each trusted hop appended the address it saw.
    let hops = forwarded_for.iter().flat_map(|v| v.split(',')).map(str::trim).collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return ip,
            Err(_) => return peer, // a garbled header: believe only the connection
        }
    }
    peer
}

/// The request's client, for its extensions; `None` when the connection's address is unknown
/// (a request built in-process).
pub fn of(req: &Request, trusted: &TrustedProxies) -> Option<ClientIp> {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>()?.0.ip();
    let values: Vec<&str> = req.headers().get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
    Some(ClientIp(client_ip(peer, &values, &trusted.0).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forwarded_address_counts_only_from_a_trusted_proxy() {
        let lb: IpAddr = "127.0.0.1".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let trusted = vec![lb];
        assert_eq!(client_ip(lb, &["203.0.113.7"], &trusted), client);
        assert_eq!(client_ip(lb, &["198.51.100.1, 203.0.113.7"], &trusted), client, "the nearest untrusted hop, not a forged first one");
        assert_eq!(client_ip(lb, &["203.0.113.7, 127.0.0.1"], &trusted), client, "trusted hops are skipped");
        assert_eq!(client_ip(lb, &[], &trusted), lb);
        assert_eq!(client_ip(lb, &["not-an-ip"], &trusted), lb);
        let stranger: IpAddr = "192.0.2.9".parse().unwrap();
        assert_eq!(client_ip(stranger, &["203.0.113.7"], &trusted), stranger, "anyone else's header is ignored");
    }
}
