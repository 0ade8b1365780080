//! `GET /openapi.json`: the management API as an OpenAPI 3.0 document, built once from
//! [`super::operations`] (the table the router is built from) and the schemas `schemars`
//! derives from the body types in [`super::types`]. Nothing here is kept by hand but the
//! status codes every operation of a kind can answer (SPEC §11).

use super::{Access, Operation, operations, types};
use crate::server::SharedState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

/// The proxy routes: the providers' own APIs, listed but not described.
pub const PROXY_ROUTES: [&str; 8] = [
    "POST /v1/chat/completions (OpenAI)",
    "POST /v1/responses (OpenAI)",
    "POST /v1/messages (Anthropic)",
    "POST /v1/messages/count_tokens (Anthropic)",
    "POST /v1/generateContent (Gemini, model in the body)",
    "POST /v1/streamGenerateContent (Gemini, model in the body)",
    "POST /v1/models/{model}:generateContent | :streamGenerateContent | :countTokens (Gemini)",
    "POST /v1beta/models/{model}:generateContent | :streamGenerateContent | :countTokens (Gemini)",
];

/// The document with this server's plan names (they are configuration).
pub async fn serve(State(state): State<SharedState>) -> Response {
    let mut doc = document();
    let plans: Vec<&str> = state.config.plans.names().collect();
    doc["components"]["schemas"]["SetPlanRequest"]["properties"]["plan"]["enum"] = json!(plans);
    // Likewise the plans on sale (an empty `enum` is not valid JSON Schema: left open then).
    let sold: Vec<&str> = state.config.billing.prices.keys().map(String::as_str).collect();
    if !sold.is_empty() {
        doc["components"]["schemas"]["OrderRequest"]["properties"]["plan"]["enum"] = json!(sold);
    }
    ([(header::CONTENT_TYPE, "application/json")], doc.to_string()).into_response()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No content",
        400 => "Bad request: the body is missing, empty, not JSON or not an object, or a required field is absent",
        401 => "Missing or invalid credentials",
        403 => "Not allowed: a plan limit, sign-up disabled, or an administrators' route",
        404 => "Unknown resource (another account's is indistinguishable from a missing one)",
        409 => "Name collision, or the resource is in a state that forbids the change",
        413 => "Body larger than 64 KiB",
        422 => "A field of the wrong type or value, or an unknown field",
        429 => "Too many failed log-ins for this account; see Retry-After",
        500 => "Internal error; the server log has the details",
        502 => "An upstream service (Razorpay) refused, could not be reached or answered something unusable",
        503 => "The database is unavailable, or the feature is not configured on this server",
        504 => "An upstream service (Razorpay) did not answer in time",
        _ => "Error",
    }
}

/// The statuses an operation can answer besides its success and its own `errors`.
pub fn error_statuses(op: &Operation) -> Vec<u16> {
    let mut statuses = op.errors.to_vec();
    if op.access == Access::AccessToken {
        statuses.push(401);
    }
    if op.request.is_some() {
        statuses.extend([400, 413, 422]);
    }
    if !op.query.is_empty() {
        statuses.push(400);
    }
    if op.path.contains('{') {
        // 400: a path parameter that is not UTF-8 or holds control characters.
        statuses.extend([400, 404]);
    }
    if op.path != "/openapi.json" {
        statuses.extend([500, 503]);
    }
    statuses.sort_unstable();
    statuses.dedup();
    statuses
}

/// What every path parameter must match (`body::PathParam` answers 400 otherwise): ids and
/// emails never hold control characters.
const NO_CONTROL_CHARACTERS: &str = r"^[^\x00-\x1f\x7f-\x9f]+$";

/// Path parameters in a route template: `/v1/auth/keys/{id}` → `id`.
pub fn path_params(path: &str) -> Vec<&str> {
    path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).collect()
}

