//! The markdown report of one run: reads the scenario files `bench/run` wrote
//! into a directory and prints one table per metric of issue 9, every figure
//! beside the direct one with the difference and the ratio, and the target
//! where the issue sets one. Exits non-zero when any request failed (and, with
//! `--strict`, when any stream stalled), so the smoke run in CI catches rot.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use serde_json::Value;

pub fn run(dir: &Path, command: &str, pinning: &str, notes: &[String], strict: bool) -> Result<ExitCode, String> {
    let load = |name: &str| -> Option<Value> {
        let text = std::fs::read_to_string(dir.join(name)).ok()?;
        serde_json::from_str(&text).ok()
    };
    let mut out = String::new();
    let mut failures: Vec<String> = Vec::new();

    header(&mut out, command, pinning, notes);
    for kind in ["latency", "first-byte"] {
        if let (Some(openai), Some(anthropic)) =
            (load(&format!("{kind}-openai.json")), load(&format!("{kind}-anthropic.json")))
        {
            latency(&mut out, "", &[openai, anthropic], &mut failures);
        }
        let one_core = (load(&format!("{kind}-openai-1core.json")), load(&format!("{kind}-anthropic-1core.json")));
        if let (Some(openai), Some(anthropic)) = one_core {
            latency(&mut out, " — every process on CPU 0", &[openai, anthropic], &mut failures);
            out.push_str(
                "\nThe same measurement with mintoken moved onto the mock's and the client's core: no request \
                 crosses a core, so *added* is mintoken's own work plus its two extra socket hops, without the \
                 cost of waking an idle core (on this VM, tens of µs per wake-up, two per request).\n",
            );
        }
        let polling = (load(&format!("{kind}-openai-idlepoll.json")), load(&format!("{kind}-anthropic-idlepoll.json")));
        if let (Some(openai), Some(anthropic)) = polling {
            latency(&mut out, " — mintoken on its own core, idle CPUs polling", &[openai, anthropic], &mut failures);
            out.push_str(
                "\nThe first layout again, with every CPU kept polling instead of halting when idle \
                 (`/dev/cpu_dma_latency` held at 0 µs, as tuned's latency profiles do): waking an idle vCPU \
                 is the machine's cost, paid twice per request through mintoken and never direct; what \
                 remains *added* here is mintoken's work and its two extra socket hops.\n",
            );
        }
    }
    if let (Some(openai), Some(anthropic)) = (load("latency-agent-openai.json"), load("latency-agent-anthropic.json")) {
        latency(&mut out, "", &[openai, anthropic], &mut failures);
    }
    if let Some(load) = load("load.json") {
        throughput(&mut out, &load, &mut failures);
    }
    let streamed: Vec<Value> = ["stream-openai.json", "stream-anthropic.json"].iter().filter_map(|f| load(f)).collect();
    if !streamed.is_empty() {
        streaming(&mut out, "", &streamed, &mut failures);
    }
    let streamed: Vec<Value> =
        ["stream-openai-1core.json", "stream-anthropic-1core.json"].iter().filter_map(|f| load(f)).collect();
    if !streamed.is_empty() {
        streaming(&mut out, " — every process on CPU 0", &streamed, &mut failures);
        out.push_str(
            "\nBetween paced events every process sleeps; with mintoken on its own core, each event then \
             pays for waking that idle core (twice: the upstream event in, the client's copy out). Each \
             side's first byte here comes after that side sat idle for a whole stream of the other (~0.5 s): \
             it is the first request after a pause, which on this VM costs several times its warm CPU time \
             on both sides (the back-to-back first-byte table above is the same request warm; \
             docs/BENCHMARKS.md).\n",
        );
    }
    let streams = load("streams.json");
    if let Some(streams) = &streams {
        concurrent_streams(&mut out, streams, strict, &mut failures);
    }
    let soak = load("soak.json").map(|mut soak| {
        // The soak runs on a fresh process; its own idle figure is the baseline.
        soak["idle_mb"] = load("soak-idle.json").map_or(Value::Null, |idle| idle["mintoken_rss_mb"].clone());
        soak
    });
    memory(&mut out, load("idle.json").as_ref(), load("load.json").as_ref(), streams.as_ref(), soak.as_ref());
    if let Some(soak) = &soak {
        count_errors("soak", soak, &mut failures);
    }
    if let Some(compress) = load("compress.json") {
        compression(&mut out, &compress, &mut failures);
    }

    if failures.is_empty() {
        out.push_str("\nNo request failed.\n");
    } else {
        out.push_str("\n## Failures\n\n");
        for failure in &failures {
            let _ = writeln!(out, "- {failure}");
        }
    }
    print!("{out}");
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn header(out: &mut String, command: &str, pinning: &str, notes: &[String]) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    out.push_str("# mintoken benchmark: direct to mintoken-mock vs through mintoken\n\n");
    let _ = writeln!(out, "- machine: {cores} cores available, {cpu}");
    if !command.is_empty() {
        let _ = writeln!(out, "- command: `{command}`");
    }
    if !pinning.is_empty() {
        let _ = writeln!(out, "- pinning: {pinning}");
    }
    for note in notes {
        let _ = writeln!(out, "- {note}");
    }
    out.push_str(
        "- every side is measured by the same client (`mintoken-bench`, one thread, one keep-alive HTTP/1.1 \
         connection per worker, TCP_NODELAY); *added* = through − direct, *ratio* = through ÷ direct\n",
    );
}

