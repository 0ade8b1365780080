//! The management API (accounts, sessions, keys). Every route here except the
//! explicit public list requires an access token: the JWT layer is applied to the
//! protected group as a whole, so a new route cannot forget it.

mod analytics;
pub(crate) mod auth_routes;
mod billing;
pub mod body;
pub mod error;
mod keys;
pub mod openapi;
pub mod orgs;
mod plan;
mod rules;
pub mod types;

use crate::auth::jwt::Claims;
use crate::server::SharedState;
use crate::store::User;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, delete, get, patch, post, put};
pub use error::ApiError;
pub use keys::create_key;

/// Who may call an operation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Access {
    /// No credentials.
    Public,
    /// `Authorization: Bearer <access token>`.
    AccessToken,
}

/// A schema, given the generator that collects the named types.
pub type SchemaFn = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

fn schema<T: schemars::JsonSchema>(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<T>()
}

/// A request body type: its schema, and the fields its handler accepts.
pub struct RequestSpec {
    pub schema: SchemaFn,
    pub fields: &'static [&'static str],
}

fn body<T: types::RequestBody>() -> Option<RequestSpec> {
    Some(RequestSpec { schema: schema::<T>, fields: T::FIELDS })
}

/// A query parameter: name, description, schema.
pub type QueryParam = (&'static str, &'static str, SchemaFn);

/// One management operation: the router registers `handler` at `method path` and
/// `GET /openapi.json` describes it, both from [`operations`], so the document cannot
/// miss a route.
pub struct Operation {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
    pub request: Option<RequestSpec>,
    pub query: &'static [QueryParam],
    /// The success status and its body (`None`: no body).
    pub success: (u16, Option<SchemaFn>),
    /// Error statuses besides those every operation of its kind can answer (see
    /// `openapi::error_statuses`).
    pub errors: &'static [u16],
    pub handler: MethodRouter<SharedState>,
}

const PERIOD: &[QueryParam] = &[
    (
        "start",
        "Start of the period: RFC 3339 or YYYY-MM-DD (default: start of the current UTC month).",
        schema::<String>,
    ),
    (
        "end",
        "End of the period, exclusive: RFC 3339, or YYYY-MM-DD for that whole day (default: a month after `start`).",
        schema::<String>,
    ),
];
const ORG_ID: QueryParam = (
    "org_id",
    "An organization you are a member of: its usage (all of its keys, whoever used them) instead of your personal keys'.",
    schema::<String>,
);
const SCOPED_PERIOD: &[QueryParam] = &[PERIOD[0], PERIOD[1], ORG_ID];
const TIMESERIES: &[QueryParam] =
    &[("bucket", "Bucket width (default `day`).", schema::<types::BucketName>), PERIOD[0], PERIOD[1], ORG_ID];
const ORG_KEYS: &[QueryParam] =
    &[("org_id", "List this organization's keys (any member) instead of your personal keys.", schema::<String>)];

