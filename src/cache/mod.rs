//! The cache of storefront reads, per shop: product lists, product pages, categories, search
//! results and suggestions, and the data of the HTML pages (their layout, listings and
//! products). Two stores behind one [`Cache`]: this process's memory (moka, the embedded
//! default) or Redis through bb8-redis when `REDIS_URL` is set, shared by every instance.
//!
//! **Isolation.** A key is only ever built by [`Cache::key`], from a [`ShopId`]:
//! `sf:{<shop id>}:<generation>:<what>:<hash of the parameters>` (the braces are a Redis
//! Cluster hash tag: one shop's keys share a slot). There is no way to read or write without a
//! shop. Every stored value starts with its shop's id, checked on read: a value of another shop
//! is refused, logged and loaded afresh.
//!
//! **Invalidation.** Each shop has a generation, part of every key. A change of what
//! storefronts read is recorded in its transaction by [`changes::record`] (which
//! `events::emit` calls for every storefront-facing event kind, so a change that emits its
//! event cannot forget the cache): it queues a `NOTIFY shopfleet_cache` that PostgreSQL
//! delivers at commit to every instance, each of which then moves the shop to a new generation
//! ([`Cache::changed`]); and the request that made the change bumps the generation itself
//! before its response leaves ([`changes::scope`]), so the writer's next read already sees it.
//! No key is ever scanned or deleted: old generations expire (`CACHE_TTL_SECS`).
//!
//! **Failure.** Redis down or slow is not an outage: reads bypass the cache and load from the
//! database ([`RedisClient`]); a bump Redis did not take keeps that shop's reads bypassing the
//! cache until a later bump succeeds, so nothing stale is served after Redis recovers.
//!
//! Rule: cache only what every visitor of the shop sees alike (no cart, customer or CSRF
//! token); the per-visitor parts of a page are read or rendered per request.

pub mod changes;
mod memory;
mod redis_client;
mod shared;

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use redis_client::RedisClient;

use self::memory::MemoryStore;
use self::shared::RedisStore;
use crate::config::CacheConfig;
use crate::error::AppResult;
use crate::tenancy::ShopId;

#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// Shops whose last bump Redis did not take: their reads bypass the cache until one does.
    unconfirmed: Mutex<HashSet<ShopId>>,
    stats: CacheStats,
}

enum Store {
    Memory(MemoryStore),
    Redis(RedisStore),
    /// `CACHE_MEMORY_MB=0` without Redis: every read goes to the database.
    Off,
}

/// Counters of this instance's cache reads.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// Reads that went to the database because the cache could not be used (Redis down).
    pub bypassed: AtomicU64,
    /// Stored values refused on read (another shop's id, or unreadable).
    pub refused: AtomicU64,
}

/// What [`Cache::lookup`] found.
pub enum Lookup {
    Hit(Bytes),
    /// Not cached: the key to store the fresh value under.
    Miss(Key),
}

/// A cache key. Only [`Cache::key`] makes one, and it needs the shop: no key without a shop.
/// Its fields are private, so a key cannot be written by hand:
///
/// ```compile_fail
/// let key = shopfleet::cache::Key { text: "sf:{anything}:1:store.products:".to_owned() };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    shop: ShopId,
    text: String,
}

