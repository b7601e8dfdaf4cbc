//! Rate limits: each shop's request budgets, and per-client limits of the doors a stranger can
//! knock on (sign-up, logins, customer registration).
//!
//! **Algorithm.** GCRA ([`gcra`]): a leaky bucket kept as one timestamp per key, changed by
//! one atomic Lua script on Redis (`REDIS_URL`), so that every instance counts together; in
//! this process's memory when Redis is not configured.
//!
//! **Redis failing is not an outage.** A Redis call that fails or is slow (`REDIS_TIMEOUT_MS`)
//! falls back to the in-process store for that request, and `RedisClient` skips Redis for a
//! second and warns at most once per 30 s. While it is down, each instance counts on its own
//! (a client may get up to the limit per instance); counts do not move between the stores.
//!
//! **Limits and keys** (`rl:` prefix; per-shop keys hash-tagged `{…}` for Redis Cluster):
//!
//! | limit | rate | key |
//! |---|---|---|
//! | admin API of a shop | plan `requests_per_minute` / min | `rl:{<shop id>}:admin` |
//! | storefront (pages and `/v1/store`) | plan `storefront_requests_per_minute` / min | `rl:{<shop id>}:store` |
//! | failed logins, per identity and client | `LOGIN_MAX_FAILURES` / `LOGIN_WINDOW_SECS` | `rl:{<shop id or platform>}:login:<kind>:<e-mail hash>:<client>` |
//! | failed logins, per identity | `LOGIN_IDENTITY_MAX_FAILURES` / `LOGIN_WINDOW_SECS` | `rl:{<shop id or platform>}:login:<kind>:<e-mail hash>` |
//! | logins and registrations per client | `AUTH_PER_IP_PER_MINUTE` / min | `rl:ip:<client>:auth` |
//! | sign-ups per client | `SIGNUPS_PER_IP_PER_HOUR` / h | `rl:ip:<client>:signup` |
//! | sign-ups overall | `SIGNUPS_PER_HOUR` / h | `rl:signup` |
//!
//! The client is an IPv4 address or an IPv6 /64 ([`client_ip`]). Every limit allows a burst of
//! its whole rate, then one request per `period / rate`. Refused requests are not counted.
//!
//! **Headers** ([`http`]): every shop API and storefront response carries `RateLimit-Limit`,
//! `RateLimit-Remaining` and `RateLimit-Reset` (seconds until the full budget is back) of the
//! shop's budget; a refusal is 429 `rate_limited` with `Retry-After`.
//!
//! Rule: a limit that cannot be read (the plan query fails) lets the request through: limits
//! protect the service, they must not become the outage.

pub mod client_ip;
pub mod gcra;
pub mod http;
mod login;

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;

use self::client_ip::TrustedProxies;
use self::gcra::Store;
pub use self::gcra::{Decision, Rate};
pub use self::login::LoginAttempt;
use crate::cache::RedisClient;
use crate::config::LimitsConfig;
use crate::error::{AppError, AppResult};
use crate::telemetry::metrics;
use crate::tenancy::{DbPool, Tenant};

/// How long a plan's rates are kept in memory before they are read again.
const PLAN_TTL: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// Which of a shop's budgets a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// `/v1/admin`: the plan's `requests_per_minute`.
    Admin,
    /// The storefront's pages and `/v1/store`: the plan's `storefront_requests_per_minute`.
    Storefront,
}

/// The per-minute budgets of a plan.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
struct PlanRates {
    requests_per_minute: i32,
    storefront_requests_per_minute: i32,
}

/// The limits of this instance. Cheap to clone.
#[derive(Clone)]
pub struct Limits {
    inner: Arc<Inner>,
}

struct Inner {
    config: LimitsConfig,
    store: Store,
    proxies: TrustedProxies,
    pool: DbPool,
    plans: Cache<String, PlanRates>,
}

