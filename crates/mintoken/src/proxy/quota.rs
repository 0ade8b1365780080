//! The plan's request limits as the proxy applies them: requests per minute, and the
//! monthly output-token quota — refuse before forwarding once it is used up (or would be,
//! counting the requests in flight), and report usage in a header once it passes 80 %.

use super::error::ProxyError;
use crate::auth::key_cache::AuthedKey;
use crate::metering::{QuotaExceeded, Reservation};
use crate::plans::PlanLimits;
use crate::server::SharedState;
use axum::http::{HeaderMap, HeaderValue, StatusCode};

/// Refuses the request when the account is over its plan's requests per minute.
pub fn check_rate(state: &SharedState, key: &AuthedKey, limits: &PlanLimits) -> Result<(), ProxyError> {
    let rpm = limits.requests_per_minute;
    state.rate.check(key.account_id(), rpm).map_err(|wait| {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut e = ProxyError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "rate limit exceeded: the {} plan allows {rpm} requests per minute; retry in {seconds} s",
                key.plan
            ),
        );
        e.headers.push(("retry-after", HeaderValue::from(seconds.max(1))));
        e
    })
}

/// The quota as it stood before this request.
pub struct Quota {
    used: i64,
    /// 0 = unlimited.
    limit: i64,
}

impl Quota {
    /// Refuses the request when the quota is already used up.
    pub async fn check(state: &SharedState, key: &AuthedKey, limit: u64) -> Result<Quota, ProxyError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        if limit == 0 {
            return Ok(Quota { used: 0, limit });
        }
        let used = state.usage.quota().used(key.account_id()).await.map_err(|e| {
            tracing::error!(error = %e, "cannot read the quota counter: database unavailable");
            ProxyError::new(StatusCode::SERVICE_UNAVAILABLE, "cannot check the token quota right now; retry shortly")
        })?;
        if used >= limit {
            return Err(exceeded(used, limit, 0));
        }
        Ok(Quota { used, limit })
    }

    /// Reserves the request's expected output (bounded by `output_cap`), or refuses it
    /// when the reservations of requests in flight already spend what is left.
    pub fn admit(
        &self,
        state: &SharedState,
        key: &AuthedKey,
        output_cap: Option<i64>,
    ) -> Result<Reservation, ProxyError> {
        if self.limit == 0 {
            return Ok(Reservation::none());
        }
        state
            .usage
            .quota()
            .admit(key.account_id(), self.limit, output_cap)
            .map_err(|QuotaExceeded { used, reserved }| exceeded(used, self.limit, reserved))
    }

    /// `X-Mintoken-Tokens-Used` (after this request's `output_tokens`) once usage
    /// reaches 80 % of the limit.
    pub fn report(&self, headers: &mut HeaderMap, output_tokens: i64) {
        let used = self.used.saturating_add(output_tokens);
        if self.limit > 0 && used.saturating_mul(5) >= self.limit.saturating_mul(4) {
            headers.insert("x-mintoken-tokens-used", HeaderValue::from(used));
        }
    }
}

/// `429 token quota exceeded` with the figures; `reserved` > 0 says requests in flight
/// are expected to spend the rest.
fn exceeded(used: i64, limit: i64, reserved: i64) -> ProxyError {
    let mut e = ProxyError::new(StatusCode::TOO_MANY_REQUESTS, "token quota exceeded");
    e.headers.push(("x-mintoken-tokens-used", HeaderValue::from(used)));
    e.headers.push(("x-mintoken-tokens-limit", HeaderValue::from(limit)));
    if reserved > 0 {
        e.headers.push(("x-mintoken-tokens-reserved", HeaderValue::from(reserved)));
    }
    e
}
