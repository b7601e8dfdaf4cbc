//! Graceful shutdown of the real `shopfleet serve` process on SIGTERM and SIGINT: a request in
//! flight completes, `/readyz` answers 503 while the listener drains, an outbox batch in hand
//! is finished within the grace or released for the next start, and the process exits 0.
//!
//! Each test serves a database of its own: every server's outbox worker delivers every shop's
//! events of its database.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::server_process::ServerProcess;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use shopfleet::tenancy::DbPool;
use shopfleet::tenancy::TenantTx;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::watch;

const WAIT: Duration = Duration::from_secs(30);

async fn pool_on(database: &str) -> DbPool {
    ensure_database(database).await;
    DbPool::direct(
        PgPoolOptions::new().max_connections(5).connect(database).await.expect("connect"),
    )
}

/// A webhook receiver that records each delivery's event id when it arrives, then holds the
/// request until the gate opens and answers 200.
struct Receiver {
    addr: SocketAddr,
    arrivals: Arc<Mutex<Vec<String>>>,
    gate: watch::Sender<bool>,
}

impl Receiver {
    async fn start() -> Self {
        use poem::listener::{Acceptor, Listener};
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let (gate, opened) = watch::channel(false);
        let recorded = arrivals.clone();
        let endpoint = poem::endpoint::make(move |req: poem::Request| {
            let (recorded, mut opened) = (recorded.clone(), opened.clone());
            async move {
                let event = req.header("shopfleet-event-id").unwrap_or_default().to_owned();
                recorded.lock().unwrap().push(event);
                let _ = opened.wait_for(|open| *open).await;
                poem::http::StatusCode::OK
            }
        });
        let acceptor =
            poem::listener::TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
        let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(endpoint));
        Self { addr, arrivals, gate }
    }

    fn arrivals(&self) -> Vec<String> {
        self.arrivals.lock().unwrap().clone()
    }

    fn open(&self) {
        self.gate.send_replace(true);
    }
}

