//! In-process limiter of failed logins per shop and identity (fixed window).
//!
//! An attempt is counted atomically *before* its password is verified ([`LoginLimiter::begin`]),
//! so a burst of concurrent attempts gets at most the limit verified: checking first and
//! counting after the (slow) verification let every attempt of a burst through.
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

    /// Counts an attempt of the identity, or 429 if it has used up its failures in the current
    /// window. Call before verifying the password; the attempt stays counted as a failure
    /// unless [`Self::record_success`] or [`Self::refund`] follows.
    pub fn begin(&self, key: &str) -> Result<(), AppError> {
        let window = self.failures.get_with(key.to_owned(), || {
            Arc::new(Window { started: Instant::now(), count: AtomicU32::new(0) })
        });
        let counted = window.count.fetch_update(Ordering::AcqRel, Ordering::Acquire, |count| {
            (count < self.max_failures).then_some(count + 1)
        });
        if counted.is_err() {
            let remaining = self.window.saturating_sub(window.started.elapsed());
            return Err(AppError::RateLimited { retry_after_secs: remaining.as_secs().max(1) });
        }
        Ok(())
    }

    /// Gives back an attempt counted by [`Self::begin`] whose password was never verified (the
    /// server was too busy to hash it).
    pub fn refund(&self, key: &str) {
        if let Some(window) = self.failures.get(key) {
            let _ = window
                .count
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |count| count.checked_sub(1));
        }
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
            assert!(limiter.begin(&key).is_ok());
        }
        let err = limiter.begin(&key).unwrap_err();
        assert!(err.retry_after().is_some_and(|s| (1..=60).contains(&s)));
        // other identities are unaffected
        assert!(limiter.begin(&LoginLimiter::key("shop", "staff", "c@d.co")).is_ok());
        // an attempt given back can be made again
        limiter.refund(&key);
        assert!(limiter.begin(&key).is_ok());
        assert!(limiter.begin(&key).is_err());
        limiter.record_success(&key);
        assert!(limiter.begin(&key).is_ok());
    }
}
