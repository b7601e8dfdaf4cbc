//! The outbox consumer that keeps each shop's search index in step with its catalog.
//!
//! It wants `product.*` (the product is re-read from PostgreSQL, so replays and out-of-order
//! deliveries converge on the truth), `search.synonyms_changed` and `shop.created` (the index
//! is created). Engines that index at commit (PostgreSQL full-text search) make it a no-op.

use std::sync::Arc;

use async_trait::async_trait;

use super::{SearchEngine, index_from_database, load_synonyms};
use crate::events::{Consumer, EventKind, OutboxRow, RetryPolicy, Subscription};
use crate::tenancy::{DbPool, Tenant, TenantTx};

pub(super) const CONSUMER: &str = "search_index";

/// Which events reach the search index.
pub struct SearchIndexing;

impl Subscription for SearchIndexing {
    fn consumer(&self) -> &'static str {
        CONSUMER
    }

    fn wants(&self, kind: EventKind) -> bool {
        kind.is_product() || matches!(kind, EventKind::SynonymsChanged | EventKind::ShopCreated)
    }
}

/// Applies them to the configured engine.
pub struct SearchIndexer {
    pool: DbPool,
    engine: Arc<dyn SearchEngine>,
    policy: RetryPolicy,
}

impl SearchIndexer {
    pub fn new(pool: DbPool, engine: Arc<dyn SearchEngine>) -> Self {
        Self { pool, engine, policy: RetryPolicy::default() }
    }

    pub fn with_retry_policy(self, policy: RetryPolicy) -> Self {
        Self { policy, ..self }
    }
}

#[async_trait]
impl Consumer for SearchIndexer {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    fn retry_policy(&self) -> RetryPolicy {
        self.policy
    }

    async fn handle(&self, tenant: &Tenant, row: &OutboxRow) -> anyhow::Result<()> {
        if !self.engine.indexes_through_outbox() {
            return Ok(());
        }
        match row.kind {
            EventKind::ShopCreated => return Ok(self.engine.create_index(tenant).await?),
            EventKind::SynonymsChanged => {
                let mut tx = TenantTx::begin(&self.pool, tenant).await?;
                let synonyms =
                    load_synonyms(&mut tx).await.map_err(|err| anyhow::anyhow!("{err}"))?;
                tx.commit().await?;
                return Ok(self.engine.apply_synonyms(tenant, &synonyms).await?);
            }
            _ => {}
        }
        let product = row.payload["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("{} event without a product id", row.kind))?;
        index_from_database(&self.pool, self.engine.as_ref(), tenant, product).await
    }
}
