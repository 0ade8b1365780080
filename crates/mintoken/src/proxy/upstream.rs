//! The upstream HTTP client and the header rules at both edges of the proxy: what a
//! client's request may carry upstream, and what an upstream response may carry back.

use crate::config::Config;
use axum::http::{HeaderMap, HeaderName};

/// One pooled client for all providers: HTTP/1.1 and HTTP/2 (by ALPN) over rustls with
/// the ring provider, no redirects (a proxy relays them), no automatic decompression
/// (bodies are relayed as they come), Nagle off for low added latency.
pub fn client(config: &Config) -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(config.upstream_connect_timeout)
        .pool_idle_timeout(std::time::Duration::from_secs(90))
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| {
            // Building fails only when TLS cannot initialise at all; the proxy cannot work.
            panic!("cannot build the upstream HTTP client: {e}")
        })
}

/// The providers' base URLs, parsed once at start: parsing a whole URL (with host
/// normalisation) on every request cost more than the rest of the upstream request.
pub struct BaseUrls {
    openai: reqwest::Url,
    anthropic: reqwest::Url,
    google: reqwest::Url,
}

impl BaseUrls {
    /// Fails only for a URL the configuration would have rejected.
    pub fn new(config: &Config) -> Result<BaseUrls, String> {
        let parse = |url: &str| reqwest::Url::parse(url).map_err(|e| format!("upstream base URL {url:?}: {e}"));
        Ok(BaseUrls {
            openai: parse(&config.openai_base_url)?,
            anthropic: parse(&config.anthropic_base_url)?,
            google: parse(&config.google_base_url)?,
        })
    }

    /// `path` (`/v1/…`) appended to the provider's base URL (which may have a path of
    /// its own), with `query` (already encoded, possibly empty).
    pub fn url(&self, provider: &str, path: &str, query: &str) -> reqwest::Url {
        let mut url = match provider {
            "anthropic" => self.anthropic.clone(),
            "google" => self.google.clone(),
            _ => self.openai.clone(),
        };
        let joined = format!("{}{path}", url.path().trim_end_matches('/'));
        url.set_path(&joined);
        url.set_query((!query.is_empty()).then_some(query));
        url
    }
}

/// rustls needs a process-wide crypto provider; ring builds fast and is enough.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) never cross a proxy (this one, or `mintoken proxy`).
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Client headers that must not reach the provider: credentials (the mintoken key in
/// any accepted place, `X-Provider-Key` itself; the dialect writes the real one),
/// mintoken's own controls, and what the upstream connection sets for itself.
const NOT_FORWARDED: [&str; 8] = [
    "host",
    "content-length",
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "x-provider-key",
    "accept-encoding",
    "cookie",
];

pub fn request_headers(client: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(client.len());
    for (name, value) in client {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || NOT_FORWARDED.contains(&n) || n.starts_with("x-mintoken-") {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// Upstream response headers relayed to the client: all but hop-by-hop ones and the
/// length (the server recomputes it, and a relayed stream may differ in length).
pub fn response_headers(upstream: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(upstream.len() + 4);
    for (name, value) in upstream {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || n == "content-length" {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

pub fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/event-stream"))
}

pub fn header_name(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_keep_the_base_path_and_the_query() {
        let args = crate::cli::ServeArgs {
            openai_base_url: Some("http://gateway.test:8080/openai/".into()),
            google_base_url: Some("https://g.test".into()),
            ..Default::default()
        };
        let bases = BaseUrls::new(&Config::load(&args).unwrap()).unwrap();
        let url = bases.url("openai", "/v1/chat/completions", "");
        assert_eq!(url.as_str(), "http://gateway.test:8080/openai/v1/chat/completions");
        let url = bases.url("google", "/v1beta/models/gemini-2.5-flash:generateContent", "alt=sse&key=k%2B1");
        assert_eq!(url.as_str(), "https://g.test/v1beta/models/gemini-2.5-flash:generateContent?alt=sse&key=k%2B1");
    }

    #[test]
    fn strips_credentials_and_controls_but_keeps_provider_headers() {
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("authorization", "Bearer mt_live_x"),
            ("x-provider-key", "sk-secret"),
            ("x-mintoken-intensity", "lite"),
            ("connection", "keep-alive"),
            ("openai-organization", "org-1"),
            ("anthropic-version", "2023-06-01"),
            ("user-agent", "OpenAI/Python 1.0"),
        ] {
            h.insert(HeaderName::from_static(n), v.parse().unwrap());
        }
        let out = request_headers(&h);
        let names: Vec<_> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["openai-organization", "anthropic-version", "user-agent"]);
    }
}
