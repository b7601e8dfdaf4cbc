//! Configuration from flags or environment (12-factor), validated once at start-up.
//!
//! Rule: secrets (`jwt_secret`, the database password) are never printed; `Debug` redacts them.

mod database;
mod limits;
mod shutdown;

use std::fmt;

use anyhow::{Context, bail};
use clap::Args;

pub use database::DatabaseConfig;
pub use limits::LimitsConfig;
pub use shutdown::ShutdownConfig;

/// Settings of the search engine: MeiliSearch when `MEILI_URL` is set, PostgreSQL full-text
/// search otherwise.
#[derive(Clone, Default, Args)]
pub struct SearchConfig {
    /// MeiliSearch node URLs, comma-separated; each shop's index lives on one of them.
    #[arg(long = "meili-url", env = "MEILI_URL", value_delimiter = ',')]
    pub meili_urls: Vec<String>,

    /// MeiliSearch admin API key (manages indexes and documents).
    #[arg(long, env = "MEILI_API_KEY", hide_env_values = true)]
    pub meili_api_key: Option<String>,

    /// A search-only MeiliSearch API key, parent of the tenant tokens given to storefronts.
    #[arg(long, env = "MEILI_SEARCH_KEY", hide_env_values = true)]
    pub meili_search_key: Option<String>,

    /// The uid of `MEILI_SEARCH_KEY`.
    #[arg(long, env = "MEILI_SEARCH_KEY_UID")]
    pub meili_search_key_uid: Option<String>,

    /// Milliseconds before a MeiliSearch call counts as failed (503 `search_unavailable`).
    #[arg(long, env = "MEILI_TIMEOUT_MS", default_value_t = 2000)]
    pub meili_timeout_ms: u64,
}

impl fmt::Debug for SearchConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SearchConfig")
            .field("meili_urls", &self.meili_urls)
            .field("meili_search_key_uid", &self.meili_search_key_uid)
            .finish_non_exhaustive()
    }
}

/// Where objects (product images) are stored: an S3 bucket when `S3_BUCKET` is set, a local
/// directory otherwise. S3 credentials come from the usual AWS chain (environment, profile,
/// container or instance role), never from these settings.
#[derive(Clone, Debug, Args)]
pub struct StorageConfig {
    /// Directory of the local object store, used when no S3 bucket is configured.
    #[arg(long, env = "STORAGE_DIR", default_value = "./.shopfleet/objects")]
    pub storage_dir: std::path::PathBuf,

    /// S3 bucket holding every shop's objects (under `shops/<shop id>/`).
    #[arg(long, env = "S3_BUCKET")]
    pub s3_bucket: Option<String>,

    /// Endpoint URL of an S3-compatible server, e.g. `http://127.0.0.1:9000`; AWS when unset.
    #[arg(long, env = "S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// Region of the bucket; from the AWS chain (`AWS_REGION`, profile) when unset.
    #[arg(long, env = "S3_REGION")]
    pub s3_region: Option<String>,

    /// Path-style addressing (`<endpoint>/<bucket>/<key>`), which most S3-compatible servers need.
    #[arg(long, env = "S3_FORCE_PATH_STYLE", default_value_t = false, action = clap::ArgAction::Set)]
    pub s3_force_path_style: bool,

    /// Public base URL of the bucket (a CDN, say): image URLs become `<base>/<key>` instead of
    /// presigned GET URLs.
    #[arg(long, env = "S3_PUBLIC_BASE_URL")]
    pub s3_public_base_url: Option<String>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            storage_dir: "./.shopfleet/objects".into(),
            s3_bucket: None,
            s3_endpoint: None,
            s3_region: None,
            s3_force_path_style: false,
            s3_public_base_url: None,
        }
    }
}