fn num(v: &Value, pointer: &str) -> Option<f64> {
    v.pointer(pointer).and_then(Value::as_f64)
}

/// Microseconds, in µs below 10 ms and in ms above.
fn us(v: Option<f64>) -> String {
    match v {
        None => "—".to_owned(),
        Some(x) if x.abs() >= 10_000.0 => format!("{:.1} ms", x / 1000.0),
        Some(x) if x.abs() >= 100.0 => format!("{x:.0} µs"),
        Some(x) => format!("{x:.1} µs"),
    }
}

fn added_us(direct: Option<f64>, through: Option<f64>) -> String {
    match (direct, through) {
        (Some(d), Some(t)) => {
            let sign = if t >= d { "+" } else { "−" };
            format!("{sign}{}", us(Some((t - d).abs())))
        }
        _ => "—".to_owned(),
    }
}

fn ratio(direct: Option<f64>, through: Option<f64>) -> String {
    match (direct, through) {
        (Some(d), Some(t)) if d > 0.0 => format!("{:.2}×", t / d),
        _ => "—".to_owned(),
    }
}

fn mb(v: Option<f64>) -> String {
    v.map_or("—".to_owned(), |x| format!("{x:.1} MB"))
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "—",
    }
}

/// Adds a failure line for each side of `value` (or `value` itself) that saw errors.
fn count_errors(what: &str, value: &Value, failures: &mut Vec<String>) {
    for key in ["direct", "mintoken", "mintoken_plain", "mintoken_compress", ""] {
        let side = if key.is_empty() { value } else { &value[key] };
        let errors = side["errors"].as_u64().unwrap_or(0);
        if errors > 0 {
            let label = if key.is_empty() { what.to_owned() } else { format!("{what}, {key}") };
            failures.push(format!("{label}: {errors} failed requests, e.g. {}", side["first_errors"]));
        }
    }
}

fn latency(out: &mut String, layout: &str, results: &[Value], failures: &mut Vec<String>) {
    let first = &results[0];
    // Streamed rounds time the first body byte, under the streaming bound.
    let agent = first["agent"].as_bool() == Some(true);
    // The bounds are for the typical request; the agent turn is shown without one.
    let (title, measured, limit_us) = match (first["stream"].as_bool(), agent) {
        (_, true) => ("Added latency, concurrency 1, one turn of a coding agent", "requests", None),
        (Some(true), _) => {
            ("Streaming time to first byte, concurrency 1, back to back", "streamed requests", Some(300.0))
        }
        _ => ("Added latency, concurrency 1, non-streaming", "requests", Some(150.0)),
    };
    let request = if agent {
        "agent request (a ~16 KB system prompt, then tool calls and their results)"
    } else {
        "chat request"
    };
    let _ = writeln!(
        out,
        "\n## {title}{layout}\n\n{} rounds × {} {measured} per side, alternating; \
         a ~{} B {request}; everything on (key auth, rate limit, quota, metering, smart detection, skill \
         injection).\n",
        first["rounds"], first["per_round"], first["request_bytes"]
    );
    out.push_str("| API | | direct | through mintoken | added | ratio | target |\n|---|---|---|---|---|---|---|\n");
    for r in results {
        let api = r["api"].as_str().unwrap_or("?");
        for (label, key) in [("p50", "p50_us"), ("p99", "p99_us"), ("p99.9", "p999_us")] {
            let (d, t) = (num(r, &format!("/direct/latency/{key}")), num(r, &format!("/mintoken/latency/{key}")));
            compared_row(out, api, label, d, t, limit_us.filter(|_| key == "p99_us"));
        }
        if r["mintoken"]["overhead"].is_object() {
            let _ = writeln!(
                out,
                "| {api} | mintoken's own time (`X-Mintoken-Overhead-Us`) p50 / p99 | | {} / {} | | | |",
                us(num(r, "/mintoken/overhead/p50_us")),
                us(num(r, "/mintoken/overhead/p99_us"))
            );
        }
        let _ = writeln!(out, "| {api} | errors | {} | {} | | | |", r["direct"]["errors"], r["mintoken"]["errors"]);
        count_errors(&format!("latency {api}{layout}"), r, failures);
    }
}

