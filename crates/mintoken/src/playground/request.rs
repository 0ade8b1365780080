//! The body of `POST /v1/playground/compare`, checked field by field: every refusal is a
//! 400 naming the field and what it should be. The provider key is kept in a
//! [`Secret`] from the moment it is read and never appears in a message.

use super::providers::{self, DEFAULT_PROVIDER, Provider};
use crate::metering::IntensityReason;
use crate::secret::Secret;
use mintoken_compress::Intensity;
use serde_json::{Map, Value};

const FIELDS: [&str; 7] = ["prompt", "provider", "provider_key", "model", "intensity", "custom_base_url", "max_tokens"];

/// Model ids are short; anything longer is a mistake (and goes into a request body or path).
const MAX_MODEL_LEN: usize = 200;
/// Far above any model's output limit; only nonsense is refused.
const MAX_OUTPUT_CAP: u64 = 1_000_000;

pub struct CompareRequest {
    pub prompt: String,
    pub provider: &'static Provider,
    pub provider_key: Secret<String>,
    pub model: String,
    /// The intensity of the run with the skill (never `none`), and why it was chosen.
    pub intensity: Intensity,
    pub intensity_reason: IntensityReason,
    /// As given; only for `custom`, checked (with DNS) by `custom_base_url::check`.
    pub custom_base_url: Option<String>,
    pub max_tokens: Option<u32>,
}

impl CompareRequest {
    /// `key_intensity` is the calling key's default, used when the body names none.
    pub fn parse(body: &[u8], key_intensity: Intensity) -> Result<CompareRequest, String> {
        let fields = object(body)?;
        if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(format!("unknown field `{unknown}`; the fields are: {}", FIELDS.join(", ")));
        }
        let prompt = string(&fields, "prompt")?
            .filter(|p| !p.trim().is_empty())
            .ok_or("`prompt` is required: the text to send to the model")?;
        let provider = match string(&fields, "provider")? {
            None => DEFAULT_PROVIDER,
            Some(name) => name,
        };
        let provider = providers::find(provider)
            .ok_or_else(|| format!("unknown provider {provider:?}; valid providers: {}", providers::names()))?;
        let provider_key = match fields.get("provider_key") {
            None | Some(Value::Null) => {
                return Err(format!("`provider_key` is required: your {} API key", provider.id));
            }
            Some(Value::String(k)) if k.trim().is_empty() => {
                return Err(format!("`provider_key` is empty; send your {} API key", provider.id));
            }
            Some(Value::String(k)) => Secret::new(k.trim().to_owned()),
            Some(_) => return Err("`provider_key` must be a string".to_owned()),
        };
        let model = match (string(&fields, "model")?, provider.default_model) {
            (Some(m), _) => valid_model(m)?,
            (None, Some(default)) => default.to_owned(),
            (None, None) => {
                return Err(format!(
                    "`model` is required for provider {:?}: its server's models are not known",
                    provider.id
                ));
            }
        };
        let (intensity, intensity_reason) = match string(&fields, "intensity")? {
            Some(value) => (skill_intensity(value)?, IntensityReason::Override),
            // A key whose default is `none` would compare nothing with nothing.
            None if key_intensity == Intensity::None => (Intensity::Full, IntensityReason::Default),
            None => (key_intensity, IntensityReason::Default),
        };
        let custom_base_url = string(&fields, "custom_base_url")?.map(str::trim).filter(|u| !u.is_empty());
        match (custom_base_url, provider.needs_base_url) {
            (None, true) => {
                return Err(format!(
                    "`custom_base_url` is required for provider {:?}: the base URL of an OpenAI-compatible server, e.g. \"https://llm.example.com\"",
                    provider.id
                ));
            }
            (Some(_), false) => {
                return Err(format!(
                    "`custom_base_url` is only used with provider \"custom\"; remove it, or set provider to \"custom\" (got {:?})",
                    provider.id
                ));
            }
            _ => {}
        }
        Ok(CompareRequest {
            prompt: prompt.to_owned(),
            provider,
            provider_key,
            model,
            intensity,
            intensity_reason,
            custom_base_url: custom_base_url.map(str::to_owned),
            max_tokens: max_tokens(&fields)?,
        })
    }
}

fn object(body: &[u8]) -> Result<Map<String, Value>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("request body is empty; send a JSON object with at least `prompt` and `provider_key`".to_owned());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("request body must be a JSON object".to_owned()),
        Err(e) => Err(format!("malformed JSON in request body: {e}")),
    }
}

