//! Tenant migrations: `tenant-migrations/*.sql`, applied to every shop's schema.
//!
//! The catalog (`platform.shops.schema_version`) records each shop's version, so a run with
//! nothing pending costs one catalog query however many shops there are. Each shop migrates in
//! its own transaction, acting as its own role; one shop failing is rolled back and reported
//! while the others proceed, and a re-run resumes with whatever is still behind.
//!
//! Rule: migrations are expand/contract. Code must work on schema version N and N+1 while a
//! rolling migration is under way: add columns and tables first, drop them releases later.

use std::borrow::Cow;
use std::time::Instant;

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::migrate::Migrator;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::db::{enter_shop, leave_shop};
use super::{DbPool, ShopId};

static PLATFORM: Migrator = sqlx::migrate!("./migrations");
static TENANT: Migrator = sqlx::migrate!("./tenant-migrations");

#[derive(Debug, Clone)]
pub struct TenantMigration {
    pub version: i64,
    pub description: String,
    pub sql: Cow<'static, str>,
}

/// The tenant migrations compiled into this binary, in order.
pub fn embedded() -> Vec<TenantMigration> {
    TENANT
        .iter()
        .map(|m| TenantMigration {
            version: m.version,
            description: m.description.to_string(),
            sql: m.sql.clone(),
        })
        .collect()
}

pub fn latest_version(migrations: &[TenantMigration]) -> i64 {
    migrations.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Applies the platform schema's migrations (idempotent, serialised by sqlx's advisory lock).
/// The lock is session-level: `pool` connects straight to PostgreSQL (`DATABASE_DIRECT_URL`),
/// never through a transaction pooler.
pub async fn migrate_platform(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    PLATFORM.run(pool).await
}

/// Applies, in order, every migration newer than `from` on a connection already inside a
/// shop's schema and role.
pub async fn apply_migrations(
    conn: &mut PgConnection,
    migrations: &[TenantMigration],
    from: i64,
) -> Result<(), sqlx::Error> {
    for migration in migrations {
        if migration.version > from {
            let sql: &str = &migration.sql;
            sqlx::Executor::execute(&mut *conn, sql).await?;
        }
    }
    Ok(())
}

#[derive(Debug, Default)]
pub struct MigrateReport {
    /// (slug, from version, to version)
    pub upgraded: Vec<(String, i64, i64)>,
    /// (slug, version it stayed at, error)
    pub failed: Vec<(String, i64, String)>,
    pub latest: i64,
}

#[derive(sqlx::FromRow)]
struct PendingShop {
    id: Uuid,
    slug: String,
    schema_name: String,
    role_name: String,
    schema_version: i64,
}

/// Brings every shop behind `latest_version(migrations)` up to it, `concurrency` at a time.
/// `only` restricts the run to the shops with these slugs (a canary first, say).
pub async fn migrate_shops(
    pool: &DbPool,
    migrations: &[TenantMigration],
    only: Option<&[String]>,
    concurrency: usize,
    progress: bool,
) -> anyhow::Result<MigrateReport> {
    let latest = latest_version(migrations);
    let pending: Vec<PendingShop> = sqlx::query_as(
        "select id, slug, schema_name, role_name, schema_version from platform.shops \
         where status <> 'purged' and schema_version < $1 and ($2::text[] is null or slug = any($2)) \
         order by created_at",
    )
    .bind(latest)
    .bind(only)
    .fetch_all(pool)
    .await?;

    let mut report = MigrateReport { latest, ..MigrateReport::default() };
    if pending.is_empty() {
        return Ok(report);
    }
    let bar = if progress { ProgressBar::new(pending.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} shops  {elapsed} eta {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );

    let results: Vec<_> = futures::stream::iter(pending)
        .map(|shop| {
            let bar = bar.clone();
            async move {
                let result = migrate_one(pool, migrations, &shop).await;
                bar.inc(1);
                (shop, result)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    bar.finish_and_clear();

    for (shop, result) in results {
        match result {
            Ok(Some(from)) => report.upgraded.push((shop.slug, from, latest)),
            Ok(None) => {}
            Err(err) => report.failed.push((shop.slug, shop.schema_version, err.to_string())),
        }
    }
    report.upgraded.sort();
    report.failed.sort();
    Ok(report)
}

/// Migrates one shop in one transaction. Returns the version it started from, or `None` if
/// another migrator got there first.
async fn migrate_one(
    pool: &DbPool,
    migrations: &[TenantMigration],
    shop: &PendingShop,
) -> Result<Option<i64>, sqlx::Error> {
    let started = Instant::now();
    let latest = latest_version(migrations);
    let mut tx = pool.begin().await?;
    // Lock the shop's catalog row: two migrators never work on one shop at once.
    let current: i64 =
        sqlx::query_scalar("select schema_version from platform.shops where id = $1 for update")
            .bind(shop.id)
            .fetch_one(&mut *tx)
            .await?;
    if current >= latest {
        return Ok(None);
    }
    enter_shop(&mut tx, &shop.schema_name, &shop.role_name, ShopId(shop.id)).await?;
    apply_migrations(&mut tx, migrations, current).await?;
    leave_shop(&mut tx).await?;
    sqlx::query("update platform.shops set schema_version = $2, updated_at = now() where id = $1")
        .bind(shop.id)
        .bind(latest)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(shop = %shop.slug, from = current, to = latest, elapsed_ms = started.elapsed().as_millis() as u64, "shop migrated");
    Ok(Some(current))
}

/// One line of `shopfleet migrate --status`.
#[derive(Debug, sqlx::FromRow)]
pub struct ShopVersion {
    pub slug: String,
    pub status: String,
    pub schema_version: i64,
}

pub async fn shop_versions(pool: &DbPool) -> Result<Vec<ShopVersion>, sqlx::Error> {
    sqlx::query_as("select slug, status, schema_version from platform.shops where status <> 'purged' order by slug")
        .fetch_all(pool)
        .await
}
