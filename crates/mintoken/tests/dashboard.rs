//! The web dashboard as served by `mintoken serve`: the page and its assets, their
//! content types, caching and security headers, and that adding it left the JSON API
//! (and its 404s) as they were.

mod common;

use common::TestApp;
use serde_json::json;

/// Every asset the page loads, with the content type it must be served with.
const ASSETS: [(&str, &str); 13] = [
    ("app.css", "text/css"),
    ("favicon.svg", "image/svg+xml"),
    ("app.js", "text/javascript"),
    ("api.js", "text/javascript"),
    ("ui.js", "text/javascript"),
    ("chart.js", "text/javascript"),
    ("page-auth.js", "text/javascript"),
    ("page-keys.js", "text/javascript"),
    ("page-rules.js", "text/javascript"),
    ("page-analytics.js", "text/javascript"),
    ("page-playground.js", "text/javascript"),
    ("page-plan.js", "text/javascript"),
    ("page-orgs.js", "text/javascript"),
];

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> &'a str {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("missing header {name}"))
}

fn assert_security_headers(resp: &reqwest::Response) {
    let csp = header(resp, "content-security-policy");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(header(resp, "x-content-type-options"), "nosniff");
    assert_eq!(header(resp, "referrer-policy"), "no-referrer");
    assert_eq!(header(resp, "x-frame-options"), "DENY");
}

#[tokio::test]
async fn the_page_is_html_with_a_strict_policy_and_no_inline_script() {
    let app = TestApp::start().await;
    let resp = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "content-type").starts_with("text/html"));
    assert_security_headers(&resp);
    assert!(resp.headers().contains_key("etag"));
    let html = resp.text().await.unwrap();
    assert!(html.starts_with("<!doctype html>"), "{}", &html[..40.min(html.len())]);
    assert!(html.contains("<html lang=\"en\">"));

    // Every <script> is an external module from this origin: no inline code, no CDN.
    let scripts: Vec<&str> = html.match_indices("<script").map(|(i, _)| &html[i..]).collect();
    assert!(!scripts.is_empty(), "the page loads its modules");
    for tag in scripts {
        let open = &tag[..tag.find('>').expect("closed tag") + 1];
        assert!(open.contains("src=\"/assets/"), "inline or foreign script: {open}");
        assert!(tag[open.len()..].starts_with("</script>"), "script with inline content: {open}");
    }
    for attr in [" onclick=", " onload=", " onerror=", " onsubmit=", " style=", "javascript:"] {
        assert!(!html.contains(attr), "inline handler or style {attr:?} is blocked by the policy");
    }
    assert!(!html.contains("http://") && !html.contains("https://"), "nothing is loaded from elsewhere");
}

