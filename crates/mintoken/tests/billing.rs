//! Billing through Razorpay (SPEC §10), against the fake Razorpay of `mintoken-mock`:
//! order creation (what Razorpay received, what the browser gets), the refusals (unknown
//! plan, not configured, Razorpay refusing or away), and payment verification — a good
//! signature upgrades the plan for the very next proxied request; a wrong one, a replay,
//! a payment re-used on another order or someone else's order change nothing.

mod common;

use base64::Engine;
use common::{TestApp, billing_toml, chat_body, razorpay_signature};
use mintoken_mock::{RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET, RazorpaySettings};
use serde_json::{Value, json};

const ORDER: &str = "/v1/billing/razorpay/order";
const VERIFY: &str = "/v1/billing/razorpay/verify";

async fn order(app: &TestApp, token: &str, plan: &str) -> (u16, Value) {
    app.post_json(ORDER, Some(token), json!({ "plan": plan })).await
}

/// Verifies `payment_id` for `order_id` with the signature Razorpay would give.
async fn pay(app: &TestApp, token: &str, order_id: &str, payment_id: &str) -> (u16, Value) {
    let signature = razorpay_signature(RAZORPAY_KEY_SECRET, order_id, payment_id);
    verify(app, token, order_id, payment_id, &signature).await
}

async fn verify(app: &TestApp, token: &str, order_id: &str, payment_id: &str, signature: &str) -> (u16, Value) {
    let body = json!({
        "razorpay_order_id": order_id,
        "razorpay_payment_id": payment_id,
        "razorpay_signature": signature,
    });
    app.post_json(VERIFY, Some(token), body).await
}

async fn plan_of(app: &TestApp, token: &str) -> String {
    let (status, plan) = app.send(app.http.get(app.url("/v1/plan")).bearer_auth(token)).await;
    assert_eq!(status, 200, "{plan}");
    plan["plan"].as_str().unwrap().to_owned()
}

fn detail(body: &Value) -> &str {
    body["detail"].as_str().unwrap_or_else(|| panic!("no detail in {body}"))
}

