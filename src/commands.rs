//! What the CLI subcommands do; `main.rs` only parses arguments and calls these.
//!
//! Rule: CLI actions on shops are audited like API actions, with actor kind `cli`.

use std::io::{IsTerminal, Read};

use anyhow::{Context, anyhow, bail};

use crate::auth::password;
use crate::config::{DatabaseConfig, SearchConfig, ServerConfig, StorageConfig};
use crate::error::AppError;
use crate::platform::provisioning;
use crate::platform::provisioning::NewShop;
use crate::platform::{admins, audit, shops};
use crate::routes;
use crate::server::{Application, shutdown};
use crate::state::{self, AppState};
use crate::storage::{self, LocalUrls};
use crate::tenancy::{DbPool, ShopId, ShopStatus, Slug, migrate};

/// Turns an error of the shared domain code into a CLI error: its code and message for what a
/// user can fix, the real cause for database and internal errors (an operator reads this, not a
/// client, so there is nothing to hide and \"internal server error\" would say nothing).
pub fn cli_error(err: AppError) -> anyhow::Error {
    match err {
        AppError::Database(err) => anyhow::Error::new(err).context("database error"),
        AppError::Internal(err) => err,
        other => {
            let body = other.body();
            anyhow!("{}: {}", body.error.code, body.error.message)
        }
    }
}

pub async fn serve(config: ServerConfig) -> anyhow::Result<()> {
    let direct = state::connect_direct(&config.database, 1).await?;
    migrate::migrate_platform(&direct).await.context("migrating the platform schema")?;
    // Tenant migrations are a deliberate step (`shopfleet migrate`), not a side effect of
    // starting an instance; the code runs on schema versions N and N+1 meanwhile.
    let latest = migrate::latest_version(&migrate::embedded());
    let behind: i64 = sqlx::query_scalar(
        "select count(*) from platform.shops where status <> 'purged' and schema_version < $1",
    )
    .bind(latest)
    .fetch_one(&direct)
    .await?;
    if behind > 0 {
        tracing::warn!(
            shops = behind,
            latest,
            "shops are behind the latest tenant migration; run `shopfleet migrate`"
        );
    }
    direct.close().await;
    let signal = shutdown::termination_signal().context("installing the signal handlers")?;
    let application = Application::build(config).await?;
    tracing::info!(addr = %application.local_addr(), "shopfleet listening");
    application.run_until(signal).await.context("serving HTTP")
}

/// Applies the platform schema's migrations over a connection straight to PostgreSQL
/// (`DATABASE_DIRECT_URL`): their advisory lock is session-level.
pub async fn migrate_platform(db: &DatabaseConfig) -> anyhow::Result<()> {
    let direct = state::connect_direct(db, 1).await?;
    migrate::migrate_platform(&direct).await.context("migrating the platform schema")?;
    direct.close().await;
    Ok(())
}

pub async fn migrate(
    db: &DatabaseConfig,
    shops: &[String],
    concurrency: usize,
    status: bool,
) -> anyhow::Result<()> {
    // Straight to PostgreSQL, as many connections as shops migrate at once: migrations are
    // long DDL transactions, kept off a transaction pooler's few server connections.
    let connections = u32::try_from(concurrency.max(1)).unwrap_or(u32::MAX);
    let direct = state::connect_direct(db, connections).await?;
    migrate::migrate_platform(&direct).await.context("migrating the platform schema")?;
    let pool = DbPool::direct(direct);
    let migrations = migrate::embedded();
    let latest = migrate::latest_version(&migrations);
    if status {
        let versions = migrate::shop_versions(&pool).await?;
        println!("{:<42} {:<10} {:>8} {:>8}", "SHOP", "STATUS", "VERSION", "PENDING");
        for shop in &versions {
            let pending = migrations.iter().filter(|m| m.version > shop.schema_version).count();
            println!(
                "{:<42} {:<10} {:>8} {:>8}",
                shop.slug, shop.status, shop.schema_version, pending
            );
        }
        let behind = versions.iter().filter(|s| s.schema_version < latest).count();
        println!("{} shops, latest tenant version {latest}, {behind} behind", versions.len());
        return Ok(());
    }
    let report = migrate::migrate_shops(
        &pool,
        &migrations,
        (!shops.is_empty()).then_some(shops),
        concurrency,
        std::io::stderr().is_terminal(),
    )
    .await?;
    for (slug, from, to) in &report.upgraded {
        println!("migrated {slug}: {from} -> {to}");
    }
    for (slug, at, error) in &report.failed {
        eprintln!("FAILED {slug} (stays at {at}): {error}");
    }
    println!(
        "{} migrated, {} failed, latest version {}",
        report.upgraded.len(),
        report.failed.len(),
        report.latest
    );
    if !report.failed.is_empty() {
        bail!("{} shops failed to migrate; fix and re-run to resume", report.failed.len());
    }
    Ok(())
}

