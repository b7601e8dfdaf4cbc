//! The transactional outbox: events commit (or roll back) with their change, the worker
//! delivers them, and failures back off into a dead letter.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use shopfleet::events::worker::process_shop;
use shopfleet::events::{Consumers, RetryPolicy};
use shopfleet::search::meili::{MeiliConfig, MeiliEngine};
use shopfleet::search::{SearchEngine, SearchIndexer};
use shopfleet::tenancy::{Tenant, TenantTx};

#[derive(Debug, sqlx::FromRow)]
struct Row {
    kind: String,
    consumer: String,
    attempts: i32,
    processed: bool,
    dead: bool,
    last_error: Option<String>,
}

async fn outbox(app: &TestApp, tenant: &Tenant) -> Vec<Row> {
    let mut tx = TenantTx::begin(&app.pool, tenant).await.unwrap();
    let rows = sqlx::query_as(
        "select kind, consumer, attempts, processed_at is not null as processed, dead_at is not null as dead, last_error \
         from outbox order by id",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    rows
}

#[tokio::test]
async fn an_event_commits_with_its_change_and_the_worker_delivers_it() {
    let app = TestApp::spawn().await;
    let shop = app.signup("outbox").await;
    let tenant = tenant_of(&app.pool, &shop.slug).await;
    app.product(&shop, "Evented", 500).await;

    // A change that fails (duplicate SKU) leaves no event behind.
    let body = json!({ "name": "Twin", "variants": [{ "sku": "DUP", "price": 1 }] });
    let (status, _) =
        app.owner(&shop, Method::POST, "/v1/admin/products", Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app.owner(&shop, Method::POST, "/v1/admin/products", Some(body)).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let started = Instant::now();
    loop {
        let rows = outbox(&app, &tenant).await;
        let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["shop.created", "product.created", "product.created"],
            "one event per committed change"
        );
        assert!(rows.iter().all(|r| r.consumer == "search_index"));
        if rows.iter().all(|r| r.processed && r.attempts == 1) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(3), "not delivered: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_failing_consumer_is_retried_with_backoff_then_dead_lettered() {
    let app = TestApp::spawn().await;
    let shop = app.signup("outbox-dead").await;
    let tenant = tenant_of(&app.pool, &shop.slug).await;
    // A search consumer whose MeiliSearch never answers: every indexing attempt fails.
    let down: Arc<dyn SearchEngine> = Arc::new(
        MeiliEngine::new(MeiliConfig {
            urls: vec!["http://127.0.0.1:9".into()],
            api_key: None,
            search_key: None,
            timeout: Duration::from_millis(300),
            token_ttl: Duration::from_secs(60),
        })
        .unwrap(),
    );
    let policy = RetryPolicy {
        max_attempts: 2,
        base: Duration::from_secs(3600),
        cap: Duration::from_secs(3600),
    };
    let consumers =
        Consumers::new().with(SearchIndexer::new(app.pool.clone(), down).with_retry_policy(policy));
    // Every test process runs a worker, and LISTEN is database-wide: let the workers woken by
    // this shop's signup finish with it first.
    let started = Instant::now();
    while !outbox(&app, &tenant).await.iter().all(|r| r.processed) {
        assert!(started.elapsed() < Duration::from_secs(3), "signup events not delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Insert the row without the NOTIFY that `emit` sends: no worker is woken for it, so only
    // this test claims it.
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.unwrap();
    sqlx::query(
        "insert into outbox (id, event_id, consumer, kind, payload) values ($1, $2, 'search_index', 'product.updated', $3)",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(uuid::Uuid::now_v7())
    .bind(json!({ "id": uuid::Uuid::now_v7() }))
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    process_shop(&app.pool, &consumers, tenant.id).await.unwrap();
    let rows = outbox(&app, &tenant).await;
    let row = rows.iter().find(|r| r.kind == "product.updated").unwrap();
    assert_eq!(row.attempts, 1);
    assert!(!row.dead);
    assert!(row.last_error.as_deref().unwrap_or_default().contains("unavailable"), "{row:?}");

    // Backed off by an hour: not due, so nothing is claimed now.
    process_shop(&app.pool, &consumers, tenant.id).await.unwrap();
    assert_eq!(
        outbox(&app, &tenant).await.iter().find(|r| r.kind == "product.updated").unwrap().attempts,
        1
    );
    let scheduled: bool = sqlx::query_scalar("select exists (select 1 from platform.outbox_schedule where shop_id = $1 and next_at > now() + interval '50 minutes')")
        .bind(tenant.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(scheduled, "the retry time is in the schedule");

    // Make it due; the second failure is the last attempt: dead letter.
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.unwrap();
    sqlx::query("update outbox set available_at = now() where kind = 'product.updated'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    process_shop(&app.pool, &consumers, tenant.id).await.unwrap();
    let row =
        outbox(&app, &tenant).await.into_iter().find(|r| r.kind == "product.updated").unwrap();
    assert!(row.dead && !row.processed && row.attempts == 2, "{row:?}");
}
