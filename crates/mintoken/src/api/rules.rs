//! `/v1/rules`: a user's custom intensity rules (create, list, delete).

use super::body::{JsonObject, PathParam};
use super::types::{RequestBody, RuleCreateRequest, RuleView};
use super::{ApiError, CurrentUser};
use crate::clock::rfc3339;
use crate::rules::{Rule, RuleType, validate_pattern};
use crate::server::SharedState;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json;
use serde_json::Value;

pub async fn create(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    body: JsonObject,
) -> Result<(StatusCode, Json<RuleView>), ApiError> {
    body.only(RuleCreateRequest::FIELDS)?;
    let rule_type: RuleType = body.required_string("rule_type")?.parse().map_err(ApiError::bad_request)?;
    let pattern = body.required_string("pattern")?;
    validate_pattern(pattern).map_err(ApiError::bad_request)?;
    let priority = match body.0.get("priority") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_i64()
            .filter(|p| p.unsigned_abs() <= 1_000_000)
            .ok_or_else(|| ApiError::unprocessable("`priority` must be an integer between -1000000 and 1000000"))?,
    };
    let limit = state.config.plans.limits(&me.user.plan).max_rules;
    if state.store.count_rules(&me.user.id).await? >= i64::from(limit) {
        return Err(ApiError::forbidden(format!(
            "the {} plan allows {limit} custom rules; delete one or upgrade the plan",
            me.user.plan
        )));
    }
    let rule = state.store.insert_rule(&me.user.id, rule_type.as_str(), pattern, priority).await?;
    state.rules.invalidate(&me.user.id);
    Ok((StatusCode::CREATED, Json(rule_json(&rule))))
}

pub async fn list(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
) -> Result<Json<Vec<RuleView>>, ApiError> {
    let rules = state.store.rules_of_user(&me.user.id).await?;
    Ok(Json(rules.iter().map(rule_json).collect()))
}

pub async fn delete(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    PathParam(id): PathParam,
) -> Result<StatusCode, ApiError> {
    if !state.store.delete_rule(&me.user.id, &id).await? {
        return Err(ApiError::not_found("rule not found"));
    }
    state.rules.invalidate(&me.user.id);
    Ok(StatusCode::NO_CONTENT)
}

fn rule_json(rule: &Rule) -> RuleView {
    RuleView {
        id: rule.id.clone(),
        rule_type: rule.rule_type.as_str(),
        pattern: rule.pattern.clone(),
        priority: rule.priority,
        effective: rule.rule_type.intensity().is_some(),
        created_at: rfc3339(rule.created_at),
    }
}
