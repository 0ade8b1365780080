//! Organizations (SPEC §9, docs/orgs.md): every role × action pair, slugs, plan limits,
//! invitations that become memberships at sign-up, org keys, pooled quota and org
//! analytics. Runs on SQLite, and on PostgreSQL with `MINTOKEN_TEST_DATABASE_URL`.

mod common;

use common::{TestApp, chat_body};
use serde_json::{Value, json};

/// Orgs allowed on the default plan, and room for the many orgs the matrix creates.
const ROOMY: &str = "admin_emails = [\"root@example.com\"]\n[plans.free]\nmax_orgs = 100\nmax_members_per_org = 10\n\
                     max_keys = 100\nrequests_per_minute = 100000\n";

async fn token(app: &TestApp, email: &str) -> String {
    app.signup(email).await["access_token"].as_str().unwrap().to_owned()
}

async fn call(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    app.send(req).await
}

async fn create_org(app: &TestApp, token: &str, name: &str) -> Value {
    let (status, org) = call(app, "POST", "/v1/orgs", token, Some(json!({ "name": name }))).await;
    assert_eq!(status, 201, "{org}");
    org
}

async fn invite(app: &TestApp, token: &str, org: &str, email: &str, role: &str) -> (u16, Value) {
    call(app, "POST", &format!("/v1/orgs/{org}/members"), token, Some(json!({ "email": email, "role": role }))).await
}

/// Five accounts: the owner, an admin, a member, someone outside, and a member the
/// actions are aimed at.
struct People {
    owner: String,
    admin: String,
    member: String,
    outsider: String,
    target: String,
    owner_id: String,
    target_id: String,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Owner,
    Admin,
    Member,
    Outsider,
}

/// A fresh org: the owner, the admin, the member and the target in it, one org key.
struct Fixture {
    org: String,
    key: String,
}

async fn fixture(app: &TestApp, p: &People, n: usize) -> Fixture {
    let org = create_org(app, &p.owner, &format!("Matrix {n}")).await["id"].as_str().unwrap().to_owned();
    for (email, role) in
        [("admin@example.com", "admin"), ("member@example.com", "member"), ("target@example.com", "member")]
    {
        let (status, body) = invite(app, &p.owner, &org, email, role).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["role"], role, "an existing account joins at once: {body}");
    }
    let (status, key) =
        call(app, "POST", "/v1/auth/keys", &p.owner, Some(json!({ "name": "shared", "org_id": org }))).await;
    assert_eq!(status, 201, "{key}");
    Fixture { org, key: key["id"].as_str().unwrap().to_owned() }
}

/// Everything the owner can read about the org (what a refused action must not change).
async fn org_state(app: &TestApp, p: &People, f: &Fixture) -> String {
    let (_, org) = call(app, "GET", &format!("/v1/orgs/{}", f.org), &p.owner, None).await;
    let (_, keys) = call(app, "GET", &format!("/v1/auth/keys?org_id={}", f.org), &p.owner, None).await;
    format!("{org}\n{keys}")
}

