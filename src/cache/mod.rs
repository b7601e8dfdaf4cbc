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
use crate::telemetry::metrics;
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

/// What [`Cache::find`] found.
enum Found {
    Bypassed,
    Hit(Key, Bytes),
    Miss(Key),
}

#[derive(Clone, Copy)]
enum Counted {
    Hit,
    Miss,
    Bypassed,
    Refused,
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
    /// stored, as JSON). `params` must name everything the value depends on besides the shop's
    /// data.
    pub async fn read<T, F>(&self, shop: ShopId, what: &str, params: &str, load: F) -> AppResult<T>
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = AppResult<T>>,
    {
        let key = match self.find(shop, what, params).await {
            Found::Bypassed => return load.await,
            Found::Hit(key, json) => match serde_json::from_slice(&json) {
                Ok(value) => {
                    self.count(Counted::Hit);
                    return Ok(value);
                }
                Err(_) => {
                    // Written by another version of the code, say: a miss.
                    self.count(Counted::Refused);
                    tracing::warn!(key = key.as_str(), "cached value unreadable");
                    self.count(Counted::Miss);
                    key
                }
            },
            Found::Miss(key) => key,
        };
        let value = load.await?;
        match serde_json::to_vec(&value) {
            Ok(json) => self.store(&key, &json).await,
            Err(err) => tracing::warn!(key = key.as_str(), error = %err, "value not cacheable"),
        }
        Ok(value)
    }

    /// Raw bytes stored for `what` with `params` (whole HTTP answers, see
    /// `server::revalidation`): a hit, or the key to store the fresh bytes under with
    /// [`Self::store`]. `None` while the cache is bypassed.
    pub async fn lookup(&self, shop: ShopId, what: &str, params: &str) -> Option<Lookup> {
        match self.find(shop, what, params).await {
            Found::Bypassed => None,
            Found::Hit(_, bytes) => {
                self.count(Counted::Hit);
                Some(Lookup::Hit(bytes))
            }
            Found::Miss(key) => Some(Lookup::Miss(key)),
        }
    }

    /// The stored bytes of `what` with `params`, checked to be `shop`'s: every stored value
    /// begins with its shop's id, and a value with another id is refused (counted, logged) and
    /// treated as a miss. Counts bypasses and misses; the caller counts the hit it keeps.
    async fn find(&self, shop: ShopId, what: &str, params: &str) -> Found {
        let Some(key) = self.key(shop, what, params).await else {
            self.count(Counted::Bypassed);
            return Found::Bypassed;
        };
        if let Some(stored) = self.get(&key).await {
            if stored.get(..16).and_then(|owner| Uuid::from_slice(owner).ok()) == Some(shop.0) {
                return Found::Hit(key, stored.slice(16..));
            }
            self.count(Counted::Refused);
            tracing::warn!(key = key.as_str(), "cached value of another shop refused");
        }
        self.count(Counted::Miss);
        Found::Miss(key)
    }

    fn count(&self, what: Counted) {
        let stats = &self.inner.stats;
        let (counter, label) = match what {
            Counted::Hit => (&stats.hits, "hit"),
            Counted::Miss => (&stats.misses, "miss"),
            Counted::Bypassed => (&stats.bypassed, "bypassed"),
            Counted::Refused => (&stats.refused, "refused"),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::cache_lookup(label);
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
        let mut planted = a.0.as_bytes().to_vec();
        planted.extend_from_slice(br#""secret of A""#);
        cache.put(&key_of_b, Bytes::from(planted)).await;
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
