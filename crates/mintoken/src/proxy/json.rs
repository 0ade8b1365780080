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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untouched_members_keep_their_exact_bytes() {
        let body = br#"{"model":"m","seed":123456789012345678901234567890,"x":"\u00e9","n":1.0e3}"#;
        let object = parse_object(body).unwrap();
        assert_eq!(to_bytes(&object), body.to_vec());
    }

    #[test]
    fn explains_what_is_wrong() {
        assert!(parse_object(b"[1]").unwrap_err().contains("must be a JSON object"));
        assert!(parse_object(b"{\"a\":").unwrap_err().contains("malformed JSON"));
        assert!(parse_object(b" ").unwrap_err().contains("empty"));
    }
}
