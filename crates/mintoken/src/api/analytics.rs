//! `/v1/analytics/*`: the caller's usage and savings over a period. Handlers only read
//! and check query parameters; the reports are built in `crate::analytics`, always for
//! the signed-in account alone.

use super::{ApiError, CurrentUser};
use crate::analytics::{self, period};
use crate::server::SharedState;
use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Json;
use serde_json::Value;

type RawParams = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// The query parameters, each at most once and all among `allowed`.
struct Params(Vec<(String, String)>);

impl Params {
    fn read(raw: RawParams, allowed: &[&str]) -> Result<Params, ApiError> {
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

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn period(&self, state: &SharedState) -> Result<period::Period, ApiError> {
        period::parse_period(self.get("start"), self.get("end"), state.clock.now_ms()).map_err(ApiError::bad_request)
    }
}

const PERIOD: [&str; 2] = ["start", "end"];

pub async fn summary(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    raw: RawParams,
) -> Result<Json<Value>, ApiError> {
    let p = Params::read(raw, &PERIOD)?.period(&state)?;
    Ok(Json(analytics::summary(&state.store, &state.config.prices, &me.user.id, p).await?))
}

pub async fn timeseries(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    raw: RawParams,
) -> Result<Json<Value>, ApiError> {
    let params = Params::read(raw, &["bucket", "start", "end"])?;
    let bucket = period::Bucket::parse(params.get("bucket").unwrap_or("day")).map_err(ApiError::bad_request)?;
    let p = bucket.align(params.period(&state)?).map_err(ApiError::bad_request)?;
    Ok(Json(analytics::timeseries(&state.store, &state.config.prices, &me.user.id, p, bucket).await?))
}

pub async fn by_key(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    raw: RawParams,
) -> Result<Json<Value>, ApiError> {
    let p = Params::read(raw, &PERIOD)?.period(&state)?;
    Ok(Json(analytics::by_key(&state.store, &state.config.prices, &me.user.id, p).await?))
}

pub async fn savings(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    raw: RawParams,
) -> Result<Json<Value>, ApiError> {
    let p = Params::read(raw, &PERIOD)?.period(&state)?;
    Ok(Json(analytics::savings(&state.store, &state.config.prices, &me.user.id, p).await?))
}
