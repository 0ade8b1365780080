//! Preparing a fresh mintoken for the run: wait until it is ready, create the
//! bench account and its two keys over the HTTP API (as a user would), warm
//! it up with one request per API, and record idle memory.
//!
//! The keys go to stdout as shell assignments (`KEY=…`, `CONTEXT_KEY=…`) for
//! `bench/run` to read; nothing else is printed there.

use std::time::{Duration, Instant};

use http::Method;
use serde_json::{Value, json};

use crate::Ctx;
use crate::client::{Conn, json_exchange};
use crate::payload::{Api, chat_body};
use crate::rss::rss_mb;

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "bench password, long enough";

pub async fn run(ctx: &Ctx) -> Result<Value, String> {
    let addr = ctx.mintoken.addr;
    wait_ready(ctx).await?;
    let (status, session) = json_exchange(
        addr,
        Method::POST,
        "/v1/auth/signup",
        Some(&json!({"email": EMAIL, "password": PASSWORD})),
        None,
    )
    .await?;
    let token = session["access_token"].as_str().ok_or(format!("sign-up answered {status}: {session}"))?;
    let key = create_key(ctx, token, json!({"name": "bench"})).await?;
    let context_key = create_key(
        ctx,
        token,
        json!({"name": "bench-context", "context_compress": true, "context_compress_level": "standard"}),
    )
    .await?;

    // One request per API through mintoken (and direct), so "idle" means
    // started and warmed up, not never used.
    let mintoken = ctx.mintoken.with_key(&key);
    for endpoint in [&ctx.direct, &mintoken] {
        let mut conn = Conn::open(endpoint.addr).await?;
        for api in [Api::OpenAi, Api::Anthropic] {
            conn.call(endpoint.request(api, api.path(), chat_body(api, false)))
                .await
                .map_err(|e| format!("warm-up request ({}, {}): {e}", endpoint.side.as_str(), api.as_str()))?;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!("KEY={key}");
    println!("CONTEXT_KEY={context_key}");
    Ok(json!({
        "scenario": "idle",
        "mintoken_rss_mb": ctx.mintoken_pid.and_then(rss_mb),
        "mock_rss_mb": ctx.mock_pid.and_then(rss_mb),
    }))
}

async fn wait_ready(ctx: &Ctx) -> Result<(), String> {
    let start = Instant::now();
    loop {
        match json_exchange(ctx.mintoken.addr, Method::GET, "/readyz", None, None).await {
            Ok((200, _)) => return Ok(()),
            outcome if start.elapsed() > READY_TIMEOUT => {
                return Err(format!("mintoken not ready after {READY_TIMEOUT:?}: last answer {outcome:?}"));
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn create_key(ctx: &Ctx, token: &str, settings: Value) -> Result<String, String> {
    let (status, created) =
        json_exchange(ctx.mintoken.addr, Method::POST, "/v1/auth/keys", Some(&settings), Some(token)).await?;
    created["raw_key"].as_str().map(str::to_owned).ok_or(format!("key creation answered {status}: {created}"))
}
