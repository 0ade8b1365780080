//! Code in Markdown-ish chat text: fenced blocks (counted by the code-heavy rule) and
//! inline `code` spans, so that the word lists can tell identifiers from what is asked.
//!
//! Follows CommonMark where it matters for chat: a fence is three or more backticks or
//! tildes at the start of a line, closed by a line of at least as many of the same
//! character; a backtick fence whose info string holds a backtick is inline code, not a
//! fence; an unclosed fence runs to the end of the text (people paste and forget to
//! close). Unlike CommonMark, any indentation is accepted, because fences nested in list
//! items are common in chat and the 4-space indented-code rule would only lose them.

use std::ops::Range;

/// Where the code of a text is.
pub(super) struct Code {
    /// Byte ranges of every piece of code, in order: the fenced blocks (fences included)
    /// and, between them, inline spans delimited by equal backtick runs on one line.
    pub(super) spans: Vec<Range<usize>>,
    /// How many of the spans are fenced blocks.
    pub(super) blocks: usize,
}

pub(super) fn code(text: &str) -> Code {
    let mut code = Code { spans: Vec::new(), blocks: 0 };
    let mut prose_start = 0;
    for block in blocks(text).chain(std::iter::once(text.len()..text.len())) {
        inline_spans(text, prose_start..block.start, &mut code.spans);
        if !block.is_empty() {
            prose_start = block.end;
            code.blocks += 1;
            code.spans.push(block);
        }
    }
    code
}

/// Inline code spans of `text[range]`. Unlike CommonMark they may not cross a line
/// break: an unmatched backtick in chat is more often a typo than a multi-line span.
fn inline_spans(text: &str, range: Range<usize>, spans: &mut Vec<Range<usize>>) {
    let bytes = text.as_bytes();
    let mut i = range.start;
    while i < range.end {
        // `str::find` of one ASCII byte is a vectorised memchr.
        match text[i..range.end].find('`') {
            Some(offset) => i += offset,
            None => return,
        }
        let run = bytes[i..range.end].iter().take_while(|&&b| b == b'`').count();
        let line_end = bytes[i..range.end].iter().position(|&b| b == b'\n').map_or(range.end, |p| i + p);
        let mut j = i + run;
        let mut closed = None;
        while j < line_end {
            if bytes[j] == b'`' {
                let close = bytes[j..line_end].iter().take_while(|&&b| b == b'`').count();
                if close == run {
                    closed = Some(j + close);
                    break;
                }
                j += close;
            } else {
                j += 1;
            }
        }
        match closed {
            Some(end) => {
                spans.push(i..end);
                i = end;
            }
            None => i += run,
        }
    }
}

/// Byte ranges of the fenced blocks of `text`, fences included, in order.
fn blocks(text: &str) -> Blocks<'_> {
    Blocks { text, pos: 0 }
}

/// Iterator behind [`blocks`]; it stops scanning as soon as the caller stops asking, so
/// counting "at least two" costs only the lines up to the second block.
struct Blocks<'a> {
    text: &'a str,
    pos: usize,
}

impl Iterator for Blocks<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        let mut open: Option<(usize, u8, usize)> = None; // (block start, fence byte, fence length)
        while self.pos < self.text.len() {
            let line_start = self.pos;
            let rest = &self.text[line_start..];
            let line_len = rest.find('\n').map_or(rest.len(), |i| i + 1);
            self.pos += line_len;
            let line = &rest[..line_len];
            match open {
                None => {
                    if let Some((byte, len)) = opening_fence(line) {
                        open = Some((line_start, byte, len));
                    }
                }
                Some((start, byte, len)) => {
                    if is_closing_fence(line, byte, len) {
                        return Some(start..self.pos);
                    }
                }
            }
        }
        open.map(|(start, _, _)| start..self.text.len())
    }
}

/// The fence character and run length if `line` opens a block.
fn opening_fence(line: &str) -> Option<(u8, usize)> {
    let body = line.trim_start_matches([' ', '\t']);
    let byte = *body.as_bytes().first()?;
    if byte != b'`' && byte != b'~' {
        return None;
    }
    let len = body.bytes().take_while(|&b| b == byte).count();
    if len < 3 {
        return None;
    }
    // "```js code```" on one line is inline code that happens to start a line.
    if byte == b'`' && body[len..].contains('`') {
        return None;
    }
    Some((byte, len))
}

/// A closing fence is a run of the opening character, at least as long, and nothing else.
fn is_closing_fence(line: &str, byte: u8, open_len: usize) -> bool {
    let body = line.trim_matches([' ', '\t', '\r', '\n']);
    body.len() >= open_len && body.bytes().all(|b| b == byte)
}

#[cfg(test)]
mod tests {
    use super::blocks;

    fn count(text: &str) -> usize {
        blocks(text).count()
    }

    #[test]
    fn backtick_and_tilde_fences() {
        assert_eq!(count("a\n```rust\nfn x() {}\n```\nb\n~~~\nraw\n~~~\n"), 2);
        // A shorter or different run does not close the block.
        assert_eq!(count("````\n```\nstill code\n````\n"), 1);
        assert_eq!(count("~~~\n```\n~~~\n"), 1);
    }

    #[test]
    fn unclosed_fence_runs_to_the_end() {
        let text = "```\na\n```\nthen\n```ts\nsend(to: string)";
        let spans: Vec<_> = blocks(text).collect();
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[1].end, text.len());
    }

    #[test]
    fn inline_triple_backticks_are_not_fences() {
        assert_eq!(count("```npm i```\nand ```yarn```\n"), 0);
        assert_eq!(count("use `` ` `` or ``x``"), 0);
    }

    #[test]
    fn inline_spans_between_blocks() {
        let text = "rename `contracts` to ``a`b``\n```\nx `y`\n```\nand `z` but not `open\nline`";
        let code = super::code(text);
        let spans: Vec<&str> = code.spans.into_iter().map(|r| &text[r]).collect();
        assert_eq!(spans, ["`contracts`", "``a`b``", "```\nx `y`\n```\n", "`z`"]);
        assert_eq!(code.blocks, 1);
    }

    #[test]
    fn indented_and_crlf_fences() {
        assert_eq!(count("1. step\n    ```bash\n    ls\n    ```\r\n2. step\r\n   ```\r\nx\r\n   ```\r\n"), 2);
    }
}
