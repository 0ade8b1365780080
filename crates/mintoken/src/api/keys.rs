//! `/v1/auth/keys`: create, list, read, change settings, revoke. The raw key appears
//! once, in the creation response; afterwards only its prefix is ever shown.
//!
//! A key is personal (its owner alone sees it) or belongs to an org (`org_id`): every
//! member of the org may list and read it, its owner and admins create, change and
//! revoke it; non-members get 404 as for another user's key.

use super::analytics::{Params, RawParams};
use super::body::{JsonObject, PathParam};
use super::orgs::{org_owner, require_manager, require_member};
use super::types::{KeyCreateRequest, KeyCreated, KeySettingsRequest, KeyView, RequestBody};
use super::{ApiError, CurrentUser};
use crate::auth::api_key;
use crate::clock::rfc3339;
use crate::plans::Plans;
use crate::secret::Secret;
use crate::server::SharedState;
use crate::store::{KeyRecord, KeySettings, NewKey, Store, StoreError, User};
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json;

const SETTINGS_FIELDS: &[&str] = KeySettingsRequest::FIELDS;
const MAX_NAME_CHARS: usize = 100;

pub async fn create(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    body: JsonObject,
) -> Result<(StatusCode, Json<KeyCreated>), ApiError> {
    body.only(KeyCreateRequest::FIELDS)?;
    let settings = apply_settings(KeySettings::default(), &body)?;
    let (record, raw) = match body.string("org_id")? {
        None => create_key(&state.store, &state.config.plans, &me.user, &settings).await?,
        Some(org_id) => {
            let role = require_member(&state, &me, org_id).await?;
            require_manager(role, "creating an org key")?;
            let plan = org_owner(&state, org_id).await?.plan;
            let limit = state.config.plans.limits(&plan).max_keys;
            if state.store.count_active_org_keys(org_id).await? >= i64::from(limit) {
                return Err(ApiError::forbidden(format!(
                    "the org is on its owner's {plan} plan, which allows {limit} active keys; revoke one of the \
                     org's keys or the owner upgrades the plan"
                )));
            }
            insert(&state.store, &me.user, Some(org_id), &settings).await?
        }
    };
    Ok((StatusCode::CREATED, Json(KeyCreated { key: key_json(&record), raw_key: raw.expose().clone() })))
}

/// The caller's personal keys, or with `?org_id=` the org's keys (any member).
pub async fn list(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    raw: RawParams,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    let params = Params::read(raw, &["org_id"])?;
    let keys = match params.get("org_id") {
        None => state.store.list_keys(&me.user.id).await?,
        Some(org_id) => {
            require_member(&state, &me, org_id).await?;
            state.store.list_org_keys(org_id).await?
        }
    };
    Ok(Json(keys.iter().map(key_json).collect()))
}

pub async fn get(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    PathParam(id): PathParam,
) -> Result<Json<KeyView>, ApiError> {
    Ok(Json(key_json(&key_for(&state, &me, &id, None).await?)))
}

pub async fn update(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    PathParam(id): PathParam,
    body: JsonObject,
) -> Result<Json<KeyView>, ApiError> {
    for fixed in ["raw_key", "key", "key_prefix", "key_hash", "id"] {
        if body.0.contains_key(fixed) {
            return Err(ApiError::unprocessable(format!(
                "`{fixed}` cannot be changed: a key's string is fixed. To rotate, create a new key and revoke this one"
            )));
        }
    }
    body.only(SETTINGS_FIELDS)?;
    let mut record = key_for(&state, &me, &id, Some("changing an org key")).await?;
    if !record.is_active() {
        return Err(ApiError::conflict("this key is revoked; create a new key instead"));
    }
    record.settings = apply_settings(record.settings, &body)?;
    match state.store.update_key_settings(&record.id, &record.settings).await {
        Err(StoreError::Conflict) => return Err(duplicate_name(&record.settings.name, record.org_id.is_some())),
        other => other?,
    }
    state.keys.apply(&record);
    Ok(Json(key_json(&record)))
}

pub async fn revoke(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    PathParam(id): PathParam,
) -> Result<Json<KeyView>, ApiError> {
    let mut record = key_for(&state, &me, &id, Some("revoking an org key")).await?;
    if state.store.revoke_key(&record.id).await? {
        record.revoked_at = Some(crate::clock::now_ms());
        tracing::info!(key_id = %record.id, "key revoked");
    }
    state.keys.apply(&record);
    Ok(Json(key_json(&record)))
}

