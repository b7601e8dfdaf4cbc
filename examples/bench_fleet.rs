//! Benchmark driver used by `scripts/bench.sh` (not a test: it measures, it asserts nothing).
//!
//! - `signup N`: N signups over HTTP against an in-process server; latency p50/p99 of the
//!   whole request and of its database provisioning part (`Server-Timing: provision`).
//! - `migrate N`: provisions shops until there are N, then times `migrate` with nothing
//!   pending, and applying one new tenant migration to all of them.
//! - `seed-storefront N FILE [PRODUCTS]`: N shops with PRODUCTS (default 20) active products
//!   each; writes their slugs to FILE.
//! - `seed-search SHOPS PRODUCTS PREFIX FILE`: SHOPS shops with PRODUCTS varied clothing products
//!   each (names, descriptions, categories, sizes and colours from a vocabulary).

use std::borrow::Cow;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use shopfleet::catalog::{NewProduct, NewVariant, ProductOption, create_product};
use shopfleet::config::{DatabaseConfig, ServerConfig};
use shopfleet::platform::provisioning::{NewShop, provision};
use shopfleet::server::Application;
use shopfleet::state;
use shopfleet::tenancy::migrate::{self, TenantMigration};
use shopfleet::tenancy::{Slug, TenantTx};

fn database() -> DatabaseConfig {
    DatabaseConfig {
        database_url: std::env::var("DATABASE_URL").expect("DATABASE_URL"),
        database_direct_url: None,
        database_transaction_pooler: false,
        database_max_connections: 20,
        database_max_lifetime_secs: 900,
        shop_statement_timeout_ms: 10_000,
        shop_lock_timeout_ms: 5_000,
        shop_idle_in_transaction_timeout_ms: 30_000,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

fn summary(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{label}: n={} p50={:.1} ms p99={:.1} ms max={:.1} ms",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        percentile(&samples, 1.0)
    );
}

async fn signup(count: usize) -> anyhow::Result<()> {
    shopfleet::commands::migrate_platform(&database()).await?;
    let config = ServerConfig {
        database: database(),
        search: Default::default(),
        storage: Default::default(),
        webhooks: Default::default(),
        cache: Default::default(),
        limits: shopfleet::config::LimitsConfig::unlimited(),
        shutdown: Default::default(),
        listen_addr: "127.0.0.1:0".into(),
        metrics_addr: None,
        base_domain: "shops.bench".into(),
        public_url_template: "http://{host}".into(),
        jwt_secret: "bench-secret-bench-secret-bench-secret".into(),
        access_token_ttl_secs: 900,
        refresh_token_ttl_days: 30,
        tenant_cache_capacity: 10_000,
        password_hash_concurrency: 0,
        password_hash_queue: 64,
        cors_allowed_origins: Vec::new(),
        dns_resolver: None,
    };
    let application = Application::build(config).await?;
    let url = format!("http://{}/v1/signup", application.local_addr());
    tokio::spawn(application.run());
    let client = reqwest::Client::new();
    let run = uuid::Uuid::now_v7().simple().to_string();
    let (mut total, mut provisioning) = (Vec::new(), Vec::new());
    for i in 0..count {
        let slug = format!("s{}-{i}", &run[20..]);
        let started = Instant::now();
        let response = client
            .post(&url)
            .json(&json!({ "slug": slug, "name": "Bench", "owner_email": format!("o@{slug}.example.com"), "owner_password": "bench-password-42" }))
            .send()
            .await?;
        let elapsed = started.elapsed();
        anyhow::ensure!(response.status() == 201, "signup {i}: {}", response.status());
        let timing = response
            .headers()
            .get("server-timing")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let provision_ms: f64 = timing
            .split(',')
            .find_map(|part| part.trim().strip_prefix("provision;dur="))
            .and_then(|ms| ms.parse().ok())
            .context("no provision timing")?;
        total.push(elapsed);
        provisioning.push(Duration::from_secs_f64(provision_ms / 1000.0));
    }
    summary("signup (whole HTTP request, incl. argon2id hashing)", total);
    summary(
        "signup database provisioning (role, schema, migrations, policies, owner)",
        provisioning,
    );
    Ok(())
}

async fn create_shops(
    pool: &shopfleet::tenancy::DbPool,
    target: i64,
    prefix: &str,
) -> anyhow::Result<Vec<String>> {
    let existing: Vec<String> = sqlx::query_scalar(
        "select slug from platform.shops where slug like $1 || '-%' and status = 'active'",
    )
    .bind(prefix)
    .fetch_all(pool)
    .await?;
    let mut slugs = existing;
    // Provisioning emits `shop.created`: the outbox must know its subscribers.
    shopfleet::server::register_subscriptions();
    let migrations = migrate::embedded();
    // One hash for all: the benchmark is about the database, not about argon2.
    let hash = shopfleet::auth::password::hash("bench-password-42".into())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = Instant::now();
    while (slugs.len() as i64) < target {
        let slug = format!("{prefix}-{}", slugs.len());
        let new_shop = NewShop {
            id: shopfleet::tenancy::ShopId::generate(),
            slug: Slug::parse(&slug).map_err(anyhow::Error::msg)?,
            name: slug.clone(),
            currency: "USD".into(),
            plan: "free".into(),
            owner_email: format!("o@{slug}.example.com"),
            owner_name: String::new(),
            owner_password_hash: hash.clone(),
        };
        provision(pool, &migrations, &new_shop).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        slugs.push(slug);
    }
    eprintln!("{} shops ready in {:.1} s", slugs.len(), started.elapsed().as_secs_f64());
    Ok(slugs)
}

async fn migrate_bench(count: i64) -> anyhow::Result<()> {
    shopfleet::commands::migrate_platform(&database()).await?;
    let pool = state::connect(&database()).await?;
    create_shops(&pool, count, "mig").await?;
    let base = migrate::embedded();

    let fleet: i64 =
        sqlx::query_scalar("select count(*) from platform.shops where status <> 'purged'")
            .fetch_one(&pool)
            .await?;
    let started = Instant::now();
    let report = migrate::migrate_shops(&pool, &base, None, 8, false).await?;
    println!(
        "migrate, nothing pending, {fleet} shops in the fleet: {:.1} ms ({} migrated)",
        started.elapsed().as_secs_f64() * 1000.0,
        report.upgraded.len()
    );

    let next = migrate::latest_version(&base) + 1;
    let with_new: Vec<_> = base
        .iter()
        .cloned()
        .chain([TenantMigration {
            version: next,
            description: "bench: add a column and an index".into(),
            sql: Cow::Borrowed("alter table products add column if not exists bench_note text; \
                                create index if not exists products_bench_note_idx on products (bench_note);"),
        }])
        .collect();
    let started = Instant::now();
    let report = migrate::migrate_shops(&pool, &with_new, None, 8, false).await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "migrate, one new migration (add column + index), concurrency 8: {} shops in {:.2} s = {:.0} shops/s, {} failed",
        report.upgraded.len(),
        secs,
        report.upgraded.len() as f64 / secs,
        report.failed.len()
    );
    // Leave the fleet at the binary's version, so the next run starts from the same place.
    sqlx::query("update platform.shops set schema_version = $1 where schema_version = $2")
        .bind(next - 1)
        .bind(next)
        .execute(&pool)
        .await?;
    Ok(())
}

