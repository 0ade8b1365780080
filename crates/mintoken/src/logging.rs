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
        let meta = event.metadata();
        let now = timestamp(time::OffsetDateTime::now_utc());
        writer.write_str(std::str::from_utf8(&now).map_err(|_| fmt::Error)?)?;
        write!(writer, " {:>5} ", meta.level().as_str())?;
        writer.write_str(meta.target())?;
        writer.write_char(':')?;
        let mut fields = Fields { writer: &mut writer, result: Ok(()) };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

/// `2026-11-26T15:42:38.333366Z`, written digit by digit: through `write!` with its
/// padding specs this was a fifth of the request line's cost.
fn timestamp(now: time::OffsetDateTime) -> [u8; 27] {
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |end: usize, width: usize, mut value: u32| {
        for digit in out[end - width..end].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(4, 4, now.year().unsigned_abs());
    put(7, 2, u32::from(u8::from(now.month())));
    put(10, 2, u32::from(now.day()));
    put(13, 2, u32::from(now.hour()));
    put(16, 2, u32::from(now.minute()));
    put(19, 2, u32::from(now.second()));
    put(26, 6, now.microsecond());
    out
}

/// A string whose `Debug` form is itself in quotes: printable ASCII without `"` or `\`.
fn needs_no_escaping(value: &str) -> bool {
    value.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
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
            self.writer
                .write_char(' ')
                .and_then(|()| self.writer.write_str(name))
                .and_then(|()| self.writer.write_char('='))
                .and_then(|()| value(self.writer))
        };
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.field(field, |w| w.write_str(value));
        } else if needs_no_escaping(value) {
            self.field(field, |w| w.write_char('"').and_then(|()| w.write_str(value)).and_then(|()| w.write_char('"')));
        } else {
            self.field(field, |w| write!(w, "{value:?}"));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |w| w.write_str(itoa::Buffer::new().format(value)));
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
            tracing::warn!(target: "mintoken::request", request_id = %id, provider = "openai", model = "gpt \"4\"", note = "é\n", status = 200u16, delta = -3, streamed = true, "proxied request");
        });
        let line = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let (time, rest) = line.split_once(' ').unwrap();
        assert!(time.len() == 27 && time.ends_with('Z') && time.as_bytes()[10] == b'T', "{line}");
        assert_eq!(
            rest,
            " WARN mintoken::request: proxied request request_id=req_1 provider=\"openai\" model=\"gpt \\\"4\\\"\" \
             note=\"é\\n\" status=200 delta=-3 streamed=true\n"
        );
    }

    #[test]
    fn timestamps_are_zero_padded_to_the_microsecond() {
        let at = time::macros::datetime!(2026-01-02 03:04:05.000006 UTC);
        assert_eq!(&timestamp(at), b"2026-01-02T03:04:05.000006Z");
        let at = time::macros::datetime!(2026-12-31 23:59:59.999999 UTC);
        assert_eq!(&timestamp(at), b"2026-12-31T23:59:59.999999Z");
    }
}
