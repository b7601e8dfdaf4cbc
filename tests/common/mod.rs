//! Test harness: starts the real application on port 0 against the real PostgreSQL started by
//! `scripts/test.sh` (`TEST_DATABASE_URL`), exactly as `serve` does. Each test process (nextest
//! runs one per test) gets databases of its own ([`database_url_for`]): every server runs an
//! outbox worker that may deliver any shop's events of its database, and a worker in a process
//! that ends mid-batch leaves its leased rows waiting for their lease to run out. Tests that
//! start several servers in one process (several instances) share the process's database.
//!
//! With `TEST_POOLER_URL` set (scripts/test.sh's run through PgBouncer), the servers under test
//! and [`TestApp::pool`] reach their database through that transaction-mode pooler
//! (`DATABASE_TRANSACTION_POOLER`), and `LISTEN` and migrations go straight to PostgreSQL
//! (`DATABASE_DIRECT_URL`); databases are still made straight, as the superuser.
#![allow(dead_code)]

pub mod browser;
pub mod commerce;
pub mod dns;
pub mod objects;
pub mod private_redis;
pub mod server_process;

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use shopfleet::config::{
    CacheConfig, DatabaseConfig, LimitsConfig, ServerConfig, StorageConfig, WebhookConfig,
};
use shopfleet::server::Application;
use shopfleet::state::{self, AppState};
use shopfleet::tenancy::registry::load_tenants;
use shopfleet::tenancy::{DbPool, Tenant, migrate};
use sqlx::postgres::PgPoolOptions;

pub const BASE_DOMAIN: &str = "shops.test";
pub const PASSWORD: &str = "correct-horse-battery";

/// The test cluster's URL as `scripts/test.sh` exports it; only its host, port and user are used.
fn cluster_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .expect("TEST_DATABASE_URL is not set: run the tests through scripts/test.sh")
}

/// This test process's default database, `shopfleet_test_default_p<pid>` (made by
/// [`TestApp::spawn`] or [`pool`] on first use), straight to PostgreSQL.
pub fn database_url() -> String {
    database_url_for("default")
}

/// The URL, straight to PostgreSQL, of this process's database `name`,
/// `shopfleet_test_<name>_p<pid>`, for servers configured differently from the default.
/// [`TestApp::spawn_with`] creates it on first use ([`ensure_database`]); `scripts/test.sh`
/// starts each run on a new cluster.
pub fn database_url_for(name: &str) -> String {
    url_of_database(&cluster_url(), name)
}

fn url_of_database(server: &str, name: &str) -> String {
    let mut url = url::Url::parse(server).expect("a database URL");
    url.set_path(&format!("shopfleet_test_{name}_p{}", std::process::id()));
    url.to_string()
}

/// The transaction-mode pooler in front of the test cluster, when the run goes through one
/// (`TEST_POOLER_URL`; only its host, port and user are used).
pub fn pooler_url() -> Option<String> {
    std::env::var("TEST_POOLER_URL").ok().filter(|url| !url.is_empty())
}

/// A server's database settings for this process's database `name`: through the pooler when
/// the run has one ([`pooler_url`]), straight to PostgreSQL otherwise.
pub fn database_config(name: &str) -> DatabaseConfig {
    let direct = database_url_for(name);
    let (database_url, database_direct_url) = match pooler_url() {
        Some(pooler) => (url_of_database(&pooler, name), Some(direct)),
        None => (direct, None),
    };
    DatabaseConfig {
        database_transaction_pooler: database_direct_url.is_some(),
        database_url,
        database_direct_url,
        database_max_connections: 10,
        database_max_lifetime_secs: 300,
        shop_statement_timeout_ms: 10_000,
        shop_lock_timeout_ms: 5_000,
        shop_idle_in_transaction_timeout_ms: 30_000,
    }
}

