//! Query strings: parsed once, mintoken's own parameters removed before forwarding.

pub type Query = Vec<(String, String)>;

pub fn parse(query: Option<&str>) -> Query {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

pub fn get<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The client's query string minus `intensity` (mintoken's override) and `key` (a
/// credential: Google clients may put their mintoken key there).
pub fn forwarded(query: &[(String, String)]) -> String {
    query
        .iter()
        .filter(|(k, _)| k != "intensity" && k != "key")
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_drops_mintoken_parameters() {
        let q = parse(Some("intensity=lite&api-version=2024-02-01&key=secret&x=a%20b&alt=sse"));
        assert_eq!(get(&q, "intensity"), Some("lite"));
        assert_eq!(forwarded(&q), "api-version=2024-02-01&x=a%20b&alt=sse");
        assert_eq!(decode("%zz%4"), "%zz%4");
        assert!(parse(None).is_empty());
    }
}
