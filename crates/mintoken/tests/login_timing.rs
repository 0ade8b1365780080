//! "No such account" and "wrong password" must cost the same, so response time does not
//! tell which emails are registered. Checked deterministically: every log-in path runs
//! exactly one Argon2 verification (counted by `auth::password`), through the same
//! function, against a hash of the same cost. A wall-clock comparison is printed by the
//! ignored test below (figures in docs/reliability.md), never asserted.
//!
//! One counting test per binary: the counter is process-wide.

mod common;

use common::TestApp;
use mintoken::auth::password;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery";

async fn login_status(app: &TestApp, client: &reqwest::Client, email: &str, pw: &str) -> u16 {
    let resp = client.post(app.url("/v1/auth/login")).json(&json!({"email": email, "password": pw})).send().await;
    resp.unwrap().status().as_u16()
}

#[tokio::test]
async fn every_login_path_runs_one_argon2_verification_of_the_same_cost() {
    let app = TestApp::start().await;
    app.signup("alice@example.com").await;
    // An account without a password (as `mintoken users create` may make, or one first
    // seen through a shared Supabase secret).
    app.server.state.store.create_user("nopass@example.com", None, "free").await.unwrap();
    let client = reqwest::Client::new();

    for (case, email, pw, status) in [
        ("wrong password", "alice@example.com", "wrong password", 401),
        ("no such account", "nobody@example.com", "wrong password", 401),
        ("account without a password", "nopass@example.com", "wrong password", 401),
        ("right password", "alice@example.com", PASSWORD, 200),
    ] {
        let before = password::verifications();
        assert_eq!(login_status(&app, &client, email, pw).await, status, "{case}");
        assert_eq!(password::verifications() - before, 1, "{case}: Argon2 verifications");
    }
    // Same cost: the dummy hash has the parameters real accounts are hashed with.
    let stored = app.server.state.store.user_by_email("alice@example.com").await.unwrap().unwrap();
    let real_cost = password::cost_of(stored.password_hash.as_deref().unwrap());
    assert!(real_cost.is_some());
    assert_eq!(password::cost_of(password::DUMMY_PHC), real_cost);
}

/// `cargo test -p mintoken --release --test login_timing -- --ignored --nocapture`:
/// mean log-in time for unknown emails and for wrong passwords, N of each interleaved,
/// each from its own loopback address so the limiter stays out of the way.
#[tokio::test]
#[ignore = "a measurement, not a check; run by hand"]
async fn login_timing_figures() {
    const N: usize = 40;
    let app = TestApp::start().await;
    let accounts: Vec<String> = (0..8).map(|i| format!("user{i}@example.com")).collect();
    for a in &accounts {
        app.signup(a).await;
    }
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    for i in 0..N {
        let client = reqwest::Client::builder()
            .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 1, i as u8 + 1)))
            .build()
            .unwrap();
        for (times, email) in [(&mut unknown, format!("ghost{i}@example.com")), (&mut wrong, accounts[i % 8].clone())] {
            let t = Instant::now();
            assert_eq!(login_status(&app, &client, &email, "wrong password").await, 401);
            times.push(t.elapsed());
        }
    }
    let stats = |v: &[Duration]| {
        let ms: Vec<f64> = v.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        let mean = ms.iter().sum::<f64>() / ms.len() as f64;
        let sd = (ms.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (ms.len() - 1) as f64).sqrt();
        (mean, sd)
    };
    let (u, us) = stats(&unknown);
    let (w, ws) = stats(&wrong);
    eprintln!("login timing, N={N} each: unknown email {u:.1} ms (sd {us:.1}), wrong password {w:.1} ms (sd {ws:.1})");
}
