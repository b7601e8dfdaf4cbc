//! `DbPool`: the application's pool of PostgreSQL connections, straight to the server or
//! through a transaction-mode pooler (PgBouncer `pool_mode = transaction`,
//! `DATABASE_TRANSACTION_POOLER`).
//!
//! Behind such a pooler a client holds a server connection only while a transaction is open:
//! the pooler hands it to another client at each `ReadyForQuery` outside one. Two things sqlx
//! does then break (tests/pooler.rs fails at once without this module):
//! - sqlx runs a query with bind parameters as two exchanges, each ended by `Sync`: `Parse` +
//!   `Describe`, then `Bind` + `Execute`. Outside a transaction the second may reach another
//!   server connection, where it binds whatever statement of that name (or the unnamed one)
//!   another client left there: a query was seen to return another client's result.
//! - With the statement cache off (which the pooler needs), sqlx still names each statement
//!   (`sqlx_s_<n>`, counted per client connection) and never closes it, so statements of one
//!   client stay on a server connection and collide with the next client's
//!   (`prepared statement "sqlx_s_1" already exists`).
//!
//! So, behind a pooler, every transaction begins with `DEALLOCATE ALL` in the same round trip
//! as its `BEGIN`, and a query run on the pool itself (not on a transaction) runs in a
//! transaction of its own. Straight to the server, both are plain sqlx.
//!
//! Rule: the application reaches the database only through a `DbPool` (or a transaction it
//! began); the raw `PgPool` inside is never handed out, so no path can forget the above. Only
//! the change listener and the migrations, which need a session, use a plain `PgPool` straight
//! to PostgreSQL (`state::connect_direct`).

use std::borrow::Cow;

use crate::telemetry::metrics::PoolGauges;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use sqlx::postgres::{PgQueryResult, PgRow, PgStatement, PgTypeInfo};
use sqlx::{Describe, Either, Execute, Executor, PgPool, Postgres, Transaction};

/// A pool of connections; cheap to clone (a handle).
#[derive(Clone, Debug)]
pub struct DbPool {
    pool: PgPool,
    behind_transaction_pooler: bool,
}

/// Sent with every `BEGIN` behind a transaction pooler: drops the statements that earlier
/// clients of this server connection left behind.
const FORGET_STATEMENTS: &str = "deallocate all; ";

impl DbPool {
    /// Connections straight to PostgreSQL.
    pub fn direct(pool: PgPool) -> Self {
        Self { pool, behind_transaction_pooler: false }
    }

    /// Connections through a transaction-mode pooler. The pool's connect options must turn
    /// sqlx's statement cache off (`statement_cache_capacity(0)`).
    pub fn behind_transaction_pooler(pool: PgPool) -> Self {
        Self { pool, behind_transaction_pooler: true }
    }

    /// Begins a transaction.
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.begin_with("begin").await
    }

    /// Begins a transaction with a statement of the caller's, which must leave the connection
    /// inside a transaction block (sqlx checks).
    pub async fn begin_with(
        &self,
        statement: impl Into<Cow<'static, str>>,
    ) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let statement = statement.into();
        if self.behind_transaction_pooler {
            self.pool.begin_with(format!("{FORGET_STATEMENTS}{statement}")).await
        } else {
            self.pool.begin_with(statement).await
        }
    }

    /// Open connections, idle ones and the maximum (the `/metrics` pool gauges).
    pub fn gauges(&self) -> PoolGauges {
        PoolGauges {
            open: self.pool.size(),
            idle: self.pool.num_idle(),
            max: self.pool.options().get_max_connections(),
        }
    }

    /// Closes every connection; waits for those in use to come back.
    pub async fn close(&self) {
        self.pool.close().await
    }
}

/// A query on the pool itself: as sqlx runs it straight to the server; in a transaction of its
/// own behind a pooler (its rows are then read before the transaction commits).
impl<'p> Executor<'p> for &DbPool {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        if !self.behind_transaction_pooler {
            return self.pool.fetch_many(query);
        }
        let pool = self.clone();
        futures::stream::once(async move {
            let mut tx = pool.begin().await?;
            let results: Vec<_> = (&mut *tx).fetch_many(query).try_collect().await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(futures::stream::iter(results.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        if !self.behind_transaction_pooler {
            return self.pool.fetch_optional(query);
        }
        let pool = self.clone();
        Box::pin(async move {
            let mut tx = pool.begin().await?;
            let row = (&mut *tx).fetch_optional(query).await?;
            tx.commit().await?;
            Ok(row)
        })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement<'q>, sqlx::Error>>
    where
        'p: 'e,
    {
        if !self.behind_transaction_pooler {
            return self.pool.prepare_with(sql, parameters);
        }
        let pool = self.clone();
        Box::pin(async move {
            let mut tx = pool.begin().await?;
            let statement = (&mut *tx).prepare_with(sql, parameters).await?;
            tx.commit().await?;
            Ok(statement)
        })
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>>
    where
        'p: 'e,
    {
        if !self.behind_transaction_pooler {
            return self.pool.describe(sql);
        }
        let pool = self.clone();
        Box::pin(async move {
            let mut tx = pool.begin().await?;
            let description = (&mut *tx).describe(sql).await?;
            tx.commit().await?;
            Ok(description)
        })
    }
}
