//! Log-in rate limiting along both dimensions (see `auth::login_limiter`): per account,
//! whatever address the guesses come from, and per client address, whatever accounts it
//! tries. The client address is the TCP peer: these tests connect from different
//! loopback addresses (127.0.0.x; Linux routes all of 127/8 to lo) to vary it, and send
//! made-up `X-Forwarded-For` headers that the default configuration must ignore.

mod common;

use common::TestApp;
use mintoken::auth::login_limiter::{MAX_FAILURES_PER_ACCOUNT, MAX_FAILURES_PER_ADDRESS, WINDOW};
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};

const PASSWORD: &str = "correct horse battery";

/// A client whose connections come from 127.0.0.`n`.
fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder().local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))).build().unwrap()
}

struct Answer {
    status: u16,
    detail: String,
    retry_after: Option<u64>,
}

async fn login(app: &TestApp, client: &reqwest::Client, email: &str, password: &str, xff: Option<&str>) -> Answer {
    let mut req = client.post(app.url("/v1/auth/login")).json(&json!({"email": email, "password": password}));
    if let Some(xff) = xff {
        req = req.header("x-forwarded-for", xff);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok());
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    Answer { status, detail: body["detail"].as_str().unwrap_or_default().to_owned(), retry_after }
}

fn assert_locked(a: &Answer, fragment: &str) {
    assert_eq!(a.status, 429, "{}", a.detail);
    assert!(a.detail.contains(fragment) && a.detail.contains("retry in"), "message: {}", a.detail);
    let wait = a.retry_after.expect("Retry-After header");
    assert!(wait > 0 && wait <= WINDOW.as_secs(), "Retry-After {wait}");
    assert!(a.detail.contains(&format!("retry in {wait} s")), "message and header agree: {} / {wait}", a.detail);
}

#[tokio::test]
async fn an_account_is_locked_after_failures_from_many_addresses() {
    let app = TestApp::start().await;
    app.signup("target@example.com").await;
    app.signup("bystander@example.com").await;
    for i in 0..MAX_FAILURES_PER_ACCOUNT {
        let client = client_from(10 + i as u8);
        let a = login(&app, &client, "target@example.com", "wrong guess 1", None).await;
        assert_eq!((a.status, a.detail.as_str()), (401, "Invalid login credentials"), "attempt {i}");
    }
    // From an address that never failed, even the right password (in another case, with
    // spaces) is refused while the lockout lasts.
    let fresh = client_from(60);
    assert_locked(&login(&app, &fresh, "target@example.com", PASSWORD, None).await, "this account");
    assert_locked(&login(&app, &fresh, "  TARGET@example.com ", PASSWORD, None).await, "this account");
    // The lockout is the account's, not the addresses': another account logs in from them.
    for n in [10, 60] {
        assert_eq!(login(&app, &client_from(n), "bystander@example.com", PASSWORD, None).await.status, 200);
    }
}

#[tokio::test]
async fn an_address_is_locked_after_failures_over_many_accounts() {
    let app = TestApp::start().await;
    app.signup("real@example.com").await;
    app.signup("victim@example.com").await;
    let sprayer = client_from(20);
    for i in 0..MAX_FAILURES_PER_ADDRESS {
        // Mostly accounts that do not exist, some that do; a different forged
        // X-Forwarded-For each time, which must not spread the count.
        let email =
            if i.is_multiple_of(10) { "victim@example.com".to_owned() } else { format!("guess{i}@example.com") };
        let xff = format!("203.0.113.{i}");
        let a = login(&app, &sprayer, &email, "password123", Some(&xff)).await;
        assert_eq!(a.status, 401, "attempt {i}: {}", a.detail);
    }
    let locked = login(&app, &sprayer, "real@example.com", PASSWORD, Some("198.51.100.77")).await;
    assert_locked(&locked, "from your address");
    // Only that address: the same account from elsewhere is fine, and so is the victim,
    // whose own count (3 failures) is below the account limit.
    let elsewhere = client_from(21);
    assert_eq!(login(&app, &elsewhere, "real@example.com", PASSWORD, None).await.status, 200);
    assert_eq!(login(&app, &elsewhere, "victim@example.com", PASSWORD, None).await.status, 200);
    // A success elsewhere does not reopen the sprayer's address.
    assert_locked(&login(&app, &sprayer, "victim@example.com", PASSWORD, None).await, "from your address");
}

/// With `trusted_proxy_hops = 1` (one load balancer in front), the address is the last
/// `X-Forwarded-For` entry, the one the balancer wrote; entries a client put before it
/// change nothing.
#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_counts() {
    let app = TestApp::start_with("trusted_proxy_hops = 1\n").await;
    app.signup("user@example.com").await;
    let balancer = client_from(30);
    for i in 0..MAX_FAILURES_PER_ADDRESS {
        // The client varies the part it controls; the balancer appends the real address.
        let xff = format!("10.9.{}.{}, 203.0.113.9", i / 200, i % 200);
        let a = login(&app, &balancer, &format!("nobody{i}@example.com"), "password123", Some(&xff)).await;
        assert_eq!(a.status, 401);
    }
    let a = login(&app, &balancer, "user@example.com", PASSWORD, Some("203.0.113.9")).await;
    assert_locked(&a, "from your address");
    let other_client = login(&app, &balancer, "user@example.com", PASSWORD, Some("203.0.113.10")).await;
    assert_eq!(other_client.status, 200, "{}", other_client.detail);
}
