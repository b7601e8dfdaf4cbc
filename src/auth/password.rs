//! Password hashing with argon2id at OWASP's parameters (m = 19 MiB, t = 2, p = 1), and the
//! strength rule for new passwords.
//!
//! Rule: hashing is CPU-bound for tens of milliseconds, so it runs on the blocking pool, never
//! on the async workers; unknown accounts are verified against a dummy hash so that a login's
//! timing does not tell whether the account exists.
//!
//! Requests hash through a [`HashGate`]: at most one hash per core at once (each holds 19 MiB
//! and a blocking thread), a bounded queue behind them, and 503 `server_busy` with
//! `Retry-After` beyond that. Unbounded, a burst of logins with random e-mails grew the
//! process by a gigabyte and a hundred threads. The free functions [`hash`] and [`verify`] are
//! for the CLI, which hashes one password at a time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::{AppError, AppResult};

fn argon2() -> Argon2<'static> {
    // 19 MiB, 2 iterations, 1 lane: OWASP's recommended minimum for argon2id.
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash to verify against when the account does not exist.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2()
        .hash_password(b"shopfleet-dummy-password", &salt)
        .map(|hash| hash.to_string())
        .unwrap_or_default()
});

fn hash_now(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| anyhow::anyhow!("hashing a password: {err}"))
}

fn verify_now(password: &str, stored: Option<String>) -> bool {
    let exists = stored.is_some();
    let stored = stored.unwrap_or_else(|| DUMMY_HASH.clone());
    let matches = PasswordHash::new(&stored)
        .map(|parsed| argon2().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false);
    exists && matches
}

pub async fn hash(password: String) -> AppResult<String> {
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .context("password hashing task")?
        .map_err(AppError::Internal)
}

/// Checks `password` against `stored`, or against a dummy hash when there is no account.
pub async fn verify(password: String, stored: Option<String>) -> AppResult<bool> {
    tokio::task::spawn_blocking(move || verify_now(&password, stored))
        .await
        .context("password verification task")
        .map_err(AppError::Internal)
}

/// The bound on concurrent password hashing of requests (see the module documentation).
#[derive(Clone)]
pub struct HashGate {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
}

/// Leaves the queue when dropped, also when the waiting request is cancelled.
struct Queued(Arc<AtomicUsize>);

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HashGate {
    /// `concurrency` hashes at once (0: one per core), `queue` waiting behind them.
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = if concurrency == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            concurrency
        };
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting: queue,
        }
    }

    /// A slot to hash in: at once if one is free, after waiting in the queue if there is room
    /// in it, else 503 `server_busy`. The slot is held until the permit is dropped.
    pub async fn enter(&self) -> AppResult<OwnedSemaphorePermit> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let joined = self.waiting.fetch_update(Ordering::AcqRel, Ordering::Acquire, |waiting| {
            (waiting < self.max_waiting).then_some(waiting + 1)
        });
        if joined.is_err() {
            return Err(AppError::Busy { retry_after_secs: 1 });
        }
        let _queued = Queued(self.waiting.clone());
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|err| AppError::Internal(anyhow::anyhow!("password hashing gate: {err}")))
    }

    /// [`hash`], within the bound.
    pub async fn hash(&self, password: String) -> AppResult<String> {
        let permit = self.enter().await?;
        // The permit moves into the blocking task: a cancelled request does not free the slot
        // before its hash is done.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            hash_now(&password)
        })
        .await
        .context("password hashing task")?
        .map_err(AppError::Internal)
    }

    /// [`verify`], within the bound.
    pub async fn verify(&self, password: String, stored: Option<String>) -> AppResult<bool> {
        let permit = self.enter().await?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            verify_now(&password, stored)
        })
        .await
        .context("password verification task")
        .map_err(AppError::Internal)
    }
}

/// The rule for new passwords: 10 to 128 characters, not one repeated character, not the
/// e-mail address. Length beats composition rules (NIST SP 800-63B).
pub fn check_strength(password: &str, email: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < 10 {
        return Err("must be at least 10 characters".into());
    }
    if chars > 128 {
        return Err("must be at most 128 characters".into());
    }
    let mut distinct: Vec<char> = password.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 4 {
        return Err("is too simple: use more different characters".into());
    }
    let local_part = email.split('@').next().unwrap_or_default().to_lowercase();
    if password.to_lowercase() == email.to_lowercase()
        || (local_part.len() >= 4 && password.to_lowercase().contains(&local_part))
    {
        return Err("must not contain your e-mail address".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_password() {
        let stored = hash("correct horse battery".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse battery".into(), Some(stored.clone())).await.unwrap());
        assert!(!verify("wrong horse battery".into(), Some(stored)).await.unwrap());
        assert!(!verify("correct horse battery".into(), None).await.unwrap());
    }

    #[tokio::test]
    async fn a_full_gate_refuses_with_server_busy_and_reopens() {
        let gate = HashGate::new(1, 0);
        let held = gate.enter().await.unwrap();
        let err = gate.verify("whatever-password".into(), None).await.unwrap_err();
        assert!(matches!(err, AppError::Busy { retry_after_secs: 1 }), "{err:?}");
        drop(held);
        assert!(!gate.verify("whatever-password".into(), None).await.unwrap());
    }

    #[test]
    fn weak_passwords_are_refused() {
        assert!(check_strength("short", "a@b.co").is_err());
        assert!(check_strength("aaaaaaaaaaaa", "a@b.co").is_err());
        assert!(check_strength("tina.owner-2026", "tina.owner@x.io").is_err());
        assert!(check_strength("plum-orchard-71", "tina@x.io").is_ok());
    }
}
