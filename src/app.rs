//! The HTTP application: shared state, middleware and the combined OpenAPI service.
//!
//! Request path (DESIGN.md §1): request id + error shape → tenant resolver (shop routes only)
//! → security scheme checker (token bound to the shop) → handler (RBAC check, `TenantTx`).
//!
//! Rule: tests start the server through [`Application::build`], exactly as `serve` does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::middleware::Cors;
use poem::web::Json;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, Server, get, handler};
use poem_openapi::OpenApiService;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tracing::Instrument;
use uuid::Uuid;

use crate::auth::rate_limit::LoginLimiter;
use crate::auth::rbac::Rbac;
use crate::auth::tokens::TokenKeys;
use crate::config::{DatabaseConfig, ServerConfig};
use crate::error::{AppError, REQUEST_ID, into_json_response};
use crate::events::consumers::ConsumerContext;
use crate::events::worker::{OutboxWorker, RetryPolicy};
use crate::search::meili::MeiliEngine;
use crate::search::{SearchEngine, engine_from_config};
use crate::storage::{LocalUrls, ObjectStore};
use crate::tenancy::registry::{self, TenantRegistry};
use crate::tenancy::resolver::TenantResolver;
use crate::{
    auth, cart, catalog, customers, discounts, inventory, media, orders, payments, platform,
    search, shipping, shop, signup, staff, storage, webhooks,
};

/// Everything handlers share. Cheap to clone: every field is a handle.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub config: Arc<ServerConfig>,
    pub tenants: TenantRegistry,
    pub rbac: Rbac,
    pub tokens: Arc<TokenKeys>,
    pub login_limiter: LoginLimiter,
    /// The search engine (MeiliSearch or PostgreSQL full-text search).
    pub search: Arc<dyn SearchEngine>,
    /// The same engine when it is MeiliSearch: tenant tokens need its keys.
    pub meili: Option<Arc<MeiliEngine>>,
    /// Object storage (S3 or a local directory): product images.
    pub store: Arc<dyn ObjectStore>,
    /// The HTTP client and retry policy of outgoing webhooks (used by the outbox worker).
    pub webhooks: Arc<webhooks::Sender>,
}

impl AppState {
    pub fn new(pool: PgPool, config: ServerConfig) -> anyhow::Result<Self> {
        let (search, meili) =
            engine_from_config(&config.search, pool.clone()).context("configuring search")?;
        // The local store's signed URLs are served by this application on the platform host.
        let store = storage::from_config(
            &config.storage,
            LocalUrls {
                secret: config.jwt_secret.as_bytes().to_vec(),
                base_url: config.url_of_host(&config.base_domain),
            },
        );
        let webhooks = Arc::new(webhooks::Sender::new(&config.webhooks)?);
        Ok(Self {
            webhooks,
            search,
            meili,
            store,
            tenants: TenantRegistry::new(pool.clone(), config.tenant_cache_capacity),
            rbac: Rbac::new(pool.clone(), config.tenant_cache_capacity),
            tokens: Arc::new(TokenKeys::new(
                config.jwt_secret.as_bytes(),
                config.access_token_ttl_secs,
                config.refresh_token_ttl_days,
            )),
            login_limiter: LoginLimiter::new(
                config.login_max_failures,
                Duration::from_secs(config.login_window_secs),
            ),
            config: Arc::new(config),
            pool,
        })
    }

    /// The public URL of a shop's storefront host.
    pub fn shop_url(&self, slug: &str) -> String {
        self.config.url_of_host(&format!("{slug}.{}", self.config.base_domain))
    }
}

/// Opens the one pool shared by every shop.
///
/// No ping before each checkout (sqlx's default): it would add a round trip to every request.
/// A connection broken by a server restart fails one query and is then discarded; the lifetime
/// limit recycles the rest.
pub async fn connect(config: &DatabaseConfig) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(config.database_max_connections)
        .max_lifetime(Duration::from_secs(config.database_max_lifetime_secs))
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&config.database_url)
        .await
        .context("connecting to PostgreSQL (DATABASE_URL)")
}

