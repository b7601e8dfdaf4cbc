//! The in-process store (moka): the embedded default, one per instance.
//!
//! Generations are unique numbers from one process-wide counter, never reused: a shop whose
//! generation is evicted gets a fresh one, so an entry of its old generation is never read
//! again (it ages out with the time-to-live or the size bound).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;

use crate::tenancy::ShopId;

pub(super) struct MemoryStore {
    entries: moka::future::Cache<String, Bytes>,
    generations: moka::sync::Cache<ShopId, u64>,
    next_generation: AtomicU64,
}

impl MemoryStore {
    pub(super) fn new(capacity_bytes: u64, ttl: Duration) -> Self {
        let entries = moka::future::Cache::builder()
            .weigher(|key: &String, value: &Bytes| {
                u32::try_from(key.len() + value.len()).unwrap_or(u32::MAX)
            })
            .max_capacity(capacity_bytes)
            .time_to_live(ttl)
            .build();
        Self {
            entries,
            generations: moka::sync::Cache::new(1_000_000),
            next_generation: AtomicU64::new(1),
        }
    }

    pub(super) fn generation(&self, shop: ShopId) -> u64 {
        self.generations.get_with(shop, || self.next_generation.fetch_add(1, Ordering::Relaxed))
    }

    pub(super) fn bump(&self, shop: ShopId) {
        self.generations.insert(shop, self.next_generation.fetch_add(1, Ordering::Relaxed));
    }

    pub(super) async fn get(&self, key: &str) -> Option<Bytes> {
        self.entries.get(key).await
    }

    pub(super) async fn set(&self, key: String, value: Bytes) {
        self.entries.insert(key, value).await;
    }

    /// Forgets every generation: after missed change notifications, nothing cached is trusted.
    pub(super) fn forget_generations(&self) {
        self.generations.invalidate_all();
    }
}
