//! The outbox worker: delivers each shop's outbox rows to their consumers.
//!
//! Wake-ups: a `NOTIFY shopfleet_outbox` (forwarded by the change listener) queues the shop;
//! once a second, shops whose retries are due are read from `platform.outbox_schedule` (one
//! query, however many shops); shortly after start-up and every [`SWEEP_INTERVAL`] a slow
//! sweep visits every live shop, to recover rows whose notification was missed (a restart).
//!
//! Processing a shop: claim up to [`BATCH`] due rows with `FOR UPDATE SKIP LOCKED` and a
//! lease (short transaction), run the consumers with no transaction open, then record each
//! outcome (short transaction). Each consumer gets its own rows as one batch (consumers run
//! side by side, each in row order) and retries with its own policy; after `max_attempts` a
//! row is dead-lettered. Afterwards the shop's next due time (a retry, or the end of a lease
//! held by a worker that died) goes to `outbox_schedule`.
//!
//! Housekeeping: once an hour, started and stopped with the worker (`events::cleanup`).
//!
//! Stopping (the server's graceful shutdown): no batch is claimed after the stop; a batch in
//! hand gets a grace to finish and record its outcomes, after which it is abandoned and its
//! rows are released ([`release`]): due at once for another instance or the next start, not
//! after their lease. A consumer may have delivered some of them already: those are delivered
//! again, as at-least-once allows.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use uuid::Uuid;

use super::{BatchRecord, Consumers, Handled, OutboxRow, Outcome, RetryPolicy, cleanup};
use crate::telemetry::metrics;
use crate::tenancy::DbPool;
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
    pool: DbPool,
    consumers: Arc<Consumers>,
    receiver: mpsc::UnboundedReceiver<ShopId>,
    waker: OutboxWaker,
}

impl OutboxWorker {
    pub fn new(pool: DbPool, consumers: Arc<Consumers>) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Self { pool, consumers, receiver, waker: OutboxWaker { sender } }
    }

    pub fn waker(&self) -> OutboxWaker {
        self.waker.clone()
    }

    /// Runs until `stop` is cancelled; then claims nothing more, gives each batch in hand
    /// `grace` to finish (or releases its rows) and returns when none is left.
    pub async fn run(mut self, stop: CancellationToken, grace: Duration) {
        let queued = Arc::new(Mutex::new(HashMap::<ShopId, bool>::new()));
        let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_SHOPS));
        let loops = [
            tokio::spawn(sweep_loop(self.pool.clone(), self.waker.clone())),
            tokio::spawn(schedule_loop(self.pool.clone(), self.waker.clone())),
            tokio::spawn(cleanup::run(self.pool.clone(), self.consumers.clone())),
        ];
        let shops = TaskTracker::new();
        loop {
            let shop = tokio::select! {
                shop = self.receiver.recv() => match shop {
                    Some(shop) => shop,
                    None => break,
                },
                () = stop.cancelled() => break,
            };
            {
                // A shop being processed is only marked: its task makes one more pass before it
                // stops, so rows committed during a pass are never left waiting for the sweep.
                let mut queued = queued.lock().await;
                if let Some(woken_again) = queued.get_mut(&shop) {
                    *woken_again = true;
                    continue;
                }
                queued.insert(shop, false);
            }
            let (pool, consumers, queued) =
                (self.pool.clone(), self.consumers.clone(), queued.clone());
            let (permits, stop) = (permits.clone(), stop.clone());
            shops.spawn(async move {
                let permit = tokio::select! {
                    permit = permits.acquire() => permit,
                    () = stop.cancelled() => return,
                };
                let Ok(_permit) = permit else { return };
                loop {
                    let cut_off = async {
                        stop.cancelled().await;
                        tokio::time::sleep(grace).await;
                    };
                    let full = match process_batch(&pool, &consumers, shop, cut_off).await {
                        Ok(full) => full,
                        Err(err) => {
                            tracing::error!(shop = %shop, error = %err, "outbox processing failed");
                            false
                        }
                    };
                    if stop.is_cancelled() {
                        break;
                    }
                    if full {
                        continue; // there may be more
                    }
                    let mut queued = queued.lock().await;
                    match queued.get_mut(&shop) {
                        Some(woken_again) if *woken_again => *woken_again = false,
                        _ => {
                            queued.remove(&shop);
                            break;
                        }
                    }
                }
            });
        }
        for task in loops {
            task.abort();
            let _ = task.await;
        }
        shops.close();
        shops.wait().await;
    }
}

async fn load_tenant(pool: &DbPool, shop: ShopId) -> Result<Option<Tenant>, sqlx::Error> {
    Ok(load_tenants(pool, &["active", "suspended", "deleted"], Some(shop), None).await?.pop())
}

/// Processes one batch of a shop's due rows: claim, hand to the consumers, record the outcomes,
/// schedule the next retry. Returns whether the batch was full.
#[tracing::instrument(name = "outbox.process", skip_all, fields(shop_id = %shop))]
pub async fn process_shop(
    pool: &DbPool,
    consumers: &Consumers,
    shop: ShopId,
) -> anyhow::Result<bool> {
    process_batch(pool, consumers, shop, std::future::pending()).await
}