#[tokio::test]
async fn an_order_is_created_at_razorpay_for_the_configured_price() {
    let app = TestApp::start_with(&format!("{}[billing.prices]\npro = 12300\n", billing_toml())).await;
    let token = app.signup("buyer@example.com").await["access_token"].as_str().unwrap().to_owned();
    let user_id = app.user_id("buyer@example.com").await;

    let (status, config) = app.send(app.http.get(app.url("/v1/billing/razorpay/config")).bearer_auth(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(
        config,
        json!({"configured": true, "key_id": RAZORPAY_KEY_ID, "currency": "INR",
               "prices": {"pro": 12300, "team": 199_900}})
    );

    let (status, created) = order(&app, &token, "pro").await;
    assert_eq!(status, 200, "{created}");
    let order_id = created["order_id"].as_str().unwrap();
    assert!(order_id.starts_with("order_"), "{created}");
    assert_eq!(
        created,
        json!({"order_id": order_id, "amount": 12300, "currency": "INR", "key_id": RAZORPAY_KEY_ID, "plan": "pro"})
    );

    // What Razorpay received: Basic auth with the key pair, the price in paise, INR.
    let sent = app.mock.requests().into_iter().filter(|r| r.path == "/v1/orders").collect::<Vec<_>>();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method, "POST");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{RAZORPAY_KEY_ID}:{RAZORPAY_KEY_SECRET}"));
    assert_eq!(sent[0].header("authorization"), Some(format!("Basic {basic}").as_str()));
    assert_eq!(sent[0].header("content-type"), Some("application/json"));
    let body = sent[0].json();
    assert_eq!((body["amount"].as_u64(), body["currency"].as_str()), (Some(12300), Some("INR")));
    let receipt = body["receipt"].as_str().unwrap();
    assert!(!receipt.is_empty() && receipt.len() <= 40, "{receipt}");
    assert_eq!(body["notes"], json!({"mintoken_user_id": user_id, "mintoken_plan": "pro"}));
    assert_eq!(app.mock.razorpay_orders()[0]["id"], order_id);

    // Stored for the verification, unpaid.
    let stored = app.server.state.store.order_of_user(order_id, &user_id).await.unwrap().unwrap();
    assert_eq!((stored.plan.as_str(), stored.amount, stored.status.as_str()), ("pro", 12300, "created"));
    assert_eq!((stored.currency.as_str(), stored.receipt.as_str(), stored.payment_id), ("INR", receipt, None));

    // The default price of team; the plan itself is unchanged until a payment is verified.
    let (status, team) = order(&app, &token, "team").await;
    assert_eq!((status, team["amount"].as_u64()), (200, Some(199_900)), "{team}");
    assert_ne!(team["order_id"], created["order_id"]);
    assert_eq!(plan_of(&app, &token).await, "free");
}

#[tokio::test]
async fn only_the_plans_on_sale_above_the_current_one_can_be_bought() {
    let app = TestApp::start_with(&format!("{}[billing.prices]\nteam = 0\n", billing_toml())).await;
    let token = app.signup("picky@example.com").await["access_token"].as_str().unwrap().to_owned();
    for plan in ["gold", "free", "enterprise", "team", "PRO"] {
        let (status, body) = order(&app, &token, plan).await;
        assert_eq!(status, 400, "{plan}: {body}");
        assert!(detail(&body).contains("plans that can be bought are pro"), "{body}");
    }
    for (body, status) in [(json!({}), 400), (json!({"plan": 1}), 422), (json!({"plan": "pro", "amount": 1}), 422)] {
        let (got, answer) = app.post_json(ORDER, Some(&token), body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
    }
    assert!(app.mock.razorpay_orders().is_empty(), "nothing reached Razorpay");

    // Already on pro (set by the operator): pro again, or anything lower, is refused.
    app.server.state.store.set_plan("picky@example.com", "pro").await.unwrap();
    let (status, body) = order(&app, &token, "pro").await;
    assert_eq!(status, 409, "{body}");
    assert!(detail(&body).contains("already on the \"pro\" plan"), "{body}");
    app.server.state.store.set_plan("picky@example.com", "enterprise").await.unwrap();
    let app2 = TestApp::start_with(&billing_toml()).await;
    let t2 = app2.signup("big@example.com").await["access_token"].as_str().unwrap().to_owned();
    app2.server.state.store.set_plan("big@example.com", "enterprise").await.unwrap();
    let (status, body) = order(&app2, &t2, "team").await;
    assert_eq!(status, 409, "{body}");
    assert!(app2.mock.razorpay_orders().is_empty());
}

#[tokio::test]
async fn without_razorpay_credentials_billing_answers_503() {
    let app = TestApp::start().await;
    let token = app.signup("selfhost@example.com").await["access_token"].as_str().unwrap().to_owned();
    let (status, config) = app.send(app.http.get(app.url("/v1/billing/razorpay/config")).bearer_auth(&token)).await;
    assert_eq!(status, 200);
    assert_eq!((config["configured"].as_bool(), &config["key_id"]), (Some(false), &Value::Null));
    let (status, body) = order(&app, &token, "pro").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        detail(&body).contains("[billing.razorpay]") && detail(&body).contains("mintoken users set-plan"),
        "{body}"
    );
    let (status, body) = pay(&app, &token, "order_Whatever0001", "pay_Whatever0001").await;
    assert_eq!(status, 503, "{body}");
    // An unknown plan is still named as such.
    assert_eq!(order(&app, &token, "gold").await.0, 400);
    assert!(app.mock.requests().iter().all(|r| r.path != "/v1/orders"));
}

#[tokio::test]
async fn razorpay_refusing_or_away_is_a_502_and_no_order() {
    let app = TestApp::start_with(&billing_toml()).await;
    let token = app.signup("unlucky@example.com").await["access_token"].as_str().unwrap().to_owned();
    let user_id = app.user_id("unlucky@example.com").await;
    let fake = |refuse_status, malformed, key_secret: &str| RazorpaySettings {
        refuse_status,
        malformed,
        key_secret: key_secret.to_owned(),
        ..Default::default()
    };
    for (what, settings, says) in [
        ("a 500", fake(Some(500), false, RAZORPAY_KEY_SECRET), "refused to create the order (HTTP 500)"),
        ("a 401", fake(Some(401), false, RAZORPAY_KEY_SECRET), "check [billing.razorpay] key_id and key_secret"),
        ("another key pair", fake(None, false, "rotated_secret"), "refused the configured credentials (HTTP 401)"),
        ("a body that is not an order", fake(None, true, RAZORPAY_KEY_SECRET), "answered something unusable"),
    ] {
        app.mock.set_razorpay(settings);
        let (status, body) = order(&app, &token, "pro").await;
        assert_eq!(status, 502, "{what}: {body}");
        assert!(detail(&body).contains(says), "{what}: {body}");
        assert!(!body.to_string().contains(RAZORPAY_KEY_SECRET), "{what}: the secret in {body}");
        assert!(!body.to_string().contains("Authentication failed"), "{what}: Razorpay's own text in {body}");
    }
    assert!(app.server.state.store.orders_of_user(&user_id).await.unwrap().is_empty());
    assert_eq!(plan_of(&app, &token).await, "free");

    // Nothing listening at the configured base URL.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let toml = billing_toml().replace("$MOCK_BASE_URL", &format!("http://127.0.0.1:{port}"));
    let away = TestApp::start_with(&toml).await;
    let token = away.signup("away@example.com").await["access_token"].as_str().unwrap().to_owned();
    let (status, body) = order(&away, &token, "team").await;
    assert_eq!(status, 502, "{body}");
    assert!(detail(&body).contains("could not reach Razorpay"), "{body}");
    let user_id = away.user_id("away@example.com").await;
    assert!(away.server.state.store.orders_of_user(&user_id).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_verified_payment_upgrades_the_plan_for_the_next_proxied_request_once() {
    // The mock's reply costs 9 output tokens: one request uses up the free quota.
    let app = TestApp::start_with(&format!("{}[plans.free]\nmonthly_output_tokens = 9\n", billing_toml())).await;
    let (token, key) = app.user_with_key("payer@example.com").await;
    let raw = key["raw_key"].as_str().unwrap();
    let user_id = app.user_id("payer@example.com").await;
    assert_eq!(app.send(app.chat(raw, &chat_body())).await.0, 200);
    let blocked = app.chat(raw, &chat_body()).send().await.unwrap();
    assert_eq!(blocked.status(), 429);
    assert_eq!(blocked.headers()["x-mintoken-tokens-limit"], "9");

    let (status, created) = order(&app, &token, "pro").await;
    assert_eq!(status, 200, "{created}");
    let order_id = created["order_id"].as_str().unwrap().to_owned();

    // A wrong signature: refused, nothing changes.
    let forged = razorpay_signature("not-the-secret", &order_id, "pay_Forged000001");
    let other_payment = razorpay_signature(RAZORPAY_KEY_SECRET, &order_id, "pay_Other0000001");
    for signature in [forged.as_str(), other_payment.as_str(), "00", "", &"g".repeat(64)] {
        let (status, body) = verify(&app, &token, &order_id, "pay_Forged000001", signature).await;
        assert_eq!(status, 400, "{signature}: {body}");
        assert!(detail(&body).contains("signature does not match"), "{body}");
    }
    assert_eq!(plan_of(&app, &token).await, "free");
    assert_eq!(app.send(app.chat(raw, &chat_body())).await.0, 429, "still blocked");
    let stored = app.server.state.store.order_of_user(&order_id, &user_id).await.unwrap().unwrap();
    assert_eq!((stored.status.as_str(), stored.payment_id), ("created", None));

    // The real payment: paid, and the very next request is on pro.
    let (status, paid) = pay(&app, &token, &order_id, "pay_Good00000001").await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid, json!({"status": "paid", "plan": "pro", "order_id": order_id, "payment_id": "pay_Good00000001"}));
    assert_eq!(app.send(app.chat(raw, &chat_body())).await.0, 200, "the upgrade lifted the quota");
    assert_eq!(plan_of(&app, &token).await, "pro");
    let stored = app.server.state.store.order_of_user(&order_id, &user_id).await.unwrap().unwrap();
    assert_eq!((stored.status.as_str(), stored.payment_id.as_deref()), ("paid", Some("pay_Good00000001")));
    assert!(stored.paid_at.is_some());

    // The operator moves the account back to free; replaying the payment answers the
    // same and has no second effect.
    app.server.state.store.set_plan("payer@example.com", "free").await.unwrap();
    app.server.state.keys.apply_plan(&user_id, "free");
    for _ in 0..2 {
        let (status, again) = pay(&app, &token, &order_id, "pay_Good00000001").await;
        assert_eq!((status, &again), (200, &paid));
    }
    assert_eq!(plan_of(&app, &token).await, "free");
    assert_eq!(app.send(app.chat(raw, &chat_body())).await.0, 429);
    assert_eq!(app.server.state.store.order_of_user(&order_id, &user_id).await.unwrap().unwrap(), stored);

    // Another payment for the paid order: 409.
    let (status, body) = pay(&app, &token, &order_id, "pay_Second000001").await;
    assert_eq!(status, 409, "{body}");
    // The same payment presented for another order: 409, that order stays unpaid.
    let (_, team) = order(&app, &token, "team").await;
    let team_id = team["order_id"].as_str().unwrap().to_owned();
    let (status, body) = pay(&app, &token, &team_id, "pay_Good00000001").await;
    assert_eq!(status, 409, "{body}");
    assert!(detail(&body).contains("already paid for another order"), "{body}");
    assert_eq!(plan_of(&app, &token).await, "free");
    let team_row = app.server.state.store.order_of_user(&team_id, &user_id).await.unwrap().unwrap();
    assert_eq!((team_row.status.as_str(), team_row.payment_id), ("created", None));

    // Its own payment, presented by several tabs at once: all answer paid, one upgrade.
    let tabs = (0..6).map(|_| pay(&app, &token, &team_id, "pay_Team00000001"));
    for (status, body) in futures_util::future::join_all(tabs).await {
        assert_eq!((status, body["plan"].as_str()), (200, Some("team")), "{body}");
    }
    assert_eq!(plan_of(&app, &token).await, "team");
}

#[tokio::test]
async fn someone_elses_order_is_not_found() {
    let app = TestApp::start_with(&billing_toml()).await;
    let a = app.signup("owner@example.com").await["access_token"].as_str().unwrap().to_owned();
    let b = app.signup("other@example.com").await["access_token"].as_str().unwrap().to_owned();
    let (_, created) = order(&app, &a, "pro").await;
    let order_id = created["order_id"].as_str().unwrap();
    let (status, body) = pay(&app, &b, order_id, "pay_Thief0000001").await;
    assert_eq!(status, 404, "{body}");
    assert!(detail(&body).contains("no order"), "{body}");
    let (status, _) = pay(&app, &b, "order_NoSuchOrder01", "pay_Thief0000002").await;
    assert_eq!(status, 404);
    assert_eq!((plan_of(&app, &a).await, plan_of(&app, &b).await), ("free".to_owned(), "free".to_owned()));
    // A's order is still A's to pay.
    assert_eq!(pay(&app, &a, order_id, "pay_Thief0000001").await.0, 200);
    assert_eq!(plan_of(&app, &a).await, "pro");
    // Ids that are not Razorpay's shape are refused before anything is looked up.
    let (status, _) = verify(&app, &a, "order_1\r\nx", "pay_1", "00").await;
    assert_eq!(status, 422);
}