impl Limits {
    pub fn new(config: &LimitsConfig, redis: Option<RedisClient>, pool: DbPool) -> Self {
        let longest = HOUR.max(Duration::from_secs(config.login_window_secs));
        Self {
            inner: Arc::new(Inner {
                config: config.clone(),
                store: Store::new(redis, longest),
                proxies: TrustedProxies::new(config.trusted_proxies.clone()),
                pool,
                plans: Cache::builder().max_capacity(1000).time_to_live(PLAN_TTL).build(),
            }),
        }
    }

    pub fn trusted_proxies(&self) -> &TrustedProxies {
        &self.inner.proxies
    }

    /// Spends one request of the shop's `budget`. `None` when the plan's rates cannot be read
    /// (the request goes through, logged).
    /// `None` too when shop budgets are off (`SHOP_RATE_LIMITS=false`).
    pub async fn shop(&self, tenant: &Tenant, budget: Budget) -> Option<Decision> {
        if !self.inner.config.shop_rate_limits {
            return None;
        }
        let rates = match self.plan_rates(&tenant.plan).await {
            Ok(rates) => rates,
            Err(err) => {
                tracing::warn!(plan = %tenant.plan, error = %err, "plan rates unreadable; not limiting");
                return None;
            }
        };
        let (per_minute, name, limit) = match budget {
            Budget::Admin => (rates.requests_per_minute, "admin", "shop_admin"),
            Budget::Storefront => {
                (rates.storefront_requests_per_minute, "store", "shop_storefront")
            }
        };
        let rate = Rate::per_minute(u32::try_from(per_minute).unwrap_or(1));
        let key = format!("rl:{{{}}}:{name}", tenant.id);
        let decision = self.inner.store.take(&key, rate, 1).await;
        if !decision.allowed {
            metrics::rate_limit_refused(limit);
        }
        Some(decision)
    }

    async fn plan_rates(&self, plan: &str) -> Result<PlanRates, Arc<sqlx::Error>> {
        let pool = self.inner.pool.clone();
        let code = plan.to_owned();
        self.inner
            .plans
            .try_get_with_by_ref(plan, async move {
                sqlx::query_as::<_, PlanRates>(
                    "select requests_per_minute, storefront_requests_per_minute \
                     from platform.plans where code = $1",
                )
                .bind(code)
                .fetch_one(&pool)
                .await
            })
            .await
    }

    /// Counts a sign-up attempt of the current client, against its own limit and the overall
    /// one; 429 when either is used up.
    pub async fn signup(&self) -> AppResult<()> {
        let config = &self.inner.config;
        let per_client = Rate { limit: config.signups_per_ip_per_hour, period: HOUR };
        let client_key = format!("rl:ip:{}:signup", client_ip::limit_key(client_ip::current()));
        self.take("signup_client", &client_key, per_client).await?;
        let overall = Rate { limit: config.signups_per_hour, period: HOUR };
        if let Err(refused) = self.take("signup_all", "rl:signup", overall).await {
            self.inner.store.take(&client_key, per_client, -1).await;
            return Err(refused);
        }
        Ok(())
    }

    /// Counts a login or customer registration attempt of the current client (all shops).
    pub async fn auth_attempt(&self) -> AppResult<()> {
        let rate = Rate::per_minute(self.inner.config.auth_per_ip_per_minute);
        let key = format!("rl:ip:{}:auth", client_ip::limit_key(client_ip::current()));
        self.take("auth_client", &key, rate).await
    }

    /// Takes one request from `key`, or 429 with the wait (counted as a refusal by the limit
    /// named `limit`).
    async fn take(&self, limit: &'static str, key: &str, rate: Rate) -> AppResult<()> {
        let decision = self.inner.store.take(key, rate, 1).await;
        if decision.allowed {
            Ok(())
        } else {
            metrics::rate_limit_refused(limit);
            Err(AppError::RateLimited { retry_after_secs: decision.retry_after_secs })
        }
    }
}
