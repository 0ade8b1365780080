//! What the benchmark sends: a typical ~2 KB chat request per API (plain and
//! streamed), and a generated ~1 MB coding-agent session for the context
//! compression scenario. Bodies are built once and reused, so building them is
//! never part of a measurement.

use bytes::Bytes;
use clap::ValueEnum;
use serde_json::{Value, json};

/// The provider APIs the harness drives.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum Api {
    #[value(name = "openai")]
    OpenAi,
    Anthropic,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::OpenAi => "openai",
            Api::Anthropic => "anthropic",
        }
    }

    /// The same path on the mock and on mintoken.
    pub fn path(self) -> &'static str {
        match self {
            Api::OpenAi => "/v1/chat/completions",
            Api::Anthropic => "/v1/messages",
        }
    }

    /// Bytes that only the last event of a complete stream contains.
    pub fn end_marker(self) -> &'static [u8] {
        match self {
            Api::OpenAi => b"data: [DONE]",
            Api::Anthropic => b"message_stop",
        }
    }
}

pub const SYSTEM: &str = "You are a helpful assistant for a small software team. Answer precisely, cite the \
    commands you use, and say when you are unsure.";

/// A general question of about 1.5 KB: what most chat traffic looks like, so
/// the classifier and skill injection do their usual amount of work.
pub const PROMPT: &str = "Our service runs behind a reverse proxy and we see occasional 502 errors during \
    deployments. The proxy keeps idle upstream connections for 90 seconds, the application closes idle \
    connections after 60 seconds, and we deploy by sending SIGTERM and starting the new version on the same \
    port. Requests that arrive while the old process drains sometimes fail with 'connection reset by peer'. \
    Explain what is most likely happening, step by step, and how the keep-alive timeouts on both sides should \
    relate to each other. Then describe how a graceful shutdown should work for an HTTP server: when to stop \
    accepting, how long to wait for in-flight requests, what to do with long-lived streaming responses, and how \
    a load balancer's health check fits in. Finally, list the metrics we should watch during a deployment to \
    confirm the fix, with a short reason for each. We use a Linux host, systemd, and a single instance per \
    machine; there are four machines behind one load balancer. The application is written in Rust with a \
    tokio runtime, and the proxy is a recent nginx. We would prefer configuration changes over code changes \
    where possible, but we can change code if it is the better fix. Please keep the answer structured so we \
    can turn it into a runbook for the on-call engineers, who are not all familiar with networking details.";

/// The body of one chat request for `api`.
pub fn chat_body(api: Api, stream: bool) -> Bytes {
    let body = match api {
        Api::OpenAi => {
            let mut body = json!({
                "model": "gpt-4o-mini",
                "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
            });
            if stream {
                body["stream"] = json!(true);
                body["stream_options"] = json!({"include_usage": true});
            }
            body
        }
        Api::Anthropic => {
            let mut body = json!({
                "model": "claude-sonnet-4-5",
                "max_tokens": 1024,
                "system": SYSTEM,
                "messages": [{"role": "user", "content": PROMPT}],
            });
            if stream {
                body["stream"] = json!(true);
            }
            body
        }
    };
    Bytes::from(body.to_string())
}

/// One step of a generated agent session: a tool call and its result.
struct Step {
    tool: &'static str,
    arguments: Value,
    result: String,
}

/// A coding-agent session of about `target_bytes`, in `api`'s format: a system
/// prompt, a task, then tool calls whose results are source files (one read
/// again and again, i.e. identical results), long test logs with a few errors
/// and search output. `seed` changes every line, so two seeds share no text
/// and no cached token counts.
pub fn agent_session(api: Api, target_bytes: usize, seed: u64) -> Bytes {
    agent_session_with(api, target_bytes, seed, AGENT_SYSTEM)
}

const AGENT_SYSTEM: &str = "You are a coding agent. Use the tools to read files, search and run commands. Make \
                            the smallest change that fixes the problem and explain it briefly.";

/// One turn of a coding agent as such tools send it: [`agent_session`] of about
/// `target_bytes` with a system prompt of ~16 KB (rules, tool guidance and conventions,
/// as coding agents' system prompts run to 10–30 KB).
pub fn agent_request(api: Api, target_bytes: usize) -> Bytes {
    let mut system = String::from(AGENT_SYSTEM);
    let rules = [
        "Read a file before you change it, and keep its existing style, naming and error handling.",
        "Run the narrowest test command that covers the change, then the full suite before you finish.",
        "Never print secrets, tokens or environment values in your answers or in command output you quote.",
        "Prefer editing existing code over adding new files; add a test for every behaviour you change.",
        "When a command fails, read its output completely and fix the first error before the others.",
        "Keep answers short: say what you changed, where, and why, in a few sentences.",
    ];
    for n in 0.. {
        if system.len() >= 16_000 {
            break;
        }
        system.push_str(&format!("\n{}. {}", n + 1, rules[n % rules.len()]));
    }
    agent_session_with(api, target_bytes, 1, &system)
}

