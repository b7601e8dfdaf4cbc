//! Side effects through a transactional outbox. This module is infrastructure: it knows no
//! domain. Domains describe what they consume; the server's composition root registers them.
//!
//! - **Emitting.** A change and the event describing it are written in the same `TenantTx`
//!   ([`emit`], the only code that inserts outbox rows, with [`emit_to`]): one row per
//!   registered [`Subscription`] that wants the [`EventKind`], or one per target for
//!   subscriptions that fan out (webhook endpoints), and a `NOTIFY shopfleet_outbox` with the
//!   shop id, which PostgreSQL delivers only if the transaction commits.
//! - **Consuming.** The [`worker`] started by `serve` wakes on that notification, claims due
//!   rows with `FOR UPDATE SKIP LOCKED` and a lease (several instances cooperate), hands each
//!   consumer's rows to its [`Consumer`] outside any transaction, and records success, a retry
//!   with the consumer's backoff, or a dead letter. Delivery is at least once: consumers are
//!   idempotent.
//! - **Housekeeping.** Hourly per-shop clean-ups ([`Housekeeping`]) registered the same way.
//! - **Tracing.** A row keeps the trace context of the transaction that wrote it, and its
//!   handling continues that trace ([`trace`]).
//!
//! Fan-out happens at emit time (commit time), not at claim time as svix does: each consumer
//! and each webhook endpoint then owns its row, with its own retries, and an event's rows are
//! all known when its transaction commits, so a worker restart loses nothing and "the
//! deliveries of this event" is a plain query. The cost is one read of the subscribed
//! endpoints inside the change's transaction.
//!
//! Rule: never perform a side effect (network call, index write, object deletion) inside a
//! request's transaction; emit an event instead. And never import a domain here.

mod cleanup;
mod consumer;
mod kind;
pub mod trace;
pub mod worker;

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

pub use consumer::{BatchRecord, Consumer, Consumers, Handled, Housekeeping, Outcome, RetryPolicy};
pub use kind::EventKind;

use crate::error::{AppError, AppResult};
use crate::tenancy::ShopId;

/// Channel of "this shop has new outbox rows" (payload: the shop id).
pub const OUTBOX_CHANNEL: &str = "shopfleet_outbox";

/// Which events a consumer receives: static routing, the same in every process, read by
/// [`emit`] inside the change's transaction.
#[async_trait]
pub trait Subscription: Send + Sync {
    /// The consumer's name, stored in `outbox.consumer`; its [`Consumer`] has the same name.
    fn consumer(&self) -> &'static str;
    fn wants(&self, kind: EventKind) -> bool;
    /// The rows one event of `kind` becomes: one (the default), or one per target for a
    /// consumer that delivers to several (webhook endpoints), read in the caller's transaction.
    async fn targets(&self, _conn: &mut PgConnection, _kind: EventKind) -> AppResult<Targets> {
        Ok(Targets::One)
    }
}

/// See [`Subscription::targets`].
pub enum Targets {
    One,
    /// One row per id, stored in `outbox.endpoint_id`; none when empty.
    Each(Vec<Uuid>),
}

static SUBSCRIPTIONS: OnceLock<Vec<Arc<dyn Subscription>>> = OnceLock::new();

/// Installs the routing table, once per process (the server's composition root does it before
/// anything can emit; later calls with the same table change nothing).
pub fn register_subscriptions(subscriptions: Vec<Arc<dyn Subscription>>) {
    let _ = SUBSCRIPTIONS.set(subscriptions);
}

fn subscriptions() -> AppResult<&'static [Arc<dyn Subscription>]> {
    SUBSCRIPTIONS.get().map(Vec::as_slice).ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("outbox subscriptions are not registered"))
    })
}

/// Records `kind` with `payload` for every subscription that wants it, in the caller's
/// transaction. Returns the event id (shared by all its rows), or `None` if nothing wants it.
pub async fn emit(
    conn: &mut PgConnection,
    shop: ShopId,
    kind: EventKind,
    payload: Value,
) -> AppResult<Option<Uuid>> {
    let event_id = Uuid::now_v7();
    let mut written = 0;
    for subscription in subscriptions()?.iter().filter(|s| s.wants(kind)) {
        let targets = match subscription.targets(conn, kind).await? {
            Targets::One => vec![None],
            Targets::Each(ids) => ids.into_iter().map(Some).collect(),
        };
        insert_rows(conn, event_id, subscription.consumer(), kind, &payload, &targets).await?;
        written += targets.len();
    }
    if written == 0 {
        return Ok(None);
    }
    notify(conn, shop).await?;
    Ok(Some(event_id))
}

/// Records `kind` for one consumer and target only, whatever it subscribes to (a webhook
/// endpoint's test event), and wakes the workers. Returns the event id.
pub async fn emit_to(
    conn: &mut PgConnection,
    shop: ShopId,
    consumer: &'static str,
    target: Uuid,
    kind: EventKind,
    payload: &Value,
) -> AppResult<Uuid> {
    let event_id = Uuid::now_v7();
    insert_rows(conn, event_id, consumer, kind, payload, &[Some(target)]).await?;
    notify(conn, shop).await?;
    Ok(event_id)
}

async fn insert_rows(
    conn: &mut PgConnection,
    event_id: Uuid,
    consumer: &str,
    kind: EventKind,
    payload: &Value,
    targets: &[Option<Uuid>],
) -> AppResult<()> {
    if targets.is_empty() {
        return Ok(());
    }
    // Time-ordered ids: the worker claims rows in id order.
    let ids: Vec<Uuid> = targets.iter().map(|_| Uuid::now_v7()).collect();
    // Shops before tenant migration 8 have no `endpoint_id` column (expand/contract): rows
    // without a target do not name it.
    let untargeted = targets.iter().all(Option::is_none);
    let query = sqlx::query(if untargeted {
        "insert into outbox (id, event_id, consumer, kind, payload) \
         select id, $2, $3, $4, $5 from unnest($1::uuid[]) as t (id)"
    } else {
        "insert into outbox (id, event_id, consumer, kind, payload, endpoint_id) \
         select id, $2, $3, $4, $5, target from unnest($1::uuid[], $6::uuid[]) as t (id, target)"
    })
    .bind(&ids)
    .bind(event_id)
    .bind(consumer)
    .bind(kind)
    .bind(payload);
    let query = if untargeted { query } else { query.bind(targets) };
    query.execute(conn).await?;
    Ok(())
}

/// `NOTIFY`s the workers that `shop` has new outbox rows; PostgreSQL delivers it at commit.
async fn notify(conn: &mut PgConnection, shop: ShopId) -> AppResult<()> {
    sqlx::query("select pg_notify($1, $2)")
        .bind(OUTBOX_CHANNEL)
        .bind(shop.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// One outbox row as a consumer sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: Uuid,
    pub event_id: Uuid,
    pub consumer: String,
    pub kind: EventKind,
    pub payload: Value,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    /// When the row became due (its commit, or its retry time).
    pub available_at: DateTime<Utc>,
    /// The target of a fanned-out row (a webhook endpoint). Absent from the table before tenant
    /// migration 8.
    #[sqlx(default)]
    pub endpoint_id: Option<Uuid>,
    /// The W3C traceparent of the transaction that wrote the row, when traces were exported
    /// ([`trace`]). Absent from the table before tenant migration 14.
    #[sqlx(default)]
    pub trace_context: Option<String>,
}
