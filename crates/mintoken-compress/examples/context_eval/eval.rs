//! Runs context compression on generated sessions and judges the result: token reduction,
//! needle retention by location, and the invariants Tier 1 promises (only old tool results
//! change, pairs stay valid, markers are honest, deterministic, idempotent, never larger).
//!
//! The checks read the request JSON on their own instead of reusing the library's walker,
//! so a bug there cannot hide itself here.
#![allow(dead_code)] // shared by the example, a test and a bench that each use a part

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mintoken_compress::ContextLevel;
use mintoken_compress::context::{self, ContextReport, ERROR_PATTERNS, MARKER_PREFIX, Shape, SkipReason, Tier1Params};
use serde_json::{Map, Value};

use crate::sessions::{self, Config, NeedleKind, Session};

pub const SHAPES: [Shape; 4] = [Shape::OpenAiChat, Shape::Anthropic, Shape::OpenAiResponses, Shape::Gemini];
pub const LEVELS: [ContextLevel; 3] = [ContextLevel::Conservative, ContextLevel::Standard, ContextLevel::Aggressive];

/// Where a needle sits, as the retention table reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Location {
    ErrorLine,
    UserMessage,
    RecencyWindow,
    OrdinaryLogLine,
    FileContent,
    GrepLine,
    JsonValue,
}

impl Location {
    pub const ALL: [Location; 7] = [
        Location::ErrorLine,
        Location::UserMessage,
        Location::RecencyWindow,
        Location::OrdinaryLogLine,
        Location::FileContent,
        Location::GrepLine,
        Location::JsonValue,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Location::ErrorLine => "error lines",
            Location::UserMessage => "user messages",
            Location::RecencyWindow => "recency window",
            Location::OrdinaryLogLine => "ordinary log lines",
            Location::FileContent => "file contents",
            Location::GrepLine => "grep output",
            Location::JsonValue => "JSON payloads",
        }
    }

    /// Locations where every needle must survive.
    pub fn required(self) -> bool {
        matches!(self, Location::ErrorLine | Location::UserMessage | Location::RecencyWindow)
    }
}

