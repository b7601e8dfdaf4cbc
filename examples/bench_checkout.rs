//! Checkout throughput, used by `scripts/bench.sh checkout` (it measures, it asserts nothing).
//!
//! `bench_checkout CHECKOUTS BUYERS`: one shop on an in-process server (release build, the
//! database of `DATABASE_URL`). For each scenario, CHECKOUTS guest carts are filled first (not
//! timed); then BUYERS concurrent buyers check them out, and the wall time of the checkouts
//! gives checkouts per second, with the latency of each request.
//! - `spread`: every cart holds a different one of 1,000 products: no two checkouts contend.
//! - `hot`: every cart holds the same variant: all checkouts queue on its row lock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use serde_json::{Value, json};
use shopfleet::config::{DatabaseConfig, ServerConfig};
use shopfleet::server::Application;

fn config() -> anyhow::Result<ServerConfig> {
    let database = DatabaseConfig {
        database_url: std::env::var("DATABASE_URL").context("DATABASE_URL")?,
        database_direct_url: None,
        database_transaction_pooler: false,
        database_max_connections: 40,
        database_max_lifetime_secs: 900,
        shop_statement_timeout_ms: 10_000,
        shop_lock_timeout_ms: 5_000,
        shop_idle_in_transaction_timeout_ms: 30_000,
    };
    Ok(ServerConfig {
        database,
        search: Default::default(),
        storage: Default::default(),
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
        webhooks: Default::default(),
        cache: Default::default(),
        limits: shopfleet::config::LimitsConfig::unlimited(),
    })
}

struct Shop {
    client: reqwest::Client,
    base: String,
    slug: String,
    token: String,
}

impl Shop {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: bool,
        cart: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("X-Shop", &self.slug);
        if bearer {
            request = request.bearer_auth(&self.token);
        }
        if let Some(cart) = cart {
            request = request.header("X-Cart-Token", cart);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "{path}: {status} {body}");
        Ok(body)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

async fn scenario(
    shop: &Arc<Shop>,
    name: &str,
    variants: &[String],
    checkouts: usize,
    buyers: usize,
    shipping: &str,
) -> anyhow::Result<()> {
    let mut carts = Vec::with_capacity(checkouts);
    for i in 0..checkouts {
        let cart = shop.send(reqwest::Method::POST, "/v1/store/carts", false, None, None).await?;
        let token = cart["token"].as_str().context("cart token")?.to_owned();
        let variant = &variants[i % variants.len()];
        shop.send(
            reqwest::Method::POST,
            "/v1/store/cart/items",
            false,
            Some(&token),
            Some(json!({ "variant_id": variant, "quantity": 1 })),
        )
        .await?;
        carts.push(token);
    }
    let body = json!({
        "email": "buyer@example.com",
        "shipping_address": { "name": "Bench Buyer", "line1": "1 Main St", "city": "Hanoi", "postal_code": "100000", "country": "VN" },
        "shipping_method_id": shipping,
        "payment": { "method": "manual" },
    });
    let started = Instant::now();
    let latencies: Vec<anyhow::Result<Duration>> = futures::stream::iter(carts)
        .map(|cart| {
            let (shop, body) = (shop.clone(), body.clone());
            async move {
                let started = Instant::now();
                let response = shop
                    .client
                    .post(format!("{}/v1/store/checkout", shop.base))
                    .header("X-Shop", &shop.slug)
                    .header("X-Cart-Token", &cart)
                    .header("Idempotency-Key", &cart)
                    .json(&body)
                    .send()
                    .await?;
                anyhow::ensure!(
                    response.status() == 201,
                    "checkout: {} {}",
                    response.status(),
                    response.text().await.unwrap_or_default()
                );
                Ok(started.elapsed())
            }
        })
        .buffer_unordered(buyers)
        .collect()
        .await;
    let wall = started.elapsed();
    let mut samples = latencies.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    samples.sort();
    println!(
        "{name}: {} checkouts by {buyers} buyers in {:.2} s = {:.0} checkouts/s; latency p50={:.1} ms p99={:.1} ms max={:.1} ms",
        samples.len(),
        wall.as_secs_f64(),
        samples.len() as f64 / wall.as_secs_f64(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        percentile(&samples, 1.0)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (checkouts, buyers) =
        (args.first().copied().unwrap_or(2000), args.get(1).copied().unwrap_or(32));
    let config = config()?;
    shopfleet::commands::migrate_platform(&config.database).await?;
    let application = Application::build(config).await?;
    let base = format!("http://{}", application.local_addr());
    tokio::spawn(application.run());

    let client = reqwest::Client::new();
    let slug = format!("checkout-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let signup: Value = client
        .post(format!("{base}/v1/signup"))
        .json(&json!({ "slug": slug, "name": "Bench", "owner_email": format!("o@{slug}.example.com"), "owner_password": "bench-password-42" }))
        .send()
        .await?
        .json()
        .await?;
    let token = signup["tokens"]["access_token"].as_str().context("owner token")?.to_owned();
    let shop = Arc::new(Shop { client, base, slug, token });
    let method = shop
        .send(
            reqwest::Method::POST,
            "/v1/admin/shipping-methods",
            true,
            None,
            Some(json!({ "name": "Flat", "price": 500 })),
        )
        .await?;
    let shipping = method["id"].as_str().context("shipping method id")?.to_owned();

    let mut spread = Vec::new();
    for i in 0..1000 {
        let product = shop
            .send(
                reqwest::Method::POST,
                "/v1/admin/products",
                true,
                None,
                Some(json!({ "name": format!("Product {i}"), "status": "active", "variants": [{ "price": 1000 + i, "stock": 1_000_000 }] })),
            )
            .await?;
        spread.push(product["variants"][0]["id"].as_str().context("variant id")?.to_owned());
    }
    let hot = vec![spread[0].clone()];

    scenario(&shop, "spread (1,000 variants)", &spread, checkouts, buyers, &shipping).await?;
    scenario(&shop, "hot (1 variant)", &hot, checkouts, buyers, &shipping).await?;
    Ok(())
}
