//! Access tokens after logout. Access tokens stay short-lived JWTs (`ACCESS_TOKEN_TTL_SECS`,
//! 15 min by default), and each carries its session id (the refresh-token family, `sid`). The
//! token checkers ([`super::principal`]) ask [`SessionCheck`] whether that session was revoked
//! — by logout, by reuse of a spent refresh token, or with all of the account's sessions on the
//! removal of a staff member — and refuse the token with 401 `invalid_token` if so. The answer
//! is cached per instance for [`SESSION_CHECK_TTL`]: a logout takes effect at once on the
//! instance that handled it, and within that time on the others; one small query per session
//! and interval rather than one per request. Tokens without `sid` (issued by an earlier
//! version) are accepted until they expire.

use std::time::Duration;

use moka::future::Cache;
use uuid::Uuid;

use super::tokens;
use crate::error::{AppError, AppResult};
use crate::tenancy::{DbPool, ShopId, Tenant, TenantTx};

/// How long an instance trusts its last answer about a session it did not end itself.
pub const SESSION_CHECK_TTL: Duration = Duration::from_secs(10);

/// Whether the session of an access token was revoked (see the module documentation).
#[derive(Clone)]
pub struct SessionCheck {
    pool: DbPool,
    revoked: Cache<(ShopId, Uuid), bool>,
}

impl SessionCheck {
    pub fn new(pool: DbPool) -> Self {
        let revoked =
            Cache::builder().max_capacity(100_000).time_to_live(SESSION_CHECK_TTL).build();
        Self { pool, revoked }
    }

    pub async fn is_revoked(&self, tenant: &Tenant, session: Uuid) -> AppResult<bool> {
        let (pool, tenant_owned) = (self.pool.clone(), tenant.clone());
        self.revoked
            .try_get_with((tenant.id, session), async move {
                let mut tx = TenantTx::begin(&pool, &tenant_owned).await?;
                let revoked = tokens::is_revoked(&mut tx, session).await?;
                tx.commit().await?;
                Ok::<_, AppError>(revoked)
            })
            .await
            .map_err(|err| AppError::Internal(anyhow::anyhow!("checking a session: {err}")))
    }

    /// Records a session this instance has just revoked.
    pub async fn revoked(&self, shop: ShopId, session: Uuid) {
        self.revoked.insert((shop, session), true).await;
    }
}
