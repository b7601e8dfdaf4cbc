//! The in-process registry of shops: resolves a slug or a custom domain to a [`Tenant`]
//! without a database round trip per request.
//!
//! Entries (including "no such shop") live in a bounded cache with a TTL as a safety net.
//! Changes to `platform.shops` and `platform.domains` fire `NOTIFY shopfleet_tenants` from a
//! trigger, whoever made them (API, CLI, SQL console); every instance listens and drops its
//! cache. Shop changes are rare next to reads, so dropping everything keeps the rule simple:
//! a cached answer is never older than the last change this instance was told about.
//!
//! The listener itself is the server's (`server::listener`), which also routes the RBAC and
//! outbox channels.
//!
//! Rule: the listener is connected before the server accepts requests, and a lost listener
//! connection also drops the cache (notifications may have been missed meanwhile).

use std::time::Duration;

use moka::future::Cache;
use sqlx::PgPool;
use uuid::Uuid;

use super::{ShopId, ShopStatus, Tenant};

/// Channel of shop and domain changes (payload: the shop id).
pub const TENANTS_CHANNEL: &str = "shopfleet_tenants";

const TTL: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct TenantRegistry {
    pool: PgPool,
    cache: Cache<LookupKey, Option<Tenant>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LookupKey {
    Slug(String),
    Domain(String),
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
}

const SELECT_TENANT: &str = "select s.id, s.slug, s.name, s.currency, s.plan, s.status, \
     s.schema_name, s.role_name from platform.shops s";

impl TenantRegistry {
    pub fn new(pool: PgPool, capacity: u64) -> Self {
        let cache = Cache::builder().max_capacity(capacity).time_to_live(TTL).build();
        Self { pool, cache }
    }

    /// The live (active or suspended) shop under `key`, or `None`. Deleted shops are unknown.
    pub async fn lookup(&self, key: &LookupKey) -> Result<Option<Tenant>, sqlx::Error> {
        let pool = self.pool.clone();
        let owned = key.clone();
        self.cache
            .try_get_with(key.clone(), async move { fetch(&pool, &owned).await })
            .await
            .map_err(|err| match std::sync::Arc::try_unwrap(err) {
                Ok(err) => err,
                Err(shared) => sqlx::Error::Protocol(shared.to_string()),
            })
    }

    pub fn invalidate_all(&self) {
        self.cache.invalidate_all();
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
        })
    }
}

/// Shops in one of `statuses`, optionally only the one with this id or slug, straight from
/// the catalog (no cache): for background work such as the outbox worker and reindexing.
pub async fn load_tenants(
    pool: &PgPool,
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

async fn fetch(pool: &PgPool, key: &LookupKey) -> Result<Option<Tenant>, sqlx::Error> {
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
                 where d.hostname = $1 and s.status in ('active', 'suspended')"
            ))
            .bind(host)
            .fetch_optional(pool)
            .await?
        }
    };
    Ok(row.and_then(TenantRow::into_tenant))
}
