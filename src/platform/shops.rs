//! The shops of the fleet as platform admins see them: catalog rows plus usage.

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use sqlx::PgConnection;
use uuid::Uuid;

use super::audit::{self, Actor};
use crate::error::{AppError, AppResult};
use crate::quotas::{self, QuotaUsage};
use crate::tenancy::{DbPool, ShopId, ShopStatus, Tenant, TenantTx};

#[derive(Debug, Clone, Object, sqlx::FromRow)]
pub struct ShopRecord {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    /// `active`, `suspended`, `deleted` or `purged`.
    pub status: String,
    pub plan: String,
    pub currency: String,
    #[oai(nullable)]
    pub contact_email: Option<String>,
    /// Tenant migration version of the shop's schema.
    pub schema_version: i64,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub suspended_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub deleted_at: Option<DateTime<Utc>>,
    #[oai(skip)]
    pub schema_name: String,
    #[oai(skip)]
    pub role_name: String,
}

const SELECT_SHOP: &str = "select id, slug, name, status, plan, currency, contact_email, schema_version, \
     created_at, suspended_at, deleted_at, schema_name, role_name from platform.shops";

pub fn not_found() -> AppError {
    AppError::not_found("shop_not_found", "no such shop")
}

pub async fn list(
    pool: &DbPool,
    q: Option<&str>,
    status: Option<&str>,
    before: Option<Uuid>,
    limit: i64,
) -> AppResult<Vec<ShopRecord>> {
    Ok(sqlx::query_as(&format!(
        "{SELECT_SHOP} where ($1::text is null or slug ilike $1 or name ilike $1) \
         and ($2::text is null or status = $2) and ($3::uuid is null or id < $3) \
         order by id desc limit $4"
    ))
    .bind(q)
    .bind(status)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

pub async fn find(conn: &mut PgConnection, id: Uuid, lock: bool) -> AppResult<ShopRecord> {
    let suffix = if lock { " for update" } else { "" };
    sqlx::query_as(&format!("{SELECT_SHOP} where id = $1{suffix}"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(not_found)
}

/// Moves a shop to `to` if it is in one of `from`; a shop already in `to` is left as it is.
pub async fn transition(
    conn: &mut PgConnection,
    shop: &ShopRecord,
    from: &[&str],
    to: ShopStatus,
) -> AppResult<bool> {
    if shop.status == to.as_str() {
        return Ok(false);
    }
    if !from.contains(&shop.status.as_str()) {
        return Err(AppError::conflict(
            "invalid_transition",
            format!("a {} shop cannot become {}", shop.status, to.as_str()),
        ));
    }
    sqlx::query(
        "update platform.shops set status = $2, updated_at = now(), \
         suspended_at = case when $2 = 'suspended' then now() when $2 = 'active' then null else suspended_at end, \
         deleted_at = case when $2 = 'deleted' then now() else deleted_at end where id = $1",
    )
    .bind(shop.id)
    .bind(to.as_str())
    .execute(conn)
    .await?;
    Ok(true)
}

#[derive(Debug, Object, Default)]
pub struct ShopUsage {
    pub products: i64,
    pub active_products: i64,
    pub staff: i64,
    pub customers: i64,
    /// Bytes of the shop's product images in object storage.
    pub storage_bytes: i64,
    pub orders: i64,
    /// What the shop's orders have taken, net of refunds, in minor units of its currency.
    pub revenue: i64,
    /// Each limit of the shop's plan against its usage: products, staff, webhook endpoints,
    /// custom domains (claims included) and storage bytes. After a downgrade usage may exceed a
    /// limit; creating more is then refused (`plan_limit_reached`).
    pub quotas: Vec<QuotaUsage>,
}

/// Counts inside the shop's own schema (through its `TenantTx`); none for a purged shop.
pub async fn usage(pool: &DbPool, shop: &ShopRecord) -> AppResult<Option<ShopUsage>> {
    if shop.status == "purged" {
        return Ok(None);
    }
    let tenant = Tenant {
        id: ShopId(shop.id),
        slug: shop.slug.clone(),
        name: shop.name.clone(),
        currency: shop.currency.clone(),
        plan: shop.plan.clone(),
        status: ShopStatus::parse(&shop.status).unwrap_or(ShopStatus::Active),
        schema_name: shop.schema_name.clone(),
        role_name: shop.role_name.clone(),
        // Not needed to count rows in the shop's schema.
        primary_domain: None,
    };
    let mut tx = TenantTx::begin(pool, &tenant).await?;
    let (products, active_products, staff, customers): (i64, i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from products), (select count(*) from products where status = 'active'), \
         (select count(*) from staff), (select count(*) from customers)",
    )
    .fetch_one(&mut *tx)
    .await?;
    // Orders arrive with tenant migration 0007; a shop not migrated yet has none.
    let has_orders: bool =
        sqlx::query_scalar("select to_regclass('orders') is not null").fetch_one(&mut *tx).await?;
    let (orders, revenue): (i64, i64) = if has_orders {
        sqlx::query_as(
            "select count(*), coalesce(sum(paid_total - refunded_total), 0)::bigint from orders",
        )
        .fetch_one(&mut *tx)
        .await?
    } else {
        (0, 0)
    };
    let storage_bytes = crate::media::storage_bytes(&mut tx).await?;
    tx.commit().await?;
    let quotas = quotas::report(pool, &tenant).await?;
    Ok(Some(ShopUsage {
        products,
        active_products,
        staff,
        customers,
        storage_bytes,
        orders,
        revenue,
        quotas,
    }))
}

/// Moves a shop to `to` and audits it, in the caller's transaction. Used by the API and the CLI.
pub async fn change_status(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    from: &[&str],
    to: ShopStatus,
    action: &str,
) -> AppResult<ShopRecord> {
    let shop = find(conn, id, true).await?;
    if transition(conn, &shop, from, to).await? {
        audit::record(
            conn,
            actor,
            action,
            Some(id),
            serde_json::json!({ "from": shop.status, "to": to.as_str() }),
        )
        .await?;
    }
    Ok(shop)
}

pub async fn plan_exists(conn: &mut PgConnection, plan: &str) -> AppResult<bool> {
    Ok(sqlx::query_scalar("select exists (select 1 from platform.plans where code = $1)")
        .bind(plan)
        .fetch_one(conn)
        .await?)
}

pub async fn domains_of(pool: &DbPool, id: Uuid) -> AppResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "select hostname from platform.domains where shop_id = $1 and verified_at is not null \
         order by hostname",
    )
    .bind(id)
    .fetch_all(pool)
    .await?)
}
