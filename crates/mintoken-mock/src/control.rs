//! Control routes under `/_mock/` for clients outside the process (Python
//! tests, benchmarks): set the behaviour, read and clear the request log.
//! They are never recorded and never affected by the behaviour.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::behavior::{Behavior, Fault};
use crate::deliver::json_response;
use crate::razorpay::RazorpaySettings;
use crate::state::Shared;

pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route("/_mock/behavior", post(set_behavior).get(get_behavior))
        .route("/_mock/requests", get(list_requests).delete(clear_requests))
        .route("/_mock/chunks", get(list_chunks))
        .route("/_mock/razorpay", post(set_razorpay).get(get_razorpay))
        .route("/_mock/razorpay/orders", get(list_razorpay_orders))
}

async fn set_razorpay(State(state): State<Shared>, body: Bytes) -> Response {
    let settings: RazorpaySettings = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return control_error(format!("invalid razorpay settings: {e}")),
    };
    if let Some(status) = settings.refuse_status
        && StatusCode::from_u16(status).is_err()
    {
        return control_error(format!("invalid HTTP status {status}"));
    }
    state.set_razorpay(settings.clone());
    json_response(StatusCode::OK, &json!({"ok": true, "razorpay": settings}))
}

async fn get_razorpay(State(state): State<Shared>) -> Response {
    json_response(StatusCode::OK, &json!(state.razorpay()))
}

async fn list_razorpay_orders(State(state): State<Shared>) -> Response {
    json_response(StatusCode::OK, &Value::Array(state.razorpay_orders()))
}

fn control_error(message: String) -> Response {
    json_response(StatusCode::BAD_REQUEST, &json!({"error": message}))
}

async fn set_behavior(State(state): State<Shared>, body: Bytes) -> Response {
    let behavior: Behavior = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return control_error(format!("invalid behavior: {e}")),
    };
    // Reject what could never be answered, rather than degrade it later.
    if let Some(Fault::Status { status, .. }) = &behavior.fault
        && StatusCode::from_u16(*status).is_err()
    {
        return control_error(format!("invalid HTTP status {status}"));
    }
    state.set_behavior(behavior.clone());
    json_response(StatusCode::OK, &json!({"ok": true, "behavior": behavior}))
}

async fn get_behavior(State(state): State<Shared>) -> Response {
    json_response(StatusCode::OK, &json!(state.behavior()))
}

async fn list_requests(State(state): State<Shared>) -> Response {
    let requests = serde_json::to_value(state.requests()).unwrap_or(Value::Array(Vec::new()));
    json_response(StatusCode::OK, &requests)
}

/// The chunk log: `[{"request_index", "event_index", "data"}]`, data as (lossy) UTF-8 text,
/// so a client outside the process can check a relayed stream byte for byte.
async fn list_chunks(State(state): State<Shared>) -> Response {
    let chunks: Vec<Value> = state
        .chunk_log()
        .into_iter()
        .map(|c| {
            json!({"request_index": c.request_index, "event_index": c.event_index,
                   "data": String::from_utf8_lossy(&c.data)})
        })
        .collect();
    json_response(StatusCode::OK, &Value::Array(chunks))
}

async fn clear_requests(State(state): State<Shared>) -> Response {
    state.clear();
    json_response(StatusCode::OK, &json!({"ok": true}))
}
