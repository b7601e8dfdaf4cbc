//! The outbox consumer that deletes the objects of deleted images and products
//! (`media.deleted`, whose payload `keys` lists them), after the deletion has committed.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use crate::events::{Consumer, EventKind, OutboxRow, Subscription};
use crate::storage::{ObjectKey, ObjectStore};
use crate::tenancy::Tenant;

const CONSUMER: &str = "storage";

/// `media.deleted` reaches the object store.
pub struct ObjectDeletion;

impl Subscription for ObjectDeletion {
    fn consumer(&self) -> &'static str {
        CONSUMER
    }

    fn wants(&self, kind: EventKind) -> bool {
        kind == EventKind::MediaDeleted
    }
}

/// Deletes each listed object. Idempotent (deleting a missing object succeeds). A key outside
/// the shop's prefix is skipped and logged: no event can delete another shop's objects.
pub struct ObjectDeleter {
    pub store: Arc<dyn ObjectStore>,
}

#[async_trait]
impl Consumer for ObjectDeleter {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    async fn handle(&self, tenant: &Tenant, row: &OutboxRow) -> anyhow::Result<()> {
        let keys = row.payload["keys"].as_array().map(Vec::as_slice).unwrap_or_default();
        for raw in keys.iter().filter_map(Value::as_str) {
            match ObjectKey::parse(tenant.id, raw) {
                Ok(key) => self.store.delete(&key).await?,
                Err(err) => {
                    tracing::warn!(shop = %tenant.slug, key = raw, error = %err, "media.deleted names a key outside the shop; skipped")
                }
            }
        }
        Ok(())
    }
}
