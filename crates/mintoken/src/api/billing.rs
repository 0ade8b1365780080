//! `/v1/billing/razorpay/*` (SPEC §10): create an order for a plan, verify the payment
//! Razorpay Checkout hands back and upgrade the account, and the public settings the
//! dashboard needs. The logic of plans, signatures and the Razorpay client is in
//! `crate::billing`; this module maps it onto HTTP.

use super::body::JsonObject;
use super::types::{BillingConfigView, OrderCreated, OrderRequest, PaymentVerified, RequestBody, VerifyRequest};
use super::{ApiError, CurrentUser};
use crate::billing::razorpay::{NewOrder, RazorpayError, is_razorpay_id};
use crate::billing::{CURRENCY, is_upgrade, signature};
use crate::config::Razorpay;
use crate::server::SharedState;
use crate::store::{ORDER_CREATED, Order, PaymentOutcome};
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json;

pub async fn config(State(state): State<SharedState>) -> Json<BillingConfigView> {
    let billing = &state.config.billing;
    Json(BillingConfigView {
        configured: billing.razorpay.is_some(),
        key_id: billing.razorpay.as_ref().map(|rp| rp.key_id.clone()),
        currency: CURRENCY,
        prices: billing.prices.clone(),
    })
}

/// `{"plan": "pro"}` → an order at Razorpay for the plan's price.
pub async fn create_order(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    body: JsonObject,
) -> Result<Json<OrderCreated>, ApiError> {
    body.only(OrderRequest::FIELDS)?;
    let plan = body.required_string("plan")?;
    let prices = &state.config.billing.prices;
    let Some(&amount) = prices.get(plan) else {
        let sold: Vec<&str> = prices.keys().map(String::as_str).collect();
        return Err(ApiError::bad_request(format!(
            "unknown plan {plan:?}: the plans that can be bought are {}",
            if sold.is_empty() { "none on this server".to_owned() } else { sold.join(", ") }
        )));
    };
    let rp = configured(&state)?;
    if !is_upgrade(&me.user.plan, plan, &state.config.default_plan) {
        return Err(ApiError::conflict(format!(
            "your account is already on the {:?} plan, which {} {plan:?}: only a higher plan can be bought; ask the operator for other changes",
            me.user.plan,
            if me.user.plan == plan { "is" } else { "is not below" }
        )));
    }
    // Razorpay keeps receipts up to 40 characters; this one is unique and names nothing.
    let receipt = format!("mt_{}", uuid::Uuid::new_v4().simple());
    let new = NewOrder { amount, receipt: &receipt, user_id: &me.user.id, plan };
    let created = state.billing.create_order(rp, &new).await.map_err(razorpay_error)?;
    let order = Order {
        order_id: created.id,
        user_id: me.user.id.clone(),
        plan: plan.to_owned(),
        amount: i64::try_from(amount).unwrap_or(i64::MAX),
        currency: CURRENCY.to_owned(),
        receipt,
        status: ORDER_CREATED.to_owned(),
        payment_id: None,
        created_at: state.clock.now_ms(),
        paid_at: None,
    };
    state.store.insert_order(&order).await.map_err(|e| match e {
        crate::store::StoreError::Conflict => {
            ApiError::new(StatusCode::BAD_GATEWAY, "Razorpay answered an order id it had already given; try again")
        }
        e => e.into(),
    })?;
    tracing::info!(user_id = %me.user.id, order_id = %order.order_id, plan, amount, "Razorpay order created");
    Ok(Json(OrderCreated {
        order_id: order.order_id,
        amount,
        currency: CURRENCY,
        key_id: rp.key_id.clone(),
        plan: order.plan,
    }))
}

/// The fields of Razorpay Checkout's success handler → the order paid, the plan raised.
pub async fn verify(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    body: JsonObject,
) -> Result<Json<PaymentVerified>, ApiError> {
    body.only(VerifyRequest::FIELDS)?;
    let order_id = body.required_string("razorpay_order_id")?;
    let payment_id = body.required_string("razorpay_payment_id")?;
    let signature_hex = body.required_string("razorpay_signature")?;
    for (field, id) in [("razorpay_order_id", order_id), ("razorpay_payment_id", payment_id)] {
        if !is_razorpay_id(id) {
            return Err(ApiError::unprocessable(format!(
                "`{field}` must be the id Razorpay Checkout gave (up to 64 letters, digits and _)"
            )));
        }
    }
    let rp = configured(&state)?;
    // Checked before the order is looked up, so without a valid signature nobody learns
    // whether an order id exists.
    if !signature::verify(rp.key_secret.expose(), order_id, payment_id, signature_hex) {
        return Err(ApiError::bad_request(
            "the payment signature does not match this order and payment: send the razorpay_signature Razorpay Checkout gave, unchanged; your plan is unchanged",
        ));
    }
    let order = state.store.order_of_user(order_id, &me.user.id).await?.ok_or_else(|| {
        ApiError::not_found(
            "no order with that razorpay_order_id on your account: create one with POST /v1/billing/razorpay/order",
        )
    })?;
    let default_plan = state.config.default_plan.clone();
    let target = order.plan.clone();
    let raises = move |current: &str| is_upgrade(current, &target, &default_plan);
    let outcome = state.store.pay_order(&order, payment_id, state.clock.now_ms(), &raises).await?;
    match outcome {
        PaymentOutcome::Paid { plan } => {
            // This instance's key cache at once; the others through the store's updated_at.
            state.keys.apply_plan(&me.user.id, &plan);
            tracing::info!(user_id = %me.user.id, order_id, payment_id, plan = %plan, "payment verified; plan upgraded");
        }
        PaymentOutcome::AlreadyPaid => {}
        PaymentOutcome::PaidByAnother => {
            return Err(ApiError::conflict(format!(
                "order {order_id:?} is already paid by another payment; nothing was changed"
            )));
        }
        PaymentOutcome::PaymentUsed => {
            return Err(ApiError::conflict(format!(
                "payment {payment_id:?} already paid for another order; nothing was changed"
            )));
        }
    }
    Ok(Json(PaymentVerified {
        status: "paid",
        plan: order.plan,
        order_id: order.order_id,
        payment_id: payment_id.to_owned(),
    }))
}

fn configured(state: &SharedState) -> Result<&Razorpay, ApiError> {
    state.config.billing.razorpay.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "billing is not configured on this server: the operator must set [billing.razorpay] key_id and key_secret, or set plans with `mintoken users set-plan`",
        )
    })
}

fn razorpay_error(e: RazorpayError) -> ApiError {
    tracing::warn!(error = %e, "Razorpay order creation failed");
    let detail = match &e {
        RazorpayError::Unreachable(_) => {
            "could not reach Razorpay to create the order; retry shortly (the operator can check [billing.razorpay] base_url)".to_owned()
        }
        RazorpayError::Timeout(_) => format!("{e}; retry shortly"),
        RazorpayError::Credentials(_) => format!(
            "{e}: the operator must check [billing.razorpay] key_id and key_secret; no order was created"
        ),
        RazorpayError::Refused(_) | RazorpayError::Unusable(_) => format!("{e}; no order was created, retry shortly"),
    };
    let status = match e {
        RazorpayError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    };
    ApiError::new(status, detail)
}
