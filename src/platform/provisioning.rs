//! Creating and purging shops.
//!
//! Provisioning is one transaction: catalog row, role, schema, every tenant migration, the RBAC
//! templates and the owner account. PostgreSQL DDL and `CREATE ROLE` are transactional, so any
//! failure leaves no schema, no role and no catalog row behind.
//!
//! Rule: schema and role names come only from a validated [`Slug`] and a generated id, and are
//! always quoted; no user text reaches DDL.

use std::time::{Duration, Instant};

use sqlx::PgConnection;
use uuid::Uuid;

use crate::auth::rbac;
use crate::error::{AppError, AppResult, OnConstraint};
use crate::events;
use crate::tenancy::DbPool;
use crate::tenancy::db::{enter_shop, leave_shop};
use crate::tenancy::migrate::{TenantMigration, apply_migrations};
use crate::tenancy::{
    ShopId, ShopStatus, Slug, Tenant, quote_ident, role_name_for, schema_name_for,
};

/// What a new shop is made of; every field already validated.
pub struct NewShop {
    /// A fresh id (`ShopId::generate()`); it also names the shop's role.
    pub id: ShopId,
    pub slug: Slug,
    pub name: String,
    pub currency: String,
    pub plan: String,
    pub owner_email: String,
    pub owner_name: String,
    /// argon2id hash of the owner's password (hashed before the transaction opens).
    pub owner_password_hash: String,
}

pub struct ProvisionedShop {
    pub tenant: Tenant,
    pub owner_id: Uuid,
    /// Time spent in the database part, for the `Server-Timing` header and the benchmark.
    pub database_time: Duration,
}

/// Creates a shop, atomically. `migrations` is normally [`crate::tenancy::migrate::embedded`]; tests pass
/// a set with a failing step to prove that nothing is left behind.
pub async fn provision(
    pool: &DbPool,
    migrations: &[TenantMigration],
    new: &NewShop,
) -> AppResult<ProvisionedShop> {
    let started = Instant::now();
    let id = new.id;
    let tenant = Tenant {
        id,
        slug: new.slug.as_str().to_owned(),
        name: new.name.clone(),
        currency: new.currency.clone(),
        plan: new.plan.clone(),
        status: ShopStatus::Active,
        schema_name: schema_name_for(&new.slug),
        role_name: role_name_for(id),
        primary_domain: None,
    };
    let version = migrations.iter().map(|m| m.version).max().unwrap_or(0);

    let mut tx = pool.begin().await?;
    // The catalog row first: a concurrent signup for the same slug waits on the unique index
    // here and then fails cleanly, before either has created a role or a schema.
    sqlx::query(
        "insert into platform.shops (id, slug, name, currency, contact_email, plan, status, \
         schema_name, role_name, schema_version) values ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $9)",
    )
    .bind(id)
    .bind(&tenant.slug)
    .bind(&tenant.name)
    .bind(&tenant.currency)
    .bind(&new.owner_email)
    .bind(&tenant.plan)
    .bind(&tenant.schema_name)
    .bind(&tenant.role_name)
    .bind(version)
    .execute(&mut *tx)
    .await
    .on_constraint("shops_slug_key", |_| AppError::conflict("slug_taken", "this shop address is taken"))?;

    create_role_and_schema(&mut tx, &tenant).await?;
    enter_shop(&mut tx, &tenant.schema_name, &tenant.role_name, id).await?;
    apply_migrations(&mut tx, migrations, 0).await?;
    rbac::install_templates(&mut tx, id).await?;
    let owner_id = Uuid::now_v7();
    sqlx::query("insert into staff (id, email, name, password_hash, is_owner) values ($1, $2, $3, $4, true)")
        .bind(owner_id)
        .bind(&new.owner_email)
        .bind(&new.owner_name)
        .bind(&new.owner_password_hash)
        .execute(&mut *tx)
        .await?;
    rbac::assign_role(&mut tx, id, owner_id, "owner").await?;
    // Outbox-fed search engines create the shop's index from this event.
    events::emit(
        &mut tx,
        id,
        events::EventKind::ShopCreated,
        serde_json::json!({ "slug": tenant.slug }),
    )
    .await?;
    leave_shop(&mut tx).await?;
    tx.commit().await?;

    Ok(ProvisionedShop { tenant, owner_id, database_time: started.elapsed() })
}

async fn create_role_and_schema(
    conn: &mut PgConnection,
    tenant: &Tenant,
) -> Result<(), sqlx::Error> {
    let role = quote_ident(&tenant.role_name);
    let schema = quote_ident(&tenant.schema_name);
    // NOLOGIN: only the application's role can act as it, through set_config('role', …, true).
    // On PostgreSQL 16+ the grant needs `WITH SET TRUE` (the default there).
    let ddl = format!(
        "create role {role} nologin; grant {role} to current_user; \
         create schema {schema} authorization {role};"
    );
    sqlx::Executor::execute(conn, ddl.as_str()).await?;
    Ok(())
}

/// Drops a deleted shop's schema and role for good, inside the caller's transaction (so the
/// audit entry commits with it). Its catalog row stays, marked `purged`, and its slug becomes
/// free. Returns whether anything was purged (`false` if it already was).
pub async fn purge(conn: &mut PgConnection, id: ShopId) -> AppResult<bool> {
    let row: Option<(String, String, String)> = sqlx::query_as(
        "select schema_name, role_name, status from platform.shops where id = $1 for update",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((schema_name, role_name, status)) = row else {
        return Err(AppError::not_found("shop_not_found", "no such shop"));
    };
    match status.as_str() {
        "deleted" => {}
        "purged" => return Ok(false),
        _ => {
            return Err(AppError::conflict(
                "shop_not_deleted",
                "delete the shop before purging it",
            ));
        }
    }
    // Only the owner of a schema may drop it: act as the shop's role for that.
    enter_shop(conn, &schema_name, &role_name, id).await?;
    sqlx::Executor::execute(
        &mut *conn,
        format!("drop schema if exists {} cascade", quote_ident(&schema_name)).as_str(),
    )
    .await?;
    leave_shop(conn).await?;
    sqlx::Executor::execute(
        &mut *conn,
        format!("drop role if exists {}", quote_ident(&role_name)).as_str(),
    )
    .await?;
    sqlx::query("update platform.shops set status = 'purged', updated_at = now() where id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(true)
}
