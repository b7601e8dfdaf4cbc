//! The outbox worker: delivers each shop's outbox rows to their consumers.
//!
//! Wake-ups: a `NOTIFY shopfleet_outbox` (forwarded by the change listener) queues the shop;
//! once a second, shops whose retries are due are read from `platform.outbox_schedule` (one
//! query, however many shops); shortly after start-up and every [`SWEEP_INTERVAL`] a slow
//! sweep visits every live shop, to recover rows whose notification was missed (a restart).
//!
//! Processing a shop: claim up to [`BATCH`] due rows with `FOR UPDATE SKIP LOCKED` and a
//! lease (short transaction), run the consumers with no transaction open, then record each
//! outcome (short transaction). Failures back off exponentially; after `max_attempts` the row
//! is dead-lettered. Webhook rows go through [`crate::webhooks::delivery::deliver_batch`] and
//! use the webhook retry policy from the configuration; every other consumer keeps the policy
//! given to the worker. Afterwards the shop's next retry time goes to `outbox_schedule`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{Mutex, mpsc};
use uuid::Uuid;

use super::OutboxRow;
use super::consumers::{Consumer, ConsumerContext};
use crate::tenancy::registry::load_tenants;
use crate::tenancy::{ShopId, Tenant, TenantTx};

const BATCH: i64 = 50;
/// How long a claimed row stays invisible to other workers.
const LEASE_SECS: i64 = 120;
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// The first sweep waits this long after start-up, so that short-lived processes (a CLI
/// command, a test) do not sweep; rows missed during a restart are delivered within a minute.
const FIRST_SWEEP_AFTER: Duration = Duration::from_secs(60);
/// Shops processed at once by one instance.
const CONCURRENT_SHOPS: usize = 8;
/// Processed rows are kept this long for inspection, then deleted.
const RETENTION_DAYS: i32 = 7;

/// Retry policy: attempt `n` (1-based) failing waits `base * 2^(n-1)`, capped.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: i32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts, waiting 2, 4, 8, 16, 32, 64 and 120 minutes between them: the last one
    /// about 4 h 6 min after the first, then dead-lettered.
    fn default() -> Self {
        Self { max_attempts: 8, base: Duration::from_secs(120), cap: Duration::from_secs(7200) }
    }
}

impl RetryPolicy {
    pub fn delay_after(&self, attempts: i32) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
        self.base.saturating_mul(2u32.saturating_pow(exponent)).min(self.cap)
    }
}

/// What became of one claimed row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Retried after the consumer's backoff, or dead-lettered after its last attempt.
    Failed(String),
    /// Dead-lettered at once: no retry can help (the webhook endpoint is gone or disabled).
    Dead(String),
    /// Not attempted (a batch's time budget, an endpoint that just failed): due again after
    /// the delay, and the claim does not count as an attempt.
    Deferred(Duration),
}

/// Handle to queue shops for the worker.
#[derive(Clone)]
pub struct OutboxWaker {
    sender: mpsc::UnboundedSender<ShopId>,
}

impl OutboxWaker {
    pub fn wake(&self, shop: ShopId) {
        // A closed channel means the worker is gone (shutdown): nothing to do.
        let _ = self.sender.send(shop);
    }
}

pub struct OutboxWorker {
    pool: PgPool,
    context: Arc<ConsumerContext>,
    policy: RetryPolicy,
    receiver: mpsc::UnboundedReceiver<ShopId>,
    waker: OutboxWaker,
}

impl OutboxWorker {
    pub fn new(pool: PgPool, context: Arc<ConsumerContext>, policy: RetryPolicy) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Self { pool, context, policy, receiver, waker: OutboxWaker { sender } }
    }

    pub fn waker(&self) -> OutboxWaker {
        self.waker.clone()
    }

    /// Runs for the life of the server.
    pub async fn run(mut self) {
        let queued = Arc::new(Mutex::new(HashSet::new()));
        let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_SHOPS));
        tokio::spawn(sweep_loop(self.pool.clone(), self.waker.clone()));
        tokio::spawn(schedule_loop(self.pool.clone(), self.waker.clone()));
        tokio::spawn(cleanup_loop(self.pool.clone()));
        while let Some(shop) = self.receiver.recv().await {
            if !queued.lock().await.insert(shop) {
                continue; // already being processed; its loop picks the new rows up
            }
            let (pool, context, policy, queued) =
                (self.pool.clone(), self.context.clone(), self.policy, queued.clone());
            let permits = permits.clone();
            tokio::spawn(async move {
                let Ok(_permit) = permits.acquire().await else { return };
                loop {
                    match process_shop(&pool, &context, policy, shop).await {
                        Ok(true) => continue, // a full batch: there may be more
                        Ok(false) => break,
                        Err(err) => {
                            tracing::error!(shop = %shop, error = %err, "outbox processing failed");
                            break;
                        }
                    }
                }
                queued.lock().await.remove(&shop);
            });
        }
    }
}

