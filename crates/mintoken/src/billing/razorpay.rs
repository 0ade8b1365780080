//! The client for Razorpay's Orders API: `POST {base_url}/v1/orders` with HTTP Basic auth
//! (`key_id:key_secret`) and `{amount, currency, receipt, notes}`; Razorpay answers
//! `{id: "order_…", entity: "order", amount, currency, receipt, status: "created", …}`.
//!
//! Whatever goes wrong is reported without Razorpay's raw error text: an answer to bad
//! credentials may echo them, and the key secret must reach no response and no log.

use crate::config::{Config, Razorpay};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

/// A whole order creation, connect to last byte. Checkout waits on it, so it is short.
const TIMEOUT: Duration = Duration::from_secs(20);
/// An order is a few hundred bytes; anything far larger is not one.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The outbound client, built once at start with the proxy's settings.
pub struct Client {
    http: reqwest::Client,
}

/// What to ask Razorpay for.
pub struct NewOrder<'a> {
    pub amount: u64,
    pub receipt: &'a str,
    pub user_id: &'a str,
    pub plan: &'a str,
}

/// The part of Razorpay's order this server relies on.
#[derive(Debug)]
pub struct CreatedOrder {
    pub id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RazorpayError {
    #[error("cannot reach Razorpay: {0}")]
    Unreachable(String),
    #[error("Razorpay did not answer within {0:?}")]
    Timeout(Duration),
    /// 401/403: the configured key pair is wrong.
    #[error("Razorpay refused the configured credentials (HTTP {0})")]
    Credentials(u16),
    #[error("Razorpay refused to create the order (HTTP {0})")]
    Refused(u16),
    #[error("Razorpay answered something unusable: {0}")]
    Unusable(&'static str),
}

#[derive(Deserialize)]
struct OrderAnswer {
    id: String,
    amount: u64,
    currency: String,
}

impl Client {
    pub fn new(config: &Config) -> Client {
        Client { http: crate::proxy::upstream::reqwest_client(config) }
    }

    pub async fn create_order(&self, rp: &Razorpay, order: &NewOrder<'_>) -> Result<CreatedOrder, RazorpayError> {
        let body = json!({
            "amount": order.amount,
            "currency": super::CURRENCY,
            "receipt": order.receipt,
            "notes": { "mintoken_user_id": order.user_id, "mintoken_plan": order.plan },
        });
        let sent = self
            .http
            .post(format!("{}/v1/orders", rp.base_url))
            .basic_auth(&rp.key_id, Some(rp.key_secret.expose()))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .timeout(TIMEOUT)
            .send()
            .await;
        let mut answer = match sent {
            Ok(answer) => answer,
            Err(e) if e.is_timeout() => return Err(RazorpayError::Timeout(TIMEOUT)),
            // reqwest's text names the URL (no credentials: they travel in a header).
            Err(e) => return Err(RazorpayError::Unreachable(error_chain(&e))),
        };
        let status = answer.status().as_u16();
        let mut bytes = Vec::new();
        loop {
            match answer.chunk().await {
                Ok(Some(chunk)) if bytes.len() + chunk.len() <= MAX_ANSWER_BYTES => bytes.extend_from_slice(&chunk),
                Ok(Some(_)) => return Err(RazorpayError::Unusable("an answer larger than 64 KiB")),
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Err(RazorpayError::Timeout(TIMEOUT)),
                Err(e) => return Err(RazorpayError::Unreachable(error_chain(&e))),
            }
        }
        if !(200..300).contains(&status) {
            log_refusal(rp, status, &bytes);
            return Err(match status {
                401 | 403 => RazorpayError::Credentials(status),
                _ => RazorpayError::Refused(status),
            });
        }
        let parsed: OrderAnswer =
            serde_json::from_slice(&bytes).map_err(|_| RazorpayError::Unusable("not an order object"))?;
        if !is_razorpay_id(&parsed.id) {
            return Err(RazorpayError::Unusable("an order id that is not letters, digits and _"));
        }
        if parsed.amount != order.amount || parsed.currency != super::CURRENCY {
            return Err(RazorpayError::Unusable("an order for another amount or currency"));
        }
        Ok(CreatedOrder { id: parsed.id })
    }
}

/// Razorpay's ids (`order_…`, `pay_…`) are short runs of letters, digits and `_`; this
/// keeps anything else out of the database and the signature's message.
pub fn is_razorpay_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// For the operator: Razorpay's status and error code, and its description (e.g. "The
/// amount must be at least INR 1.00") except on a credentials refusal, whose text could
/// quote what was sent; and even then with the key secret masked.
fn log_refusal(rp: &Razorpay, status: u16, body: &[u8]) {
    let error: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let code = error["error"]["code"].as_str().unwrap_or("").chars().take(64).collect::<String>();
    let mut description = match status {
        401 | 403 => String::new(),
        _ => error["error"]["description"].as_str().unwrap_or("").chars().take(200).collect(),
    };
    let secret = rp.key_secret.expose();
    if !secret.is_empty() {
        description = description.replace(secret.as_str(), "[redacted]");
    }
    tracing::warn!(status, code = %code, description = %description, "Razorpay refused to create an order");
}

fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
