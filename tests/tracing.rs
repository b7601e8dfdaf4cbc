//! Traces and JSON logs, seen from outside: the real `shopfleet serve` process (its tracing
//! subscriber is process-wide) exporting to a minimal OTLP/HTTP receiver inside the test, with
//! `LOG_FORMAT=json` on its stderr.
//!
//! The receiver takes `POST /v1/traces` in the JSON encoding (`OTEL_EXPORTER_OTLP_PROTOCOL=
//! http/json`), so spans are read as JSON. Each test's server has a database of its own
//! (`shopfleet_test_tracing_p<pid>`): a worker of another server could deliver its webhooks.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{BASE_DOMAIN, PASSWORD, database_url_for, ensure_database, eventually, random_slug};
use poem::listener::{Acceptor, Listener};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Work after commit (the outbox worker, a batch of spans every 100 ms) arrives within this.
const WAIT: Duration = Duration::from_secs(30);

/// The trace and parent span an imaginary caller sends in `traceparent`.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn caller_traceparent() -> String {
    format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01")
}

// ---------------------------------------------------------------------------------------------
// Receivers: one HTTP server in the test records the requests of every path.

#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Answers 200 to everything: an OTLP/HTTP collector (`/v1/traces`) and webhook endpoints.
    async fn start() -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let shared = requests.clone();
        let endpoint = poem::endpoint::make(move |req: poem::Request| {
            let requests = shared.clone();
            async move {
                let path = req.uri().path().to_owned();
                let headers = req
                    .headers()
                    .iter()
                    .map(|(n, v)| {
                        (n.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned())
                    })
                    .collect();
                let body = req.into_body().into_vec().await.unwrap_or_default();
                requests.lock().unwrap().push(Received { path, headers, body });
                poem::Response::builder().content_type("application/json").body("{}")
            }
        });
        let acceptor =
            poem::listener::TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
        let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(endpoint));
        Self { addr, requests }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self, path: &str) -> Vec<Received> {
        self.requests.lock().unwrap().iter().filter(|r| r.path == path).cloned().collect()
    }

    /// Every span received so far, each with its resource's attributes under `"resource"`.
    fn spans(&self) -> Vec<Value> {
        let mut spans = Vec::new();
        for request in self.requests("/v1/traces") {
            let export: Value = serde_json::from_slice(&request.body).expect("OTLP JSON");
            for resource in export["resourceSpans"].as_array().into_iter().flatten() {
                for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                    for span in scope["spans"].as_array().into_iter().flatten() {
                        let mut span = span.clone();
                        span["resource"] = resource["resource"].clone();
                        spans.push(span);
                    }
                }
            }
        }
        spans
    }
}

/// A string attribute of an OTLP span (or resource).
fn attribute<'a>(item: &'a Value, key: &str) -> Option<&'a str> {
    item["attributes"]
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)
        .and_then(|kv| kv["value"]["stringValue"].as_str())
}

// ---------------------------------------------------------------------------------------------
// The server process.

