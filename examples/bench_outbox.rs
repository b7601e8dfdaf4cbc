//! Benchmark driver of `scripts/bench.sh outbox` (not a test: it measures, it asserts nothing):
//! outbox events delivered as webhooks per second, and the delay from commit to delivery.
//!
//! `bench_outbox SHOPS EVENTS_PER_SHOP RATE` (needs `DATABASE_URL`) starts a server and a
//! webhook receiver in this process, makes SHOPS shops with one endpoint each (all events),
//! then:
//! - `burst`: commits EVENTS_PER_SHOP `product.updated` events per shop as fast as the shops'
//!   producers can (one transaction per event, the shops in parallel), and measures how fast
//!   the worker drains them to the receiver;
//! - `paced`: commits RATE events per second (spread over the shops) for 10 s: the delay from
//!   commit to delivery when the worker keeps up.
//!
//! The delay is the receiver's arrival time minus the moment `COMMIT` returned, both on this
//! process's monotonic clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use poem::listener::{Acceptor, Listener};
use serde_json::{Value, json};
use shopfleet::config::{DatabaseConfig, ServerConfig, WebhookConfig};
use shopfleet::server::Application;
use shopfleet::state;
use shopfleet::tenancy::registry::load_tenants;
use shopfleet::tenancy::{ShopId, Tenant, TenantTx};
use uuid::Uuid;

const PASSWORD: &str = "bench-password-42";

type Arrivals = Arc<Mutex<HashMap<Uuid, Instant>>>;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// A receiver answering 200 and noting when each event id first arrived.
async fn receiver() -> anyhow::Result<(String, Arrivals)> {
    let arrivals: Arrivals = Arc::default();
    let shared = arrivals.clone();
    let endpoint = poem::endpoint::make(move |req: poem::Request| {
        let arrivals = shared.clone();
        async move {
            let at = Instant::now();
            if let Some(id) = req.header("shopfleet-event-id").and_then(|id| id.parse().ok())
                && let Ok(mut arrivals) = arrivals.lock()
            {
                arrivals.entry(id).or_insert(at);
            }
            let _ = req.into_body().into_vec().await;
            poem::http::StatusCode::OK
        }
    });
    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
    let addr = *acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr())
        .context("receiver address")?;
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(endpoint));
    Ok((format!("http://{addr}/hook"), arrivals))
}

async fn call(
    http: &reqwest::Client,
    base: &str,
    slug: &str,
    token: Option<&str>,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let mut request = http.post(format!("{base}{path}")).header("X-Shop", slug).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_default();
    ensure!(status.is_success(), "{path}: {status} {body}");
    Ok(body)
}

/// Commits one `product.updated` event; returns its id and when `COMMIT` returned.
async fn commit_event(
    pool: &shopfleet::tenancy::DbPool,
    tenant: &Tenant,
) -> anyhow::Result<(Uuid, Instant)> {
    let mut tx = TenantTx::begin(pool, tenant).await?;
    let id = shopfleet::events::emit(
        &mut tx,
        tenant.id,
        shopfleet::events::EventKind::ProductUpdated,
        json!({ "id": Uuid::now_v7() }),
    )
    .await
    .map_err(|err| anyhow::anyhow!("{err}"))?
    .context("no consumer wants product.updated")?;
    tx.commit().await?;
    Ok((id, Instant::now()))
}

