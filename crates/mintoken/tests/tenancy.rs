//! Tenant isolation on every management route (SPEC §5, §12): user B, signed in with
//! their own valid access token, aims each route at user A's resources. Every attempt
//! is refused (403/404, or 400 for a filter the route does not accept) or answers about
//! B alone; afterwards A's account reads back byte for byte as before, and A's key,
//! which B tried to revoke, still proxies.
//!
//! The routes come from a table (one line per method and route); a guard compares it
//! with `mintoken::api::operations()`, the list the router is built from, so a
//! management route added there without a line here fails this test.

mod common;

use common::{TestApp, billing_toml, chat_body};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// What B must get from a row.
#[derive(Clone, Copy)]
enum Expect {
    /// Refused with one of these statuses.
    Refused(&'static [u16]),
    /// Served, about B only (A's identifiers must not appear).
    OwnOnly(u16),
}

use Expect::{OwnOnly, Refused};

struct Row {
    method: &'static str,
    /// The route as `protected_routes` writes it (checked by the coverage guard).
    route: &'static str,
    /// The request B sends; `{a_key}`, `{a_rule}`, `{a_email}`, `{a_order}` stand for A's
    /// resources (in the path and the body), `{a_order_sig}` for a valid Razorpay
    /// signature of a payment of A's order.
    path: &'static str,
    body: Option<Value>,
    expect: Expect,
}

const NOT_YOURS: &[u16] = &[403, 404];
/// An org the caller is not in does not exist for them.
const NOT_FOUND: &[u16] = &[404];
/// A filter the route does not know is refused before anything is read.
const BAD_FILTER: &[u16] = &[400, 403, 404];

fn rows() -> Vec<Row> {
    let row = |method, route, path, body, expect| Row { method, route, path, body, expect };
    vec![
        row("GET", "/v1/auth/me", "/v1/auth/me", None, OwnOnly(200)),
        row("GET", "/v1/auth/keys", "/v1/auth/keys", None, OwnOnly(200)),
        row("POST", "/v1/auth/keys", "/v1/auth/keys", Some(json!({"name": "a-key-7f3e"})), OwnOnly(201)),
        row("GET", "/v1/auth/keys/{id}", "/v1/auth/keys/{a_key}", None, Refused(NOT_YOURS)),
        row(
            "PATCH",
            "/v1/auth/keys/{id}",
            "/v1/auth/keys/{a_key}",
            Some(json!({"name": "pwned", "intensity": "none", "holdout_percent": 100})),
            Refused(NOT_YOURS),
        ),
        row("DELETE", "/v1/auth/keys/{id}", "/v1/auth/keys/{a_key}", None, Refused(NOT_YOURS)),
        row("GET", "/v1/rules", "/v1/rules", None, OwnOnly(200)),
        row(
            "POST",
            "/v1/rules",
            "/v1/rules",
            Some(json!({"rule_type": "never_compress", "pattern": "b-only-pattern"})),
            OwnOnly(201),
        ),
        row("DELETE", "/v1/rules/{id}", "/v1/rules/{a_rule}", None, Refused(NOT_YOURS)),
        row("GET", "/v1/plan", "/v1/plan", None, OwnOnly(200)),
        row("GET", "/v1/admin/users", "/v1/admin/users", None, Refused(&[403])),
        row(
            "PUT",
            "/v1/admin/users/{email}/plan",
            "/v1/admin/users/{a_email}/plan",
            Some(json!({"plan": "enterprise"})),
            Refused(&[403]),
        ),
        row("GET", "/v1/billing/razorpay/config", "/v1/billing/razorpay/config", None, OwnOnly(200)),
        row(
            "POST",
            "/v1/billing/razorpay/order",
            "/v1/billing/razorpay/order",
            Some(json!({"plan": "pro"})),
            OwnOnly(200),
        ),
        // A genuine payment of A's order, presented by B: must not pay it or upgrade B.
        row(
            "POST",
            "/v1/billing/razorpay/verify",
            "/v1/billing/razorpay/verify",
            Some(json!({"razorpay_order_id": "{a_order}", "razorpay_payment_id": "pay_TenancyB0001",
                        "razorpay_signature": "{a_order_sig}"})),
            Refused(NOT_YOURS),
        ),
        row("GET", "/v1/analytics/summary", "/v1/analytics/summary", None, OwnOnly(200)),
        row("GET", "/v1/analytics/summary", "/v1/analytics/summary?key_id={a_key}", None, Refused(BAD_FILTER)),
        row("GET", "/v1/analytics/timeseries", "/v1/analytics/timeseries", None, OwnOnly(200)),
        row(
            "GET",
            "/v1/analytics/timeseries",
            "/v1/analytics/timeseries?bucket=day&key_id={a_key}",
            None,
            Refused(BAD_FILTER),
        ),
        row("GET", "/v1/analytics/by-key", "/v1/analytics/by-key", None, OwnOnly(200)),
        row("GET", "/v1/analytics/by-key", "/v1/analytics/by-key?key_id={a_key}", None, Refused(BAD_FILTER)),
        row("GET", "/v1/analytics/savings", "/v1/analytics/savings", None, OwnOnly(200)),
        row("GET", "/v1/analytics/savings", "/v1/analytics/savings?user_id={a_user}", None, Refused(BAD_FILTER)),
        // Organizations: B is not a member of A's org, so it does not exist for B.
        row("GET", "/v1/orgs", "/v1/orgs", None, OwnOnly(200)),
        row("POST", "/v1/orgs", "/v1/orgs", Some(json!({"name": "B Own Org"})), OwnOnly(201)),
        row("GET", "/v1/orgs/{id}", "/v1/orgs/{a_org}", None, Refused(NOT_FOUND)),
        row(
            "POST",
            "/v1/orgs/{id}/members",
            "/v1/orgs/{a_org}/members",
            Some(json!({"email": "bob@example.com", "role": "admin"})),
            Refused(NOT_FOUND),
        ),
        row(
            "PATCH",
            "/v1/orgs/{id}/members/{user_id}",
            "/v1/orgs/{a_org}/members/{a_user}",
            Some(json!({"role": "member"})),
            Refused(NOT_FOUND),
        ),
        row("DELETE", "/v1/orgs/{id}/members/{user_id}", "/v1/orgs/{a_org}/members/{a_user}", None, Refused(NOT_FOUND)),
        row(
            "DELETE",
            "/v1/orgs/{id}/invitations/{invitation_id}",
            "/v1/orgs/{a_org}/invitations/{a_invitation}",
            None,
            Refused(NOT_FOUND),
        ),
        row("POST", "/v1/orgs/{id}/leave", "/v1/orgs/{a_org}/leave", None, Refused(NOT_FOUND)),
        row("GET", "/v1/auth/keys", "/v1/auth/keys?org_id={a_org}", None, Refused(NOT_FOUND)),
        row(
            "POST",
            "/v1/auth/keys",
            "/v1/auth/keys",
            Some(json!({"name": "into-a-org", "org_id": "{a_org}"})),
            Refused(NOT_FOUND),
        ),
        row("GET", "/v1/auth/keys/{id}", "/v1/auth/keys/{a_org_key}", None, Refused(NOT_FOUND)),
        row(
            "PATCH",
            "/v1/auth/keys/{id}",
            "/v1/auth/keys/{a_org_key}",
            Some(json!({"intensity": "none"})),
            Refused(NOT_FOUND),
        ),
        row("DELETE", "/v1/auth/keys/{id}", "/v1/auth/keys/{a_org_key}", None, Refused(NOT_FOUND)),
        row("GET", "/v1/analytics/summary", "/v1/analytics/summary?org_id={a_org}", None, Refused(NOT_FOUND)),
        row(
            "GET",
            "/v1/analytics/timeseries",
            "/v1/analytics/timeseries?bucket=day&org_id={a_org}",
            None,
            Refused(NOT_FOUND),
        ),
        row("GET", "/v1/analytics/by-key", "/v1/analytics/by-key?org_id={a_org}", None, Refused(NOT_FOUND)),
        row("GET", "/v1/analytics/savings", "/v1/analytics/savings?org_id={a_org}", None, Refused(NOT_FOUND)),
        // Last: it ends B's session.
        row("POST", "/v1/auth/logout", "/v1/auth/logout", None, OwnOnly(204)),
    ]
}

/// Everything A can read about their account, as raw bytes: the API's answers and the
/// store's rows.
async fn snapshot(app: &TestApp, token: &str, a: &AccountA) -> String {
    app.server.state.usage.flush().await;
    let mut out = String::new();
    for path in [
        "/v1/auth/me".to_owned(),
        "/v1/auth/keys".to_owned(),
        format!("/v1/auth/keys/{}", a.key_id),
        "/v1/rules".to_owned(),
        "/v1/plan".to_owned(),
        "/v1/analytics/summary".to_owned(),
        "/v1/analytics/timeseries".to_owned(),
        "/v1/analytics/by-key".to_owned(),
        "/v1/analytics/savings".to_owned(),
        "/v1/orgs".to_owned(),
        format!("/v1/orgs/{}", a.org_id),
        format!("/v1/auth/keys?org_id={}", a.org_id),
        format!("/v1/auth/keys/{}", a.org_key_id),
        format!("/v1/analytics/summary?org_id={}", a.org_id),
        format!("/v1/analytics/by-key?org_id={}", a.org_id),
    ] {
        let resp = app.http.get(app.url(&path)).bearer_auth(token).send().await.unwrap();
        assert_eq!(resp.status(), 200, "A reads {path}");
        out.push_str(&format!("{path}\n{}\n", resp.text().await.unwrap()));
    }
    let store = &app.server.state.store;
    out.push_str(&format!("{:?}\n", store.user_by_id(&a.user_id).await.unwrap()));
    out.push_str(&format!("{:?}\n", store.list_keys(&a.user_id).await.unwrap()));
    out.push_str(&format!("{:?}\n", store.rules_of_user(&a.user_id).await.unwrap()));
    out.push_str(&format!("{:?}\n", store.usage_of_user(&a.user_id, 1000).await.unwrap()));
    out.push_str(&format!("{:?}\n", store.list_org_keys(&a.org_id).await.unwrap()));
    out.push_str(&format!("{:?}\n", store.org_members(&a.org_id).await.unwrap()));
    out.push_str(&format!("{:?}\n", store.org_invitations(&a.org_id).await.unwrap()));
    out.push_str(&format!("{:?}\n", store.orders_of_user(&a.user_id).await.unwrap()));
    out
}

struct AccountA {
    user_id: String,
    email: String,
    key_id: String,
    key_prefix: String,
    raw_key: String,
    rule_id: String,
    org_id: String,
    org_key_id: String,
    org_key_prefix: String,
    invitation_id: String,
    order_id: String,
}

impl AccountA {
    /// Strings that would betray A's data in an answer to B.
    fn identifiers(&self) -> [&str; 13] {
        [
            &self.org_id,
            &self.org_key_id,
            &self.org_key_prefix,
            &self.invitation_id,
            "a-only-org-7c1e",
            &self.order_id,
            &self.user_id,
            &self.email,
            &self.key_id,
            &self.key_prefix,
            &self.raw_key,
            &self.rule_id,
            "a-only-pattern-51d2",
        ]
    }

