//! Plan quotas: how many products, staff, webhook endpoints and custom domains a shop may have,
//! and how many bytes of product images it may store, by its plan (`platform.plans`; a null
//! limit is unlimited).
//!
//! Rule: every place that creates one of these reads the shop's [`Quota`] before it begins the
//! creating transaction, then calls [`Quota::enforce`] once inside it, *after* writing the new
//! row and before committing. Over the limit, the
//! call fails with 403 `plan_limit_reached` (`AppError::PlanLimitReached`: the resource, the
//! limit and the usage before this creation) and the caller's transaction rolls back, so the
//! row is never seen.
//!
//! **Atomicity.** [`Quota::enforce`] takes a transaction-level advisory lock named by the shop and the
//! resource (`pg_advisory_xact_lock`, held until the transaction ends), then counts, then
//! compares. Two creations of one shop's resource therefore count one after the other: the
//! second one's count starts after the first has committed or rolled back, and in READ
//! COMMITTED (every shop transaction's level) a statement started after a commit sees it. So the
//! second sees the first's row and two concurrent creations cannot both take the last slot.
//! Counting after the insert (rather than before it) makes the count exactly what would commit,
//! lets a more precise refusal (`slug_taken`, `email_taken`, `domain_exists`) win over the quota,
//! and keeps the lock only from the count to the commit. Deletions take no lock: they only free
//! slots. Other shops and other resources use other locks (a hash collision would only make two
//! unrelated creations wait for each other, never let one through).
//!
//! **The limit** is read from the shop's current plan with the application's pool (shop roles
//! cannot read `platform.plans`), by shop id rather than from the cached `Tenant`, so a plan
//! change applies to every creation that starts after it commits. It is read *before* the
//! creating transaction begins, never while it holds its connection: a request holding one
//! connection while it waits for a second can wait forever once every connection of the pool
//! (or of a transaction pooler's few server connections) is held by such requests.
//!
//! **Downgrades.** A platform admin may move a shop to a plan below its current usage: nothing
//! is deleted or hidden, but every further creation of that resource is refused until usage is
//! back under the limit. The platform's shop detail shows each usage against its limit
//! ([`report`]).
//!
//! Usage is counted in the tables of the owning domains (`products`, `staff`,
//! `webhook_endpoints`, `media.size_bytes` in the shop's schema; `platform.domains` for custom
//! domains, claims included); this module imports none of them, so any domain may call it.

use poem_openapi::Object;
use sqlx::PgConnection;

use crate::error::{AppError, AppResult};
use crate::tenancy::{DbPool, ShopId, Tenant, TenantTx};

/// What a plan limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Products,
    Staff,
    WebhookEndpoints,
    CustomDomains,
    /// Bytes of the shop's product images in object storage (pending uploads excluded).
    StorageBytes,
}

impl Resource {
    pub const ALL: [Resource; 5] = [
        Self::Products,
        Self::Staff,
        Self::WebhookEndpoints,
        Self::CustomDomains,
        Self::StorageBytes,
    ];

    /// The name in API bodies (`resource`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Products => "products",
            Self::Staff => "staff",
            Self::WebhookEndpoints => "webhook_endpoints",
            Self::CustomDomains => "custom_domains",
            Self::StorageBytes => "storage_bytes",
        }
    }

    /// The column of `platform.plans` holding the limit (a constant, never client text).
    fn limit_column(self) -> &'static str {
        match self {
            Self::Products => "max_products",
            Self::Staff => "max_staff",
            Self::WebhookEndpoints => "max_webhook_endpoints",
            Self::CustomDomains => "max_custom_domains",
            Self::StorageBytes => "max_storage_bytes",
        }
    }

    /// The shop-schema table counted, and the expression summed over it; `None` for custom
    /// domains, which live in `platform.domains`.
    fn shop_table(self) -> Option<(&'static str, &'static str)> {
        match self {
            Self::Products => Some(("products", "count(*)")),
            Self::Staff => Some(("staff", "count(*)")),
            Self::WebhookEndpoints => Some(("webhook_endpoints", "count(*)")),
            Self::StorageBytes => Some(("media", "coalesce(sum(size_bytes), 0)")),
            Self::CustomDomains => None,
        }
    }
}

