//! Outgoing webhooks against a receiver inside the test: signed deliveries, retries and dead
//! letters, a worker restart, shop isolation, the admin API and the SSRF guard.
//!
//! Servers configured differently use databases of their own (every server's worker delivers
//! every shop's events of its database), made by the harness: the default one for the default
//! test config, `webhook_retry` (1 s backoff), `webhook_restart` (one test, whose servers start
//! and stop) and `webhook_strict` (private networks refused).

mod common;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use poem::listener::{Acceptor, Listener};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shopfleet::config::ServerConfig;
use shopfleet::server::Application;
use shopfleet::tenancy::TenantTx;

// ---------------------------------------------------------------------------------------------
// The receiver: records every request, answers scripted statuses per path (200 by default).

#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

#[derive(Default)]
struct ReceiverState {
    requests: HashMap<String, Vec<Received>>,
    scripts: HashMap<String, VecDeque<u16>>,
    fixed: HashMap<String, u16>,
}

#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    async fn start() -> Self {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let shared = state.clone();
        let endpoint = poem::endpoint::make(move |req: poem::Request| {
            let state = shared.clone();
            async move {
                let path = req.uri().path().to_owned();
                let headers = req
                    .headers()
                    .iter()
                    .map(|(name, value)| {
                        (name.as_str().to_owned(), value.to_str().unwrap_or_default().to_owned())
                    })
                    .collect();
                let body = req.into_body().into_vec().await.unwrap_or_default();
                let mut state = state.lock().unwrap();
                let status = match state.scripts.get_mut(&path).and_then(VecDeque::pop_front) {
                    Some(status) => status,
                    None => state.fixed.get(&path).copied().unwrap_or(200),
                };
                state.requests.entry(path).or_default().push(Received { headers, body });
                poem::Response::builder()
                    .status(poem::http::StatusCode::from_u16(status).unwrap())
                    .finish()
            }
        });
        let acceptor =
            poem::listener::TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
        let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(endpoint));
        Self { addr, state }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next requests to `path` get these statuses, then the fixed one.
    fn script(&self, path: &str, statuses: &[u16]) {
        self.state
            .lock()
            .unwrap()
            .scripts
            .insert(path.to_owned(), statuses.iter().copied().collect());
    }

    /// Every request to `path` gets `status` (after any script).
    fn fix(&self, path: &str, status: u16) {
        self.state.lock().unwrap().fixed.insert(path.to_owned(), status);
    }

    fn requests(&self, path: &str) -> Vec<Received> {
        self.state.lock().unwrap().requests.get(path).cloned().unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// The default test config on another database, delivering with a short backoff.
fn config_on(database: &str, base_secs: u64, max_attempts: u32) -> ServerConfig {
    let mut config = server_config();
    config.database = database_config(database);
    config.webhooks.retry_base_secs = base_secs;
    config.webhooks.max_attempts = max_attempts;
    config.webhooks.timeout_secs = 2;
    config
}

/// Registers an endpoint; returns its id and secret.
async fn endpoint(app: &TestApp, shop: &TestShop, url: &str, events: &[&str]) -> (String, String) {
    let (status, body) = app
        .owner(
            shop,
            Method::POST,
            "/v1/admin/webhooks",
            Some(json!({ "url": url, "events": events })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "creating endpoint: {body}");
    (body["id"].as_str().unwrap().to_owned(), body["secret"].as_str().unwrap().to_owned())
}

async fn deliveries(app: &TestApp, shop: &TestShop, endpoint: &str) -> Vec<Value> {
    let (status, body) = app
        .owner(
            shop,
            Method::GET,
            &format!("/v1/admin/webhooks/{endpoint}/deliveries?limit=100"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "deliveries: {body}");
    body["items"].as_array().unwrap().clone()
}

const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Delivery.

#[tokio::test]
async fn deliveries_are_signed_with_the_secret_returned_at_creation() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let shop = app.signup("wh-sign").await;
    let (id, secret) = endpoint(&app, &shop, &receiver.url("/hook"), &["product.created"]).await;

    let product = app.product(&shop, "Signed Tee", 1500).await;
    let request = eventually("the product.created delivery", WAIT, || async {
        receiver.requests("/hook").pop()
    })
    .await;

    let signature = request.header("shopfleet-signature");
    assert_eq!(
        shopfleet::signature::verify(
            secret.as_bytes(),
            signature,
            &request.body,
            shopfleet::signature::unix_now()
        ),
        Ok(())
    );
    assert!(
        shopfleet::signature::verify(
            b"another secret",
            signature,
            &request.body,
            shopfleet::signature::unix_now()
        )
        .is_err()
    );
    let body = request.json();
    assert_eq!(body["type"], "product.created");
    assert_eq!(body["shop_id"], shop.id.as_str());
    assert_eq!(body["data"]["id"], product["id"]);
    assert!(body["created_at"].as_str().is_some());
    assert_eq!(
        request.header("shopfleet-event-id"),
        body["id"].as_str().unwrap(),
        "the event id header is the body's id"
    );
    assert_eq!(request.header("shopfleet-event-type"), "product.created");
    assert_eq!(request.header("content-type"), "application/json");
    assert!(request.header("user-agent").starts_with("shopfleet-webhooks/"));

    // The deliveries API shows it delivered, with its one attempt.
    let items = eventually("the delivery to be recorded", WAIT, || async {
        let items = deliveries(&app, &shop, &id).await;
        (items.len() == 1 && items[0]["state"] == "delivered").then_some(items)
    })
    .await;
    assert_eq!(items[0]["event_id"], body["id"]);
    assert_eq!(items[0]["event_type"], "product.created");
    assert_eq!(items[0]["attempt_count"], 1);
    assert_eq!(items[0]["attempts"][0]["status_code"], 200);
    assert!(items[0]["next_retry_at"].is_null() && items[0]["delivered_at"].is_string());

    // Only subscribed kinds are sent; the test event goes to the endpoint whatever it subscribes to.
    let (status, _) = app
        .owner(
            &shop,
            Method::PATCH,
            &format!("/v1/admin/products/{}", product["id"].as_str().unwrap()),
            Some(json!({ "name": "Renamed" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, queued) =
        app.owner(&shop, Method::POST, &format!("/v1/admin/webhooks/{id}/test"), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let test = eventually("the test event", WAIT, || async {
        receiver
            .requests("/hook")
            .into_iter()
            .find(|r| r.header("shopfleet-event-type") == "webhook.test")
    })
    .await;
    assert_eq!(test.header("shopfleet-event-id"), queued["event_id"].as_str().unwrap());
    assert_eq!(
        shopfleet::signature::verify(
            secret.as_bytes(),
            test.header("shopfleet-signature"),
            &test.body,
            shopfleet::signature::unix_now()
        ),
        Ok(())
    );
    let kinds: Vec<String> = deliveries(&app, &shop, &id)
        .await
        .iter()
        .map(|d| d["event_type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        ["webhook.test", "product.created"],
        "no product.updated delivery for an endpoint not subscribed to it"
    );
}

#[tokio::test]
async fn order_and_inventory_events_reach_the_shops_endpoints_in_order() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let shop = app.signup("wh-orders").await;
    let kinds = [
        "order.created",
        "order.paid",
        "order.fulfilled",
        "order.refunded",
        "order.cancelled",
        "inventory.low",
    ];
    let (_, secret) = endpoint(&app, &shop, &receiver.url("/orders"), &kinds).await;
    // The default low-stock threshold is 5: selling 2 of 6 crosses it.
    let (_, variant) = app.variant(&shop, "Candle", 1800, 6).await;
    let shipping = app.shipping_method(&shop, 200, None).await;
    let done = app.guest_order(&shop, &shipping, &variant, 2, "manual").await;
    let order = done["order"]["id"].as_str().unwrap().to_owned();
    for (action, body) in [
        ("mark-paid", json!({})),
        ("fulfil", json!({ "carrier": "DHL", "tracking_number": "JD0001" })),
    ] {
        let (status, answer) = app
            .owner(&shop, Method::POST, &format!("/v1/admin/orders/{order}/{action}"), Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (status, answer) = app
        .owner_post_once(
            &shop,
            &format!("/v1/admin/orders/{order}/refunds"),
            "wh-refund",
            json!({ "amount": 1000 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let second = app.guest_order(&shop, &shipping, &variant, 1, "manual").await;
    let (status, answer) = app
        .owner(
            &shop,
            Method::POST,
            &format!("/v1/admin/orders/{}/cancel", second["order"]["id"].as_str().unwrap()),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let received = eventually("every order event", WAIT, || async {
        let received = receiver.requests("/orders");
        (received.len() >= 7).then_some(received)
    })
    .await;
    let types: Vec<String> =
        received.iter().map(|r| r.json()["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(
        types,
        [
            "order.created",
            "inventory.low",
            "order.paid",
            "order.fulfilled",
            "order.refunded",
            "order.created",
            "order.cancelled"
        ],
        "one endpoint's events arrive in the order they were committed"
    );
    for request in &received {
        assert_eq!(
            shopfleet::signature::verify(
                secret.as_bytes(),
                request.header("shopfleet-signature"),
                &request.body,
                shopfleet::signature::unix_now()
            ),
            Ok(())
        );
    }
    let created = received[0].json();
    assert_eq!(
        (&created["data"]["number"], &created["data"]["total"], &created["data"]["status"]),
        (&json!(1001), &json!(3800), &json!("pending_payment"))
    );
    let low = received[1].json();
    assert_eq!(
        (&low["data"]["variant_id"], &low["data"]["stock"], &low["data"]["threshold"]),
        (&json!(variant), &json!(4), &json!(5))
    );
    assert_eq!(received[4].json()["data"]["refunded_total"], 1000);
    assert_eq!(received[6].json()["data"]["status"], "cancelled");
}

#[tokio::test]
async fn a_rotated_secret_signs_alongside_the_old_one_for_a_day() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let shop = app.signup("wh-rotate").await;
    let (id, old) = endpoint(&app, &shop, &receiver.url("/hook"), &["*"]).await;
    let (status, body) = app
        .owner(
            &shop,
            Method::PATCH,
            &format!("/v1/admin/webhooks/{id}"),
            Some(json!({ "rotate_secret": true })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new = body["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let (status, _) =
        app.owner(&shop, Method::POST, &format!("/v1/admin/webhooks/{id}/test"), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let request =
        eventually("the test event", WAIT, || async { receiver.requests("/hook").pop() }).await;
    let now = shopfleet::signature::unix_now();
    for secret in [&new, &old] {
        assert_eq!(
            shopfleet::signature::verify(
                secret.as_bytes(),
                request.header("shopfleet-signature"),
                &request.body,
                now
            ),
            Ok(())
        );
    }
}

#[tokio::test]
async fn a_failing_receiver_is_retried_with_backoff_then_dead_lettered() {
    let app = TestApp::spawn_with(config_on("webhook_retry", 1, 4)).await;
    let receiver = Receiver::start().await;
    receiver.script("/flaky", &[500, 500]);
    receiver.fix("/down", 500);
    let shop = app.signup("wh-retry").await;
    let (flaky, _) = endpoint(&app, &shop, &receiver.url("/flaky"), &["product.created"]).await;
    let (down, _) = endpoint(&app, &shop, &receiver.url("/down"), &["product.created"]).await;
    app.product(&shop, "Retried", 900).await;

    // After the first failure: retrying, with the status code and the next retry time.
    let first = eventually("a first failed attempt", WAIT, || async {
        let items = deliveries(&app, &shop, &flaky).await;
        items.into_iter().find(|d| d["state"] == "retrying")
    })
    .await;
    assert_eq!(first["attempts"][0]["status_code"], 500);
    assert_eq!(first["attempts"][0]["error"], "HTTP 500 Internal Server Error");
    let at =
        |value: &Value| value.as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    assert!(at(&first["next_retry_at"]) > at(&first["attempts"][0]["started_at"]), "{first}");
    assert_eq!(first["last_error"], "HTTP 500 Internal Server Error");

    // 500, 500, then 200: delivered on the third attempt, 1 s then 2 s apart at least.
    let done = eventually("the flaky delivery to succeed", WAIT, || async {
        deliveries(&app, &shop, &flaky).await.into_iter().find(|d| d["state"] == "delivered")
    })
    .await;
    let codes: Vec<i64> = done["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [500, 500, 200]);
    let starts: Vec<chrono::DateTime<chrono::Utc>> = done["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["started_at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        starts[1] - starts[0] >= chrono::Duration::milliseconds(950),
        "backoff 1 s: {starts:?}"
    );
    assert!(
        starts[2] - starts[1] >= chrono::Duration::milliseconds(1950),
        "backoff 2 s: {starts:?}"
    );
    assert!(done["next_retry_at"].is_null());
    let event_ids: Vec<String> = receiver
        .requests("/flaky")
        .iter()
        .map(|r| r.header("shopfleet-event-id").to_owned())
        .collect();
    assert_eq!(event_ids.len(), 3);
    assert!(
        event_ids.iter().all(|id| id == &event_ids[0]),
        "every attempt carries the same event id"
    );

    // Always 500: dead-lettered after the 4th attempt, and never tried again.
    let dead = eventually("the dead letter", WAIT, || async {
        deliveries(&app, &shop, &down).await.into_iter().find(|d| d["state"] == "failed")
    })
    .await;
    assert_eq!(dead["attempt_count"], 4);
    assert_eq!(dead["attempts"].as_array().unwrap().len(), 4);
    assert!(dead["failed_at"].is_string() && dead["next_retry_at"].is_null());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.requests("/down").len(), 4);
}

/// A server in a runtime of its own, so that the test can stop it (and its worker) mid-way.
struct StoppableServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StoppableServer {
    fn start(config: ServerConfig) -> Self {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let app = Application::build(config).await.unwrap();
                addr_tx.send(app.local_addr()).unwrap();
                tokio::select! {
                    _ = app.run() => {}
                    _ = stopped => {}
                }
            });
            // Cancels the worker and every other task of this server.
            runtime.shutdown_timeout(Duration::from_secs(1));
        });
        Self { addr: addr_rx.recv().unwrap(), stop: Some(stop), thread: Some(thread) }
    }

    fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.thread.take().unwrap().join().unwrap();
    }
}

#[tokio::test]
async fn a_worker_restart_loses_no_event() {
    // 5 s backoff: long enough to stop the first server between two attempts.
    let config = config_on("webhook_restart", 5, 8);
    ensure_database(config.database.direct_url()).await;
    migrate_platform(&config.database).await;
    let pool = shopfleet::state::connect(&config.database).await.unwrap();
    let receiver = Receiver::start().await;
    receiver.fix("/hook", 503);

    let first = StoppableServer::start(config.clone());
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    // The server runs on a thread of its own; this state is a stand-in nothing here reads.
    let state = shopfleet::state::AppState::new(pool.clone(), config.clone()).unwrap();
    let app = TestApp { addr: first.addr, client, pool: pool.clone(), state, metrics_addr: None };
    let shop = app.signup("wh-restart").await;
    let (id, _) = endpoint(&app, &shop, &receiver.url("/hook"), &["*"]).await;
    let product = app.product(&shop, "Before restart", 700).await;
    eventually("a first failed attempt", WAIT, || async {
        deliveries(&app, &shop, &id)
            .await
            .into_iter()
            .find(|d| d["state"] == "retrying" && d["attempt_count"] == 1)
    })
    .await;
    // Stop it once idle: it has also written when the shop's retry is due.
    eventually("the retry to be scheduled", WAIT, || async {
        let scheduled: Option<bool> = sqlx::query_scalar(
            "select true from platform.outbox_schedule where shop_id = $1::uuid",
        )
        .bind(&shop.id)
        .fetch_optional(&pool)
        .await
        .unwrap();
        scheduled
    })
    .await;
    first.stop();

    // With no server running, more events commit (their NOTIFY reaches no one).
    let tenant = tenant_of(&pool, &shop.slug).await;
    let mut committed = Vec::new();
    for _ in 0..3 {
        let mut tx = TenantTx::begin(&pool, &tenant).await.unwrap();
        let event = shopfleet::events::emit(
            &mut tx,
            tenant.id,
            shopfleet::events::EventKind::ProductUpdated,
            json!({ "id": product["id"] }),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        committed.push(event.unwrap().to_string());
    }
    receiver.fix("/hook", 200);

    // A new server on the same database delivers all of them.
    let second = TestApp::spawn_with(config).await;
    let delivered =
        eventually("every event delivered after the restart", Duration::from_secs(60), || async {
            let ok: Vec<String> = receiver
                .requests("/hook")
                .iter()
                .filter(|r| {
                    r.header("shopfleet-event-type") == "product.updated"
                        || r.header("shopfleet-event-type") == "product.created"
                })
                .map(|r| r.header("shopfleet-event-id").to_owned())
                .collect();
            let items = deliveries(&second, &shop, &id).await;
            (items.len() == 4 && items.iter().all(|d| d["state"] == "delivered"))
                .then_some((ok, items))
        })
        .await;
    let (received, items) = delivered;
    for event in &committed {
        assert!(
            received.contains(event),
            "event {event} committed while no worker ran was delivered"
        );
    }
    let created = items.iter().find(|d| d["event_type"] == "product.created").unwrap();
    let codes: Vec<i64> = created["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [503, 200], "the event that failed before the restart was retried after it");
}

#[tokio::test]
async fn an_event_of_one_shop_goes_to_that_shops_endpoints_only() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let a = app.signup("wh-iso-a").await;
    let b = app.signup("wh-iso-b").await;
    let (a_endpoint, _) = endpoint(&app, &a, &receiver.url("/a"), &["*"]).await;
    let (b_endpoint, _) = endpoint(&app, &b, &receiver.url("/b"), &["*"]).await;
    let product = app.product(&a, "Only for A", 1200).await;
    eventually("shop A's delivery", WAIT, || async {
        receiver.requests("/a").into_iter().find(|r| r.json()["data"]["id"] == product["id"])
    })
    .await;
    // Shop B's test event is a barrier: once it has arrived, B's endpoint has had its turn.
    let (status, _) =
        app.owner(&b, Method::POST, &format!("/v1/admin/webhooks/{b_endpoint}/test"), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    eventually("shop B's test event", WAIT, || async { receiver.requests("/b").pop() }).await;

    let to_b: Vec<Value> = receiver.requests("/b").iter().map(Received::json).collect();
    assert_eq!(to_b.len(), 1, "{to_b:?}");
    assert_eq!(to_b[0]["type"], "webhook.test");
    assert_eq!(to_b[0]["shop_id"], b.id.as_str());
    assert!(receiver.requests("/a").iter().all(|r| r.json()["shop_id"] == a.id.as_str()));
    let b_kinds: Vec<Value> =
        deliveries(&app, &b, &b_endpoint).await.iter().map(|d| d["event_type"].clone()).collect();
    assert_eq!(b_kinds, [json!("webhook.test")]);
    assert!(
        deliveries(&app, &a, &a_endpoint)
            .await
            .iter()
            .any(|d| d["event_type"] == "product.created")
    );
}

// ---------------------------------------------------------------------------------------------
// The admin API.

#[tokio::test]
async fn endpoints_are_created_read_changed_and_deleted_and_the_secret_is_shown_once() {
    let app = TestApp::spawn().await;
    let shop = app.signup("wh-crud").await;
    let (status, created) = app
        .owner(&shop, Method::POST, "/v1/admin/webhooks", Some(json!({
            "url": "https://hooks.example.com/shopfleet", "events": ["order.paid", "order.paid", "product.created"],
            "description": "  ERP sync  "
        })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(created["events"], json!(["order.paid", "product.created"]));
    assert_eq!(created["description"], "ERP sync");
    assert_eq!(created["active"], true);

    let (status, list) = app.owner(&shop, Method::GET, "/v1/admin/webhooks", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(list["items"][0].get("secret").is_none(), "reads never show the secret: {list}");
    let (status, one) =
        app.owner(&shop, Method::GET, &format!("/v1/admin/webhooks/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(one.get("secret").is_none());
    assert_eq!(one["url"], "https://hooks.example.com/shopfleet");

    let (status, changed) = app
        .owner(&shop, Method::PATCH, &format!("/v1/admin/webhooks/{id}"), Some(json!({
            "url": "https://hooks.example.com/v2", "events": ["*"], "active": false, "description": ""
        })))
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (changed["url"].as_str(), changed["events"].clone(), changed["active"].as_bool()),
        (Some("https://hooks.example.com/v2"), json!(["*"]), Some(false))
    );
    assert!(changed.get("secret").is_none(), "no secret unless rotated");
    let (status, body) =
        app.owner(&shop, Method::POST, &format!("/v1/admin/webhooks/{id}/test"), None).await;
    assert_error(status, &body, StatusCode::CONFLICT, "webhook_endpoint_inactive");
    let (status, rotated) = app
        .owner(
            &shop,
            Method::PATCH,
            &format!("/v1/admin/webhooks/{id}"),
            Some(json!({ "rotate_secret": true, "active": true })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(rotated["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_ne!(rotated["secret"], created["secret"]);

    // Deliveries page with a cursor (test events to a host that does not exist here: they
    // stay queued or retry, which does not matter for paging).
    for _ in 0..3 {
        let (status, _) =
            app.owner(&shop, Method::POST, &format!("/v1/admin/webhooks/{id}/test"), None).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let (status, page) = app
        .owner(&shop, Method::GET, &format!("/v1/admin/webhooks/{id}/deliveries?limit=2"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = app
        .owner(
            &shop,
            Method::GET,
            &format!("/v1/admin/webhooks/{id}/deliveries?limit=2&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    assert!(rest["items"][0]["id"].as_str() < page["items"][1]["id"].as_str(), "newest first");
    let (status, body) = app
        .owner(
            &shop,
            Method::GET,
            &format!("/v1/admin/webhooks/{id}/deliveries?cursor=nonsense"),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_cursor");

    let (status, _) =
        app.owner(&shop, Method::DELETE, &format!("/v1/admin/webhooks/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for (method, path) in [
        (Method::GET, format!("/v1/admin/webhooks/{id}")),
        (Method::DELETE, format!("/v1/admin/webhooks/{id}")),
        (Method::GET, format!("/v1/admin/webhooks/{id}/deliveries")),
    ] {
        let (status, body) = app.owner(&shop, method, &path, None).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "webhook_endpoint_not_found");
    }
    let (_, list) = app.owner(&shop, Method::GET, "/v1/admin/webhooks", None).await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn invalid_urls_and_event_kinds_are_refused_with_the_field_at_fault() {
    let app = TestApp::spawn().await;
    let shop = app.signup("wh-valid").await;
    let long = format!("https://example.com/{}", "a".repeat(2048));
    for (body, field) in [
        (json!({ "url": "ftp://example.com/x", "events": ["*"] }), "url"),
        (json!({ "url": "not a url", "events": ["*"] }), "url"),
        (json!({ "url": "/relative/path", "events": ["*"] }), "url"),
        (json!({ "url": long, "events": ["*"] }), "url"),
        (json!({ "url": "https://example.com/x", "events": [] }), "events"),
        (json!({ "url": "https://example.com/x", "events": ["order.shipped"] }), "events"),
        (json!({ "url": "https://example.com/x", "events": ["webhook.test"] }), "events"),
        (
            json!({ "url": "https://example.com/x", "events": ["*"], "description": "x".repeat(501) }),
            "description",
        ),
    ] {
        let (status, response) =
            app.owner(&shop, Method::POST, "/v1/admin/webhooks", Some(body.clone())).await;
        assert_error(status, &response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(response["error"]["field"], field, "{body}");
    }
    let (status, response) = app
        .owner(
            &shop,
            Method::POST,
            "/v1/admin/webhooks",
            Some(json!({ "url": "https://example.com/x" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "missing events: {response}");

    let (id, _) = endpoint(&app, &shop, "https://example.com/ok", &["order.created"]).await;
    let (status, response) = app
        .owner(
            &shop,
            Method::PATCH,
            &format!("/v1/admin/webhooks/{id}"),
            Some(json!({ "events": ["nope"] })),
        )
        .await;
    assert_error(status, &response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(response["error"]["field"], "events");
    let (status, response) = app
        .owner(
            &shop,
            Method::PATCH,
            &format!("/v1/admin/webhooks/{id}"),
            Some(json!({ "url": "gopher://x" })),
        )
        .await;
    assert_error(status, &response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(response["error"]["field"], "url");
    // Nothing changed.
    let (_, one) = app.owner(&shop, Method::GET, &format!("/v1/admin/webhooks/{id}"), None).await;
    assert_eq!(
        (one["url"].clone(), one["events"].clone()),
        (json!("https://example.com/ok"), json!(["order.created"]))
    );
}

#[tokio::test]
async fn another_shops_endpoint_is_not_found_and_roles_without_the_permission_are_forbidden() {
    let app = TestApp::spawn().await;
    let a = app.signup("wh-owner-a").await;
    let b = app.signup("wh-owner-b").await;
    // More staff than `free` allows (README, "Plans and quotas").
    app.set_plan(&a, "basic").await;
    app.set_plan(&b, "basic").await;
    let (id, _) = endpoint(&app, &a, "https://example.com/a", &["*"]).await;
    for (method, path, body) in [
        (Method::GET, format!("/v1/admin/webhooks/{id}"), None),
        (Method::PATCH, format!("/v1/admin/webhooks/{id}"), Some(json!({ "active": false }))),
        (Method::DELETE, format!("/v1/admin/webhooks/{id}"), None),
        (Method::GET, format!("/v1/admin/webhooks/{id}/deliveries"), None),
        (Method::POST, format!("/v1/admin/webhooks/{id}/test"), None),
    ] {
        let (status, response) = app.owner(&b, method, &path, body).await;
        assert_error(status, &response, StatusCode::NOT_FOUND, "webhook_endpoint_not_found");
    }
    let (_, list) = app.owner(&b, Method::GET, "/v1/admin/webhooks", None).await;
    assert_eq!(list["items"], json!([]));
    // A's token on B's host: refused before anything is read.
    let (status, _) =
        app.as_token(&a.token, &b.slug, Method::GET, "/v1/admin/webhooks", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // `staff` may neither read nor write webhooks; `manager` may read only.
    let staff = app.staff_token(&a, "staff").await;
    for (method, path, body) in [
        (Method::GET, "/v1/admin/webhooks".to_owned(), None),
        (
            Method::POST,
            "/v1/admin/webhooks".to_owned(),
            Some(json!({ "url": "https://example.com/s", "events": ["*"] })),
        ),
        (Method::GET, format!("/v1/admin/webhooks/{id}/deliveries"), None),
        (Method::DELETE, format!("/v1/admin/webhooks/{id}"), None),
    ] {
        let (status, response) = app.as_token(&staff, &a.slug, method, &path, body).await;
        assert_error(status, &response, StatusCode::FORBIDDEN, "forbidden");
    }
    let manager = app.staff_token(&a, "manager").await;
    let (status, _) =
        app.as_token(&manager, &a.slug, Method::GET, "/v1/admin/webhooks", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, response) = app
        .as_token(&manager, &a.slug, Method::POST, &format!("/v1/admin/webhooks/{id}/test"), None)
        .await;
    assert_error(status, &response, StatusCode::FORBIDDEN, "forbidden");
    let status =
        app.shop(Method::GET, &a.slug, "/v1/admin/webhooks").send().await.unwrap().status();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no token");
}

// ---------------------------------------------------------------------------------------------
// SSRF.

#[tokio::test]
async fn private_network_urls_are_refused_at_create_update_and_delivery_unless_allowed() {
    let mut config = server_config();
    config.database = database_config("webhook_strict");
    config.webhooks.allow_private_networks = false;
    let app = TestApp::spawn_with(config).await;
    let receiver = Receiver::start().await;
    let shop = app.signup("wh-ssrf").await;
    for url in [
        receiver.url("/hook"),
        "http://localhost/hook".to_owned(),
        "http://[::1]/".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://10.0.0.8/".to_owned(),
        "http://192.168.1.1/".to_owned(),
        "http://100.64.1.1/".to_owned(),
        "http://0.0.0.0/".to_owned(),
        "http://[fd00::1]/".to_owned(),
        "http://[::ffff:127.0.0.1]/".to_owned(),
        "http://2130706433/".to_owned(),
    ] {
        let (status, body) = app
            .owner(
                &shop,
                Method::POST,
                "/v1/admin/webhooks",
                Some(json!({ "url": url, "events": ["*"] })),
            )
            .await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "webhook_url_not_allowed");
    }
    // A public address literal needs no DNS and is accepted; changing it to a private one is not.
    let (id, _) = endpoint(&app, &shop, "http://203.0.113.10/hook", &["*"]).await;
    let (status, body) = app
        .owner(
            &shop,
            Method::PATCH,
            &format!("/v1/admin/webhooks/{id}"),
            Some(json!({ "url": receiver.url("/hook") })),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "webhook_url_not_allowed");
    let (status, _) =
        app.owner(&shop, Method::DELETE, &format!("/v1/admin/webhooks/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // An endpoint that passed the check but now points at a private address (as after a DNS
    // change) is refused at delivery: the attempt fails and the receiver hears nothing.
    let tenant = tenant_of(&app.pool, &shop.slug).await;
    let endpoint_id = uuid::Uuid::now_v7();
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.unwrap();
    sqlx::query(
        "insert into webhook_endpoints (id, url, events, secret) values ($1, $2, '{*}', 'whsec_x')",
    )
    .bind(endpoint_id)
    .bind(receiver.url("/hook"))
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    app.product(&shop, "Not to a private address", 100).await;
    let failed = eventually("the refused attempt", WAIT, || async {
        deliveries(&app, &shop, &endpoint_id.to_string()).await.into_iter().find(|d| {
            d["attempt_count"] == 1 && d["attempts"].as_array().is_some_and(|a| a.len() == 1)
        })
    })
    .await;
    assert_eq!(failed["state"], "retrying");
    assert!(failed["attempts"][0]["status_code"].is_null());
    assert!(
        failed["attempts"][0]["error"].as_str().unwrap().contains("non-public address"),
        "{failed}"
    );
    assert!(receiver.requests("/hook").is_empty());
}

#[test]
fn private_networks_are_refused_by_default() {
    assert!(!shopfleet::config::WebhookConfig::default().allow_private_networks);
}
