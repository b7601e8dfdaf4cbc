//! `TenantTx`: the one door to a shop's tables.
//!
//! It begins a transaction and, in the same round trip as its first query, sets three
//! transaction-local settings: `search_path` to the shop's schema, `role` to the shop's role and
//! `shopfleet.tenant_id` to the shop id. Being local (`set_config(…, true)`), none of them
//! survives COMMIT or ROLLBACK, so a pooled connection never carries one shop into the next
//! request, and the design works behind PgBouncer in transaction mode.
//!
//! The same round trip bounds the transaction: `statement_timeout`, `lock_timeout` and
//! `idle_in_transaction_session_timeout`, also transaction-local, so that no shop's request can
//! hold a pooled connection for long ([`TxLimits`], from `SHOP_*_TIMEOUT_MS`; set once per
//! process by `state::connect`).
//!
//! Each transaction has a `tenant_tx` span (shop, shop id, request id; `outcome` commit or
//! rollback, none when dropped) from `begin` until it ends, and hands its W3C traceparent to
//! the outbox rows it writes (`shopfleet.traceparent`, also transaction-local).
//!
//! Rule: no session-level `SET` anywhere. Shop-data functions take `&mut PgConnection` from a
//! `TenantTx`; the application's own login role has no rights on any shop schema, so a query
//! that bypasses `TenantTx` fails instead of leaking.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use sqlx::{PgConnection, Postgres, Transaction};
use tracing::Instrument;

use super::{DbPool, ShopId, Tenant, quote_ident};
use crate::config::DatabaseConfig;
use crate::error::REQUEST_ID;
use crate::telemetry;
use crate::telemetry::metrics::{self, BeginWait, TxOutcome};

/// The time limits of every shop transaction, in milliseconds (0: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLimits {
    pub statement_timeout_ms: u64,
    pub lock_timeout_ms: u64,
    pub idle_in_transaction_timeout_ms: u64,
}

impl TxLimits {
    /// The defaults of `DatabaseConfig`, in force until [`TxLimits::install`] is called.
    pub const DEFAULT: Self = Self {
        statement_timeout_ms: 10_000,
        lock_timeout_ms: 5_000,
        idle_in_transaction_timeout_ms: 30_000,
    };

    pub fn from_config(config: &DatabaseConfig) -> Self {
        // PostgreSQL's limit for these settings is i32::MAX ms (about 24 days).
        let ms = |value: u64| value.min(i32::MAX as u64);
        Self {
            statement_timeout_ms: ms(config.shop_statement_timeout_ms),
            lock_timeout_ms: ms(config.shop_lock_timeout_ms),
            idle_in_transaction_timeout_ms: ms(config.shop_idle_in_transaction_timeout_ms),
        }
    }

    /// Makes these the limits of every `TenantTx` this process begins from now on. Process-wide
    /// like the pool they apply to: a process talks to one database with one configuration.
    pub fn install(self) {
        STATEMENT_TIMEOUT_MS.store(self.statement_timeout_ms, Ordering::Relaxed);
        LOCK_TIMEOUT_MS.store(self.lock_timeout_ms, Ordering::Relaxed);
        IDLE_TIMEOUT_MS.store(self.idle_in_transaction_timeout_ms, Ordering::Relaxed);
    }

    pub fn current() -> Self {
        Self {
            statement_timeout_ms: STATEMENT_TIMEOUT_MS.load(Ordering::Relaxed),
            lock_timeout_ms: LOCK_TIMEOUT_MS.load(Ordering::Relaxed),
            idle_in_transaction_timeout_ms: IDLE_TIMEOUT_MS.load(Ordering::Relaxed),
        }
    }
}

static STATEMENT_TIMEOUT_MS: AtomicU64 = AtomicU64::new(TxLimits::DEFAULT.statement_timeout_ms);
static LOCK_TIMEOUT_MS: AtomicU64 = AtomicU64::new(TxLimits::DEFAULT.lock_timeout_ms);
static IDLE_TIMEOUT_MS: AtomicU64 =
    AtomicU64::new(TxLimits::DEFAULT.idle_in_transaction_timeout_ms);

pub struct TenantTx {
    tx: Transaction<'static, Postgres>,
    shop_id: ShopId,
    lifetime: Lifetime,
    /// `tenant_tx`, open from `begin` until the transaction ends (its `outcome` says how).
    span: tracing::Span,
}

/// Records a transaction's lifetime and outcome when it ends (dropped uncommitted: rollback).
struct Lifetime {
    began: Instant,
    outcome: TxOutcome,
}

impl Drop for Lifetime {
    fn drop(&mut self) {
        metrics::db_transaction(self.outcome, self.began.elapsed());
    }
}

