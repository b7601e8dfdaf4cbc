//! Configuration from flags or environment (12-factor), validated once at start-up.
//!
//! Rule: secrets (`jwt_secret`, the database password) are never printed; `Debug` redacts them.

use std::fmt;

use anyhow::{Context, bail};
use clap::Args;

/// Settings shared by every subcommand that talks to the database.
#[derive(Clone, Args)]
pub struct DatabaseConfig {
    /// PostgreSQL URL of the application's login role (not a superuser: see README). TLS with
    /// `?sslmode=require` (or `verify-full` and `sslrootcert=…`); system CA roots are trusted.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,

    /// Maximum connections in the one pool shared by all shops.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 20)]
    pub database_max_connections: u32,

    /// Seconds after which a pooled connection is closed: a backend's catalog cache grows with
    /// every shop schema it touches, so connections are recycled.
    #[arg(long, env = "DATABASE_MAX_LIFETIME_SECS", default_value_t = 900)]
    pub database_max_lifetime_secs: u64,
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("database_url", &redact_url(&self.database_url))
            .field("database_max_connections", &self.database_max_connections)
            .field("database_max_lifetime_secs", &self.database_max_lifetime_secs)
            .finish()
    }
}

/// Settings of the HTTP server.
#[derive(Clone, Args)]
pub struct ServerConfig {
    #[command(flatten)]
    pub database: DatabaseConfig,

    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8080")]
    pub listen_addr: String,

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

    /// Failed logins allowed per shop and identity within the login window.
    #[arg(long, env = "LOGIN_MAX_FAILURES", default_value_t = 10)]
    pub login_max_failures: u32,

    /// Length of the login rate-limit window, in seconds.
    #[arg(long, env = "LOGIN_WINDOW_SECS", default_value_t = 300)]
    pub login_window_secs: u64,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("database", &self.database)
            .field("listen_addr", &self.listen_addr)
            .field("base_domain", &self.base_domain)
            .field("public_url_template", &self.public_url_template)
            .field("jwt_secret", &"<redacted>")
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("refresh_token_ttl_days", &self.refresh_token_ttl_days)
            .field("tenant_cache_capacity", &self.tenant_cache_capacity)
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
        if self.access_token_ttl_secs == 0 || self.refresh_token_ttl_days == 0 {
            bail!("token lifetimes must be positive");
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
