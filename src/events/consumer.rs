//! What the worker runs: consumers of outbox rows and hourly housekeeping, both implemented by
//! the domains and registered by the server.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgConnection;
use tracing::Instrument;

use super::OutboxRow;
use crate::error::AppResult;
use crate::tenancy::Tenant;

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

/// What a consumer's batch came to: one outcome per row, in row order, and what the consumer
/// wants written together with them (in the worker's outcome transaction), if anything.
pub struct Handled {
    pub outcomes: Vec<Outcome>,
    pub record: Option<Box<dyn BatchRecord>>,
}

impl From<Vec<Outcome>> for Handled {
    fn from(outcomes: Vec<Outcome>) -> Self {
        Self { outcomes, record: None }
    }
}

/// Written in the same transaction as a batch's outcomes (the webhook consumer's attempt log),
/// so nobody sees an attempt without its row's new state.
#[async_trait]
pub trait BatchRecord: Send {
    async fn write(self: Box<Self>, conn: &mut PgConnection) -> AppResult<()>;
}

/// Handles the outbox rows of one consumer name. Implementations are idempotent: a row can be
/// delivered more than once.
#[async_trait]
pub trait Consumer: Send + Sync {
    /// The name in `outbox.consumer` (its [`super::Subscription`] writes rows under it).
    fn name(&self) -> &'static str;

    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::default()
    }

    /// One row. Consumers that override [`Consumer::handle_batch`] need not implement it.
    async fn handle(&self, _tenant: &Tenant, row: &OutboxRow) -> anyhow::Result<()> {
        Err(anyhow::anyhow!("{} handles rows in batches only", row.consumer))
    }

    /// A batch of one shop's claimed rows, in id order, with no transaction open. Returns one
    /// outcome per row, in the same order. By default, each row in turn through
    /// [`Consumer::handle`] (in the row's `outbox.event` span), so order is kept.
    async fn handle_batch(&self, tenant: &Tenant, rows: &[&OutboxRow]) -> Handled {
        let mut outcomes = Vec::with_capacity(rows.len());
        for row in rows {
            let handled = self.handle(tenant, row).instrument(super::trace::row_span(tenant, row));
            outcomes.push(match handled.await {
                Ok(()) => Outcome::Done,
                Err(err) => Outcome::Failed(format!("{err:#}")),
            });
        }
        outcomes.into()
    }
}

/// Work done once an hour in each live shop, inside its `TenantTx` (expired carts, keys, …).
#[async_trait]
pub trait Housekeeping: Send + Sync {
    fn name(&self) -> &'static str;
    async fn run(&self, conn: &mut PgConnection) -> AppResult<()>;
}

/// The consumers and housekeeping tasks the worker runs, by name.
#[derive(Clone, Default)]
pub struct Consumers {
    consumers: HashMap<&'static str, Arc<dyn Consumer>>,
    housekeeping: Vec<Arc<dyn Housekeeping>>,
}

impl Consumers {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, consumer: impl Consumer + 'static) -> Self {
        self.consumers.insert(consumer.name(), Arc::new(consumer));
        self
    }

    pub fn with_housekeeping(mut self, task: impl Housekeeping + 'static) -> Self {
        self.housekeeping.push(Arc::new(task));
        self
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Consumer>> {
        self.consumers.get(name)
    }

    pub fn housekeeping(&self) -> &[Arc<dyn Housekeeping>] {
        &self.housekeeping
    }
}

#[cfg(test)]
mod tests {
    use super::RetryPolicy;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let delays: Vec<u64> = (1..=8).map(|n| policy.delay_after(n).as_secs()).collect();
        assert_eq!(delays, [120, 240, 480, 960, 1920, 3840, 7200, 7200]);
        let total: u64 = delays[..7].iter().sum();
        assert_eq!(total, 14_760, "the 8th attempt comes about 4 h after the first");
    }
}
