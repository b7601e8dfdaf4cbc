//! In-process limiter of failed logins per shop and identity (fixed window).
//!
//! Rule: only failures count, and a success clears the identity's count, so a user who types
//! the right password is never locked out by their own earlier typos.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use moka::sync::Cache;

use crate::error::AppError;

#[derive(Clone)]
pub struct LoginLimiter {
    max_failures: u32,
    window: Duration,
    failures: Cache<String, Arc<Window>>,
}

struct Window {
    started: Instant,
    count: AtomicU32,
}

impl LoginLimiter {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        let failures = Cache::builder().max_capacity(100_000).time_to_live(window).build();
        Self { max_failures, window, failures }
    }

    /// The key of an identity: its shop (or `platform`), its kind and its lowercased e-mail.
    pub fn key(scope: &str, kind: &str, identity: &str) -> String {
        format!("{scope}:{kind}:{}", identity.trim().to_lowercase())
    }

    /// 429 if the identity has used up its failures in the current window.
    pub fn check(&self, key: &str) -> Result<(), AppError> {
        if let Some(window) = self.failures.get(key)
            && window.count.load(Ordering::Relaxed) >= self.max_failures
        {
            let remaining = self.window.saturating_sub(window.started.elapsed());
            return Err(AppError::RateLimited { retry_after_secs: remaining.as_secs().max(1) });
        }
        Ok(())
    }

    pub fn record_failure(&self, key: &str) {
        let window = self.failures.get_with(key.to_owned(), || {
            Arc::new(Window { started: Instant::now(), count: AtomicU32::new(0) })
        });
        window.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_success(&self, key: &str) {
        self.failures.invalidate(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_and_clears_on_success() {
        let limiter = LoginLimiter::new(3, Duration::from_secs(60));
        let key = LoginLimiter::key("shop", "staff", "A@B.co");
        for _ in 0..3 {
            assert!(limiter.check(&key).is_ok());
            limiter.record_failure(&key);
        }
        let err = limiter.check(&key).unwrap_err();
        assert!(err.retry_after().is_some_and(|s| (1..=60).contains(&s)));
        // other identities are unaffected
        assert!(limiter.check(&LoginLimiter::key("shop", "staff", "c@d.co")).is_ok());
        limiter.record_success(&key);
        assert!(limiter.check(&key).is_ok());
    }
}