struct Served {
    child: Child,
    addr: SocketAddr,
    /// Its stderr, line by line.
    log: Arc<Mutex<Vec<String>>>,
    client: reqwest::Client,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// Runs `shopfleet serve` on this test's database with JSON logs and the extra `envs`,
    /// every other OpenTelemetry variable removed.
    async fn start(envs: &[(&str, &str)]) -> Self {
        let database_url = database_url_for("tracing");
        ensure_database(&database_url).await;
        let mut command = Command::new(env!("CARGO_BIN_EXE_shopfleet"));
        command
            .arg("serve")
            .env("DATABASE_URL", &database_url)
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("BASE_DOMAIN", BASE_DOMAIN)
            .env("JWT_SECRET", "test-secret-test-secret-test-secret!")
            .env("STORAGE_DIR", std::env::temp_dir().join("shopfleet-test-objects"))
            .env("WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true")
            .env("RUST_LOG", "info,sqlx=warn")
            .env("LOG_FORMAT", "json");
        for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("OTEL_")) {
            command.env_remove(key);
        }
        command.envs(envs.iter().copied());
        let mut child =
            command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("run shopfleet");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let listening = |log: &Arc<Mutex<Vec<String>>>| {
            log.lock().unwrap().iter().find_map(|line| {
                let line: Value = serde_json::from_str(line).ok()?;
                (line["message"] == "shopfleet listening")
                    .then(|| line["addr"].as_str()?.parse().ok())?
            })
        };
        let addr = eventually("the server to listen", WAIT, || {
            let found = listening(&log);
            async move { found }
        })
        .await;
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { child, addr, log, client }
    }

    /// Its stderr lines, each parsed as JSON (a line that is not JSON fails the test).
    fn log_lines(&self) -> Vec<Value> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
            .collect()
    }

    /// A new shop; returns its slug, id and owner token.
    async fn signup(&self) -> (String, String, String) {
        let slug = random_slug("trace");
        let response = self
            .client
            .post(format!("http://{}/v1/signup", self.addr))
            .json(&json!({
                "slug": slug, "name": "Traced", "currency": "USD",
                "owner_email": format!("owner@{slug}.example.com"), "owner_password": PASSWORD,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        let token = body["tokens"]["access_token"].as_str().unwrap().to_owned();
        (slug, body["shop_id"].as_str().unwrap().to_owned(), token)
    }

    /// An admin API request of the shop's owner, with extra headers; returns the response's
    /// status, `X-Request-Id` and body.
    async fn admin(
        &self,
        slug: &str,
        token: &str,
        method: Method,
        path: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> (StatusCode, String, Value) {
        let mut request = self
            .client
            .request(method, format!("http://{}{path}", self.addr))
            .header("X-Shop", slug)
            .bearer_auth(token)
            .json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        (status, request_id, response.json().await.unwrap_or(Value::Null))
    }

    /// Registers a webhook endpoint for `product.created`, then creates a product with
    /// `headers`; returns the product request's id.
    async fn product_with_webhook(
        &self,
        slug: &str,
        token: &str,
        webhook_url: &str,
        headers: &[(&str, &str)],
    ) -> String {
        let endpoint = json!({ "url": webhook_url, "events": ["product.created"] });
        let (status, _, body) =
            self.admin(slug, token, Method::POST, "/v1/admin/webhooks", endpoint, &[]).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let product = json!({
            "name": "Traced tee", "status": "active",
            "options": [{ "name": "Size", "values": ["S"] }],
            "variants": [{ "price": 1500, "stock": 3, "option_values": ["S"] }]
        });
        let (status, request_id, body) =
            self.admin(slug, token, Method::POST, "/v1/admin/products", product, headers).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        request_id
    }
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_request_its_transaction_and_the_webhook_it_causes_are_one_exported_trace() {
    let receiver = Receiver::start().await;
    let collector = receiver.url("");
    let served = Served::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ])
    .await;
    let (slug, shop_id, token) = served.signup().await;
    let traceparent = caller_traceparent();
    let request_id = served
        .product_with_webhook(
            &slug,
            &token,
            &receiver.url("/hooks/traced"),
            &[("traceparent", &traceparent)],
        )
        .await;

    // The webhook goes out with a traceparent of the caller's trace (a span of ours).
    let delivery = eventually("the webhook delivery", WAIT, || {
        let delivered = receiver.requests("/hooks/traced").pop();
        async move { delivered }
    })
    .await;
    let sent = delivery.header("traceparent").expect("the webhook carries a traceparent");
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(parts.len(), 4, "{sent}");
    assert_eq!(parts[1], CALLER_TRACE, "the webhook continues the caller's trace: {sent}");
    assert_ne!(parts[2], CALLER_SPAN, "its parent is the delivery's span: {sent}");

    // The collector receives the request, its transaction and the delivery in that trace.
    let in_trace = |name: &'static str| {
        let receiver = receiver.clone();
        move || {
            let found = receiver
                .spans()
                .into_iter()
                .find(|span| span["traceId"] == CALLER_TRACE && span["name"] == name);
            async move { found }
        }
    };
    let request = eventually("the request span", WAIT, in_trace("request")).await;
    assert_eq!(request["parentSpanId"], CALLER_SPAN, "the caller's span is its parent");
    assert_eq!(attribute(&request, "request_id"), Some(request_id.as_str()));
    assert_eq!(attribute(&request, "shop_id"), Some(shop_id.as_str()));
    assert_eq!(attribute(&request, "shop"), Some(slug.as_str()));
    assert_eq!(attribute(&request, "path"), Some("/v1/admin/products"));
    assert_eq!(attribute(&request["resource"], "service.name"), Some("shopfleet"));

    let tx = eventually("the TenantTx span", WAIT, || {
        let found = receiver.spans().into_iter().find(|span| {
            span["traceId"] == CALLER_TRACE
                && span["name"] == "tenant_tx"
                && attribute(span, "outcome") == Some("commit")
        });
        async move { found }
    })
    .await;
    assert_eq!(attribute(&tx, "shop_id"), Some(shop_id.as_str()));
    assert_eq!(attribute(&tx, "request_id"), Some(request_id.as_str()));

    let handled = |consumer: &'static str| {
        let receiver = receiver.clone();
        move || {
            let found = receiver.spans().into_iter().find(|span| {
                span["traceId"] == CALLER_TRACE
                    && span["name"] == "outbox.event"
                    && attribute(span, "consumer") == Some(consumer)
            });
            async move { found }
        }
    };
    let delivered = eventually("the webhook's handling span", WAIT, handled("webhook")).await;
    assert_eq!(attribute(&delivered, "kind"), Some("product.created"));
    assert_eq!(attribute(&delivered, "shop_id"), Some(shop_id.as_str()));
    assert_eq!(delivered["spanId"], parts[2], "the webhook's traceparent names this span");
    // The search indexing of the same event continues the trace too.
    let indexed = eventually("the indexing span", WAIT, handled("search_index")).await;
    assert_eq!(attribute(&indexed, "kind"), Some("product.created"));

    // The JSON log line of the request names the shop, the request and the trace.
    let logged = served
        .log_lines()
        .into_iter()
        .find(|line| line["request_id"] == request_id.as_str() && line["message"] == "handled");
    let logged = logged.expect("the request's \"handled\" line");
    assert_eq!(logged["shop"], slug.as_str(), "{logged}");
    assert_eq!(logged["shop_id"], shop_id.as_str(), "{logged}");
    assert_eq!(logged["trace_id"], CALLER_TRACE, "{logged}");
    assert_eq!(logged["status"], 201, "{logged}");
}

