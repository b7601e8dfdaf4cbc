//! GCRA (the generic cell rate algorithm, a leaky bucket kept as one timestamp per key) and
//! its two stores: one Lua script on Redis, shared by every instance, and this process's
//! memory, used when Redis is not configured or does not answer.
//!
//! A rate of `limit` per `period` lets one request through every `interval = period / limit`
//! and tolerates a burst of `limit` at once. Each key keeps its *theoretical arrival time*
//! (TAT): when the bucket will be empty again. A request of cost `c` moves the TAT to
//! `max(TAT, now) + c · interval` and is allowed when the new TAT is at most `limit · interval`
//! ahead of now; a refused request changes nothing. A negative cost gives requests back. Both
//! stores run the same arithmetic ([`step`]), in microseconds, Redis on its own clock (`TIME`),
//! so that instances with skewed clocks still agree.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cache::RedisClient;

/// A limit of `limit` requests per `period`, in bursts of at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub limit: u32,
    pub period: Duration,
}

impl Rate {
    pub fn per_minute(limit: u32) -> Self {
        Self { limit: limit.max(1), period: Duration::from_secs(60) }
    }

    /// Microseconds between two requests at the steady rate (at least 1).
    fn interval_us(self) -> i64 {
        let period = i64::try_from(self.period.as_micros()).unwrap_or(i64::MAX / 4);
        (period / i64::from(self.limit.max(1))).max(1)
    }

    /// How far ahead of now the TAT may be: the whole burst.
    fn burst_us(self) -> i64 {
        self.interval_us().saturating_mul(i64::from(self.limit.max(1)))
    }
}

/// The answer for one key: whether the request may proceed, and what the rate headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    /// Requests still allowed right now.
    pub remaining: u32,
    /// Seconds until the whole burst is available again.
    pub reset_secs: u64,
    /// Seconds until a refused request may be made (0 when allowed).
    pub retry_after_secs: u64,
}

impl Decision {
    /// From a step's outcome: `backlog_us` is how far the TAT is ahead of now.
    fn new(rate: Rate, allowed: bool, backlog_us: i64, retry_us: i64) -> Self {
        let (interval, burst) = (rate.interval_us(), rate.burst_us());
        let remaining = if allowed { (burst - backlog_us).max(0) / interval } else { 0 };
        Self {
            allowed,
            limit: rate.limit,
            remaining: u32::try_from(remaining).unwrap_or(rate.limit).min(rate.limit),
            reset_secs: ceil_secs(backlog_us),
            retry_after_secs: if allowed { 0 } else { ceil_secs(retry_us).max(1) },
        }
    }
}

fn ceil_secs(us: i64) -> u64 {
    u64::try_from(us.max(0)).unwrap_or(0).div_ceil(1_000_000)
}

/// One GCRA step: `(allowed, TAT after, microseconds until a refused request fits)`.
/// Must stay the same arithmetic as [`SCRIPT`].
pub fn step(rate: Rate, now: i64, tat: Option<i64>, cost: i64) -> (bool, i64, i64) {
    let tat = tat.unwrap_or(now).max(now);
    let after = tat.saturating_add(rate.interval_us().saturating_mul(cost)).max(now);
    if cost > 0 && after - now > rate.burst_us() {
        return (false, tat, after - now - rate.burst_us());
    }
    (true, after, 0)
}

/// The Redis side of [`step`]: `KEYS[1]` the key, `ARGV` interval and burst in µs and the cost.
/// Returns `{allowed, backlog µs, retry µs}`. The TAT is written as an integer (`%d`: Lua's
/// default number formatting would round it), with an expiry when the bucket is empty again.
const SCRIPT: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local after = math.max(tat + interval * cost, now)
if cost > 0 and after - now > burst then
  return {0, tat - now, after - now - burst}
end
if after > now then
  redis.call('SET', KEYS[1], string.format('%d', after), 'PX', math.ceil((after - now) / 1000) + 1)
else
  redis.call('DEL', KEYS[1])
end
return {1, after - now, 0}
";

/// Where the TATs live: Redis when configured and answering, this process's memory otherwise.
#[derive(Clone)]
pub struct Store {
    redis: Option<RedisClient>,
    script: Arc<redis::Script>,
    memory: Memory,
}

