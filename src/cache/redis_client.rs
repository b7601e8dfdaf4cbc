//! `RedisClient`: the pooled Redis connections (bb8-redis) shared by the cache and the rate
//! limits, with the one rule that makes Redis optional at run time.
//!
//! Rule: Redis failing is not an outage. Every call has a short timeout (`REDIS_TIMEOUT_MS`);
//! a call that fails or times out marks Redis down for [`RETRY_AFTER`], during which calls
//! return `None` at once without trying (the cache is bypassed, the limiter counts in this
//! process). Warnings are logged at most once per [`WARN_EVERY`], and recovery once.
//!
//! A connection whose call failed is marked broken and dropped by the pool when given back
//! (bb8-redis's manager cannot tell, and pinging on every checkout would double the round
//! trips), so a restarted Redis is reconnected to.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bb8_redis::RedisConnectionManager;
use redis::aio::MultiplexedConnection;
use redis::{FromRedisValue, RedisError};

/// How long Redis counts as down after a failed call.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// At most one warning about Redis per this interval.
const WARN_EVERY: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct RedisClient {
    inner: Arc<Inner>,
}

struct Inner {
    pool: bb8::Pool<Manager>,
    timeout: Duration,
    health: Mutex<Health>,
}

#[derive(Default)]
struct Health {
    down_until: Option<Instant>,
    last_warning: Option<Instant>,
}

impl RedisClient {
    /// A pool that connects lazily: the server starts (and serves) while Redis is unreachable.
    pub fn new(url: &str, pool_size: u32, timeout: Duration) -> anyhow::Result<Self> {
        let manager = Manager(RedisConnectionManager::new(url)?);
        let pool = bb8::Pool::builder()
            .max_size(pool_size)
            .connection_timeout(timeout)
            .retry_connection(false)
            .test_on_check_out(false)
            .build_unchecked(manager);
        Ok(Self { inner: Arc::new(Inner { pool, timeout, health: Mutex::default() }) })
    }

    /// Whether calls are currently attempted (false during [`RETRY_AFTER`] after a failure).
    pub fn is_up(&self) -> bool {
        self.health().down_until.is_none_or(|until| Instant::now() >= until)
    }

    /// Runs one command; `None` when Redis is down, slow or answers an error.
    pub async fn query<T: FromRedisValue>(&self, what: &str, cmd: &redis::Cmd) -> Option<T> {
        if !self.is_up() {
            return None;
        }
        self.run(what, async |conn| cmd.query_async(conn).await).await
    }

    /// Runs a Lua script (EVALSHA, loading it on first use); `None` as for [`Self::query`].
    pub async fn script<T: FromRedisValue>(
        &self,
        what: &str,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Option<T> {
        if !self.is_up() {
            return None;
        }
        self.run(what, async |conn| invocation.invoke_async(conn).await).await
    }

    /// Whether Redis answers `PING` now (readiness), whatever its recent health.
    pub async fn ping(&self) -> bool {
        let ping = redis::cmd("PING");
        self.run::<String>("ping", async |conn| ping.query_async(conn).await).await.is_some()
    }

    /// Runs `call` on a pooled connection within the timeout, recording the outcome.
    async fn run<T>(
        &self,
        what: &str,
        call: impl AsyncFnOnce(&mut MultiplexedConnection) -> Result<T, RedisError>,
    ) -> Option<T> {
        let mut conn = match self.inner.pool.get().await {
            Ok(conn) => conn,
            Err(err) => {
                self.mark_down(what, &err.to_string());
                return None;
            }
        };
        let result = tokio::time::timeout(self.inner.timeout, call(&mut conn.conn)).await;
        if !matches!(result, Ok(Ok(_))) {
            conn.broken.store(true, Ordering::Relaxed);
        }
        self.settle(what, result)
    }

    fn settle<T>(
        &self,
        what: &str,
        result: Result<Result<T, RedisError>, tokio::time::error::Elapsed>,
    ) -> Option<T> {
        match result {
            Ok(Ok(value)) => {
                self.mark_up();
                Some(value)
            }
            Ok(Err(err)) => {
                self.mark_down(what, &err.to_string());
                None
            }
            Err(_) => {
                self.mark_down(what, "timed out");
                None
            }
        }
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        // A poisoned lock only means a panic elsewhere while holding it; the data is two times.
        self.inner.health.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn mark_down(&self, what: &str, error: &str) {
        let now = Instant::now();
        let mut health = self.health();
        health.down_until = Some(now + RETRY_AFTER);
        if health.last_warning.is_none_or(|at| now.duration_since(at) >= WARN_EVERY) {
            health.last_warning = Some(now);
            tracing::warn!(
                call = what,
                error,
                "Redis unavailable; bypassing the cache and limiting in process"
            );
        }
    }

    fn mark_up(&self) {
        let mut health = self.health();
        if health.down_until.take().is_some() {
            tracing::info!("Redis is back");
        }
    }
}

/// bb8-redis's manager, with connections that a failed call marks broken.
struct Manager(RedisConnectionManager);

struct Connection {
    conn: MultiplexedConnection,
    broken: AtomicBool,
}

impl bb8::ManageConnection for Manager {
    type Connection = Connection;
    type Error = RedisError;

    async fn connect(&self) -> Result<Connection, RedisError> {
        Ok(Connection { conn: self.0.connect().await?, broken: AtomicBool::new(false) })
    }

    async fn is_valid(&self, conn: &mut Connection) -> Result<(), RedisError> {
        self.0.is_valid(&mut conn.conn).await
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        conn.broken.load(Ordering::Relaxed)
    }
}