/// An optional string field (`null` counts as absent).
fn string<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{name}` must be a string")),
    }
}

fn valid_model(model: &str) -> Result<String, String> {
    let model = model.trim();
    if model.is_empty() || model.len() > MAX_MODEL_LEN || model.chars().any(char::is_control) {
        return Err(format!("`model` must be a model id of 1 to {MAX_MODEL_LEN} printable characters"));
    }
    Ok(model.to_owned())
}

fn skill_intensity(value: &str) -> Result<Intensity, String> {
    match value.parse::<Intensity>() {
        Ok(Intensity::None) => Err(
            "`intensity` cannot be \"none\": the playground compares a run without the skill to one with it; use lite, full or ultra"
                .to_owned(),
        ),
        Ok(level) => Ok(level),
        Err(_) => Err(format!("`intensity` {value:?} is not an intensity; use lite, full or ultra")),
    }
}

fn max_tokens(fields: &Map<String, Value>) -> Result<Option<u32>, String> {
    match fields.get("max_tokens") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=MAX_OUTPUT_CAP).contains(n))
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("`max_tokens` must be an integer from 1 to {MAX_OUTPUT_CAP}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<CompareRequest, String> {
        CompareRequest::parse(body.as_bytes(), Intensity::Lite)
    }

    #[test]
    fn defaults_provider_model_and_the_keys_intensity() {
        let r = parse(r#"{"prompt":"Hi","provider_key":"sk-1"}"#).unwrap();
        assert_eq!((r.provider.id, r.model.as_str()), ("anthropic", "claude-sonnet-4-5"));
        assert_eq!((r.intensity, r.intensity_reason), (Intensity::Lite, IntensityReason::Default));
        let r =
            parse(r#"{"prompt":"Hi","provider_key":"sk-1","provider":"gemini","intensity":"ULTRA","max_tokens":50}"#)
                .unwrap();
        assert_eq!((r.provider.id, r.intensity, r.max_tokens), ("google", Intensity::Ultra, Some(50)));
        assert_eq!(r.intensity_reason, IntensityReason::Override);
        let none_key = CompareRequest::parse(br#"{"prompt":"Hi","provider_key":"k"}"#, Intensity::None).unwrap();
        assert_eq!(none_key.intensity, Intensity::Full);
    }

    #[test]
    fn every_refusal_names_its_field_and_never_the_key() {
        for (body, expected) in [
            ("", "empty"),
            ("[1]", "JSON object"),
            ("{", "malformed JSON"),
            (r#"{"provider_key":"sk-secret-1"}"#, "`prompt` is required"),
            (r#"{"prompt":"  ","provider_key":"sk-secret-1"}"#, "`prompt` is required"),
            (r#"{"prompt":3,"provider_key":"sk-secret-1"}"#, "`prompt` must be a string"),
            (r#"{"prompt":"Hi"}"#, "`provider_key` is required"),
            (r#"{"prompt":"Hi","provider_key":7}"#, "`provider_key` must be a string"),
            (r#"{"prompt":"Hi","provider_key":"sk-secret-1","provider":"azure"}"#, "valid providers: anthropic"),
            (r#"{"prompt":"Hi","provider_key":"sk-secret-1","intensity":"none"}"#, "cannot be \"none\""),
            (r#"{"prompt":"Hi","provider_key":"sk-secret-1","intensity":"max"}"#, "use lite, full or ultra"),
            (r#"{"prompt":"Hi","provider_key":"sk-secret-1","max_tokens":0}"#, "`max_tokens` must be"),
            (r#"{"prompt":"Hi","provider_key":"sk-secret-1","max_tokens":1.5}"#, "`max_tokens` must be"),
            (r#"{"prompt":"Hi","provider_key":"sk-secret-1","model":""}"#, "`model` must be"),
            (
                r#"{"prompt":"Hi","provider_key":"sk-secret-1","provider":"custom","model":"m"}"#,
                "`custom_base_url` is required",
            ),
            (
                r#"{"prompt":"Hi","provider_key":"sk-secret-1","provider":"custom","custom_base_url":"http://x"}"#,
                "`model` is required",
            ),
            (
                r#"{"prompt":"Hi","provider_key":"sk-secret-1","custom_base_url":"http://x"}"#,
                "only used with provider \"custom\"",
            ),
            (r#"{"prompt":"Hi","provider_key":"sk-secret-1","stream":true}"#, "unknown field `stream`"),
        ] {
            let message = parse(body).err().unwrap_or_else(|| panic!("{body} must be refused"));
            assert!(message.contains(expected), "{body}: {message}");
            assert!(!message.contains("sk-secret-1"), "{message}");
        }
    }
}
