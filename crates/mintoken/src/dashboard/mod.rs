//! The web dashboard (SPEC §14): a small single-page app of plain HTML, CSS and ES
//! modules, embedded in the binary, so `mintoken serve` needs no files on disk and
//! nothing is downloaded at run time. It owns two public routes: `GET /` (the page) and
//! `GET /assets/{file}`. They carry no data: the page calls the authenticated JSON API
//! with the access token it keeps in `sessionStorage`.
//!
//! Every response gets a strict Content-Security-Policy (scripts and styles only from
//! this origin, no inline script, no framing), `nosniff`, `no-referrer` and `DENY`.
//! Assets are revalidated on every load (`no-cache` + a strong `ETag`): their names are
//! not fingerprinted, and a new binary must never mix old and new modules.

use crate::server::SharedState;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::LazyLock;

/// The policy of every dashboard response. The page talks to this server only (the
/// playground's provider calls are made by the server) — except Razorpay Checkout, which
/// the Plan page loads from `checkout.razorpay.com` when the user clicks an upgrade
/// button, and which runs in a frame from `api.razorpay.com` (docs/billing.md).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' https://checkout.razorpay.com; \
style-src 'self'; img-src 'self' data: https://cdn.razorpay.com; font-src 'self'; \
connect-src 'self' https://api.razorpay.com https://lumberjack.razorpay.com; \
frame-src https://api.razorpay.com https://checkout.razorpay.com; object-src 'none'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the page may load. Adding a file: put it in `assets/` and list it here.
static ASSETS: &[Asset] = &[
    Asset { name: "app.css", content_type: "text/css; charset=utf-8", body: include_bytes!("assets/app.css") },
    Asset { name: "favicon.svg", content_type: "image/svg+xml", body: include_bytes!("assets/favicon.svg") },
    Asset { name: "app.js", content_type: JS, body: include_bytes!("assets/app.js") },
    Asset { name: "api.js", content_type: JS, body: include_bytes!("assets/api.js") },
    Asset { name: "ui.js", content_type: JS, body: include_bytes!("assets/ui.js") },
    Asset { name: "chart.js", content_type: JS, body: include_bytes!("assets/chart.js") },
    Asset { name: "page-auth.js", content_type: JS, body: include_bytes!("assets/page-auth.js") },
    Asset { name: "page-keys.js", content_type: JS, body: include_bytes!("assets/page-keys.js") },
    Asset { name: "page-rules.js", content_type: JS, body: include_bytes!("assets/page-rules.js") },
    Asset { name: "page-orgs.js", content_type: JS, body: include_bytes!("assets/page-orgs.js") },
    Asset { name: "page-analytics.js", content_type: JS, body: include_bytes!("assets/page-analytics.js") },
    Asset { name: "page-playground.js", content_type: JS, body: include_bytes!("assets/page-playground.js") },
    Asset { name: "page-plan.js", content_type: JS, body: include_bytes!("assets/page-plan.js") },
];

static INDEX: Asset =
    Asset { name: "index.html", content_type: "text/html; charset=utf-8", body: include_bytes!("assets/index.html") };

/// Strong ETags, computed once: the SHA-256 of the bytes (first 128 bits).
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    std::iter::once(&INDEX)
        .chain(ASSETS.iter())
        .map(|a| {
            let digest = ring::digest::digest(&ring::digest::SHA256, a.body);
            let hex: String = digest.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect();
            format!("\"{hex}\"")
        })
        .collect()
});

pub fn routes() -> Router<SharedState> {
    Router::new().route("/", get(index)).route("/assets/{file}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve(&INDEX, 0, &headers)
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().position(|a| a.name == file) {
        Some(i) => serve(&ASSETS[i], i + 1, &headers),
        None => {
            let body = serde_json::json!({ "detail": format!("no dashboard asset named {file:?}") });
            with_security_headers((StatusCode::NOT_FOUND, axum::Json(body)).into_response())
        }
    }
}

fn serve(asset: &Asset, etag_index: usize, request: &HeaderMap) -> Response {
    let etag = ETAGS.get(etag_index).map(String::as_str).unwrap_or("\"0\"");
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag || tag.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = asset.body.into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
        r
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    with_security_headers(response)
}

fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // `allow-popups`: Razorpay Checkout opens bank and 3-D Secure pages in pop-ups that
    // report back to it; nothing can still open this page and keep a handle on it.
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin-allow-popups"),
    );
    response
}