impl Key {
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Cache {
    /// Redis when `redis` is given (from `REDIS_URL`), this process's memory otherwise.
    pub fn new(config: &CacheConfig, redis: Option<RedisClient>) -> Self {
        let ttl = Duration::from_secs(config.cache_ttl_secs);
        let store = match redis {
            Some(client) => Store::Redis(RedisStore::new(client, ttl)),
            None if config.cache_memory_mb == 0 => Store::Off,
            None => Store::Memory(MemoryStore::new(config.cache_memory_mb * 1024 * 1024, ttl)),
        };
        Self {
            inner: Arc::new(Inner {
                store,
                unconfirmed: Mutex::default(),
                stats: CacheStats::default(),
            }),
        }
    }

    pub fn stats(&self) -> &CacheStats {
        &self.inner.stats
    }

    /// The value of `what` with `params` for `shop`: from the cache, or from `load` (then
    /// stored). `params` must name everything the value depends on besides the shop's data.
    pub async fn read<T, F>(&self, shop: ShopId, what: &str, params: &str, load: F) -> AppResult<T>
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = AppResult<T>>,
    {
        let stats = &self.inner.stats;
        let Some(key) = self.key(shop, what, params).await else {
            stats.bypassed.fetch_add(1, Ordering::Relaxed);
            return load.await;
        };
        if let Some(stored) = self.get(&key).await {
            match decode(shop, &stored) {
                Ok(value) => {
                    stats.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(value);
                }
                Err(reason) => {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(key = key.as_str(), reason, "cached value refused");
                }
            }
        }
        stats.misses.fetch_add(1, Ordering::Relaxed);
        let value = load.await?;
        match encode(shop, &value) {
            Ok(bytes) => self.put(&key, bytes).await,
            Err(err) => tracing::warn!(key = key.as_str(), error = %err, "value not cacheable"),
        }
        Ok(value)
    }

    /// Raw bytes stored for `what` with `params` (whole HTTP answers, see
    /// `server::revalidation`): a hit, or the key to store the fresh bytes under with
    /// [`Self::store`]. `None` while the cache is bypassed. Checked like [`Self::read`].
    pub async fn lookup(&self, shop: ShopId, what: &str, params: &str) -> Option<Lookup> {
        let stats = &self.inner.stats;
        let Some(key) = self.key(shop, what, params).await else {
            stats.bypassed.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        if let Some(stored) = self.get(&key).await {
            match stored.get(..16).map(|owner| Uuid::from_slice(owner).ok() == Some(shop.0)) {
                Some(true) => {
                    stats.hits.fetch_add(1, Ordering::Relaxed);
                    return Some(Lookup::Hit(stored.slice(16..)));
                }
                _ => {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(key = key.as_str(), "cached bytes of another shop refused");
                }
            }
        }
        stats.misses.fetch_add(1, Ordering::Relaxed);
        Some(Lookup::Miss(key))
    }

    /// Stores `bytes` under a key [`Self::lookup`] gave, marked with the key's shop.
    pub async fn store(&self, key: &Key, bytes: &[u8]) {
        let mut stored = BytesMut::with_capacity(16 + bytes.len());
        stored.put_slice(key.shop.0.as_bytes());
        stored.put_slice(bytes);
        self.put(key, stored.freeze()).await;
    }

    /// The key a read of `what` with `params` for `shop` uses now; `None` while the cache is
    /// bypassed for the shop (Redis down, or a bump it has not taken).
    pub async fn key(&self, shop: ShopId, what: &str, params: &str) -> Option<Key> {
        if self.is_unconfirmed(shop) {
            if !self.bump(shop).await {
                return None;
            }
            self.unconfirmed().remove(&shop);
        }
        let generation = match &self.inner.store {
            Store::Memory(store) => store.generation(shop),
            Store::Redis(store) => store.generation(shop).await?,
            Store::Off => return None,
        };
        let digest = Sha256::digest(params.as_bytes());
        let text = format!("sf:{{{shop}}}:{generation}:{what}:{}", hex::encode(&digest[..12]));
        Some(Key { shop, text })
    }

    /// Stores raw bytes under `key` (tests forge values of another shop with it).
    pub async fn put(&self, key: &Key, bytes: Bytes) {
        match &self.inner.store {
            Store::Memory(store) => store.set(key.text.clone(), bytes).await,
            Store::Redis(store) => store.set(&key.text, &bytes).await,
            Store::Off => {}
        }
    }

    async fn get(&self, key: &Key) -> Option<Bytes> {
        match &self.inner.store {
            Store::Memory(store) => store.get(&key.text).await,
            Store::Redis(store) => store.get(&key.text).await,
            Store::Off => None,
        }
    }

    /// Moves `shop` to a new generation: everything cached for it is read afresh from now on.
    pub async fn changed(&self, shop: ShopId) {
        if !self.bump(shop).await {
            self.unconfirmed().insert(shop);
        }
    }

    /// After change notifications may have been missed (the listener reconnected): nothing
    /// cached in this process is trusted any more.
    pub fn forget_generations(&self) {
        match &self.inner.store {
            Store::Memory(store) => store.forget_generations(),
            Store::Redis(store) => store.forget_generations(),
            Store::Off => {}
        }
    }

    async fn bump(&self, shop: ShopId) -> bool {
        match &self.inner.store {
            Store::Memory(store) => {
                store.bump(shop);
                true
            }
            Store::Redis(store) => store.bump(shop).await,
            Store::Off => true,
        }
    }

    fn is_unconfirmed(&self, shop: ShopId) -> bool {
        let unconfirmed = self.unconfirmed();
        !unconfirmed.is_empty() && unconfirmed.contains(&shop)
    }

    fn unconfirmed(&self) -> std::sync::MutexGuard<'_, HashSet<ShopId>> {
        self.inner.unconfirmed.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A stored value: the shop's id (16 bytes), then the value as JSON.
fn encode<T: Serialize>(shop: ShopId, value: &T) -> serde_json::Result<Bytes> {
    let mut bytes = BytesMut::with_capacity(256).writer();
    bytes.get_mut().put_slice(shop.0.as_bytes());
    serde_json::to_writer(&mut bytes, value)?;
    Ok(bytes.into_inner().freeze())
}

fn decode<T: DeserializeOwned>(shop: ShopId, stored: &[u8]) -> Result<T, &'static str> {
    let (owner, json) = stored.split_at_checked(16).ok_or("too short")?;
    if Uuid::from_slice(owner).ok() != Some(shop.0) {
        return Err("stored for another shop");
    }
    serde_json::from_slice(json).map_err(|_| "unreadable")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory_cache() -> Cache {
        Cache::new(&CacheConfig::default(), None)
    }

    #[tokio::test]
    async fn a_value_stored_for_another_shop_is_refused_and_loaded_afresh() {
        let cache = memory_cache();
        let (a, b) = (ShopId(Uuid::new_v4()), ShopId(Uuid::new_v4()));
        let key_of_b = cache.key(b, "products", "page=1").await.expect("memory key");
        // A value of shop A planted under shop B's key.
        cache.put(&key_of_b, encode(a, &"secret of A").expect("encode")).await;
        let read: String = cache
            .read(b, "products", "page=1", async { Ok("B's own".to_owned()) })
            .await
            .expect("read");
        assert_eq!(read, "B's own");
        assert_eq!(cache.stats().refused.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn the_same_read_of_two_shops_has_two_keys_and_a_change_moves_one() {
        let cache = memory_cache();
        let (a, b) = (ShopId(Uuid::new_v4()), ShopId(Uuid::new_v4()));
        let (key_a, key_b) = (cache.key(a, "p", "").await, cache.key(b, "p", "").await);
        assert_ne!(key_a, key_b);
        let key_a = key_a.expect("key");
        assert!(key_a.as_str().starts_with(&format!("sf:{{{a}}}:")));
        cache.changed(a).await;
        assert_ne!(cache.key(a, "p", "").await.as_ref(), Some(&key_a));
        assert_eq!(cache.key(b, "p", "").await, key_b);
    }
}
