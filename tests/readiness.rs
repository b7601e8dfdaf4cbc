//! Readiness (`/readyz`): every configured dependency is checked and reported; an optional one
//! down leaves the instance ready but degraded (200), PostgreSQL down makes it not ready (503).
//! Servers configured differently from the default use databases of their own: each server's
//! outbox worker delivers every shop's events of its database.

mod common;

use std::time::Duration;

use common::objects::s3_config;
use common::private_redis::PrivateRedis;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use shopfleet::storage::S3Store;

/// Readiness checks take up to 2 s each and a report is reused for 1 s.
const WAIT: Duration = Duration::from_secs(15);

async fn readyz(app: &TestApp) -> (StatusCode, Value) {
    read(app.platform(Method::GET, "/readyz").send().await.expect("GET /readyz")).await
}

/// Polls `/readyz` until its `status` is `expected`, and returns the answer.
async fn readyz_until(app: &TestApp, expected: &str) -> (StatusCode, Value) {
    eventually(&format!("/readyz to say {expected}"), WAIT, || async {
        let (status, body) = readyz(app).await;
        (body["status"] == expected).then_some((status, body))
    })
    .await
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn every_configured_dependency_is_listed_and_the_instance_is_ready_when_all_answer() {
    let app = TestApp::spawn_with(redis_config()).await;
    let (status, body) = readyz(&app).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ready")), "{body}");
    let checks = body["checks"].as_object().expect("checks");
    let mut names: Vec<&str> = checks.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["object_store", "postgres", "redis"], "MeiliSearch is not configured");
    for (name, check) in checks {
        assert_eq!(check["status"], "up", "{name}: {check}");
        assert!(check["latency_ms"].is_u64(), "{name}: {check}");
    }
    assert_eq!(checks["postgres"]["required"], true);
    assert_eq!(checks["redis"]["required"], false);
    assert_eq!(checks["object_store"]["kind"], "local");

    // Without Redis configured, it is not listed.
    let app = TestApp::spawn().await;
    let (_, body) = readyz(&app).await;
    assert!(body["checks"].get("redis").is_none(), "{body}");
}

#[tokio::test]
async fn redis_and_meilisearch_down_leave_the_instance_ready_but_degraded() {
    let mut redis = PrivateRedis::start().await;
    let mut config = server_config();
    config.database.database_url = database_url_for("readyz_degraded");
    config.cache.redis_url = Some(redis.url());
    // A MeiliSearch that is not running.
    config.search.meili_urls = vec![format!("http://127.0.0.1:{}", closed_port())];
    config.search.meili_timeout_ms = 300;
    let app = TestApp::spawn_with(config).await;
    let (_, body) = readyz_until(&app, "degraded").await;
    assert_eq!(body["checks"]["meilisearch"]["status"], "down", "{body}");
    assert_eq!(body["checks"]["redis"]["status"], "up", "{body}");

    redis.kill();
    let (status, body) = eventually("Redis to be reported down", WAIT, || async {
        let (status, body) = readyz(&app).await;
        (body["checks"]["redis"]["status"] == "down").then_some((status, body))
    })
    .await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("degraded")), "{body}");
    assert_eq!(body["checks"]["redis"]["required"], false);
    assert_eq!(body["checks"]["postgres"]["status"], "up");
    assert!(body["checks"]["redis"]["error"].is_string(), "{body}");
    // The cause is logged, never shown: no address, port or URL in the body.
    let text = body.to_string();
    for secret in ["127.0.0.1", "redis://", "http://", &redis.port.to_string()] {
        assert!(!text.contains(secret), "the body shows {secret}: {text}");
    }
}

#[tokio::test]
async fn an_object_store_that_no_longer_answers_degrades_the_instance() {
    let mut config = server_config();
    config.database.database_url = database_url_for("readyz_s3");
    config.storage = s3_config().await;
    let bucket = config.storage.s3_bucket.clone().expect("a bucket");
    let app = TestApp::spawn_with(config.clone()).await;
    let (_, body) = readyz_until(&app, "ready").await;
    assert_eq!(body["checks"]["object_store"]["kind"], "s3", "{body}");

    // The bucket goes away (as with lost credentials or a deleted bucket): not usable.
    S3Store::new(&config.storage, &bucket)
        .client()
        .await
        .delete_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("delete the (empty) bucket");
    let (status, body) = readyz_until(&app, "degraded").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["checks"]["object_store"]["status"], "down", "{body}");
    assert_eq!(body["checks"]["object_store"]["error"], "failed", "{body}");
    assert!(!body.to_string().contains(&bucket), "the body names the bucket: {body}");
}

#[tokio::test]
async fn postgresql_down_makes_the_instance_not_ready_until_it_is_back() {
    use sqlx::{Connection, Executor, PgConnection};
    let mut config = server_config();
    let database = database_url_for("readyz_pg");
    config.database.database_url = database.clone();
    let app = TestApp::spawn_with(config).await;
    readyz_until(&app, "ready").await;

    // The database refuses connections, and the server's open ones are ended.
    let name = url::Url::parse(&database).unwrap().path().trim_start_matches('/').to_owned();
    let admin = std::env::var("TEST_ADMIN_DATABASE_URL").expect("TEST_ADMIN_DATABASE_URL");
    let mut admin = PgConnection::connect(&admin).await.expect("connect as the superuser");
    let allow = |allowed: bool| format!("alter database \"{name}\" allow_connections {allowed}");
    admin.execute(allow(false).as_str()).await.unwrap();
    sqlx::query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1")
        .bind(&name)
        .execute(&mut admin)
        .await
        .unwrap();
    let (status, body) = readyz_until(&app, "not_ready").await;
    admin.execute(allow(true).as_str()).await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["checks"]["postgres"]["status"], "down", "{body}");
    assert_eq!(body["checks"]["postgres"]["required"], true);
    assert_eq!(body["checks"]["object_store"]["status"], "up", "{body}");

    let (status, _) = readyz_until(&app, "ready").await;
    assert_eq!(status, StatusCode::OK, "ready again once PostgreSQL is back");
}