/// [`process_shop`], abandoning the consumers when `cut_off` resolves (the end of a shutdown's
/// grace): the batch's rows are then released rather than recorded.
async fn process_batch(
    pool: &DbPool,
    consumers: &Consumers,
    shop: ShopId,
    cut_off: impl Future<Output = ()>,
) -> anyhow::Result<bool> {
    let Some(tenant) = load_tenant(pool, shop).await? else {
        return Ok(false); // purged meanwhile
    };
    let rows = claim(pool, &tenant).await?;
    if rows.is_empty() {
        // Nothing due. Rows leased by a worker that then died are due when their lease runs
        // out: put that time in the schedule, as the worker would have after its batch.
        let mut tx = TenantTx::begin(pool, &tenant).await?;
        let next = next_due(&mut tx).await?;
        tx.commit().await?;
        schedule(pool, shop, next).await?;
        return Ok(false);
    }
    let claimed_at = chrono::Utc::now();
    for row in &rows {
        let consumer = consumers.get(&row.consumer).map_or("unknown", |c| c.name());
        let lag = (claimed_at - row.available_at).to_std().unwrap_or_default();
        metrics::outbox_lag(consumer, lag);
    }
    let (outcomes, records) = tokio::select! {
        handled = handle(consumers, &tenant, &rows) => handled,
        () = cut_off => {
            release(pool, &tenant, &rows).await?;
            tracing::warn!(shop = %tenant.slug, rows = rows.len(), "outbox batch cut off by shutdown; its rows are released");
            return Ok(false);
        }
    };

    let mut tx = TenantTx::begin(pool, &tenant).await?;
    let mut recorded = Vec::with_capacity(outcomes.len());
    for (row, outcome) in &outcomes {
        let consumer = consumers.get(&row.consumer);
        let policy = consumer.map(|c| c.retry_policy()).unwrap_or_default();
        let recorded_as = record(&mut tx, &tenant, row, outcome, policy).await?;
        recorded.push((consumer.map_or("unknown", |c| c.name()), recorded_as));
    }
    for extra in records {
        extra.write(&mut tx).await?;
    }
    let next = next_due(&mut tx).await?;
    tx.commit().await?;
    for (consumer, recorded_as) in recorded {
        metrics::outbox_handled(consumer, recorded_as);
    }
    schedule(pool, shop, next).await?;
    Ok(rows.len() as i64 == BATCH)
}

/// Gives back the rows of an abandoned batch: their lease ends now and the claim does not
/// count as an attempt; the shop is scheduled, so another instance (or the next start) takes
/// them at once. A row claimed again since (its lease ran out meanwhile) is left alone.
async fn release(pool: &DbPool, tenant: &Tenant, rows: &[OutboxRow]) -> anyhow::Result<()> {
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let attempts: Vec<i32> = rows.iter().map(|row| row.attempts).collect();
    let mut tx = TenantTx::begin(pool, tenant).await?;
    sqlx::query(
        "update outbox o set locked_until = null, attempts = greatest(o.attempts - 1, 0) \
         from unnest($1::uuid[], $2::int[]) as claimed(id, attempts) \
         where o.id = claimed.id and o.attempts = claimed.attempts \
         and o.processed_at is null and o.dead_at is null",
    )
    .bind(&ids)
    .bind(&attempts)
    .execute(&mut *tx)
    .await?;
    let next = next_due(&mut tx).await?;
    tx.commit().await?;
    schedule(pool, tenant.id, next).await
}

/// When the shop's next unprocessed row is due: its retry time, or the end of its lease.
async fn next_due(tx: &mut TenantTx) -> sqlx::Result<Option<chrono::DateTime<chrono::Utc>>> {
    sqlx::query_scalar(
        "select min(greatest(available_at, coalesce(locked_until, available_at))) from outbox \
         where processed_at is null and dead_at is null",
    )
    .fetch_one(&mut **tx)
    .await
}

/// Claims up to [`BATCH`] due rows under a lease (a short transaction), in id (commit) order.
async fn claim(pool: &DbPool, tenant: &Tenant) -> anyhow::Result<Vec<OutboxRow>> {
    let mut tx = TenantTx::begin(pool, tenant).await?;
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
    // `UPDATE … RETURNING` gives no order: put the batch back in id (commit) order.
    rows.sort_by_key(|row| row.id);
    Ok(rows)
}