#[tokio::test]
async fn without_an_otlp_endpoint_logs_are_json_with_the_shop_and_nothing_carries_a_trace() {
    let receiver = Receiver::start().await;
    let served = Served::start(&[]).await;
    let (slug, shop_id, token) = served.signup().await;
    let traceparent = caller_traceparent();
    let request_id = served
        .product_with_webhook(
            &slug,
            &token,
            &receiver.url("/hooks/untraced"),
            &[("traceparent", &traceparent)],
        )
        .await;
    // A storefront page records its shop too.
    let page = served
        .client
        .get(format!("http://{}/", served.addr))
        .header("Host", format!("{slug}.{BASE_DOMAIN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page_request_id = page.headers()["x-request-id"].to_str().unwrap().to_owned();

    let delivery = eventually("the webhook delivery", WAIT, || {
        let delivered = receiver.requests("/hooks/untraced").pop();
        async move { delivered }
    })
    .await;
    assert_eq!(delivery.header("traceparent"), None, "no trace, no traceparent");

    let lines = served.log_lines();
    for id in [&request_id, &page_request_id] {
        let line = lines
            .iter()
            .find(|line| line["request_id"] == id.as_str() && line["message"] == "handled")
            .unwrap_or_else(|| panic!("no \"handled\" line for {id}"));
        assert_eq!(line["shop"], slug.as_str(), "{line}");
        assert_eq!(line["shop_id"], shop_id.as_str(), "{line}");
        assert_eq!(line["level"], "INFO", "{line}");
        assert!(line["timestamp"].is_string(), "{line}");
        assert!(line.get("trace_id").is_none(), "no trace id without traces: {line}");
    }
    assert!(lines.iter().all(|line| line.get("trace_id").is_none()));
}
