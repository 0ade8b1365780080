//! Context compression on a ~1 MB coding-agent session: the same request sent
//! to the mock directly, through mintoken with a key that has context
//! compression off, and with a key that has it on, in turn, one at a time.
//! Two cases: the same session again and again (mintoken's token-count cache
//! is warm) and a new session every time (cold). Throughput is the body size
//! divided by the latency mintoken adds.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::client::Conn;
use crate::payload::{Api, agent_session};
use crate::stats::Tally;
use crate::{Ctx, mock};

const BEFORE_HEADER: &str = "x-mintoken-context-tokens-before";
const AFTER_HEADER: &str = "x-mintoken-context-tokens-after";

pub async fn run(ctx: &Ctx, context_key: &str, count: usize, bytes: usize) -> Result<Value, String> {
    mock::set_behavior(&ctx.direct, &mock::instant()).await?;
    let compressing = ctx.mintoken.with_key(context_key);
    let endpoints = [&ctx.direct, &ctx.mintoken, &compressing];
    let mut conns = Vec::new();
    for endpoint in endpoints {
        conns.push(Conn::open(endpoint.addr).await?);
    }
    let mut cases = Vec::new();
    for api in [Api::OpenAi, Api::Anthropic] {
        let same = agent_session(api, bytes, 0);
        // Seeds from 1: every fresh session differs from the others and from `same`.
        let fresh: Vec<Bytes> = (1..=count as u64 + 1).map(|seed| agent_session(api, bytes, seed)).collect();
        for (case, bodies) in [("same session", vec![same; count + 1]), ("new session each time", fresh)] {
            let body_bytes = bodies.iter().map(Bytes::len).sum::<usize>() / bodies.len();
            let mut tallies = [Tally::default(), Tally::default(), Tally::default()];
            let mut tokens = None;
            for (i, body) in bodies.into_iter().enumerate() {
                // The first request of each case is a warm-up (connections, caches of the same session).
                let mut discard = [Tally::default(), Tally::default(), Tally::default()];
                let target = if i == 0 { &mut discard } else { &mut tallies };
                for (s, endpoint) in endpoints.iter().enumerate() {
                    let request = endpoint.request(api, api.path(), body.clone());
                    match conns[s].call(request).await {
                        Ok(reply) => {
                            target[s].ok(&reply);
                            if s == 2 {
                                tokens = Some((header_u64(&reply, BEFORE_HEADER), header_u64(&reply, AFTER_HEADER)));
                            }
                        }
                        Err(e) => target[s].error(e),
                    }
                }
            }
            let (before, after) = tokens.unwrap_or((None, None));
            cases.push(json!({
                "api": api.as_str(),
                "case": case,
                "body_bytes": body_bytes,
                "tokens_before": before,
                "tokens_after": after,
                "direct": tallies[0].to_json(),
                "mintoken_plain": tallies[1].to_json(),
                "mintoken_compress": tallies[2].to_json(),
            }));
        }
    }
    Ok(json!({"scenario": "compress", "count": count, "cases": cases}))
}

fn header_u64(reply: &crate::client::Reply, name: &str) -> Option<u64> {
    reply.headers.get(name)?.to_str().ok()?.parse().ok()
}