/// Creates the database of `url`, owned by its user, unless it exists. Uses the test cluster's
/// superuser (`TEST_ADMIN_DATABASE_URL`, set by scripts/test.sh), one creator at a time.
pub async fn ensure_database(url: &str) {
    use sqlx::{Connection, Executor, PgConnection};
    let url = url::Url::parse(url).expect("a database URL");
    let (name, owner) = (url.path().trim_start_matches('/').to_owned(), url.username().to_owned());
    let admin = std::env::var("TEST_ADMIN_DATABASE_URL")
        .expect("TEST_ADMIN_DATABASE_URL is not set: run the tests through scripts/test.sh");
    let mut conn = PgConnection::connect(&admin).await.expect("connect as the superuser");
    // Tests run in parallel processes: take turns creating databases.
    conn.execute("select pg_advisory_lock(hashtext('shopfleet test databases'))")
        .await
        .expect("lock");
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await
            .expect("look up the database");
    if !exists {
        let quote = |ident: &str| format!("\"{}\"", ident.replace('"', "\"\""));
        conn.execute(format!("create database {} owner {}", quote(&name), quote(&owner)).as_str())
            .await
            .expect("create the test database");
        // The application role is NOINHERIT, so it does not get pg_database_owner's rights on
        // `public`, where sqlx keeps its migrations table: give it the schema.
        let mut inside = url::Url::parse(&admin).expect("TEST_ADMIN_DATABASE_URL is a URL");
        inside.set_path(&name);
        let mut db = PgConnection::connect(inside.as_str()).await.expect("connect to it");
        db.execute(format!("alter schema public owner to {}", quote(&owner)).as_str())
            .await
            .expect("give the schema to the application role");
    }
    conn.execute("select pg_advisory_unlock(hashtext('shopfleet test databases'))")
        .await
        .expect("unlock");
}

pub fn server_config() -> ServerConfig {
    ServerConfig {
        database: database_config("default"),
        search: Default::default(),
        storage: StorageConfig {
            storage_dir: std::env::temp_dir().join("shopfleet-test-objects"),
            ..Default::default()
        },
        // Webhook tests deliver to a receiver on 127.0.0.1.
        webhooks: WebhookConfig { allow_private_networks: true, ..Default::default() },
        // This process's memory, the embedded default; tests of Redis use `redis_config`.
        cache: CacheConfig::default(),
        // Tests of many processes share one address (127.0.0.1) and, with Redis, one store:
        // per-client limits out of the way, except logins (tests/auth.rs counts to 5). Tests
        // of the limits set their own and use unique clients (`X-Forwarded-For`) or shops.
        limits: LimitsConfig {
            login_max_failures: 5,
            login_identity_max_failures: 1000,
            auth_per_ip_per_minute: 100_000,
            signups_per_ip_per_hour: 100_000,
            signups_per_hour: 100_000,
            ..LimitsConfig::default()
        },
        shutdown: Default::default(),
        listen_addr: "127.0.0.1:0".into(),
        metrics_addr: None,
        base_domain: BASE_DOMAIN.into(),
        public_url_template: "http://{host}".into(),
        jwt_secret: "test-secret-test-secret-test-secret!".into(),
        access_token_ttl_secs: 900,
        refresh_token_ttl_days: 30,
        tenant_cache_capacity: 1000,
        password_hash_concurrency: 0,
        password_hash_queue: 64,
        cors_allowed_origins: Vec::new(),
        // The loopback DNS server of scripts/test.sh, whose records the tests write.
        dns_resolver: std::env::var("TEST_DNS_ADDR").ok().and_then(|addr| addr.parse().ok()),
    }
}

/// The test configuration with the private Redis of scripts/test.sh (`TEST_REDIS_URL`).
pub fn redis_config() -> ServerConfig {
    let mut config = server_config();
    config.cache.redis_url = Some(redis_url());
    config
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").expect("TEST_REDIS_URL (scripts/test.sh starts a Redis)")
}

/// A pool of `connections` to this process's default database, made as the server makes its
/// own (through the pooler when the run has one). The database must exist ([`TestApp::spawn`]).
pub async fn pool(connections: u32) -> DbPool {
    let mut config = database_config("default");
    config.database_max_connections = connections;
    state::connect(&config).await.expect("connect to the test database")
}

