//! The one line printed per request on stdout, e.g.
//! `POST /v1/messages 200 · 12,345 → 4,321 tokens (saved 8,024, 65.0%) · 1.24s`.
//! Tests capture the lines instead of reading stdout.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Where console lines go.
#[derive(Clone, Debug, Default)]
pub enum Console {
    #[default]
    Stdout,
    /// Kept in memory (tests).
    Capture(Arc<Mutex<Vec<String>>>),
    Quiet,
}

impl Console {
    pub fn emit(&self, line: String) {
        match self {
            // Not `println!`: it panics when stdout is gone (`mintoken proxy | head`), and
            // this runs on the request path.
            Console::Stdout => {
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
            Console::Capture(lines) => lines.lock().unwrap_or_else(PoisonError::into_inner).push(line),
            Console::Quiet => {}
        }
    }
}

/// What compression did to one request, as shown on the line and in the headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Compressed { before: usize, after: usize },
    Skipped { reason: String, tokens: usize },
}

pub fn line(method: &str, path: &str, status: u16, outcome: &Outcome, elapsed: Duration, note: Option<&str>) -> String {
    let detail = match outcome {
        Outcome::Compressed { before, after } => {
            let saved = before.saturating_sub(*after);
            let percent = if *before == 0 { 0.0 } else { saved as f64 * 100.0 / *before as f64 };
            format!("{} → {} tokens (saved {}, {percent:.1}%)", thousands(*before), thousands(*after), thousands(saved))
        }
        Outcome::Skipped { reason, tokens: 0 } => format!("skipped: {reason}"),
        Outcome::Skipped { reason, tokens } => format!("skipped: {reason} ({} tokens)", thousands(*tokens)),
    };
    let note = note.map(|n| format!(" · {n}")).unwrap_or_default();
    format!("{method} {path} {status} · {detail} · {:.2}s{note}", elapsed.as_secs_f64())
}

pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_savings_and_skips() {
        let l = line(
            "POST",
            "/v1/messages",
            200,
            &Outcome::Compressed { before: 12_345, after: 4_321 },
            Duration::from_millis(1240),
            None,
        );
        assert_eq!(l, "POST /v1/messages 200 · 12,345 → 4,321 tokens (saved 8,024, 65.0%) · 1.24s");
        let l = line(
            "GET",
            "/v1/models",
            429,
            &Outcome::Skipped { reason: "passthrough".into(), tokens: 0 },
            Duration::from_millis(5),
            Some("client closed"),
        );
        assert_eq!(l, "GET /v1/models 429 · skipped: passthrough · 0.01s · client closed");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