/// Registers a webhook endpoint for `product.created` at the receiver; returns its id.
async fn webhook(app: &TestApp, shop: &TestShop, receiver: &Receiver) -> String {
    let url = format!("http://{}/hook", receiver.addr);
    let (status, body) = app
        .owner(
            shop,
            Method::POST,
            "/v1/admin/webhooks",
            Some(json!({ "url": url, "events": ["product.created"] })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// The endpoint's outbox rows in commit order: (processed, leased, attempts).
async fn webhook_rows(pool: &DbPool, shop: &TestShop, endpoint: &str) -> Vec<(bool, bool, i32)> {
    let tenant = tenant_of(pool, &shop.slug).await;
    let mut tx = TenantTx::begin(pool, &tenant).await.unwrap();
    let rows = sqlx::query_as(
        "select processed_at is not null, locked_until is not null, attempts from outbox \
         where endpoint_id = $1::uuid order by id",
    )
    .bind(endpoint)
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    rows
}

fn count(arrivals: &[String], event: &str) -> usize {
    arrivals.iter().filter(|arrival| *arrival == event).count()
}

#[tokio::test]
async fn a_request_in_flight_at_sigterm_completes_while_readyz_says_503_then_the_process_exits_0() {
    let database = database_url_for("shutdown_request");
    let pool = pool_on(&database).await;
    let mut server = ServerProcess::start(
        &database,
        &[("SHUTDOWN_GRACE_SECS", "20"), ("SHUTDOWN_DRAIN_SECS", "4")],
    )
    .await;
    let app = server.app(pool.clone());
    let shop = app.signup("stop-req").await;

    // The test holds the shop's row: the PATCH waits for it inside the server.
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("select 1 from platform.shops where id = $1::uuid for update")
        .bind(&shop.id)
        .execute(&mut *lock)
        .await
        .unwrap();
    let patch = app
        .shop(Method::PATCH, &shop.slug, "/v1/admin/shop")
        .bearer_auth(&shop.token)
        .json(&json!({ "name": "Renamed during shutdown" }));
    let in_flight = tokio::spawn(async move { read(patch.send().await.expect("PATCH")).await });
    eventually("the PATCH to wait for the row lock", WAIT, || async {
        let waiting: bool = sqlx::query_scalar(
            "select exists (select 1 from pg_stat_activity where datname = current_database() \
             and wait_event_type = 'Lock' and query like 'update platform.shops%')",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        waiting.then_some(())
    })
    .await;

    server.signal("TERM");
    // Draining: still accepting, but not ready, so a load balancer stops sending traffic.
    let fresh = || reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let (_, body) = eventually("/readyz to answer 503", WAIT, || async {
        let response = fresh().get(app.url("/readyz")).send().await.ok()?;
        (response.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(read(response).await)
    })
    .await;
    assert_eq!(
        (body["status"].as_str(), &body["shutting_down"]),
        (Some("not_ready"), &json!(true))
    );
    // Then the listener closes: new connections are refused.
    eventually("new connections to be refused", WAIT, || async {
        server.refuses_connections().await.then_some(())
    })
    .await;
    assert!(!in_flight.is_finished(), "the PATCH still waits for the lock");

    lock.rollback().await.unwrap();
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, StatusCode::OK, "the request in flight completed: {body}");
    assert_eq!(body["name"], "Renamed during shutdown");
    let name: String = sqlx::query_scalar("select name from platform.shops where id = $1::uuid")
        .bind(&shop.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(name, "Renamed during shutdown");

    let exit = server.exit_status(Duration::from_secs(30)).await;
    assert!(exit.success(), "exit status {exit}:\n{}", server.log());
    assert!(server.log().contains("shutdown complete"), "{}", server.log());
}

#[tokio::test]
async fn an_outbox_batch_in_hand_at_sigterm_is_finished_within_the_grace_and_not_sent_again() {
    let database = database_url_for("shutdown_batch_done");
    let pool = pool_on(&database).await;
    let receiver = Receiver::start().await;
    let envs = [("SHUTDOWN_GRACE_SECS", "20"), ("WEBHOOK_TIMEOUT_SECS", "30")];
    let mut server = ServerProcess::start(&database, &envs).await;
    let app = server.app(pool.clone());
    let shop = app.signup("stop-done").await;
    let endpoint = webhook(&app, &shop, &receiver).await;
    app.product(&shop, "Held", 700).await;
    eventually("the delivery to arrive (and be held)", WAIT, || async {
        (receiver.arrivals().len() == 1).then_some(())
    })
    .await;

    server.signal("TERM");
    eventually("the listener to close", WAIT, || async {
        server.refuses_connections().await.then_some(())
    })
    .await;
    receiver.open();
    let exit = server.exit_status(WAIT).await;
    assert!(exit.success(), "exit status {exit}:\n{}", server.log());
    assert_eq!(
        webhook_rows(&pool, &shop, &endpoint).await,
        [(true, false, 1)],
        "the batch finished during the shutdown is recorded as delivered"
    );

    // After a restart, a new event is delivered; the first one is not sent again (it would come
    // first: an endpoint's rows are delivered in commit order).
    let mut server = ServerProcess::start(&database, &envs).await;
    let app = server.app(pool.clone());
    app.product(&shop, "After the restart", 800).await;
    let arrivals = eventually("the new event's delivery", WAIT, || async {
        let arrivals = receiver.arrivals();
        (arrivals.len() >= 2).then_some(arrivals)
    })
    .await;
    assert_eq!(arrivals.len(), 2, "{arrivals:?}");
    assert_ne!(arrivals[0], arrivals[1], "the finished delivery was not repeated: {arrivals:?}");

    // SIGINT (Ctrl-C) shuts down the same way.
    server.signal("INT");
    let exit = server.exit_status(WAIT).await;
    assert!(exit.success(), "exit status {exit}:\n{}", server.log());
    assert!(server.log().contains("signal=\"SIGINT\""), "{}", server.log());
}

#[tokio::test]
async fn an_outbox_batch_cut_off_by_the_end_of_the_grace_is_released_and_delivered_after_restart() {
    let database = database_url_for("shutdown_batch_cut");
    let pool = pool_on(&database).await;
    let receiver = Receiver::start().await;
    // 3 s of grace: the batch in hand gets 1 s (2 s are kept for recording), the receiver
    // holds the delivery far longer, and the webhook timeout does not end it first.
    let envs = [("SHUTDOWN_GRACE_SECS", "3"), ("WEBHOOK_TIMEOUT_SECS", "30")];
    let mut server = ServerProcess::start(&database, &envs).await;
    let app = server.app(pool.clone());
    let shop = app.signup("stop-cut").await;
    let endpoint = webhook(&app, &shop, &receiver).await;
    for name in ["First", "Second", "Third"] {
        app.product(&shop, name, 700).await;
    }
    eventually("the first delivery to arrive (and be held)", WAIT, || async {
        (!receiver.arrivals().is_empty()).then_some(())
    })
    .await;

    server.signal("TERM");
    let exit = server.exit_status(WAIT).await;
    assert!(exit.success(), "exit status {exit}:\n{}", server.log());
    assert!(server.log().contains("cut off by shutdown"), "{}", server.log());
    let rows = webhook_rows(&pool, &shop, &endpoint).await;
    assert_eq!(
        rows,
        [(false, false, 0); 3],
        "nothing delivered, no row left leased, no attempt counted"
    );
    let due_now: bool = sqlx::query_scalar(
        "select exists (select 1 from platform.outbox_schedule where shop_id = $1::uuid and next_at <= now())",
    )
    .bind(&shop.id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(due_now, "the shop is due at once for the next worker");
    let held = receiver.arrivals();
    assert_eq!(held.len(), 1, "{held:?}");

    receiver.open();
    let mut server = ServerProcess::start(&database, &envs).await;
    eventually("every event delivered after the restart", WAIT, || async {
        let rows = webhook_rows(&pool, &shop, &endpoint).await;
        rows.iter().all(|(processed, _, _)| *processed).then_some(())
    })
    .await;
    let arrivals = receiver.arrivals();
    let mut events = arrivals.clone();
    events.sort_unstable();
    events.dedup();
    assert_eq!(events.len(), 3, "three events, none lost: {arrivals:?}");
    for event in &events {
        let times = count(&arrivals, event);
        assert!((1..=2).contains(&times), "{event} arrived {times} times: {arrivals:?}");
    }
    assert_eq!(count(&arrivals, &held[0]), 2, "the cut-off delivery was sent again");
    server.signal("INT");
    assert!(server.exit_status(WAIT).await.success(), "{}", server.log());
}