async fn load_tenant(pool: &PgPool, shop: ShopId) -> Result<Option<Tenant>, sqlx::Error> {
    Ok(load_tenants(pool, &["active", "suspended", "deleted"], Some(shop), None).await?.pop())
}

/// Processes one batch of a shop's due rows. Returns whether the batch was full.
pub async fn process_shop(
    pool: &PgPool,
    context: &ConsumerContext,
    policy: RetryPolicy,
    shop: ShopId,
) -> anyhow::Result<bool> {
    let Some(tenant) = load_tenant(pool, shop).await? else {
        return Ok(false); // purged meanwhile
    };

    let mut tx = TenantTx::begin(pool, &tenant).await?;
    let mut rows: Vec<OutboxRow> = sqlx::query_as(
        "update outbox set locked_until = now() + make_interval(secs => $1), attempts = attempts + 1 \
         where id in (select id from outbox where processed_at is null and dead_at is null \
                      and available_at <= now() and (locked_until is null or locked_until < now()) \
                      order by id limit $2 for update skip locked) \
         returning *",
    )
    .bind(LEASE_SECS as f64)
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    if rows.is_empty() {
        // Nothing due; rows waiting for a retry are already in the schedule.
        return Ok(false);
    }
    // `UPDATE … RETURNING` gives no order: put the batch back in id (commit) order.
    rows.sort_by_key(|row| row.id);

    // Consumers run with no transaction open. Rows are in id order; order is kept per
    // consumer (per endpoint for webhooks) because each row is finished before the next starts.
    let (webhook_rows, other_rows): (Vec<&OutboxRow>, Vec<&OutboxRow>) =
        rows.iter().partition(|row| row.consumer == Consumer::Webhook.name());
    let mut outcomes: Vec<(&OutboxRow, Outcome)> = Vec::with_capacity(rows.len());
    for row in other_rows {
        let result = match Consumer::parse(&row.consumer) {
            Some(consumer) => consumer.handle(context, &tenant, row).await,
            None => Err(anyhow::anyhow!("unknown consumer {}", row.consumer)),
        };
        outcomes.push((
            row,
            result.map_or_else(|err| Outcome::Failed(format!("{err:#}")), |()| Outcome::Done),
        ));
    }
    let mut attempts = Vec::new();
    if !webhook_rows.is_empty() {
        match crate::webhooks::delivery::deliver_batch(
            &context.webhooks,
            pool,
            &tenant,
            &webhook_rows,
        )
        .await
        {
            Ok(delivered) => {
                for item in delivered {
                    attempts.extend(item.attempt);
                    outcomes.push((item.row, item.outcome));
                }
            }
            Err(err) => outcomes
                .extend(webhook_rows.iter().map(|row| (*row, Outcome::Failed(format!("{err:#}"))))),
        }
    }

    let mut tx = TenantTx::begin(pool, &tenant).await?;
    for (row, outcome) in &outcomes {
        let policy = if row.consumer == Consumer::Webhook.name() {
            context.webhooks.policy()
        } else {
            policy
        };
        match outcome {
            Outcome::Done => {
                sqlx::query("update outbox set processed_at = now(), locked_until = null, last_error = null where id = $1")
                    .bind(row.id)
                    .execute(&mut *tx)
                    .await?;
            }
            Outcome::Failed(error) | Outcome::Dead(error)
                if row.attempts >= policy.max_attempts || matches!(outcome, Outcome::Dead(_)) =>
            {
                tracing::warn!(shop = %tenant.slug, consumer = %row.consumer, kind = %row.kind, error = %error, "outbox row dead-lettered");
                sqlx::query("update outbox set dead_at = now(), locked_until = null, last_error = $2 where id = $1")
                    .bind(row.id)
                    .bind(error)
                    .execute(&mut *tx)
                    .await?;
            }
            Outcome::Failed(error) | Outcome::Dead(error) => {
                let delay = policy.delay_after(row.attempts);
                tracing::info!(shop = %tenant.slug, consumer = %row.consumer, attempt = row.attempts, retry_in_s = delay.as_secs(), error = %error, "outbox delivery failed");
                sqlx::query(
                    "update outbox set available_at = now() + make_interval(secs => $2), locked_until = null, \
                     last_error = $3 where id = $1",
                )
                .bind(row.id)
                .bind(delay.as_secs_f64())
                .bind(error)
                .execute(&mut *tx)
                .await?;
            }
            Outcome::Deferred(delay) => {
                sqlx::query(
                    "update outbox set attempts = greatest(attempts - 1, 0), available_at = now() + make_interval(secs => $2), \
                     locked_until = null where id = $1",
                )
                .bind(row.id)
                .bind(delay.as_secs_f64())
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    crate::webhooks::delivery::record_attempts(&mut tx, &attempts).await?;
    let next: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("select min(greatest(available_at, coalesce(locked_until, available_at))) from outbox where processed_at is null and dead_at is null")
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;

    // Remember when this shop next has work, so the once-a-second check finds it.
    match next {
        Some(at) => {
            sqlx::query(
                "insert into platform.outbox_schedule (shop_id, next_at) values ($1, $2) \
                 on conflict (shop_id) do update set next_at = excluded.next_at",
            )
            .bind(shop)
            .bind(at)
            .execute(pool)
            .await?;
        }
        None => {
            sqlx::query("delete from platform.outbox_schedule where shop_id = $1")
                .bind(shop)
                .execute(pool)
                .await?;
        }
    }
    Ok(rows.len() as i64 == BATCH)
}

/// Once a second: queue the shops whose retries are due.
async fn schedule_loop(pool: PgPool, waker: OutboxWaker) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        match sqlx::query_scalar::<_, Uuid>(
            "select shop_id from platform.outbox_schedule where next_at <= now() limit 1000",
        )
        .fetch_all(&pool)
        .await
        {
            Ok(shops) => shops.into_iter().for_each(|id| waker.wake(ShopId(id))),
            Err(err) => tracing::warn!(error = %err, "outbox schedule check failed"),
        }
    }
}

/// At start-up and then every [`SWEEP_INTERVAL`]: queue every live shop, paced, so rows whose
/// notification was missed are delivered too.
async fn sweep_loop(pool: PgPool, waker: OutboxWaker) {
    tokio::time::sleep(FIRST_SWEEP_AFTER).await;
    loop {
        match sqlx::query_scalar::<_, Uuid>(
            "select id from platform.shops where status in ('active', 'suspended', 'deleted')",
        )
        .fetch_all(&pool)
        .await
        {
            Ok(shops) => {
                for id in shops {
                    waker.wake(ShopId(id));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            Err(err) => tracing::warn!(error = %err, "outbox sweep failed"),
        }
        tokio::time::sleep(SWEEP_INTERVAL).await;
    }
}

/// Once an hour, shop by shop: delete processed rows past the retention period, expired guest
/// carts and expired idempotency keys.
async fn cleanup_loop(pool: PgPool) {
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        let shops = sqlx::query_scalar::<_, Uuid>(
            "select id from platform.shops where status in ('active', 'suspended')",
        )
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
        for id in shops {
            let Ok(Some(tenant)) = load_tenant(&pool, ShopId(id)).await else { continue };
            let result = async {
                let mut tx = TenantTx::begin(&pool, &tenant).await?;
                sqlx::query(
                    "delete from outbox where processed_at < now() - make_interval(days => $1)",
                )
                .bind(RETENTION_DAYS)
                .execute(&mut *tx)
                .await?;
                // Carts and idempotency keys arrive with tenant migration 0007.
                let commerce: bool =
                    sqlx::query_scalar("select to_regclass('idempotency_keys') is not null")
                        .fetch_one(&mut *tx)
                        .await?;
                if commerce {
                    crate::cart::delete_expired(&mut tx).await?;
                    crate::idempotency::delete_expired(&mut tx).await?;
                }
                tx.commit().await.map_err(crate::error::AppError::from)
            }
            .await;
            if let Err(err) = result {
                tracing::warn!(shop = %tenant.slug, error = %err, "outbox cleanup failed");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let delays: Vec<u64> = (1..=8).map(|n| policy.delay_after(n).as_secs()).collect();
        assert_eq!(delays, [120, 240, 480, 960, 1920, 3840, 7200, 7200]);
        let total: u64 = delays[..7].iter().sum();
        assert_eq!(total, 14_760, "the 8th attempt comes about 4 h after the first");
    }
}