/// `reindex [--shop SLUG]`: rebuilds search indexes from PostgreSQL.
pub async fn reindex(
    db: &DatabaseConfig,
    search: &SearchConfig,
    shop: Option<&str>,
) -> anyhow::Result<()> {
    migrate_platform(db).await?;
    let pool = state::connect(db).await?;
    let (engine, _) = crate::search::engine_from_config(search, pool.clone())?;
    let report = crate::search::reindex::reindex(
        &pool,
        engine.as_ref(),
        shop,
        std::io::stderr().is_terminal(),
    )
    .await?;
    println!(
        "reindexed {} products in {} shops ({})",
        report.products,
        report.shops,
        engine.name()
    );
    Ok(())
}

/// Reads a password from an environment variable, or else from standard input.
pub fn read_password(env_var: &str) -> anyhow::Result<String> {
    if let Ok(password) = std::env::var(env_var) {
        return Ok(password);
    }
    if std::io::stdin().is_terminal() {
        eprint!("password (then Enter; it will be shown): ");
    }
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).context("reading the password from stdin")?;
    let password = input.lines().next().unwrap_or_default().to_owned();
    if password.is_empty() {
        bail!("no password: set {env_var} or pipe it on stdin");
    }
    Ok(password)
}

pub async fn admin_create(
    db: &DatabaseConfig,
    email: &str,
    password_env: &str,
) -> anyhow::Result<()> {
    let email = crate::values::Email::parse("email", email).map_err(cli_error)?;
    let password = read_password(password_env)?;
    password::check_strength(&password, email.as_str()).map_err(|msg| anyhow!("password {msg}"))?;
    migrate_platform(db).await?;
    let pool = state::connect(db).await?;
    let hash = password::hash(password).await.map_err(cli_error)?;
    let id = admins::create(&pool, email.as_str(), &hash).await.map_err(cli_error)?;
    println!("platform admin {} created ({id})", email.as_str());
    Ok(())
}

/// `shop create`: provisions a shop and its owner, as signup does.
pub async fn shop_create(
    db: &DatabaseConfig,
    slug: &str,
    name: &str,
    currency: &str,
    owner_email: &str,
    password_env: &str,
) -> anyhow::Result<()> {
    let slug = Slug::parse(slug).map_err(|msg| anyhow!("slug {msg}"))?;
    let name = crate::values::Name::parse("name", name, 100).map_err(cli_error)?;
    let currency = crate::values::Currency::parse("currency", currency).map_err(cli_error)?;
    let email = crate::values::Email::parse("owner_email", owner_email).map_err(cli_error)?;
    let password = read_password(password_env)?;
    password::check_strength(&password, email.as_str()).map_err(|msg| anyhow!("password {msg}"))?;
    migrate_platform(db).await?;
    let pool = state::connect(db).await?;
    let new_shop = NewShop {
        id: ShopId::generate(),
        slug,
        name: name.into(),
        currency: currency.into(),
        plan: "free".to_owned(),
        owner_email: email.as_str().to_owned(),
        owner_name: String::new(),
        owner_password_hash: password::hash(password).await.map_err(cli_error)?,
    };
    let shop =
        provisioning::provision(&pool, &migrate::embedded(), &new_shop).await.map_err(cli_error)?;
    println!("shop {} created ({}), owner {}", shop.tenant.slug, shop.tenant.id, email.as_str());
    Ok(())
}

async fn find_shop(pool: &DbPool, slug: &str) -> anyhow::Result<ShopId> {
    let id: Option<uuid::Uuid> =
        sqlx::query_scalar("select id from platform.shops where slug = $1 and status <> 'purged'")
            .bind(slug)
            .fetch_optional(pool)
            .await?;
    id.map(ShopId).ok_or_else(|| anyhow!("no shop '{slug}'"))
}

/// `shop suspend|resume|delete <slug>`.
pub async fn shop_action(
    db: &DatabaseConfig,
    action: ShopAction,
    slug: &str,
) -> anyhow::Result<()> {
    let pool = state::connect(db).await?;
    let id = find_shop(&pool, slug).await?;
    let actor = audit::Actor { kind: "cli", id: None, label: whoami() };
    let mut tx = pool.begin().await?;
    let (name, to, from): (&str, ShopStatus, &[&str]) = match action {
        ShopAction::Suspend => ("shop.suspend", ShopStatus::Suspended, &["active"]),
        ShopAction::Resume => ("shop.resume", ShopStatus::Active, &["suspended"]),
        ShopAction::Delete => ("shop.delete", ShopStatus::Deleted, &["active", "suspended"]),
    };
    let before =
        shops::change_status(&mut tx, &actor, id.0, from, to, name).await.map_err(cli_error)?;
    tx.commit().await?;
    println!("{slug}: {} -> {}", before.status, to.as_str());
    Ok(())
}