/// Creates a personal key after checking the plan's cap on active keys; shared with the
/// CLI.
pub async fn create_key(
    store: &Store,
    plans: &Plans,
    user: &User,
    settings: &KeySettings,
) -> Result<(KeyRecord, Secret<String>), ApiError> {
    let limit = plans.limits(&user.plan).max_keys;
    if store.count_active_keys(&user.id).await? >= i64::from(limit) {
        return Err(ApiError::forbidden(format!(
            "the {} plan allows {limit} active keys; revoke one or upgrade the plan",
            user.plan
        )));
    }
    insert(store, user, None, settings).await
}

/// Generates and stores a key created by `user` (for `org_id` when given).
async fn insert(
    store: &Store,
    user: &User,
    org_id: Option<&str>,
    settings: &KeySettings,
) -> Result<(KeyRecord, Secret<String>), ApiError> {
    let generated = api_key::generate();
    let new = NewKey { user_id: &user.id, org_id, key_hash: &generated.hash, key_prefix: &generated.prefix, settings };
    match store.insert_key(new).await {
        Ok(record) => Ok((record, generated.raw)),
        Err(StoreError::Conflict) => Err(duplicate_name(&settings.name, org_id.is_some())),
        Err(e) => Err(e.into()),
    }
}

fn duplicate_name(name: &str, org_key: bool) -> ApiError {
    let whose = if org_key { "the org already has" } else { "you already have" };
    ApiError::conflict(format!("{whose} an active key named {name:?}; choose another name"))
}

/// A key the caller may see: their own personal key, or a key of an org they are a
/// member of. `manage` names the action when it needs the owner or admin role of the
/// key's org. Anything else is indistinguishable from a missing key.
async fn key_for(state: &SharedState, me: &CurrentUser, id: &str, manage: Option<&str>) -> Result<KeyRecord, ApiError> {
    let not_found = || ApiError::not_found("API key not found");
    let record = state.store.key_by_id(id).await?.ok_or_else(not_found)?;
    match &record.org_id {
        None if record.user_id == me.user.id => Ok(record),
        None => Err(not_found()),
        Some(org_id) => {
            let role = state.store.org_role(org_id, &me.user.id).await?.ok_or_else(not_found)?;
            if let Some(action) = manage {
                require_manager(role, action)?;
            }
            Ok(record)
        }
    }
}

fn apply_settings(mut s: KeySettings, body: &JsonObject) -> Result<KeySettings, ApiError> {
    if let Some(name) = body.string("name")? {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(ApiError::unprocessable(format!("`name` must be 1 to {MAX_NAME_CHARS} characters")));
        }
        // A name is shown in tables, logs and the CLI: no line breaks or other controls.
        if name.chars().any(char::is_control) {
            return Err(ApiError::unprocessable("`name` must not contain control characters (line breaks, tabs, …)"));
        }
        s.name = name.to_owned();
    }
    if let Some(v) = body.string("intensity")? {
        s.intensity = v.parse().map_err(|e| ApiError::unprocessable(format!("`intensity`: {e}")))?;
    }
    if let Some(v) = body.string("context_compress_level")? {
        s.context_compress_level =
            v.parse().map_err(|e| ApiError::unprocessable(format!("`context_compress_level`: {e}")))?;
    }
    if let Some(v) = body.0.get("holdout_percent").filter(|v| !v.is_null()) {
        s.holdout_percent = v
            .as_u64()
            .filter(|p| *p <= 100)
            .and_then(|p| u8::try_from(p).ok())
            .ok_or_else(|| ApiError::unprocessable("`holdout_percent` must be a whole number from 0 to 100"))?;
    }
    for (field, slot) in [
        ("auto_compress_input", &mut s.auto_compress_input),
        ("smart_detect_enabled", &mut s.smart_detect_enabled),
        ("context_compress", &mut s.context_compress),
    ] {
        if let Some(v) = body.bool(field)? {
            *slot = v;
        }
    }
    Ok(s)
}

pub fn key_json(k: &KeyRecord) -> KeyView {
    KeyView {
        id: k.id.clone(),
        key_prefix: k.key_prefix.clone(),
        name: k.settings.name.clone(),
        intensity: k.settings.intensity.as_str(),
        auto_compress_input: k.settings.auto_compress_input,
        smart_detect_enabled: k.settings.smart_detect_enabled,
        context_compress: k.settings.context_compress,
        context_compress_level: k.settings.context_compress_level.as_str(),
        holdout_percent: k.settings.holdout_percent,
        org_id: k.org_id.clone(),
        is_active: k.is_active(),
        created_at: rfc3339(k.created_at),
        last_used_at: k.last_used_at.map(rfc3339),
    }
}