impl StorageConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        for (name, url) in
            [("S3_ENDPOINT", &self.s3_endpoint), ("S3_PUBLIC_BASE_URL", &self.s3_public_base_url)]
        {
            if let Some(url) = url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                bail!("{name} must be an http:// or https:// URL");
            }
        }
        if self.s3_bucket.is_none()
            && (self.s3_endpoint.is_some() || self.s3_public_base_url.is_some())
        {
            bail!("S3_ENDPOINT and S3_PUBLIC_BASE_URL need S3_BUCKET");
        }
        if self.s3_bucket.as_deref().is_some_and(|b| b.trim().is_empty() || b.contains('/')) {
            bail!("S3_BUCKET must be a bucket name");
        }
        Ok(())
    }
}

/// Outgoing webhooks: how deliveries are made and retried.
#[derive(Clone, Debug, Args)]
pub struct WebhookConfig {
    /// Allow endpoint URLs whose host is (or resolves to) a private, loopback, link-local,
    /// CGNAT, multicast or unique-local address. Off in production (SSRF); tests turn it on to
    /// reach a receiver on 127.0.0.1.
    #[arg(long = "webhook-allow-private-networks", env = "WEBHOOK_ALLOW_PRIVATE_NETWORKS", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_private_networks: bool,

    /// Seconds before a delivery attempt counts as failed (connect, send and response headers).
    #[arg(long = "webhook-timeout-secs", env = "WEBHOOK_TIMEOUT_SECS", default_value_t = 10)]
    pub timeout_secs: u64,

    /// Attempts per event and endpoint before the delivery is dead-lettered.
    #[arg(long = "webhook-max-attempts", env = "WEBHOOK_MAX_ATTEMPTS", default_value_t = 8)]
    pub max_attempts: u32,

    /// Wait after the first failed attempt, in seconds; doubled after each further failure, and
    /// capped at 60 times this (with the default 120: 2, 4, … 64 min, then 2 h; 8 attempts span
    /// about 4 h).
    #[arg(
        long = "webhook-retry-base-secs",
        env = "WEBHOOK_RETRY_BASE_SECS",
        default_value_t = 120
    )]
    pub retry_base_secs: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            timeout_secs: 10,
            max_attempts: 8,
            retry_base_secs: 120,
        }
    }
}

impl WebhookConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        // A worker's lease on a batch is 120 s; one delivery must fit well inside it.
        if !(1..=60).contains(&self.timeout_secs) {
            bail!("WEBHOOK_TIMEOUT_SECS must be between 1 and 60");
        }
        if !(1..=50).contains(&self.max_attempts) {
            bail!("WEBHOOK_MAX_ATTEMPTS must be between 1 and 50");
        }
        if !(1..=86_400).contains(&self.retry_base_secs) {
            bail!("WEBHOOK_RETRY_BASE_SECS must be between 1 and 86400");
        }
        Ok(())
    }
}

/// The cache of storefront reads and the shared state of the rate limits: Redis when
/// `REDIS_URL` is set (every instance shares it), this process's memory otherwise.
#[derive(Clone, Args)]
pub struct CacheConfig {
    /// Redis URL (`redis://host:6379/0`, `rediss://` for TLS). Use a standalone Redis with
    /// `maxmemory-policy volatile-lru`: cached values expire, generations must not be evicted.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Connections in the Redis pool of each instance.
    #[arg(long, env = "REDIS_POOL_SIZE", default_value_t = 64)]
    pub redis_pool_size: u32,

    /// Milliseconds a Redis call may take; a slower or failed call bypasses the cache (and the
    /// limiter falls back to this process) for a second.
    #[arg(long, env = "REDIS_TIMEOUT_MS", default_value_t = 100)]
    pub redis_timeout_ms: u64,

    /// Longest time, in seconds, a cached storefront read is kept (a change drops it at once;
    /// this bounds what a missed change notification can leave behind). At most 1800: image
    /// URLs in cached reads stay valid for an hour.
    #[arg(long, env = "CACHE_TTL_SECS", default_value_t = 300)]
    pub cache_ttl_secs: u64,

