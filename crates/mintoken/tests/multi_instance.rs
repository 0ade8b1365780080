//! Several `mintoken serve` processes on one PostgreSQL database, as behind a load
//! balancer (SPEC §13): they all start at once on an empty database; a key revoked
//! through one is refused by another within a second; usage through each adds up;
//! quota exhaustion and the requests-per-minute limit reached through one hold on the
//! others within the documented bounds. Runs when `MINTOKEN_TEST_DATABASE_URL` is set.

mod common;

use common::{PROVIDER_KEY, TestDatabase, chat_body};
use mintoken::cli::{ServeArgs, StoreArgs};
use mintoken::config::Config;
use mintoken::store::Store;
use mintoken_mock::MockServer;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mintoken");
/// Every instance must share the access-token secret (see docs/deploy.md).
const JWT_SECRET: &str = "multi-instance-test-secret-0123456789abcdef";

struct Instance {
    child: Child,
    base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns one `serve` process; the caller waits for it with [`wait_listening`].
fn spawn_serve(dir: &Path, name: &str, database_url: &str, upstream: &str) -> (Child, std::path::PathBuf) {
    let log = dir.join(format!("{name}.log"));
    let child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--openai-base-url", upstream, "--database-url", database_url])
        .arg("--config")
        .arg(dir.join("mintoken.toml"))
        .arg("--data-dir")
        .arg(dir.join(name))
        .env("MINTOKEN_JWT_SECRET", JWT_SECRET)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn mintoken serve");
    (child, log)
}

fn wait_listening(mut child: Child, log: &Path) -> Instance {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(rest) = text.split("mintoken listening on ").nth(1) {
            let base = rest.lines().next().unwrap_or_default().trim().to_owned();
            return Instance { child, base };
        }
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("instance did not start:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn chat(http: &reqwest::Client, instance: &Instance, raw: &str) -> reqwest::RequestBuilder {
    http.post(format!("{}/v1/chat/completions", instance.base))
        .bearer_auth(raw)
        .header("x-provider-key", PROVIDER_KEY)
        .json(&chat_body())
}

async fn create_key(http: &reqwest::Client, instance: &Instance, token: &str, name: &str) -> Value {
    let resp = http.post(format!("{}/v1/auth/keys", instance.base)).bearer_auth(token).json(&json!({"name": name}));
    resp.send().await.unwrap().json().await.unwrap()
}

async fn status(req: reqwest::RequestBuilder) -> u16 {
    req.send().await.unwrap().status().as_u16()
}

/// Polls `req` every 50 ms until it answers `want`; returns how long that took.
async fn until_status(want: u16, limit: Duration, req: impl Fn() -> reqwest::RequestBuilder) -> Duration {
    let started = Instant::now();
    loop {
        if status(req()).await == want {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "no {want} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_on_one_postgres_database_behave_as_one_service() {
    let Ok(admin_url) = std::env::var("MINTOKEN_TEST_DATABASE_URL") else {
        eprintln!("MINTOKEN_TEST_DATABASE_URL not set: the multi-instance test runs in CI");
        return;
    };
    mintoken::proxy::upstream::install_crypto_provider();
    let db = TestDatabase::create(&admin_url).await;
    let mock = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mintoken.toml"),
        "admin_emails = [\"ops@example.com\"]\n\
         [plans.free]\nmonthly_output_tokens = 45\nrequests_per_minute = 1000\n\
         [plans.pro]\nrequests_per_minute = 6\n",
    )
    .unwrap();

    // Three instances started at the same moment on an empty database: the migrations
    // run once (PostgreSQL advisory lock) and all three come up.
    let spawned: Vec<_> =
        ["a", "b", "c"].iter().map(|name| spawn_serve(dir.path(), name, &db.url, &mock.base_url())).collect();
    let instances: Vec<Instance> = spawned.into_iter().map(|(child, log)| wait_listening(child, &log)).collect();
    let (a, b) = (&instances[0], &instances[1]);
    let http = reqwest::Client::new();
    for instance in &instances {
        assert_eq!(status(http.get(format!("{}/readyz", instance.base))).await, 200);
    }

    // An account made through A works through B (one database, one secret).
    let signup = |instance: &Instance, email: &str| {
        http.post(format!("{}/v1/auth/signup", instance.base))
            .json(&json!({"email": email, "password": "pw-long-enough-1"}))
    };
    let session: Value = signup(a, "team@example.com").send().await.unwrap().json().await.unwrap();
    let token = session["access_token"].as_str().unwrap().to_owned();
    let key = create_key(&http, b, &token, "shared").await;
    let raw = key["raw_key"].as_str().unwrap().to_owned();

    // Usage through A and B adds up: 2 + 2 requests of 9 output tokens.
    for instance in [a, b, a, b] {
        assert_eq!(status(chat(&http, instance, &raw)).await, 200);
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // both writers' batch windows
    let store = Store::open(
        &Config::load(&ServeArgs {
            store: StoreArgs {
                database_url: Some(db.url.clone()),
                data_dir: Some(dir.path().join("check")),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap(),
    )
    .await
    .unwrap();
    let user = store.user_by_email("team@example.com").await.unwrap().unwrap();
    let rows = store.usage_of_user(&user.id, 100).await.unwrap();
    assert_eq!((rows.len(), rows.iter().map(|r| r.output_tokens).sum::<i64>()), (4, 36));
    for instance in [a, &instances[2]] {
        let summary: Value = http
            .get(format!("{}/v1/analytics/summary", instance.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!((summary["total_requests"].as_i64(), summary["total_output_tokens"].as_i64()), (Some(4), Some(36)));
    }

    // Quota (45 tokens): once A has reconciled (≤ 1.1 s) it counts B's usage too, so
    // its fifth request spends the quota; B refuses within the same bound.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(status(chat(&http, a, &raw)).await, 200);
    assert_eq!(status(chat(&http, a, &raw)).await, 429);
    let took = until_status(429, Duration::from_secs(3), || chat(&http, b, &raw)).await;
    assert!(took < Duration::from_millis(2_500), "B saw the spent quota after {took:?}");

    // Requests per minute (the pro plan here: 6) are shared: 3 through A, then B has
    // room for only 3 more once the instances have synced (≤ 1 s).
    let ops = signup(a, "ops@example.com").send().await.unwrap().json::<Value>().await.unwrap();
    let ops_token = ops["access_token"].as_str().unwrap();
    let session2: Value = signup(b, "burst@example.com").send().await.unwrap().json().await.unwrap();
    let key2 = create_key(&http, a, session2["access_token"].as_str().unwrap(), "burst").await;
    let raw2 = key2["raw_key"].as_str().unwrap().to_owned();
    let upgrade = http
        .put(format!("{}/v1/admin/users/burst@example.com/plan", a.base))
        .bearer_auth(ops_token)
        .json(&json!({"plan": "pro"}));
    assert_eq!(status(upgrade).await, 200);
    tokio::time::sleep(Duration::from_millis(1_200)).await; // B's plan cache
    for _ in 0..3 {
        assert_eq!(status(chat(&http, a, &raw2)).await, 200);
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await; // A publishes, B reads
    for _ in 0..3 {
        assert_eq!(status(chat(&http, b, &raw2)).await, 200);
    }
    let refused = chat(&http, b, &raw2).send().await.unwrap();
    assert_eq!(refused.status(), 429, "B counts A's requests against the shared limit");
    assert!(refused.headers().contains_key("retry-after"));

    // Revocation through A: B answers 401 within a second.
    let revoke = http.delete(format!("{}/v1/auth/keys/{}", a.base, key["id"].as_str().unwrap())).bearer_auth(&token);
    assert_eq!(status(revoke).await, 200);
    let took = until_status(401, Duration::from_secs(2), || chat(&http, b, &raw)).await;
    assert!(took < Duration::from_secs(1), "B refused the revoked key after {took:?}");
    store.close().await;
}

/// An org's keys pool one quota across instances: two members' requests through two
/// instances spend it together, and a change of the org's owner (to one on a bigger
/// plan) made through one instance lifts the block on the other within the sync bound.
#[tokio::test(flavor = "multi_thread")]
async fn an_orgs_pooled_quota_and_owner_hold_across_instances() {
    let Ok(admin_url) = std::env::var("MINTOKEN_TEST_DATABASE_URL") else {
        eprintln!("MINTOKEN_TEST_DATABASE_URL not set: the multi-instance test runs in CI");
        return;
    };
    mintoken::proxy::upstream::install_crypto_provider();
    let db = TestDatabase::create(&admin_url).await;
    let mock = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mintoken.toml"),
        "admin_emails = [\"ops@example.com\"]\n\
         [plans.free]\nmonthly_output_tokens = 27\nrequests_per_minute = 1000\nmax_orgs = 1\nmax_members_per_org = 5\n",
    )
    .unwrap();
    let spawned: Vec<_> =
        ["a", "b"].iter().map(|name| spawn_serve(dir.path(), name, &db.url, &mock.base_url())).collect();
    let instances: Vec<Instance> = spawned.into_iter().map(|(child, log)| wait_listening(child, &log)).collect();
    let (a, b) = (&instances[0], &instances[1]);
    let http = reqwest::Client::new();
    let signup = |instance: &Instance, email: &str| {
        http.post(format!("{}/v1/auth/signup", instance.base))
            .json(&json!({"email": email, "password": "pw-long-enough-1"}))
    };
    let mut tokens = Vec::new();
    for email in ["owner@example.com", "admin@example.com", "ops@example.com"] {
        let session: Value = signup(a, email).send().await.unwrap().json().await.unwrap();
        tokens.push(session["access_token"].as_str().unwrap().to_owned());
    }
    let (owner, admin, ops) = (&tokens[0], &tokens[1], &tokens[2]);
    let org: Value = http
        .post(format!("{}/v1/orgs", a.base))
        .bearer_auth(owner)
        .json(&json!({"name": "Spread"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let org_id = org["id"].as_str().unwrap();
    let invite = http
        .post(format!("{}/v1/orgs/{org_id}/members", b.base))
        .bearer_auth(owner)
        .json(&json!({"email": "admin@example.com", "role": "admin"}));
    assert_eq!(status(invite).await, 201);
    let mut raw = Vec::new();
    for (token, instance, name) in [(owner, a, "o"), (admin, b, "a")] {
        let key: Value = http
            .post(format!("{}/v1/auth/keys", instance.base))
            .bearer_auth(token)
            .json(&json!({"name": name, "org_id": org_id}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        raw.push(key["raw_key"].as_str().unwrap().to_owned());
    }

    // 27 tokens = 3 answers of 9: two through A with the owner's key, one through B with
    // the admin's. Once reconciled (≤ 1.1 s), both instances refuse both keys.
    assert_eq!(status(chat(&http, a, &raw[0])).await, 200);
    assert_eq!(status(chat(&http, a, &raw[0])).await, 200);
    assert_eq!(status(chat(&http, b, &raw[1])).await, 200);
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    for (instance, key) in [(a, &raw[0]), (a, &raw[1]), (b, &raw[0]), (b, &raw[1])] {
        until_status(429, Duration::from_secs(3), || chat(&http, instance, key)).await;
    }

    // The admin is moved to the pro plan and then made the owner, both through A: the
    // org is on the new owner's plan, and B lets its keys through within the sync bound.
    let upgrade = http
        .put(format!("{}/v1/admin/users/admin@example.com/plan", a.base))
        .bearer_auth(ops)
        .json(&json!({"plan": "pro"}));
    assert_eq!(status(upgrade).await, 200);
    let admin_id = {
        let me: Value =
            http.get(format!("{}/v1/auth/me", a.base)).bearer_auth(admin).send().await.unwrap().json().await.unwrap();
        me["id"].as_str().unwrap().to_owned()
    };
    let transfer = http
        .patch(format!("{}/v1/orgs/{org_id}/members/{admin_id}", a.base))
        .bearer_auth(owner)
        .json(&json!({"role": "owner"}));
    assert_eq!(status(transfer).await, 200);
    assert_eq!(status(chat(&http, a, &raw[0])).await, 200, "A applies the new owner's plan at once");
    let took = until_status(200, Duration::from_secs(3), || chat(&http, b, &raw[1])).await;
    assert!(took < Duration::from_millis(1_500), "B saw the org's new plan after {took:?}");
}
