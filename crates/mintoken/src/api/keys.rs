//! `/v1/auth/keys`: create, list, read, change settings, revoke. The raw key appears
//! once, in the creation response; afterwards only its prefix is ever shown.

use super::body::{JsonObject, PathParam};
use super::types::{KeyCreated, KeySettingsRequest, KeyView, RequestBody};
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
    body.only(SETTINGS_FIELDS)?;
    let settings = apply_settings(KeySettings::default(), &body)?;
    let (record, raw) = create_key(&state.store, &state.config.plans, &me.user, &settings).await?;
    Ok((StatusCode::CREATED, Json(KeyCreated { key: key_json(&record), raw_key: raw.expose().clone() })))
}

pub async fn list(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    let keys = state.store.list_keys(&me.user.id).await?;
    Ok(Json(keys.iter().map(key_json).collect()))
}

pub async fn get(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    PathParam(id): PathParam,
) -> Result<Json<KeyView>, ApiError> {
    Ok(Json(key_json(&own_key(&state, &me, &id).await?)))
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
    let mut record = own_key(&state, &me, &id).await?;
    if !record.is_active() {
        return Err(ApiError::conflict("this key is revoked; create a new key instead"));
    }
    record.settings = apply_settings(record.settings, &body)?;
    match state.store.update_key_settings(&record.id, &record.settings).await {
        Err(StoreError::Conflict) => return Err(duplicate_name(&record.settings.name)),
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
    let mut record = own_key(&state, &me, &id).await?;
    if state.store.revoke_key(&record.id).await? {
        record.revoked_at = Some(crate::clock::now_ms());
        tracing::info!(key_id = %record.id, "key revoked");
    }
    state.keys.apply(&record);
    Ok(Json(key_json(&record)))
}

/// Creates a key after checking the plan's cap on active keys; shared with the CLI.
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
    let generated = api_key::generate();
    let new = NewKey { user_id: &user.id, key_hash: &generated.hash, key_prefix: &generated.prefix, settings };
    match store.insert_key(new).await {
        Ok(record) => Ok((record, generated.raw)),
        Err(StoreError::Conflict) => Err(duplicate_name(&settings.name)),
        Err(e) => Err(e.into()),
    }
}

fn duplicate_name(name: &str) -> ApiError {
    ApiError::conflict(format!("you already have an active key named {name:?}; choose another name"))
}

async fn own_key(state: &SharedState, me: &CurrentUser, id: &str) -> Result<KeyRecord, ApiError> {
    // Another user's key is indistinguishable from a missing one.
    state.store.key_of_user(&me.user.id, id).await?.ok_or_else(|| ApiError::not_found("API key not found"))
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
        is_active: k.is_active(),
        created_at: rfc3339(k.created_at),
        last_used_at: k.last_used_at.map(rfc3339),
    }
}
