//! A fake of Razorpay's Orders API, for mintoken's billing tests: `POST /v1/orders` with
//! HTTP Basic auth (`key_id:key_secret`) and `{amount, currency, receipt, notes}`,
//! answering a Razorpay-shaped order (`{id: "order_…", entity: "order", amount,
//! amount_paid: 0, amount_due, currency, receipt, status: "created", attempts: 0, notes,
//! created_at}`) and remembering it. Errors use Razorpay's envelope
//! (`{"error": {"code", "description", "source", "step", "reason", "metadata"}}`).
//!
//! The accepted key pair is [`RazorpaySettings::key_id`] / `key_secret` (defaults
//! [`RAZORPAY_KEY_ID`] / [`RAZORPAY_KEY_SECRET`]); `refuse_status` makes every order
//! creation fail with that status and `malformed` answers 200 with a body that is not an
//! order, so a client's failure paths can be tested. The provider [`crate::Behavior`]
//! does not apply here. Payments are not faked: a test that "pays" computes Checkout's
//! signature itself (hex HMAC-SHA256 of `order_id|payment_id` with the key secret).

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::deliver::json_response;
use crate::server::Received;
use crate::state::Shared;

/// The key id the fake accepts unless told otherwise.
pub const RAZORPAY_KEY_ID: &str = "rzp_test_mintokenmock";
/// The key secret the fake accepts unless told otherwise.
pub const RAZORPAY_KEY_SECRET: &str = "mock_razorpay_secret_7f3c9a";

/// How the fake Razorpay answers (`POST /_mock/razorpay` takes it as JSON; absent
/// fields keep their defaults).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RazorpaySettings {
    pub key_id: String,
    pub key_secret: String,
    /// Answer every order creation with this status (e.g. 401, 500) in Razorpay's error
    /// envelope.
    pub refuse_status: Option<u16>,
    /// Answer 200 with a body that is not an order.
    pub malformed: bool,
}

impl Default for RazorpaySettings {
    fn default() -> Self {
        RazorpaySettings {
            key_id: RAZORPAY_KEY_ID.to_owned(),
            key_secret: RAZORPAY_KEY_SECRET.to_owned(),
            refuse_status: None,
            malformed: false,
        }
    }
}

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    let body = json!({"error": {"code": code, "description": description, "source": "NA",
        "step": "NA", "reason": "NA", "metadata": {}}});
    json_response(status, &body)
}

fn authorized(headers: &HeaderMap, settings: &RazorpaySettings) -> bool {
    let expected =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", settings.key_id, settings.key_secret));
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .is_some_and(|v| v.trim() == expected)
}

/// `POST /v1/orders`.
pub(crate) async fn create_order(
    State(state): State<Shared>,
    Extension(received): Extension<Received>,
    headers: HeaderMap,
) -> Response {
    let settings = state.razorpay();
    if let Some(status) = settings.refuse_status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return error(status, "SERVER_ERROR", "The fake Razorpay was told to refuse");
    }
    if !authorized(&headers, &settings) {
        return error(StatusCode::UNAUTHORIZED, "BAD_REQUEST_ERROR", "Authentication failed");
    }
    if settings.malformed {
        return json_response(StatusCode::OK, &json!({"entity": "collection", "items": []}));
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&received.body) else {
        return error(StatusCode::BAD_REQUEST, "BAD_REQUEST_ERROR", "The request body must be a JSON object");
    };
    let Some(amount) = body.get("amount").and_then(Value::as_u64).filter(|a| *a >= 100) else {
        return error(StatusCode::BAD_REQUEST, "BAD_REQUEST_ERROR", "The amount must be at least INR 1.00");
    };
    let Some(currency) = body.get("currency").and_then(Value::as_str).filter(|c| c.len() == 3) else {
        return error(StatusCode::BAD_REQUEST, "BAD_REQUEST_ERROR", "The currency field is required.");
    };
    let receipt = body.get("receipt").cloned().unwrap_or(Value::Null);
    if receipt.as_str().is_some_and(|r| r.len() > 40) {
        return error(StatusCode::BAD_REQUEST, "BAD_REQUEST_ERROR", "receipt: the length must not exceed 40.");
    }
    let n = state.next_id();
    let created_at =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let order = json!({
        "id": format!("order_Mock{n:010}"),
        "entity": "order",
        "amount": amount,
        "amount_paid": 0,
        "amount_due": amount,
        "currency": currency,
        "receipt": receipt,
        "offer_id": null,
        "status": "created",
        "attempts": 0,
        "notes": body.get("notes").cloned().unwrap_or_else(|| json!([])),
        "created_at": created_at,
    });
    state.add_razorpay_order(order.clone());
    json_response(StatusCode::OK, &order)
}
