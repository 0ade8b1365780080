//! Synthetic coding-agent sessions for the context-compression harness, and their rendering
//! into the four request shapes.
//!
//! A session is a system prompt, a first task, then 10–150 agent steps: file reads (some
//! files read again unchanged, some changed in between — those must never be merged),
//! edits, build and test logs with errors buried in the middle, grep output, JSON payloads,
//! directory listings, and now and then a short user turn. Needles — unique strings — are
//! planted in error lines, user messages, ordinary log lines, file contents, grep output
//! and JSON payloads, and in the last results (the recency window), so the harness can tell
//! what survives where. Everything is drawn from one seed.
#![allow(dead_code)] // shared by the example, a test and a bench that each use a part

use mintoken_compress::context::Shape;
use serde_json::{Map, Value, json};

use crate::prng::Rng;

/// Where a needle was planted (the harness adds "recency window" from its position).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NeedleKind {
    ErrorLine,
    UserMessage,
    OrdinaryLogLine,
    FileContent,
    GrepLine,
    JsonValue,
}

pub struct Needle {
    pub text: String,
    pub kind: NeedleKind,
}

pub struct Call {
    pub id: String,
    pub name: &'static str,
    pub args: Value,
}

pub struct Output {
    pub call_id: String,
    pub name: &'static str,
    pub text: String,
    pub is_error: bool,
    /// Drawn once so renderers can vary the JSON form (string or parts) deterministically.
    pub style: usize,
}

pub enum Event {
    User(String),
    Assistant { text: String, calls: Vec<Call> },
    Results(Vec<Output>),
}

pub struct Session {
    pub system: String,
    pub events: Vec<Event>,
    pub needles: Vec<Needle>,
}

impl Session {
    /// Bytes of text in the session (a rough size, used to aim at a target size).
    pub fn text_bytes(&self) -> usize {
        self.system.len()
            + self
                .events
                .iter()
                .map(|e| match e {
                    Event::User(t) => t.len(),
                    Event::Assistant { text, .. } => text.len(),
                    Event::Results(rs) => rs.iter().map(|r| r.text.len()).sum(),
                })
                .sum::<usize>()
    }
}

#[derive(Clone, Copy)]
pub struct Config {
    pub min_turns: usize,
    pub max_turns: usize,
}

/// The harness's sessions: 10–150 agent steps.
pub const FULL: Config = Config { min_turns: 10, max_turns: 150 };

pub fn generate(seed: u64, config: Config) -> Session {
    let mut g = Gen::new(seed);
    let turns = g.rng.range(config.min_turns, config.max_turns);
    for _ in 0..turns {
        g.step();
    }
    g.finish()
}

/// A session grown step by step until its text reaches `bytes`.
pub fn generate_bytes(seed: u64, bytes: usize) -> Session {
    let mut g = Gen::new(seed);
    while g.session.text_bytes() < bytes {
        g.step();
    }
    g.finish()
}

struct File {
    path: String,
    lines: Vec<String>,
}

struct Gen {
    rng: Rng,
    session: Session,
    files: Vec<File>,
    /// Earlier command outputs, re-emitted byte-identical when a command is re-run with
    /// nothing changed (the duplicates deduplication is for).
    commands: Vec<(Value, String, bool)>,
    calls: usize,
}

const CRATES: &[&str] = &[
    "serde",
    "tokio",
    "hyper",
    "axum",
    "tower",
    "tracing",
    "regex",
    "bytes",
    "futures",
    "clap",
    "anyhow",
    "thiserror",
    "rand",
    "chrono",
    "uuid",
    "sqlx",
    "reqwest",
    "rustls",
    "ring",
    "itertools",
    "indexmap",
    "once_cell",
];
const MODULES: &[&str] = &[
    "auth", "billing", "cache", "config", "db", "handlers", "http", "jobs", "metrics", "models", "orders", "parser",
    "queue", "routes", "session", "storage", "sync", "users", "util", "worker",
];
const WORDS: &[&str] = &[
    "request", "response", "buffer", "client", "limit", "count", "total", "state", "entry", "value", "index", "retry",
    "timeout", "payload", "record", "batch", "token", "cursor", "window", "offset", "handle", "owner", "scope",
];
const USER_SHORT: &[&str] = &[
    "continue",
    "ok, go on",
    "looks good, keep going",
    "please also run the tests",
    "can you check the other call sites too?",
    "don't change the public API",
    "why did that fail?",
    "try a smaller change first",
];
const SYSTEM_SENTENCES: &[&str] = &[
    "You are a coding agent working in the user's repository.",
    "Use the tools to read files, search the code, run commands and edit files.",
    "Prefer small, reviewable changes and explain what you changed and why.",
    "Never run destructive commands such as rm -rf or git push --force without asking.",
    "When a command fails, read its output carefully before trying again.",
    "Keep the existing code style; run the formatter and the tests before you finish.",
    "If the task is ambiguous, ask one precise question instead of guessing.",
    "Do not add dependencies unless the task needs them.",
    "Quote file paths and line numbers when you refer to code.",
    "Stop when the task is done and summarise the result in two or three sentences.",
];