/// Runs the consumers side by side with no transaction open, each on its rows in id order (one
/// row is finished before the next starts, so order is kept per consumer). Returns each row's
/// outcome and what the consumers want written with them.
async fn handle<'a>(
    consumers: &Consumers,
    tenant: &Tenant,
    rows: &'a [OutboxRow],
) -> (Vec<(&'a OutboxRow, Outcome)>, Vec<Box<dyn BatchRecord>>) {
    let mut groups: Vec<(&str, Vec<&OutboxRow>)> = Vec::new();
    for row in rows {
        match groups.iter_mut().find(|(name, _)| *name == row.consumer) {
            Some((_, group)) => group.push(row),
            None => groups.push((row.consumer.as_str(), vec![row])),
        }
    }
    let handled = futures::future::join_all(groups.iter().map(|(name, group)| async move {
        match consumers.get(name) {
            Some(consumer) => {
                let span = super::trace::batch_span(tenant, name, group);
                consumer.handle_batch(tenant, group).instrument(span).await
            }
            None => Handled::from(vec![
                Outcome::Failed(format!("unknown consumer {name}"));
                group.len()
            ]),
        }
    }))
    .await;
    let mut outcomes = Vec::with_capacity(rows.len());
    let mut records = Vec::new();
    for ((_, group), handled) in groups.iter().zip(handled) {
        let missing = group.len().saturating_sub(handled.outcomes.len());
        let padded = handled
            .outcomes
            .into_iter()
            .chain(std::iter::repeat_n(Outcome::Failed("no outcome".into()), missing));
        outcomes.extend(group.iter().copied().zip(padded));
        records.extend(handled.record);
    }
    (outcomes, records)
}

/// Records one row's outcome: done, a retry after the consumer's backoff, a dead letter, or a
/// deferral that does not count as an attempt. Returns which of these it was (`done`, `retry`,
/// `dead`, `deferred`).
async fn record(
    tx: &mut TenantTx,
    tenant: &Tenant,
    row: &OutboxRow,
    outcome: &Outcome,
    policy: RetryPolicy,
) -> anyhow::Result<&'static str> {
    Ok(match outcome {
        Outcome::Done => {
            sqlx::query("update outbox set processed_at = now(), locked_until = null, last_error = null where id = $1")
                .bind(row.id)
                .execute(&mut **tx)
                .await?;
            "done"
        }
        Outcome::Failed(error) | Outcome::Dead(error)
            if row.attempts >= policy.max_attempts || matches!(outcome, Outcome::Dead(_)) =>
        {
            tracing::warn!(shop = %tenant.slug, consumer = %row.consumer, kind = %row.kind, error = %error, "outbox row dead-lettered");
            sqlx::query("update outbox set dead_at = now(), locked_until = null, last_error = $2 where id = $1")
                .bind(row.id)
                .bind(error)
                .execute(&mut **tx)
                .await?;
            "dead"
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
            .execute(&mut **tx)
            .await?;
            "retry"
        }
        Outcome::Deferred(delay) => {
            sqlx::query(
                "update outbox set attempts = greatest(attempts - 1, 0), available_at = now() + make_interval(secs => $2), \
                 locked_until = null where id = $1",
            )
            .bind(row.id)
            .bind(delay.as_secs_f64())
            .execute(&mut **tx)
            .await?;
            "deferred"
        }
    })
}

/// Remembers when this shop next has work, so the once-a-second check finds it.
async fn schedule(
    pool: &DbPool,
    shop: ShopId,
    next: Option<chrono::DateTime<chrono::Utc>>,
) -> anyhow::Result<()> {
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
    Ok(())
}

/// Makes every row of `consumer` that waits for a retry due now, for a consumer whose remote
/// service has just come back (search's health probe). Only shops listed in
/// `platform.outbox_schedule` can have such rows: one read of the schedule, one update in
/// each listed shop, then those shops are made due in the schedule, so the once-a-second check
/// delivers their rows (in commit order, as always). Dead-lettered rows stay dead. Returns the
/// rows made due.
pub async fn make_due_now(pool: &DbPool, consumer: &str) -> anyhow::Result<u64> {
    let shops: Vec<Uuid> =
        sqlx::query_scalar("select shop_id from platform.outbox_schedule").fetch_all(pool).await?;
    let (mut due, mut woken) = (0, Vec::new());
    for id in shops {
        match make_shop_rows_due(pool, ShopId(id), consumer).await {
            Ok(0) => {}
            Ok(rows) => {
                due += rows;
                woken.push(id);
            }
            Err(err) => tracing::warn!(shop = %id, error = %err, "making outbox rows due failed"),
        }
    }
    sqlx::query(
        "update platform.outbox_schedule set next_at = now() where shop_id = any($1) and next_at > now()",
    )
    .bind(&woken)
    .execute(pool)
    .await?;
    Ok(due)
}

async fn make_shop_rows_due(pool: &DbPool, shop: ShopId, consumer: &str) -> anyhow::Result<u64> {
    let Some(tenant) = load_tenant(pool, shop).await? else { return Ok(0) };
    let mut tx = TenantTx::begin(pool, &tenant).await?;
    let rows = sqlx::query(
        "update outbox set available_at = now() where consumer = $1 \
         and processed_at is null and dead_at is null and available_at > now()",
    )
    .bind(consumer)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(rows)
}

/// Once a second: queue the shops whose retries are due.
async fn schedule_loop(pool: DbPool, waker: OutboxWaker) {
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
async fn sweep_loop(pool: DbPool, waker: OutboxWaker) {
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
