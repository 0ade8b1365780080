//! The management API (accounts, sessions, keys). Every route here except the
//! explicit public list requires an access token: the JWT layer is applied to the
//! protected group as a whole, so a new route cannot forget it.

mod analytics;
pub(crate) mod auth_routes;
pub mod body;
pub mod error;
mod keys;
mod plan;
mod rules;

use crate::auth::jwt::Claims;
use crate::server::SharedState;
use crate::store::User;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
pub use error::ApiError;
pub use keys::create_key;

/// Routes that need no credentials.
pub fn public_routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/auth/signup", post(auth_routes::signup))
        .route("/v1/auth/login", post(auth_routes::login))
        .route("/v1/auth/refresh", post(auth_routes::refresh))
}

/// Routes that require `Authorization: Bearer <access token>`.
pub fn protected_routes(state: SharedState) -> Router<SharedState> {
    Router::new()
        .route("/v1/auth/logout", post(auth_routes::logout))
        .route("/v1/auth/me", get(auth_routes::me))
        .route("/v1/auth/keys", post(keys::create).get(keys::list))
        .route("/v1/auth/keys/{id}", get(keys::get).patch(keys::update).delete(keys::revoke))
        .route("/v1/rules", post(rules::create).get(rules::list))
        .route("/v1/rules/{id}", axum::routing::delete(rules::delete))
        .route("/v1/plan", get(plan::mine))
        .route("/v1/admin/users", get(plan::list_users))
        .route("/v1/admin/users/{email}/plan", axum::routing::put(plan::set_plan))
        .route("/v1/analytics/summary", get(analytics::summary))
        .route("/v1/analytics/timeseries", get(analytics::timeseries))
        .route("/v1/analytics/by-key", get(analytics::by_key))
        .route("/v1/analytics/savings", get(analytics::savings))
        .route_layer(middleware::from_fn_with_state(state, require_access_token))
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
