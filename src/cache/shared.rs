//! The Redis store: cached reads shared by every instance.
//!
//! A shop's generation is the integer at `sf:{<shop>}:gen`, without expiry (Redis must run
//! with `maxmemory-policy volatile-lru`, which evicts only keys that expire, so a generation is
//! never evicted under a live value). A missing generation starts at a random number, so values
//! of an earlier generation left by a Redis restart from a snapshot are not read again.
//! Each instance remembers a shop's generation for [`GENERATION_MEMO`] (one Redis round trip
//! per read instead of two); a bump updates the memo, and every instance bumps on a change's
//! notification (see `Cache`), so no instance trusts an old generation for long.

use std::time::Duration;

use bytes::Bytes;

use super::RedisClient;
use crate::tenancy::ShopId;

/// How long an instance trusts the generation it last read from Redis.
const GENERATION_MEMO: Duration = Duration::from_millis(500);

/// Reads the generation, creating it at a random start when it is missing.
const GENERATION_SCRIPT: &str = r"
local generation = redis.call('GET', KEYS[1])
if not generation then
  redis.call('SET', KEYS[1], ARGV[1], 'NX')
  generation = redis.call('GET', KEYS[1])
end
return tonumber(generation)
";

pub(super) struct RedisStore {
    client: RedisClient,
    ttl: Duration,
    generation_script: redis::Script,
    memo: moka::sync::Cache<ShopId, u64>,
}

pub(super) fn generation_key(shop: ShopId) -> String {
    format!("sf:{{{shop}}}:gen")
}

impl RedisStore {
    pub(super) fn new(client: RedisClient, ttl: Duration) -> Self {
        Self {
            client,
            ttl,
            generation_script: redis::Script::new(GENERATION_SCRIPT),
            memo: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(GENERATION_MEMO)
                .build(),
        }
    }

    pub(super) async fn generation(&self, shop: ShopId) -> Option<u64> {
        if let Some(generation) = self.memo.get(&shop) {
            return Some(generation);
        }
        let start = rand::random::<u64>() >> 12;
        let mut invocation = self.generation_script.key(generation_key(shop));
        invocation.arg(start);
        let generation: u64 = self.client.script("cache generation", &invocation).await?;
        self.memo.insert(shop, generation);
        Some(generation)
    }

    /// Moves the shop to a new generation; false when Redis did not take it.
    pub(super) async fn bump(&self, shop: ShopId) -> bool {
        let mut cmd = redis::cmd("INCR");
        cmd.arg(generation_key(shop));
        match self.client.query::<u64>("cache bump", &cmd).await {
            Some(generation) => {
                self.memo.insert(shop, generation);
                true
            }
            None => {
                self.memo.invalidate(&shop);
                false
            }
        }
    }

    pub(super) async fn get(&self, key: &str) -> Option<Bytes> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        let value: Option<Vec<u8>> = self.client.query("cache get", &cmd).await?;
        value.map(Bytes::from)
    }

    pub(super) async fn set(&self, key: &str, value: &[u8]) {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value).arg("PX").arg(self.ttl.as_millis() as u64);
        let _: Option<()> = self.client.query("cache set", &cmd).await;
    }

    pub(super) fn forget_generations(&self) {
        self.memo.invalidate_all();
    }
}
