//! The providers the playground can call: which dialect speaks to each, its default
//! model, and how a bare prompt becomes that API's request body. Everything after the
//! body — parsing, skill injection, credentials, usage — is the dialect's, exactly as on
//! the proxy path, so a comparison measures the request the proxy would really send.

use crate::proxy::anthropic::AnthropicMessages;
use crate::proxy::dialect::Dialect;
use crate::proxy::google::Gemini;
use crate::proxy::openai_chat::OpenAiChat;
use serde_json::{Map, Value, json};

/// The provider used when the request names none (SPEC §8).
pub const DEFAULT_PROVIDER: &str = "anthropic";

/// How a prompt is put into a request body: one per wire format.
#[derive(Clone, Copy)]
enum Shape {
    /// Chat Completions. `cap_field` names the output cap: OpenAI's current
    /// `max_completion_tokens` (its reasoning models refuse `max_tokens`), or the
    /// `max_tokens` every OpenAI-compatible server understands.
    Chat {
        cap_field: &'static str,
    },
    Anthropic,
    /// Gemini, through the body-model route: the dialect checks the model id and moves
    /// it into the upstream path.
    Gemini,
}

pub struct Provider {
    /// The name in requests, responses and usage rows.
    pub id: &'static str,
    /// Other accepted spellings.
    pub aliases: &'static [&'static str],
    /// Which API it speaks, for people reading the provider list.
    pub api: &'static str,
    /// `None`: the caller must name a model (a custom server's models are unknown).
    pub default_model: Option<&'static str>,
    /// Calls `custom_base_url` instead of a configured upstream.
    pub needs_base_url: bool,
    /// Output cap sent when the caller gives none; Anthropic requires one.
    pub default_max_tokens: Option<u32>,
    pub dialect: &'static dyn Dialect,
    shape: Shape,
}

pub static PROVIDERS: [Provider; 4] = [
    Provider {
        id: "anthropic",
        aliases: &[],
        api: "Anthropic Messages (POST /v1/messages)",
        default_model: Some("claude-sonnet-4-5"),
        needs_base_url: false,
        default_max_tokens: Some(4096),
        dialect: &AnthropicMessages,
        shape: Shape::Anthropic,
    },
    Provider {
        id: "openai",
        aliases: &[],
        api: "OpenAI Chat Completions (POST /v1/chat/completions)",
        default_model: Some("gpt-4o-mini"),
        needs_base_url: false,
        default_max_tokens: None,
        dialect: &OpenAiChat,
        shape: Shape::Chat { cap_field: "max_completion_tokens" },
    },
    Provider {
        id: "google",
        aliases: &["gemini"],
        api: "Google Gemini (POST /v1beta/models/{model}:generateContent)",
        default_model: Some("gemini-2.5-flash"),
        needs_base_url: false,
        default_max_tokens: None,
        dialect: &Gemini,
        shape: Shape::Gemini,
    },
    Provider {
        id: "custom",
        aliases: &[],
        api: "any OpenAI-compatible Chat Completions server at custom_base_url (POST {custom_base_url}/v1/chat/completions)",
        default_model: None,
        needs_base_url: true,
        default_max_tokens: None,
        dialect: &OpenAiChat,
        shape: Shape::Chat { cap_field: "max_tokens" },
    },
];

/// The provider called `name` (case-insensitive; aliases included).
pub fn find(name: &str) -> Option<&'static Provider> {
    let name = name.trim();
    PROVIDERS.iter().find(|p| p.id.eq_ignore_ascii_case(name) || p.aliases.iter().any(|a| a.eq_ignore_ascii_case(name)))
}

/// The accepted names, for error messages: `anthropic, openai, google (or gemini), custom`.
pub fn names() -> String {
    let name = |p: &Provider| match p.aliases {
        [] => p.id.to_owned(),
        aliases => format!("{} (or {})", p.id, aliases.join(", ")),
    };
    PROVIDERS.iter().map(name).collect::<Vec<_>>().join(", ")
}

impl Provider {
    /// The request body a client of this API would send for a single user prompt.
    pub fn request_body(&self, model: &str, prompt: &str, max_tokens: Option<u32>) -> Vec<u8> {
        let max_tokens = max_tokens.or(self.default_max_tokens);
        let mut body = Map::new();
        body.insert("model".to_owned(), json!(model));
        match self.shape {
            Shape::Chat { cap_field } => {
                body.insert("messages".to_owned(), json!([{ "role": "user", "content": prompt }]));
                if let Some(cap) = max_tokens {
                    body.insert(cap_field.to_owned(), json!(cap));
                }
            }
            Shape::Anthropic => {
                if let Some(cap) = max_tokens {
                    body.insert("max_tokens".to_owned(), json!(cap));
                }
                body.insert("messages".to_owned(), json!([{ "role": "user", "content": prompt }]));
            }
            Shape::Gemini => {
                body.insert("contents".to_owned(), json!([{ "role": "user", "parts": [{ "text": prompt }] }]));
                if let Some(cap) = max_tokens {
                    body.insert("generationConfig".to_owned(), json!({ "maxOutputTokens": cap }));
                }
            }
        }
        serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
    }

    /// This provider as `GET /v1/playground/providers` lists it.
    pub fn describe(&self) -> Value {
        json!({
            "id": self.id,
            "aliases": self.aliases,
            "api": self.api,
            "default_model": self.default_model,
            "needs_custom_base_url": self.needs_base_url,
            "default_max_tokens": self.default_max_tokens,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::dialect::RouteInfo;

    #[test]
    fn names_and_aliases_resolve_case_insensitively() {
        assert_eq!(find("Gemini").map(|p| p.id), Some("google"));
        assert_eq!(find(" openai ").map(|p| p.id), Some("openai"));
        assert!(find("azure").is_none());
        assert_eq!(names(), "anthropic, openai, google (or gemini), custom");
    }

    /// Every body a provider builds is one its dialect accepts, for the upstream path the
    /// proxy would call.
    #[test]
    fn each_body_parses_with_its_dialect() {
        for (id, path) in [
            ("anthropic", "/v1/messages"),
            ("openai", "/v1/chat/completions"),
            ("google", "/v1beta/models/gemini-2.5-flash:generateContent"),
            ("custom", "/v1/chat/completions"),
        ] {
            let p = find(id).unwrap();
            let model = p.default_model.unwrap_or("llama3");
            let parsed = p.dialect.parse(&p.request_body(model, "Hi", Some(64)), &RouteInfo::default()).unwrap();
            assert_eq!(parsed.path, path.replace("gemini-2.5-flash", model));
            assert!(!parsed.stream);
            assert_eq!(p.dialect.output_cap(&parsed), Some(64), "{id}");
        }
        let anthropic = find("anthropic").unwrap().request_body("c", "Hi", None);
        assert!(String::from_utf8(anthropic).unwrap().contains(r#""max_tokens":4096"#));
    }
}
