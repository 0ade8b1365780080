//! `/v1/analytics/*`: the caller's usage and savings over a period. Handlers only read
//! and check query parameters; the reports are built in `crate::analytics`, always for
//! the signed-in account alone, or (`?org_id=`) for an org the caller is a member of.

use super::{ApiError, CurrentUser};
use crate::analytics::{self, period};
use crate::server::SharedState;
use crate::store::UsageScope;
use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Json;
use serde_json::Value;

pub(super) type RawParams = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// The query parameters, each at most once and all among `allowed`.
pub(super) struct Params(Vec<(String, String)>);

impl Params {
    pub(super) fn read(raw: RawParams, allowed: &[&str]) -> Result<Params, ApiError> {
        let Query(pairs) =
            raw.map_err(|e| ApiError::bad_request(format!("malformed query string: {}", e.body_text())))?;
        for (i, (name, _)) in pairs.iter().enumerate() {
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter `{name}`; allowed: {}",
                    allowed.join(", ")
                )));
            }
            if pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(ApiError::bad_request(format!("query parameter `{name}` is given more than once")));
            }
        }
        Ok(Params(pairs))
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn period(&self, state: &SharedState) -> Result<period::Period, ApiError> {
        period::parse_period(self.get("start"), self.get("end"), state.clock.now_ms()).map_err(ApiError::bad_request)
    }
}

const PERIOD: [&str; 3] = ["start", "end", "org_id"];

/// `?org_id=` → the org's usage, for any of its members (a non-member gets 404: an org
/// they are not in does not exist for them); without it, the caller's personal usage.
async fn scope<'a>(state: &SharedState, me: &'a CurrentUser, params: &'a Params) -> Result<UsageScope<'a>, ApiError> {
    match params.get("org_id") {
        None => Ok(UsageScope::Personal(&me.user.id)),
        Some(org_id) => {
            super::orgs::require_member(state, me, org_id).await?;
            Ok(UsageScope::Org(org_id))
        }
    }
}

pub async fn summary(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    raw: RawParams,
) -> Result<Json<Value>, ApiError> {
    let params = Params::read(raw, &PERIOD)?;
    let p = params.period(&state)?;
    let scope = scope(&state, &me, &params).await?;
    Ok(Json(analytics::summary(&state.store, &state.config.prices, scope, p).await?))
}

pub async fn timeseries(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    raw: RawParams,
) -> Result<Json<Value>, ApiError> {
    let params = Params::read(raw, &["bucket", "start", "end", "org_id"])?;
    let bucket = period::Bucket::parse(params.get("bucket").unwrap_or("day")).map_err(ApiError::bad_request)?;
    let p = bucket.align(params.period(&state)?).map_err(ApiError::bad_request)?;
    let scope = scope(&state, &me, &params).await?;
    Ok(Json(analytics::timeseries(&state.store, &state.config.prices, scope, p, bucket).await?))
}

pub async fn by_key(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    raw: RawParams,
) -> Result<Json<Value>, ApiError> {
    let params = Params::read(raw, &PERIOD)?;
    let p = params.period(&state)?;
    let scope = scope(&state, &me, &params).await?;
    Ok(Json(analytics::by_key(&state.store, &state.config.prices, scope, p).await?))
}

pub async fn savings(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    raw: RawParams,
) -> Result<Json<Value>, ApiError> {
    let params = Params::read(raw, &PERIOD)?;
    let p = params.period(&state)?;
    let scope = scope(&state, &me, &params).await?;
    Ok(Json(analytics::savings(&state.store, &state.config.prices, scope, p).await?))
}