impl Gen {
    fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let system = (0..rng.range(12, 40)).map(|_| *rng.pick(SYSTEM_SENTENCES)).collect::<Vec<_>>().join(" ");
        let mut g = Gen {
            rng,
            session: Session { system, events: Vec::new(), needles: Vec::new() },
            files: Vec::new(),
            commands: Vec::new(),
            calls: 0,
        };
        let task = g.user_text(true);
        g.session.events.push(Event::User(task));
        g
    }

    fn needle(&mut self, kind: NeedleKind, prefix: &str) -> String {
        let text = format!("{prefix}{}", self.rng.hex(10));
        self.session.needles.push(Needle { text: text.clone(), kind });
        text
    }

    fn ident(&mut self) -> String {
        format!("{}_{}", self.rng.pick(WORDS), self.rng.pick(WORDS))
    }

    /// A user turn: the first task is long and may carry a code fence; later ones are short.
    fn user_text(&mut self, first: bool) -> String {
        let mut text = if first {
            format!(
                "The {} module returns wrong totals since the last release. Find the cause, fix it and make \
                 sure the test suite passes.",
                self.rng.pick(MODULES)
            )
        } else {
            self.rng.pick(USER_SHORT).to_string()
        };
        if first || self.rng.percent(40) {
            let needle = self.needle(NeedleKind::UserMessage, "INC-");
            text.push_str(&format!(" The incident ticket is {needle}."));
        }
        if first || self.rng.percent(20) {
            let needle = self.needle(NeedleKind::UserMessage, "ord_");
            let ident = self.ident();
            text.push_str(&format!(
                "\n\nThis reproduces it:\n\n```rust\nlet {ident} = client.fetch(\"{needle}\").await?;\n\
                 assert_eq!({ident}.total, 1299);\n```\n"
            ));
        }
        text
    }

    fn call(&mut self, name: &'static str, args: Value) -> Call {
        self.calls += 1;
        let id = format!("call_{:04}_{}", self.calls, self.rng.hex(12));
        Call { id, name, args }
    }

    fn step(&mut self) {
        if self.session.events.len() > 1 && self.rng.percent(12) {
            let text = self.user_text(false);
            self.session.events.push(Event::User(text));
        }
        let parallel = if self.rng.percent(15) { 2 } else { 1 };
        let mut calls = Vec::new();
        let mut outputs = Vec::new();
        for _ in 0..parallel {
            let (call, text, is_error) = self.tool_step();
            let style = self.rng.below(100);
            outputs.push(Output { call_id: call.id.clone(), name: call.name, text, is_error, style });
            calls.push(call);
        }
        let text = format!(
            "Next I will {} the {} code.",
            self.rng.pick(&["inspect", "check", "update"]),
            self.rng.pick(MODULES)
        );
        self.session.events.push(Event::Assistant { text, calls });
        self.session.events.push(Event::Results(outputs));
    }

    fn tool_step(&mut self) -> (Call, String, bool) {
        match self.rng.below(100) {
            0..=21 => self.read_new_file(),
            22..=39 if !self.files.is_empty() => self.reread_file(),
            40..=47 if !self.files.is_empty() => self.edit_file(),
            48..=65 => self.run_command(),
            66..=78 => self.grep(),
            79..=88 => self.fetch_json(),
            _ => self.list_dir(),
        }
    }

    fn code_line(&mut self) -> String {
        let a = self.ident();
        let b = self.ident();
        let indent = "    ".repeat(self.rng.range(0, 3));
        match self.rng.below(10) {
            0 => format!("{indent}pub fn {a}(&self, {b}: usize) -> Option<usize> {{"),
            1 => format!("{indent}let {a} = self.{b}.get(index).copied().unwrap_or_default();"),
            2 => format!("{indent}if {a} > {b} {{"),
            3 => format!("{indent}}}"),
            4 => format!("{indent}// keep {a} in sync with {b}"),
            5 => format!("{indent}{a}.push({b}.clone());"),
            6 => format!("{indent}return Ok({a});"),
            7 => String::new(),
            8 => format!("{indent}for {a} in {b}.iter() {{"),
            _ => format!("{indent}self.{a} += {b} * {};", self.rng.range(2, 999)),
        }
    }

    fn read_new_file(&mut self) -> (Call, String, bool) {
        let path = format!("src/{}/{}.rs", self.rng.pick(MODULES), self.ident());
        let n = if self.rng.percent(20) { self.rng.range(200, 600) } else { self.rng.range(20, 200) };
        let mut lines: Vec<String> = (0..n).map(|_| self.code_line()).collect();
        if self.rng.percent(30) {
            let needle = self.needle(NeedleKind::FileContent, "tag_");
            let at = self.rng.below(lines.len());
            lines[at] = format!("const BUILD_TAG: &str = \"{needle}\";");
        }
        self.files.push(File { path: path.clone(), lines });
        let k = self.files.len() - 1;
        self.read_file(k)
    }

    /// Reads a known file again: unchanged half the time (identical output), otherwise after
    /// an out-of-band change of a few lines (different output that must not be merged).
    fn reread_file(&mut self) -> (Call, String, bool) {
        let k = self.rng.below(self.files.len());
        if self.rng.percent(50) {
            self.mutate_file(k);
        }
        self.read_file(k)
    }

    fn mutate_file(&mut self, k: usize) {
        for _ in 0..self.rng.range(1, 4) {
            let line = self.code_line();
            let len = self.files[k].lines.len();
            let at = self.rng.below(len);
            self.files[k].lines[at] = line;
        }
    }

    fn read_file(&mut self, k: usize) -> (Call, String, bool) {
        let file = &self.files[k];
        let text = file.lines.iter().enumerate().map(|(i, l)| format!("{:>6}\t{l}\n", i + 1)).collect();
        let path = file.path.clone();
        (self.call("read_file", json!({ "path": path })), text, false)
    }

    fn edit_file(&mut self) -> (Call, String, bool) {
        let k = self.rng.below(self.files.len());
        self.mutate_file(k);
        let path = self.files[k].path.clone();
        let old = self.code_line();
        let new = self.code_line();
        let text = format!("The file {path} has been updated.");
        (self.call("edit_file", json!({ "path": path, "old": old, "new": new })), text, false)
    }

    fn run_command(&mut self) -> (Call, String, bool) {
        // Re-running a command with nothing changed prints the same bytes again.
        if !self.commands.is_empty() && self.rng.percent(25) {
            let (args, text, is_error) = self.commands[self.rng.below(self.commands.len())].clone();
            return (self.call("run_command", args), text, is_error);
        }
        let lines = if self.rng.percent(25) { self.rng.range(300, 1200) } else { self.rng.range(20, 300) };
        let (command, text, is_error) = match self.rng.below(3) {
            0 => ("cargo test --workspace", self.cargo_log(lines), true),
            1 => ("pytest -x -q", self.pytest_log(lines), true),
            _ => ("npm run build", self.npm_log(lines), false),
        };
        let args = json!({ "command": command });
        self.commands.push((args.clone(), text.clone(), is_error));
        (self.call("run_command", args), text, is_error)
    }

    /// Fills `n` lines with ordinary output from `ordinary`, buries error blocks from `error`
    /// in the middle, and plants needles in both kinds of line.
    fn log(
        &mut self,
        n: usize,
        ordinary: fn(&mut Gen) -> String,
        error: fn(&mut Gen, &str) -> Vec<String>,
        ordinary_needle: fn(&str) -> String,
    ) -> String {
        let mut lines: Vec<String> = (0..n).map(|_| ordinary(self)).collect();
        // A warning line now and then, as real builds have.
        for _ in 0..n / 150 {
            let at = self.rng.below(lines.len());
            let ident = self.ident();
            lines[at] = format!("warning: unused variable: `{ident}`");
        }
        for _ in 0..self.rng.range(0, 2) {
            let at = self.rng.below(lines.len());
            let needle = self.needle(NeedleKind::OrdinaryLogLine, "dep_");
            lines[at] = ordinary_needle(&needle);
        }
        for _ in 0..self.rng.range(1, 3) {
            let needle = self.needle(NeedleKind::ErrorLine, "sym_");
            let block = error(self, &needle);
            // Middle third: where head/tail truncation cuts.
            let at = n / 3 + self.rng.below(n / 3 + 1);
            let at = at.min(lines.len());
            lines.splice(at..at, block);
        }
        let mut text = lines.join("\n");
        text.push('\n');
        text
    }

    fn cargo_log(&mut self, n: usize) -> String {
        let mut text = self.log(
            n,
            |g| match g.rng.below(4) {
                0 => format!(
                    "   Compiling {} v{}.{}.{}",
                    g.rng.pick(CRATES),
                    g.rng.below(3),
                    g.rng.below(40),
                    g.rng.below(20)
                ),
                1 => format!("test {}::tests::{} ... ok", g.rng.pick(MODULES), g.ident()),
                2 => format!(
                    "    Checking {} v0.{}.0 (/home/dev/app/crates/{})",
                    g.rng.pick(MODULES),
                    g.rng.below(9),
                    g.rng.pick(MODULES)
                ),
                _ => format!("test {}::{}_{} ... ok", g.rng.pick(MODULES), g.ident(), g.rng.below(100)),
            },
            |g, needle| {
                let module = g.rng.pick(MODULES).to_string();
                let line = g.rng.range(10, 900);
                vec![
                    format!("error[E0425]: cannot find value `{needle}` in this scope"),
                    format!("  --> src/{module}/mod.rs:{line}:17"),
                    "   |".to_string(),
                    format!("{line} |         let total = {needle} + offset;"),
                    "   |                     ^^^^ not found in this scope".to_string(),
                ]
            },
            |needle| format!("   Compiling {needle} v0.4.1"),
        );
        text.push_str(&format!("test result: FAILED. {} passed; 1 failed; 0 ignored\n", self.rng.range(50, 900)));
        text
    }

    fn pytest_log(&mut self, n: usize) -> String {
        self.log(
            n,
            |g| {
                format!(
                    "tests/test_{}.py::test_{} PASSED{:>12}",
                    g.rng.pick(MODULES),
                    g.ident(),
                    format!("[{:>3}%]", g.rng.below(100))
                )
            },
            |g, needle| {
                let module = g.rng.pick(MODULES).to_string();
                vec![
                    "Traceback (most recent call last):".to_string(),
                    format!("  File \"app/{module}.py\", line {}, in apply", g.rng.range(10, 500)),
                    "    return self._lookup(key)".to_string(),
                    format!("KeyError: '{needle}'"),
                    format!("FAILED tests/test_{module}.py::test_totals - KeyError: '{needle}'"),
                ]
            },
            |needle| format!("tests/test_{needle}.py::test_roundtrip PASSED"),
        )
    }

    fn npm_log(&mut self, n: usize) -> String {
        self.log(
            n,
            |g| match g.rng.below(3) {
                0 => format!(
                    "  asset {}.{}.js {} KiB [emitted] [minimized]",
                    g.ident(),
                    g.rng.hex(8),
                    g.rng.range(1, 900)
                ),
                1 => format!(
                    "  ./src/{}/{}.ts {} bytes [built] [code generated]",
                    g.rng.pick(MODULES),
                    g.ident(),
                    g.rng.range(100, 90_000)
                ),
                _ => format!("  modules by path ./node_modules/{}/ {} KiB", g.rng.pick(CRATES), g.rng.range(1, 400)),
            },
            |g, needle| {
                vec![format!(
                    "ERROR in ./src/{}/index.ts {}:{} TS2304: Cannot find name '{needle}'.",
                    g.rng.pick(MODULES),
                    g.rng.range(1, 400),
                    g.rng.range(1, 80)
                )]
            },
            |needle| format!("  ./node_modules/{needle}/index.js 812 bytes [built]"),
        )
    }

    fn grep(&mut self) -> (Call, String, bool) {
        let pattern = self.ident();
        let n = if self.rng.percent(15) { self.rng.range(100, 400) } else { self.rng.range(3, 100) };
        let mut lines: Vec<String> = (0..n)
            .map(|_| {
                let code = self.code_line();
                format!("src/{}/{}.rs:{}:{}", self.rng.pick(MODULES), self.ident(), self.rng.range(1, 800), code.trim())
            })
            .collect();
        if self.rng.percent(40) {
            let needle = self.needle(NeedleKind::GrepLine, "fn_");
            let at = self.rng.below(lines.len());
            lines[at] = format!("src/routes/{needle}.rs:42:    let {pattern} = route(&state);");
        }
        let text = lines.join("\n") + "\n";
        (self.call("grep", json!({ "pattern": pattern, "path": "src" })), text, false)
    }

    fn fetch_json(&mut self) -> (Call, String, bool) {
        let n = if self.rng.percent(20) { self.rng.range(40, 150) } else { self.rng.range(3, 40) };
        let needle_at = if self.rng.percent(50) { Some(self.rng.below(n)) } else { None };
        let mut records = Vec::new();
        for i in 0..n {
            let id = if needle_at == Some(i) {
                self.needle(NeedleKind::JsonValue, "ord_")
            } else {
                format!("ord_{}", self.rng.hex(10))
            };
            records.push(json!({
                "id": id,
                "customer": format!("cus_{}", self.rng.hex(8)),
                "amount_cents": self.rng.range(100, 500_000),
                "currency": self.rng.pick(&["EUR", "USD", "GBP"]),
                "status": self.rng.pick(&["paid", "open", "refunded"]),
                "items": self.rng.range(1, 9),
            }));
        }
        let text = serde_json::to_string_pretty(&json!({ "data": records, "has_more": self.rng.percent(50) }))
            .unwrap_or_default();
        (self.call("http_get", json!({ "url": "https://api.internal/v1/orders?limit=100" })), text, false)
    }

    fn list_dir(&mut self) -> (Call, String, bool) {
        // Small, and often byte-identical to an earlier listing.
        let module = self.rng.pick(&MODULES[..4]).to_string();
        let mut names: Vec<String> = (0..6).map(|i| format!("{module}_{i}.rs")).collect();
        names.push("mod.rs".to_string());
        let text = names.join("\n");
        (self.call("list_dir", json!({ "path": format!("src/{module}") })), text, false)
    }

    /// Ends on a large fresh log whose middle holds needles: it sits in every level's
    /// recency window, where nothing may be cut.
    fn finish(mut self) -> Session {
        let n = self.rng.range(300, 800);
        let text = self.cargo_log(n);
        let call = self.call("run_command", json!({ "command": "cargo test --workspace" }));
        let style = self.rng.below(100);
        let output = Output { call_id: call.id.clone(), name: call.name, text, is_error: true, style };
        self.session.events.push(Event::Assistant { text: "Running the tests again.".to_string(), calls: vec![call] });
        self.session.events.push(Event::Results(vec![output]));
        self.session
    }
}

