//! Side effects through a transactional outbox (DESIGN.md §1).
//!
//! A change and the event describing it are written in the same `TenantTx` ([`emit`]): one
//! outbox row per consumer that wants the event kind ([`consumers::for_kind`]) and per webhook
//! endpoint subscribed to it ([`crate::webhooks::fan_out`]), and a
//! `NOTIFY shopfleet_outbox` with the shop id, delivered by PostgreSQL only if the transaction
//! commits. The [`worker`] started by `serve` wakes on that notification, claims due rows with
//! `FOR UPDATE SKIP LOCKED` and a lease (several instances cooperate), runs each consumer
//! outside any transaction, and records success, a retry with exponential backoff, or a dead
//! letter. Delivery is at least once: consumers are idempotent.
//!
//! Rule: never perform a side effect (network call, index write, object deletion) inside a
//! request's transaction; emit an event instead.

pub mod consumers;
pub mod worker;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::AppResult;
use crate::tenancy::ShopId;

/// Channel of "this shop has new outbox rows" (payload: the shop id).
pub const OUTBOX_CHANNEL: &str = "shopfleet_outbox";

/// Records `kind` with `payload` for every consumer of that kind, in the caller's transaction,
/// and for every webhook endpoint subscribed to it ([`crate::webhooks::fan_out`]). Returns the
/// event id (shared by all its rows), or `None` if nothing wants it.
pub async fn emit(
    conn: &mut PgConnection,
    shop: ShopId,
    kind: &str,
    payload: Value,
) -> AppResult<Option<Uuid>> {
    let consumers = consumers::for_kind(kind);
    let to_webhooks = crate::webhooks::wants(kind);
    if consumers.is_empty() && !to_webhooks {
        return Ok(None);
    }
    let event_id = Uuid::now_v7();
    for consumer in &consumers {
        sqlx::query("insert into outbox (id, event_id, consumer, kind, payload) values ($1, $2, $3, $4, $5)")
            .bind(Uuid::now_v7())
            .bind(event_id)
            .bind(consumer.name())
            .bind(kind)
            .bind(&payload)
            .execute(&mut *conn)
            .await?;
    }
    let endpoints = if to_webhooks {
        crate::webhooks::fan_out(conn, event_id, kind, &payload).await?
    } else {
        0
    };
    if consumers.is_empty() && endpoints == 0 {
        return Ok(None);
    }
    notify(conn, shop).await?;
    Ok(Some(event_id))
}

/// `NOTIFY`s the workers that `shop` has new outbox rows; PostgreSQL delivers it at commit.
pub(crate) async fn notify(conn: &mut PgConnection, shop: ShopId) -> AppResult<()> {
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
    pub kind: String,
    pub payload: Value,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    /// The webhook endpoint of a `webhook` row. Absent from the table before tenant migration 8.
    #[sqlx(default)]
    pub endpoint_id: Option<Uuid>,
}
