//! `GET /metrics` (`telemetry::metrics`): Prometheus text on its own listener (`METRICS_ADDR`),
//! whose counters move with what the server does, labelled by route template and never by a
//! shop, and which no shop host or public route reaches.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{TestApp, eventually, read, server_config};
use reqwest::{Method, StatusCode};

/// One sample of the exposition text: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .filter_map(|pair| {
                    let (key, value) = pair.split_once('=')?;
                    Some((key.to_owned(), value.trim_matches('"').to_owned()))
                })
                .collect();
            Some(Sample { name: name.to_owned(), labels, value: value.parse().ok()? })
        })
        .collect()
}

/// The sum of the samples named `name` whose labels include `with`.
fn total(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| with.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| s.value)
        .sum()
}

async fn scrape(app: &TestApp) -> (String, Vec<Sample>) {
    let addr = app.metrics_addr.expect("METRICS_ADDR set");
    let response =
        app.client.get(format!("http://{addr}/metrics")).send().await.expect("scrape /metrics");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().expect("ascii").to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = response.text().await.expect("metrics text");
    let samples = parse(&text);
    (text, samples)
}

async fn spawn() -> TestApp {
    let mut config = server_config();
    config.metrics_addr = Some("127.0.0.1:0".into());
    config.limits.signups_per_ip_per_hour = 2;
    TestApp::spawn_with(config).await
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_no_shop_is_named() {
    let app = spawn().await;
    let (a, b) = (app.signup("metrics-a").await, app.signup("metrics-b").await);
    let product = app.product(&a, "Counted Tee", 1500).await;
    let slug = product["slug"].as_str().expect("slug");
    // The same product twice: the second answer comes whole from the cache.
    for _ in 0..2 {
        let response = app
            .shop(Method::GET, &a.slug, &format!("/v1/store/products/{slug}"))
            .send()
            .await
            .expect("product");
        assert_eq!(response.status(), StatusCode::OK);
    }
    let missing = app.shop(Method::GET, &b.slug, "/v1/store/products/nothing-here").send().await;
    assert_eq!(missing.expect("missing product").status(), StatusCode::NOT_FOUND);
    let unknown = app.shop(Method::GET, &b.slug, "/v1/no-such-route").send().await;
    assert_eq!(unknown.expect("unknown route").status(), StatusCode::NOT_FOUND);
    // A third sign-up from this client is refused by its limit (2 an hour here).
    let refused = app
        .platform(Method::POST, "/v1/signup")
        .json(&serde_json::json!({
            "slug": common::random_slug("metrics-c"), "name": "C", "currency": "USD",
            "owner_email": "owner@c.example.com", "owner_password": common::PASSWORD,
        }))
        .send()
        .await
        .expect("signup");
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);

    let (text, samples) = scrape(&app).await;
    // The template as poem matched it (poem-openapi names path parameters `param0`, …).
    let route = "/v1/store/products/:param0";
    let requests = "shopfleet_http_requests_total";
    assert_eq!(
        total(&samples, requests, &[("route", route), ("method", "GET"), ("status", "2xx")]),
        2.0,
        "a miss and a cache hit, one series:\n{text}"
    );
    assert_eq!(total(&samples, requests, &[("route", route), ("status", "4xx")]), 1.0);
    assert_eq!(total(&samples, requests, &[("route", "unmatched"), ("status", "4xx")]), 1.0);
    assert_eq!(
        total(&samples, requests, &[("route", "/v1/signup"), ("status", "2xx")]),
        2.0,
        "{text}"
    );
    assert_eq!(
        total(
            &samples,
            "shopfleet_http_request_duration_seconds_count",
            &[("route", route), ("status", "2xx")]
        ),
        2.0
    );
    assert_eq!(total(&samples, "shopfleet_signups_total", &[]), 2.0);
    assert_eq!(total(&samples, "shopfleet_shop_provisioning_seconds_count", &[]), 2.0);
    assert_eq!(
        total(&samples, "shopfleet_rate_limit_refusals_total", &[("limit", "signup_client")]),
        1.0
    );
    assert!(total(&samples, "shopfleet_cache_lookups_total", &[("result", "hit")]) >= 1.0);
    assert!(total(&samples, "shopfleet_cache_lookups_total", &[("result", "miss")]) >= 1.0);
    assert!(
        total(
            &samples,
            "shopfleet_db_transaction_duration_seconds_count",
            &[("outcome", "commit")]
        ) >= 1.0
    );
    assert!(total(&samples, "shopfleet_db_begin_duration_seconds_count", &[]) >= 1.0);
    assert!(total(&samples, "shopfleet_db_pool_connections", &[]) >= 1.0);
    assert_eq!(total(&samples, "shopfleet_db_pool_max", &[]), 10.0);
    // The shops of this test database (other tests add theirs): at least these two.
    assert!(total(&samples, "shopfleet_shops", &[("status", "active")]) >= 2.0);

    // Nothing of a shop in any series: no id, slug, product or path.
    for shop in [&a, &b] {
        assert!(!text.contains(&shop.slug), "{} named in the metrics", shop.slug);
        assert!(!text.contains(&shop.id), "{} named in the metrics", shop.id);
    }
    assert!(!text.contains(slug) && !text.contains("nothing-here") && !text.contains("no-such"));
}

#[tokio::test]
async fn outbox_deliveries_are_counted_by_consumer_and_outcome() {
    let app = spawn().await;
    let shop = app.signup("metrics-outbox").await;
    app.product(&shop, "Indexed Tee", 900).await;
    // Creating a product emits an event the search consumer handles after commit.
    let samples = eventually("the search consumer's row counted", Duration::from_secs(10), || {
        let app = &app;
        async move {
            let (_, samples) = scrape(app).await;
            let done = total(&samples, "shopfleet_outbox_handled_total", &[("outcome", "done")]);
            (done >= 1.0).then_some(samples)
        }
    })
    .await;
    assert!(total(&samples, "shopfleet_outbox_lag_seconds_count", &[]) >= 1.0);
    assert!(samples.iter().any(|s| s.name == "shopfleet_outbox_shops_due"));
    assert!(samples.iter().any(|s| s.name == "shopfleet_outbox_oldest_due_age_seconds"));
}

#[tokio::test]
async fn the_metrics_are_not_served_on_the_public_port() {
    let app = spawn().await;
    let shop = app.signup("metrics-hidden").await;
    for response in [
        app.platform(Method::GET, "/metrics").send().await,
        app.shop(Method::GET, &shop.slug, "/metrics").send().await,
    ] {
        let (status, _) = read(response.expect("request")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
