//! Walks JSON that is already known to be valid (it came through serde_json as a raw
//! value) to find where arrays' elements and objects' members are, without decoding or
//! validating anything. A string is skipped with a SIMD search for its closing quote, so a
//! long conversation's tool results cost a fraction of what a parse costs; serde_json then
//! decodes only the few values that are read (roles, the latest user text).
//!
//! On input that is not valid JSON the walk stops early (`None`); it never panics.

use memchr::memchr2;

/// Walks the array `json` once, calling `member(i, key, value)` for each member of its
/// element `i` when that element is an object (keys raw, quotes included; values raw).
/// Returns the number of elements; `None` when `json` is not an array.
pub fn array_members<'a>(json: &'a str, mut member: impl FnMut(usize, &'a str, &'a str)) -> Option<usize> {
    let mut walk = Walk::open(json, b'[')?;
    let mut count = 0;
    while walk.more(b']')? {
        walk.skip_whitespace();
        if walk.byte()? == b'{' {
            walk.at += 1;
            while walk.more(b'}')? {
                let key = walk.value()?;
                walk.skip_whitespace();
                walk.expect(b':')?;
                member(count, key, walk.value()?);
            }
            walk.at += 1; // the object's `}`
        } else {
            walk.value()?;
        }
        count += 1;
    }
    Some(count)
}

struct Walk<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Walk<'a> {
    /// A walk inside the array or object `json`, past its opening `open`.
    fn open(json: &'a str, open: u8) -> Option<Walk<'a>> {
        let mut walk = Walk { text: json, at: 0 };
        walk.skip_whitespace();
        walk.expect(open)?;
        Some(walk)
    }

    fn byte(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.byte()? == byte).then(|| self.at += 1)
    }

    fn skip_whitespace(&mut self) {
        while self.byte().is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    /// Whether another element or member follows (past its `,`), or the container ends
    /// here with `close`.
    fn more(&mut self, close: u8) -> Option<bool> {
        self.skip_whitespace();
        match self.byte()? {
            b if b == close => Some(false),
            b',' => {
                self.at += 1;
                Some(true)
            }
            _ => Some(true), // the first element or member
        }
    }

    /// Skips one value and returns its text.
    fn value(&mut self) -> Option<&'a str> {
        self.skip_whitespace();
        let start = self.at;
        match self.byte()? {
            b'"' => self.skip_string()?,
            b'{' | b'[' => self.skip_container()?,
            _ => {
                // A number, `true`, `false` or `null`: up to the next delimiter.
                while self.byte().is_some_and(|b| !matches!(b, b',' | b']' | b'}') && !b.is_ascii_whitespace()) {
                    self.at += 1;
                }
            }
        }
        // An empty value is not JSON; refusing it also keeps every walk moving forward.
        (self.at > start).then(|| self.text.get(start..self.at)).flatten()
    }

    /// From a string's opening quote to past its closing one.
    fn skip_string(&mut self) -> Option<()> {
        self.at += 1;
        loop {
            let found = memchr2(b'"', b'\\', self.text.as_bytes().get(self.at..)?)?;
            self.at += found;
            if self.byte()? == b'"' {
                self.at += 1;
                return Some(());
            }
            // A backslash and the byte it escapes (`\u`'s hex digits need no care).
            self.at += 2;
        }
    }

    /// From a `{` or `[` to past the bracket that closes it.
    fn skip_container(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match self.byte()? {
                b'"' => {
                    self.skip_string()?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        self.at += 1;
                        return Some(());
                    }
                }
                _ => {}
            }
            self.at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Element index, raw key, raw value.
    type Member<'a> = (usize, &'a str, &'a str);

    fn walked(json: &str) -> Option<(usize, Vec<Member<'_>>)> {
        let mut members = Vec::new();
        let count = array_members(json, |i, key, value| members.push((i, key, value)))?;
        Some((count, members))
    }

    #[test]
    fn members_are_found_without_decoding() {
        let array =
            r#" [ {"a":"x\"}]","b" : [1,{"c":null}]} , "s\\" ,12.5e3,true,{ },null,[],{"b\"":{"x":"}"},"a":"é"} ] "#;
        let members = vec![
            (0, r#""a""#, r#""x\"}]""#),
            (0, r#""b""#, r#"[1,{"c":null}]"#),
            (7, r#""b\"""#, r#"{"x":"}"}"#),
            (7, r#""a""#, r#""é""#),
        ];
        assert_eq!(walked(array).unwrap(), (8, members));
        assert_eq!(walked("[]").unwrap(), (0, vec![]));
        assert_eq!(walked("[ 1 ]").unwrap(), (1, vec![]));
        assert!(walked(r#"{"a":1}"#).is_none());
    }

    /// Not JSON at all: the walk stops, it does not panic or loop.
    #[test]
    fn broken_input_stops_the_walk() {
        for broken in ["[", "[\"abc", "[\"a\\", "[{]", "{\"a\"}", "[1,", "{\"a\":", "]", "[}}", "[\u{e9}"] {
            let _ = walked(broken);
        }
    }
}
