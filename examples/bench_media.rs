//! Benchmark driver of `scripts/bench.sh media` (not a test: it measures, it asserts nothing):
//! throughput of 1 MB image uploads into an S3-compatible server (moto), through a server in
//! this process.
//!
//! `bench_media COUNT CONCURRENCY` (needs `DATABASE_URL`, `S3_ENDPOINT` and AWS credentials in
//! the environment) makes a bucket and a shop, then runs COUNT uploads, CONCURRENCY at a time,
//! three ways:
//! - `s3 put`: the store's own `put` of the same bytes (the ceiling: no HTTP API, no database);
//! - `multipart`: `POST /v1/admin/products/{id}/media` (the server spools, checks and stores);
//! - `direct`: announce, PUT to the presigned URL (client → S3), complete (the server checks).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use futures::StreamExt;
use serde_json::{Value, json};
use shopfleet::config::{DatabaseConfig, ServerConfig, StorageConfig};
use shopfleet::server::Application;
use shopfleet::storage::{self, LocalUrls, ObjectBody, ObjectKey, ObjectStore, S3Store};
use shopfleet::tenancy::ShopId;

const IMAGE_BYTES: usize = 1_000_000;
const PASSWORD: &str = "bench-password-42";

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn report(label: &str, wall: Duration, mut samples: Vec<Duration>) {
    samples.sort();
    let secs = wall.as_secs_f64();
    let count = samples.len() as f64;
    println!(
        "{label}: {} uploads of 1 MB in {secs:.2} s = {:.1} uploads/s = {:.1} MB/s; latency p50 {:.1} ms p99 {:.1} ms",
        samples.len(),
        count / secs,
        count * IMAGE_BYTES as f64 / 1e6 / secs,
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
    );
}

/// A JPEG header followed by bytes that do not compress: what a photo looks like to the server.
fn image(seed: u64) -> Vec<u8> {
    let mut data = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00".to_vec();
    let mut x = seed | 1;
    while data.len() < IMAGE_BYTES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.push((x >> 24) as u8);
    }
    data
}

