//! Plans as users and administrators see them: `GET /v1/plan` (the caller's plan, its
//! limits and this month's usage), and the admin-only `GET /v1/admin/users` and
//! `PUT /v1/admin/users/{email}/plan`, the API twin of `mintoken users set-plan`.

use super::auth_routes::normalize_email;
use super::body::{JsonObject, PathParam};
use super::types::{
    AdminUser, PlanChanged, PlanLimitsView, PlanUsage, PlanView, RequestBody, SetPlanRequest, UserList,
};
use super::{ApiError, CurrentUser};
use crate::clock::rfc3339;
use crate::metering::quota::month_start_ms;
use crate::plans::PlanLimits;
use crate::server::SharedState;
use axum::Extension;
use axum::extract::State;
use axum::response::Json;

/// The caller's plan, limits and usage this month.
pub async fn mine(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
) -> Result<Json<PlanView>, ApiError> {
    let limits = state.config.plans.limits(&me.user.plan);
    let month = month_start_ms(state.clock.now_ms());
    let used = state.usage.quota().used(&me.user.id).await?;
    let active_keys = state.store.count_active_keys(&me.user.id).await?;
    Ok(Json(PlanView {
        plan: me.user.plan.clone(),
        limits: limits_json(limits),
        usage: PlanUsage {
            period_start: rfc3339(month),
            output_tokens: used,
            output_tokens_limit: (limits.monthly_output_tokens > 0).then_some(limits.monthly_output_tokens),
            active_keys,
        },
    }))
}

fn limits_json(l: &PlanLimits) -> PlanLimitsView {
    PlanLimitsView {
        // 0 = unlimited, as in the configuration file.
        monthly_output_tokens: l.monthly_output_tokens,
        requests_per_minute: l.requests_per_minute,
        max_keys: l.max_keys,
        max_orgs: l.max_orgs,
        max_members_per_org: l.max_members_per_org,
        max_rules: l.max_rules,
        smart_detection: l.smart_detection,
        input_compression: l.input_compression,
        max_body_bytes: l.max_body_bytes,
    }
}

/// Only accounts listed in `admin_emails` may use the admin routes.
fn require_admin(state: &SharedState, me: &CurrentUser) -> Result<(), ApiError> {
    if state.config.admin_emails.contains(&me.user.email) {
        Ok(())
    } else {
        Err(ApiError::forbidden("this route is for administrators (the `admin_emails` setting of the server)"))
    }
}

pub async fn list_users(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
) -> Result<Json<UserList>, ApiError> {
    require_admin(&state, &me)?;
    let users = state.store.list_users().await?;
    let users = users
        .into_iter()
        .map(|u| AdminUser { created_at: rfc3339(u.created_at), id: u.id, email: u.email, plan: u.plan })
        .collect();
    Ok(Json(UserList { users }))
}

/// `{"plan": "pro"}`: the account's requests see the new plan from their next request.
pub async fn set_plan(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    PathParam(email): PathParam,
    body: JsonObject,
) -> Result<Json<PlanChanged>, ApiError> {
    require_admin(&state, &me)?;
    body.only(SetPlanRequest::FIELDS)?;
    let plan = body.required_string("plan")?;
    if state.config.plans.get(plan).is_none() {
        let known: Vec<_> = state.config.plans.names().collect();
        return Err(ApiError::unprocessable(format!("unknown plan {plan:?}; known plans: {}", known.join(", "))));
    }
    let email = normalize_email(&email)?;
    let user =
        state.store.user_by_email(&email).await?.ok_or_else(|| ApiError::not_found("no account with that email"))?;
    state.store.set_plan(&email, plan).await?;
    state.keys.apply_plan(&user.id, plan);
    Ok(Json(PlanChanged { id: user.id, email: user.email, plan: plan.to_owned() }))
}