/// One row of a direct-vs-through table in µs; `limit_us` is the bound on the
/// added time, when it sets one, shown as the target with its verdict.
fn compared_row(out: &mut String, api: &str, label: &str, d: Option<f64>, t: Option<f64>, limit_us: Option<f64>) {
    let target = limit_us.map_or(String::new(), |limit| {
        format!("added ≤ {limit} µs: {}", verdict(d.zip(t).map(|(d, t)| t - d <= limit)))
    });
    let _ =
        writeln!(out, "| {api} | {label} | {} | {} | {} | {} | {target} |", us(d), us(t), added_us(d, t), ratio(d, t));
}

fn throughput(out: &mut String, load: &Value, failures: &mut Vec<String>) {
    let _ = writeln!(
        out,
        "\n## Throughput, non-streaming ({}), {} s per side in {} alternating rounds, each after a warm-up\n",
        load["api"].as_str().unwrap_or("?"),
        load["secs"],
        load["rounds"].as_u64().unwrap_or(1)
    );
    out.push_str(
        "| concurrency | direct req/s | through req/s | ratio | direct p99 | through p99 | added p99 | ratio | errors (direct / through) | target |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for level in load["levels"].as_array().into_iter().flatten() {
        let c = level["concurrency"].as_u64().unwrap_or(0);
        let (dr, tr) = (num(level, "/direct/requests_per_sec"), num(level, "/mintoken/requests_per_sec"));
        let (dp, tp) = (num(level, "/direct/latency/p99_us"), num(level, "/mintoken/latency/p99_us"));
        let target = if c == 64 {
            format!("≥ 50 % of direct: {}", verdict(dr.zip(tr).map(|(d, t)| t >= 0.5 * d)))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {c} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {} / {} | {target} |",
            dr.unwrap_or(0.0),
            tr.unwrap_or(0.0),
            ratio(dr, tr),
            us(dp),
            us(tp),
            added_us(dp, tp),
            ratio(dp, tp),
            level["direct"]["errors"],
            level["mintoken"]["errors"]
        );
        count_errors(&format!("load c={c}"), level, failures);
    }
    if let Some(dropped) = load["usage_records_dropped"].as_f64() {
        let _ = writeln!(out, "\nUsage records mintoken dropped (its queue full) over these runs: {dropped}.");
        if dropped > 0.0 {
            failures.push(format!("load: mintoken dropped {dropped} usage records"));
        }
    }
}

fn streaming(out: &mut String, layout: &str, results: &[Value], failures: &mut Vec<String>) {
    let first = &results[0];
    let _ = writeln!(
        out,
        "\n## Streaming, concurrency 1, paced upstream{layout}\n\n{} streams per side, alternating; {} events {} ms apart.\n",
        first["count"], first["words"], first["chunk_ms"]
    );
    out.push_str("| API | | direct | through mintoken | added | ratio | target |\n|---|---|---|---|---|---|---|\n");
    for r in results {
        let api = r["api"].as_str().unwrap_or("?");
        for (label, pointer) in [
            ("time to first byte p50", "ttfb/p50_us"),
            ("time to first byte p99", "ttfb/p99_us"),
            ("gap between events p50", "gap/p50_us"),
            ("gap between events p99", "gap/p99_us"),
            ("whole stream p50", "total/p50_us"),
        ] {
            let (d, t) = (num(r, &format!("/direct/{pointer}")), num(r, &format!("/mintoken/{pointer}")));
            compared_row(out, api, label, d, t, (pointer == "ttfb/p99_us").then_some(300.0));
        }
        let _ = writeln!(out, "| {api} | errors | {} | {} | | | |", r["direct"]["errors"], r["mintoken"]["errors"]);
        count_errors(&format!("stream {api}{layout}"), r, failures);
    }
}

