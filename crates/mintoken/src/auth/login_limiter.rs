//! Slows down password guessing: after [`MAX_FAILURES`] failed logins for one email
//! within [`WINDOW`], further attempts for it are refused until the window passes.
//! In memory and per instance; the bound is per instance behind a load balancer.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_FAILURES: u32 = 10;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Entries are swept when the map grows past this, so random emails cannot grow it
/// without bound.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginLimiter {
    /// `Err(seconds to wait)` when this email is locked out.
    pub fn check(&self, email: &str) -> Result<(), u64> {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(email) {
            Some((count, since)) if *count >= MAX_FAILURES && since.elapsed() < WINDOW => {
                Err((WINDOW - since.elapsed()).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, email: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > SWEEP_ABOVE {
            map.retain(|_, (_, since)| since.elapsed() < WINDOW);
        }
        let entry = map.entry(email.to_owned()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    pub fn record_success(&self, email: &str) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(email);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_out_after_repeated_failures_only() {
        let l = LoginLimiter::default();
        for _ in 0..MAX_FAILURES - 1 {
            l.record_failure("a@b.c");
        }
        assert!(l.check("a@b.c").is_ok());
        l.record_failure("a@b.c");
        assert!(l.check("a@b.c").is_err());
        assert!(l.check("other@b.c").is_ok());
        l.record_success("a@b.c");
        assert!(l.check("a@b.c").is_ok());
    }
}
