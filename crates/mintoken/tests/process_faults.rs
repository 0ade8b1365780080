//! Process faults (SPEC §7, §14; issue 10): what a stop costs in usage records.
//!
//! - A graceful stop while streams are in flight, some outliving the grace period: the streams
//!   that finish in time complete, the others are ended at the deadline, and every one
//!   of them has its usage row (the cut ones with status 499); so has a plain request
//!   still waiting for its upstream at the deadline.
//! - `kill -9` of the real `mintoken serve` binary under steady load, five times on the
//!   same SQLite data directory: each restart recovers and serves, the database stays
//!   intact, and the answered requests without a usage row stay within the writer's
//!   bound (the records of at most one batch window, plus whatever was queued).

mod common;

use common::{TestApp, chat_body};
use mintoken_mock::{Behavior, MockServer};
use serde_json::json;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_beyond_the_shutdown_grace_are_ended_at_the_deadline_and_still_metered() {
    let app = TestApp::start_with("shutdown_grace_secs = 2\n[plans.free]\nrequests_per_minute = 1000\n").await;
    let (_, key) = app.user_with_key("grace@example.com").await;
    let raw = key["raw_key"].as_str().unwrap().to_owned();
    let user_id = app.user_id("grace@example.com").await;
    let mut stream_body = chat_body();
    stream_body["stream"] = json!(true);
    let send = |n: usize| -> Vec<_> {
        (0..n)
            .map(|_| {
                let req = app.chat(&raw, &stream_body);
                tokio::spawn(async move {
                    let resp = req.send().await.expect("answered");
                    let status = resp.status().as_u16();
                    // A stream cut by the shutdown ends with an error or a short body.
                    (status, resp.text().await.unwrap_or_default())
                })
            })
            .collect()
    };
    let wait_for = |requests: usize, streams: usize| {
        let mock = &app.mock;
        async move {
            while mock.requests().len() < requests || mock.open_streams() < streams {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    // Four streams whose events come every 3 s: they would run for half a minute…
    app.mock.set_behavior(Behavior { chunk_delay_ms: 3_000, ..Behavior::default() });
    let slow = send(4);
    wait_for(4, 4).await;
    // Two plain requests whose answer would take half a minute: still waiting upstream
    // at the deadline, they are cut with their connections…
    app.mock.set_behavior(Behavior { first_byte_delay_ms: 30_000, ..Behavior::default() });
    let waiting: Vec<_> = (0..2).map(|_| tokio::spawn(app.chat(&raw, &chat_body()).send())).collect();
    wait_for(6, 4).await;
    // …and four streams that end well within the grace period (events 40 ms apart, ~0.5 s).
    app.mock.set_behavior(Behavior { chunk_delay_ms: 40, ..Behavior::default() });
    let quick = send(4);
    wait_for(10, 8).await;

    let TestApp { server, dir, mock, db, .. } = app;
    let stopping = Instant::now();
    server.shutdown().await;
    let took = stopping.elapsed();
    assert!(took >= Duration::from_millis(1_900), "the grace period was given: {took:?}");
    assert!(took < Duration::from_secs(5), "shutdown ended at the deadline, not with the streams: {took:?}");

    for request in quick {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200);
        assert!(body.trim_end().ends_with("data: [DONE]"), "a quick stream completed: {body}");
    }
    for request in slow {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200, "the slow stream had started");
        assert!(!body.contains("[DONE]"), "a slow stream was cut at the deadline: {body}");
    }

    for request in waiting {
        let answer = request.await.unwrap();
        assert!(answer.is_err(), "a request still waiting upstream was cut at the deadline: {answer:?}");
    }

    let store = common::open_store(dir.path(), db.as_ref()).await;
    let rows = store.usage_of_user(&user_id, 100).await.unwrap();
    store.close().await;
    assert_eq!(rows.len(), 10, "every request metered: {rows:?}");
    let (streams, plain): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.streamed);
    assert_eq!(plain.len(), 2, "{plain:?}");
    assert!(plain.iter().all(|r| r.status == 499), "cut while waiting upstream: {plain:?}");
    let rows = streams;
    assert_eq!(rows.iter().filter(|r| r.status == 200).count(), 4, "{rows:?}");
    let cut: Vec<_> = rows.iter().filter(|r| r.status == 499).collect();
    assert_eq!(cut.len(), 4, "the streams cut at the deadline: {rows:?}");
    assert!(cut.iter().all(|r| r.input_tokens > 0), "what was used is counted: {cut:?}");
    drop(mock);
}