impl Store {
    /// `longest` bounds how long an idle key is kept in memory (the longest period in use).
    pub fn new(redis: Option<RedisClient>, longest: Duration) -> Self {
        Self { redis, script: Arc::new(redis::Script::new(SCRIPT)), memory: Memory::new(longest) }
    }

    /// Takes `cost` requests (gives them back if negative) from `key`'s bucket.
    pub async fn take(&self, key: &str, rate: Rate, cost: i64) -> Decision {
        if let Some(redis) = &self.redis {
            let mut invocation = self.script.key(key);
            invocation.arg(rate.interval_us()).arg(rate.burst_us()).arg(cost);
            if let Some(answer) = redis.script::<Vec<i64>>("rate limit", &invocation).await
                && let [allowed, backlog, retry] = answer[..]
            {
                return Decision::new(rate, allowed == 1, backlog, retry);
            }
            // Redis down or slow: `RedisClient` has logged it (once per interval); count here.
        }
        self.memory.take(key, rate, cost)
    }

    /// Forgets `key` (a full bucket).
    pub async fn clear(&self, key: &str) {
        if let Some(redis) = &self.redis {
            let _ = redis.query::<i64>("rate limit reset", redis::cmd("DEL").arg(key)).await;
        }
        self.memory.entries.invalidate(key);
    }
}

/// The in-process store: one TAT per key, changed under the key's own lock.
#[derive(Clone)]
struct Memory {
    started: Instant,
    entries: moka::sync::Cache<String, Arc<Mutex<i64>>>,
}

impl Memory {
    fn new(longest: Duration) -> Self {
        // A key idle for the longest period has an empty bucket: dropping it changes nothing.
        let entries =
            moka::sync::Cache::builder().max_capacity(1_000_000).time_to_idle(longest).build();
        Self { started: Instant::now(), entries }
    }

    fn take(&self, key: &str, rate: Rate, cost: i64) -> Decision {
        let now = i64::try_from(self.started.elapsed().as_micros()).unwrap_or(i64::MAX / 4);
        let entry = self.entries.get_with_by_ref(key, || Arc::new(Mutex::new(now)));
        let mut tat = entry.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (allowed, after, retry) = step(rate, now, Some(*tat), cost);
        if allowed {
            *tat = after;
        }
        Decision::new(rate, allowed, after - now, retry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_the_limit_then_one_per_interval() {
        let rate = Rate { limit: 3, period: Duration::from_secs(3) };
        let mut tat = None;
        for expected_remaining in [2, 1, 0] {
            let (allowed, after, _) = step(rate, 0, tat, 1);
            assert!(allowed);
            tat = Some(after);
            assert_eq!(Decision::new(rate, true, after, 0).remaining, expected_remaining);
        }
        let (allowed, unchanged, retry) = step(rate, 0, tat, 1);
        assert!(!allowed && Some(unchanged) == tat);
        assert_eq!(retry, 1_000_000);
        let refused = Decision::new(rate, false, unchanged, retry);
        assert_eq!((refused.remaining, refused.retry_after_secs, refused.reset_secs), (0, 1, 3));
        // One interval later, one more fits.
        assert!(step(rate, 1_000_000, tat, 1).0);
        // A refund gives one back at once.
        let (_, refunded, _) = step(rate, 0, tat, -1);
        assert!(step(rate, 0, Some(refunded), 1).0);
        // A refund never goes below empty.
        assert_eq!(step(rate, 5, Some(0), -1).1, 5);
    }

    #[test]
    fn memory_store_counts_per_key() {
        let memory = Memory::new(Duration::from_secs(60));
        let rate = Rate::per_minute(2);
        assert!(memory.take("a", rate, 1).allowed);
        assert!(memory.take("a", rate, 1).allowed);
        let refused = memory.take("a", rate, 1);
        assert!(!refused.allowed && refused.retry_after_secs >= 29);
        assert!(memory.take("b", rate, 1).allowed);
        memory.take("a", rate, -1);
        assert!(memory.take("a", rate, 1).allowed);
    }
}
