//! Server-sent events, as far as relaying needs them: cut a byte stream into complete
//! events without copying more than the incomplete tail, and read an event's `data`.

use bytes::{Bytes, BytesMut};

/// Accumulates stream bytes and yields complete events (each including its blank-line
/// terminator) as soon as they are complete.
#[derive(Default)]
pub struct EventSplitter {
    pending: BytesMut,
    /// How much of `pending` is known to hold no terminator start, so a long event that
    /// arrives in many small chunks is scanned once, not once per chunk.
    scanned: usize,
}

impl EventSplitter {
    pub fn push(&mut self, chunk: &[u8]) {
        self.pending.extend_from_slice(chunk);
    }

    /// The next complete event, if one is buffered.
    pub fn next_event(&mut self) -> Option<Bytes> {
        let Some(end) = event_end(&self.pending, self.scanned) else {
            // A terminator is at most 4 bytes: one starting in the last 3 may still complete.
            self.scanned = self.pending.len().saturating_sub(3);
            return None;
        };
        self.scanned = 0;
        Some(self.pending.split_to(end).freeze())
    }

    /// Whatever is left when the stream ends (an unterminated last event).
    pub fn take_rest(&mut self) -> Option<Bytes> {
        self.scanned = 0;
        (!self.pending.is_empty()).then(|| self.pending.split().freeze())
    }

    pub fn buffered(&self) -> usize {
        self.pending.len()
    }
}

/// Index just past the first event terminator: a blank line in any of the three line
/// endings SSE allows (`\n\n`, `\r\n\r\n`, `\r\r`), looking from `from` on.
fn event_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        match buf[i] {
            b'\n' if buf.get(i + 1) == Some(&b'\n') => return Some(i + 2),
            b'\r' if buf[i + 1..].starts_with(b"\n\r\n") => return Some(i + 4),
            b'\r' if buf.get(i + 1) == Some(&b'\r') => return Some(i + 2),
            _ => i += 1,
        }
    }
    None
}

/// The payload of an event made of exactly one `data:` line (the shape OpenAI, Anthropic
/// and Google use for JSON events, after optional `event:` lines). `None` otherwise.
pub fn single_data(event: &[u8]) -> Option<&[u8]> {
    let mut data = None;
    for line in event.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l)) {
        if let Some(rest) = line.strip_prefix(b"data:") {
            if data.is_some() {
                return None;
            }
            data = Some(rest.strip_prefix(b" ").unwrap_or(rest));
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yields_events_only_when_complete() {
        let mut s = EventSplitter::default();
        s.push(b"data: {\"a\":1}\n\ndata: {\"b\"");
        assert_eq!(s.next_event().unwrap(), &b"data: {\"a\":1}\n\n"[..]);
        assert!(s.next_event().is_none());
        s.push(b":2}\r\n\r\nevent: x\ndata: y\n\n");
        assert_eq!(s.next_event().unwrap(), &b"data: {\"b\":2}\r\n\r\n"[..]);
        assert_eq!(s.next_event().unwrap(), &b"event: x\ndata: y\n\n"[..]);
        s.push(b"data: tail");
        assert!(s.next_event().is_none());
        assert_eq!(s.take_rest().unwrap(), &b"data: tail"[..]);
    }

    #[test]
    fn finds_terminators_split_across_many_small_chunks() {
        let mut s = EventSplitter::default();
        let stream = b"data: aaaa\r\n\r\ndata: b\r\rdata: c\n\ndata: d";
        let mut events = Vec::new();
        for byte in stream {
            s.push(&[*byte]);
            while let Some(event) = s.next_event() {
                events.push(event);
            }
        }
        assert_eq!(events, [&b"data: aaaa\r\n\r\n"[..], b"data: b\r\r", b"data: c\n\n"]);
        assert_eq!(s.take_rest().unwrap(), &b"data: d"[..]);
    }

    #[test]
    fn reads_single_data_lines() {
        assert_eq!(single_data(b"event: message_start\ndata: {\"x\":1}\n\n"), Some(&b"{\"x\":1}"[..]));
        assert_eq!(single_data(b"data:[DONE]\r\n\r\n"), Some(&b"[DONE]"[..]));
        assert_eq!(single_data(b"data: a\ndata: b\n\n"), None);
        assert_eq!(single_data(b": comment\n\n"), None);
    }
}