#[derive(Debug, Clone, Copy)]
pub enum ShopAction {
    Suspend,
    Resume,
    Delete,
}

/// `shop purge <slug>`: drops a deleted shop's schema and role, then, once that has committed,
/// deletes its stored objects (see `storage`) and its search index. On a shop that is already
/// purged it repeats those deletions (idempotent), which finishes an interrupted purge.
pub async fn shop_purge(
    db: &DatabaseConfig,
    storage_config: &StorageConfig,
    search: &SearchConfig,
    slug: &str,
) -> anyhow::Result<()> {
    storage_config.validate()?;
    let pool = state::connect(db).await?;
    // The live shop with this slug, else the most recently purged one.
    let id: Option<uuid::Uuid> = sqlx::query_scalar(
        "select id from platform.shops where slug = $1 order by status = 'purged', created_at desc limit 1",
    )
    .bind(slug)
    .fetch_optional(&pool)
    .await?;
    let id = id.map(ShopId).ok_or_else(|| anyhow!("no shop '{slug}'"))?;
    let actor = audit::Actor { kind: "cli", id: None, label: whoami() };
    let mut tx = pool.begin().await?;
    let purged = provisioning::purge(&mut tx, id).await.map_err(cli_error)?;
    if purged {
        audit::record(&mut tx, &actor, "shop.purge", Some(id.0), serde_json::json!({}))
            .await
            .map_err(cli_error)?;
    }
    tx.commit().await?;
    let store = storage::from_config(storage_config, LocalUrls::unused());
    let objects = storage::purge_shop(store.as_ref(), id).await?;
    let (engine, _) = crate::search::engine_from_config(search, pool.clone())?;
    engine.delete_index(id).await.context("deleting the shop's search index")?;
    if purged {
        println!("{slug} purged: schema and role dropped, {objects} stored objects deleted");
    } else {
        println!("{slug} was already purged; {objects} leftover stored objects deleted");
    }
    Ok(())
}

pub async fn shop_list(db: &DatabaseConfig) -> anyhow::Result<()> {
    let pool = state::connect(db).await?;
    let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
        "select slug, name, status, plan, schema_version from platform.shops order by slug",
    )
    .fetch_all(&pool)
    .await?;
    println!("{:<42} {:<30} {:<10} {:<6} {:>7}", "SLUG", "NAME", "STATUS", "PLAN", "VERSION");
    for (slug, name, status, plan, version) in rows {
        println!("{slug:<42} {name:<30} {status:<10} {plan:<6} {version:>7}");
    }
    Ok(())
}

fn whoami() -> String {
    std::env::var("USER").map_or_else(|_| "cli".to_owned(), |user| format!("cli:{user}"))
}

/// The OpenAPI document, without a database.
pub fn openapi_document() -> anyhow::Result<String> {
    let pool = sqlx::postgres::PgPoolOptions::new().connect_lazy("postgres://localhost/unused")?;
    let config = ServerConfig {
        database: DatabaseConfig {
            database_url: String::new(),
            database_direct_url: None,
            database_transaction_pooler: false,
            database_max_connections: 1,
            database_max_lifetime_secs: 60,
            shop_statement_timeout_ms: 0,
            shop_lock_timeout_ms: 0,
            shop_idle_in_transaction_timeout_ms: 0,
        },
        shutdown: Default::default(),
        listen_addr: "127.0.0.1:0".into(),
        metrics_addr: None,
        base_domain: "shops.localhost".into(),
        public_url_template: "http://{host}".into(),
        search: Default::default(),
        storage: Default::default(),
        webhooks: Default::default(),
        cache: Default::default(),
        limits: Default::default(),
        jwt_secret: "x".repeat(32),
        access_token_ttl_secs: 900,
        refresh_token_ttl_days: 30,
        tenant_cache_capacity: 1,
        password_hash_concurrency: 1,
        password_hash_queue: 0,
        cors_allowed_origins: Vec::new(),
        // No lookup happens; a resolver of its own keeps the system's DNS configuration unread.
        dns_resolver: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 53))),
    };
    Ok(routes::openapi_json(&AppState::new(DbPool::direct(pool), config)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_errors_show_codes_for_user_errors_and_causes_for_database_errors() {
        let user = cli_error(AppError::conflict("slug_taken", "this shop address is taken"));
        assert_eq!(user.to_string(), "slug_taken: this shop address is taken");
        let database = cli_error(AppError::Database(sqlx::Error::Protocol(
            "relation \"platform.shops\" does not exist".into(),
        )));
        let printed = format!("{database:#}");
        assert!(printed.contains("platform.shops"), "{printed}");
        assert!(!printed.contains("internal server error"), "{printed}");
    }
}