/// Renders a session as the request body of `shape`.
pub fn render(session: &Session, shape: Shape) -> Map<String, Value> {
    let body = match shape {
        Shape::OpenAiChat => render_openai_chat(session),
        Shape::Anthropic => render_anthropic(session),
        Shape::OpenAiResponses => render_responses(session),
        Shape::Gemini => render_gemini(session),
    };
    match body {
        Value::Object(map) => map,
        _ => unreachable!("bodies are objects"),
    }
}

fn tool_defs() -> Value {
    json!([
        { "name": "read_file", "description": "Read a file", "parameters": { "type": "object" } },
        { "name": "run_command", "description": "Run a shell command", "parameters": { "type": "object" } },
    ])
}

fn render_openai_chat(s: &Session) -> Value {
    let mut messages = vec![json!({ "role": "system", "content": s.system })];
    for event in &s.events {
        match event {
            Event::User(text) => messages.push(json!({ "role": "user", "content": text })),
            Event::Assistant { text, calls } => {
                let calls: Vec<Value> = calls
                    .iter()
                    .map(|c| json!({ "id": c.id, "type": "function", "function": { "name": c.name, "arguments": c.args.to_string() } }))
                    .collect();
                messages.push(json!({ "role": "assistant", "content": text, "tool_calls": calls }));
            }
            Event::Results(outputs) => {
                for o in outputs {
                    let content =
                        if o.style < 10 { json!([{ "type": "text", "text": o.text }]) } else { json!(o.text) };
                    messages.push(json!({ "role": "tool", "tool_call_id": o.call_id, "content": content }));
                }
            }
        }
    }
    json!({ "model": "gpt-4.1", "messages": messages, "tools": tool_defs(), "temperature": 0 })
}

