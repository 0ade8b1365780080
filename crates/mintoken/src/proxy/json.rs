//! Request bodies are parsed once into a top-level object whose values stay raw JSON
//! text. Only the members a dialect changes are parsed further; everything else —
//! unknown fields, tools, images, huge numbers, unicode escapes — is written back
//! byte for byte.

use indexmap::IndexMap;
use serde_json::value::RawValue;

pub type RawObject = IndexMap<String, Box<RawValue>>;

/// Parses a request body that must be a JSON object.
pub fn parse_object(bytes: &[u8]) -> Result<RawObject, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("request body is empty; send a JSON object".to_owned());
    }
    match serde_json::from_slice::<RawObject>(bytes) {
        Ok(object) => Ok(object),
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            Err("request body must be a JSON object".to_owned())
        }
        Err(e) => Err(format!("malformed JSON in request body: {e}")),
    }
}

/// Serializes a value that came from JSON back into raw JSON.
pub fn to_raw<T: serde::Serialize + ?Sized>(value: &T) -> Box<RawValue> {
    // Values built from parsed JSON always serialize.
    serde_json::value::to_raw_value(value).unwrap_or_default()
}

pub fn to_bytes(object: &RawObject) -> Vec<u8> {
    serde_json::to_vec(object).unwrap_or_default()
}

/// A required string member; `hint` says what a valid value looks like.
pub fn required_string(object: &RawObject, field: &str, hint: &str) -> Result<String, String> {
    match object.get(field) {
        None => Err(format!("`{field}` is required ({hint})")),
        Some(raw) => {
            serde_json::from_str::<String>(raw.get()).map_err(|_| format!("`{field}` must be a string ({hint})"))
        }
    }
}

/// A required array member; `what` describes its items.
pub fn require_array(object: &RawObject, field: &str, what: &str) -> Result<(), String> {
    match object.get(field).map(|raw| raw.get().trim_start().starts_with('[')) {
        None => Err(format!("`{field}` is required: {what}")),
        Some(false) => Err(format!("`{field}` must be {what}")),
        Some(true) => Ok(()),
    }
}

/// An optional boolean member (`null` counts as absent).
pub fn optional_bool(object: &RawObject, field: &str) -> Result<Option<bool>, String> {
    match object.get(field).map(|raw| raw.get()) {
        None | Some("null") => Ok(None),
        Some(v) => v.parse::<bool>().map(Some).map_err(|_| format!("`{field}` must be true or false")),
    }
}

/// A member as it stands, unparsed.
pub fn raw_member<'a>(object: &'a RawObject, field: &str) -> Option<&'a RawValue> {
    object.get(field).map(|raw| &**raw)
}

/// Parses a member into `T`, if present.
pub fn member<T: serde::de::DeserializeOwned>(object: &RawObject, field: &str) -> Result<Option<T>, String> {
    object
        .get(field)
        .map(|raw| serde_json::from_str::<T>(raw.get()))
        .transpose()
        .map_err(|e| format!("`{field}` is not valid here: {e}"))
}

/// The first element of a JSON array, read without parsing the rest of the array.
pub struct FirstElement<'a> {
    pub element: &'a RawValue,
    /// What follows the element: `,` and more elements, then `]` (with any spacing).
    rest: &'a str,
}

/// `None` for an empty array or a non-array.
pub fn first_element(array: &RawValue) -> Option<FirstElement<'_>> {
    let inner = array.get().strip_prefix('[')?;
    let mut elements = serde_json::Deserializer::from_str(inner).into_iter::<&RawValue>();
    let element = elements.next()?.ok()?;
    Some(FirstElement { element, rest: inner.get(elements.byte_offset()..)? })
}

impl FirstElement<'_> {
    /// The array with `replacement` in place of its first element; the rest keeps its bytes.
    pub fn replaced_by(&self, replacement: &RawValue) -> Box<RawValue> {
        let mut joined = String::with_capacity(1 + replacement.get().len() + self.rest.len());
        joined.push('[');
        joined.push_str(replacement.get());
        joined.push_str(self.rest);
        valid_by_construction(joined)
    }
}

/// A `RawValue` of JSON that is valid by construction (the callers say why), not parsed
/// again to prove it: for a 128 KB agent conversation that second reading was ~0.64M
/// instructions, a fifth of the request (docs/BENCHMARKS.md). serde_json parses it anyway
/// in debug builds, so every test (the fuzz corpora's replay included) checks the claim.
#[allow(unsafe_code)]
fn valid_by_construction(json: String) -> Box<RawValue> {
    // SAFETY: only the two functions of this module that build JSON from parsed pieces call
    // this: `replaced_by` puts a value after `[` and in front of the rest of an array whose
    // first element it replaces; `prepend_skill` puts escaped text after a string's opening
    // quote. Neither result has surrounding whitespace.
    unsafe { RawValue::from_string_unchecked(json) }
}

