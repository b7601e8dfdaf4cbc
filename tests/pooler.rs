//! Many shops interleaved on few database connections: no request and no shop transaction ever
//! sees another shop's schema, role or data.
//!
//! In the main run the servers connect straight to PostgreSQL. In scripts/test.sh's run through
//! PgBouncer (`TEST_POOLER_URL`: transaction mode, 4 server connections per database) the same
//! tests also read PgBouncer's admin console, to prove that they went through it and that its
//! few server connections carried every shop.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::*;
use futures::future::join_all;
use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use shopfleet::tenancy::{Tenant, TenantTx};
use sqlx::postgres::PgRow;
use sqlx::{Connection, PgConnection, Row};

const SHOPS: usize = 20;
/// Clients working at once: more than twice the server's pool (10) and far more than
/// PgBouncer's server connections (4).
const CLIENTS: usize = 60;
const ROUNDS: usize = 4;

/// What PgBouncer's admin console says about this process's default database: its pool mode,
/// the server connections it allows (`default_pool_size`), and how many client and server
/// connections it has now.
struct PoolerView {
    pool_mode: String,
    pool_size: i64,
    clients: usize,
    servers: usize,
}

/// `None` when the run has no pooler.
async fn pooler_view() -> Option<PoolerView> {
    let pooler = pooler_url()?;
    let database =
        url::Url::parse(&database_url()).unwrap().path().trim_start_matches('/').to_owned();
    let mut console = url::Url::parse(&pooler).unwrap();
    console.set_path("pgbouncer");
    let mut conn = PgConnection::connect(console.as_str()).await.expect("PgBouncer's console");
    let text = |row: &PgRow, column: &str| row.try_get::<String, _>(column).unwrap();
    let ours = |rows: Vec<PgRow>| -> Vec<PgRow> {
        rows.into_iter().filter(|row| text(row, "database") == database).collect()
    };
    let pools = ours(show(&mut conn, "show pools").await);
    let pool_mode = match pools.as_slice() {
        [pool] => text(pool, "pool_mode"),
        _ => panic!("PgBouncer has no pool for {database}: the servers did not go through it"),
    };
    let config = show(&mut conn, "show config").await;
    let pool_size = config
        .iter()
        .find(|row| text(row, "key") == "default_pool_size")
        .map(|row| text(row, "value").parse().unwrap())
        .expect("default_pool_size");
    let clients = ours(show(&mut conn, "show clients").await).len();
    let servers = ours(show(&mut conn, "show servers").await).len();
    conn.close().await.unwrap();
    Some(PoolerView { pool_mode, pool_size, clients, servers })
}

/// A `SHOW` command on PgBouncer's console, which speaks the simple protocol only (values
/// come as text).
async fn show(conn: &mut PgConnection, what: &str) -> Vec<PgRow> {
    sqlx::raw_sql(what).fetch_all(conn).await.unwrap_or_else(|err| panic!("{what}: {err}"))
}

/// `count` shops made through `POST /v1/signup`, five at a time.
async fn signup_shops(app: &TestApp, prefix: &str, count: usize) -> Vec<TestShop> {
    let mut shops = Vec::new();
    for batch in 0..count.div_ceil(5) {
        let signups = (0..5.min(count - batch * 5)).map(|n| {
            let prefix = format!("{prefix}{batch}{n}");
            async move { app.signup(&prefix).await }
        });
        shops.extend(join_all(signups).await);
    }
    shops
}

/// Asserts, when the run has a pooler, that this process's database went through it in
/// transaction mode, `clients` connections or more sharing at most `default_pool_size` servers.
async fn assert_multiplexed_by_the_pooler(clients: usize) {
    let Some(view) = pooler_view().await else { return };
    assert_eq!(view.pool_mode, "transaction");
    assert!(
        view.clients >= clients,
        "{} client connections through PgBouncer, expected {clients} or more",
        view.clients
    );
    assert!(view.servers as i64 <= view.pool_size, "{} server connections", view.servers);
    assert!(view.clients > view.servers, "connections were shared");
}