fn member_roles(org: &Value) -> Vec<(String, String)> {
    org["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["email"].as_str().unwrap().to_owned(), m["role"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn every_role_and_action_is_allowed_or_refused_as_documented() {
    let app = TestApp::start_with(ROOMY).await;
    let p = People {
        owner: token(&app, "owner@example.com").await,
        admin: token(&app, "admin@example.com").await,
        member: token(&app, "member@example.com").await,
        outsider: token(&app, "outsider@example.com").await,
        target: token(&app, "target@example.com").await,
        owner_id: app.user_id("owner@example.com").await,
        target_id: app.user_id("target@example.com").await,
    };
    let _ = &p.target;
    use Who::*;
    // (action, who may) — everyone else in the org gets 403, outsiders 404.
    let actions: &[(&str, &[Who])] = &[
        ("view org", &[Owner, Admin, Member]),
        ("list members", &[Owner, Admin, Member]),
        ("invite", &[Owner, Admin]),
        ("change role", &[Owner, Admin]),
        ("remove other", &[Owner, Admin]),
        ("remove owner", &[]),
        ("leave", &[Admin, Member]),
        ("create org key", &[Owner, Admin]),
        ("list org keys", &[Owner, Admin, Member]),
        ("revoke org key", &[Owner, Admin]),
        ("org analytics", &[Owner, Admin, Member]),
    ];
    let mut failures = Vec::new();
    let mut n = 0;
    for (action, allowed) in actions {
        for who in [Owner, Admin, Member, Outsider] {
            n += 1;
            let f = fixture(&app, &p, n).await;
            let before = org_state(&app, &p, &f).await;
            let token = match who {
                Owner => &p.owner,
                Admin => &p.admin,
                Member => &p.member,
                Outsider => &p.outsider,
            };
            let org = &f.org;
            let (method, path, body): (&str, String, Option<Value>) = match *action {
                "view org" | "list members" => ("GET", format!("/v1/orgs/{org}"), None),
                "invite" => {
                    ("POST", format!("/v1/orgs/{org}/members"), Some(json!({"email": format!("new{n}@example.com")})))
                }
                "change role" => {
                    ("PATCH", format!("/v1/orgs/{org}/members/{}", p.target_id), Some(json!({"role": "admin"})))
                }
                "remove other" => ("DELETE", format!("/v1/orgs/{org}/members/{}", p.target_id), None),
                "remove owner" => ("DELETE", format!("/v1/orgs/{org}/members/{}", p.owner_id), None),
                "leave" => ("POST", format!("/v1/orgs/{org}/leave"), None),
                "create org key" => ("POST", "/v1/auth/keys".to_owned(), Some(json!({"name": "new", "org_id": org}))),
                "list org keys" => ("GET", format!("/v1/auth/keys?org_id={org}"), None),
                "revoke org key" => ("DELETE", format!("/v1/auth/keys/{}", f.key), None),
                "org analytics" => ("GET", format!("/v1/analytics/summary?org_id={org}"), None),
                other => unreachable!("{other}"),
            };
            let (status, answer) = call(&app, method, &path, token, body).await;
            let what = format!("{who:?} × {action}: {status} {answer}");
            if allowed.contains(&who) {
                let (_, state) = call(&app, "GET", &format!("/v1/orgs/{org}"), &p.owner, None).await;
                let roles = member_roles(&state);
                let ok = match *action {
                    "view org" => status == 200 && answer["id"] == json!(org) && answer["role"].is_string(),
                    "list members" => status == 200 && answer["members"].as_array().is_some_and(|m| m.len() == 4),
                    "invite" => status == 201 && state["invitations"].as_array().is_some_and(|i| i.len() == 1),
                    "change role" => {
                        status == 200 && roles.contains(&("target@example.com".to_owned(), "admin".to_owned()))
                    }
                    "remove other" => status == 204 && !roles.iter().any(|(e, _)| e == "target@example.com"),
                    "leave" => {
                        let me = if who == Admin { "admin@example.com" } else { "member@example.com" };
                        status == 204 && !roles.iter().any(|(e, _)| e == me)
                    }
                    "create org key" => {
                        status == 201 && answer["org_id"] == json!(org) && answer["raw_key"].is_string()
                    }
                    "list org keys" => {
                        status == 200 && answer.as_array().is_some_and(|k| k.len() == 1 && k[0]["raw_key"].is_null())
                    }
                    "revoke org key" => status == 200 && answer["is_active"] == false,
                    "org analytics" => status == 200 && answer["total_requests"].is_number(),
                    _ => false,
                };
                if !ok {
                    failures.push(format!("allowed, but {what}"));
                }
            } else {
                let expected: &[u16] = match (who, *action) {
                    (Outsider, _) => &[404],
                    // The owner leaving (or removing themselves) must transfer first.
                    (Owner, "leave" | "remove owner") => &[409],
                    _ => &[403],
                };
                if !expected.contains(&status) {
                    failures.push(format!("refused with {expected:?} expected, but {what}"));
                }
                let detail = answer["detail"].as_str().unwrap_or_default();
                if status == 403 && !detail.contains("owner") {
                    failures.push(format!("a 403 that does not name the role needed: {what}"));
                }
                if org_state(&app, &p, &f).await != before {
                    failures.push(format!("refused, but the org changed: {what}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test]
async fn ownership_moves_only_by_the_owners_choice() {
    let app = TestApp::start_with(ROOMY).await;
    let owner = token(&app, "o@example.com").await;
    let admin = token(&app, "a@example.com").await;
    let org = create_org(&app, &owner, "Handover").await["id"].as_str().unwrap().to_owned();
    invite(&app, &owner, &org, "a@example.com", "admin").await;
    let (owner_id, admin_id) = (app.user_id("o@example.com").await, app.user_id("a@example.com").await);

    // An admin can neither take the ownership nor change the owner's role.
    let (status, body) =
        call(&app, "PATCH", &format!("/v1/orgs/{org}/members/{admin_id}"), &admin, Some(json!({"role": "owner"})))
            .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) =
        call(&app, "PATCH", &format!("/v1/orgs/{org}/members/{owner_id}"), &admin, Some(json!({"role": "member"})))
            .await;
    assert_eq!(status, 403, "{body}");
    // The owner cannot demote themselves without a successor.
    let (status, body) =
        call(&app, "PATCH", &format!("/v1/orgs/{org}/members/{owner_id}"), &owner, Some(json!({"role": "admin"})))
            .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("transfer ownership"), "{body}");

    let (status, body) =
        call(&app, "PATCH", &format!("/v1/orgs/{org}/members/{admin_id}"), &owner, Some(json!({"role": "owner"})))
            .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["role"], "owner");
    let (_, detail) = call(&app, "GET", &format!("/v1/orgs/{org}"), &owner, None).await;
    assert_eq!(
        member_roles(&detail),
        [("a@example.com".to_owned(), "owner".to_owned()), ("o@example.com".to_owned(), "admin".to_owned())]
    );
    // The former owner, now an admin, may leave; the new owner may not.
    let (status, _) = call(&app, "POST", &format!("/v1/orgs/{org}/leave"), &admin, None).await;
    assert_eq!(status, 409);
    let (status, _) = call(&app, "POST", &format!("/v1/orgs/{org}/leave"), &owner, None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&app, "GET", &format!("/v1/orgs/{org}"), &owner, None).await;
    assert_eq!(status, 404, "a former member no longer sees the org");
}

#[tokio::test]
async fn slugs_are_derived_validated_and_unique() {
    let app = TestApp::start_with(ROOMY).await;
    let t = token(&app, "slugs@example.com").await;
    let org = create_org(&app, &t, "  Acme, Inc. — R&D  Team ").await;
    assert_eq!(org["slug"], "acme-inc-rd-team");
    assert_eq!(org["role"], "owner");
    assert_eq!(org["plan"], "free");
    assert_eq!(org["member_count"], 1);
    let long = create_org(&app, &t, &"Very long name ".repeat(6)).await;
    let slug = long["slug"].as_str().unwrap();
    assert!(slug.len() <= 50 && !slug.ends_with('-'), "{slug}");

    // The same name again: its slug is taken.
    let (status, body) = call(&app, "POST", "/v1/orgs", &t, Some(json!({"name": "ACME inc rd team"}))).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("slug"), "{body}");
    let (status, body) = call(&app, "POST", "/v1/orgs", &t, Some(json!({"name": "Acme", "slug": "acme-2"}))).await;
    assert_eq!((status, body["slug"].clone()), (201, json!("acme-2")));
    for bad in ["Upper", "-lead", "sp ace", "ü", "", &"x".repeat(51)] {
        let (status, body) = call(&app, "POST", "/v1/orgs", &t, Some(json!({"name": "X", "slug": bad}))).await;
        assert_eq!(status, 422, "{bad:?}: {body}");
        assert!(body["detail"].as_str().unwrap().contains("lower-case"), "{body}");
    }
    let (status, body) = call(&app, "POST", "/v1/orgs", &t, Some(json!({"name": "!!! ???"}))).await;
    assert_eq!(status, 422, "{body}");
    let (_, list) = call(&app, "GET", "/v1/orgs", &t, None).await;
    assert_eq!(list.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn plans_cap_owned_orgs_and_members_with_invitations() {
    // Defaults: the free plan allows no organization.
    let app = TestApp::start().await;
    let t = token(&app, "free@example.com").await;
    let (status, body) = call(&app, "POST", "/v1/orgs", &t, Some(json!({"name": "Nope"}))).await;
    assert_eq!(status, 403, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("allows 0 organizations") && detail.contains("upgrade"), "{detail}");

    let app = TestApp::start_with("[plans.free]\nmax_orgs = 1\nmax_members_per_org = 3\n").await;
    let t = token(&app, "small@example.com").await;
    token(&app, "existing@example.com").await;
    let org = create_org(&app, &t, "Small").await["id"].as_str().unwrap().to_owned();
    let (status, _) = call(&app, "POST", "/v1/orgs", &t, Some(json!({"name": "Second"}))).await;
    assert_eq!(status, 403, "one org on this plan");
    // Owner + one member + one pending invitation = 3 seats.
    assert_eq!(invite(&app, &t, &org, "existing@example.com", "member").await.0, 201);
    let (status, pending) = invite(&app, &t, &org, "later@example.com", "member").await;
    assert_eq!(status, 201);
    let (status, body) = invite(&app, &t, &org, "third@example.com", "member").await;
    assert_eq!(status, 403, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("3 members"), "{body}");
    // Withdrawing the invitation frees its seat.
    let (status, _) =
        call(&app, "DELETE", &format!("/v1/orgs/{org}/invitations/{}", pending["id"].as_str().unwrap()), &t, None)
            .await;
    assert_eq!(status, 204);
    assert_eq!(invite(&app, &t, &org, "third@example.com", "member").await.0, 201);
}

#[tokio::test]
async fn an_invitation_becomes_a_membership_when_the_email_signs_up() {
    let app = TestApp::start_with(ROOMY).await;
    let owner = token(&app, "inviter@example.com").await;
    token(&app, "member@example.com").await;
    let org = create_org(&app, &owner, "Welcome").await["id"].as_str().unwrap().to_owned();
    let (status, pending) = invite(&app, &owner, &org, "Newcomer@Example.com", "admin").await;
    assert_eq!(status, 201, "{pending}");
    assert_eq!(pending["email"], "newcomer@example.com");
    assert!(pending["id"].is_string() && pending["user_id"].is_null(), "an invitation, not a member: {pending}");
    // Already invited, already a member: 409.
    assert_eq!(invite(&app, &owner, &org, "newcomer@example.com", "member").await.0, 409);
    assert_eq!(invite(&app, &owner, &org, "member@example.com", "member").await.0, 201);
    assert_eq!(invite(&app, &owner, &org, "member@example.com", "member").await.0, 409);
    let (status, body) = invite(&app, &owner, &org, "x@example.com", "owner").await;
    assert_eq!(status, 422, "{body}");

    let newcomer = token(&app, "newcomer@example.com").await;
    let (_, orgs) = call(&app, "GET", "/v1/orgs", &newcomer, None).await;
    assert_eq!(orgs[0]["id"], json!(org), "{orgs}");
    assert_eq!(orgs[0]["role"], "admin");
    let (_, detail) = call(&app, "GET", &format!("/v1/orgs/{org}"), &owner, None).await;
    assert_eq!(detail["invitations"], json!([]));
    assert_eq!(detail["member_count"], 3);

    // Accounts made by the administrator CLI (which uses the same store call) join too.
    invite(&app, &owner, &org, "cli@example.com", "member").await;
    app.server.state.store.create_user("cli@example.com", None, "free").await.unwrap();
    let (_, detail) = call(&app, "GET", &format!("/v1/orgs/{org}"), &owner, None).await;
    assert!(member_roles(&detail).contains(&("cli@example.com".to_owned(), "member".to_owned())), "{detail}");
}

/// Org keys are listed with the org, never with anyone's personal keys, and survive the
/// removal of the member who created them.
#[tokio::test]
async fn org_keys_belong_to_the_org() {
    let app = TestApp::start_with(ROOMY).await;
    let owner = token(&app, "keys-owner@example.com").await;
    let admin = token(&app, "keys-admin@example.com").await;
    let org = create_org(&app, &owner, "Keys").await["id"].as_str().unwrap().to_owned();
    invite(&app, &owner, &org, "keys-admin@example.com", "admin").await;
    let (status, key) = call(&app, "POST", "/v1/auth/keys", &admin, Some(json!({"name": "ci", "org_id": org}))).await;
    assert_eq!(status, 201, "{key}");
    // The same name is free for a personal key, taken in the org.
    assert_eq!(call(&app, "POST", "/v1/auth/keys", &admin, Some(json!({"name": "ci"}))).await.0, 201);
    assert_eq!(call(&app, "POST", "/v1/auth/keys", &owner, Some(json!({"name": "ci", "org_id": org}))).await.0, 409);
    let (_, personal) = call(&app, "GET", "/v1/auth/keys", &admin, None).await;
    assert!(personal.as_array().unwrap().iter().all(|k| k["org_id"].is_null()), "{personal}");
    // A key's org cannot be changed.
    let (status, _) = call(
        &app,
        "PATCH",
        &format!("/v1/auth/keys/{}", key["id"].as_str().unwrap()),
        &owner,
        Some(json!({"org_id": null})),
    )
    .await;
    assert_eq!(status, 422);

    let admin_id = app.user_id("keys-admin@example.com").await;
    assert_eq!(call(&app, "DELETE", &format!("/v1/orgs/{org}/members/{admin_id}"), &owner, None).await.0, 204);
    let (status, _) = app.send(app.chat(key["raw_key"].as_str().unwrap(), &chat_body())).await;
    assert_eq!(status, 200, "removing a member does not revoke the org's keys");
    let (status, _) = call(&app, "GET", &format!("/v1/auth/keys/{}", key["id"].as_str().unwrap()), &admin, None).await;
    assert_eq!(status, 404, "a former member no longer sees the org's key");
}

/// Two members' requests through org keys spend one org quota; their personal keys
/// keep their own.
#[tokio::test]
async fn org_keys_pool_the_quota_of_the_org() {
    // Each mock answer is 9 output tokens: two requests spend 18.
    let app = TestApp::start_with(
        "admin_emails = [\"root@example.com\"]\n[plans.free]\nmax_orgs = 1\nmax_members_per_org = 5\nmonthly_output_tokens = 18\n",
    )
    .await;
    let owner = token(&app, "pool-owner@example.com").await;
    let admin = token(&app, "pool-admin@example.com").await;
    let org = create_org(&app, &owner, "Pool").await["id"].as_str().unwrap().to_owned();
    assert_eq!(invite(&app, &owner, &org, "pool-admin@example.com", "admin").await.0, 201);
    let mut org_keys = Vec::new();
    let mut personal_keys = Vec::new();
    for (t, name) in [(&owner, "o"), (&admin, "a")] {
        let (status, k) = call(&app, "POST", "/v1/auth/keys", t, Some(json!({"name": name, "org_id": org}))).await;
        assert_eq!(status, 201, "{k}");
        org_keys.push(k["raw_key"].as_str().unwrap().to_owned());
        let (status, k) = call(&app, "POST", "/v1/auth/keys", t, Some(json!({"name": name}))).await;
        assert_eq!(status, 201, "{k}");
        personal_keys.push(k["raw_key"].as_str().unwrap().to_owned());
    }
    for k in &org_keys {
        let (status, body) = app.send(app.chat(k, &chat_body())).await;
        assert_eq!(status, 200, "{body}");
    }
    for k in &org_keys {
        let resp = app.chat(k, &chat_body()).send().await.unwrap();
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["x-mintoken-tokens-used"], "18");
        assert_eq!(resp.headers()["x-mintoken-tokens-limit"], "18");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["detail"], "token quota exceeded");
    }
    for k in &personal_keys {
        let (status, body) = app.send(app.chat(k, &chat_body())).await;
        assert_eq!(status, 200, "personal quotas are apart from the org's: {body}");
    }
    // The owner's upgrade upgrades the org, on the next request.
    let root = token(&app, "root@example.com").await;
    let (status, body) =
        call(&app, "PUT", "/v1/admin/users/pool-owner@example.com/plan", &root, Some(json!({"plan": "pro"}))).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.send(app.chat(&org_keys[1], &chat_body())).await;
    assert_eq!(status, 200, "the org is on its owner's new plan: {body}");
}

#[tokio::test]
async fn org_analytics_sum_the_members_requests_for_members_only() {
    let app = TestApp::start_with(ROOMY).await;
    let owner = token(&app, "an-owner@example.com").await;
    let admin = token(&app, "an-admin@example.com").await;
    let member = token(&app, "an-member@example.com").await;
    let outsider = token(&app, "an-outsider@example.com").await;
    let org = create_org(&app, &owner, "Numbers").await["id"].as_str().unwrap().to_owned();
    invite(&app, &owner, &org, "an-admin@example.com", "admin").await;
    invite(&app, &owner, &org, "an-member@example.com", "member").await;
    for (t, n, name) in [(&owner, 2, "owner's"), (&admin, 3, "admin's")] {
        let (status, k) = call(&app, "POST", "/v1/auth/keys", t, Some(json!({"name": name, "org_id": org}))).await;
        assert_eq!(status, 201, "{k}");
        for _ in 0..n {
            assert_eq!(app.send(app.chat(k["raw_key"].as_str().unwrap(), &chat_body())).await.0, 200);
        }
    }
    let (_, k) = call(&app, "POST", "/v1/auth/keys", &owner, Some(json!({"name": "mine"}))).await;
    assert_eq!(app.send(app.chat(k["raw_key"].as_str().unwrap(), &chat_body())).await.0, 200);
    app.server.state.usage.flush().await;

    for t in [&owner, &admin, &member] {
        let (status, summary) = call(&app, "GET", &format!("/v1/analytics/summary?org_id={org}"), t, None).await;
        assert_eq!(status, 200, "{summary}");
        assert_eq!(summary["total_requests"], 5, "both members' requests: {summary}");
        assert_eq!(summary["total_output_tokens"], 45);
        let (status, by_key) = call(&app, "GET", &format!("/v1/analytics/by-key?org_id={org}"), t, None).await;
        assert_eq!(status, 200);
        assert_eq!(by_key["keys"].as_array().unwrap().len(), 2, "{by_key}");
        for route in ["timeseries", "savings"] {
            let (status, body) = call(&app, "GET", &format!("/v1/analytics/{route}?org_id={org}"), t, None).await;
            assert_eq!(status, 200, "{route}: {body}");
        }
    }
    // Personal analytics: personal keys only.
    let (_, mine) = call(&app, "GET", "/v1/analytics/summary", &owner, None).await;
    assert_eq!(mine["total_requests"], 1, "{mine}");
    let (_, admins) = call(&app, "GET", "/v1/analytics/summary", &admin, None).await;
    assert_eq!(admins["total_requests"], 0, "{admins}");
    for route in ["summary", "timeseries", "by-key", "savings"] {
        let (status, body) = call(&app, "GET", &format!("/v1/analytics/{route}?org_id={org}"), &outsider, None).await;
        assert_eq!(status, 404, "{route}: {body}");
    }
}

/// The requests-per-minute limit of an org's plan is shared by all its keys too.
#[tokio::test]
async fn org_keys_share_the_request_rate_of_the_org() {
    let app =
        TestApp::start_with("[plans.free]\nmax_orgs = 1\nmax_members_per_org = 5\nrequests_per_minute = 2\n").await;
    let owner = token(&app, "rate-owner@example.com").await;
    let admin = token(&app, "rate-admin@example.com").await;
    let org = create_org(&app, &owner, "Rate").await["id"].as_str().unwrap().to_owned();
    assert_eq!(invite(&app, &owner, &org, "rate-admin@example.com", "admin").await.0, 201);
    let mut keys = Vec::new();
    for (t, name) in [(&owner, "o"), (&admin, "a")] {
        let (status, k) = call(&app, "POST", "/v1/auth/keys", t, Some(json!({"name": name, "org_id": org}))).await;
        assert_eq!(status, 201, "{k}");
        keys.push(k["raw_key"].as_str().unwrap().to_owned());
    }
    assert_eq!(app.send(app.chat(&keys[0], &chat_body())).await.0, 200);
    assert_eq!(app.send(app.chat(&keys[1], &chat_body())).await.0, 200);
    for k in &keys {
        let resp = app.chat(k, &chat_body()).send().await.unwrap();
        assert_eq!(resp.status(), 429);
        assert!(resp.headers().contains_key("retry-after"));
        let body: Value = resp.json().await.unwrap();
        assert!(body["detail"].as_str().unwrap().contains("rate limit"), "{body}");
    }
    // The admin's personal key has its own rate.
    let (_, personal) = call(&app, "POST", "/v1/auth/keys", &admin, Some(json!({"name": "mine"}))).await;
    assert_eq!(app.send(app.chat(personal["raw_key"].as_str().unwrap(), &chat_body())).await.0, 200);
}
