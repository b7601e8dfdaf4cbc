//! Outgoing webhooks: a shop's events, delivered signed to the endpoints its admins register.
//!
//! Design (docs/ARCHITECTURE.md, "The outbox and its consumers"):
//! - **Fan-out at emit time.** [`WebhookEvents`] is the outbox subscription of the kinds
//!   webhooks want (`order.*`, `product.*`, `inventory.low`); its targets are the active
//!   endpoints subscribed to the kind, read in the transaction of the change, so
//!   [`crate::events::emit`] writes one outbox row (consumer `webhook`, `endpoint_id` set) per
//!   endpoint. Each endpoint then
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
//!   `Shopfleet-Event-Type` and `Shopfleet-Delivery-Id`, and `traceparent` (W3C) when traces
//!   are exported: the delivery's span, in the trace of the change. A 2xx is delivered; anything else,
//!   a timeout (`WEBHOOK_TIMEOUT_SECS`) or a connection error is retried with the webhook
//!   retry policy (`WEBHOOK_MAX_ATTEMPTS`, `WEBHOOK_RETRY_BASE_SECS`), which only webhook rows
//!   use. Redirects are not followed (a 3xx is a failure).
//! - **Batches stay inside the lease.** The worker hands a batch's webhook rows to the
//!   [`Sender`], the outbox consumer: endpoints in parallel, each endpoint's rows in order; after a
//!   timeout or connection error the endpoint's remaining rows are deferred (not attempted, not
//!   counted) to the failed row's retry time, and nothing new starts after 60 s, so a batch
//!   never outlives the worker's 120 s lease.
//! - **SSRF** ([`net`]): URLs whose host is or resolves to a non-public address are refused at
//!   create and update (422 `webhook_url_not_allowed`) and again at delivery by the client's
//!   own resolver, unless `WEBHOOK_ALLOW_PRIVATE_NETWORKS` is set.
//! - **Rolling migrations**: code of this version must run on schema version 7 too (expand/
//!   contract), so [`WebhookEvents`] checks that `webhook_endpoints` exists before reading it. Drop the
//!   check once every shop is at version 8.
//!
//! Rule: no webhook is ever sent from a request; requests write outbox rows, the worker sends.

mod api;
pub mod delivery;
mod endpoints;
pub mod net;

use async_trait::async_trait;
use sqlx::PgConnection;
use uuid::Uuid;

pub use api::WebhooksAdminApi;
pub use delivery::Sender;

use crate::error::AppResult;
use crate::events::{EventKind, Subscription, Targets};

/// Name of the outbox consumer of webhook rows.
pub const CONSUMER: &str = "webhook";

/// Event kinds an endpoint may subscribe to, besides [`ALL_EVENTS`].
pub const EVENT_KINDS: &[EventKind] = &[
    EventKind::OrderCreated,
    EventKind::OrderPaid,
    EventKind::OrderFulfilled,
    EventKind::OrderDelivered,
    EventKind::OrderCancelled,
    EventKind::OrderRefunded,
    EventKind::ProductCreated,
    EventKind::ProductUpdated,
    EventKind::ProductDeleted,
    EventKind::InventoryLow,
];

/// Subscribes an endpoint to every kind, including ones added later.
pub const ALL_EVENTS: &str = "*";

/// The outbox subscription of webhooks: one row per active endpoint subscribed to the kind.
pub struct WebhookEvents;

#[async_trait]
impl Subscription for WebhookEvents {
    fn consumer(&self) -> &'static str {
        CONSUMER
    }

    fn wants(&self, kind: EventKind) -> bool {
        EVENT_KINDS.contains(&kind)
    }

    async fn targets(&self, conn: &mut PgConnection, kind: EventKind) -> AppResult<Targets> {
        // Schema version 7 has no endpoints table (see the module doc).
        let migrated: bool =
            sqlx::query_scalar("select to_regclass('webhook_endpoints') is not null")
                .fetch_one(&mut *conn)
                .await?;
        if !migrated {
            return Ok(Targets::Each(Vec::new()));
        }
        let endpoints: Vec<Uuid> = sqlx::query_scalar(
            "select id from webhook_endpoints where active and events && array[$1, '*']::text[] order by id",
        )
        .bind(kind)
        .fetch_all(&mut *conn)
        .await?;
        Ok(Targets::Each(endpoints))
    }
}