#[tokio::test]
async fn each_asset_has_its_content_type_caching_and_headers() {
    let app = TestApp::start().await;
    for (name, content_type) in ASSETS {
        let resp = app.http.get(app.url(&format!("/assets/{name}"))).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{name}");
        assert!(header(&resp, "content-type").starts_with(content_type), "{name}: {}", header(&resp, "content-type"));
        assert_eq!(header(&resp, "cache-control"), "no-cache", "{name}");
        assert_security_headers(&resp);
        let etag = header(&resp, "etag").to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{name}: strong etag {etag}");
        let body = resp.bytes().await.unwrap();
        assert!(body.len() > 100, "{name} is not a placeholder");

        // Revalidation with the etag: 304 without a body.
        let again =
            app.http.get(app.url(&format!("/assets/{name}"))).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(again.status(), 304, "{name}");
        assert_eq!(header(&again, "etag"), etag);
        assert!(again.bytes().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn the_modules_load_only_from_this_origin() {
    let app = TestApp::start().await;
    for (name, _) in ASSETS.iter().filter(|(n, _)| n.ends_with(".js")) {
        let js = app.http.get(app.url(&format!("/assets/{name}"))).send().await.unwrap().text().await.unwrap();
        // Every static import names a sibling module.
        for (i, _) in js.match_indices(" from '").chain(js.match_indices(" from \"")) {
            let specifier = &js[i + 7..];
            assert!(specifier.starts_with("./"), "{name}: import from {}", &specifier[..specifier.len().min(30)]);
        }
        assert!(!js.contains("import("), "{name}: no dynamic imports");
        // The SVG namespace is a name and the example a placeholder, not addresses. The one
        // other origin: Razorpay Checkout, loaded by the Plan page on an upgrade click (and
        // allowed by the CSP for that host only).
        let checkout = "https://checkout.razorpay.com/v1/checkout.js";
        assert!(*name == "page-plan.js" || !js.contains(checkout), "{name}: only the Plan page loads Checkout");
        let js_without_ns =
            js.replace("http://www.w3.org/2000/svg", "").replace("https://llm.example.com", "").replace(checkout, "");
        assert!(
            !js_without_ns.contains("http://") && !js_without_ns.contains("https://"),
            "{name} must not reach other origins"
        );
        assert!(!js.contains("localStorage"), "{name}: the session lives in sessionStorage only");
        assert!(!js.contains("eval(") && !js.contains("new Function"), "{name}");
    }
}

#[tokio::test]
async fn unknown_assets_are_404() {
    let app = TestApp::start().await;
    for path in ["/assets/nope.js", "/assets/..%2fmod.rs", "/assets/", "/assets/app.js/x", "/index.php"] {
        let resp = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
    let resp = app.http.get(app.url("/assets/nope.css")).send().await.unwrap();
    assert_security_headers(&resp);
}

#[tokio::test]
async fn the_api_still_answers_json() {
    let app = TestApp::start().await;
    let session = app.signup("dash@example.com").await;
    let token = session["access_token"].as_str().unwrap();
    let (status, me) = app.send(app.http.get(app.url("/v1/auth/me")).bearer_auth(token)).await;
    assert_eq!((status, me["email"].as_str()), (200, Some("dash@example.com")));
    let (status, keys) = app.send(app.http.get(app.url("/v1/auth/keys")).bearer_auth(token)).await;
    assert_eq!((status, keys), (200, json!([])));
    let (status, providers) = app.send(app.http.get(app.url("/v1/playground/providers"))).await;
    assert_eq!(status, 200);
    assert_eq!(providers["default_provider"], "anthropic");
    // Unauthenticated API calls are still refused with JSON, and unknown routes too.
    let (status, body) = app.send(app.http.get(app.url("/v1/plan"))).await;
    assert_eq!(status, 401);
    assert!(body["detail"].as_str().is_some());
    let resp = app.http.get(app.url("/v1/nothing-here")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert!(header(&resp, "content-type").starts_with("application/json"));
    // The page is only at `/`, for GET (and HEAD).
    let resp = app.http.post(app.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    let resp = app.http.head(app.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn every_file_in_the_assets_directory_is_served_and_every_reference_resolves() {
    let app = TestApp::start().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/dashboard/assets");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("assets directory")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name != "index.html")
        .collect();
    files.sort();
    let mut listed: Vec<String> = ASSETS.iter().map(|(n, _)| (*n).to_owned()).collect();
    listed.sort();
    assert_eq!(files, listed, "a file in assets/ must be listed in dashboard/mod.rs and in ASSETS here");

    // What the page and the modules refer to must all be served.
    let mut references = Vec::new();
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    for (i, _) in html.match_indices("\"/assets/") {
        let rest = &html[i + 9..];
        references.push(rest[..rest.find('"').unwrap()].to_owned());
    }
    for name in listed.iter().filter(|n| n.ends_with(".js")) {
        let js = std::fs::read_to_string(dir.join(name)).unwrap();
        for (i, _) in js.match_indices(" from './") {
            let rest = &js[i + 9..];
            references.push(rest[..rest.find('\'').unwrap()].to_owned());
        }
    }
    assert!(references.len() > 10, "{references:?}");
    for file in references {
        let status = app.http.get(app.url(&format!("/assets/{file}"))).send().await.unwrap().status();
        assert_eq!(status, 200, "/assets/{file} is referenced but not served");
    }
}