/// The OpenAPI service with every API of the platform.
pub fn openapi_service(state: &AppState) -> OpenApiService<impl poem_openapi::OpenApi, ()> {
    // Grouped by area: poem-openapi implements `OpenApi` for tuples of up to 16.
    let accounts = (
        signup::SignupApi { state: state.clone() },
        auth::admin_api::AdminAuthApi { state: state.clone() },
        auth::store_api::StoreAuthApi { state: state.clone() },
        staff::StaffApi { state: state.clone() },
        staff::RolesApi { state: state.clone() },
        shop::ShopApi { state: state.clone() },
        customers::CustomerAccountApi { state: state.clone() },
        platform::PlatformApi { state: state.clone() },
    );
    let catalog = (
        catalog::ProductsAdminApi { state: state.clone() },
        catalog::CategoriesAdminApi { state: state.clone() },
        media::MediaAdminApi { state: state.clone() },
        media::MediaUploadsApi { state: state.clone() },
        catalog::StorefrontApi { state: state.clone() },
        search::api::SearchApi { state: state.clone() },
        inventory::StockAdjustmentsApi { state: state.clone() },
    );
    let commerce = (
        cart::CartApi { state: state.clone() },
        orders::OrdersStoreApi { state: state.clone() },
        orders::OrdersAdminApi { state: state.clone() },
        payments::PaymentsApi { state: state.clone() },
        webhooks::WebhooksAdminApi { state: state.clone() },
    );
    let customers_and_settings = (
        customers::CustomerAddressesApi { state: state.clone() },
        customers::CustomersAdminApi { state: state.clone() },
        shipping::ShippingAdminApi { state: state.clone() },
        shipping::ShippingStorefrontApi { state: state.clone() },
        shipping::CheckoutSettingsApi { state: state.clone() },
        discounts::DiscountsAdminApi { state: state.clone() },
    );
    let apis = (accounts, catalog, commerce, customers_and_settings);
    OpenApiService::new(apis, "shopfleet", env!("CARGO_PKG_VERSION"))
        .description(
            "Multi-tenant commerce platform. Shop routes (`/v1/admin`, `/v1/store`) are addressed \
             by the shop's host (`<slug>.<base domain>` or a custom domain) or, on the platform \
             host, by an `X-Shop: <slug>` header.",
        )
        .server("/")
}

/// The OpenAPI document as JSON, for `shopfleet openapi` and `/openapi.json`.
pub fn openapi_json(state: &AppState) -> String {
    openapi_service(state).spec()
}

/// The whole HTTP endpoint, middleware included.
pub fn endpoint(state: AppState) -> impl Endpoint {
    let api = openapi_service(&state);
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    let mut route = Route::new();
    if let Some(local) = state.store.as_local() {
        route = route.nest("/v1/objects", storage::local_routes(local));
    }
    route
        .nest("/", api.with(crate::client_text::RejectNul))
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .with(TenantResolver {
            registry: state.tenants.clone(),
            base_domain: state.config.base_domain.clone(),
        })
        .with(Cors::new())
        .data(state)
        .around(request_context)
}

/// Largest request body accepted (JSON APIs; uploads go straight to object storage).
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Largest body of the two routes that carry a file: the multipart image upload
/// (`POST /v1/admin/products/{id}/media`) and a PUT to a local-store signed URL
/// (`PUT /v1/objects/…`). They must fit the largest plan's upload limit (`platform.plans
/// .max_upload_bytes`, capped at [`media::MAX_FILE_BYTES`]) plus the multipart envelope; the
/// handlers then hold each shop to its own plan's limit (413 `file_too_large`) or to the signed
/// length. Every other route keeps the 1 MiB limit.
pub const MAX_UPLOAD_BODY_BYTES: usize = media::MAX_FILE_BYTES as usize + 1024 * 1024;

fn body_limit(req: &Request) -> usize {
    let path = req.uri().path();
    let upload = match *req.method() {
        poem::http::Method::POST => {
            path.starts_with("/v1/admin/products/") && path.ends_with("/media")
        }
        poem::http::Method::PUT => path.starts_with("/v1/objects/"),
        _ => false,
    };
    if upload { MAX_UPLOAD_BODY_BYTES } else { MAX_BODY_BYTES }
}

