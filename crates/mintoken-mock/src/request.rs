//! Small helpers every API module uses to read a request: JSON body parsing
//! that never panics, lenient boolean flags, and the current unix time for
//! `created` fields.

use serde_json::{Map, Value};

/// Why a body could not be used as a JSON object.
pub(crate) enum BodyError {
    /// Not valid JSON at all; carries the parser's message.
    NotJson(String),
    /// Valid JSON, but not an object.
    NotObject,
}

/// Parses a request body that must be a JSON object.
pub(crate) fn json_object(body: &[u8]) -> Result<Map<String, Value>, BodyError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(BodyError::NotObject),
        Err(e) => Err(BodyError::NotJson(e.to_string())),
    }
}

/// Seconds since the unix epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `true` only for a JSON `true`: a missing or malformed flag means "off".
pub(crate) fn flag(map: &Map<String, Value>, key: &str) -> bool {
    map.get(key).and_then(Value::as_bool).unwrap_or(false)
}
