//! The monthly output-token quota as the proxy applies it: refuse before forwarding
//! once it is used up, and report usage in a header once it passes 80 %.

use super::error::ProxyError;
use crate::auth::key_cache::AuthedKey;
use crate::server::SharedState;
use axum::http::{HeaderMap, HeaderValue, StatusCode};

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
        let used = state.usage.quota().used(&key.user_id).await.map_err(|e| {
            tracing::error!(error = %e, "cannot read the quota counter: database unavailable");
            ProxyError::new(StatusCode::SERVICE_UNAVAILABLE, "cannot check the token quota right now; retry shortly")
        })?;
        if used >= limit {
            let mut e = ProxyError::new(StatusCode::TOO_MANY_REQUESTS, "token quota exceeded");
            e.headers.push(("x-mintoken-tokens-used", HeaderValue::from(used)));
            e.headers.push(("x-mintoken-tokens-limit", HeaderValue::from(limit)));
            return Err(e);
        }
        Ok(Quota { used, limit })
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