pub fn document() -> Value {
    let mut requests = SchemaSettings::openapi3().into_generator();
    let mut responses = SchemaSettings::openapi3().for_serialize().into_generator();
    let error = responses.subschema_for::<types::ErrorBody>().to_value();
    let mut paths = Map::new();
    for op in operations() {
        let mut o = Map::new();
        o.insert("summary".into(), json!(op.summary));
        o.insert("operationId".into(), json!(operation_id(&op)));
        o.insert("tags".into(), json!([op.path.split('/').nth(2).unwrap_or("mintoken")]));
        if op.access == Access::AccessToken {
            o.insert("security".into(), json!([{ "bearerAuth": [] }]));
        } else {
            o.insert("security".into(), json!([]));
        }
        let mut parameters: Vec<Value> = path_params(op.path)
            .into_iter()
            .map(|name| {
                let schema = match name {
                    "email" => json!({ "type": "string", "format": "email", "pattern": NO_CONTROL_CHARACTERS }),
                    _ => json!({ "type": "string", "minLength": 1, "pattern": NO_CONTROL_CHARACTERS }),
                };
                json!({ "name": name, "in": "path", "required": true, "schema": schema })
            })
            .collect();
        for (name, description, schema) in op.query {
            parameters.push(json!({
                "name": name, "in": "query", "required": false, "description": description,
                "schema": schema(&mut requests).to_value(),
            }));
        }
        if !parameters.is_empty() {
            o.insert("parameters".into(), Value::Array(parameters));
        }
        if let Some(request) = &op.request {
            o.insert(
                "requestBody".into(),
                json!({ "required": true, "content": { "application/json": { "schema": (request.schema)(&mut requests).to_value() } } }),
            );
        }
        let mut answers = Map::new();
        let (status, body) = op.success;
        let mut success = json!({ "description": reason(status) });
        if let Some(schema) = body {
            success["content"] = json!({ "application/json": { "schema": schema(&mut responses).to_value() } });
        }
        answers.insert(status.to_string(), success);
        for status in error_statuses(&op) {
            let mut answer = json!({
                "description": reason(status),
                "content": { "application/json": { "schema": error } },
            });
            if status == 429 {
                answer["headers"] =
                    json!({ "Retry-After": { "description": "Seconds to wait", "schema": { "type": "integer" } } });
            }
            answers.insert(status.to_string(), answer);
        }
        o.insert("responses".into(), Value::Object(answers));
        let item = paths.entry(op.path).or_insert_with(|| json!({}));
        item[op.method.as_str().to_ascii_lowercase()] = Value::Object(o);
    }
    let mut schemas = requests.take_definitions(true);
    schemas.extend(responses.take_definitions(true));
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "mintoken management API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!(
                "Accounts, sessions, API keys, custom rules, plans and analytics. Errors are \
                 `{{\"detail\": \"…\"}}` with a message saying what to fix. Request bodies are JSON \
                 objects of at most 64 KiB; unknown fields are refused (422).\n\nThe proxy routes \
                 are the providers' own APIs (authenticated with an mt_live_ key, errors in the \
                 provider's envelope) and are not described here:\n\n- {}",
                PROXY_ROUTES.join("\n- ")
            ),
            "license": { "name": "Apache-2.0" },
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The access_token of POST /v1/auth/login (not an mt_live_ API key)",
                }
            },
            "schemas": schemas,
        },
    })
}

/// `POST /v1/auth/keys/{id}` → `post_auth_keys_id`.
fn operation_id(op: &Operation) -> String {
    let path: String =
        op.path.trim_start_matches("/v1").chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let path = path.split('_').filter(|s| !s.is_empty()).collect::<Vec<_>>().join("_");
    format!("{}_{path}", op.method.as_str().to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields each handler accepts are the properties its documented schema lists.
    #[test]
    fn request_fields_match_their_schemas() {
        let doc = document();
        for op in operations() {
            let Some(request) = op.request else { continue };
            let mut g = SchemaSettings::openapi3().into_generator();
            let reference = (request.schema)(&mut g).to_value();
            let name = reference["$ref"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
            let schema = &doc["components"]["schemas"][&name];
            let mut properties: Vec<&str> =
                schema["properties"].as_object().unwrap().keys().map(|k| k.as_str()).collect();
            let mut fields = request.fields.to_vec();
            properties.sort_unstable();
            fields.sort_unstable();
            assert_eq!(properties, fields, "{} {}", op.method, op.path);
            assert_eq!(schema["additionalProperties"], json!(false), "{name} refuses unknown fields");
        }
    }

    #[test]
    fn every_operation_is_in_the_document_once() {
        let doc = document();
        let mut ids = std::collections::HashSet::new();
        for op in operations() {
            let o = &doc["paths"][op.path][op.method.as_str().to_ascii_lowercase()];
            assert!(o.is_object(), "{} {} missing", op.method, op.path);
            assert!(ids.insert(o["operationId"].as_str().unwrap().to_owned()), "duplicate operationId");
        }
    }
}
