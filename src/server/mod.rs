//! The composition root: builds the [`Application`] (state, middleware, listener, outbox worker
//! and its consumers) that `serve` runs and that tests start.
//!
//! Request path: request id + error shape ([`middleware`]) → client address (`limits`) →
//! tenant resolver (shop routes only) → the shop's rate budget → security scheme checker
//! (token bound to the shop) → handler (RBAC check, `TenantTx`).
//!
//! `serve` runs it until SIGTERM or SIGINT and then shuts down gracefully (`shutdown`);
//! `/readyz` reports each dependency (`readiness`), `/healthz` only that the process answers.
//!
//! Rule: tests start the server through [`Application::build`], exactly as `serve` does; and
//! only this module (with `main`/`commands`) wires domains to infrastructure: outbox
//! subscriptions and consumers are registered here, nowhere else.

mod cors;
pub mod listener;
pub mod middleware;
mod readiness;
mod revalidation;
pub mod shutdown;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use poem::http::Method;
use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::web::Json;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, Server, get, handler};

use self::cors::CorsPolicy;
use crate::cache::changes;
use crate::client_text::RejectNul;
use crate::config::ServerConfig;
use crate::events::worker::OutboxWorker;
use crate::events::{self, Consumers, Subscription};
use crate::limits::http::ShopRateLimit;
use crate::routes::openapi_service;
use crate::search::{SearchIndexer, SearchIndexing};
use crate::state::{AppState, connect, connect_direct};
use crate::tenancy::resolver::TenantResolver;
use crate::tenancy::{DbPool, Tenant};
use crate::{
    cart, idempotency, limits, media, payments, search, shop, storage, storefront, telemetry,
    webhooks,
};

pub use middleware::MAX_UPLOAD_BODY_BYTES;

/// Which events each consumer receives. Installed once per process, before anything emits
/// ([`events::register_subscriptions`]); CLI commands that write shop data call it too.
pub fn register_subscriptions() {
    let subscriptions: Vec<Arc<dyn Subscription>> = vec![
        Arc::new(SearchIndexing),
        Arc::new(media::ObjectDeletion),
        Arc::new(payments::test_card::GatewayRequests),
        Arc::new(webhooks::WebhookEvents),
    ];
    events::register_subscriptions(subscriptions);
}

/// The consumers (and hourly housekeeping) of this instance's outbox worker.
fn consumers(state: &AppState, self_url: String) -> anyhow::Result<Consumers> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the payment gateway's HTTP client")?;
    Ok(Consumers::new()
        .with(SearchIndexer::new(state.pool.clone(), state.search.clone()))
        .with(media::ObjectDeleter { store: state.store.clone() })
        .with(payments::test_card::Gateway { http, self_url, pool: state.pool.clone() })
        .with(webhooks::Sender::new(&state.config.webhooks, state.pool.clone())?)
        .with_housekeeping(cart::ExpiredCarts)
        .with_housekeeping(idempotency::ExpiredKeys))
}

/// The whole HTTP endpoint, middleware included: the storefront's pages
/// ([`storefront::Pages`]) for every path that is not the API's.
/// Every request runs in a [`changes::scope`]: the shops it changed get a new cache generation
/// before its response leaves; and with its client known to the limits
/// ([`limits::client_ip`], `TRUSTED_PROXIES`).
pub fn endpoint(state: AppState, pages: storefront::Pages) -> impl Endpoint {
    let cache = state.cache.clone();
    let limits = state.limits.clone();
    PagesOrApi { api: api_endpoint(state), pages }
        .around(move |next, req| {
            let cache = cache.clone();
            // Boxed: the whole request's future would otherwise sit inside this one.
            async move { changes::scope(&cache, Box::pin(next.call(req))).await }
        })
        .around(move |next, req| {
            let limits = limits.clone();
            async move { limits::http::client_scope(&limits, next, req).await }
        })
        .around(middleware::request_context)
}

/// Sends page requests (shop hosts, theme assets) to the storefront, the rest to the API.
struct PagesOrApi<A> {
    api: A,
    pages: storefront::Pages,
}

impl<A: Endpoint<Output = Response>> Endpoint for PagesOrApi<A> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if self.pages.serves(&req) { self.pages.call(req).await } else { self.api.call(req).await }
    }
}

/// The API, its documents and the health checks.
fn api_endpoint(state: AppState) -> impl Endpoint<Output = Response> {
    let api = openapi_service(&state);
    let allowed = middleware::AllowedMethods::from_spec(
        &api.spec(),
        &[
            ("/v1/objects/*", &["GET", "PUT"]),
            ("/openapi.json", &["GET"]),
            ("/healthz", &["GET"]),
            ("/readyz", &["GET"]),
            ("/docs", &["GET"]),
        ],
    );
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    let mut route = Route::new();
    if let Some(local) = state.store.as_local() {
        route = route.nest("/v1/objects", storage::local_routes(local, state.tenants.clone()));
    }
    route
        .nest("/", api.with(RejectNul))
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .at("/healthz", get(healthz))
        .at("/readyz", get(readiness::Readyz::new(state.clone())))
        .around(record_admin_writes)
        .around(revalidation::revalidate)
        .with(allowed)
        // Inside the resolver: it spends the budget of the shop the resolver found.
        .with(ShopRateLimit { limits: state.limits.clone() })
        .with(TenantResolver {
            registry: state.tenants.clone(),
            base_domain: state.config.base_domain.clone(),
        })
        .with(CorsPolicy {
            registry: state.tenants.clone(),
            base_domain: state.config.base_domain.clone(),
            allowed_origins: state.config.cors_allowed_origins.clone(),
        })
        .data(state.tokens.clone())
        .data(state.sessions.clone())
        .data(state)
        .map_to_response()
}