fn render_anthropic(s: &Session) -> Value {
    let mut messages: Vec<Value> = Vec::new();
    for event in &s.events {
        match event {
            Event::User(text) => {
                let block = json!({ "type": "text", "text": text });
                // A user turn after tool results joins their message: roles must alternate.
                match messages.last_mut() {
                    Some(last) if last["role"] == "user" => {
                        if let Some(blocks) = last["content"].as_array_mut() {
                            blocks.push(block);
                        }
                    }
                    _ => messages.push(json!({ "role": "user", "content": [block] })),
                }
            }
            Event::Assistant { text, calls } => {
                let mut blocks = vec![json!({ "type": "text", "text": text })];
                blocks.extend(
                    calls.iter().map(|c| json!({ "type": "tool_use", "id": c.id, "name": c.name, "input": c.args })),
                );
                messages.push(json!({ "role": "assistant", "content": blocks }));
            }
            Event::Results(outputs) => {
                let blocks: Vec<Value> = outputs
                    .iter()
                    .map(|o| {
                        let content = match o.style {
                            // A screenshot next to the text: the image must stay untouched.
                            0..=2 => json!([
                                { "type": "text", "text": o.text },
                                { "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo=" } },
                            ]),
                            3..=12 => json!([{ "type": "text", "text": o.text }]),
                            _ => json!(o.text),
                        };
                        let mut block = json!({ "type": "tool_result", "tool_use_id": o.call_id, "content": content });
                        if o.is_error && o.style % 2 == 0 {
                            block["is_error"] = json!(true);
                        }
                        block
                    })
                    .collect();
                messages.push(json!({ "role": "user", "content": blocks }));
            }
        }
    }
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 8192,
        "system": [{ "type": "text", "text": s.system, "cache_control": { "type": "ephemeral" } }],
        "messages": messages,
        "tools": tool_defs(),
    })
}

