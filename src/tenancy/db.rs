//! `TenantTx`: the one door to a shop's tables.
//!
//! It begins a transaction and, in the same round trip as its first query, sets three
//! transaction-local settings: `search_path` to the shop's schema, `role` to the shop's role and
//! `shopfleet.tenant_id` to the shop id. Being local (`set_config(…, true)`), none of them
//! survives COMMIT or ROLLBACK, so a pooled connection never carries one shop into the next
//! request, and the design works behind PgBouncer in transaction mode.
//!
//! Rule: no session-level `SET` anywhere. Shop-data functions take `&mut PgConnection` from a
//! `TenantTx`; the application's own login role has no rights on any shop schema, so a query
//! that bypasses `TenantTx` fails instead of leaking.

use std::ops::{Deref, DerefMut};

use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use super::{ShopId, Tenant, quote_ident};

pub struct TenantTx {
    tx: Transaction<'static, Postgres>,
    shop_id: ShopId,
}

impl TenantTx {
    /// Begins a transaction in the shop's schema, acting as the shop's role: `BEGIN` and the
    /// three settings travel in one simple-query round trip.
    pub async fn begin(pool: &PgPool, tenant: &Tenant) -> Result<Self, sqlx::Error> {
        match Self::try_begin(pool, tenant).await {
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
                Self::try_begin(pool, tenant).await
            }
            result => result,
        }
    }

    async fn try_begin(pool: &PgPool, tenant: &Tenant) -> Result<Self, sqlx::Error> {
        // The values are ours, not a client's (a validated slug, a hex role name, a UUID), and
        // are quoted as literals all the same: a simple query cannot take bind parameters.
        // `BEGIN` comes last: it turns the query's implicit transaction, settings included, into
        // the transaction block. If a setting fails (a role just dropped, say), the implicit
        // transaction is rolled back and the pooled connection stays clean; with `BEGIN` first
        // it would go back to the pool inside an aborted transaction (sqlx does not roll back a
        // failed custom BEGIN), failing every later query on it.
        let statement = format!(
            "select set_config('search_path', {}, true), set_config('role', {}, true), \
             set_config('shopfleet.tenant_id', {}, true); begin",
            quote_literal(&quote_ident(&tenant.schema_name)),
            quote_literal(&tenant.role_name),
            quote_literal(&tenant.id.to_string()),
        );
        let tx = pool.begin_with(statement).await?;
        Ok(Self { tx, shop_id: tenant.id })
    }

    pub fn shop_id(&self) -> ShopId {
        self.shop_id
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
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