/// A successful write through a shop's admin API records the shop as changed: its cached
/// storefront reads are dropped before the response leaves (see `cache::changes`). One rule
/// here rather than a call in each handler, so no admin endpoint can forget it; a write that
/// changes nothing storefronts show costs a few cache misses.
async fn record_admin_writes<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let shop = (!matches!(req.method(), &Method::GET | &Method::HEAD | &Method::OPTIONS)
        && req.uri().path().starts_with("/v1/admin/"))
    .then(|| req.data::<Tenant>().map(|tenant| tenant.id))
    .flatten();
    let response = next.call(req).await?.into_response();
    if let Some(shop) = shop
        && response.status().is_success()
    {
        changes::record(shop);
    }
    Ok(response)
}

#[handler]
fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// The Prometheus endpoint, served on `METRICS_ADDR` by a listener of its own: shop hosts and
/// the public API never reach it (`telemetry::metrics`).
fn metrics_endpoint(pool: DbPool) -> impl Endpoint {
    Route::new().at(
        "/metrics",
        get(poem::endpoint::make(move |_| {
            let pool = pool.clone();
            async move {
                Response::builder()
                    .content_type("text/plain; version=0.0.4; charset=utf-8")
                    .body(telemetry::metrics::render(pool.gauges(), &pool).await)
            }
        })),
    )
}

/// How this process reaches its own HTTP server (the built-in payment gateway calls back).
fn self_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => std::net::IpAddr::from([127, 0, 0, 1]),
        ip if ip.is_unspecified() => std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// A server bound to its port, ready to run. Tests bind port 0 and read the port back.
pub struct Application {
    acceptor: TcpAcceptor,
    /// The Prometheus endpoint's own listener (`METRICS_ADDR`).
    metrics: Option<TcpAcceptor>,
    state: AppState,
    listener: sqlx::postgres::PgListener,
    pages: storefront::Pages,
}

impl Application {
    pub async fn build(config: ServerConfig) -> anyhow::Result<Self> {
        config.validate()?;
        telemetry::metrics::install();
        register_subscriptions();
        let pool = connect(&config.database).await?;
        // `LISTEN` holds a session: straight to PostgreSQL, never through a pooler.
        let direct = connect_direct(&config.database, 2).await?;
        let listener =
            listener::connect(&direct).await.context("subscribing to shop change notifications")?;
        let acceptor = TcpListener::bind(config.listen_addr.clone())
            .into_acceptor()
            .await
            .with_context(|| format!("binding {}", config.listen_addr))?;
        let metrics = match &config.metrics_addr {
            Some(addr) => Some(
                TcpListener::bind(addr.clone())
                    .into_acceptor()
                    .await
                    .with_context(|| format!("binding METRICS_ADDR {addr}"))?,
            ),
            None => None,
        };
        let state = AppState::new(pool, config)?;
        state
            .store
            .check()
            .await
            .with_context(|| format!("checking object storage ({})", state.store.kind()))?;
        let pages =
            storefront::Pages::new(state.clone()).context("loading the storefront theme")?;
        Ok(Self { acceptor, metrics, state, listener, pages })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.acceptor
            .local_addr()
            .first()
            .and_then(|addr| addr.as_socket_addr().copied())
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Where `GET /metrics` is served, when `METRICS_ADDR` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        let acceptor = self.metrics.as_ref()?;
        acceptor.local_addr().first().and_then(|addr| addr.as_socket_addr().copied())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until the process ends (tests, benchmarks): [`Self::run_until`] a signal that
    /// never comes.
    pub async fn run(self) -> std::io::Result<()> {
        self.run_until(std::future::pending()).await
    }

    /// Serves until `signal`, then shuts down gracefully ([`shutdown`]). Alongside: the outbox
    /// worker, the re-check of verified custom domains (`shop::verification`) and, with
    /// MeiliSearch, its health probe, which hurries waiting indexing when it comes back.
    pub async fn run_until(self, signal: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let consumers =
            consumers(&self.state, self_url(self.local_addr())).map_err(std::io::Error::other)?;
        let shutdown = shutdown::Shutdown::new(self.state.config.shutdown.clone());
        let worker = OutboxWorker::new(self.state.pool.clone(), Arc::new(consumers));
        let waker = worker.waker();
        let worker = tokio::spawn(worker.run(shutdown.stopping(), shutdown.batch_grace()));
        let mut background = vec![tokio::spawn(shop::verification::recheck_loop(
            self.state.pool.clone(),
            self.state.dns.clone(),
        ))];
        if let Some(meili) = self.state.meili.clone() {
            background.push(tokio::spawn(search::health::probe(
                meili,
                self.state.pool.clone(),
                search::health::PROBE_INTERVAL,
            )));
        }
        if let Some(acceptor) = self.metrics {
            let endpoint = metrics_endpoint(self.state.pool.clone());
            background.push(tokio::spawn(async move {
                if let Err(err) = Server::new_with_acceptor(acceptor).run(endpoint).await {
                    tracing::error!(error = %err, "the metrics listener failed");
                }
            }));
        }
        background.push(tokio::spawn(listener::run(
            self.listener,
            self.state.tenants.clone(),
            self.state.rbac.clone(),
            self.state.cache.clone(),
            waker,
        )));
        let pool = self.state.pool.clone();
        Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(
                endpoint(self.state, self.pages).data(readiness::Stopping(shutdown.stopping())),
                shutdown.close_listener_after(signal),
                Some(shutdown.request_grace()),
            )
            .await?;
        shutdown.finish(worker, background, pool).await;
        Ok(())
    }
}