/// Runs `count` jobs, `concurrency` at a time; returns the wall time and each job's latency.
async fn measure<F, Fut>(
    count: usize,
    concurrency: usize,
    job: F,
) -> anyhow::Result<(Duration, Vec<Duration>)>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let started = Instant::now();
    let results: Vec<anyhow::Result<Duration>> = futures::stream::iter(0..count)
        .map(|i| {
            let job = job(i);
            async move {
                let at = Instant::now();
                job.await?;
                Ok(at.elapsed())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let wall = started.elapsed();
    Ok((wall, results.into_iter().collect::<anyhow::Result<Vec<_>>>()?))
}

struct Bench {
    http: reqwest::Client,
    base: String,
    slug: String,
    token: String,
    products: Vec<String>,
    data: bytes::Bytes,
}

impl Bench {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-Shop", &self.slug)
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        ensure!(status.is_success(), "{path}: {status} {body}");
        Ok(body)
    }

    /// Products cap at 50 images: spread the uploads.
    fn product(&self, i: usize) -> &str {
        &self.products[i % self.products.len()]
    }

    async fn multipart(&self, i: usize) -> anyhow::Result<()> {
        let body = reqwest::Body::from(self.data.clone());
        let part = reqwest::multipart::Part::stream_with_length(body, self.data.len() as u64)
            .file_name("photo.jpg")
            .mime_str("image/jpeg")?;
        let form = reqwest::multipart::Form::new().part("file", part).text("alt", "bench");
        let response = self
            .http
            .post(format!("{}/v1/admin/products/{}/media", self.base, self.product(i)))
            .header("X-Shop", &self.slug)
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await?;
        ensure!(response.status() == 201, "multipart upload: {}", response.status());
        Ok(())
    }

    async fn direct(&self, i: usize) -> anyhow::Result<()> {
        let announce = json!({ "product_id": self.product(i), "content_type": "image/jpeg", "size": self.data.len() });
        let ticket =
            self.call(reqwest::Method::POST, "/v1/admin/media/uploads", Some(announce)).await?;
        let mut put = self.http.put(ticket["url"].as_str().context("url")?).body(self.data.clone());
        for (name, value) in ticket["headers"].as_object().context("headers")? {
            put = put.header(name, value.as_str().unwrap_or_default());
        }
        let status = put.send().await?.status();
        ensure!(status.is_success(), "PUT to the presigned URL: {status}");
        let id = ticket["upload_id"].as_str().context("upload_id")?;
        self.call(reqwest::Method::POST, &format!("/v1/admin/media/uploads/{id}/complete"), None)
            .await?;
        Ok(())
    }
}

async fn run(count: usize, concurrency: usize) -> anyhow::Result<()> {
    let endpoint =
        std::env::var("S3_ENDPOINT").context("S3_ENDPOINT (the S3-compatible server)")?;
    let bucket = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let storage_config = StorageConfig {
        s3_bucket: Some(bucket.clone()),
        s3_endpoint: Some(endpoint),
        s3_region: Some("us-east-1".into()),
        s3_force_path_style: true,
        ..Default::default()
    };
    S3Store::new(&storage_config, &bucket)
        .client()
        .await
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .context("creating the bucket")?;
    let database = DatabaseConfig {
        database_url: std::env::var("DATABASE_URL").context("DATABASE_URL")?,
        database_direct_url: None,
        database_transaction_pooler: false,
        database_max_connections: 20,
        database_max_lifetime_secs: 900,
        shop_statement_timeout_ms: 10_000,
        shop_lock_timeout_ms: 5_000,
        shop_idle_in_transaction_timeout_ms: 30_000,
    };
    shopfleet::commands::migrate_platform(&database).await?;
    let config = ServerConfig {
        database,
        search: Default::default(),
        storage: storage_config.clone(),
        webhooks: Default::default(),
        cache: Default::default(),
        limits: shopfleet::config::LimitsConfig::unlimited(),
        shutdown: Default::default(),
        listen_addr: "127.0.0.1:0".into(),
        metrics_addr: None,
        base_domain: "shops.bench".into(),
        public_url_template: "http://{host}".into(),
        jwt_secret: "bench-secret-bench-secret-bench-secret".into(),
        access_token_ttl_secs: 3600,
        refresh_token_ttl_days: 30,
        tenant_cache_capacity: 10_000,
        password_hash_concurrency: 0,
        password_hash_queue: 64,
        cors_allowed_origins: Vec::new(),
        dns_resolver: None,
    };
    let store: Arc<dyn ObjectStore> = storage::from_config(&storage_config, LocalUrls::unused());
    let application = Application::build(config).await?;
    let base = format!("http://{}", application.local_addr());
    tokio::spawn(application.run());

    let http = reqwest::Client::new();
    let slug = format!("media-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let signup: Value = http
        .post(format!("{base}/v1/signup"))
        .json(&json!({ "slug": slug, "name": "Media Bench", "owner_email": format!("o@{slug}.example.com"), "owner_password": PASSWORD }))
        .send()
        .await?
        .json()
        .await?;
    let token = signup["tokens"]["access_token"].as_str().context("signup token")?.to_owned();
    let shop = ShopId(signup["shop_id"].as_str().context("shop id")?.parse()?);
    let mut bench = Bench {
        http,
        base,
        slug,
        token,
        products: Vec::new(),
        data: bytes::Bytes::from(image(42)),
    };
    // Three runs of `count` plus a warm-up, at most 50 images per product.
    for n in 0..(3 * count + 10) / 45 + 1 {
        let product = json!({ "name": format!("Bench {n}"), "variants": [{ "price": 100 }] });
        let created =
            bench.call(reqwest::Method::POST, "/v1/admin/products", Some(product)).await?;
        bench.products.push(created["id"].as_str().context("product id")?.to_owned());
    }
    println!(
        "uploads of {IMAGE_BYTES} bytes, {count} per run, concurrency {concurrency}, server and moto on this machine"
    );

    let (wall, samples) = measure(count, concurrency, |i| {
        let (store, data) = (store.clone(), bench.data.clone());
        async move {
            let key = ObjectKey::new(shop, &format!("bench/raw-{i}.jpg"))?;
            store.put(&key, ObjectBody::Bytes(data), "image/jpeg").await
        }
    })
    .await?;
    report("s3 put (store only)", wall, samples);

    measure(10, concurrency, |i| bench.multipart(i)).await?;
    let (wall, samples) = measure(count, concurrency, |i| bench.multipart(i)).await?;
    report("multipart POST /v1/admin/products/{id}/media", wall, samples);

    let (wall, samples) = measure(count, concurrency, |i| bench.direct(i)).await?;
    report("direct upload (announce + PUT to presigned URL + complete)", wall, samples);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize| args.get(i).and_then(|n| n.parse::<usize>().ok());
    match (number(0), number(1)) {
        (Some(count), Some(concurrency)) if count > 0 && concurrency > 0 => {
            run(count, concurrency).await
        }
        _ => anyhow::bail!("usage: bench_media COUNT CONCURRENCY"),
    }
}
