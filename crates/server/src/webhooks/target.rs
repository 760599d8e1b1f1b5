//! Where a delivery may go: the URL's rules, and the addresses its host resolves to, each
//! checked against the SSRF rule (`vytalcall_domain::webhook::classify`). The check runs when
//! an endpoint is created and again before every request, and the request is pinned to the
//! addresses that were checked, so a name that resolves to a public address at creation and
//! to 127.0.0.1 later (DNS rebinding) is refused too. Redirects are never followed.

use reqwest::Url;
use std::net::{IpAddr, SocketAddr};
use vytalcall_domain::webhook::{AddressClass, may_deliver_to};

/// A URL an endpoint may have: `http` or `https`, a host, no user name or password, at most
/// 2,000 characters.
pub fn parse_url(text: &str) -> Result<Url, &'static str> {
    if text.len() > 2000 {
        return Err("must be at most 2000 characters");
    }
    let url = Url::parse(text).map_err(|_| "must be an absolute http or https URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http or https URL");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password");
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment");
    }
    Ok(url)
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{0}")]
    Url(&'static str),
    #[error("the host does not resolve")]
    Unresolved,
    #[error("the host resolves to a {} address ({addr}); set WEBHOOK_ALLOW_PRIVATE=true to allow it", class.as_str())]
    Refused { addr: IpAddr, class: AddressClass },
}

/// The URL's host and every address it resolves to, if all of them may be reached.
pub async fn resolve(url: &Url, allow_private: bool) -> Result<(String, Vec<SocketAddr>), TargetError> {
    let host = url.host_str().ok_or(TargetError::Url("must name a host"))?.to_string();
    let port = url
        .port_or_known_default()
        .ok_or(TargetError::Url("must name a port"))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|_| TargetError::Unresolved)?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(TargetError::Unresolved);
    }
    for a in &addrs {
        may_deliver_to(a.ip(), allow_private).map_err(|class| TargetError::Refused { addr: a.ip(), class })?;
    }
    Ok((bare.to_string(), addrs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_and_https_urls_with_a_host_are_accepted() {
        assert!(parse_url("https://hooks.example.com/vytalcall").is_ok());
        assert!(parse_url("ftp://example.com/").is_err());
        assert!(parse_url("https://user:pw@example.com/").is_err());
        assert!(parse_url("/relative").is_err());
        assert!(parse_url("https://example.com/#frag").is_err());
    }

    #[tokio::test]
    async fn loopback_private_and_metadata_addresses_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:9/",
            "http://[::1]/",
            "http://169.254.169.254/",
            "http://10.0.0.1/",
            "http://localhost:9/",
        ] {
            let url = parse_url(url).expect("a valid URL");
            assert!(
                matches!(resolve(&url, false).await, Err(TargetError::Refused { .. })),
                "{url}"
            );
        }
        let local = parse_url("http://127.0.0.1:9/").expect("a valid URL");
        assert!(resolve(&local, true).await.is_ok());
    }
}