/// Waits until every event arrived (or 60 s); returns the delays and the last arrival.
async fn collect(
    arrivals: &Arrivals,
    committed: &[(Uuid, Instant)],
) -> anyhow::Result<(Vec<Duration>, Instant)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        {
            let arrivals = arrivals.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            if committed.iter().all(|(id, _)| arrivals.contains_key(id)) {
                let mut delays: Vec<Duration> = committed
                    .iter()
                    .map(|(id, at)| arrivals[id].saturating_duration_since(*at))
                    .collect();
                delays.sort();
                let last =
                    committed.iter().map(|(id, _)| arrivals[id]).max().context("no events")?;
                return Ok((delays, last));
            }
        }
        ensure!(Instant::now() < deadline, "not every event was delivered within 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn run(shops: usize, per_shop: usize, rate: usize) -> anyhow::Result<()> {
    let database = DatabaseConfig {
        database_url: std::env::var("DATABASE_URL").context("DATABASE_URL")?,
        database_direct_url: None,
        database_transaction_pooler: false,
        database_max_connections: 32,
        database_max_lifetime_secs: 900,
        shop_statement_timeout_ms: 10_000,
        shop_lock_timeout_ms: 5_000,
        shop_idle_in_transaction_timeout_ms: 30_000,
    };
    shopfleet::commands::migrate_platform(&database).await?;
    let pool = state::connect(&database).await?;
    let config = ServerConfig {
        database,
        search: Default::default(),
        storage: Default::default(),
        // The receiver is on 127.0.0.1.
        webhooks: WebhookConfig { allow_private_networks: true, ..Default::default() },
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
    let application = Application::build(config).await?;
    let base = format!("http://{}", application.local_addr());
    tokio::spawn(application.run());
    let (hook, arrivals) = receiver().await?;

    let http = reqwest::Client::new();
    let run = Uuid::now_v7().simple().to_string();
    let mut tenants = Vec::with_capacity(shops);
    for i in 0..shops {
        let slug = format!("outbox-{}-{i}", &run[run.len() - 8..]);
        let signup = json!({ "slug": slug, "name": "Outbox bench", "currency": "USD",
                             "owner_email": format!("owner@{slug}.example.com"), "owner_password": PASSWORD });
        let body = call(&http, &base, &slug, None, "/v1/signup", signup).await?;
        let token = body["tokens"]["access_token"].as_str().context("token")?;
        call(
            &http,
            &base,
            &slug,
            Some(token),
            "/v1/admin/webhooks",
            json!({ "url": hook, "events": ["*"] }),
        )
        .await?;
        let id = ShopId(body["shop_id"].as_str().context("shop_id")?.parse()?);
        tenants
            .push(load_tenants(&pool, &["active"], Some(id), None).await?.pop().context("tenant")?);
    }
    // Let the signup events drain.
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Burst: every shop's producer commits its events back to back.
    let started = Instant::now();
    let mut producers = Vec::new();
    for tenant in tenants.clone() {
        let pool = pool.clone();
        producers.push(tokio::spawn(async move {
            let mut committed = Vec::with_capacity(per_shop);
            for _ in 0..per_shop {
                committed.push(commit_event(&pool, &tenant).await?);
            }
            anyhow::Ok(committed)
        }));
    }
    let mut committed = Vec::with_capacity(shops * per_shop);
    for producer in producers {
        committed.extend(producer.await??);
    }
    let commit_secs = started.elapsed().as_secs_f64();
    let (delays, last) = collect(&arrivals, &committed).await?;
    let secs = last.duration_since(started).as_secs_f64();
    println!(
        "burst: {} events over {shops} shops committed in {commit_secs:.2} s ({:.0}/s), all delivered in {secs:.2} s = {:.0} events/s; \
         commit→delivery p50 {:.1} ms p99 {:.1} ms",
        committed.len(),
        committed.len() as f64 / commit_secs,
        committed.len() as f64 / secs,
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
    );

    // Paced: `rate` events per second for 10 s, round robin over the shops.
    let total = rate * 10;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut tick = tokio::time::interval(interval);
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        tick.tick().await;
        let (pool, tenant) = (pool.clone(), tenants[i % tenants.len()].clone());
        tasks.push(tokio::spawn(async move { commit_event(&pool, &tenant).await }));
    }
    let mut committed = Vec::with_capacity(total);
    for task in tasks {
        committed.push(task.await??);
    }
    let (delays, _) = collect(&arrivals, &committed).await?;
    println!(
        "paced: {total} events at {rate}/s over {shops} shops; commit→delivery p50 {:.1} ms p99 {:.1} ms max {:.1} ms",
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        percentile(&delays, 1.0),
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()
        .context("usage: bench_outbox SHOPS EVENTS_PER_SHOP RATE")?;
    let [shops, per_shop, rate] = args[..] else {
        anyhow::bail!("usage: bench_outbox SHOPS EVENTS_PER_SHOP RATE");
    };
    ensure!(shops > 0 && rate > 0, "SHOPS and RATE must be positive");
    run(shops, per_shop, rate).await
}