/// `skill::prepend(skill, text)` where `raw` is the JSON string holding `text`, spliced
/// rather than decoded and encoded again: the skill and separator are escaped and put after
/// the opening quote, and the client's text keeps its exact bytes (escapes as it wrote
/// them). A 16 KB agent system prompt then costs a copy instead of a decode, an encode and
/// their allocations. `None` when `raw` is not a string.
pub fn prepend_skill(skill: &str, raw: &RawValue) -> Option<Box<RawValue>> {
    // What follows the opening quote: the text's JSON, closing quote included.
    let rest = raw.get().strip_prefix('"')?;
    if rest == "\"" {
        return Some(to_raw(skill)); // an empty text gets the skill alone, as `prepend` does
    }
    let separator = mintoken_compress::skill::SEPARATOR;
    let mut joined = String::with_capacity(1 + 2 * (skill.len() + separator.len()) + rest.len());
    joined.push('"');
    push_escaped(&mut joined, skill);
    push_escaped(&mut joined, separator);
    joined.push_str(rest); // the client's text goes on inside the same string, closing quote included
    Some(valid_by_construction(joined))
}

/// Appends `text` as it reads inside a JSON string. The skills need no escapes: they are
/// checked without branching per byte (the loop vectorises) and copied whole; anything
/// else, such as the separator's line breaks, is escaped a byte at a time.
fn push_escaped(out: &mut String, text: &str) {
    let needs_escape = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
    if !text.bytes().fold(false, |any, b| any | needs_escape(b)) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untouched_members_keep_their_exact_bytes() {
        let body = br#"{"model":"m","seed":123456789012345678901234567890,"x":"\u00e9","n":1.0e3}"#;
        let object = parse_object(body).unwrap();
        assert_eq!(to_bytes(&object), body.to_vec());
    }

    /// The splice reads as `skill::prepend` of the decoded text, for texts with escapes of
    /// every kind, and keeps the client's bytes after the skill.
    #[test]
    fn prepended_skills_read_as_the_joined_text() {
        let skill = "Be \"brief\".\tNo\\fluff\r\u{1} — ünïcode";
        for text in ["", "x", "Be kind.", "line\nbreak \"quoted\" \\ \u{1F600} é", "\u{0}\u{1f}"] {
            let raw = to_raw(text);
            let spliced = prepend_skill(skill, &raw).unwrap();
            let read: String = serde_json::from_str(spliced.get()).unwrap();
            assert_eq!(read, mintoken_compress::skill::prepend(skill, text), "{text:?}");
        }
        let raw: Box<RawValue> = serde_json::from_str(r#""caf\u00e9 \/ ok""#).unwrap();
        let spliced = prepend_skill("S", &raw).unwrap();
        assert_eq!(spliced.get(), r#""S\n\ncaf\u00e9 \/ ok""#, "the client's escapes stay as sent");
        for not_a_string in ["null", "[]", "{}", "1"] {
            let raw: Box<RawValue> = serde_json::from_str(not_a_string).unwrap();
            assert!(prepend_skill("S", &raw).is_none(), "{not_a_string}");
        }
    }

    #[test]
    fn the_first_element_is_read_alone() {
        for (array, first, rest) in [
            (r#"[{"a":[1,"]"]} , 2]"#, r#"{"a":[1,"]"]}"#, " , 2]"),
            (r#"[ "x\"" ]"#, r#""x\"""#, " ]"),
            ("[12,{}]", "12", ",{}]"),
            ("[null]", "null", "]"),
        ] {
            let raw: Box<RawValue> = serde_json::from_str(array).unwrap();
            let first_element = first_element(&raw).unwrap();
            assert_eq!((first_element.element.get(), first_element.rest), (first, rest), "{array}");
            let replaced = first_element.replaced_by(&to_raw("new"));
            assert_eq!(replaced.get(), format!("[\"new\"{rest}"));
        }
        for no_element in ["[]", "[ ]", "{}", "\"[1]\""] {
            let raw: Box<RawValue> = serde_json::from_str(no_element).unwrap();
            assert!(first_element(&raw).is_none(), "{no_element}");
        }
    }

    #[test]
    fn explains_what_is_wrong() {
        assert!(parse_object(b"[1]").unwrap_err().contains("must be a JSON object"));
        assert!(parse_object(b"{\"a\":").unwrap_err().contains("malformed JSON"));
        assert!(parse_object(b" ").unwrap_err().contains("empty"));
    }
}