/// One client's work in one shop: creates a product named after the shop, then reads the
/// shop's products through the admin API and the storefront and finds only the shop's own.
async fn work_in_shop(app: &TestApp, shop: &TestShop, client: usize) {
    for round in 0..ROUNDS {
        let name = format!("{} c{client} r{round}", shop.slug);
        let created = app.product(shop, &name, 1000).await;
        let id = created["id"].as_str().unwrap();

        let (status, body) =
            app.owner(shop, Method::GET, &format!("/v1/admin/products/{id}"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["name"], name.as_str());

        let (status, page) =
            app.owner(shop, Method::GET, "/v1/admin/products?limit=100", None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_only_own(shop, &page, "admin list");

        let (status, page) = read(
            app.shop(Method::GET, &shop.slug, "/v1/store/products?limit=100").send().await.unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_only_own(shop, &page, "storefront list");

        let (status, me) = app.owner(shop, Method::GET, "/v1/admin/shop", None).await;
        assert_eq!(status, StatusCode::OK, "{me}");
        assert_eq!(me["slug"], shop.slug.as_str(), "the shop's settings: {me}");
    }
}

fn assert_only_own(shop: &TestShop, page: &Value, what: &str) {
    let items = page["items"].as_array().unwrap_or_else(|| panic!("{what}: {page}"));
    for item in items {
        let name = item["name"].as_str().unwrap_or_default();
        assert!(name.starts_with(&shop.slug), "{what} of {} shows {name:?}", shop.slug);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_of_twenty_shops_on_few_connections_only_see_their_own_shop() {
    let app = TestApp::spawn().await;
    let shops = signup_shops(&app, "pool", SHOPS).await;

    // Every client works in its shop at the same time as all the others.
    let clients = (0..CLIENTS).map(|client| work_in_shop(&app, &shops[client % SHOPS], client));
    join_all(clients).await;

    // Each shop holds exactly its own products, none of another's.
    let per_shop = CLIENTS / SHOPS * ROUNDS;
    for shop in &shops {
        let (status, page) =
            app.owner(shop, Method::GET, "/v1/admin/products?limit=100", None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["items"].as_array().unwrap().len(), per_shop, "{}: {page}", shop.slug);
        assert_only_own(shop, &page, "final admin list");
    }
    // The server's pool (10) and the test's (5) share PgBouncer's few server connections.
    assert_multiplexed_by_the_pooler(10).await;
}

/// What a shop transaction sees of the session it runs on.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    schema: String,
    role: String,
    tenant_id: String,
    owner: String,
}

async fn look_inside(pool: &shopfleet::tenancy::DbPool, tenant: &Tenant) -> (Seen, i32) {
    let mut tx = TenantTx::begin(pool, tenant).await.unwrap();
    let (schema, role, tenant_id, backend): (String, String, String, i32) = sqlx::query_as(
        "select current_schema()::text, current_user::text, current_setting('shopfleet.tenant_id'), pg_backend_pid()",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    // Let other transactions run meanwhile on the pooler's few server connections.
    tokio::task::yield_now().await;
    let owner: String = sqlx::query_scalar("select string_agg(email, ',') from staff")
        .fetch_one(&mut *tx)
        .await
        .unwrap_or_else(|err| panic!("{}: {err}", tenant.slug));
    tx.commit().await.unwrap();
    (Seen { schema, role, tenant_id, owner }, backend)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shop_transactions_interleaved_on_few_connections_each_see_their_own_shop() {
    let app = TestApp::spawn().await;
    let mut tenants = Vec::new();
    let mut expected = HashMap::new();
    for shop in signup_shops(&app, "tx", SHOPS).await {
        let tenant = tenant_of(&app.pool, &shop.slug).await;
        let seen = Seen {
            schema: tenant.schema_name.clone(),
            role: tenant.role_name.clone(),
            tenant_id: tenant.id.to_string(),
            owner: shop.owner_email,
        };
        expected.insert(shop.slug, seen);
        tenants.push(tenant);
    }

    // 20 client connections; each of 400 transactions is for a shop chosen at random, with
    // platform queries on the pool itself in between.
    let pool = pool(20).await;
    let transactions = (0..400).map(|_| {
        let tenant = &tenants[rand::thread_rng().gen_range(0..tenants.len())];
        let (pool, expected) = (&pool, &expected);
        async move {
            let (seen, backend) = look_inside(pool, tenant).await;
            assert_eq!(&seen, &expected[&tenant.slug], "inside {}", tenant.slug);
            let plain = tenant_of(pool, &tenant.slug).await;
            assert_eq!(plain.id, tenant.id);
            backend
        }
    });
    let backends: BTreeSet<i32> = join_all(transactions).await.into_iter().collect();

    if let Some(view) = pooler_view().await {
        assert!(
            backends.len() as i64 <= view.pool_size,
            "{} PostgreSQL sessions carried the shop transactions, PgBouncer allows {}",
            backends.len(),
            view.pool_size
        );
    }
    assert_multiplexed_by_the_pooler(20).await;
}
