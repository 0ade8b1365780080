//! Plan enforcement (SPEC §6): the monthly output-token quota on every provider and for
//! streams, its reset at the month boundary, the overshoot bound under concurrency, the
//! requests-per-minute limit, key and rule caps, and plan changes taking effect on the
//! very next request.

mod common;

use common::{PROVIDER_KEY, TestApp, chat_body};
use mintoken_mock::Behavior;
use serde_json::{Value, json};

/// Every metered route, streaming and not, with a body that is valid for it.
fn every_provider(app: &TestApp, raw: &str) -> Vec<(&'static str, reqwest::RequestBuilder)> {
    let anthropic =
        json!({"model": "claude-sonnet-4-5", "max_tokens": 256, "messages": [{"role": "user", "content": "Hi"}]});
    let mut anthropic_stream = anthropic.clone();
    anthropic_stream["stream"] = json!(true);
    let gemini = json!({"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]});
    let mut chat_stream = chat_body();
    chat_stream["stream"] = json!(true);
    let post = |path: &str, body: &Value| {
        app.http.post(app.url(path)).bearer_auth(raw).header("x-provider-key", PROVIDER_KEY).json(body)
    };
    vec![
        ("openai chat", post("/v1/chat/completions", &chat_body())),
        ("openai chat stream", post("/v1/chat/completions", &chat_stream)),
        ("openai responses", post("/v1/responses", &json!({"model": "gpt-4o-mini", "input": "Hi"}))),
        (
            "openai responses stream",
            post("/v1/responses", &json!({"model": "gpt-4o-mini", "input": "Hi", "stream": true})),
        ),
        ("anthropic", post("/v1/messages", &anthropic)),
        ("anthropic stream", post("/v1/messages", &anthropic_stream)),
        ("gemini", post("/v1beta/models/gemini-2.0-flash:generateContent", &gemini)),
        ("gemini stream", post("/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse", &gemini)),
    ]
}

async fn assert_quota_refusal(resp: reqwest::Response, what: &str, used: &str, limit: &str) {
    assert_eq!(resp.status(), 429, "{what}");
    assert_eq!(resp.headers()["x-mintoken-tokens-used"], used, "{what}");
    assert_eq!(resp.headers()["x-mintoken-tokens-limit"], limit, "{what}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["detail"], "token quota exceeded", "{what}: {body}");
}

#[tokio::test]
async fn a_spent_quota_refuses_every_provider_and_streams_before_forwarding() {
    // The first answer uses 9 output tokens: the quota of 9 is then spent.
    let app = TestApp::start_with("[plans.free]\nmonthly_output_tokens = 9\n").await;
    let (_, key) = app.user_with_key("spent@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    assert_eq!(app.chat(raw, &chat_body()).send().await.unwrap().status(), 200);
    for (what, req) in every_provider(&app, raw) {
        assert_quota_refusal(req.send().await.unwrap(), what, "9", "9").await;
    }
    assert_eq!(app.mock.requests().len(), 1, "refused requests never reach the upstream");
}

#[tokio::test]
async fn streamed_output_counts_against_the_quota_once_the_stream_closes() {
    let app = TestApp::start_with("[plans.free]\nmonthly_output_tokens = 9\n").await;
    let (_, key) = app.user_with_key("streams@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    let mut body = chat_body();
    body["stream"] = json!(true);
    let resp = app.chat(raw, &body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap();
    app.server.state.usage.flush().await;
    assert_quota_refusal(app.chat(raw, &body).send().await.unwrap(), "second stream", "9", "9").await;
}

#[tokio::test]
async fn the_quota_starts_again_at_the_month_boundary() {
    let app = TestApp::start_with("[plans.free]\nmonthly_output_tokens = 9\n").await;
    let (_, key) = app.user_with_key("months@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    assert_eq!(app.chat(raw, &chat_body()).send().await.unwrap().status(), 200);
    assert_eq!(app.chat(raw, &chat_body()).send().await.unwrap().status(), 429);
    // 32 days later is always in a later calendar month.
    app.server.state.clock.advance(32 * 24 * 3_600_000);
    let resp = app.chat(raw, &chat_body()).send().await.unwrap();
    assert_eq!(resp.status(), 200, "a new month, a new quota");
    assert_eq!(resp.headers()["x-mintoken-tokens-used"], "9", "this month's usage only");
    assert_eq!(app.chat(raw, &chat_body()).send().await.unwrap().status(), 429);
    // Refused requests leave no usage row; the served ones carry the metering clock's
    // time, so the store's count of the new month agrees with the counter.
    let rows = app.usage("months@example.com").await;
    assert_eq!(rows.len(), 2);
    let user = app.user_id("months@example.com").await;
    let month = mintoken::metering::quota::month_start_ms(app.server.state.clock.now_ms());
    assert_eq!(app.server.state.store.output_tokens_since(&user, month).await.unwrap(), 9);
}

#[tokio::test]
async fn concurrent_requests_overshoot_the_quota_by_at_most_one_request() {
    // Each answer is 9 output tokens. 5 requests use 45 of 135: the account is 10
    // requests short of its quota when 200 arrive at once.
    let app = TestApp::start_with("[plans.free]\nmonthly_output_tokens = 135\nrequests_per_minute = 100000\n").await;
    let (_, key) = app.user_with_key("crowd@example.com").await;
    let raw = key["raw_key"].as_str().unwrap().to_owned();
    for _ in 0..5 {
        assert_eq!(app.chat(&raw, &chat_body()).send().await.unwrap().status(), 200);
    }
    // Slow answers, so the 200 requests are all in flight together.
    app.mock.set_behavior(Behavior { first_byte_delay_ms: 300, ..Behavior::default() });
    let requests = (0..200).map(|_| app.chat(&raw, &chat_body()).send());
    let statuses: Vec<u16> =
        futures_util::future::join_all(requests).await.into_iter().map(|r| r.unwrap().status().as_u16()).collect();
    let served = statuses.iter().filter(|s| **s == 200).count();
    assert!(statuses.iter().all(|s| *s == 200 || *s == 429), "{statuses:?}");
    let used: i64 = app.usage("crowd@example.com").await.iter().map(|r| r.output_tokens).sum();
    // Documented bound: the output of one request beyond the quota. With steady
    // answers the reservations are exact, so no overshoot at all.
    assert!(used <= 135 + 9, "used {used} of 135");
    assert_eq!(served, 10, "exactly the 10 requests the quota had room for were served");
    assert_eq!(used, 135);
}

#[tokio::test]
async fn the_rate_limit_refuses_with_retry_after_until_a_slot_frees() {
    let app = TestApp::start_with("[plans.free]\nrequests_per_minute = 3\n").await;
    let (_, key) = app.user_with_key("rate@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(app.chat(raw, &chat_body()).send().await.unwrap().status(), 200);
    }
    let resp = app.chat(raw, &chat_body()).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    let retry_after: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry_after), "one request every 20 s: retry after {retry_after}");
    let body: Value = resp.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("rate limit") && message.contains("3 requests per minute"), "{message}");
    assert_eq!(app.mock.requests().len(), 3, "refused requests never reach the upstream");

    // Another account is not affected.
    let (_, other) = app.user_with_key("rate-other@example.com").await;
    assert_eq!(app.chat(other["raw_key"].as_str().unwrap(), &chat_body()).send().await.unwrap().status(), 200);

    app.server.state.clock.advance(20_000);
    assert_eq!(app.chat(raw, &chat_body()).send().await.unwrap().status(), 200);
    assert_eq!(app.chat(raw, &chat_body()).send().await.unwrap().status(), 429);
}

#[tokio::test]
async fn key_and_rule_caps_follow_the_plan() {
    let app = TestApp::start_with("[plans.free]\nmax_keys = 2\nmax_rules = 1\n").await;
    let (token, _) = app.user_with_key("caps@example.com").await;
    let (status, _) = app.post_json("/v1/auth/keys", Some(&token), json!({"name": "second"})).await;
    assert_eq!(status, 201);
    let (status, body) = app.post_json("/v1/auth/keys", Some(&token), json!({"name": "third"})).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["detail"].as_str().unwrap().contains('2'), "{body}");

    let rule = json!({"rule_type": "never_compress", "pattern": "patient"});
    assert_eq!(app.post_json("/v1/rules", Some(&token), rule.clone()).await.0, 201);
    let (status, body) = app.post_json("/v1/rules", Some(&token), rule).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("1 custom rules"), "{body}");
}

#[tokio::test]
async fn a_plan_upgrade_by_an_admin_lifts_the_block_on_the_next_request() {
    let app = TestApp::start_with(
        "admin_emails = [\"Boss@example.com\"]\n[plans.free]\nmonthly_output_tokens = 9\nrequests_per_minute = 2\n",
    )
    .await;
    let (token, key) = app.user_with_key("upgrade@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    assert_eq!(app.chat(raw, &chat_body()).send().await.unwrap().status(), 200);
    assert_eq!(app.chat(raw, &chat_body()).send().await.unwrap().status(), 429);

    let boss = app.signup("boss@example.com").await["access_token"].as_str().unwrap().to_owned();
    let set_plan = |who: &str, plan: &str| {
        app.http.put(app.url("/v1/admin/users/upgrade@example.com/plan")).bearer_auth(who).json(&json!({"plan": plan}))
    };
    assert_eq!(app.send(set_plan(&token, "pro")).await.0, 403, "not an admin");
    let (status, body) = app.send(set_plan(&boss, "platinum")).await;
    assert_eq!(status, 422);
    assert!(body["detail"].as_str().unwrap().contains("known plans"), "{body}");
    let (status, body) = app.send(set_plan(&boss, "pro")).await;
    assert_eq!((status, body["plan"].as_str()), (200, Some("pro")), "{body}");

    // Quota and rate limit are both lifted for the very next request.
    for _ in 0..3 {
        assert_eq!(app.chat(raw, &chat_body()).send().await.unwrap().status(), 200);
    }
    let (status, plan) = app.send(app.http.get(app.url("/v1/plan")).bearer_auth(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(plan["plan"], "pro");
    assert_eq!(plan["limits"]["requests_per_minute"], 120);
    assert_eq!(plan["usage"]["output_tokens"], 36);
    assert_eq!(plan["usage"]["output_tokens_limit"], 2_000_000);

    let (status, users) = app.send(app.http.get(app.url("/v1/admin/users")).bearer_auth(&boss)).await;
    assert_eq!(status, 200);
    let emails: Vec<&str> = users["users"].as_array().unwrap().iter().filter_map(|u| u["email"].as_str()).collect();
    assert!(emails.contains(&"upgrade@example.com") && emails.contains(&"boss@example.com"), "{emails:?}");
    assert_eq!(app.send(app.http.get(app.url("/v1/admin/users")).bearer_auth(&token)).await.0, 403);
}

#[tokio::test]
async fn holdout_requests_go_without_the_skill_and_are_marked() {
    let app = TestApp::start_with("[plans.free]\nrequests_per_minute = 1000\n").await;
    let session = app.signup("holdout@example.com").await;
    let token = session["access_token"].as_str().unwrap();
    let (status, key) = app.post_json("/v1/auth/keys", Some(token), json!({"name": "h", "holdout_percent": 50})).await;
    assert_eq!((status, key["holdout_percent"].as_u64()), (201, Some(50)), "{key}");
    let raw = key["raw_key"].as_str().unwrap();
    let mut marked = 0;
    for _ in 0..60 {
        let resp = app.chat(raw, &chat_body()).send().await.unwrap();
        marked += usize::from(resp.headers().contains_key("x-mintoken-holdout"));
    }
    let rows = app.usage("holdout@example.com").await;
    let held: Vec<_> = rows.iter().filter(|r| r.skill_tokens == 0).collect();
    assert_eq!(held.len(), marked);
    // 60 fair coin flips: outside 10..=50 has a probability below 1e-7.
    assert!((10..=50).contains(&marked), "{marked} of 60 held out at 50 %");
    let with_skill = app.mock.requests().iter().filter(|r| r.json()["messages"][0]["role"] == "system").count();
    assert_eq!(with_skill, 60 - marked, "held-out requests reach the upstream without the skill");

    // An explicit intensity on the request is never held out.
    app.mock.clear();
    for _ in 0..20 {
        let resp = app.chat(raw, &chat_body()).header("x-mintoken-intensity", "full").send().await.unwrap();
        assert!(!resp.headers().contains_key("x-mintoken-holdout"));
    }
    assert!(app.mock.requests().iter().all(|r| r.json()["messages"][0]["role"] == "system"));

    for bad in [json!(101), json!(-1), json!(2.5), json!("10")] {
        let (status, body) =
            app.post_json("/v1/auth/keys", Some(token), json!({"name": "bad", "holdout_percent": bad})).await;
        assert_eq!(status, 422, "{body}");
    }
}

#[tokio::test]
async fn usage_recorded_elsewhere_reaches_the_counter_through_reconciliation() {
    let app = TestApp::start_with("[plans.free]\nmonthly_output_tokens = 100\n").await;
    let (_, key) = app.user_with_key("elsewhere@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    assert_eq!(app.chat(raw, &chat_body()).send().await.unwrap().status(), 200);
    // Another instance records 91 output tokens for the same account.
    let state = &app.server.state;
    let row = app.usage("elsewhere@example.com").await.remove(0);
    let record = mintoken::metering::UsageRecord {
        request_id: "req_other_instance".into(),
        created_at: state.clock.now_ms(),
        user_id: app.user_id("elsewhere@example.com").await,
        org_id: None,
        key_id: row.key_id.clone(),
        provider: "openai",
        model: row.model.clone(),
        endpoint: "chat.completions",
        intensity: mintoken_compress::Intensity::Full,
        intensity_reason: mintoken::metering::IntensityReason::Default,
        status: 200,
        input_tokens: 10,
        output_tokens: 91,
        skill_tokens: 0,
        holdout: false,
        context_tokens_before: None,
        context_tokens_after: None,
        duration_ms: 1,
        upstream_ms: 1,
        streamed: false,
        usage_source: mintoken::metering::UsageSource::Upstream,
    };
    state.store.insert_usage(&[record]).await.unwrap();
    assert_eq!(app.chat(raw, &chat_body()).send().await.unwrap().status(), 200, "not seen yet");
    state.usage.flush().await;
    state.usage.quota().reconcile().await.unwrap();
    let resp = app.chat(raw, &chat_body()).send().await.unwrap();
    assert_quota_refusal(resp, "after reconciliation", "109", "100").await;
}
