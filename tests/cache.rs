//! The cache of storefront reads (src/cache), on both stores: reads are served from it, every
//! kind of change shows at once, one shop's cached reads never reach another, a change through
//! one instance reaches the others, Redis going away is not an outage, and the public reads
//! answer conditional requests with 304.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::browser::Browser;
use common::{TestApp, TestShop, eventually, read, redis_config, server_config};
use reqwest::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shopfleet::config::ServerConfig;
use shopfleet::tenancy::ShopId;

async fn get(app: &TestApp, shop: &TestShop, path: &str) -> Value {
    let (status, body) = read(app.shop(Method::GET, &shop.slug, path).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    body
}

/// Renames the product in the database without telling anyone: with the transaction's shop
/// setting cleared, the change notification has no shop, so no cache learns of it. Only a
/// read served from the cache still shows the old name afterwards.
async fn rename_behind_the_cache(app: &TestApp, shop: &TestShop, id: &str, name: &str) {
    app.shop_sql(
        shop,
        &format!(
            "select set_config('shopfleet.tenant_id', '', true); \
             update products set name = '{name}' where id = '{id}'"
        ),
    )
    .await;
}

/// Waits until this instance has handled every change notification sent so far: the cache
/// generations of earlier changes have all moved, so what is read now stays cached. (Each
/// instance handles notifications in order; a marker for a made-up shop shows when it is done.)
async fn notifications_settled(app: &TestApp) {
    let marker = ShopId(uuid::Uuid::new_v4());
    let before = app.state.cache.key(marker, "marker", "").await;
    sqlx::query("select pg_notify('shopfleet_cache', $1)")
        .bind(marker.to_string())
        .execute(&app.pool)
        .await
        .unwrap();
    eventually("change notifications to be handled", Duration::from_secs(10), || async {
        (app.state.cache.key(marker, "marker", "").await != before).then_some(())
    })
    .await;
}

fn names(list: &Value) -> Vec<&str> {
    list["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect()
}

/// A tiny PNG's first bytes, enough for the upload's type check.
fn png() -> Vec<u8> {
    let mut data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR".to_vec();
    data.extend(std::iter::repeat_n(0u8, 200));
    data
}

async fn every_change_of_what_storefronts_show_is_read_back_at_once(app: TestApp) {
    let shop = app.signup("cache").await;
    let product = app.product(&shop, "Linen Shirt", 2500).await;
    let id = product["id"].as_str().unwrap();
    let slug = product["slug"].as_str().unwrap().to_owned();
    let small = product["variants"][0]["id"].as_str().unwrap().to_owned();
    let product_path = format!("/v1/store/products/{slug}");

    // Served from the cache: a change nobody announces is not seen.
    notifications_settled(&app).await;
    assert_eq!(names(&get(&app, &shop, "/v1/store/products").await), ["Linen Shirt"]);
    assert_eq!(get(&app, &shop, &product_path).await["name"], "Linen Shirt");
    rename_behind_the_cache(&app, &shop, id, "Unannounced").await;
    assert_eq!(names(&get(&app, &shop, "/v1/store/products").await), ["Linen Shirt"]);
    assert_eq!(get(&app, &shop, &product_path).await["name"], "Linen Shirt");

    // The product's name, through the admin API.
    let path = format!("/v1/admin/products/{id}");
    let (status, body) =
        app.owner(&shop, Method::PATCH, &path, Some(json!({ "name": "Linen Shirt II" }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(names(&get(&app, &shop, "/v1/store/products").await), ["Linen Shirt II"]);
    assert_eq!(get(&app, &shop, &product_path).await["name"], "Linen Shirt II");
    let found = get(&app, &shop, "/v1/store/search?q=linen").await;
    assert_eq!(found["hits"][0]["name"], "Linen Shirt II");

    // A price.
    let large = product["variants"][1]["id"].as_str().unwrap();
    let variants = json!([
        { "id": small, "price": 1900, "stock": 5, "option_values": ["S"] },
        { "id": large, "price": 2600, "stock": 0, "option_values": ["M"] },
    ]);
    let (status, body) =
        app.owner(&shop, Method::PATCH, &path, Some(json!({ "variants": variants }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(get(&app, &shop, &product_path).await["price_min"], 1900);
    assert_eq!(get(&app, &shop, "/v1/store/products").await["items"][0]["price_min"], 1900);

    // Stock: the last units of the one size in stock go, and the product is sold out.
    let (status, body) = app
        .owner_post_once(
            &shop,
            &format!("/v1/admin/variants/{small}/stock-adjustments"),
            "damaged-1",
            json!({ "delta": -5, "reason": "damaged" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(get(&app, &shop, &product_path).await["in_stock"], false);

    // An image.
    assert_eq!(get(&app, &shop, &product_path).await["images"], json!([]));
    let form = Form::new()
        .part("file", Part::bytes(png()).file_name("shirt.png").mime_str("image/png").unwrap())
        .text("alt", "The shirt");
    let response = app
        .shop(Method::POST, &shop.slug, &format!("/v1/admin/products/{id}/media"))
        .bearer_auth(&shop.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(get(&app, &shop, &product_path).await["images"][0]["alt"], "The shirt");

    // Categories: a new one, and the product placed in it.
    assert_eq!(get(&app, &shop, "/v1/store/categories").await, json!([]));
    let (status, category) = app
        .owner(&shop, Method::POST, "/v1/admin/categories", Some(json!({ "name": "Shirts" })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{category}");
    assert_eq!(get(&app, &shop, "/v1/store/categories").await[0]["name"], "Shirts");
    let in_shirts = "/v1/store/products?category=shirts";
    assert_eq!(names(&get(&app, &shop, in_shirts).await), Vec::<&str>::new());
    let (status, body) = app
        .owner(&shop, Method::PATCH, &path, Some(json!({ "category_ids": [category["id"]] })))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(names(&get(&app, &shop, in_shirts).await), ["Linen Shirt II"]);

    // The shop's storefront settings, on the HTML pages.
    let mut browser = Browser::on(&app, &shop);
    assert!(!browser.get("/").await.body.contains("Free returns"));
    let (status, body) = app
        .owner(
            &shop,
            Method::PATCH,
            "/v1/admin/shop/storefront",
            Some(json!({ "announcement": "Free returns" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(browser.get("/").await.body.contains("Free returns"));
    assert!(browser.get(&format!("/products/{slug}")).await.body.contains("Free returns"));

    // Its status: archived, it leaves the storefront.
    let (status, body) =
        app.owner(&shop, Method::PATCH, &path, Some(json!({ "status": "archived" }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(names(&get(&app, &shop, "/v1/store/products").await), Vec::<&str>::new());
    let gone = app.shop(Method::GET, &shop.slug, &product_path).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert_eq!(browser.get(&format!("/products/{slug}")).await.status, StatusCode::NOT_FOUND);
}

async fn one_shops_cached_reads_never_reach_another(app: TestApp) {
    let (a, b) = (app.signup("cache-a").await, app.signup("cache-b").await);
    app.product(&a, "Only In A", 1000).await;
    app.product(&b, "Only In B", 1000).await;
    for _ in 0..2 {
        assert_eq!(names(&get(&app, &a, "/v1/store/products").await), ["Only In A"]);
        assert_eq!(names(&get(&app, &b, "/v1/store/products").await), ["Only In B"]);
    }
    // A value of shop A planted under the key of shop B's read is refused, not served.
    let cache = &app.state.cache;
    let (shop_a, shop_b) = (ShopId(a.id.parse().unwrap()), ShopId(b.id.parse().unwrap()));
    let key = cache.key(shop_b, "store.categories", "").await.expect("cache in use");
    let mut forged = shop_a.0.as_bytes().to_vec();
    forged.extend(br#"[{"id":"00000000-0000-0000-0000-000000000001","parent_id":null,"name":"A's secret","slug":"secret","description":"","depth":0}]"#);
    cache.put(&key, forged.into()).await;
    assert_eq!(get(&app, &b, "/v1/store/categories").await, json!([]));
    assert!(cache.stats().refused.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    // The same for a whole answer: shop A's answer planted as shop B's is not served.
    app.product(&b, "Second In B", 1000).await;
    notifications_settled(&app).await;
    let refused = cache.stats().refused.load(std::sync::atomic::Ordering::Relaxed);
    let key = cache.key(shop_b, "answer.v2", "/v1/store/products").await.expect("cache in use");
    let mut forged = shop_a.0.as_bytes().to_vec();
    forged.extend(format!("\"{}\"", "0".repeat(32)).as_bytes());
    let route = "/v1/store/products";
    forged.push(route.len() as u8);
    forged.extend(route.as_bytes());
    forged.extend(br#"{"items":[{"name":"Only In A"}],"currency":"USD","next_cursor":null}"#);
    cache.put(&key, forged.into()).await;
    assert_eq!(names(&get(&app, &b, "/v1/store/products").await), ["Second In B", "Only In B"]);
    assert_eq!(cache.stats().refused.load(std::sync::atomic::Ordering::Relaxed), refused + 1);
}

async fn public_reads_answer_conditional_requests(app: TestApp) {
    let shop = app.signup("etag").await;
    app.product(&shop, "Canvas Tote", 1500).await;
    let first = app.shop(Method::GET, &shop.slug, "/v1/store/products").send().await.unwrap();
    assert_eq!(first.headers()[CACHE_CONTROL], "public, no-cache");
    let etag = first.headers()[ETAG].to_str().unwrap().to_owned();
    let again = app
        .shop(Method::GET, &shop.slug, "/v1/store/products")
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.text().await.unwrap(), "");
    app.product(&shop, "Canvas Tote XL", 1900).await;
    let changed = app
        .shop(Method::GET, &shop.slug, "/v1/store/products")
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_ne!(changed.headers()[ETAG].to_str().unwrap(), etag);
    // The same ETag is no use on another shop's list.
    let other = app.signup("etag-b").await;
    let elsewhere = app
        .shop(Method::GET, &other.slug, "/v1/store/products")
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), StatusCode::OK);
}

/// Two instances, one database: a change made through the first is read through the second
/// within a second (its commit's notification, or the shared Redis generation).
async fn a_change_through_one_instance_is_seen_by_the_other(config: ServerConfig) {
    let first = TestApp::spawn_with(config.clone()).await;
    let second = TestApp::spawn_with(config).await;
    let shop = first.signup("two").await;
    let product = first.product(&shop, "Wool Scarf", 3000).await;
    let path = format!("/v1/store/products/{}", product["slug"].as_str().unwrap());
    assert_eq!(get(&second, &shop, &path).await["name"], "Wool Scarf");
    assert_eq!(get(&second, &shop, &path).await["name"], "Wool Scarf");
    let admin = format!("/v1/admin/products/{}", product["id"].as_str().unwrap());
    let (status, body) =
        first.owner(&shop, Method::PATCH, &admin, Some(json!({ "name": "Wool Scarf II" }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually("the second instance reads the new name", Duration::from_secs(1), || async {
        (get(&second, &shop, &path).await["name"] == "Wool Scarf II").then_some(())
    })
    .await;
}

/// A Redis server of the test's own, which it can stop and start again on the same port.
struct PrivateRedis {
    port: u16,
    dir: std::path::PathBuf,
    child: Option<Child>,
}

impl PrivateRedis {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("shopfleet-redis-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut redis = Self { port, dir, child: None };
        redis.restart();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", ""])
            .args(["--appendonly", "no", "--maxmemory-policy", "volatile-lru"])
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (Debian's redis-server package; scripts/test.sh installs it)");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn redis_going_away_is_not_an_outage_and_caching_resumes_when_it_is_back() {
    let mut redis = PrivateRedis::start();
    let mut config = server_config();
    config.cache.redis_url = Some(redis.url());
    let app = TestApp::spawn_with(config).await;
    let shop = app.signup("redis-down").await;
    let product = app.product(&shop, "Rain Jacket", 8000).await;
    let path = format!("/v1/store/products/{}", product["slug"].as_str().unwrap());
    let admin = format!("/v1/admin/products/{}", product["id"].as_str().unwrap());
    let hits = || app.state.cache.stats().hits.load(std::sync::atomic::Ordering::Relaxed);
    notifications_settled(&app).await;
    get(&app, &shop, &path).await;
    let before = hits();
    get(&app, &shop, &path).await;
    assert_eq!(hits(), before + 1, "served from Redis");

    redis.stop();
    for _ in 0..5 {
        assert_eq!(get(&app, &shop, &path).await["name"], "Rain Jacket");
    }
    let mut browser = Browser::on(&app, &shop);
    assert_eq!(browser.get("/").await.status, StatusCode::OK);
    // Changes still show while Redis is away (reads come from the database).
    let (status, _) =
        app.owner(&shop, Method::PATCH, &admin, Some(json!({ "name": "Rain Jacket II" }))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(get(&app, &shop, &path).await["name"], "Rain Jacket II");

    redis.restart();
    eventually("reads are served from Redis again", Duration::from_secs(10), || async {
        let before = hits();
        let name = get(&app, &shop, &path).await["name"].clone();
        assert_eq!(name, "Rain Jacket II");
        let _ = get(&app, &shop, &path).await;
        (hits() > before).then_some(())
    })
    .await;
}

macro_rules! on_each_store {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $( #[tokio::test] async fn $name() { super::$name(super::TestApp::spawn_with(super::server_config()).await).await } )*
        }
        mod redis {
            $( #[tokio::test] async fn $name() { super::$name(super::TestApp::spawn_with(super::redis_config()).await).await } )*
        }
    };
}

on_each_store!(
    every_change_of_what_storefronts_show_is_read_back_at_once,
    one_shops_cached_reads_never_reach_another,
    public_reads_answer_conditional_requests,
);

#[tokio::test]
async fn a_change_through_one_instance_reaches_the_other_in_memory() {
    a_change_through_one_instance_is_seen_by_the_other(server_config()).await;
}

#[tokio::test]
async fn a_change_through_one_instance_reaches_the_other_through_redis() {
    a_change_through_one_instance_is_seen_by_the_other(redis_config()).await;
}
