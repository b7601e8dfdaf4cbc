//! Failed logins, counted so that a stranger who knows an e-mail cannot lock its owner out.
//!
//! Two buckets per attempt, both of `LOGIN_WINDOW_SECS`:
//! - identity *and client*: `LOGIN_MAX_FAILURES`. A stranger guessing from their own address
//!   uses up their own bucket, never the owner's (the owner signs in from another client);
//! - identity from all clients: `LOGIN_IDENTITY_MAX_FAILURES`, looser, against guessing from
//!   many addresses. Once used up, it lets one attempt through every window / ceiling (GCRA),
//!   so even then the owner is slowed, not locked out for the whole window.
//!
//! And, before both, the client's attempts of any identity (`AUTH_PER_IP_PER_MINUTE`), so one
//! address cannot try many identities instead.
//!
//! An attempt is counted atomically (one Redis script, or under the key's lock in memory)
//! *before* its password is verified ([`super::Limits::begin_login`]): a burst of concurrent
//! attempts gets at most the limit verified, on any number of instances, where checking first
//! and counting after the slow hash let every attempt of a burst through. An attempt whose
//! password was never verified (database error, hashing queue full) is given back
//! ([`LoginAttempt::refund`]); a success clears the identity-and-client bucket, so a user who
//! types the right password is never locked out by their own typos, and gives back its token
//! of the identity bucket (which keeps other clients' failures).

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{Limits, Rate, client_ip};
use crate::error::AppResult;

/// One counted login attempt, to settle once the password has been checked.
pub struct LoginAttempt {
    limits: Limits,
    pair_key: String,
    identity_key: String,
}

impl Limits {
    /// Counts a login attempt of `email` (a `kind` of account of `scope`: a shop id, or
    /// `platform`) from the current client; 429 `rate_limited` if a limit is used up. Call
    /// before verifying the password; settle with [`LoginAttempt::succeeded`] or
    /// [`LoginAttempt::refund`], or drop it to leave the failure counted.
    pub async fn begin_login(
        &self,
        scope: &str,
        kind: &str,
        email: &str,
    ) -> AppResult<LoginAttempt> {
        self.auth_attempt().await?;
        let identity = identity_hash(email);
        let client = client_ip::limit_key(client_ip::current());
        let attempt = LoginAttempt {
            limits: self.clone(),
            identity_key: format!("rl:{{{scope}}}:login:{kind}:{identity}"),
            pair_key: format!("rl:{{{scope}}}:login:{kind}:{identity}:{client}"),
        };
        self.take("login_client", &attempt.pair_key, attempt.pair_rate()).await?;
        if let Err(refused) =
            self.take("login_identity", &attempt.identity_key, attempt.identity_rate()).await
        {
            self.inner.store.take(&attempt.pair_key, attempt.pair_rate(), -1).await;
            return Err(refused);
        }
        Ok(attempt)
    }
}

impl LoginAttempt {
    fn window(&self) -> Duration {
        Duration::from_secs(self.limits.inner.config.login_window_secs)
    }

    fn pair_rate(&self) -> Rate {
        Rate { limit: self.limits.inner.config.login_max_failures, period: self.window() }
    }

    fn identity_rate(&self) -> Rate {
        Rate { limit: self.limits.inner.config.login_identity_max_failures, period: self.window() }
    }

    /// The password was right: this client's failures of the identity are forgotten.
    pub async fn succeeded(self) {
        let store = &self.limits.inner.store;
        store.clear(&self.pair_key).await;
        store.take(&self.identity_key, self.identity_rate(), -1).await;
    }

    /// The password was never verified: the attempt is not a failure.
    pub async fn refund(self) {
        let store = &self.limits.inner.store;
        store.take(&self.pair_key, self.pair_rate(), -1).await;
        store.take(&self.identity_key, self.identity_rate(), -1).await;
    }
}

/// The identity in keys: a hash of the trimmed, lowercased e-mail (no addresses in Redis).
fn identity_hash(email: &str) -> String {
    let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
    hex::encode(&digest[..16])
}
