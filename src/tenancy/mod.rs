//! Tenancy: which shop a request is for, and the only way to reach that shop's data.
//!
//! - [`resolver`] turns a request's host (or `X-Shop` header) into a [`Tenant`];
//! - [`registry`] caches resolutions in process and drops them on `NOTIFY` from PostgreSQL;
//! - [`db`] holds [`TenantTx`], the one door to a shop's schema;
//! - [`pool`] holds [`DbPool`], the connections every query goes through (straight to
//!   PostgreSQL or behind a transaction-mode pooler);
//! - [`migrate`] upgrades shop schemas (creating and purging shops is `platform::provisioning`).
//!
//! Rule: the tenant comes from the host and the verified token, never from a body field. And
//! this module imports nothing above it (only `config`, `error`, `values`).

pub mod db;
pub mod migrate;
pub mod pool;
pub mod registry;
pub mod resolver;
mod slug;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use db::TenantTx;
pub use pool::DbPool;
pub use slug::Slug;

/// Id of a shop. Also the casbin domain of its rules and the root of its storage prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct ShopId(pub Uuid);

impl ShopId {
    /// A new, time-ordered shop id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl std::fmt::Display for ShopId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A resolved shop, as the request pipeline hands it to handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: ShopId,
    pub slug: String,
    pub name: String,
    pub currency: String,
    pub plan: String,
    pub status: ShopStatus,
    /// `shop_<slug>`: derived from a validated slug, always quoted when used in SQL.
    pub schema_name: String,
    /// `shop_<id as hex>`: the PostgreSQL role that owns the schema.
    pub role_name: String,
    /// The shop's verified primary custom domain, if it chose one: its canonical host (for
    /// redirects from the subdomain and canonical URLs).
    pub primary_domain: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShopStatus {
    Active,
    Suspended,
    Deleted,
    Purged,
}

impl ShopStatus {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            "deleted" => Some(Self::Deleted),
            "purged" => Some(Self::Purged),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Deleted => "deleted",
            Self::Purged => "purged",
        }
    }
}

/// Schema name of a shop: `shop_` + slug with `-` as `_` (slugs never contain `_`, so distinct
/// slugs give distinct schemas).
pub fn schema_name_for(slug: &Slug) -> String {
    format!("shop_{}", slug.as_str().replace('-', "_"))
}

/// Role name of a shop, from its id so that it is unique across all databases of a cluster.
pub fn role_name_for(id: ShopId) -> String {
    format!("shop_{}", id.0.simple())
}

/// Quotes a PostgreSQL identifier. Names reaching DDL are built from validated slugs and ids;
/// quoting is the second lock on that door.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
