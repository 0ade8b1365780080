//! Sign-up, log-in, refresh, log-out and "who am I", answering Supabase-shaped sessions
//! so clients written for the hosted service work unchanged.

use super::body::JsonObject;
use super::types::{AppMetadata, Credentials, EmptyObject, RefreshRequest, RequestBody, Session, UserView};
use super::{ApiError, CurrentUser};
use crate::auth::jwt::{AUDIENCE, Audience, Claims};
use crate::auth::{login_limiter, password, random, sha256_hex};
use crate::clock::{now_ms, rfc3339};
use crate::server::SharedState;
use crate::store::{RefreshOutcome, User};
use axum::Extension;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use std::net::SocketAddr;

const REFRESH_TOKEN_CHARS: usize = 40;
pub const MAX_PASSWORD_CHARS: usize = 256;

pub async fn signup(State(state): State<SharedState>, body: JsonObject) -> Result<Response, ApiError> {
    if !state.config.signup_enabled {
        return Err(ApiError::forbidden("sign-up is disabled on this server; ask its administrator for an account"));
    }
    body.only(Credentials::FIELDS)?;
    let email = normalize_email(body.required_string("email")?)?;
    let password = body.required_string("password")?.to_owned();
    check_password_policy(&password)?;
    let hash = tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| ApiError::internal("password hashing task failed", e))?
        .map_err(|e| ApiError::internal("password hashing failed", e))?;
    let user = match state.store.create_user(&email, Some(&hash), &state.config.default_plan).await {
        Err(crate::store::StoreError::Conflict) => {
            return Err(ApiError::conflict("an account with this email already exists; log in instead"));
        }
        other => other?,
    };
    tracing::info!(user_id = %user.id, "account created");
    Ok((StatusCode::OK, Json(new_session(&state, &user).await?)).into_response())
}

pub async fn login(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Json<Session>, ApiError> {
    body.only(Credentials::FIELDS)?;
    let email = normalize_email(body.required_string("email")?)?;
    let password = body.required_string("password")?.to_owned();
    let address = login_limiter::client_address(peer, &headers, state.config.trusted_proxy_hops);
    if let Err(lockout) = state.login_limiter.check(&email, address) {
        let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, lockout.message());
        e.retry_after_secs = Some(lockout.retry_after_secs());
        return Err(e);
    }
    let user = state.store.user_by_email(&email).await?;
    let stored_hash = user.as_ref().and_then(|u| u.password_hash.clone());
    // An unknown email (or an account without a password) costs the same Argon2 work as
    // a wrong password, so response times do not tell which emails are registered.
    let matches = tokio::task::spawn_blocking(move || match stored_hash {
        Some(hash) => password::verify(&password, &hash),
        None => {
            password::dummy_verify(&password);
            false
        }
    })
    .await
    .map_err(|e| ApiError::internal("password check task failed", e))?;
    match user {
        Some(user) if matches => {
            state.login_limiter.record_success(&email);
            Ok(Json(new_session(&state, &user).await?))
        }
        _ => {
            state.login_limiter.record_failure(&email, address);
            Err(ApiError::unauthorized("Invalid login credentials"))
        }
    }
}

pub async fn refresh(State(state): State<SharedState>, body: JsonObject) -> Result<Json<Session>, ApiError> {
    body.only(RefreshRequest::FIELDS)?;
    let token = body.required_string("refresh_token")?;
    let invalid =
        || ApiError::unauthorized("Invalid refresh token: it is unknown, expired or already used; log in again");
    match state.store.spend_refresh_token(&sha256_hex(token)).await? {
        RefreshOutcome::Rotated { session_id, user_id } => {
            let user = state.store.user_by_id(&user_id).await?.ok_or_else(invalid)?;
            Ok(Json(issue_tokens(&state, &user, &session_id).await?))
        }
        RefreshOutcome::Reused => {
            tracing::warn!("a spent refresh token was presented again; its session is revoked");
            Err(invalid())
        }
        RefreshOutcome::Invalid => Err(invalid()),
    }
}

pub async fn logout(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
) -> Result<StatusCode, ApiError> {
    if let Some(session) = &me.claims.session_id {
        state.store.revoke_session(session).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(Extension(me): Extension<CurrentUser>) -> Json<UserView> {
    Json(user_json(&me.user))
}

async fn new_session(state: &SharedState, user: &User) -> Result<Session, ApiError> {
    let session_id = state.store.create_session(&user.id).await?;
    issue_tokens(state, user, &session_id).await
}

/// A new access token and a new (single-use) refresh token for the session.
async fn issue_tokens(state: &SharedState, user: &User, session_id: &str) -> Result<Session, ApiError> {
    let now_secs = now_ms() / 1000;
    let ttl = state.config.access_token_ttl.as_secs() as i64;
    let claims = Claims {
        sub: user.id.clone(),
        email: user.email.clone(),
        role: AUDIENCE.to_owned(),
        aud: Audience::One(AUDIENCE.to_owned()),
        exp: now_secs + ttl,
        iat: now_secs,
        session_id: Some(session_id.to_owned()),
        iss: Some("mintoken".to_owned()),
    };
    let refresh_token = random::alphanumeric(REFRESH_TOKEN_CHARS);
    let refresh_expires = now_ms() + state.config.refresh_token_ttl.as_millis() as i64;
    state.store.insert_refresh_token(&sha256_hex(&refresh_token), session_id, refresh_expires).await?;
    Ok(Session {
        access_token: state.jwt.sign(&claims),
        token_type: "bearer",
        expires_in: ttl,
        expires_at: claims.exp,
        refresh_token,
        user: user_json(user),
    })
}

fn user_json(user: &User) -> UserView {
    UserView {
        id: user.id.clone(),
        aud: AUDIENCE,
        role: AUDIENCE,
        email: user.email.clone(),
        plan: user.plan.clone(),
        created_at: rfc3339(user.created_at),
        app_metadata: AppMetadata { provider: "email", providers: ["email"], plan: user.plan.clone() },
        user_metadata: EmptyObject {},
    }
}

/// Emails are compared case-insensitively; a light shape check catches typos without
/// pretending to validate deliverability.
pub fn normalize_email(raw: &str) -> Result<String, ApiError> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(ApiError::unprocessable(format!("`email` is not a valid email address: {raw:?}")))
    }
}

pub fn check_password_policy(password: &str) -> Result<(), ApiError> {
    let n = password.chars().count();
    if n < password::MIN_LEN {
        return Err(ApiError::unprocessable(format!("`password` must be at least {} characters", password::MIN_LEN)));
    }
    // Characters for the documented limit (JSON Schema counts characters), bytes for the
    // hashing cost: 256 characters are at most 1024 bytes.
    if n > MAX_PASSWORD_CHARS || password.len() > password::MAX_LEN {
        return Err(ApiError::unprocessable(format!(
            "`password` must be at most {MAX_PASSWORD_CHARS} characters and {} bytes",
            password::MAX_LEN
        )));
    }
    Ok(())
}
