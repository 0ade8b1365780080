//! `mintoken-bench`: the load generator and report writer of `bench/run`.
//!
//! Each scenario subcommand measures the same traffic sent straight to
//! `mintoken-mock` and sent through `mintoken serve`, back to back in one
//! process, and writes both sides to one JSON file; `report` turns the files of
//! a run into a markdown table. `bench/run` starts the servers and calls these
//! in order; see bench/README.md.
//!
//! The client runs on one thread (a current-thread tokio runtime): on the
//! 2-core machine it shares a core with the mock, and mintoken gets the other.

#![forbid(unsafe_code)]

mod client;
mod compress;
mod cpu;
mod idle_poll;
mod latency;
mod load;
mod mixed;
mod mock;
mod payload;
mod report;
mod rss;
mod setup;
mod soak;
mod stats;
mod stream;
mod streams;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde_json::Value;

use crate::client::Endpoint;
use crate::payload::Api;

/// Benchmark harness for mintoken: direct-to-mock versus through-mintoken.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Wait for mintoken, sign up, create the bench keys (printed as shell
    /// assignments), send one warm-up request, and record idle memory.
    Setup {
        #[command(flatten)]
        target: Targets,
    },
    /// Added latency at concurrency 1 (or, with --stream, the first byte), rounds alternating sides.
    Latency {
        #[command(flatten)]
        target: Targets,
        #[arg(long, value_enum)]
        api: Api,
        /// Streamed requests, timed to the first body byte.
        #[arg(long)]
        stream: bool,
        #[arg(long, default_value_t = 500)]
        warmup: usize,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        #[arg(long, default_value_t = 2000)]
        per_round: usize,
        /// Send one turn of a coding agent of about this many KB instead of the chat
        /// request (a ~16 KB system prompt, tool calls and their results).
        #[arg(long, conflicts_with = "stream")]
        session_kb: Option<usize>,
        /// Keep every CPU polling instead of halting when idle (`/dev/cpu_dma_latency`
        /// held at 0 µs for the run; needs root), to separate the machine's cost of
        /// waking an idle core from mintoken's own.
        #[arg(long)]
        idle_poll: bool,
    },
    /// Throughput and latency at each concurrency, each side for `secs` in alternating rounds.
    Load {
        #[command(flatten)]
        target: Targets,
        #[arg(long, value_enum, default_value = "openai")]
        api: Api,
        #[arg(long, value_delimiter = ',', default_value = "16,64,256")]
        concurrency: Vec<usize>,
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Unmeasured time at the start of each round (connections, caches).
        #[arg(long, default_value_t = 1.0)]
        warmup_secs: f64,
        /// Rounds per side, alternating, that share the measured `secs`.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// Paced streams at concurrency 1: time to first byte and gaps between events.
    Stream {
        #[command(flatten)]
        target: Targets,
        #[arg(long, value_enum)]
        api: Api,
        #[arg(long, default_value_t = 100)]
        count: usize,
        #[arg(long, default_value_t = 20)]
        chunk_ms: u64,
        #[arg(long, default_value_t = 20)]
        words: usize,
    },
    /// Many concurrent paced streams: the largest count without a stall.
    Streams {
        #[command(flatten)]
        target: Targets,
        #[arg(long, value_delimiter = ',', default_value = "500,1000,2000,4000")]
        steps: Vec<usize>,
        #[arg(long, default_value_t = 100)]
        chunk_ms: u64,
        #[arg(long, default_value_t = 100)]
        words: usize,
    },
    /// Mixed load through mintoken for a long time, sampling its memory.
    Soak {
        #[command(flatten)]
        target: Targets,
        #[command(flatten)]
        load: LongLoad,
    },
    /// Mixed load through mintoken (OpenAI, Anthropic, Gemini; plain and
    /// streamed) with upstream fault windows, sampling its memory; prints nothing,
    /// the JSON has the request count that must match the usage rows.
    Mixed {
        #[command(flatten)]
        target: Targets,
        #[command(flatten)]
        load: LongLoad,
        /// One fault window per period (500, 429, dropped streams, in turn).
        #[arg(long, default_value_t = 10.0)]
        fault_period_secs: f64,
        #[arg(long, default_value_t = 0.5)]
        fault_secs: f64,
    },
    /// Context compression of a ~1 MB agent session: added latency and MB/s.
    Compress {
        #[command(flatten)]
        target: Targets,
        /// Key with context compression on (the other key has it off).
        #[arg(long)]
        context_key: String,
        #[arg(long, default_value_t = 20)]
        count: usize,
        #[arg(long, default_value_t = 1_000_000)]
        bytes: usize,
    },
    /// Prints the markdown table of the JSON files in `dir`.
    Report {
        dir: PathBuf,
        /// How the run was started, for the header.
        #[arg(long, default_value = "")]
        command: String,
        /// How processes were pinned, for the header.
        #[arg(long, default_value = "")]
        pinning: String,
        /// Lines added under the header (repeatable).
        #[arg(long)]
        note: Vec<String>,
        /// Also fail on stalled streams (the smoke run: everything must pass).
        #[arg(long)]
        strict: bool,
    },
    /// Prints a free TCP port on 127.0.0.1.
    FreePort,
}