    fn fill(&self, path: &str) -> String {
        path.replace("{a_key}", &self.key_id)
            .replace("{a_rule}", &self.rule_id)
            .replace("{a_email}", &self.email)
            .replace("{a_user}", &self.user_id)
            .replace("{a_org_key}", &self.org_key_id)
            .replace("{a_org}", &self.org_id)
            .replace("{a_invitation}", &self.invitation_id)
            .replace(
                "{a_order_sig}",
                &common::razorpay_signature(mintoken_mock::RAZORPAY_KEY_SECRET, &self.order_id, "pay_TenancyB0001"),
            )
            .replace("{a_order}", &self.order_id)
    }
}

#[tokio::test]
async fn no_management_route_lets_one_tenant_read_or_change_another() {
    let app = TestApp::start_with(&format!(
        "admin_emails = [\"root@example.com\"]\n[plans.free]\nmax_orgs = 2\nmax_members_per_org = 5\n{}",
        billing_toml()
    ))
    .await;
    let (a_token, a_key) = app.user_with_key("alice@example.com").await;
    let (status, rule) = app
        .post_json(
            "/v1/rules",
            Some(&a_token),
            json!({"rule_type": "always_compress", "pattern": "a-only-pattern-51d2", "priority": 5}),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    let (status, order) = app.post_json("/v1/billing/razorpay/order", Some(&a_token), json!({"plan": "pro"})).await;
    assert_eq!(status, 200, "{order}");
    let raw_key = a_key["raw_key"].as_str().unwrap().to_owned();
    let (status, org) = app.post_json("/v1/orgs", Some(&a_token), json!({"name": "a-only-org-7c1e"})).await;
    assert_eq!(status, 201, "{org}");
    let org_id = org["id"].as_str().unwrap().to_owned();
    let (status, org_key) =
        app.post_json("/v1/auth/keys", Some(&a_token), json!({"name": "org", "org_id": org_id})).await;
    assert_eq!(status, 201, "{org_key}");
    let (status, invitation) = app
        .post_json(&format!("/v1/orgs/{org_id}/members"), Some(&a_token), json!({"email": "carol@example.com"}))
        .await;
    assert_eq!(status, 201, "{invitation}");
    let (status, _) = app.send(app.chat(org_key["raw_key"].as_str().unwrap(), &chat_body())).await;
    assert_eq!(status, 200, "A's org has usage for the org analytics to leak");
    let (status, _) = app.send(app.chat(&raw_key, &chat_body())).await;
    assert_eq!(status, 200, "A has usage for the analytics routes to leak");
    let a = AccountA {
        user_id: app.user_id("alice@example.com").await,
        email: "alice@example.com".to_owned(),
        key_id: a_key["id"].as_str().unwrap().to_owned(),
        key_prefix: a_key["key_prefix"].as_str().unwrap().to_owned(),
        raw_key,
        rule_id: rule["id"].as_str().unwrap().to_owned(),
        org_id,
        org_key_id: org_key["id"].as_str().unwrap().to_owned(),
        org_key_prefix: org_key["key_prefix"].as_str().unwrap().to_owned(),
        invitation_id: invitation["id"].as_str().unwrap().to_owned(),
        order_id: order["order_id"].as_str().unwrap().to_owned(),
    };
    let before = snapshot(&app, &a_token, &a).await;

    let b_token = app.signup("bob@example.com").await["access_token"].as_str().unwrap().to_owned();
    let mut failures = Vec::new();
    for row in rows() {
        let path = a.fill(row.path);
        let method = reqwest::Method::from_bytes(row.method.as_bytes()).unwrap();
        let mut req = app.http.request(method, app.url(&path)).bearer_auth(&b_token);
        if let Some(body) = &row.body {
            req = req.header("content-type", "application/json").body(a.fill(&body.to_string()));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = format!("{:?}", resp.headers());
        let body = resp.text().await.unwrap();
        let ok = match row.expect {
            Refused(allowed) => allowed.contains(&status),
            OwnOnly(expected) => status == expected,
        };
        if !ok {
            failures.push(format!("{} {path}: status {status}, body {body}", row.method));
        }
        if let Some(leak) = a.identifiers().into_iter().find(|id| body.contains(id) || headers.contains(id)) {
            failures.push(format!("{} {path}: answer to B contains A's {leak:?}: {body}", row.method));
        }
        if matches!(row.expect, Refused(_)) && status != 400 {
            let detail =
                serde_json::from_str::<Value>(&body).ok().and_then(|v| v["detail"].as_str().map(str::to_owned));
            if detail.is_none_or(|d| d.is_empty()) {
                failures.push(format!("{} {path}: refusal without a `detail` message: {body}", row.method));
            }
        }
    }
    assert!(failures.is_empty(), "tenant isolation failures:\n{}", failures.join("\n"));

    let after = snapshot(&app, &a_token, &a).await;
    assert_eq!(before, after, "A's account changed after B's attempts");

    // The key B tried to revoke (and re-configure) still works, with A's settings.
    let (status, body) = app.send(app.chat(&a.raw_key, &chat_body())).await;
    assert_eq!(status, 200, "A's key after B's DELETE: {body}");
    // A's session survived B's log-out.
    let resp = app.http.get(app.url("/v1/auth/me")).bearer_auth(&a_token).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

/// B's listings show B's things only, even when B has the same key and rule names as A.
#[tokio::test]
async fn listings_show_only_the_callers_rows() {
    let app = TestApp::start().await;
    let (a_token, a_key) = app.user_with_key("ann@example.com").await;
    let (b_token, b_key) = app.user_with_key("ben@example.com").await;
    for t in [&a_token, &b_token] {
        let (status, _) =
            app.post_json("/v1/rules", Some(t), json!({"rule_type": "keep_exact", "pattern": "same-pattern"})).await;
        assert_eq!(status, 201);
    }
    for (token, own, other) in [(&a_token, &a_key, &b_key), (&b_token, &b_key, &a_key)] {
        let (_, keys) = app.send(app.http.get(app.url("/v1/auth/keys")).bearer_auth(token)).await;
        let ids: Vec<&str> = keys.as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [own["id"].as_str().unwrap()]);
        assert!(!keys.to_string().contains(other["key_prefix"].as_str().unwrap()));
        let (_, rules) = app.send(app.http.get(app.url("/v1/rules")).bearer_auth(token)).await;
        assert_eq!(rules.as_array().unwrap().len(), 1);
    }
}

/// Every operation that needs an access token (`mintoken::api::operations`, from which
/// the router is built) has a row in [`rows`].
#[test]
fn the_table_covers_every_protected_route() {
    let declared: BTreeSet<(String, String)> = mintoken::api::operations()
        .iter()
        .filter(|op| op.access == mintoken::api::Access::AccessToken)
        .map(|op| (op.method.as_str().to_owned(), op.path.to_owned()))
        .collect();
    assert!(declared.len() >= 15, "{declared:?}");
    let covered: BTreeSet<_> = rows().iter().map(|r| (r.method.to_owned(), r.route.to_owned())).collect();
    let missing: Vec<_> = declared.difference(&covered).collect();
    assert!(missing.is_empty(), "protected routes without a tenant-matrix row in tests/tenancy.rs: {missing:?}");
}