/// Refuses a declared body over the route's limit ([`body_limit`]) with 413, and cuts off an
/// undeclared (chunked) one at that size, so that no request can make the server buffer
/// without bound.
fn limit_body(req: &mut Request) -> Result<(), AppError> {
    let max_bytes = body_limit(req);
    let declared = req.header("content-length").and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > max_bytes) {
        return Err(AppError::PayloadTooLarge { max_bytes });
    }
    if declared.is_none() {
        let mut seen = 0usize;
        let stream = req.take_body().into_bytes_stream().map(move |chunk| {
            let chunk = chunk?;
            seen += chunk.len();
            if seen > max_bytes {
                return Err(std::io::Error::other("request body too large"));
            }
            Ok(chunk)
        });
        req.set_body(poem::Body::from_bytes_stream(stream));
    }
    Ok(())
}

/// Gives each request an id (or keeps a sane incoming `X-Request-Id`), a tracing span, and
/// turns every escaped error into the JSON error shape carrying that id.
async fn request_context<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let request_id = req
        .header("x-request-id")
        .filter(|id| {
            (1..=64).contains(&id.len())
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map_or_else(|| Uuid::now_v7().to_string(), str::to_owned);
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %request_id,
        shop = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut response = REQUEST_ID
        .scope(
            request_id.clone(),
            async move {
                if let Err(err) = limit_body(&mut req) {
                    return poem::error::ResponseError::as_response(&err);
                }
                match next.call(req).await {
                    Ok(response) => response.into_response(),
                    Err(err) => into_json_response(err),
                }
            }
            .instrument(span.clone()),
        )
        .await;
    if let Ok(value) = request_id.parse() {
        response.headers_mut().insert("x-request-id", value);
    }
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "handled"
        );
    });
    Ok(response)
}

#[handler]
fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

#[handler]
async fn readyz(req: &Request) -> Response {
    let Some(state) = req.data::<AppState>() else {
        return poem::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match sqlx::query("select 1").execute(&state.pool).await {
        Ok(_) => Json(serde_json::json!({ "status": "ready" })).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            poem::error::ResponseError::as_response(&AppError::from(err))
        }
    }
}

/// A server bound to its port, ready to run. Tests bind port 0 and read the port back.
/// How this process reaches its own HTTP server (the built-in payment gateway calls back).
fn self_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => std::net::IpAddr::from([127, 0, 0, 1]),
        ip if ip.is_unspecified() => std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

pub struct Application {
    acceptor: TcpAcceptor,
    state: AppState,
    listener: sqlx::postgres::PgListener,
}

impl Application {
    pub async fn build(config: ServerConfig) -> anyhow::Result<Self> {
        config.validate()?;
        let pool = connect(&config.database).await?;
        let listener = registry::connect_change_listener(&pool)
            .await
            .context("subscribing to shop change notifications")?;
        let acceptor = TcpListener::bind(config.listen_addr.clone())
            .into_acceptor()
            .await
            .with_context(|| format!("binding {}", config.listen_addr))?;
        let state = AppState::new(pool, config)?;
        state
            .store
            .check()
            .await
            .with_context(|| format!("checking object storage ({})", state.store.kind()))?;
        Ok(Self { acceptor, state, listener })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.acceptor
            .local_addr()
            .first()
            .and_then(|addr| addr.as_socket_addr().copied())
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until the process ends, with the outbox worker alongside.
    pub async fn run(self) -> std::io::Result<()> {
        let context = ConsumerContext {
            pool: self.state.pool.clone(),
            search: self.state.search.clone(),
            store: self.state.store.clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(std::io::Error::other)?,
            self_url: self_url(self.local_addr()),
            webhooks: self.state.webhooks.clone(),
        };
        let worker =
            OutboxWorker::new(self.state.pool.clone(), Arc::new(context), RetryPolicy::default());
        let waker = worker.waker();
        tokio::spawn(worker.run());
        tokio::spawn(registry::run_change_listener(
            self.listener,
            self.state.tenants.clone(),
            self.state.rbac.clone(),
            waker,
        ));
        Server::new_with_acceptor(self.acceptor).run(endpoint(self.state)).await
    }
}