fn concurrent_streams(out: &mut String, streams: &Value, strict: bool, failures: &mut Vec<String>) {
    let _ = writeln!(
        out,
        "\n## Concurrent paced streams (OpenAI)\n\nEach stream: {} events {} ms apart, connects spread over {} ms. \
         A stall is a gap over {} ms + 1 s or a stream that did not complete.\n",
        streams["words"], streams["chunk_ms"], streams["ramp_ms"], streams["chunk_ms"]
    );
    out.push_str(
        "| streams | direct: completed / stalls / largest gap | through: completed / stalls / largest gap | \
         gap p99 direct / through | mock RSS | mintoken RSS |\n|---|---|---|---|---|---|\n",
    );
    for step in streams["steps"].as_array().into_iter().flatten() {
        let n = step["streams"].as_u64().unwrap_or(0);
        let side = |s: &str| {
            format!(
                "{} / {} / {:.0} ms",
                step[s]["completed"],
                step[s]["stalls"],
                num(step, &format!("/{s}/largest_gap_ms")).unwrap_or(0.0)
            )
        };
        let _ = writeln!(
            out,
            "| {n} | {} | {} | {} / {} | {} | {} |",
            side("direct"),
            side("mintoken"),
            us(num(step, "/direct/gap/p99_us")),
            us(num(step, "/mintoken/gap/p99_us")),
            mb(num(step, "/direct/rss_max_mb")),
            mb(num(step, "/mintoken/rss_max_mb"))
        );
        if strict {
            for s in ["direct", "mintoken"] {
                let stalls = step[s]["stalls"].as_u64().unwrap_or(0);
                if stalls > 0 {
                    failures.push(format!("{n} streams, {s}: {stalls} stalled, e.g. {}", step[s]["first_errors"]));
                }
            }
        }
    }
    let largest = streams["largest_without_stall"].as_u64();
    let _ = writeln!(
        out,
        "\nLargest number of concurrent streams without a stall: **{}** (target: 2,000: {}).",
        largest.map_or("none".to_owned(), |n| n.to_string()),
        verdict(largest.map(|n| n >= 2000))
    );
    streams_cpu(out, streams);
}

/// The CPU each step took: a stall while the load generator's core was full is the
/// rig's limit, not mintoken's.
fn streams_cpu(out: &mut String, streams: &Value) {
    let steps = streams["steps"].as_array().into_iter().flatten();
    let sides = steps
        .flat_map(|step| ["direct", "mintoken"].map(|s| (step["streams"].as_u64().unwrap_or(0), s, &step[s]["cpu"])));
    let mut rows = sides.filter(|(_, _, cpu)| cpu.is_object()).peekable();
    let Some((_, _, first)) = rows.peek() else { return };
    let _ = writeln!(
        out,
        "\nCPU while the streams were open, % of one core: each core's busiest {} ms, and each process's \
         mean over the step / its busiest {} ms.\n\n| streams | side | each core, busiest (CPU 0 / 1 / …) | client | mock | mintoken |\n|---|---|---|---|---|---|",
        first["every_ms"], first["every_ms"]
    );
    let pct = |v: Option<f64>| v.map_or("—".to_owned(), |x| format!("{x:.0}"));
    for (n, side, cpu) in rows {
        let cores: Vec<String> =
            cpu["core_peak_pct"].as_array().into_iter().flatten().map(|c| pct(c.as_f64())).collect();
        let process = |name: &str| match &cpu["processes"][name] {
            Value::Null => "—".to_owned(),
            p => format!("{} / {}", pct(p["mean_pct"].as_f64()), pct(p["peak_pct"].as_f64())),
        };
        let side = if side == "direct" { "direct" } else { "through" };
        let _ = writeln!(
            out,
            "| {n} | {side} | {} | {} | {} | {} |",
            cores.join(" / "),
            process("client"),
            process("mock"),
            process("mintoken")
        );
    }
}

