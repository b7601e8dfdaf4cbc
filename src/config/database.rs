//! Settings of the database connections (`DatabaseConfig`): the application's pool, the direct
//! connection for `LISTEN` and migrations, and the time limits of shop transactions.

use std::fmt;

use anyhow::bail;
use clap::Args;

use super::redact_url;

/// Settings shared by every subcommand that talks to the database.
#[derive(Clone, Args)]
pub struct DatabaseConfig {
    /// PostgreSQL URL of the application's login role (not a superuser: see README). TLS with
    /// `?sslmode=require` (or `verify-full` and `sslrootcert=…`); system CA roots are trusted.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,

    /// PostgreSQL URL straight to the server (never through a transaction pooler), for what
    /// needs a session of its own: the change listener (`LISTEN`) and the migrations (sqlx's
    /// session-level advisory lock). `DATABASE_URL` when unset.
    #[arg(long, env = "DATABASE_DIRECT_URL", hide_env_values = true)]
    pub database_direct_url: Option<String>,

    /// `DATABASE_URL` leads to a transaction-mode pooler (PgBouncer `pool_mode = transaction`):
    /// sqlx's statement cache is turned off and every query runs inside a transaction that
    /// first drops the statements earlier clients left (see `tenancy::pool`). Needs
    /// `DATABASE_DIRECT_URL`.
    #[arg(long, env = "DATABASE_TRANSACTION_POOLER", default_value_t = false, action = clap::ArgAction::Set)]
    pub database_transaction_pooler: bool,

    /// Maximum connections in the one pool shared by all shops.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 20)]
    pub database_max_connections: u32,

    /// Seconds after which a pooled connection is closed: a backend's catalog cache grows with
    /// every shop schema it touches, so connections are recycled.
    #[arg(long, env = "DATABASE_MAX_LIFETIME_SECS", default_value_t = 900)]
    pub database_max_lifetime_secs: u64,

    /// Milliseconds one statement of a shop transaction may run (`statement_timeout`, set
    /// transaction-locally by `TenantTx`); 0 turns the limit off.
    #[arg(long, env = "SHOP_STATEMENT_TIMEOUT_MS", default_value_t = 10_000)]
    pub shop_statement_timeout_ms: u64,

    /// Milliseconds a shop transaction's statement may wait for a lock (`lock_timeout`).
    #[arg(long, env = "SHOP_LOCK_TIMEOUT_MS", default_value_t = 5_000)]
    pub shop_lock_timeout_ms: u64,

    /// Milliseconds a shop transaction may sit idle between statements before PostgreSQL ends
    /// its session (`idle_in_transaction_session_timeout`).
    #[arg(long, env = "SHOP_IDLE_IN_TRANSACTION_TIMEOUT_MS", default_value_t = 30_000)]
    pub shop_idle_in_transaction_timeout_ms: u64,
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("database_url", &redact_url(&self.database_url))
            .field("database_direct_url", &self.database_direct_url.as_deref().map(redact_url))
            .field("database_transaction_pooler", &self.database_transaction_pooler)
            .field("database_max_connections", &self.database_max_connections)
            .field("database_max_lifetime_secs", &self.database_max_lifetime_secs)
            .field("shop_statement_timeout_ms", &self.shop_statement_timeout_ms)
            .field("shop_lock_timeout_ms", &self.shop_lock_timeout_ms)
            .field("shop_idle_in_transaction_timeout_ms", &self.shop_idle_in_transaction_timeout_ms)
            .finish()
    }
}

impl DatabaseConfig {
    /// Checks what clap cannot: a pooler needs a direct URL for `LISTEN` and migrations.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.database_transaction_pooler && self.database_direct_url.is_none() {
            bail!(
                "DATABASE_TRANSACTION_POOLER needs DATABASE_DIRECT_URL: LISTEN and the migrations' \
                 advisory lock need a connection of their own, straight to PostgreSQL"
            );
        }
        Ok(())
    }

    /// The URL straight to PostgreSQL: `DATABASE_DIRECT_URL`, else `DATABASE_URL`.
    pub fn direct_url(&self) -> &str {
        self.database_direct_url.as_deref().unwrap_or(&self.database_url)
    }
}

#[cfg(test)]
mod tests {
    use super::DatabaseConfig;

    fn config(direct: Option<&str>, pooler: bool) -> DatabaseConfig {
        DatabaseConfig {
            database_url: "postgres://app:pooled-secret@pgbouncer:6432/shopfleet".into(),
            database_direct_url: direct.map(str::to_owned),
            database_transaction_pooler: pooler,
            database_max_connections: 20,
            database_max_lifetime_secs: 900,
            shop_statement_timeout_ms: 10_000,
            shop_lock_timeout_ms: 5_000,
            shop_idle_in_transaction_timeout_ms: 30_000,
        }
    }

    #[test]
    fn a_transaction_pooler_needs_a_direct_url() {
        let err = config(None, true).validate().unwrap_err();
        assert!(err.to_string().contains("DATABASE_DIRECT_URL"), "{err}");
        assert!(config(Some("postgres://app:s@db/shopfleet"), true).validate().is_ok());
        assert!(config(None, false).validate().is_ok());
    }

    #[test]
    fn the_direct_url_defaults_to_the_database_url_and_its_password_is_redacted() {
        let pooled = config(None, false);
        assert_eq!(pooled.direct_url(), pooled.database_url);
        let direct = config(Some("postgres://app:direct-secret@db:5432/shopfleet"), true);
        assert_eq!(direct.direct_url(), "postgres://app:direct-secret@db:5432/shopfleet");
        let printed = format!("{direct:?}");
        assert!(printed.contains("postgres://app:***@db:5432/shopfleet"), "{printed}");
        assert!(!printed.contains("secret"), "{printed}");
    }
}
