//! `AppState`: the handles that request handlers share (pool, tenant registry, RBAC, token
//! keys, search engine, object store, DNS resolver, Redis and the cache, rate limits, configuration). Built once by the server.
//!
//! Rule: this module sits below every domain: it holds handles of infrastructure and imports no
//! domain's API. A part that needs one handle takes that handle, not the whole state (the
//! security checkers read the token keys from the request, the outbox consumers get their own).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::auth::password::HashGate;
use crate::auth::rbac::Rbac;
use crate::auth::revocation::SessionCheck;
use crate::auth::tokens::TokenKeys;
use crate::cache::{Cache, RedisClient};
use crate::config::{DatabaseConfig, ServerConfig};
use crate::dns::TxtResolver;
use crate::limits::Limits;
use crate::search::meili::MeiliEngine;
use crate::search::{SearchEngine, engine_from_config};
use crate::storage::{self, LocalUrls, ObjectStore};
use crate::tenancy::DbPool;
use crate::tenancy::db::TxLimits;
use crate::tenancy::registry::TenantRegistry;

/// Everything handlers share. Cheap to clone: every field is a handle.
#[derive(Clone)]
pub struct AppState {
    pub pool: DbPool,
    pub config: Arc<ServerConfig>,
    pub tenants: TenantRegistry,
    pub rbac: Rbac,
    pub tokens: Arc<TokenKeys>,
    /// Rate limits: shop budgets, logins, registrations and sign-ups (Redis or in process).
    pub limits: Limits,
    /// The bound on concurrent password hashing (logins, registrations, signups).
    pub passwords: HashGate,
    /// Whether the session of an access token was revoked (logout).
    pub sessions: SessionCheck,
    /// The search engine (MeiliSearch or PostgreSQL full-text search).
    pub search: Arc<dyn SearchEngine>,
    /// The same engine when it is MeiliSearch: tenant tokens need its keys.
    pub meili: Option<Arc<MeiliEngine>>,
    /// Object storage (S3 or a local directory): product images.
    pub store: Arc<dyn ObjectStore>,
    /// TXT lookups that verify custom domains (`DNS_RESOLVER`).
    pub dns: TxtResolver,
    /// Redis, when `REDIS_URL` is set: the shared cache and rate-limit state.
    pub redis: Option<RedisClient>,
    /// Cached storefront reads (Redis, or this process's memory).
    pub cache: Cache,
}

impl AppState {
    pub fn new(pool: DbPool, config: ServerConfig) -> anyhow::Result<Self> {
        let (search, meili) =
            engine_from_config(&config.search, pool.clone()).context("configuring search")?;
        // The local store's signed URLs are served by this application on the platform host.
        let store = storage::from_config(
            &config.storage,
            LocalUrls {
                secret: config.jwt_secret.as_bytes().to_vec(),
                base_url: config.url_of_host(&config.base_domain),
            },
        );
        let dns = TxtResolver::new(config.dns_resolver).context("configuring DNS lookups")?;
        let redis = match &config.cache.redis_url {
            Some(url) => Some(
                RedisClient::new(
                    url,
                    config.cache.redis_pool_size,
                    Duration::from_millis(config.cache.redis_timeout_ms),
                )
                .context("configuring Redis (REDIS_URL)")?,
            ),
            None => None,
        };
        let cache = Cache::new(&config.cache, redis.clone());
        Ok(Self {
            limits: Limits::new(&config.limits, redis.clone(), pool.clone()),
            redis,
            cache,
            search,
            meili,
            store,
            dns,
            tenants: TenantRegistry::new(pool.clone(), config.tenant_cache_capacity),
            rbac: Rbac::new(pool.clone(), config.tenant_cache_capacity),
            tokens: Arc::new(TokenKeys::new(
                config.jwt_secret.as_bytes(),
                config.access_token_ttl_secs,
                config.refresh_token_ttl_days,
            )),
            passwords: HashGate::new(config.password_hash_concurrency, config.password_hash_queue),
            sessions: SessionCheck::new(pool.clone()),
            config: Arc::new(config),
            pool,
        })
    }

    /// The public URL of a shop's storefront host.
    pub fn shop_url(&self, slug: &str) -> String {
        self.config.url_of_host(&format!("{slug}.{}", self.config.base_domain))
    }
}

/// Opens the one pool shared by every shop (`DATABASE_URL`).
///
/// No ping before each checkout (sqlx's default): it would add a round trip to every request.
/// A connection broken by a server restart fails one query and is then discarded; the lifetime
/// limit recycles the rest.
///
/// Behind a transaction-mode pooler (`DATABASE_TRANSACTION_POOLER`), a client keeps a server
/// connection only until its transaction ends, so a statement prepared on one may be gone (or
/// another client's) on the next: sqlx's statement cache is off, and [`DbPool`] runs every query
/// inside a transaction that first drops the statements other clients left. Nothing this pool
/// does needs a session: shop settings are transaction-local (`TenantTx`), advisory locks
/// transaction-level; `LISTEN` and the migrations use [`connect_direct`].
///
/// Also installs the time limits of shop transactions ([`TxLimits`]) for this process.
pub async fn connect(config: &DatabaseConfig) -> anyhow::Result<DbPool> {
    config.validate()?;
    TxLimits::from_config(config).install();
    let mut options: PgConnectOptions =
        config.database_url.parse().context("DATABASE_URL is not a PostgreSQL URL")?;
    if config.database_transaction_pooler {
        options = options.statement_cache_capacity(0);
    }
    let pool = PgPoolOptions::new()
        .max_connections(config.database_max_connections)
        .max_lifetime(Duration::from_secs(config.database_max_lifetime_secs))
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL (DATABASE_URL)")?;
    Ok(if config.database_transaction_pooler {
        DbPool::behind_transaction_pooler(pool)
    } else {
        DbPool::direct(pool)
    })
}

/// Opens a small pool straight to PostgreSQL (`DATABASE_DIRECT_URL`, else `DATABASE_URL`), for
/// what needs a session of its own: the change listener's `LISTEN` and the migrations, whose
/// advisory lock is session-level. A server holds one connection of it (the listener; two while
/// it reconnects); `shopfleet migrate` as many as it migrates shops at once.
pub async fn connect_direct(
    config: &DatabaseConfig,
    max_connections: u32,
) -> anyhow::Result<PgPool> {
    config.validate()?;
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect(config.direct_url())
        .await
        .context("connecting to PostgreSQL (DATABASE_DIRECT_URL)")
}