/// Every management route: method, path, who may call it, what it takes and answers.
pub fn operations() -> Vec<Operation> {
    use Access::{AccessToken, Public};
    let op = |method: Method, path, access, summary, handler| Operation {
        method,
        path,
        access,
        summary,
        request: None,
        query: &[],
        success: (200, None),
        errors: &[],
        handler,
    };
    vec![
        Operation {
            request: body::<types::Credentials>(),
            success: (200, Some(schema::<types::Session>)),
            errors: &[403, 409],
            ..op(
                Method::POST,
                "/v1/auth/signup",
                Public,
                "Create an account; answers a session",
                post(auth_routes::signup),
            )
        },
        Operation {
            request: body::<types::Credentials>(),
            success: (200, Some(schema::<types::Session>)),
            errors: &[401, 429],
            ..op(Method::POST, "/v1/auth/login", Public, "Log in; answers a session", post(auth_routes::login))
        },
        Operation {
            request: body::<types::RefreshRequest>(),
            success: (200, Some(schema::<types::Session>)),
            errors: &[401],
            ..op(
                Method::POST,
                "/v1/auth/refresh",
                Public,
                "Spend a refresh token for a new session",
                post(auth_routes::refresh),
            )
        },
        Operation {
            success: (204, None),
            ..op(
                Method::POST,
                "/v1/auth/logout",
                AccessToken,
                "Revoke the session of the access token",
                post(auth_routes::logout),
            )
        },
        Operation {
            success: (200, Some(schema::<types::UserView>)),
            ..op(Method::GET, "/v1/auth/me", AccessToken, "The signed-in account", get(auth_routes::me))
        },
        Operation {
            request: body::<types::KeyCreateRequest>(),
            success: (201, Some(schema::<types::KeyCreated>)),
            errors: &[403, 404, 409],
            ..op(
                Method::POST,
                "/v1/auth/keys",
                AccessToken,
                "Create an API key; the raw key appears in this answer only",
                post(keys::create),
            )
        },
        Operation {
            query: ORG_KEYS,
            success: (200, Some(schema::<Vec<types::KeyView>>)),
            errors: &[404],
            ..op(
                Method::GET,
                "/v1/auth/keys",
                AccessToken,
                "The account's personal API keys (or an org's), revoked ones included",
                get(keys::list),
            )
        },
        Operation {
            success: (200, Some(schema::<types::KeyView>)),
            ..op(Method::GET, "/v1/auth/keys/{id}", AccessToken, "One API key", get(keys::get))
        },
        Operation {
            request: body::<types::KeySettingsRequest>(),
            success: (200, Some(schema::<types::KeyView>)),
            errors: &[409],
            ..op(
                Method::PATCH,
                "/v1/auth/keys/{id}",
                AccessToken,
                "Change a key's settings (never its string)",
                patch(keys::update),
            )
        },
        Operation {
            success: (200, Some(schema::<types::KeyView>)),
            ..op(Method::DELETE, "/v1/auth/keys/{id}", AccessToken, "Revoke a key", delete(keys::revoke))
        },
        Operation {
            request: body::<types::RuleCreateRequest>(),
            success: (201, Some(schema::<types::RuleView>)),
            errors: &[403],
            ..op(Method::POST, "/v1/rules", AccessToken, "Create a custom intensity rule", post(rules::create))
        },
        Operation {
            success: (200, Some(schema::<Vec<types::RuleView>>)),
            ..op(Method::GET, "/v1/rules", AccessToken, "The account's custom rules", get(rules::list))
        },
        Operation {
            success: (204, None),
            ..op(Method::DELETE, "/v1/rules/{id}", AccessToken, "Delete a custom rule", delete(rules::delete))
        },
        Operation {
            success: (200, Some(schema::<types::PlanView>)),
            ..op(
                Method::GET,
                "/v1/plan",
                AccessToken,
                "The account's plan, its limits and this month's usage",
                get(plan::mine),
            )
        },
        Operation {
            success: (200, Some(schema::<types::UserList>)),
            errors: &[403],
            ..op(
                Method::GET,
                "/v1/admin/users",
                AccessToken,
                "Every account (administrators only)",
                get(plan::list_users),
            )
        },
        Operation {
            request: body::<types::SetPlanRequest>(),
            success: (200, Some(schema::<types::PlanChanged>)),
            errors: &[403],
            ..op(
                Method::PUT,
                "/v1/admin/users/{email}/plan",
                AccessToken,
                "Set an account's plan (administrators only)",
                put(plan::set_plan),
            )
        },
        Operation {
            success: (200, Some(schema::<types::BillingConfigView>)),
            ..op(
                Method::GET,
                "/v1/billing/razorpay/config",
                AccessToken,
                "Whether plans can be bought here, Razorpay's public key id and the prices",
                get(billing::config),
            )
        },
        Operation {
            request: body::<types::OrderRequest>(),
            success: (200, Some(schema::<types::OrderCreated>)),
            errors: &[409, 502, 504],
            ..op(
                Method::POST,
                "/v1/billing/razorpay/order",
                AccessToken,
                "Create a Razorpay order for a plan upgrade, to pay in Razorpay Checkout",
                post(billing::create_order),
            )
        },
        Operation {
            request: body::<types::VerifyRequest>(),
            success: (200, Some(schema::<types::PaymentVerified>)),
            errors: &[404, 409],
            ..op(
                Method::POST,
                "/v1/billing/razorpay/verify",
                AccessToken,
                "Verify a Razorpay Checkout payment and upgrade the plan (at most once per payment)",
                post(billing::verify),
            )
        },
        Operation {
            query: SCOPED_PERIOD,
            success: (200, Some(schema::<types::AnalyticsSummary>)),
            errors: &[404],
            ..op(
                Method::GET,
                "/v1/analytics/summary",
                AccessToken,
                "Totals and savings over a period",
                get(analytics::summary),
            )
        },
        Operation {
            query: TIMESERIES,
            success: (200, Some(schema::<types::AnalyticsTimeseries>)),
            errors: &[404],
            ..op(
                Method::GET,
                "/v1/analytics/timeseries",
                AccessToken,
                "The period in hour, day or week buckets",
                get(analytics::timeseries),
            )
        },
        Operation {
            query: SCOPED_PERIOD,
            success: (200, Some(schema::<types::AnalyticsByKey>)),
            errors: &[404],
            ..op(
                Method::GET,
                "/v1/analytics/by-key",
                AccessToken,
                "Usage and savings per API key",
                get(analytics::by_key),
            )
        },
        Operation {
            query: SCOPED_PERIOD,
            success: (200, Some(schema::<types::AnalyticsSavings>)),
            errors: &[404],
            ..op(
                Method::GET,
                "/v1/analytics/savings",
                AccessToken,
                "Savings per provider, model and intensity, measured or estimated",
                get(analytics::savings),
            )
        },
        Operation {
            request: body::<types::OrgCreateRequest>(),
            success: (201, Some(schema::<types::OrgView>)),
            errors: &[403, 409],
            ..op(
                Method::POST,
                "/v1/orgs",
                AccessToken,
                "Create an organization; you become its owner",
                post(orgs::create),
            )
        },
        Operation {
            success: (200, Some(schema::<Vec<types::OrgView>>)),
            ..op(
                Method::GET,
                "/v1/orgs",
                AccessToken,
                "The organizations you belong to, with your role",
                get(orgs::list),
            )
        },
        Operation {
            success: (200, Some(schema::<types::OrgDetail>)),
            errors: &[404],
            ..op(
                Method::GET,
                "/v1/orgs/{id}",
                AccessToken,
                "An organization with its members and pending invitations (members only)",
                get(orgs::get),
            )
        },
        Operation {
            request: body::<types::InviteRequest>(),
            success: (201, Some(schema::<types::Invited>)),
            errors: &[403, 404, 409],
            ..op(
                Method::POST,
                "/v1/orgs/{id}/members",
                AccessToken,
                "Invite by email: an account becomes a member now, another email gets a pending invitation (owner, admin)",
                post(orgs::invite),
            )
        },
        Operation {
            request: body::<types::RoleRequest>(),
            success: (200, Some(schema::<types::MemberView>)),
            errors: &[403, 404, 409],
            ..op(
                Method::PATCH,
                "/v1/orgs/{id}/members/{user_id}",
                AccessToken,
                "Change a member's role; `owner` transfers the ownership (owner, admin)",
                patch(orgs::set_role),
            )
        },
        Operation {
            success: (204, None),
            errors: &[403, 404, 409],
            ..op(
                Method::DELETE,
                "/v1/orgs/{id}/members/{user_id}",
                AccessToken,
                "Remove a member; the org's keys stay (owner, admin; anyone for themselves)",
                delete(orgs::remove_member),
            )
        },
        Operation {
            success: (204, None),
            errors: &[403, 404],
            ..op(
                Method::DELETE,
                "/v1/orgs/{id}/invitations/{invitation_id}",
                AccessToken,
                "Withdraw a pending invitation (owner, admin)",
                delete(orgs::delete_invitation),
            )
        },
        Operation {
            success: (204, None),
            errors: &[404, 409],
            ..op(
                Method::POST,
                "/v1/orgs/{id}/leave",
                AccessToken,
                "Leave an organization (not its owner: transfer ownership first)",
                post(orgs::leave),
            )
        },
        Operation {
            success: (200, Some(schema::<serde_json::Map<String, serde_json::Value>>)),
            ..op(Method::GET, "/openapi.json", Public, "This document (OpenAPI 3.0)", get(openapi::serve))
        },
    ]
}