    /// Megabytes of cached reads kept in this process's memory when Redis is not configured;
    /// 0 turns the cache off (every read goes to the database).
    #[arg(long, env = "CACHE_MEMORY_MB", default_value_t = 64)]
    pub cache_memory_mb: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            redis_pool_size: 64,
            redis_timeout_ms: 100,
            cache_ttl_secs: 300,
            cache_memory_mb: 64,
        }
    }
}

impl fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheConfig")
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("redis_pool_size", &self.redis_pool_size)
            .field("redis_timeout_ms", &self.redis_timeout_ms)
            .field("cache_ttl_secs", &self.cache_ttl_secs)
            .field("cache_memory_mb", &self.cache_memory_mb)
            .finish()
    }
}

impl CacheConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(url) = &self.redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            bail!("REDIS_URL must be a redis:// or rediss:// URL");
        }
        if !(1..=1024).contains(&self.redis_pool_size) {
            bail!("REDIS_POOL_SIZE must be between 1 and 1024");
        }
        if !(1..=10_000).contains(&self.redis_timeout_ms) {
            bail!("REDIS_TIMEOUT_MS must be between 1 and 10000");
        }
        if !(1..=1800).contains(&self.cache_ttl_secs) {
            bail!("CACHE_TTL_SECS must be between 1 and 1800");
        }
        Ok(())
    }
}

/// Settings of the HTTP server.
#[derive(Clone, Args)]
pub struct ServerConfig {
    #[command(flatten)]
    pub database: DatabaseConfig,

    #[command(flatten)]
    pub search: SearchConfig,

    #[command(flatten)]
    pub storage: StorageConfig,

    #[command(flatten)]
    pub webhooks: WebhookConfig,

    #[command(flatten)]
    pub cache: CacheConfig,

    #[command(flatten)]
    pub limits: LimitsConfig,

    #[command(flatten)]
    pub shutdown: ShutdownConfig,

    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8080")]
    pub listen_addr: String,

    /// Address of the Prometheus endpoint (`GET /metrics`), a listener of its own that shop
    /// hosts never reach; unset: no metrics endpoint. Keep it on a private network.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<String>,

    /// Base domain of shop subdomains: `tinashop.<base domain>` is shop `tinashop`; the base
    /// domain itself is the platform host.
    #[arg(long, env = "BASE_DOMAIN", default_value = "shops.localhost")]
    pub base_domain: String,

    /// How the API prints a shop's URL: `{host}` becomes `<slug>.<base domain>`, e.g.
    /// `https://{host}` or `http://{host}:8080`.
    #[arg(long, env = "PUBLIC_URL_TEMPLATE", default_value = "http://{host}:8080")]
    pub public_url_template: String,

