//! Tenant migrations across shops (failure, rollback, resume) and atomic provisioning.

mod common;

use std::borrow::Cow;

use common::*;
use shopfleet::platform::provisioning::{NewShop, provision};
use shopfleet::tenancy::Slug;
use shopfleet::tenancy::migrate::{self, TenantMigration, migrate_shops};

fn extra(version: i64, sql: String) -> TenantMigration {
    TenantMigration { version, description: format!("test {version}"), sql: Cow::Owned(sql) }
}

async fn version_of(app: &TestApp, slug: &str) -> i64 {
    sqlx::query_scalar("select schema_version from platform.shops where slug = $1")
        .bind(slug)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn has_table(app: &TestApp, slug: &str, table: &str) -> bool {
    sqlx::query_scalar(
        // pg_tables, not information_schema: the latter hides tables the app role may not read.
        "select exists (select 1 from pg_tables t join platform.shops s on s.schema_name = t.schemaname \
         where s.slug = $1 and t.tablename = $2)",
    )
    .bind(slug)
    .bind(table)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_failing_shop_is_rolled_back_and_reported_while_the_others_migrate_and_a_rerun_resumes() {
    let app = TestApp::spawn().await;
    let shops = [app.signup("mig-1").await, app.signup("mig-2").await, app.signup("mig-3").await];
    let slugs: Vec<String> = shops.iter().map(|s| s.slug.clone()).collect();
    let base = migrate::embedded();
    let current = migrate::latest_version(&base);
    let next = current + 1;

    // The new migration creates a table, then fails in the second shop only.
    let broken = extra(
        next,
        format!(
            "create table wishlists (id uuid primary key); \
             do $$ begin if current_setting('shopfleet.tenant_id') = '{}' then raise exception 'disk on fire'; end if; end $$;",
            shops[1].id
        ),
    );
    let migrations: Vec<_> = base.iter().cloned().chain([broken]).collect();
    let report = migrate_shops(&app.pool, &migrations, Some(&slugs), 2, false).await.unwrap();
    let upgraded: Vec<&str> = report.upgraded.iter().map(|(slug, _, _)| slug.as_str()).collect();
    let mut expected = vec![slugs[0].as_str(), slugs[2].as_str()];
    expected.sort();
    assert_eq!(upgraded, expected);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, slugs[1]);
    assert!(report.failed[0].2.contains("disk on fire"), "{:?}", report.failed);

    assert_eq!(version_of(&app, &slugs[0]).await, next);
    assert_eq!(version_of(&app, &slugs[1]).await, current, "the failed shop stays at its version");
    assert_eq!(version_of(&app, &slugs[2]).await, next);
    assert!(
        !has_table(&app, &slugs[1], "wishlists").await,
        "the failed shop's partial work is rolled back"
    );
    assert!(has_table(&app, &slugs[0], "wishlists").await);

    // Fixed, the re-run only has the failed shop left to do.
    let fixed: Vec<_> = base
        .iter()
        .cloned()
        .chain([extra(next, "create table wishlists (id uuid primary key);".into())])
        .collect();
    let report = migrate_shops(&app.pool, &fixed, Some(&slugs), 2, false).await.unwrap();
    assert_eq!(report.upgraded, vec![(slugs[1].clone(), current, next)]);
    assert!(report.failed.is_empty());
    assert!(has_table(&app, &slugs[1], "wishlists").await);

    // Nothing pending: nothing done.
    let report = migrate_shops(&app.pool, &fixed, Some(&slugs), 2, false).await.unwrap();
    assert!(report.upgraded.is_empty() && report.failed.is_empty());
}

#[tokio::test]
async fn provisioning_that_fails_midway_leaves_nothing_behind() {
    let app = TestApp::spawn().await;
    let slug = random_slug("doomed");
    let mut migrations = migrate::embedded();
    migrations.push(extra(
        migrate::latest_version(&migrations) + 1,
        "create table half_done (id int); select 1 / 0;".into(),
    ));
    let new_shop = NewShop {
        id: shopfleet::tenancy::ShopId::generate(),
        slug: Slug::parse(&slug).unwrap(),
        name: "Doomed".into(),
        currency: "USD".into(),
        plan: "free".into(),
        owner_email: "o@doomed.example.com".into(),
        owner_name: String::new(),
        owner_password_hash: "not-used".into(),
    };
    assert!(provision(&app.pool, &migrations, &new_shop).await.is_err());

    let (row, schema, role): (bool, bool, bool) = sqlx::query_as(
        "select exists (select 1 from platform.shops where slug = $1), \
                exists (select 1 from pg_namespace where nspname = $2), \
                exists (select 1 from pg_roles where rolname = $3)",
    )
    .bind(&slug)
    .bind(format!("shop_{}", slug.replace('-', "_")))
    .bind(shopfleet::tenancy::role_name_for(new_shop.id))
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(!row, "catalog row left behind");
    assert!(!schema, "schema left behind");
    assert!(!role, "role left behind");

    // The slug is still free, and so is the id.
    assert!(provision(&app.pool, &migrate::embedded(), &new_shop).await.is_ok());
}

#[tokio::test]
async fn a_shop_still_at_schema_6_keeps_working_and_sells_once_migrated() {
    let app = TestApp::spawn().await;
    let slug = random_slug("old");
    let before_commerce: Vec<TenantMigration> =
        migrate::embedded().into_iter().filter(|m| m.version <= 6).collect();
    let email = format!("o@{slug}.example.com");
    let new_shop = NewShop {
        id: shopfleet::tenancy::ShopId::generate(),
        slug: Slug::parse(&slug).unwrap(),
        name: "Old".into(),
        currency: "USD".into(),
        plan: "free".into(),
        owner_email: email.clone(),
        owner_name: String::new(),
        owner_password_hash: shopfleet::auth::password::hash(PASSWORD.to_owned()).await.unwrap(),
    };
    provision(&app.pool, &before_commerce, &new_shop).await.unwrap();
    assert_eq!(version_of(&app, &slug).await, 6);
    let token = app.login(&slug, "/v1/admin/auth/login", &email).await;
    let shop = TestShop {
        id: new_shop.id.to_string(),
        slug: slug.clone(),
        owner_email: email,
        token,
        refresh_token: String::new(),
    };

    // The catalog (whose events now also fan out to webhooks) and the platform's usage work
    // on the old schema while a deploy rolls out.
    let (_, variant) = app.variant(&shop, "Old stock", 1000, 5).await;
    let admin = app.platform_admin_token().await;
    let (status, detail) = app
        .as_admin(&admin, reqwest::Method::GET, &format!("/v1/platform/shops/{}", shop.id), None)
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{detail}");
    assert_eq!(
        (&detail["usage"]["products"], &detail["usage"]["orders"]),
        (&serde_json::json!(1), &serde_json::json!(0))
    );

    let report =
        migrate_shops(&app.pool, &migrate::embedded(), Some(std::slice::from_ref(&slug)), 1, false)
            .await
            .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(version_of(&app, &slug).await, migrate::latest_version(&migrate::embedded()));
    assert!(has_table(&app, &slug, "orders").await);
    let shipping = app.shipping_method(&shop, 0, None).await;
    let done = app.guest_order(&shop, &shipping, &variant, 2, "manual").await;
    assert_eq!(done["order"]["number"], 1001);
}
