//! `custom_base_url` makes the server call an address a user chose: server-side request
//! forgery unless it is fenced. The fence: `http`/`https` only, no credentials in the URL,
//! and a host whose every address is public — unless the operator sets
//! `playground_allow_private_base_urls`. The host is resolved and checked before anything
//! is sent (for a clear 400), and the client that calls these URLs checks again with its
//! own resolver when it connects, so a DNS answer that changes in between (rebinding)
//! cannot reach an internal address either. That client ignores proxy environment
//! variables (a proxy would resolve the host itself) and follows no redirects.

use crate::config::Config;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const ALLOW_HINT: &str = "the playground only calls public addresses (an operator can allow private ones with playground_allow_private_base_urls = true)";

/// Checks `raw` and returns the base URL to append `/v1/chat/completions` to. A
/// trailing `/v1` is accepted (as OpenAI SDKs write base URLs) and dropped.
pub async fn check(raw: &str, allow_private: bool) -> Result<String, String> {
    let url = Url::parse(raw)
        .map_err(|e| format!("`custom_base_url` is not a valid URL ({e}); e.g. \"https://llm.example.com\""))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`custom_base_url` must use http or https, not {:?}", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "`custom_base_url` must not contain a user name or password; the provider key is sent as a Bearer token"
                .to_owned(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("`custom_base_url` must not have a query string or fragment".to_owned());
    }
    let port = url.port_or_known_default().unwrap_or(80);
    // The URL parser has already put IP hosts in canonical form (`0x7f.1` → `127.0.0.1`).
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or("`custom_base_url` has no host")?;
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    match literal.parse::<IpAddr>() {
        Ok(ip) => refuse_literal(ip, allow_private)?,
        Err(_) => {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
                .await
                .map_err(|_| format!("`custom_base_url` host {host:?} cannot be resolved"))?
                .collect();
            if addrs.is_empty() {
                return Err(format!("`custom_base_url` host {host:?} has no addresses"));
            }
            // Which kind of address it was is not said: that would map internal DNS.
            if !allow_private && addrs.iter().any(|a| non_public(a.ip()).is_some()) {
                return Err(format!("`custom_base_url` host {host:?} resolves to a non-public address; {ALLOW_HINT}"));
            }
        }
    }
    let base = url.as_str().trim_end_matches('/');
    Ok(base.strip_suffix("/v1").unwrap_or(base).to_owned())
}

fn refuse_literal(ip: IpAddr, allow_private: bool) -> Result<(), String> {
    match non_public(ip) {
        Some(kind) if !allow_private => {
            Err(format!("`custom_base_url` points at {ip}, a {kind} address; {ALLOW_HINT}"))
        }
        _ => Ok(()),
    }
}

/// The client for custom base URLs: like the proxy's upstream client, plus the resolver
/// fence, no proxy and no redirects.
pub fn client(config: &Config) -> reqwest::Client {
    crate::proxy::upstream::install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(config.upstream_connect_timeout)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(FencedResolver { allow_private: config.playground_allow_private_base_urls })
        .build()
        .unwrap_or_else(|e| {
            // Building fails only when TLS cannot initialise at all; nothing could work.
            panic!("cannot build the playground's HTTP client: {e}")
        })
}

/// Resolves like the system does, then refuses a host with any non-public address.
struct FencedResolver {
    allow_private: bool,
}

impl Resolve for FencedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private && addrs.iter().any(|a| non_public(a.ip()).is_some()) {
                return Err("refused: the host resolves to a non-public address".into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// What kind of non-public address `ip` is, if it is one: loopback, private, link-local
/// (cloud metadata services live there), and the other ranges no public API uses. IPv6
/// forms that embed an IPv4 address are judged by that address.
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if a == 0 {
        Some("unspecified")
    } else if a == 100 && (b & 0xc0) == 64 {
        Some("shared (carrier-grade NAT)")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 || (a == 192 && b == 0 && c == 0) {
        Some("reserved")
    } else if a == 198 && (b & 0xfe) == 18 {
        Some("benchmarking")
    } else {
        None
    }
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return non_public_v4(v4);
    }
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| non_public_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if (s[0] & 0xfe00) == 0xfc00 {
        Some("private (unique local)")
    } else if (s[0] & 0xffc0) == 0xfe80 || (s[0] & 0xffc0) == 0xfec0 {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("reserved")
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || s[..6] == [0; 6] {
        // NAT64 (64:ff9b::/96) and the old IPv4-compatible form (::a.b.c.d).
        embedded(s[6], s[7])
    } else if s[0] == 0x2002 {
        // 6to4 carries the IPv4 address in the next 32 bits.
        embedded(s[1], s[2])
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_ranges_an_attacker_would_aim_at() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:c0a8:0101::1",
        ] {
            assert!(non_public(ip.parse().unwrap()).is_some(), "{ip} must be refused");
        }
        for ip in ["8.8.8.8", "104.18.6.192", "2606:4700::6812:6c0", "64:ff9b::808:808", "::ffff:1.1.1.1"] {
            assert_eq!(non_public(ip.parse().unwrap()), None, "{ip} is public");
        }
    }

    #[tokio::test]
    async fn refuses_other_schemes_credentials_and_private_hosts() {
        for (url, expected) in [
            ("ftp://example.com", "http or https"),
            ("file:///etc/passwd", "http or https"),
            ("not a url", "not a valid URL"),
            ("http://user:pw@example.com", "user name or password"),
            ("http://example.com/?a=1", "query string"),
            ("http://127.0.0.1:8080", "loopback"),
            ("http://[::1]/v1", "loopback"),
            ("http://169.254.169.254/latest", "link-local"),
            ("http://10.0.0.7", "private"),
            ("http://localhost:1234", "non-public address"),
        ] {
            let message = check(url, false).await.err().unwrap_or_else(|| panic!("{url} must be refused"));
            assert!(message.contains(expected), "{url}: {message}");
        }
    }

    /// The second check, at connection time, catches a name that resolved to a public
    /// address during the first check and to a private one afterwards (DNS rebinding).
    #[tokio::test]
    async fn the_client_resolver_refuses_non_public_hosts_when_connecting() {
        let fenced = FencedResolver { allow_private: false };
        assert!(fenced.resolve("localhost".parse().unwrap()).await.is_err());
        let open = FencedResolver { allow_private: true };
        assert!(open.resolve("localhost".parse().unwrap()).await.is_ok());
    }

    #[tokio::test]
    async fn normalises_the_base_and_allows_private_hosts_when_configured() {
        assert_eq!(check("http://127.0.0.1:8080/v1/", true).await.unwrap(), "http://127.0.0.1:8080");
        assert_eq!(check("http://[::1]:9000/openai/v1", true).await.unwrap(), "http://[::1]:9000/openai");
        assert_eq!(check("https://93.184.215.14", false).await.unwrap(), "https://93.184.215.14");
    }
}