async fn seed_storefront(count: i64, file: &str, products: i64) -> anyhow::Result<()> {
    shopfleet::commands::migrate_platform(&database()).await?;
    let pool = state::connect(&database()).await?;
    let slugs = create_shops(&pool, count, "store").await?;
    for slug in &slugs {
        let tenant = sqlx::query_as::<_, (uuid::Uuid, String, String)>(
            "select id, schema_name, role_name from platform.shops where slug = $1",
        )
        .bind(slug)
        .fetch_one(&pool)
        .await?;
        let tenant = shopfleet::tenancy::Tenant {
            id: shopfleet::tenancy::ShopId(tenant.0),
            slug: slug.clone(),
            name: slug.clone(),
            currency: "USD".into(),
            plan: "free".into(),
            status: shopfleet::tenancy::ShopStatus::Active,
            schema_name: tenant.1,
            role_name: tenant.2,
            primary_domain: None,
        };
        let mut tx = TenantTx::begin(&pool, &tenant).await?;
        let have: i64 =
            sqlx::query_scalar("select count(*) from products").fetch_one(&mut *tx).await?;
        for i in have..products {
            let product = NewProduct {
                name: format!("Product {i}"),
                slug: None,
                description: "A product of the benchmark catalog.".into(),
                status: Some(shopfleet::catalog::ProductStatus::Active),
                options: vec![ProductOption {
                    name: "Size".into(),
                    values: vec!["S".into(), "M".into(), "L".into()],
                }],
                variants: ["S", "M", "L"]
                    .iter()
                    .enumerate()
                    .map(|(n, size)| NewVariant {
                        id: None,
                        sku: None,
                        title: None,
                        price: 1000 + 100 * i + n as i64,
                        compare_at_price: None,
                        stock: Some(10),
                        option_values: vec![(*size).into()],
                    })
                    .collect(),
                category_ids: vec![],
            };
            create_product(&mut tx, tenant.id, &product)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        tx.commit().await?;
    }
    std::fs::write(file, slugs.join("\n") + "\n")?;
    println!("{} storefront shops with {products} products each; slugs in {file}", slugs.len());
    Ok(())
}

const ADJECTIVES: &[&str] = &[
    "Classic",
    "Linen",
    "Organic",
    "Vintage",
    "Slim",
    "Oversized",
    "Striped",
    "Merino",
    "Denim",
    "Canvas",
    "Leather",
    "Cotton",
    "Silk",
    "Wool",
    "Bamboo",
    "Relaxed",
    "Cropped",
    "Quilted",
    "Ribbed",
    "Washed",
];
const NOUNS: &[&str] = &[
    "T-Shirt", "Shirt", "Jeans", "Jacket", "Hoodie", "Sweater", "Dress", "Skirt", "Socks", "Cap",
    "Tote", "Scarf", "Belt", "Shorts", "Coat",
];
const COLOURS: &[&str] = &["Black", "White", "Navy", "Olive", "Sand", "Rust"];

/// Shops full of varied products, for search latency.
async fn seed_search(shops: i64, products: i64, prefix: &str, file: &str) -> anyhow::Result<()> {
    shopfleet::commands::migrate_platform(&database()).await?;
    let pool = state::connect(&database()).await?;
    let slugs = create_shops(&pool, shops, prefix).await?;
    let started = Instant::now();
    for slug in &slugs {
        let tenant =
            shopfleet::tenancy::registry::load_tenants(&pool, &["active"], None, Some(slug))
                .await?
                .pop()
                .context("shop just created")?;
        let mut tx = TenantTx::begin(&pool, &tenant).await?;
        let have: i64 =
            sqlx::query_scalar("select count(*) from products").fetch_one(&mut *tx).await?;
        let mut categories = Vec::new();
        for noun in NOUNS {
            let id: Option<uuid::Uuid> =
                sqlx::query_scalar("select id from categories where name = $1")
                    .bind(noun)
                    .fetch_optional(&mut *tx)
                    .await?;
            let id = match id {
                Some(id) => id,
                None => {
                    let id = uuid::Uuid::now_v7();
                    sqlx::query("insert into categories (id, name, slug) values ($1, $2, $3)")
                        .bind(id)
                        .bind(noun)
                        .bind(noun.to_lowercase().replace('-', ""))
                        .execute(&mut *tx)
                        .await?;
                    id
                }
            };
            categories.push(id);
        }
        for i in have..products {
            let n = usize::try_from(i).unwrap_or(0);
            let (adjective, noun) =
                (ADJECTIVES[n % ADJECTIVES.len()], NOUNS[(n / ADJECTIVES.len()) % NOUNS.len()]);
            let colours: Vec<String> =
                (0..3).map(|k| COLOURS[(n + k) % COLOURS.len()].to_owned()).collect();
            let product = NewProduct {
                name: format!("{adjective} {noun} {i:05}"),
                slug: None,
                description: format!(
                    "A {} {} in {}, made to last.",
                    adjective.to_lowercase(),
                    noun.to_lowercase(),
                    colours.join(", ")
                ),
                status: Some(shopfleet::catalog::ProductStatus::Active),
                options: vec![
                    ProductOption {
                        name: "Size".into(),
                        values: vec!["S".into(), "M".into(), "L".into()],
                    },
                    ProductOption { name: "Colour".into(), values: colours.clone() },
                ],
                variants: ["S", "M", "L"]
                    .iter()
                    .enumerate()
                    .map(|(k, size)| NewVariant {
                        id: None,
                        sku: None,
                        title: None,
                        price: 900 + 37 * i % 9000 + 100 * k as i64,
                        compare_at_price: None,
                        stock: Some(((i + k as i64) % 4) as i32),
                        option_values: vec![(*size).into(), colours[k].clone()],
                    })
                    .collect(),
                category_ids: vec![categories[(n / ADJECTIVES.len()) % NOUNS.len()]],
            };
            create_product(&mut tx, tenant.id, &product)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if i % 200 == 199 {
                tx.commit().await?;
                tx = TenantTx::begin(&pool, &tenant).await?;
            }
        }
        tx.commit().await?;
    }
    // The outbox rows of all those writes are not what is measured: mark them done.
    for slug in &slugs {
        if let Some(tenant) =
            shopfleet::tenancy::registry::load_tenants(&pool, &["active"], None, Some(slug))
                .await?
                .pop()
        {
            let mut tx = TenantTx::begin(&pool, &tenant).await?;
            sqlx::query("update outbox set processed_at = now() where processed_at is null")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
    }
    std::fs::write(file, slugs.join("\n") + "\n")?;
    println!(
        "{} shops x {products} products ready in {:.0} s; slugs in {file}",
        slugs.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number =
        |i: usize| args.get(i).and_then(|n| n.parse::<i64>().ok()).context("a count is needed");
    match args.first().map(String::as_str) {
        Some("signup") => signup(usize::try_from(number(1)?)?).await,
        Some("migrate") => migrate_bench(number(1)?).await,
        Some("seed-storefront") => {
            let products = if args.len() > 3 { number(3)? } else { 20 };
            seed_storefront(number(1)?, args.get(2).context("a file for the slugs")?, products)
                .await
        }
        Some("seed-search") => {
            seed_search(
                number(1)?,
                number(2)?,
                args.get(3).context("a slug prefix")?,
                args.get(4).context("a file for the slugs")?,
            )
            .await
        }
        _ => anyhow::bail!(
            "usage: bench_fleet signup N | migrate N | seed-storefront N FILE | seed-search SHOPS PRODUCTS PREFIX FILE"
        ),
    }
}