pub fn random_slug(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// A pool of the server's kind (through the pooler when the run has one), for the test's
    /// own queries.
    pub pool: DbPool,
    /// The running server's state (handles to its caches and limits), for tests that must hold
    /// one of them in a given state.
    pub state: AppState,
    /// The Prometheus endpoint's address, when the configuration set `metrics_addr`.
    pub metrics_addr: Option<SocketAddr>,
}

/// A shop made through `POST /v1/signup`.
#[derive(Debug, Clone)]
pub struct TestShop {
    pub id: String,
    pub slug: String,
    pub owner_email: String,
    pub token: String,
    pub refresh_token: String,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(server_config()).await
    }

    pub async fn spawn_with(config: ServerConfig) -> Self {
        // Server logs in test output with RUST_LOG=…; silent otherwise.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "off".into()),
            )
            .with_test_writer()
            .try_init();
        // The database of `config` (tests of the S3 store use their own, see `objects`).
        ensure_database(config.database.direct_url()).await;
        migrate_platform(&config.database).await;
        let mut pool_config = config.database.clone();
        pool_config.database_max_connections = 5;
        let pool = state::connect(&pool_config).await.expect("connect to the test database");
        let app = Application::build(config).await.expect("build the application");
        let addr = app.local_addr();
        let metrics_addr = app.metrics_addr();
        let state = app.state().clone();
        tokio::spawn(app.run());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self { addr, client, pool, state, metrics_addr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A request on the platform host.
    pub fn platform(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// A request to a shop route, addressed with `X-Shop`.
    pub fn shop(&self, method: Method, slug: &str, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path)).header("X-Shop", slug)
    }

    /// A request with an explicit `Host` header (subdomain or custom domain).
    pub fn host(&self, method: Method, host: &str, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path)).header("Host", host)
    }

    pub async fn signup(&self, prefix: &str) -> TestShop {
        self.signup_with(prefix, "USD").await
    }

    pub async fn signup_with(&self, prefix: &str, currency: &str) -> TestShop {
        let slug = random_slug(prefix);
        let owner_email = format!("owner@{slug}.example.com");
        let response = self
            .platform(Method::POST, "/v1/signup")
            .json(&json!({
                "slug": slug, "name": format!("Shop {slug}"), "currency": currency,
                "owner_email": owner_email, "owner_password": PASSWORD,
            }))
            .send()
            .await
            .expect("signup request");
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::CREATED, "signup failed: {body}");
        TestShop {
            id: body["shop_id"].as_str().expect("shop_id").to_owned(),
            slug,
            owner_email,
            token: body["tokens"]["access_token"].as_str().expect("token").to_owned(),
            refresh_token: body["tokens"]["refresh_token"].as_str().expect("refresh").to_owned(),
        }
    }

    /// Sends with the shop's owner token.
    pub async fn owner(
        &self,
        shop: &TestShop,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.as_token(&shop.token, &shop.slug, method, path, body).await
    }

    pub async fn as_token(
        &self,
        token: &str,
        slug: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.shop(method, slug, path).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("request")).await
    }

    /// Moves a shop to another plan (`basic`, `pro`), as `PATCH /v1/platform/shops/{id}` does,
    /// for tests that need more than `free` allows (README, "Plans and quotas").
    pub async fn set_plan(&self, shop: &TestShop, plan: &str) {
        let changed = sqlx::query("update platform.shops set plan = $2 where id = $1::uuid")
            .bind(&shop.id)
            .bind(plan)
            .execute(&self.pool)
            .await
            .expect("change the plan");
        assert_eq!(changed.rows_affected(), 1, "no shop {}", shop.slug);
        self.state.tenants.invalidate_all();
    }

    /// Adds a staff member with `role` and returns their access token.
    pub async fn staff_token(&self, shop: &TestShop, role: &str) -> String {
        let email =
            format!("{role}-{}@example.com", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let (status, body) = self
            .owner(
                shop,
                Method::POST,
                "/v1/admin/staff",
                Some(json!({ "email": email, "role": role, "password": PASSWORD })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "adding staff: {body}");
        self.login(&shop.slug, "/v1/admin/auth/login", &email).await
    }

    pub async fn login(&self, slug: &str, path: &str, email: &str) -> String {
        let (status, body) = read(
            self.shop(Method::POST, slug, path)
                .json(&json!({ "email": email, "password": PASSWORD }))
                .send()
                .await
                .expect("login"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "login failed: {body}");
        body["access_token"].as_str().expect("access_token").to_owned()
    }

    /// Registers a storefront customer and returns their access token.
    pub async fn customer_token(&self, shop: &TestShop) -> String {
        let email = format!("c-{}@example.com", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let (status, body) = read(
            self.shop(Method::POST, &shop.slug, "/v1/store/customers")
                .json(&json!({ "email": email, "password": PASSWORD, "first_name": "Cus" }))
                .send()
                .await
                .expect("register"),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "register failed: {body}");
        body["tokens"]["access_token"].as_str().expect("token").to_owned()
    }

    /// Creates an active product with one variant per size and returns its JSON.
    pub async fn product(&self, shop: &TestShop, name: &str, price: i64) -> Value {
        let (status, body) = self
            .owner(
                shop,
                Method::POST,
                "/v1/admin/products",
                Some(json!({
                    "name": name, "status": "active",
                    "options": [{ "name": "Size", "values": ["S", "M"] }],
                    "variants": [
                        { "price": price, "stock": 5, "option_values": ["S"] },
                        { "price": price + 100, "stock": 0, "option_values": ["M"] }
                    ]
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "creating product: {body}");
        body
    }
}

pub async fn read(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// Asserts the error shape and code of a response.
pub fn assert_error(status: StatusCode, body: &Value, expected_status: StatusCode, code: &str) {
    assert_eq!(status, expected_status, "unexpected status, body: {body}");
    assert_eq!(body["error"]["code"], code, "unexpected error code, body: {body}");
    assert!(
        body["error"]["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "error without request id: {body}"
    );
}

impl TestApp {
    /// Creates a platform admin (as `shopfleet admin create` does) and returns their token.
    pub async fn platform_admin_token(&self) -> String {
        let email = format!(
            "admin-{}@platform.example.com",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let hash = shopfleet::auth::password::hash(PASSWORD.to_owned()).await.expect("hash");
        shopfleet::platform::admins::create(&self.pool, &email, &hash).await.expect("create admin");
        let (status, body) = read(
            self.platform(Method::POST, "/v1/platform/auth/login")
                .json(&json!({ "email": email, "password": PASSWORD }))
                .send()
                .await
                .expect("platform login"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "platform login: {body}");
        body["access_token"].as_str().expect("token").to_owned()
    }

    pub async fn as_admin(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.platform(method, path).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("request")).await
    }
}

/// Polls `check` every 100 ms until it returns `Some`, and returns the value; panics naming
/// `what` after `within` (for work done after commit: the outbox worker, another instance).
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < within, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The live shop `slug`, as the request pipeline resolves it.
pub async fn tenant_of(pool: &DbPool, slug: &str) -> Tenant {
    load_tenants(pool, &["active", "suspended"], None, Some(slug))
        .await
        .expect("load the shop")
        .pop()
        .unwrap_or_else(|| panic!("no live shop {slug}"))
}

/// Applies the platform migrations to the database of `config`, straight to PostgreSQL (their
/// advisory lock is session-level), as `serve` does.
pub async fn migrate_platform(config: &DatabaseConfig) {
    let direct = PgPoolOptions::new()
        .max_connections(1)
        .connect(config.direct_url())
        .await
        .expect("connect to the test database");
    migrate::migrate_platform(&direct).await.expect("platform migrations");
    direct.close().await;
}