const PROVIDER_KEY: &str = "sk-test-kill-provider-key";
/// Kills per test run; each one is followed by a restart on the same data directory.
const KILLS: usize = 5;
/// Steady load before each kill.
const LOAD: Duration = Duration::from_millis(1_500);
const WORKERS: usize = 8;
/// The load is paced to at most this rate. The bound below counts one batch write as at
/// most one window; a batch's write grows with its size, and unpaced on a fast machine
/// (~3,000 requests a second into this debug build) a batch took longer than a window to
/// write and kills lost up to 2.3 windows of records, as the bound's formula allows
/// (docs/reliability.md) but its one-write-per-window shortcut did not.
const MAX_RATE: f64 = 1_500.0;
/// The writer's batch window (crates/mintoken/src/metering/writer.rs).
const BATCH_WINDOW_SECS: f64 = 0.1;

struct Serve {
    child: Child,
    base: String,
}

/// A failed test leaves no server behind.
impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_serve(dir: &Path, upstream: &str, log: PathBuf) -> Serve {
    let (child, base) = common::start_serve(&log, |c| {
        c.args(["--openai-base-url", upstream, "--anthropic-base-url", upstream, "--google-base-url", upstream])
            .arg("--config")
            .arg(dir.join("mintoken.toml"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env("RUST_LOG", "warn,mintoken=info");
    });
    Serve { child, base }
}

/// Request ids of the usage rows, read straight from the SQLite file (which also
/// recovers its write-ahead log, as the next start would), after an integrity check.
async fn rows_and_integrity(dir: &Path) -> HashSet<String> {
    use sqlx::{Connection, Row};
    let file = dir.join("data").join("mintoken.db");
    let mut conn = sqlx::sqlite::SqliteConnection::connect(&format!("sqlite://{}", file.display())).await.unwrap();
    let check: String = sqlx::query("PRAGMA integrity_check").fetch_one(&mut conn).await.unwrap().get(0);
    assert_eq!(check, "ok", "database intact after kill -9");
    let rows = sqlx::query("SELECT request_id FROM usage_events").fetch_all(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    rows.iter().map(|r| r.get::<String, _>(0)).collect()
}

/// Sends chat requests from `WORKERS` tasks, `MAX_RATE` a second at most, until the server
/// stops answering (it is killed meanwhile); returns the request ids of the answers that came back 2xx with
/// their whole body.
async fn load_until_killed(http: &reqwest::Client, base: &str, key: &str) -> Vec<String> {
    let ok = Arc::new(Mutex::new(Vec::new()));
    let give_up = Instant::now() + LOAD + Duration::from_secs(20);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..WORKERS {
        let (http, url, key, ok) = (http.clone(), format!("{base}/v1/chat/completions"), key.to_owned(), ok.clone());
        tasks.spawn(async move {
            let mut pace = tokio::time::interval(Duration::from_secs_f64(WORKERS as f64 / MAX_RATE));
            pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while Instant::now() < give_up {
                pace.tick().await;
                let sent = http
                    .post(&url)
                    .bearer_auth(&key)
                    .header("x-provider-key", PROVIDER_KEY)
                    .json(&chat_body())
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                let Ok(resp) = sent else { return };
                let id = resp.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
                let success = resp.status().is_success();
                match resp.bytes().await {
                    Ok(_) if success => ok.lock().unwrap().push(id.expect("x-request-id on every proxied answer")),
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    Arc::try_unwrap(ok).unwrap().into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_at_most_one_batch_window_and_restarts_intact() {
    let mock = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mintoken.toml"),
        "[plans.free]\nrequests_per_minute = 100000000\nmonthly_output_tokens = 1000000000000\n",
    )
    .unwrap();
    mintoken::proxy::upstream::install_crypto_provider();
    let http = reqwest::Client::new();

    let mut serve = start_serve(dir.path(), &mock.base_url(), dir.path().join("serve-0.log"));
    let (status, session) = post(
        &http,
        &format!("{}/v1/auth/signup", serve.base),
        None,
        json!({"email": "kill@example.com", "password": "correct horse battery"}),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    let token = session["access_token"].as_str().unwrap().to_owned();
    let (status, key) = post(&http, &format!("{}/v1/auth/keys", serve.base), Some(&token), json!({"name": "k"})).await;
    assert_eq!(status, 201, "{key}");
    let key = key["raw_key"].as_str().unwrap().to_owned();

    let mut answered: HashSet<String> = HashSet::new();
    let mut report = Vec::new();
    let mut total_lost = 0;
    for run in 1..=KILLS {
        // SIGKILL in the middle of the load: no flush, no graceful anything.
        let pid = serve.child.id().to_string();
        let killer = tokio::spawn(async move {
            tokio::time::sleep(LOAD).await;
            assert!(Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
        });
        let ok = load_until_killed(&http, &serve.base, &key).await;
        killer.await.unwrap();
        serve.child.wait().unwrap();
        let rate = ok.len() as f64 / LOAD.as_secs_f64();
        let rows = rows_and_integrity(dir.path()).await;
        let new: Vec<&String> = ok.iter().filter(|id| !answered.contains(*id)).collect();
        answered.extend(ok.iter().cloned());
        let lost = new.iter().filter(|id| !rows.contains(id.as_str())).count();
        total_lost += lost;
        let bound = (rate * BATCH_WINDOW_SECS).ceil() as usize;
        report.push(format!("run {run}: {} answered 2xx ({rate:.0}/s), {lost} without a row, bound {bound}", ok.len()));
        assert!(ok.len() > 50, "steady load before the kill: {report:?}");
        // One batch window of records, twice over for the batch being written when
        // the kill landed, plus a little for scheduling on a loaded machine.
        assert!(lost <= 2 * bound + 10, "lost records beyond the bound: {report:?}");
        // Restart on the same data directory: it recovers and serves.
        serve = start_serve(dir.path(), &mock.base_url(), dir.path().join(format!("serve-{run}.log")));
        let (status, _) = post(
            &http,
            &format!("{}/v1/chat/completions", serve.base),
            Some(&key),
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "after restart"}]}),
        )
        .await;
        assert_eq!(status, 200, "serves after restart {run}");
    }
    eprintln!("kill -9 under load ({total_lost} lost in all):\n  {}", report.join("\n  "));

    // A graceful stop at the end: nothing more is lost, the database is intact.
    let pid = serve.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(serve.child.wait().unwrap().success(), "clean exit on SIGTERM");
    let rows = rows_and_integrity(dir.path()).await;
    // Rows written before a kill survive the restarts: every 2xx answer has its row but
    // the ones lost to the kills. (Requests metered but cut by a kill before their
    // answer left have rows too, hence the `>=`; so does the request after each restart.)
    let kept = answered.iter().filter(|id| rows.contains(id.as_str())).count();
    assert_eq!(kept, answered.len() - total_lost, "rows after the runs: {report:?}");
    assert!(rows.len() >= kept + KILLS, "the requests after each restart: {report:?}");
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let mut req = http.post(url).json(&body).header("x-provider-key", PROVIDER_KEY);
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}