/// A long load through mintoken with memory samples (soak, mixed).
#[derive(Args)]
struct LongLoad {
    #[arg(long, default_value_t = 600.0)]
    secs: f64,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long, default_value_t = 10.0)]
    sample_secs: f64,
}

/// The two servers and where the results go.
#[derive(Args)]
struct Targets {
    /// The mock's base URL, e.g. http://127.0.0.1:18001.
    #[arg(long)]
    mock: String,
    /// mintoken's base URL.
    #[arg(long)]
    mintoken: String,
    /// mintoken key (`mt_live_…`); `setup` creates it.
    #[arg(long, default_value = "")]
    key: String,
    /// mintoken's process id, for memory figures.
    #[arg(long)]
    mintoken_pid: Option<u32>,
    /// The mock's process id, for memory figures of the direct side.
    #[arg(long)]
    mock_pid: Option<u32>,
    /// JSON result file.
    #[arg(long)]
    out: PathBuf,
}

/// What every scenario needs.
pub struct Ctx {
    pub direct: Endpoint,
    pub mintoken: Endpoint,
    pub mintoken_pid: Option<u32>,
    pub mock_pid: Option<u32>,
}

impl Targets {
    fn ctx(&self) -> Ctx {
        Ctx {
            direct: Endpoint::direct(&self.mock),
            mintoken: Endpoint::mintoken(&self.mintoken, &self.key),
            mintoken_pid: self.mintoken_pid,
            mock_pid: self.mock_pid,
        }
    }

    fn write(&self, result: &Value) -> Result<(), String> {
        let text = serde_json::to_string_pretty(result).map_err(|e| e.to_string())?;
        std::fs::write(&self.out, text + "\n").map_err(|e| format!("writing {}: {e}", self.out.display()))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mintoken-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("mintoken-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<ExitCode, String> {
    let (target, result) = match command {
        Command::FreePort => {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
            let port = listener.local_addr().map_err(|e| e.to_string())?.port();
            println!("{port}");
            return Ok(ExitCode::SUCCESS);
        }
        Command::Report { dir, command, pinning, note, strict } => {
            return report::run(&dir, &command, &pinning, &note, strict);
        }
        Command::Setup { target } => {
            let result = setup::run(&target.ctx()).await?;
            (target, result)
        }
        Command::Latency { target, api, stream, warmup, rounds, per_round, session_kb, idle_poll } => {
            let _polling = idle_poll.then(idle_poll::IdlePoll::hold).transpose()?;
            let mut result = latency::run(&target.ctx(), api, stream, warmup, rounds, per_round, session_kb).await?;
            result["idle_poll"] = idle_poll.into();
            (target, result)
        }
        Command::Load { target, api, concurrency, secs, warmup_secs, rounds } => {
            let result = load::run(&target.ctx(), api, &concurrency, secs, warmup_secs, rounds).await?;
            (target, result)
        }
        Command::Stream { target, api, count, chunk_ms, words } => {
            let result = stream::run(&target.ctx(), api, count, chunk_ms, words).await?;
            (target, result)
        }
        Command::Streams { target, steps, chunk_ms, words } => {
            let result = streams::run(&target.ctx(), &steps, chunk_ms, words).await?;
            (target, result)
        }
        Command::Soak { target, load } => {
            let result = soak::run(&target.ctx(), load.secs, load.concurrency, load.sample_secs).await?;
            (target, result)
        }
        Command::Mixed { target, load, fault_period_secs, fault_secs } => {
            let LongLoad { secs, concurrency, sample_secs } = load;
            let result =
                mixed::run(&target.ctx(), secs, concurrency, sample_secs, fault_period_secs, fault_secs).await?;
            (target, result)
        }
        Command::Compress { target, context_key, count, bytes } => {
            let result = compress::run(&target.ctx(), &context_key, count, bytes).await?;
            (target, result)
        }
    };
    target.write(&result)?;
    Ok(ExitCode::SUCCESS)
}