/// One limit of a shop's plan against its usage, as the platform's shop detail shows it.
#[derive(Debug, Clone, Object)]
pub struct QuotaUsage {
    /// `products`, `staff`, `webhook_endpoints`, `custom_domains` or `storage_bytes`.
    pub resource: String,
    /// What the shop has now (bytes for `storage_bytes`).
    pub usage: i64,
    /// The plan's limit; null means unlimited.
    #[oai(nullable)]
    pub limit: Option<i64>,
    /// Whether creating more is refused now (`plan_limit_reached`): usage is at or above the
    /// limit, e.g. after a downgrade.
    pub at_limit: bool,
}

/// The shop's plan limit for `resource` (`None`: unlimited), read with the application's pool.
async fn limit(pool: &DbPool, shop: ShopId, resource: Resource) -> AppResult<Option<i64>> {
    let row: Option<Option<i64>> = sqlx::query_scalar(&format!(
        "select p.{}::bigint from platform.shops s join platform.plans p on p.code = s.plan \
         where s.id = $1",
        resource.limit_column()
    ))
    .bind(shop)
    .fetch_optional(pool)
    .await?;
    row.ok_or_else(|| anyhow::anyhow!("shop {shop} is not in the catalog").into())
}

/// A shop's limit for one resource, read before the creating transaction begins.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    shop: ShopId,
    resource: Resource,
    limit: Option<i64>,
}

impl Quota {
    /// Reads the shop's current limit for `resource`.
    pub async fn read(pool: &DbPool, shop: ShopId, resource: Resource) -> AppResult<Self> {
        Ok(Self { shop, resource, limit: limit(pool, shop, resource).await? })
    }

    /// Refuses the creation that the caller's transaction has just written if it takes the
    /// shop over the limit. `added` is what the creation adds to the usage (1 for a row, the
    /// file's bytes for storage). Call it after the insert and before the commit, on the
    /// creating transaction: a `TenantTx` for shop tables, an application transaction for
    /// custom domains. See the module doc for why this is atomic.
    pub async fn enforce(&self, conn: &mut PgConnection, added: i64) -> AppResult<()> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("shopfleet.quota:{}:{}", self.shop, self.resource.as_str()))
            .execute(&mut *conn)
            .await?;
        let with_new = count(conn, self.shop, self.resource).await?;
        if with_new > limit {
            return Err(AppError::PlanLimitReached {
                resource: self.resource.as_str(),
                limit,
                usage: with_new.saturating_sub(added).max(0),
            });
        }
        Ok(())
    }
}

/// Current usage of `resource`. Shop tables are counted through `conn`, which must be inside
/// the shop's schema and role; custom domains through the application role.
async fn count(conn: &mut PgConnection, shop: ShopId, resource: Resource) -> AppResult<i64> {
    let sql = match resource.shop_table() {
        Some((table, expression)) => format!("select ({expression})::bigint from {table}"),
        None => "select count(*) from platform.domains where shop_id = $1".to_owned(),
    };
    let query = sqlx::query_scalar(&sql);
    let query = if resource.shop_table().is_none() { query.bind(shop) } else { query };
    Ok(query.fetch_one(conn).await?)
}

/// Every limit of the shop's plan against its usage, for the platform's shop detail. The plan
/// and custom domains are read with `pool`, then the shop's tables in a `TenantTx` of its own.
/// A table a shop's schema does not have yet (a migration still rolling out) counts 0.
pub async fn report(pool: &DbPool, tenant: &Tenant) -> AppResult<Vec<QuotaUsage>> {
    let mut limits = Vec::with_capacity(Resource::ALL.len());
    for resource in Resource::ALL {
        limits.push((resource, limit(pool, tenant.id, resource).await?));
    }
    let mut platform = pool.begin().await?;
    let custom_domains = count(&mut platform, tenant.id, Resource::CustomDomains).await?;
    platform.commit().await?;

    let mut tx = TenantTx::begin(pool, tenant).await?;
    let mut out = Vec::with_capacity(limits.len());
    for (resource, limit) in limits {
        let usage = match resource.shop_table() {
            Some((table, _)) => {
                let exists: bool = sqlx::query_scalar("select to_regclass($1) is not null")
                    .bind(table)
                    .fetch_one(&mut *tx)
                    .await?;
                if exists { count(&mut tx, tenant.id, resource).await? } else { 0 }
            }
            None => custom_domains,
        };
        out.push(QuotaUsage {
            resource: resource.as_str().to_owned(),
            usage,
            limit,
            at_limit: limit.is_some_and(|limit| usage >= limit),
        });
    }
    tx.commit().await?;
    Ok(out)
}