fn routes_of(access: Access) -> Router<SharedState> {
    operations()
        .into_iter()
        .filter(|op| op.access == access)
        // Operations on the same path merge into one method router.
        .fold(Router::new(), |router, op| router.route(op.path, op.handler))
}

/// Routes that need no credentials.
pub fn public_routes() -> Router<SharedState> {
    routes_of(Access::Public)
}

/// Routes that require `Authorization: Bearer <access token>`.
pub fn protected_routes(state: SharedState) -> Router<SharedState> {
    routes_of(Access::AccessToken).route_layer(middleware::from_fn_with_state(state, require_access_token))
}

/// The signed-in account, put in request extensions by [`require_access_token`].
#[derive(Clone)]
pub struct CurrentUser {
    pub user: User,
    pub claims: Claims,
}

async fn require_access_token(
    State(state): State<SharedState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = bearer(req.headers()).ok_or_else(|| {
        ApiError::unauthorized(
            "Missing access token: send Authorization: Bearer <access_token from POST /v1/auth/login>",
        )
    })?;
    if token.starts_with(crate::auth::api_key::PREFIX) {
        return Err(ApiError::unauthorized(
            "This route needs an access token from POST /v1/auth/login, not an mt_live_ API key",
        ));
    }
    let claims = state
        .jwt
        .verify(token, crate::clock::now_ms() / 1000)
        .map_err(|e| ApiError::unauthorized(format!("Invalid access token: {e}; log in again")))?;
    if let Some(session) = &claims.session_id
        && state.store.session_revoked(session).await?
    {
        return Err(ApiError::unauthorized("Invalid access token: the session was logged out; log in again"));
    }
    let user = match state.store.user_by_id(&claims.sub).await? {
        Some(user) => user,
        // A valid token from a shared Supabase secret for an account we have not seen.
        None if !claims.email.is_empty() => {
            state.store.ensure_user(&claims.sub, &claims.email.to_lowercase(), &state.config.default_plan).await?
        }
        None => return Err(ApiError::unauthorized("Invalid access token: unknown account")),
    };
    req.extensions_mut().insert(CurrentUser { user, claims });
    Ok(next.run(req).await)
}

/// The token of an `Authorization: Bearer …` header (scheme case-insensitive).
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
