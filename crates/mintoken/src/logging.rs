//! Log output: human-readable text by default, JSON lines on request. `RUST_LOG` filters
//! as usual; by default mintoken logs at info and its dependencies at warn, because
//! HTTP-library debug output can include request details we never want in a log.
//!
//! [`layer`] is the one place the line format is built, so tests can send exactly what
//! `serve` would print to a buffer they then scan for secrets (`tests/secrets.rs`).

use crate::cli::LogFormat;
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub const DEFAULT_FILTER: &str = "warn,mintoken=info";

pub fn init(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let ansi = std::io::stderr().is_terminal();
    let _ = tracing_subscriber::registry().with(layer(format, std::io::stderr, ansi).with_filter(filter)).try_init();
}

/// The formatting layer `serve` logs through, writing to `writer`.
pub fn layer<S, W>(format: LogFormat, writer: W, ansi: bool) -> Box<dyn Layer<S> + Send + Sync + 'static>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let base = tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(writer);
    match format {
        LogFormat::Text => base.boxed(),
        LogFormat::Json => base.json().flatten_event(true).boxed(),
    }
}
