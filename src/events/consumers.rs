//! Who consumes which events. Each consumer gets its own outbox row per event and retries on
//! its own; every consumer is idempotent (a row can be delivered more than once).
//!
//! To add a consumer: a variant here, its name in `name`/`parse`, the event kinds it wants in
//! `for_kind`, and its work in `handle`.

use std::sync::Arc;

use sqlx::PgPool;

use super::OutboxRow;
use crate::search::api::load_synonyms;
use crate::search::{SearchEngine, index_from_database};
use crate::storage::ObjectStore;
use crate::tenancy::{Tenant, TenantTx};

/// What consumers need, built once by the server.
pub struct ConsumerContext {
    pub pool: PgPool,
    pub search: Arc<dyn SearchEngine>,
    pub store: Arc<dyn ObjectStore>,
    /// Outgoing HTTP (the built-in payment gateway's call-backs).
    pub http: reqwest::Client,
    /// This server's own base URL, e.g. `http://127.0.0.1:8080`.
    pub self_url: String,
    /// The HTTP client and retry policy of webhook deliveries.
    pub webhooks: Arc<crate::webhooks::Sender>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumer {
    /// Keeps the shop's search index in step with its catalog (a no-op for engines that index
    /// at commit, like PostgreSQL full-text search).
    SearchIndex,
    /// Deletes the objects of deleted images and products (`media.deleted`: their keys).
    Storage,
    /// The built-in `test_card` gateway: authorises requested payments and calls the shop back.
    PaymentGateway,
    /// Delivers to one webhook endpoint (the row's `endpoint_id`). Its rows are written by
    /// [`crate::webhooks::fan_out`], one per subscribed endpoint, not by kind; the worker sends
    /// them in batches ([`crate::webhooks::delivery::deliver_batch`]) with their own retry policy.
    Webhook,
}

const ALL: &[Consumer] =
    &[Consumer::SearchIndex, Consumer::Storage, Consumer::PaymentGateway, Consumer::Webhook];

impl Consumer {
    pub fn name(self) -> &'static str {
        match self {
            Self::SearchIndex => "search_index",
            Self::Storage => "storage",
            Self::PaymentGateway => "payment_gateway",
            Self::Webhook => crate::webhooks::CONSUMER,
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        ALL.iter().copied().find(|c| c.name() == name)
    }

    fn wants(self, kind: &str) -> bool {
        match self {
            Self::SearchIndex => {
                kind.starts_with("product.")
                    || kind.starts_with("search.")
                    || kind == "shop.created"
            }
            Self::Storage => kind == crate::media::MEDIA_DELETED,
            Self::PaymentGateway => kind == crate::payments::test_card::PAYMENT_REQUESTED,
            Self::Webhook => false, // per endpoint, not per kind: see `webhooks::fan_out`
        }
    }

    pub async fn handle(
        self,
        context: &ConsumerContext,
        tenant: &Tenant,
        row: &OutboxRow,
    ) -> anyhow::Result<()> {
        match self {
            Self::Storage => {
                crate::media::delete_objects(context.store.as_ref(), tenant, &row.payload).await
            }
            Self::PaymentGateway => {
                crate::payments::test_card::process(
                    &context.http,
                    &context.self_url,
                    &context.pool,
                    tenant,
                    &row.payload,
                )
                .await
            }
            Self::Webhook => crate::webhooks::delivery::deliver_one(context, tenant, row).await,
            Self::SearchIndex => {
                if !context.search.indexes_through_outbox() {
                    return Ok(());
                }
                match row.kind.as_str() {
                    "shop.created" => return Ok(context.search.create_index(tenant).await?),
                    "search.synonyms_changed" => {
                        let mut tx = TenantTx::begin(&context.pool, tenant).await?;
                        let synonyms =
                            load_synonyms(&mut tx).await.map_err(|err| anyhow::anyhow!("{err}"))?;
                        tx.commit().await?;
                        return Ok(context.search.apply_synonyms(tenant, &synonyms).await?);
                    }
                    _ => {}
                }
                let product = row.payload["id"]
                    .as_str()
                    .and_then(|id| id.parse().ok())
                    .ok_or_else(|| anyhow::anyhow!("{} event without a product id", row.kind))?;
                // Read the product's current state rather than trusting the event's snapshot:
                // replays and out-of-order deliveries then converge on the truth.
                index_from_database(&context.pool, context.search.as_ref(), tenant, product).await
            }
        }
    }
}

/// The consumers of an event kind.
pub fn for_kind(kind: &str) -> Vec<Consumer> {
    ALL.iter().copied().filter(|c| c.wants(kind)).collect()
}
