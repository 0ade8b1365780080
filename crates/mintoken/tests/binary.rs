//! The real `mintoken` binary end to end: `serve` as the README runs it, the admin CLI
//! against the same data directory while the server runs, graceful shutdown with a
//! stream in flight, and a search of everything the process left behind (database,
//! logs, response bodies) for secrets that must never be stored or logged.

mod common;

use mintoken_mock::{Behavior, MockServer};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const CANARY: &str = "sk-canary-7f3a9b2c-never-store-me";
const BIN: &str = env!("CARGO_BIN_EXE_mintoken");

struct Serve {
    child: Child,
    log: PathBuf,
    base: String,
}

fn start_serve(data: &Path, upstream: &str, log: PathBuf) -> Serve {
    let (child, base) = common::start_serve(&log, |c| {
        c.args(["--openai-base-url", upstream]).arg("--data-dir").arg(data).env("RUST_LOG", "debug");
    });
    Serve { child, log, base }
}

fn cli(data: &Path, args: &[&str]) -> (bool, String, String) {
    let out =
        Command::new(BIN).args(args).arg("--data-dir").arg(data).env_remove("MINTOKEN_DATABASE_URL").output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Collects every response body the test sees, to search them for secrets at the end.
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    async fn send(&mut self, req: reqwest::RequestBuilder) -> (u16, String) {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = format!("{:?}", resp.headers());
        let body = resp.text().await.unwrap();
        self.0.push(headers);
        self.0.push(body.clone());
        (status, body)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_cli_shutdown_and_no_secret_left_behind() {
    let mock = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let serve = start_serve(&data, &mock.base_url(), dir.path().join("serve.log"));
    mintoken::proxy::upstream::install_crypto_provider();
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", serve.base);
    let mut seen = Seen::default();

    assert_eq!(seen.send(http.get(url("/healthz"))).await.0, 200);
    assert_eq!(seen.send(http.get(url("/readyz"))).await.0, 200);

    // Sign up, create a key, proxy through it.
    let password = "a long enough password";
    let (status, session) = seen
        .send(http.post(url("/v1/auth/signup")).json(&json!({"email": "ops@example.com", "password": password})))
        .await;
    assert_eq!(status, 200, "{session}");
    let session: Value = serde_json::from_str(&session).unwrap();
    let token = session["access_token"].as_str().unwrap().to_owned();
    let refresh = session["refresh_token"].as_str().unwrap().to_owned();
    let (status, key) =
        seen.send(http.post(url("/v1/auth/keys")).bearer_auth(&token).json(&json!({"name": "web"}))).await;
    assert_eq!(status, 201);
    let key: Value = serde_json::from_str(&key).unwrap();
    let raw_web = key["raw_key"].as_str().unwrap().to_owned();

    let chat = |raw: &str, stream: bool| {
        http.post(url("/v1/chat/completions")).bearer_auth(raw).header("x-provider-key", CANARY).json(&json!({
            "model": "gpt-4o-mini", "stream": stream, "messages": [{"role": "user", "content": "hello"}]
        }))
    };
    assert_eq!(seen.send(chat(&raw_web, false)).await.0, 200);
    assert_eq!(seen.send(chat(&raw_web, true)).await.0, 200);
    // Error paths must not echo the provider key either.
    let bad =
        http.post(url("/v1/chat/completions")).bearer_auth(&raw_web).header("x-provider-key", CANARY).body("{nope");
    assert_eq!(seen.send(bad).await.0, 400);
    mock.set_behavior(Behavior {
        fault: Some(mintoken_mock::Fault::Status {
            status: 401,
            body: r#"{"error":{"message":"Incorrect API key provided"}}"#.into(),
            retry_after: None,
        }),
        ..Default::default()
    });
    assert_eq!(seen.send(chat(&raw_web, false)).await.0, 401);
    mock.set_behavior(Behavior::default());

    // The admin CLI works on the same data directory while the server runs.
    let (ok, out, err) =
        cli(&data, &["users", "create", "--email", "admin@example.com", "--password", "another long password"]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) =
        cli(&data, &["keys", "create", "--user", "admin@example.com", "--name", "cli", "--intensity", "lite"]);
    assert!(ok, "{out}{err}");
    let raw_cli = out.lines().find(|l| l.starts_with("mt_live_")).expect("raw key printed").to_owned();
    let (status, _) = seen.send(chat(&raw_cli, false)).await;
    assert_eq!(status, 200, "a key created by the CLI works at once");
    let (ok, list, _) = cli(&data, &["keys", "list", "--user", "admin@example.com"]);
    assert!(ok && list.contains(&raw_cli[..12]) && !list.contains(&raw_cli));
    let key_id = list.split('\t').next().unwrap().to_owned();
    let (ok, out, err) = cli(&data, &["keys", "revoke", &key_id]);
    assert!(ok, "{out}{err}");
    // Revocation by another process reaches the running server within the sync bound.
    let revoked_at = Instant::now();
    loop {
        let (status, _) = seen.send(chat(&raw_cli, false)).await;
        if status == 401 {
            break;
        }
        assert!(revoked_at.elapsed() < Duration::from_secs(2), "revocation not seen within 2 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(revoked_at.elapsed() < Duration::from_secs(1), "documented bound is 1 s");
    let (ok, _, err) = cli(&data, &["keys", "create", "--user", "nobody@example.com"]);
    assert!(!ok && err.contains("no account with email nobody@example.com"));
    let (ok, _, err) = cli(&data, &["users", "set-plan", "admin@example.com", "gold"]);
    assert!(!ok && err.contains("unknown plan"), "{err}");
    let (ok, _, _) = cli(&data, &["users", "set-plan", "admin@example.com", "pro"]);
    assert!(ok);

    // Refresh, so a refresh token has been stored (as a hash) too.
    let (status, _) = seen.send(http.post(url("/v1/auth/refresh")).json(&json!({"refresh_token": refresh}))).await;
    assert_eq!(status, 200);

    // Graceful shutdown with a slow stream in flight: the stream completes, and its
    // usage is flushed before the process exits.
    mock.set_behavior(Behavior { chunk_delay_ms: 100, ..Default::default() });
    let in_flight = tokio::spawn(chat(&raw_web, true).send());
    while mock.open_streams() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let killed = Command::new("kill").args(["-TERM", &serve.child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let resp = in_flight.await.unwrap().unwrap();
    let streamed = resp.text().await.unwrap();
    assert!(streamed.trim_end().ends_with("data: [DONE]"), "the in-flight stream finished: {streamed}");
    let mut child = serve.child;
    let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "clean exit on SIGTERM");

    // Every proxied request has its usage row (web: 2 ok + upstream 401 + the in-flight
    // stream; cli: 1 ok). Refused requests (400, revoked 401s) are not proxied.
    let store = {
        let args = mintoken::cli::StoreArgs { data_dir: Some(data.clone()), ..Default::default() };
        mintoken::store::Store::open(&mintoken::config::Config::for_store(&args).unwrap()).await.unwrap()
    };
    let ops = store.user_by_email("ops@example.com").await.unwrap().unwrap();
    let rows = store.usage_of_user(&ops.id, 100).await.unwrap();
    let statuses: Vec<i64> = rows.iter().rev().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 401, 200], "{rows:?}");
    assert!(rows[0].streamed && rows[0].output_tokens > 0);
    let admin = store.user_by_email("admin@example.com").await.unwrap().unwrap();
    assert_eq!(admin.plan, "pro");
    // The CLI key served requests until its revocation reached the server.
    let cli_rows = store.usage_of_user(&admin.id, 100).await.unwrap();
    assert!(!cli_rows.is_empty() && cli_rows.iter().all(|r| r.status == 200 && r.intensity == "lite"), "{cli_rows:?}");
    store.close().await;

    // No secret anywhere: database files, the log, any response the clients saw.
    let log = std::fs::read(&serve.log).unwrap();
    assert!(String::from_utf8_lossy(&log).contains("proxied request"), "the log has request lines");
    let mut places: Vec<(String, Vec<u8>)> = vec![("serve log".into(), log)];
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        places.push((path.display().to_string(), std::fs::read(&path).unwrap()));
    }
    for (i, body) in seen.0.iter().enumerate() {
        places.push((format!("response {i}"), body.clone().into_bytes()));
    }
    for (place, bytes) in &places {
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains(CANARY), "provider key found in {place}");
        assert!(!text.contains(password), "password found in {place}");
        if !place.starts_with("response") {
            for raw in [&raw_web, &raw_cli] {
                assert!(!text.contains(raw.as_str()), "raw mintoken key found in {place}");
            }
            assert!(!text.contains(&refresh), "refresh token found in {place}");
        }
    }
}
