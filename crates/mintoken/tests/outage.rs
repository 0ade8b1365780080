//! The database going away under steady traffic (SPEC §13): requests with cached keys
//! keep being served, usage waits in the bounded queue, and every record made during the
//! outage is in the database once it returns.

mod common;

use common::gate::Gate;
use common::{TestApp, TestDatabase, chat_body};
use mintoken::cli::{ServeArgs, StoreArgs};
use mintoken::config::Config;
use mintoken::store::Store;
use std::time::Duration;

/// Makes `n` requests one after another; all must succeed.
async fn steady_traffic(app: &TestApp, raw: &str, n: usize) {
    for i in 0..n {
        let resp = app.chat(raw, &chat_body()).send().await.unwrap();
        assert_eq!(resp.status(), 200, "request {i} during the outage");
        resp.text().await.unwrap();
    }
}

async fn rows_in(database_url: Option<String>, dir: &std::path::Path, user_id: &str) -> usize {
    let args = ServeArgs {
        store: StoreArgs { data_dir: Some(dir.join("data")), database_url, ..Default::default() },
        ..Default::default()
    };
    let store = Store::open(&Config::load(&args).unwrap()).await.unwrap();
    let rows = store.usage_of_user(user_id, 1_000).await.unwrap().len();
    store.close().await;
    rows
}

#[tokio::test]
async fn postgres_outage_keeps_cached_keys_flowing_and_loses_no_usage() {
    let Ok(admin_url) = std::env::var("MINTOKEN_TEST_DATABASE_URL") else {
        eprintln!("MINTOKEN_TEST_DATABASE_URL not set: the PostgreSQL outage test runs in CI");
        return;
    };
    let db = TestDatabase::create(&admin_url).await;
    let gate = Gate::start("127.0.0.1:5432".parse().unwrap()).await;
    let through_gate = db.url.replacen("127.0.0.1:5432", &gate.addr.to_string(), 1);
    assert_ne!(through_gate, db.url, "the test database URL names 127.0.0.1:5432");
    let app = TestApp::start_on("[plans.free]\nrequests_per_minute = 1000\n", None, Some(through_gate)).await;
    let (_, key) = app.user_with_key("outage@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    let user_id = app.user_id("outage@example.com").await;
    steady_traffic(&app, raw, 5).await;

    gate.close();
    steady_traffic(&app, raw, 30).await;
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "not ready while the database is away");

    // Longer than any fixed retry budget: the writer must keep the records until the end.
    tokio::time::sleep(Duration::from_secs(8)).await;
    gate.open();
    tokio::time::timeout(Duration::from_secs(30), app.server.state.usage.flush())
        .await
        .expect("queued usage written once the database is back");
    assert_eq!(rows_in(Some(db.url.clone()), app.dir.path(), &user_id).await, 35);
    assert_eq!(app.server.state.usage.dropped(), 0);
}

#[tokio::test]
async fn a_locked_sqlite_database_delays_usage_without_losing_it() {
    if std::env::var("MINTOKEN_TEST_DATABASE_URL").is_ok() {
        return; // the SQLite case; the PostgreSQL one is above
    }
    let app = TestApp::start_with("[plans.free]\nrequests_per_minute = 1000\n").await;
    let (_, key) = app.user_with_key("locked@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    let user_id = app.user_id("locked@example.com").await;
    steady_traffic(&app, raw, 3).await;

    // Another process holds an exclusive lock for longer than the busy timeout (5 s).
    use sqlx::{Connection, Executor};
    let file = app.dir.path().join("data").join("mintoken.db");
    let mut locker = sqlx::sqlite::SqliteConnection::connect(&format!("sqlite://{}", file.display())).await.unwrap();
    locker.execute("BEGIN EXCLUSIVE").await.unwrap();
    steady_traffic(&app, raw, 20).await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    locker.execute("COMMIT").await.unwrap();
    drop(locker);

    tokio::time::timeout(Duration::from_secs(30), app.server.state.usage.flush())
        .await
        .expect("written after the lock");
    assert_eq!(rows_in(None, app.dir.path(), &user_id).await, 23);
}
