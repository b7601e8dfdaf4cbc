//! The in-process registry of shops: resolves a slug or a custom domain to a [`Tenant`]
//! without a database round trip per request.
//!
//! A custom domain resolves only once verified (`shop::verification`); an unverified claim is
//! the same "no such shop" as an unknown host. The tenant carries its verified primary domain.
//!
//! Shops found live in a bounded cache with a TTL as a safety net; "no such shop" answers live
//! in a cache of their own, as bounded and shorter-lived, so that requests for made-up hosts
//! (each one a miss) can only evict other misses, never a real shop. The resolver refuses
//! hosts and slugs of the wrong shape before they cost a lookup or a slot.
//! Changes to `platform.shops` and `platform.domains` fire `NOTIFY shopfleet_tenants` from a
//! trigger, whoever made them (API, CLI, SQL console, the domain re-check); every instance
//! listens and drops its cache. (Updates of a domain notify when what routing reads changes:
//! hostname, shop, verified or not, primary or not; not for re-check bookkeeping.) Shop
//! changes are rare next to reads, so dropping everything keeps the rule simple:
//! a cached answer is never older than the last change this instance was told about.
//!
//! The listener itself is the server's (`server::listener`), which also routes the RBAC and
//! outbox channels.
//!
//! Rule: the listener is connected before the server accepts requests, and a lost listener
//! connection also drops the cache (notifications may have been missed meanwhile).

use std::time::Duration;

use moka::future::Cache;
use uuid::Uuid;

use super::{DbPool, ShopId, ShopStatus, Tenant};

/// Channel of shop and domain changes (payload: the shop id).
pub const TENANTS_CHANNEL: &str = "shopfleet_tenants";

const TTL: Duration = Duration::from_secs(60);
/// Misses are dropped sooner: a shop created meanwhile is also announced by `NOTIFY`, this is
/// only the safety net.
const MISS_TTL: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct TenantRegistry {
    pool: DbPool,
    found: Cache<LookupKey, Tenant>,
    missing: Cache<LookupKey, ()>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LookupKey {
    Slug(String),
    Domain(String),
    /// By id: the local store's object URLs name their shop by id.
    Id(ShopId),
}

/// What a lookup through the cache found, when it found no shop.
#[derive(Debug, thiserror::Error)]
enum Miss {
    #[error("no such shop")]
    NotFound,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[derive(sqlx::FromRow)]
struct TenantRow {
    id: Uuid,
    slug: String,
    name: String,
    currency: String,
    plan: String,
    status: String,
    schema_name: String,
    role_name: String,
    primary_domain: Option<String>,
}

const SELECT_TENANT: &str = "select s.id, s.slug, s.name, s.currency, s.plan, s.status, \
     s.schema_name, s.role_name, (select p.hostname from platform.domains p \
     where p.shop_id = s.id and p.is_primary and p.verified_at is not null) as primary_domain \
     from platform.shops s";

impl TenantRegistry {
    /// `capacity` shops found, and as many misses in a cache of their own.
    pub fn new(pool: DbPool, capacity: u64) -> Self {
        let found = Cache::builder().max_capacity(capacity).time_to_live(TTL).build();
        let missing = Cache::builder().max_capacity(capacity).time_to_live(MISS_TTL).build();
        Self { pool, found, missing }
    }

    /// The live (active or suspended) shop under `key`, or `None`. Deleted shops are unknown.
    pub async fn lookup(&self, key: &LookupKey) -> Result<Option<Tenant>, sqlx::Error> {
        if self.missing.contains_key(key) {
            return Ok(None);
        }
        let pool = self.pool.clone();
        let owned = key.clone();
        let result =
            self.found
                .try_get_with(key.clone(), async move {
                    fetch(&pool, &owned).await?.ok_or(Miss::NotFound)
                })
                .await;
        match result {
            Ok(tenant) => Ok(Some(tenant)),
            Err(miss) if matches!(*miss, Miss::NotFound) => {
                self.missing.insert(key.clone(), ()).await;
                Ok(None)
            }
            Err(miss) => Err(match std::sync::Arc::try_unwrap(miss) {
                Ok(Miss::Database(err)) => err,
                Ok(miss) => sqlx::Error::Protocol(miss.to_string()),
                Err(shared) => sqlx::Error::Protocol(shared.to_string()),
            }),
        }
    }

    /// Whether a shop under `key` is in the cache (for tests and diagnostics).
    pub fn is_cached(&self, key: &LookupKey) -> bool {
        self.found.contains_key(key)
    }

    /// Entries in the caches of shops found and of misses, after pending evictions.
    pub async fn cached_counts(&self) -> (u64, u64) {
        self.found.run_pending_tasks().await;
        self.missing.run_pending_tasks().await;
        (self.found.entry_count(), self.missing.entry_count())
    }

    pub fn invalidate_all(&self) {
        self.found.invalidate_all();
        self.missing.invalidate_all();
    }
}

impl TenantRow {
    fn into_tenant(self) -> Option<Tenant> {
        Some(Tenant {
            id: ShopId(self.id),
            slug: self.slug,
            name: self.name,
            currency: self.currency,
            plan: self.plan,
            status: ShopStatus::parse(&self.status)?,
            schema_name: self.schema_name,
            role_name: self.role_name,
            primary_domain: self.primary_domain,
        })
    }
}

/// Shops in one of `statuses`, optionally only the one with this id or slug, straight from
/// the catalog (no cache): for background work such as the outbox worker and reindexing.
pub async fn load_tenants(
    pool: &DbPool,
    statuses: &[&str],
    id: Option<ShopId>,
    slug: Option<&str>,
) -> Result<Vec<Tenant>, sqlx::Error> {
    let statuses: Vec<String> = statuses.iter().map(|s| (*s).to_owned()).collect();
    let rows: Vec<TenantRow> = sqlx::query_as(&format!(
        "{SELECT_TENANT} where s.status = any($1) and ($2::uuid is null or s.id = $2) \
         and ($3::text is null or s.slug = $3) order by s.slug"
    ))
    .bind(statuses)
    .bind(id)
    .bind(slug)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().filter_map(TenantRow::into_tenant).collect())
}

async fn fetch(pool: &DbPool, key: &LookupKey) -> Result<Option<Tenant>, sqlx::Error> {
    let row: Option<TenantRow> = match key {
        LookupKey::Slug(slug) => {
            sqlx::query_as(&format!(
                "{SELECT_TENANT} where s.slug = $1 and s.status in ('active', 'suspended')"
            ))
            .bind(slug)
            .fetch_optional(pool)
            .await?
        }
        LookupKey::Domain(host) => {
            sqlx::query_as(&format!(
                "{SELECT_TENANT} join platform.domains d on d.shop_id = s.id \
                 where d.hostname = $1 and d.verified_at is not null \
                 and s.status in ('active', 'suspended')"
            ))
            .bind(host)
            .fetch_optional(pool)
            .await?
        }
        LookupKey::Id(id) => {
            sqlx::query_as(&format!(
                "{SELECT_TENANT} where s.id = $1 and s.status in ('active', 'suspended')"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?
        }
    };
    Ok(row.and_then(TenantRow::into_tenant))
}
