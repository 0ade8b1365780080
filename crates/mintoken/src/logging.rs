//! Log output: human-readable text by default, JSON lines on request. `RUST_LOG` filters
//! as usual; by default mintoken logs at info and its dependencies at warn, because
//! HTTP-library debug output can include request details we never want in a log.
//!
//! Text written to a terminal is tracing-subscriber's coloured format. Text written
//! anywhere else (a file, journald, a pipe: where a server's log goes) uses
//! [`PlainText`], the same layout without the styling machinery: the request line is
//! written for every proxied request, and the styled formatter cost about as much as
//! the whole upstream client (docs/BENCHMARKS.md).
//!
//! [`layer`] is the one place the line format is built, so tests can send exactly what
//! `serve` would print to a buffer they then scan for secrets (`tests/secrets.rs`).

use crate::cli::LogFormat;
use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
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

/// The formatting layer `serve` logs through, writing to `writer` (with colours when
/// `ansi`, i.e. a terminal).
pub fn layer<S, W>(format: LogFormat, writer: W, ansi: bool) -> Box<dyn Layer<S> + Send + Sync + 'static>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let base = tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(writer);
    match format {
        LogFormat::Text if ansi => base.boxed(),
        LogFormat::Text => base.event_format(PlainText).boxed(),
        LogFormat::Json => base.json().flatten_event(true).boxed(),
    }
}

/// `2026-11-26T15:42:38.333366Z  INFO target: message name=value …`, one line per event,
/// strings quoted as `Debug` quotes them. mintoken opens no spans, so none are shown.
pub struct PlainText;

impl<S, N> FormatEvent<S, N> for PlainText
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let now = time::OffsetDateTime::now_utc();
        let meta = event.metadata();
        write!(
            writer,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z {:>5} {}:",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second(),
            now.microsecond(),
            meta.level().as_str(),
            meta.target()
        )?;
        let mut fields = Fields { writer: &mut writer, result: Ok(()) };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

/// Writes each field as ` name=value` (the message as ` text`).
struct Fields<'a, 'w> {
    writer: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        let name = field.name();
        // Fields that `tracing-log` adds for `log` records say nothing new.
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        self.result = if name == "message" {
            self.writer.write_char(' ').and_then(|()| value(self.writer))
        } else {
            let name = name.strip_prefix("r#").unwrap_or(name);
            write!(self.writer, " {name}=").and_then(|()| value(self.writer))
        };
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.field(field, |w| w.write_str(value));
        } else {
            self.field(field, |w| write!(w, "{value:?}"));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, |w| write!(w, "{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn plain_text_has_the_default_layout_without_styling() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .event_format(PlainText)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let id = "req_1";
            tracing::warn!(target: "mintoken::request", request_id = %id, model = "gpt \"4\"", status = 200u16, delta = -3, streamed = true, "proxied request");
        });
        let line = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let (time, rest) = line.split_once(' ').unwrap();
        assert!(time.len() == 27 && time.ends_with('Z') && time.as_bytes()[10] == b'T', "{line}");
        assert_eq!(
            rest,
            " WARN mintoken::request: proxied request request_id=req_1 model=\"gpt \\\"4\\\"\" status=200 delta=-3 streamed=true\n"
        );
    }
}
