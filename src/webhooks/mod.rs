//! Outgoing webhooks: a shop's events, delivered signed to the endpoints its admins register.
//!
//! Design (DESIGN.md §1, outbox):
//! - **Fan-out at emit time.** [`crate::events::emit`] keeps its signature; for the kinds
//!   webhooks want ([`wants`]: `order.*`, `product.*`, `inventory.low`) it also calls
//!   [`fan_out`], which writes one outbox row (consumer `webhook`, `endpoint_id` set) per active
//!   endpoint subscribed to the kind, in the transaction of the change. Each endpoint then
//!   retries on its own through the outbox's lease, backoff and dead letter, and a worker
//!   restart loses nothing: what committed is in the table. An endpoint added later does not
//!   receive earlier events; an endpoint changed or disabled later still has the rows already
//!   written (a disabled endpoint's are dead-lettered, unsent).
//! - **One delivery = one outbox row.** Its `attempts`, `available_at` (next retry),
//!   `processed_at` and `dead_at` are the delivery's state; each attempt's status code, error
//!   and duration go to `webhook_attempts`, written in the worker's outcome transaction. The
//!   deliveries API reads both. Delivered rows (and their attempts) are deleted with the
//!   outbox's retention (7 days); dead letters are kept.
//! - **Request**: `POST` of `{"id", "type", "created_at", "shop_id", "data"}` (`id` = the event
//!   id, shared by every endpoint's delivery of one event: receivers de-duplicate on it),
//!   signed with [`crate::signature`] under the endpoint's secret (and the previous secret for
//!   24 h after a rotation) in `Shopfleet-Signature`, plus `Shopfleet-Event-Id`,
//!   `Shopfleet-Event-Type` and `Shopfleet-Delivery-Id`. A 2xx is delivered; anything else,
//!   a timeout (`WEBHOOK_TIMEOUT_SECS`) or a connection error is retried with the webhook
//!   retry policy (`WEBHOOK_MAX_ATTEMPTS`, `WEBHOOK_RETRY_BASE_SECS`), which only webhook rows
//!   use. Redirects are not followed (a 3xx is a failure).
//! - **Batches stay inside the lease.** The worker hands a batch's webhook rows to
//!   [`delivery::deliver_batch`]: endpoints in parallel, each endpoint's rows in order; after a
//!   timeout or connection error the endpoint's remaining rows are deferred (not attempted, not
//!   counted) to the failed row's retry time, and nothing new starts after 60 s, so a batch
//!   never outlives the worker's 120 s lease.
//! - **SSRF** ([`net`]): URLs whose host is or resolves to a non-public address are refused at
//!   create and update (422 `webhook_url_not_allowed`) and again at delivery by the client's
//!   own resolver, unless `WEBHOOK_ALLOW_PRIVATE_NETWORKS` is set.
//! - **Rolling migrations**: code of this version must run on schema version 7 too (expand/
//!   contract), so [`fan_out`] checks that `webhook_endpoints` exists before reading it. Drop the
//!   check once every shop is at version 8.
//!
//! Rule: no webhook is ever sent from a request; requests write outbox rows, the worker sends.

mod api;
pub mod delivery;
mod endpoints;
pub mod net;

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

pub use api::WebhooksAdminApi;
pub use delivery::Sender;

use crate::error::AppResult;

/// Name of the outbox consumer of webhook rows.
pub const CONSUMER: &str = "webhook";

/// Event kinds an endpoint may subscribe to, besides [`ALL_EVENTS`].
pub const EVENT_KINDS: &[&str] = &[
    "order.created",
    "order.paid",
    "order.fulfilled",
    "order.delivered",
    "order.cancelled",
    "order.refunded",
    "product.created",
    "product.updated",
    "product.deleted",
    "inventory.low",
];

/// Subscribes an endpoint to every kind, including ones added later.
pub const ALL_EVENTS: &str = "*";

/// The event of `POST /v1/admin/webhooks/{id}/test`, sent to that endpoint only.
pub const TEST_EVENT: &str = "webhook.test";

/// Whether events of `kind` go to webhook endpoints.
pub fn wants(kind: &str) -> bool {
    kind.starts_with("order.") || kind.starts_with("product.") || kind == "inventory.low"
}

/// Writes one `webhook` outbox row per active endpoint subscribed to `kind`, in the caller's
/// transaction. Returns how many rows were written.
pub async fn fan_out(
    conn: &mut PgConnection,
    event_id: Uuid,
    kind: &str,
    payload: &Value,
) -> AppResult<usize> {
    // Schema version 7 has no endpoints table (see the module doc).
    let migrated: bool = sqlx::query_scalar("select to_regclass('webhook_endpoints') is not null")
        .fetch_one(&mut *conn)
        .await?;
    if !migrated {
        return Ok(0);
    }
    let endpoints: Vec<Uuid> = sqlx::query_scalar(
        "select id from webhook_endpoints where active and events && array[$1, '*']::text[] order by id",
    )
    .bind(kind)
    .fetch_all(&mut *conn)
    .await?;
    insert_rows(conn, event_id, kind, payload, &endpoints).await?;
    Ok(endpoints.len())
}

/// Queues `kind` to one endpoint, whatever it subscribes to (the test event), and wakes the
/// workers. Returns the event id.
pub async fn queue_for_endpoint(
    conn: &mut PgConnection,
    shop: crate::tenancy::ShopId,
    endpoint: Uuid,
    kind: &str,
    payload: &Value,
) -> AppResult<Uuid> {
    let event_id = Uuid::now_v7();
    insert_rows(conn, event_id, kind, payload, &[endpoint]).await?;
    crate::events::notify(conn, shop).await?;
    Ok(event_id)
}

async fn insert_rows(
    conn: &mut PgConnection,
    event_id: Uuid,
    kind: &str,
    payload: &Value,
    endpoints: &[Uuid],
) -> AppResult<()> {
    if endpoints.is_empty() {
        return Ok(());
    }
    // Time-ordered ids: the worker claims rows in id order.
    let ids: Vec<Uuid> = endpoints.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "insert into outbox (id, event_id, consumer, kind, payload, endpoint_id) \
         select id, $2, $3, $4, $5, endpoint_id from unnest($1::uuid[], $6::uuid[]) as t (id, endpoint_id)",
    )
    .bind(&ids)
    .bind(event_id)
    .bind(CONSUMER)
    .bind(kind)
    .bind(payload)
    .bind(endpoints)
    .execute(conn)
    .await?;
    Ok(())
}
