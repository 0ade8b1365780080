//! Added latency at concurrency 1: one keep-alive connection per side, rounds of
//! `per_round` requests alternating direct and mintoken (which one goes first
//! alternates too), so drift in the machine's state hits both sides alike.
//!
//! With `stream`, the requests are streamed (the mock unpaced) and the figure is
//! the time to the first body byte: the streaming first byte with both sides warm,
//! requests back to back, as in the non-streaming rounds. The paced `stream`
//! scenario measures it after each side sat idle for a whole stream of the other.
//!
//! With `session_kb`, the request is one turn of a coding agent (`payload::agent_request`):
//! a long system prompt and a conversation of tool calls and results, non-streamed.

use serde_json::{Value, json};

use crate::client::{Conn, Endpoint};
use crate::payload::{Api, agent_request, chat_body};
use crate::stats::Tally;
use crate::{Ctx, mock};

pub async fn run(
    ctx: &Ctx,
    api: Api,
    stream: bool,
    warmup: usize,
    rounds: usize,
    per_round: usize,
    session_kb: Option<usize>,
) -> Result<Value, String> {
    mock::set_behavior(&ctx.direct, &mock::instant()).await?;
    let body = match session_kb {
        Some(kb) => agent_request(api, kb * 1024),
        None => chat_body(api, stream),
    };
    let sides = [&ctx.direct, &ctx.mintoken];
    let mut conns = [Conn::open(ctx.direct.addr).await?, Conn::open(ctx.mintoken.addr).await?];
    let mut tallies = [Tally::default(), Tally::default()];

    for (side, conn) in sides.iter().zip(conns.iter_mut()) {
        let mut discard = Tally::default();
        measure(side, conn, api, stream, &body, warmup, &mut discard).await;
    }
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            measure(sides[i], &mut conns[i], api, stream, &body, per_round, &mut tallies[i]).await;
        }
    }
    let [direct, mintoken] = tallies;
    Ok(json!({
        "scenario": "latency",
        "api": api.as_str(),
        "stream": stream,
        "rounds": rounds,
        "per_round": per_round,
        "request_bytes": body.len(),
        "agent": session_kb.is_some(),
        "direct": direct.to_json(),
        "mintoken": mintoken.to_json(),
    }))
}

async fn measure(
    endpoint: &Endpoint,
    conn: &mut Conn,
    api: Api,
    stream: bool,
    body: &bytes::Bytes,
    n: usize,
    tally: &mut Tally,
) {
    for _ in 0..n {
        let request = endpoint.request(api, api.path(), body.clone());
        let outcome = match stream {
            false => conn.call(request).await.map(|reply| tally.ok(&reply)),
            true => conn.stream(api, request).await.map(|reply| {
                tally.latency.push_duration(reply.ttfb);
                tally.overhead_from(&reply.headers);
            }),
        };
        if let Err(e) = outcome {
            tally.error(e);
        }
    }
}
