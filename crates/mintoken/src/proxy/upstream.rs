//! The upstream HTTP client and the header rules at both edges of the proxy: what a
//! client's request may carry upstream, and what an upstream response may carry back.

use crate::config::Config;
use axum::http::uri::{Authority, PathAndQuery, Scheme};
use axum::http::{HeaderMap, HeaderName, Request, Response, Uri};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::time::Duration;

/// How long an idle pooled connection to a provider is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

pub type UpstreamResponse = Response<Incoming>;

/// The proxy's client for the providers: one pool, HTTP/1.1 and HTTP/2 (by ALPN) over
/// rustls with the ring provider and the platform's certificate verifier, Nagle off.
/// hyper's own client rather than reqwest: on a request path where mintoken's whole
/// cost is tens of microseconds, reqwest's URL handling and request/response wrapping
/// were a fifth of it (docs/BENCHMARKS.md). Nothing else is needed here: no redirects
/// (a proxy relays them), no decompression (bodies are relayed as they come), no
/// cookies, no default headers.
#[derive(Clone)]
pub struct UpstreamClient {
    inner: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl UpstreamClient {
    /// Fails only when the platform's certificate store cannot be read.
    pub fn new(config: &Config) -> Result<UpstreamClient, String> {
        install_crypto_provider();
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.upstream_connect_timeout));
        // The TLS layer below takes https URLs; plain http stays allowed (local gateways, tests).
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .try_with_platform_verifier()
            .map_err(|e| format!("cannot load the platform's TLS certificate verifier: {e}"))?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .build(https);
        Ok(UpstreamClient { inner })
    }

    pub async fn send(&self, request: Request<Full<Bytes>>) -> Result<UpstreamResponse, UpstreamError> {
        self.inner.request(request).await.map_err(UpstreamError)
    }
}

/// A failed upstream request. Its text never holds the URL (which may carry a provider
/// key in `?key=`): hyper's errors do not include it.
#[derive(Debug)]
pub struct UpstreamError(hyper_util::client::legacy::Error);

impl UpstreamError {
    pub fn is_connect(&self) -> bool {
        self.0.is_connect()
    }
}

impl std::fmt::Display for UpstreamError {
    /// The whole cause chain on one line ("client error (Connect): tcp connect error: Connection refused").
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = std::error::Error::source(&self.0);
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

/// A reqwest client with the same settings, for the playground (which calls the
/// providers off the hot path, and user-chosen base URLs through its own resolver).
pub fn reqwest_client(config: &Config) -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(config.upstream_connect_timeout)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| {
            // Building fails only when TLS cannot initialise at all; the proxy cannot work.
            panic!("cannot build the upstream HTTP client: {e}")
        })
}

/// One provider's base URL, split once at start into what every request reuses.
struct BaseUrl {
    scheme: Scheme,
    authority: Authority,
    /// The base URL's own path without its trailing `/` (often empty).
    path: String,
}

/// The providers' base URLs, parsed once at start: parsing a whole URL (with host
/// normalisation) on every request cost more than the rest of the upstream request.
pub struct BaseUrls {
    openai: BaseUrl,
    anthropic: BaseUrl,
    google: BaseUrl,
}

impl BaseUrls {
    /// Fails only for a URL the configuration would have rejected.
    pub fn new(config: &Config) -> Result<BaseUrls, String> {
        let parse = |raw: &str| -> Result<BaseUrl, String> {
            let invalid = |e: &dyn std::fmt::Display| format!("upstream base URL {raw:?}: {e}");
            let url = reqwest::Url::parse(raw).map_err(|e| invalid(&e))?;
            let host = url.host_str().ok_or_else(|| invalid(&"no host"))?;
            let authority = match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            };
            Ok(BaseUrl {
                scheme: Scheme::try_from(url.scheme()).map_err(|e| invalid(&e))?,
                authority: Authority::try_from(authority).map_err(|e| invalid(&e))?,
                path: url.path().trim_end_matches('/').to_owned(),
            })
        };
        Ok(BaseUrls {
            openai: parse(&config.openai_base_url)?,
            anthropic: parse(&config.anthropic_base_url)?,
            google: parse(&config.google_base_url)?,
        })
    }

    /// `path` (`/v1/…`, possibly holding a client-chosen model name) appended to the
    /// provider's base URL, with `query` (already encoded, possibly empty). Characters
    /// that may not appear in a URL path are percent-encoded, so a model name can never
    /// end the path or start a query.
    pub fn uri(&self, provider: &str, path: &str, query: &str) -> Result<Uri, String> {
        let base = match provider {
            "anthropic" => &self.anthropic,
            "google" => &self.google,
            _ => &self.openai,
        };
        let mut target = String::with_capacity(base.path.len() + path.len() + query.len() + 1);
        target.push_str(&base.path);
        encode_path(path, &mut target);
        if !query.is_empty() {
            target.push('?');
            target.push_str(query);
        }
        let path_and_query = PathAndQuery::try_from(target).map_err(|e| format!("invalid upstream path: {e}"))?;
        Uri::builder()
            .scheme(base.scheme.clone())
            .authority(base.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|e| format!("invalid upstream URL: {e}"))
    }
}

/// Appends `path`, percent-encoding every byte outside RFC 3986's `pchar` and `/`
/// (`%` itself is kept, as the URL standard does for paths).
fn encode_path(path: &str, out: &mut String) {
    for &byte in path.as_bytes() {
        let allowed = byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&byte);
        if allowed {
            out.push(byte as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[(byte >> 4) as usize]));
            out.push(char::from(b"0123456789ABCDEF"[(byte & 15) as usize]));
        }
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
        let url = bases.uri("openai", "/v1/chat/completions", "").unwrap();
        assert_eq!(url.to_string(), "http://gateway.test:8080/openai/v1/chat/completions");
        let url = bases.uri("google", "/v1beta/models/gemini-2.5-flash:generateContent", "alt=sse&key=k%2B1").unwrap();
        assert_eq!(url.to_string(), "https://g.test/v1beta/models/gemini-2.5-flash:generateContent?alt=sse&key=k%2B1");
    }

    #[test]
    fn a_model_name_cannot_leave_the_path() {
        let bases = BaseUrls::new(&Config::load(&Default::default()).unwrap()).unwrap();
        let url = bases.uri("google", "/v1beta/models/x?key=stolen#f é\"\n:generateContent", "alt=sse").unwrap();
        assert_eq!(
            url.to_string(),
            "https://generativelanguage.googleapis.com/v1beta/models/x%3Fkey=stolen%23f%20%C3%A9%22%0A:generateContent?alt=sse"
        );
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
