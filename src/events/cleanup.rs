//! Outbox housekeeping, started by the worker: once an hour, shop by shop, processed rows past
//! their retention are deleted and every registered [`Housekeeping`](super::Housekeeping) task
//! runs, each shop in one transaction.
//!
//! Rule: everything it does may be cut short and done again an hour later (the worker aborts it
//! when it stops).

use std::sync::Arc;
use std::time::Duration;

use crate::tenancy::DbPool;
use uuid::Uuid;

use super::Consumers;
use crate::error::{AppError, AppResult};
use crate::tenancy::registry::load_tenants;
use crate::tenancy::{ShopId, Tenant, TenantTx};

/// Processed rows are kept this long for inspection, then deleted.
const RETENTION_DAYS: i32 = 7;

/// Runs until the worker aborts it.
pub async fn run(pool: DbPool, consumers: Arc<Consumers>) {
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        let shops = sqlx::query_scalar::<_, Uuid>(
            "select id from platform.shops where status in ('active', 'suspended')",
        )
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
        for id in shops {
            let live = &["active", "suspended"];
            let Ok(Some(tenant)) =
                load_tenants(&pool, live, Some(ShopId(id)), None).await.map(|mut t| t.pop())
            else {
                continue;
            };
            if let Err(err) = clean_shop(&pool, &consumers, &tenant).await {
                tracing::warn!(shop = %tenant.slug, error = %err, "outbox cleanup failed");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn clean_shop(pool: &DbPool, consumers: &Consumers, tenant: &Tenant) -> AppResult<()> {
    let mut tx = TenantTx::begin(pool, tenant).await?;
    sqlx::query("delete from outbox where processed_at < now() - make_interval(days => $1)")
        .bind(RETENTION_DAYS)
        .execute(&mut *tx)
        .await?;
    for task in consumers.housekeeping() {
        task.run(&mut tx).await.map_err(|err| {
            AppError::Internal(anyhow::anyhow!("housekeeping {}: {err}", task.name()))
        })?;
    }
    tx.commit().await?;
    Ok(())
}
