//! Added latency at concurrency 1, non-streaming: one keep-alive connection
//! per side, rounds of `per_round` requests alternating direct and mintoken
//! (which one goes first alternates too), so drift in the machine's state hits
//! both sides alike.

use serde_json::{Value, json};

use crate::client::{Conn, Endpoint};
use crate::payload::{Api, chat_body};
use crate::stats::Tally;
use crate::{Ctx, mock};

pub async fn run(ctx: &Ctx, api: Api, warmup: usize, rounds: usize, per_round: usize) -> Result<Value, String> {
    mock::set_behavior(&ctx.direct, &mock::instant()).await?;
    let body = chat_body(api, false);
    let sides = [&ctx.direct, &ctx.mintoken];
    let mut conns = [Conn::open(ctx.direct.addr).await?, Conn::open(ctx.mintoken.addr).await?];
    let mut tallies = [Tally::default(), Tally::default()];

    for (side, conn) in sides.iter().zip(conns.iter_mut()) {
        let mut discard = Tally::default();
        measure(side, conn, api, &body, warmup, &mut discard).await;
    }
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            measure(sides[i], &mut conns[i], api, &body, per_round, &mut tallies[i]).await;
        }
    }
    let [direct, mintoken] = tallies;
    Ok(json!({
        "scenario": "latency",
        "api": api.as_str(),
        "rounds": rounds,
        "per_round": per_round,
        "request_bytes": body.len(),
        "direct": direct.to_json(),
        "mintoken": mintoken.to_json(),
    }))
}

async fn measure(endpoint: &Endpoint, conn: &mut Conn, api: Api, body: &bytes::Bytes, n: usize, tally: &mut Tally) {
    for _ in 0..n {
        let request = endpoint.request(api, api.path(), body.clone());
        match conn.call(request).await {
            Ok(reply) => tally.ok(&reply),
            Err(e) => tally.error(e),
        }
    }
}