    /// HMAC secret of access tokens; at least 32 bytes.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: String,

    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "ACCESS_TOKEN_TTL_SECS", default_value_t = 900)]
    pub access_token_ttl_secs: u64,

    /// Lifetime of refresh tokens, in days.
    #[arg(long, env = "REFRESH_TOKEN_TTL_DAYS", default_value_t = 30)]
    pub refresh_token_ttl_days: u64,

    /// How many shops' tenant resolutions and RBAC enforcers each instance keeps in memory.
    #[arg(long, env = "TENANT_CACHE_CAPACITY", default_value_t = 10_000)]
    pub tenant_cache_capacity: u64,

    /// Password hashes (argon2id, 19 MiB each) computed at once; 0 means one per CPU core.
    #[arg(long, env = "PASSWORD_HASH_CONCURRENCY", default_value_t = 0)]
    pub password_hash_concurrency: usize,

    /// Password hashes allowed to wait for a free slot; beyond that, logins, registrations and
    /// signups answer 503 `server_busy` with `Retry-After`.
    #[arg(long, env = "PASSWORD_HASH_QUEUE", default_value_t = 64)]
    pub password_hash_queue: usize,

    /// Origins allowed to call the API from a browser besides each shop's own hosts, e.g. a
    /// headless storefront: comma-separated, exact (`https://store.example.com`).
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,

    /// Name server (`ip:port`) asked for the TXT records that verify custom domains; the
    /// system's (`/etc/resolv.conf`) when unset.
    #[arg(long, env = "DNS_RESOLVER")]
    pub dns_resolver: Option<std::net::SocketAddr>,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("database", &self.database)
            .field("search", &self.search)
            .field("storage", &self.storage)
            .field("webhooks", &self.webhooks)
            .field("cache", &self.cache)
            .field("limits", &self.limits)
            .field("shutdown", &self.shutdown)
            .field("listen_addr", &self.listen_addr)
            .field("metrics_addr", &self.metrics_addr)
            .field("base_domain", &self.base_domain)
            .field("public_url_template", &self.public_url_template)
            .field("jwt_secret", &"<redacted>")
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("refresh_token_ttl_days", &self.refresh_token_ttl_days)
            .field("tenant_cache_capacity", &self.tenant_cache_capacity)
            .field("password_hash_concurrency", &self.password_hash_concurrency)
            .field("password_hash_queue", &self.password_hash_queue)
            .field("cors_allowed_origins", &self.cors_allowed_origins)
            .field("dns_resolver", &self.dns_resolver)
            .finish_non_exhaustive()
    }
}

impl ServerConfig {
    /// Checks what clap cannot: called once at start-up, before anything is served.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.jwt_secret.len() < 32 {
            bail!("JWT_SECRET must be at least 32 bytes long");
        }
        let base = self.base_domain.trim();
        if base.is_empty() || base.starts_with('.') || base.contains(['/', ':', ' ']) {
            bail!("BASE_DOMAIN must be a bare host name such as shops.example.com");
        }
        if !self.public_url_template.contains("{host}") {
            bail!("PUBLIC_URL_TEMPLATE must contain {{host}}");
        }
        self.listen_addr
            .parse::<std::net::SocketAddr>()
            .with_context(|| format!("LISTEN_ADDR {:?} is not host:port", self.listen_addr))?;
        if let Some(addr) = &self.metrics_addr {
            addr.parse::<std::net::SocketAddr>()
                .with_context(|| format!("METRICS_ADDR {addr:?} is not host:port"))?;
        }
        if self.search.meili_search_key.is_some() != self.search.meili_search_key_uid.is_some() {
            bail!("MEILI_SEARCH_KEY and MEILI_SEARCH_KEY_UID go together");
        }
        self.database.validate()?;
        self.storage.validate()?;
        self.webhooks.validate()?;
        self.cache.validate()?;
        self.limits.validate()?;
        self.shutdown.validate()?;
        if self.access_token_ttl_secs == 0 || self.refresh_token_ttl_days == 0 {
            bail!("token lifetimes must be positive");
        }
        for origin in &self.cors_allowed_origins {
            let parsed = url::Url::parse(origin).ok();
            let exact = parsed.as_ref().is_some_and(|url| {
                matches!(url.scheme(), "http" | "https")
                    && url.host_str().is_some()
                    && url.origin().ascii_serialization() == origin.as_str()
            });
            if !exact {
                bail!(
                    "CORS_ALLOWED_ORIGINS: {origin:?} is not an origin such as https://store.example.com"
                );
            }
        }
        Ok(())
    }

    /// The public URL of a host, e.g. `http://tinashop.shops.localhost:8080`.
    pub fn url_of_host(&self, host: &str) -> String {
        self.public_url_template.replace("{host}", host)
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn database_password_is_redacted() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db:5432/shopfleet"),
            "postgres://app:***@db:5432/shopfleet"
        );
        assert_eq!(redact_url("postgres://app@db/shopfleet"), "postgres://app@db/shopfleet");
    }
}
