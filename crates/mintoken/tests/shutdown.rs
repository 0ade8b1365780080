//! Graceful shutdown with many requests in flight (SPEC §7, §14): every one completes for
//! its client and every one has its usage row in the database afterwards.

mod common;

use common::{TestApp, chat_body};
use mintoken_mock::Behavior;
use serde_json::json;

#[tokio::test]
async fn requests_in_flight_at_shutdown_finish_and_none_of_their_usage_is_lost() {
    let app = TestApp::start_with("[plans.free]\nrequests_per_minute = 1000\n").await;
    let (_, key) = app.user_with_key("drain@example.com").await;
    let raw = key["raw_key"].as_str().unwrap().to_owned();
    let user_id = app.user_id("drain@example.com").await;
    // Slow answers and slow streams: all 20 requests are still running at shutdown.
    app.mock.set_behavior(Behavior { first_byte_delay_ms: 400, chunk_delay_ms: 50, ..Behavior::default() });
    let plain_body = chat_body();
    let mut stream_body = chat_body();
    stream_body["stream"] = json!(true);
    let requests: Vec<_> = (0..20)
        .map(|i| {
            let req = app.chat(&raw, if i % 2 == 0 { &plain_body } else { &stream_body });
            tokio::spawn(async move {
                let resp = req.send().await.expect("answered");
                (resp.status().as_u16(), resp.text().await.expect("whole body"))
            })
        })
        .collect();
    while app.mock.requests().len() < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let TestApp { server, dir, mock, db, .. } = app;
    server.shutdown().await;
    for request in requests {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200, "{body}");
        let complete = body.contains("mock upstream") || body.trim_end().ends_with("data: [DONE]");
        assert!(complete, "complete answer: {body}");
    }

    // A fresh store on the same database holds a row for each of them.
    let store = common::open_store(dir.path(), db.as_ref()).await;
    let rows = store.usage_of_user(&user_id, 100).await.unwrap();
    assert_eq!(rows.len(), 20);
    assert_eq!(rows.iter().filter(|r| r.streamed).count(), 10);
    assert!(rows.iter().all(|r| r.status == 200 && r.output_tokens == 9), "{rows:?}");
    drop(mock);
}