fn agent_session_with(api: Api, target_bytes: usize, seed: u64, system: &str) -> Bytes {
    let steps = agent_steps(target_bytes, seed);
    let task = format!(
        "Session {seed}: the integration tests of the billing service fail since yesterday's merge. Find the \
         cause, fix it, and run the tests again."
    );
    let body = match api {
        Api::OpenAi => {
            let mut messages =
                vec![json!({"role": "system", "content": system}), json!({"role": "user", "content": task})];
            for (i, step) in steps.iter().enumerate() {
                let id = format!("call_{seed}_{i}");
                messages.push(json!({"role": "assistant", "content": null, "tool_calls": [{
                    "id": id, "type": "function",
                    "function": {"name": step.tool, "arguments": step.arguments.to_string()}}]}));
                messages.push(json!({"role": "tool", "tool_call_id": id, "content": step.result}));
            }
            messages.push(json!({"role": "user", "content": "Good. Now summarise what you changed and why."}));
            json!({"model": "gpt-4o", "messages": messages, "tools": tool_definitions(api)})
        }
        Api::Anthropic => {
            let mut messages = vec![json!({"role": "user", "content": task})];
            for (i, step) in steps.iter().enumerate() {
                let id = format!("toolu_{seed}_{i}");
                messages.push(json!({"role": "assistant", "content": [
                    {"type": "text", "text": "Let me look at that."},
                    {"type": "tool_use", "id": id, "name": step.tool, "input": step.arguments}]}));
                messages.push(json!({"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": id, "content": step.result}]}));
            }
            messages.push(json!({"role": "user", "content": "Good. Now summarise what you changed and why."}));
            json!({"model": "claude-sonnet-4-5", "max_tokens": 4096, "system": system,
                   "messages": messages, "tools": tool_definitions(api)})
        }
    };
    Bytes::from(body.to_string())
}

fn tool_definitions(api: Api) -> Value {
    let tools = [("read_file", "Read a file"), ("run", "Run a shell command"), ("grep", "Search the repository")];
    let schema = json!({"type": "object", "properties": {"arg": {"type": "string"}}});
    let list: Vec<Value> = tools
        .iter()
        .map(|(name, description)| match api {
            Api::OpenAi => json!({"type": "function", "function":
                {"name": name, "description": description, "parameters": schema}}),
            Api::Anthropic => json!({"name": name, "description": description, "input_schema": schema}),
        })
        .collect();
    Value::Array(list)
}

fn agent_steps(target_bytes: usize, seed: u64) -> Vec<Step> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    // The file the agent keeps re-reading: identical results, kept once by compression.
    let hot_file = source_file(&mut rng, seed, "billing/invoice.rs", 300);
    let mut steps = Vec::new();
    let mut total = 0;
    let mut i = 0u64;
    while total < target_bytes {
        let step = match i % 5 {
            0 | 3 => {
                Step { tool: "read_file", arguments: json!({"path": "billing/invoice.rs"}), result: hot_file.clone() }
            }
            1 => {
                let path = format!("billing/module_{i}.rs");
                Step {
                    tool: "read_file",
                    arguments: json!({"path": path}),
                    result: source_file(&mut rng, seed, &path, 200),
                }
            }
            2 => Step {
                tool: "run",
                arguments: json!({"command": "cargo test -p billing"}),
                result: test_log(&mut rng, seed, 1_500),
            },
            _ => Step {
                tool: "grep",
                arguments: json!({"pattern": "fn total"}),
                result: grep_output(&mut rng, seed, 120),
            },
        };
        total += step.result.len();
        steps.push(step);
        i += 1;
    }
    steps
}

fn source_file(rng: &mut Rng, seed: u64, path: &str, lines: usize) -> String {
    let mut out = format!("// {path}\nuse crate::money::Amount;\n\n");
    for n in 0..lines {
        let line = match rng.below(4) {
            0 => format!("pub fn total_{seed}_{n}(items: &[Line]) -> Amount {{\n"),
            1 => format!("    let subtotal_{n} = items.iter().map(|l| l.price * l.qty).sum::<Amount>(); // {seed}\n"),
            2 => format!(
                "    if subtotal_{n} > Amount::cents({}) {{ return apply_discount(subtotal_{n}); }}\n",
                rng.below(100_000)
            ),
            _ => "}\n".to_owned(),
        };
        out.push_str(&line);
    }
    out
}

fn test_log(rng: &mut Rng, seed: u64, lines: usize) -> String {
    let mut out =
        String::from("   Compiling billing v0.4.2\n    Finished test profile in 41.2s\n     Running unittests\n");
    for n in 0..lines {
        if rng.below(300) == 0 {
            out.push_str(&format!(
                "test invoice::tests::rounding_{n} ... FAILED\nthread 'rounding_{n}' panicked at billing/invoice.rs:{}: \
                 assertion `left == right` failed (seed {seed})\n",
                rng.below(300)
            ));
        } else {
            out.push_str(&format!("test invoice::tests::case_{seed}_{n} ... ok\n"));
        }
    }
    out.push_str("test result: FAILED. 1496 passed; 4 failed; 0 ignored\n");
    out
}

fn grep_output(rng: &mut Rng, seed: u64, lines: usize) -> String {
    (0..lines)
        .map(|n| {
            format!(
                "billing/module_{}.rs:{}:pub fn total_{seed}_{n}(items: &[Line]) -> Amount {{\n",
                rng.below(50),
                rng.below(400)
            )
        })
        .collect()
}

/// xorshift64: deterministic filler, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_about_the_requested_size_and_valid_json() {
        for api in [Api::OpenAi, Api::Anthropic] {
            let body = agent_session(api, 1_000_000, 7);
            assert!((1_000_000..1_400_000).contains(&body.len()), "{} bytes", body.len());
            let value: Value = serde_json::from_slice(&body).unwrap();
            assert!(value["messages"].as_array().unwrap().len() > 50);
            assert_eq!(body, agent_session(api, 1_000_000, 7));
            assert_ne!(body, agent_session(api, 1_000_000, 8));
        }
    }

    #[test]
    fn chat_bodies_parse() {
        for api in [Api::OpenAi, Api::Anthropic] {
            for stream in [false, true] {
                let value: Value = serde_json::from_slice(&chat_body(api, stream)).unwrap();
                assert_eq!(value["stream"].as_bool().unwrap_or(false), stream);
            }
        }
    }
}