fn memory(out: &mut String, idle: Option<&Value>, load: Option<&Value>, streams: Option<&Value>, soak: Option<&Value>) {
    out.push_str("\n## Memory (RSS, `VmRSS`)\n\n| | mintoken | mock (direct side) | target |\n|---|---|---|---|\n");
    if let Some(idle) = idle {
        let m = num(idle, "/mintoken_rss_mb");
        let _ = writeln!(
            out,
            "| idle (started, one request per API) | {} | {} | ≤ 30 MB: {} |",
            mb(m),
            mb(num(idle, "/mock_rss_mb")),
            verdict(m.map(|m| m <= 30.0))
        );
    }
    if let Some(load) = load {
        if let Some(last) = load["levels"].as_array().and_then(|l| l.last()) {
            let _ = writeln!(
                out,
                "| under load (max, concurrency {}) | {} | {} | |",
                last["concurrency"],
                mb(num(last, "/mintoken/rss_max_mb")),
                mb(num(last, "/direct/rss_max_mb"))
            );
        }
        let _ = writeln!(
            out,
            "| after load ({} s later) | {} | | |",
            load["settle_secs"],
            mb(num(load, "/mintoken_rss_after_mb"))
        );
    }
    if let Some(streams) = streams {
        for step in streams["steps"].as_array().into_iter().flatten() {
            let n = step["streams"].as_u64().unwrap_or(0);
            let m = num(step, "/mintoken/rss_max_mb");
            let target =
                if n == 2000 { format!("≤ 150 MB: {}", verdict(m.map(|m| m <= 150.0))) } else { String::new() };
            let _ = writeln!(
                out,
                "| {n} open streams (max) | {} | {} | {target} |",
                mb(m),
                mb(num(step, "/direct/rss_max_mb"))
            );
        }
    }
    if let Some(soak) = soak {
        let growth = num(soak, "/growth_mb");
        let _ = writeln!(
            out,
            "| soak on a fresh process (idle {}): {} s at concurrency {} ({:.0} req/s, mixed APIs and streams): first / last / max | {} / {} / {} | | |",
            mb(num(soak, "/idle_mb")),
            soak["secs"],
            soak["concurrency"],
            num(soak, "/requests_per_sec").unwrap_or(0.0),
            mb(num(soak, "/first_mb")),
            mb(num(soak, "/last_mb")),
            mb(num(soak, "/max_mb"))
        );
        let _ = writeln!(
            out,
            "| soak: growth, second half vs first half after warm-up | {} | | flat |",
            growth.map_or("—".to_owned(), |g| format!("{g:+.2} MB"))
        );
    }
}

fn compression(out: &mut String, compress: &Value, failures: &mut Vec<String>) {
    let _ = writeln!(
        out,
        "\n## Context compression, ~1 MB agent session\n\n{} requests per case and side, one at a time. *plain* = a \
         key without context compression, *compressing* = `context_compress = true`, level `standard`. \
         Throughput = body size ÷ added latency, over direct and over the plain key; the second isolates the \
         compression engine (the compressing key then sends a ~4× smaller body upstream, which the mock \
         parses faster, so it slightly flatters the engine).\n",
        compress["count"]
    );
    out.push_str(
        "| API | case | body | tokens before → after | direct p50 | plain p50 | compressing p50 | added (compressing − direct) | compressing − plain | MB/s over direct / over plain |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for case in compress["cases"].as_array().into_iter().flatten() {
        let d = num(case, "/direct/latency/p50_us");
        let p = num(case, "/mintoken_plain/latency/p50_us");
        let c = num(case, "/mintoken_compress/latency/p50_us");
        let bytes = num(case, "/body_bytes").unwrap_or(0.0);
        // Bytes per microsecond are MB per second.
        let rate = |base: Option<f64>| match (base, c) {
            (Some(b), Some(c)) if c > b => format!("{:.0}", bytes / (c - b)),
            _ => "—".to_owned(),
        };
        let throughput = format!("{} / {}", rate(d), rate(p));
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} MB | {} → {} | {} | {} | {} | {} | {} | {throughput} |",
            case["api"].as_str().unwrap_or("?"),
            case["case"].as_str().unwrap_or("?"),
            bytes / 1e6,
            case["tokens_before"],
            case["tokens_after"],
            us(d),
            us(p),
            us(c),
            added_us(d, c),
            added_us(p, c),
        );
        count_errors(&format!("compress {} {}", case["api"], case["case"]), case, failures);
    }
}