impl TenantTx {
    /// Begins a transaction in the shop's schema, acting as the shop's role and bounded by
    /// [`TxLimits`]: `BEGIN` and the six settings travel in one simple-query round trip.
    pub async fn begin(pool: &DbPool, tenant: &Tenant) -> Result<Self, sqlx::Error> {
        let span = tracing::info_span!(
            "tenant_tx",
            shop = %tenant.slug,
            shop_id = %tenant.id,
            request_id = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        if let Ok(request_id) = REQUEST_ID.try_with(Clone::clone) {
            span.record("request_id", request_id);
        }
        let started = Instant::now();
        let waiting = BeginWait::start();
        let result = Self::begin_traced(pool, tenant, span.clone()).instrument(span).await;
        drop(waiting);
        match &result {
            Ok(_) => metrics::db_begin(started.elapsed()),
            Err(err) => metrics::db_begin_failed(err),
        }
        result
    }

    async fn begin_traced(
        pool: &DbPool,
        tenant: &Tenant,
        span: tracing::Span,
    ) -> Result<Self, sqlx::Error> {
        let traceparent = telemetry::context::traceparent(&span);
        match Self::try_begin(pool, tenant, traceparent.as_deref()).await {
            Err(err) if is_set_role_denied(&err) => {
                // PostgreSQL 15 caches each backend's role memberships, and a grant committed
                // while a backend is recomputing that cache can be missed until the next role
                // change anywhere in the cluster (`roles_is_member_of` stores its list even if
                // an invalidation arrived meanwhile). A just-provisioned shop then looks
                // forbidden on that backend. A no-op ALTER ROLE rewrites the role's row, which
                // invalidates every backend's cache; then one retry.
                tracing::warn!(shop = %tenant.slug, "shop role refused on a stale membership cache; refreshing it");
                let refresh = format!("alter role {} nologin", quote_ident(&tenant.role_name));
                sqlx::Executor::execute(pool, refresh.as_str()).await?;
                Self::try_begin(pool, tenant, traceparent.as_deref()).await
            }
            result => result,
        }
        .map(|tx| {
            let lifetime = Lifetime { began: Instant::now(), outcome: TxOutcome::Rollback };
            Self { tx, shop_id: tenant.id, lifetime, span }
        })
    }

    async fn try_begin(
        pool: &DbPool,
        tenant: &Tenant,
        traceparent: Option<&str>,
    ) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        // The values are ours, not a client's (a validated slug, a hex role name, a UUID), and
        // are quoted as literals all the same: a simple query cannot take bind parameters.
        // `BEGIN` comes last: it turns the query's implicit transaction, settings included, into
        // the transaction block. If a setting fails (a role just dropped, say), the implicit
        // transaction is rolled back and the pooled connection stays clean; with `BEGIN` first
        // it would go back to the pool inside an aborted transaction (sqlx does not roll back a
        // failed custom BEGIN), failing every later query on it.
        // The limits are integers (milliseconds), formatted by us. `shopfleet.traceparent` (our
        // propagator's output: hex and dashes) is what the outbox rows written in this
        // transaction store as their trace context (tenant migration 0014's column default).
        let limits = TxLimits::current();
        let statement = format!(
            "select set_config('search_path', {}, true), set_config('role', {}, true), \
             set_config('shopfleet.tenant_id', {}, true), \
             set_config('statement_timeout', '{}', true), set_config('lock_timeout', '{}', true), \
             set_config('idle_in_transaction_session_timeout', '{}', true), \
             set_config('shopfleet.traceparent', {}, true); begin",
            quote_literal(&quote_ident(&tenant.schema_name)),
            quote_literal(&tenant.role_name),
            quote_literal(&tenant.id.to_string()),
            limits.statement_timeout_ms,
            limits.lock_timeout_ms,
            limits.idle_in_transaction_timeout_ms,
            quote_literal(traceparent.unwrap_or_default()),
        );
        pool.begin_with(statement).await
    }

    pub fn shop_id(&self) -> ShopId {
        self.shop_id
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let Self { tx, mut lifetime, span, .. } = self;
        let result = tx.commit().instrument(span.clone()).await;
        span.record("outcome", if result.is_ok() { "commit" } else { "commit_failed" });
        lifetime.outcome = if result.is_ok() { TxOutcome::Commit } else { TxOutcome::Error };
        result
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        let Self { tx, mut lifetime, span, .. } = self;
        span.record("outcome", "rollback");
        let result = tx.rollback().instrument(span).await;
        lifetime.outcome = if result.is_ok() { TxOutcome::Rollback } else { TxOutcome::Error };
        result
    }
}

impl Deref for TenantTx {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for TenantTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

/// "permission denied to set role" (SQLSTATE 42501) from the `set_config('role', …)` above.
fn is_set_role_denied(err: &sqlx::Error) -> bool {
    err.as_database_error().is_some_and(|db| {
        db.code().as_deref() == Some("42501") && db.message().contains("set role")
    })
}

/// Quotes a SQL string literal (standard_conforming_strings is on: only `'` needs doubling).
fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Switches an open transaction into a shop's schema and role, transaction-locally. Used by
/// `TenantTx` and by provisioning and migration, which start as the application role.
pub async fn enter_shop(
    conn: &mut PgConnection,
    schema_name: &str,
    role_name: &str,
    shop_id: ShopId,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "select set_config('search_path', $1, true), set_config('role', $2, true), \
         set_config('shopfleet.tenant_id', $3, true)",
    )
    .bind(quote_ident(schema_name))
    .bind(role_name)
    .bind(shop_id.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// Returns an open transaction to the application role and the platform schema, e.g. to
/// record a shop's schema version after migrating it in the same transaction.
pub async fn leave_shop(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query(
        "select set_config('role', 'none', true), set_config('search_path', 'platform', true), \
         set_config('shopfleet.tenant_id', '', true)",
    )
    .execute(conn)
    .await?;
    Ok(())
}