fn render_responses(s: &Session) -> Value {
    let mut input = Vec::new();
    for event in &s.events {
        match event {
            Event::User(text) => input.push(
                json!({ "type": "message", "role": "user", "content": [{ "type": "input_text", "text": text }] }),
            ),
            Event::Assistant { text, calls } => {
                input.push(json!({ "type": "message", "role": "assistant", "content": [{ "type": "output_text", "text": text }] }));
                for c in calls {
                    input.push(json!({ "type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.args.to_string() }));
                }
            }
            Event::Results(outputs) => {
                for o in outputs {
                    input.push(json!({ "type": "function_call_output", "call_id": o.call_id, "output": o.text }));
                }
            }
        }
    }
    json!({ "model": "gpt-5", "instructions": s.system, "input": input, "tools": tool_defs() })
}

fn render_gemini(s: &Session) -> Value {
    let mut contents: Vec<Value> = Vec::new();
    for event in &s.events {
        match event {
            Event::User(text) => match contents.last_mut() {
                Some(last) if last["role"] == "user" => {
                    if let Some(parts) = last["parts"].as_array_mut() {
                        parts.push(json!({ "text": text }));
                    }
                }
                _ => contents.push(json!({ "role": "user", "parts": [{ "text": text }] })),
            },
            Event::Assistant { text, calls } => {
                let mut parts = vec![json!({ "text": text })];
                parts.extend(
                    calls.iter().map(|c| json!({ "functionCall": { "id": c.id, "name": c.name, "args": c.args } })),
                );
                contents.push(json!({ "role": "model", "parts": parts }));
            }
            Event::Results(outputs) => {
                let parts: Vec<Value> = outputs
                    .iter()
                    .map(|o| {
                        let response = if o.is_error && o.style < 50 {
                            json!({ "content": o.text, "exit_code": 1 })
                        } else {
                            json!({ "output": o.text })
                        };
                        json!({ "functionResponse": { "id": o.call_id, "name": o.name, "response": response } })
                    })
                    .collect();
                contents.push(json!({ "role": "user", "parts": parts }));
            }
        }
    }
    json!({
        "systemInstruction": { "parts": [{ "text": s.system }] },
        "contents": contents,
        "generationConfig": { "temperature": 0 },
    })
}
