//! Header rules of the local proxy. Unlike `serve`, the client's own credentials are the
//! upstream credentials here, so `Authorization`, `x-api-key`, `anthropic-version`,
//! `anthropic-beta` and every other end-to-end header travel unchanged. Only what belongs
//! to one connection is dropped (RFC 9110 §7.6.1), plus what the outgoing connection sets
//! for itself.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// Hop-by-hop headers: never forwarded, in either direction.
use crate::proxy::upstream::HOP_BY_HOP;

/// The names a `Connection` header lists are hop-by-hop for this message too.
fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(axum::http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect()
}

fn is_hop_by_hop(name: &str, listed: &[String]) -> bool {
    HOP_BY_HOP.contains(&name) || listed.iter().any(|l| l == name)
}

/// Headers sent upstream: the client's, minus hop-by-hop ones, `Host` (rewritten for the
/// upstream by the client library), `Content-Length` (recomputed: the body may have been
/// compressed), `Expect` (the proxy has read the whole body already) and `Accept-Encoding`, replaced by `identity` so upstream bodies arrive
/// uncompressed and their usage can be read on the side. Should an upstream compress all
/// the same, its bytes are relayed with their `Content-Encoding`, which the client decodes.
pub fn upstream_request(client: &HeaderMap) -> HeaderMap {
    let listed = connection_listed(client);
    let mut out = HeaderMap::with_capacity(client.len() + 1);
    for (name, value) in client {
        let n = name.as_str();
        if is_hop_by_hop(n, &listed) || matches!(n, "host" | "content-length" | "expect" | "accept-encoding") {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out.insert(axum::http::header::ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    out
}

/// Headers relayed to the client: every upstream header (`Retry-After`, rate-limit and
/// request-id headers, `Content-Encoding`, `Content-Length`, …) minus hop-by-hop ones. The
/// body is relayed byte for byte, so the upstream's `Content-Length` stays true (the
/// server then frames the streamed body with it instead of chunking).
pub fn client_response(upstream: &HeaderMap) -> HeaderMap {
    let listed = connection_listed(upstream);
    let mut out = HeaderMap::with_capacity(upstream.len() + 3);
    for (name, value) in upstream {
        let n = name.as_str();
        if is_hop_by_hop(n, &listed) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

pub const TOKENS_BEFORE: HeaderName = HeaderName::from_static("x-mintoken-cli-tokens-before");
pub const TOKENS_AFTER: HeaderName = HeaderName::from_static("x-mintoken-cli-tokens-after");
pub const TOKENS_SAVED: HeaderName = HeaderName::from_static("x-mintoken-cli-tokens-saved");
pub const SKIPPED: HeaderName = HeaderName::from_static("x-mintoken-cli-skipped");

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(HeaderName::from_static(n), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn keeps_credentials_and_drops_hop_by_hop() {
        let h = map(&[
            ("authorization", "Bearer sk-1"),
            ("x-api-key", "sk-ant-1"),
            ("anthropic-version", "2023-06-01"),
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("host", "127.0.0.1:8788"),
            ("accept-encoding", "gzip, br"),
            ("content-length", "12"),
            ("expect", "100-continue"),
        ]);
        let out = upstream_request(&h);
        let names: Vec<_> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["authorization", "x-api-key", "anthropic-version", "accept-encoding"]);
        assert_eq!(out["authorization"], "Bearer sk-1");
        assert_eq!(out["accept-encoding"], "identity");
    }

    #[test]
    fn relays_upstream_headers_but_not_hop_by_hop() {
        let h = map(&[
            ("retry-after", "7"),
            ("content-encoding", "gzip"),
            ("content-length", "99"),
            ("transfer-encoding", "chunked"),
            ("connection", "close"),
        ]);
        let out = client_response(&h);
        let names: Vec<_> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["retry-after", "content-encoding", "content-length"]);
    }
}
