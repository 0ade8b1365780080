//! Streaming at concurrency 1 with a paced upstream: time to the first body
//! byte, and the gaps between consecutive events as the client sees them.
//! Through mintoken both should equal the direct figures plus a small
//! constant; a relay that buffers would show up as larger gaps.
//! Streams alternate between the sides, one at a time.

use std::time::Duration;

use serde_json::{Value, json};

use crate::client::{Conn, Endpoint};
use crate::payload::{Api, chat_body};
use crate::stats::{Samples, Tally};
use crate::{Ctx, mock};

/// What one side saw over all its streams.
#[derive(Default)]
struct Side {
    ttfb: Samples,
    gaps: Samples,
    /// To the last event: the whole stream.
    total: Samples,
    tally: Tally,
}

pub async fn run(ctx: &Ctx, api: Api, count: usize, chunk_ms: u64, words: usize) -> Result<Value, String> {
    mock::set_behavior(&ctx.direct, &mock::paced(chunk_ms, words)).await?;
    let body = chat_body(api, true);
    let endpoints = [&ctx.direct, &ctx.mintoken];
    let mut conns = [Conn::open(ctx.direct.addr).await?, Conn::open(ctx.mintoken.addr).await?];
    let mut sides = [Side::default(), Side::default()];
    // Warm-up: two streams per side, not counted.
    for (endpoint, conn) in endpoints.iter().zip(conns.iter_mut()) {
        for _ in 0..2 {
            one(endpoint, conn, api, &body, &mut Side::default()).await;
        }
    }
    for i in 0..count {
        let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
        for s in order {
            one(endpoints[s], &mut conns[s], api, &body, &mut sides[s]).await;
        }
    }
    mock::set_behavior(&ctx.direct, &mock::instant()).await?;
    let side_json = |side: &Side| {
        let mut value = side.tally.to_json();
        value["ttfb"] = side.ttfb.summary();
        value["gap"] = side.gaps.summary();
        value["total"] = side.total.summary();
        value
    };
    Ok(json!({
        "scenario": "stream",
        "api": api.as_str(),
        "count": count,
        "chunk_ms": chunk_ms,
        "words": words,
        "direct": side_json(&sides[0]),
        "mintoken": side_json(&sides[1]),
    }))
}

async fn one(endpoint: &Endpoint, conn: &mut Conn, api: Api, body: &bytes::Bytes, side: &mut Side) {
    let request = endpoint.request(api, api.path(), body.clone());
    match conn.stream(api, request).await {
        Ok(reply) => {
            side.ttfb.push_duration(reply.ttfb);
            for pair in reply.events.windows(2) {
                side.gaps.push_duration(pair[1].saturating_sub(pair[0]));
            }
            side.total.push_duration(reply.events.last().copied().unwrap_or(Duration::ZERO));
            side.tally.latency.push_duration(reply.ttfb);
            side.tally.overhead_from(&reply.headers);
        }
        Err(e) => side.tally.error(e),
    }
}