/// The seed of session `index` of a run: independent streams, stable per index.
pub fn session_seed(seed: u64, index: usize) -> u64 {
    seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

pub struct Outcome {
    pub bytes: usize,
    pub report: ContextReport,
    pub elapsed: Duration,
    pub needles: Vec<(Location, bool)>,
    pub checks_passed: usize,
    pub checks_total: usize,
    pub failures: Vec<String>,
}

/// Compresses one rendered session at one level and checks everything.
pub fn evaluate(session: &Session, shape: Shape, level: ContextLevel) -> Outcome {
    let original = sessions::render(session, shape);
    let checked = check(&original, shape, level);
    let needles = needles(session, &original, &checked.out_json, shape, Tier1Params::for_level(level).keep_recent);
    Outcome {
        bytes: checked.bytes,
        report: checked.report,
        elapsed: checked.elapsed,
        needles,
        checks_passed: checked.checks_total - checked.failures.len(),
        checks_total: checked.checks_total,
        failures: checked.failures,
    }
}

/// One compression of a request body and the verdict of every invariant check.
pub struct Checked {
    pub body: Map<String, Value>,
    pub out_json: String,
    pub bytes: usize,
    pub report: ContextReport,
    pub elapsed: Duration,
    pub checks_total: usize,
    /// "check: why" for each check that failed.
    pub failures: Vec<String>,
}

/// Compresses a copy of `original` and runs the invariant checks on the result.
pub fn check(original: &Map<String, Value>, shape: Shape, level: ContextLevel) -> Checked {
    let original_json = serde_json::to_string(original).unwrap_or_default();
    let mut body = original.clone();
    // Timed cold: as if the process had never seen this session.
    mintoken_compress::tokens::clear_cache();
    let started = Instant::now();
    let report = context::compress(&mut body, shape, level);
    let elapsed = started.elapsed();
    let out_json = serde_json::to_string(&body).unwrap_or_default();
    let params = Tier1Params::for_level(level);

    let checks: [(&str, Result<(), String>); 11] = [
        ("valid JSON of the same shape", same_shape(original, &out_json, shape)),
        ("nothing outside the conversation changed", outside_unchanged(original, &body, shape)),
        ("only tool-result payloads changed", only_payloads_changed(original, &body, shape)),
        ("recency window identical", recency_identical(original, &body, shape, params.keep_recent)),
        ("tool call/result pairs intact", pairs_intact(original, &body, shape)),
        ("dedup markers point at identical newer results", dedup_markers_honest(original, &body, shape)),
        ("truncations keep head, tail and error lines", truncations_valid(original, &body, shape, &params)),
        ("deterministic", deterministic(original, &out_json, shape, level)),
        ("idempotent", idempotent(&body, &out_json, shape, level)),
        ("never larger", never_larger(&report, &original_json, &out_json)),
        ("report consistent", report_consistent(&report, original, &body, shape)),
    ];
    let checks_total = checks.len();
    let failures = checks.into_iter().filter_map(|(name, r)| r.err().map(|why| format!("{name}: {why}"))).collect();
    Checked { body, out_json, bytes: original_json.len(), report, elapsed, checks_total, failures }
}

fn conversation(body: &Map<String, Value>, shape: Shape) -> &[Value] {
    body.get(shape.conversation_key()).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn needles(
    session: &Session,
    original: &Map<String, Value>,
    out_json: &str,
    shape: Shape,
    keep_recent: usize,
) -> Vec<(Location, bool)> {
    let elements: Vec<String> = conversation(original, shape).iter().map(Value::to_string).collect();
    let window_start = elements.len().saturating_sub(keep_recent);
    let mut found = Vec::new();
    for needle in &session.needles {
        let occurrences: Vec<usize> =
            elements.iter().enumerate().filter(|(_, e)| e.contains(&needle.text)).map(|(i, _)| i).collect();
        // A needle overwritten later in generation never reached the request: not counted.
        let Some(&last) = occurrences.last() else { continue };
        let location = match needle.kind {
            NeedleKind::UserMessage => Location::UserMessage,
            _ if last >= window_start => Location::RecencyWindow,
            NeedleKind::ErrorLine => Location::ErrorLine,
            NeedleKind::OrdinaryLogLine => Location::OrdinaryLogLine,
            NeedleKind::FileContent => Location::FileContent,
            NeedleKind::GrepLine => Location::GrepLine,
            NeedleKind::JsonValue => Location::JsonValue,
        };
        found.push((location, out_json.contains(&needle.text)));
    }
    found
}

/// Where a tool result's payload is: (message index, block index) and the payload.
fn results(shape: Shape, conversation: &[Value]) -> Vec<((usize, usize), &Value)> {
    let mut out = Vec::new();
    for (i, element) in conversation.iter().enumerate() {
        match shape {
            Shape::OpenAiChat if element["role"] == "tool" => out.push(((i, 0), &element["content"])),
            Shape::OpenAiResponses if element["type"] == "function_call_output" => {
                out.push(((i, 0), &element["output"]))
            }
            Shape::Anthropic => {
                for (j, block) in element["content"].as_array().into_iter().flatten().enumerate() {
                    if block["type"] == "tool_result" {
                        out.push(((i, j), &block["content"]));
                    }
                }
            }
            Shape::Gemini => {
                for (j, part) in element["parts"].as_array().into_iter().flatten().enumerate() {
                    if let Some(response) = part.get("functionResponse") {
                        out.push(((i, j), &response["response"]));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn payload_mut(shape: Shape, conversation: &mut [Value], (i, j): (usize, usize)) -> &mut Value {
    match shape {
        Shape::OpenAiChat => &mut conversation[i]["content"],
        Shape::OpenAiResponses => &mut conversation[i]["output"],
        Shape::Anthropic => &mut conversation[i]["content"][j]["content"],
        Shape::Gemini => &mut conversation[i]["parts"][j]["functionResponse"]["response"],
    }
}

/// The text strings of a payload, in document order.
fn pieces(payload: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::String(s) => out.push(s),
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(m) => {
                // Only text of text parts; image data is not text.
                if let Some(Value::String(t)) = m.get("text") {
                    out.push(t);
                } else if !m.contains_key("type") {
                    m.values().for_each(|i| walk(i, out));
                }
            }
            _ => {}
        }
    }
    walk(payload, &mut out);
    out
}

fn same_shape(original: &Map<String, Value>, out_json: &str, shape: Shape) -> Result<(), String> {
    let parsed: Map<String, Value> = serde_json::from_str(out_json).map_err(|e| format!("not JSON: {e}"))?;
    let keys = |m: &Map<String, Value>| m.keys().cloned().collect::<Vec<_>>();
    if keys(&parsed) != keys(original) {
        return Err("top-level members differ".into());
    }
    let (a, b) = (conversation(original, shape), conversation(&parsed, shape));
    if a.len() != b.len() {
        return Err(format!("conversation length {} -> {}", a.len(), b.len()));
    }
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let (Some(x), Some(y)) = (x.as_object(), y.as_object()) else {
            return Err(format!("element {i} not an object"));
        };
        if keys(x) != keys(y) {
            return Err(format!("element {i} members differ"));
        }
    }
    Ok(())
}

fn outside_unchanged(original: &Map<String, Value>, out: &Map<String, Value>, shape: Shape) -> Result<(), String> {
    for (key, value) in original {
        if key != shape.conversation_key() && out.get(key) != Some(value) {
            return Err(format!("member {key} changed"));
        }
    }
    Ok(())
}

fn masked(body: &Map<String, Value>, shape: Shape) -> Vec<Value> {
    let mut conversation = conversation(body, shape).to_vec();
    let at: Vec<_> = results(shape, &conversation).into_iter().map(|(at, _)| at).collect();
    for at in at {
        *payload_mut(shape, &mut conversation, at) = Value::Null;
    }
    conversation
}

fn only_payloads_changed(original: &Map<String, Value>, out: &Map<String, Value>, shape: Shape) -> Result<(), String> {
    let (a, b) = (masked(original, shape), masked(out, shape));
    match a.iter().zip(&b).position(|(x, y)| x != y) {
        Some(i) => Err(format!("element {i} changed outside its tool results")),
        None if a.len() == b.len() => Ok(()),
        None => Err("conversation length changed".into()),
    }
}

fn recency_identical(
    original: &Map<String, Value>,
    out: &Map<String, Value>,
    shape: Shape,
    keep: usize,
) -> Result<(), String> {
    let (a, b) = (conversation(original, shape), conversation(out, shape));
    let start = a.len().saturating_sub(keep);
    if a[start..] == b[start.min(b.len())..] { Ok(()) } else { Err("an element of the recency window changed".into()) }
}

fn call_and_result_ids(body: &Map<String, Value>, shape: Shape) -> (Vec<String>, Vec<String>) {
    let (mut calls, mut results) = (Vec::new(), Vec::new());
    let text = |v: &Value| v.as_str().unwrap_or("<none>").to_string();
    for element in conversation(body, shape) {
        match shape {
            Shape::OpenAiChat => {
                for call in element["tool_calls"].as_array().into_iter().flatten() {
                    calls.push(text(&call["id"]));
                }
                if element["role"] == "tool" {
                    results.push(text(&element["tool_call_id"]));
                }
            }
            Shape::OpenAiResponses => match element["type"].as_str() {
                Some("function_call") => calls.push(text(&element["call_id"])),
                Some("function_call_output") => results.push(text(&element["call_id"])),
                _ => {}
            },
            Shape::Anthropic => {
                for block in element["content"].as_array().into_iter().flatten() {
                    match block["type"].as_str() {
                        Some("tool_use") => calls.push(text(&block["id"])),
                        Some("tool_result") => results.push(text(&block["tool_use_id"])),
                        _ => {}
                    }
                }
            }
            Shape::Gemini => {
                for part in element["parts"].as_array().into_iter().flatten() {
                    if let Some(call) = part.get("functionCall") {
                        calls.push(text(&call["id"]));
                    }
                    if let Some(response) = part.get("functionResponse") {
                        results.push(text(&response["id"]));
                    }
                }
            }
        }
    }
    (calls, results)
}

fn pairs_intact(original: &Map<String, Value>, out: &Map<String, Value>, shape: Shape) -> Result<(), String> {
    let before = call_and_result_ids(original, shape);
    let after = call_and_result_ids(out, shape);
    if before != after {
        return Err("call or result ids changed".into());
    }
    let (mut calls, mut results) = after;
    calls.sort();
    results.sort();
    if calls != results {
        return Err("a call lost its result, or a result its call".into());
    }
    Ok(())
}

fn parse_dedup_marker(payload: &Value) -> Option<usize> {
    let text = match payload {
        Value::String(s) => s.as_str(),
        Value::Object(m) if m.len() == 1 => m.get("output")?.as_str()?,
        _ => return None,
    };
    text.strip_prefix(MARKER_PREFIX)?
        .strip_prefix("identical to the tool result in message ")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

fn dedup_markers_honest(original: &Map<String, Value>, out: &Map<String, Value>, shape: Shape) -> Result<(), String> {
    let before = results(shape, conversation(original, shape));
    let after = results(shape, conversation(out, shape));
    for ((at, old), (_, new)) in before.iter().zip(&after) {
        if old == new {
            continue;
        }
        let Some(kept) = parse_dedup_marker(new) else { continue };
        // Identical original content, later in the conversation, and not itself replaced.
        let honest = before.iter().zip(&after).any(|((other_at, other_old), (_, other_new))| {
            other_at.0 == kept && other_at > at && other_old == old && parse_dedup_marker(other_new).is_none()
        });
        if !honest {
            return Err(format!("result at {at:?} points at message {kept}, which holds no identical newer copy"));
        }
    }
    Ok(())
}

fn looks_like_error(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    ERROR_PATTERNS.iter().any(|p| lower.contains(p))
}

fn omitted_count(line: &str) -> Option<usize> {
    let rest = line.strip_suffix('\n').unwrap_or(line).strip_prefix(MARKER_PREFIX)?;
    let number = rest.strip_suffix(" lines omitted]").or_else(|| rest.strip_suffix(" line omitted]"))?;
    number.parse().ok()
}

/// `new` must be `old` with runs of non-error middle lines replaced by honest markers.
fn valid_cut(old: &str, new: &str, params: &Tier1Params) -> Result<(), String> {
    let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
    let mut next = 0;
    let mut previous_was_marker = false;
    for line in new.split_inclusive('\n') {
        if let Some(count) = omitted_count(line) {
            if previous_was_marker || count == 0 {
                return Err("empty or doubled marker".into());
            }
            let removed = old_lines.get(next..next + count).ok_or("marker counts past the end")?;
            if next < params.head_lines || next + count > old_lines.len() - params.tail_lines {
                return Err("head or tail line removed".into());
            }
            if let Some(lost) = removed.iter().find(|l| looks_like_error(l)) {
                return Err(format!("error line removed: {lost:?}"));
            }
            next += count;
            previous_was_marker = true;
        } else {
            if old_lines.get(next) != Some(&line) {
                return Err(format!("kept line {next} differs"));
            }
            next += 1;
            previous_was_marker = false;
        }
    }
    if next == old_lines.len() { Ok(()) } else { Err("lines lost at the end".into()) }
}

fn truncations_valid(
    original: &Map<String, Value>,
    out: &Map<String, Value>,
    shape: Shape,
    params: &Tier1Params,
) -> Result<(), String> {
    let before = results(shape, conversation(original, shape));
    let after = results(shape, conversation(out, shape));
    for ((at, old), (_, new)) in before.iter().zip(&after) {
        if old == new || parse_dedup_marker(new).is_some() {
            continue;
        }
        let (old_pieces, new_pieces) = (pieces(old), pieces(new));
        if old_pieces.len() != new_pieces.len() {
            return Err(format!("result at {at:?}: text parts changed"));
        }
        for (o, n) in old_pieces.iter().zip(&new_pieces) {
            if o != n {
                valid_cut(o, n, params).map_err(|e| format!("result at {at:?}: {e}"))?;
            }
        }
    }
    Ok(())
}

fn deterministic(
    original: &Map<String, Value>,
    out_json: &str,
    shape: Shape,
    level: ContextLevel,
) -> Result<(), String> {
    let mut again = original.clone();
    context::compress(&mut again, shape, level);
    let again = serde_json::to_string(&again).unwrap_or_default();
    if again == out_json { Ok(()) } else { Err("a second run on the same input gave other bytes".into()) }
}

fn idempotent(out: &Map<String, Value>, out_json: &str, shape: Shape, level: ContextLevel) -> Result<(), String> {
    let mut twice = out.clone();
    let report = context::compress(&mut twice, shape, level);
    let twice = serde_json::to_string(&twice).unwrap_or_default();
    if twice != out_json {
        return Err("T(T(x)) != T(x)".into());
    }
    if report.results_deduplicated + report.results_truncated != 0 {
        return Err("the second pass reported changes".into());
    }
    Ok(())
}

fn never_larger(report: &ContextReport, original_json: &str, out_json: &str) -> Result<(), String> {
    if report.tokens_after > report.tokens_before {
        return Err(format!("tokens {} -> {}", report.tokens_before, report.tokens_after));
    }
    if out_json.len() > original_json.len() {
        return Err(format!("bytes {} -> {}", original_json.len(), out_json.len()));
    }
    Ok(())
}

fn report_consistent(
    report: &ContextReport,
    original: &Map<String, Value>,
    out: &Map<String, Value>,
    shape: Shape,
) -> Result<(), String> {
    let before = context::request_tokens(original, shape);
    let after = context::request_tokens(out, shape);
    if before != Some(report.tokens_before) || after != Some(report.tokens_after) {
        return Err(format!(
            "report {}->{} but recount {before:?}->{after:?}",
            report.tokens_before, report.tokens_after
        ));
    }
    if report.skipped.is_some() && original != out {
        return Err("skipped but changed".into());
    }
    if report.skipped.is_none() && report.results_deduplicated + report.results_truncated == 0 {
        return Err("not skipped but nothing changed".into());
    }
    Ok(())
}

/// Everything the tables need about one level.
pub struct Summary {
    pub level: ContextLevel,
    pub sessions: usize,
    pub engaged: usize,
    pub below_threshold: usize,
    pub no_savings: usize,
    pub tokens_before: usize,
    pub tokens_after: usize,
    pub reductions: Vec<f64>,
    pub deduplicated: usize,
    pub truncated: usize,
    pub needles: BTreeMap<Location, (usize, usize)>,
    pub checks_passed: usize,
    pub checks_total: usize,
    pub failures: Vec<String>,
    pub bytes: usize,
    pub elapsed: Duration,
}

impl Summary {
    /// 1 − Σafter / Σbefore.
    pub fn reduction(&self) -> f64 {
        if self.tokens_before == 0 { 0.0 } else { 1.0 - self.tokens_after as f64 / self.tokens_before as f64 }
    }

    pub fn median_reduction(&self) -> f64 {
        let mut r = self.reductions.clone();
        r.sort_by(f64::total_cmp);
        match r.len() {
            0 => 0.0,
            n if n % 2 == 1 => r[n / 2],
            n => (r[n / 2 - 1] + r[n / 2]) / 2.0,
        }
    }

    pub fn megabytes_per_second(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// (retained, total) for a location.
    pub fn retention(&self, location: Location) -> (usize, usize) {
        self.needles.get(&location).copied().unwrap_or((0, 0))
    }
}

/// Generates `count` sessions from `seed` (shapes in turn) and evaluates them at `level`.
pub fn run(seed: u64, count: usize, config: Config, level: ContextLevel) -> Summary {
    let mut s = Summary {
        level,
        sessions: count,
        engaged: 0,
        below_threshold: 0,
        no_savings: 0,
        tokens_before: 0,
        tokens_after: 0,
        reductions: Vec::new(),
        deduplicated: 0,
        truncated: 0,
        needles: BTreeMap::new(),
        checks_passed: 0,
        checks_total: 0,
        failures: Vec::new(),
        bytes: 0,
        elapsed: Duration::ZERO,
    };
    for index in 0..count {
        let session = sessions::generate(session_seed(seed, index), config);
        let shape = SHAPES[index % SHAPES.len()];
        let o = evaluate(&session, shape, level);
        match o.report.skipped {
            None => s.engaged += 1,
            Some(SkipReason::BelowThreshold) => s.below_threshold += 1,
            Some(SkipReason::NoSavings) => s.no_savings += 1,
            Some(SkipReason::UnsupportedShape) => s.failures.push(format!("session {index}: unsupported shape")),
        }
        s.tokens_before += o.report.tokens_before;
        s.tokens_after += o.report.tokens_after;
        s.reductions.push(1.0 - o.report.tokens_after as f64 / o.report.tokens_before.max(1) as f64);
        s.deduplicated += o.report.results_deduplicated;
        s.truncated += o.report.results_truncated;
        for (location, kept) in o.needles {
            let entry = s.needles.entry(location).or_default();
            entry.0 += usize::from(kept);
            entry.1 += 1;
        }
        s.checks_passed += o.checks_passed;
        s.checks_total += o.checks_total;
        s.failures.extend(o.failures.into_iter().map(|f| format!("session {index} ({shape:?}): {f}")));
        s.bytes += o.bytes;
        s.elapsed += o.elapsed;
    }
    s
}

fn percent(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

fn retention_cell(retained: usize, total: usize) -> String {
    if total == 0 {
        "–".to_string()
    } else {
        format!("{} ({retained}/{total})", percent(retained as f64 / total as f64))
    }
}

/// The reduction and invariant table, in Markdown.
pub fn reduction_table(summaries: &[Summary]) -> String {
    let mut t = String::from(
        "| level | sessions | engaged | skipped (below / no savings) | tokens before → after | reduction (Σ) | median reduction | deduplicated | truncated | invariant checks |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in summaries {
        t.push_str(&format!(
            "| {} | {} | {} | {} / {} | {} → {} | {} | {} | {} | {} | {}/{} |\n",
            s.level,
            s.sessions,
            s.engaged,
            s.below_threshold,
            s.no_savings,
            s.tokens_before,
            s.tokens_after,
            percent(s.reduction()),
            percent(s.median_reduction()),
            s.deduplicated,
            s.truncated,
            s.checks_passed,
            s.checks_total,
        ));
    }
    t
}

/// Needle retention by location, in Markdown; required locations are marked.
pub fn retention_table(summaries: &[Summary]) -> String {
    let mut t = String::from("| needle location |");
    for s in summaries {
        t.push_str(&format!(" {} |", s.level));
    }
    t.push_str("\n|---|");
    t.push_str(&"---:|".repeat(summaries.len()));
    t.push('\n');
    for location in Location::ALL {
        let label = if location.required() {
            format!("{} (100 % required)", location.label())
        } else {
            location.label().to_string()
        };
        t.push_str(&format!("| {label} |"));
        for s in summaries {
            let (retained, total) = s.retention(location);
            t.push_str(&format!(" {} |", retention_cell(retained, total)));
        }
        t.push('\n');
    }
    t
}
