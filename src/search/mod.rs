//! Per-shop product search behind one [`SearchEngine`] trait, chosen at start-up:
//! - [`meili::MeiliEngine`] when `MEILI_URL` is set: one MeiliSearch index per shop, named from
//!   the shop id, fed through the outbox (searchable within seconds of a change);
//! - [`postgres::PostgresEngine`] otherwise: full-text search inside each shop's schema,
//!   with typo tolerance from a per-shop lexicon (searchable at commit).
//!
//! Both answer the same [`SearchQuery`] with the same [`SearchResults`], and both pass the
//! behaviour suite in `tests/search.rs`. Synonyms are stored in the shop's schema (the source
//! of truth for both engines) and pushed to MeiliSearch through the outbox.
//!
//! Storefront searches and suggestions go through the shop's cache with the PostgreSQL engine
//! ([`cached`]).
//!
//! Rule: an engine only ever sees the [`Tenant`] it is called for; index names, documents and
//! queries are derived from it, never from request input.

pub mod api;
pub mod document;
pub mod health;
mod indexing;
pub mod meili;
pub mod postgres;
pub mod query;
pub mod reindex;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use poem_openapi::{Enum, Object};
use uuid::Uuid;

pub use document::{ProductDocument, index_from_database};
pub use indexing::{SearchIndexer, SearchIndexing};

use crate::cache::Cache;
use crate::config::SearchConfig;
use crate::error::AppError;
use crate::tenancy::{DbPool, ShopId, Tenant};

/// The configured engine, and the same engine as MeiliSearch when it is one (tenant tokens).
pub type Engines = (Arc<dyn SearchEngine>, Option<Arc<meili::MeiliEngine>>);

/// The engine the configuration asks for.
pub fn engine_from_config(config: &SearchConfig, pool: DbPool) -> Result<Engines, SearchError> {
    if config.meili_urls.iter().all(|url| url.trim().is_empty()) {
        return Ok((Arc::new(postgres::PostgresEngine::new(pool)), None));
    }
    let meili = Arc::new(meili::MeiliEngine::new(meili::MeiliConfig {
        urls: config.meili_urls.iter().filter(|url| !url.trim().is_empty()).cloned().collect(),
        api_key: config.meili_api_key.clone(),
        search_key: config.meili_search_key.clone().zip(config.meili_search_key_uid.clone()),
        timeout: Duration::from_millis(config.meili_timeout_ms.max(1)),
        token_ttl: Duration::from_secs(3600),
    })?);
    Ok((meili.clone(), Some(meili)))
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The engine did not answer (down, timed out): the API answers 503.
    #[error("search engine unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("search engine error: {0}")]
    Engine(String),
}

impl From<SearchError> for AppError {
    fn from(err: SearchError) -> Self {
        match err {
            SearchError::Unavailable(reason) => {
                tracing::warn!(%reason, "search engine unavailable");
                AppError::ServiceUnavailable {
                    code: "search_unavailable",
                    message: "search is unavailable; try again shortly".into(),
                }
            }
            SearchError::Database(err) => AppError::Database(err),
            SearchError::Engine(message) => AppError::Internal(anyhow::anyhow!(message)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum SearchSort {
    /// Best match first (default with a query; newest first without one).
    Relevance,
    PriceAsc,
    PriceDesc,
    Newest,
}

/// A storefront search, already validated.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    /// Free text; empty means "everything matching the filters".
    pub text: String,
    /// Category slugs the product must be in; each includes its subcategories.
    pub categories: Vec<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// Only products (and, with option filters, variants) in stock.
    pub in_stock: bool,
    /// `(option name lowercased, value)`: the product must have each (in a variant in stock,
    /// with `in_stock`).
    pub options: Vec<(String, String)>,
    pub sort: SearchSort,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

#[derive(serde::Serialize, Debug, Clone, PartialEq, Object, serde::Deserialize)]
pub struct SearchHit {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub price_min: i64,
    pub price_max: i64,
    pub in_stock: bool,
}

#[derive(serde::Serialize, Debug, Clone, PartialEq, Eq, Object, serde::Deserialize)]
pub struct FacetValue {
    /// The value to filter on (a category slug, an option value).
    pub value: String,
    /// Display name.
    pub label: String,
    /// Matching products.
    pub count: i64,
}

#[derive(serde::Serialize, Debug, Clone, PartialEq, Eq, Object, serde::Deserialize)]
pub struct OptionFacet {
    /// Option name, lowercased, e.g. `size`; filter with `option=size:M`.
    pub name: String,
    pub values: Vec<FacetValue>,
}

#[derive(serde::Serialize, Debug, Clone, PartialEq, Eq, Object, serde::Deserialize)]
pub struct PriceBucket {
    /// Inclusive lower bound, minor units.
    pub min: i64,
    /// Exclusive upper bound, minor units.
    pub max: i64,
    pub count: i64,
}

#[derive(serde::Serialize, Debug, Clone, Default, PartialEq, Object, serde::Deserialize)]
pub struct Facets {
    pub categories: Vec<FacetValue>,
    pub price: Vec<PriceBucket>,
    pub options: Vec<OptionFacet>,
}

#[derive(serde::Serialize, Debug, Clone, PartialEq, Object, serde::Deserialize)]
pub struct SearchResults {
    pub hits: Vec<SearchHit>,
    /// Matching products in all pages.
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
    pub facets: Facets,
}

#[derive(serde::Serialize, Debug, Clone, PartialEq, Eq, Object, serde::Deserialize)]
pub struct Suggestion {
    pub name: String,
    pub slug: String,
}

/// Synonyms of a shop: a query word (key) also matches each of its values.
pub type Synonyms = BTreeMap<String, Vec<String>>;

#[async_trait]
pub trait SearchEngine: Send + Sync {
    fn name(&self) -> &'static str;

    /// Whether product changes reach this engine through the outbox (MeiliSearch) rather
    /// than at commit (PostgreSQL, which indexes in the writing transaction).
    fn indexes_through_outbox(&self) -> bool;

    /// Prepares a shop's index with its settings (idempotent).
    async fn create_index(&self, tenant: &Tenant) -> Result<(), SearchError>;

    /// Removes a shop's index (idempotent); called after the shop's purge has committed.
    async fn delete_index(&self, shop: ShopId) -> Result<(), SearchError>;

    /// Adds or replaces documents.
    async fn upsert(
        &self,
        tenant: &Tenant,
        documents: &[ProductDocument],
    ) -> Result<(), SearchError>;

    /// Removes documents (missing ones are fine).
    async fn remove(&self, tenant: &Tenant, ids: &[Uuid]) -> Result<(), SearchError>;

    /// The ids of every document in the shop's index (none if it does not exist), so that
    /// `shopfleet reindex` can remove those of products deleted meanwhile. An engine that
    /// indexes inside the products table has no separate index and returns none.
    async fn indexed_ids(&self, tenant: &Tenant) -> Result<Vec<Uuid>, SearchError>;

    async fn search(
        &self,
        tenant: &Tenant,
        query: &SearchQuery,
    ) -> Result<SearchResults, SearchError>;

    /// Up to `limit` product names for a partial query, for autocomplete.
    async fn suggest(
        &self,
        tenant: &Tenant,
        text: &str,
        limit: usize,
    ) -> Result<Vec<Suggestion>, SearchError>;

    /// Applies the shop's synonyms (the shop's schema already holds them).
    async fn apply_synonyms(&self, tenant: &Tenant, synonyms: &Synonyms)
    -> Result<(), SearchError>;
}

/// Equal-width price buckets over `[min, max]`, each `ceil((max + 1 - min) / buckets)` wide;
/// `counts` holds `(bucket number from 1, products)` for the non-empty ones. Both engines count
/// with [`bucket_of`], so their buckets agree.
pub fn price_buckets(min: i64, max: i64, buckets: i64, counts: &[(i64, i64)]) -> Vec<PriceBucket> {
    if max < min || buckets < 1 {
        return Vec::new();
    }
    let width = ((max + 1 - min) + buckets - 1) / buckets;
    counts
        .iter()
        .filter(|(_, count)| *count > 0)
        .map(|(bucket, count)| {
            let lower = min + (bucket - 1) * width;
            PriceBucket { min: lower, max: (lower + width).min(max + 1), count: *count }
        })
        .collect()
}

/// Groups `option=value` pair counts into one facet per option, options and values sorted.
pub fn option_facets(mut pairs: Vec<(String, i64)>) -> Vec<OptionFacet> {
    pairs.sort();
    let mut facets: Vec<OptionFacet> = Vec::new();
    for (pair, count) in pairs {
        let Some((name, value)) = pair.split_once('=') else { continue };
        let value = FacetValue { value: value.to_owned(), label: value.to_owned(), count };
        match facets.last_mut() {
            Some(facet) if facet.name == name => facet.values.push(value),
            _ => facets.push(OptionFacet { name: name.to_owned(), values: vec![value] }),
        }
    }
    facets
}

/// The 1-based bucket of `price` for [`price_buckets`].
pub fn bucket_of(price: i64, min: i64, max: i64, buckets: i64) -> i64 {
    let width = ((max + 1 - min) + buckets - 1) / buckets.max(1);
    (price - min) / width.max(1) + 1
}

/// Reads `what` of a search through the shop's cache when the engine indexes at commit
/// (PostgreSQL): a change then moves the cache generation after the index has it. MeiliSearch
/// follows changes through the outbox, after their commit, so a result cached in between could
/// outlive the change: it is asked every time (it answers from memory).
pub async fn cached<T, F>(
    cache: &Cache,
    engine: &dyn SearchEngine,
    shop: ShopId,
    what: &str,
    params: &str,
    load: F,
) -> crate::error::AppResult<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
    F: std::future::Future<Output = crate::error::AppResult<T>>,
{
    if engine.indexes_through_outbox() {
        load.await
    } else {
        cache.read(shop, what, params, load).await
    }
}

/// The shop's synonyms, as stored in its schema (the source of truth for both engines).
pub async fn load_synonyms(conn: &mut sqlx::PgConnection) -> crate::error::AppResult<Synonyms> {
    let rows: Vec<(String, Vec<String>)> =
        sqlx::query_as("select term, synonyms from search_synonyms order by term")
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::{bucket_of, price_buckets};

    #[test]
    fn price_buckets_cover_the_range_without_overlap() {
        let buckets = price_buckets(100, 599, 5, &[(1, 2), (3, 1), (5, 4)]);
        let bounds: Vec<(i64, i64, i64)> =
            buckets.iter().map(|b| (b.min, b.max, b.count)).collect();
        assert_eq!(bounds, [(100, 200, 2), (300, 400, 1), (500, 600, 4)]);
        assert!(price_buckets(5, 4, 5, &[]).is_empty());
        assert_eq!(price_buckets(700, 700, 5, &[(1, 3)])[0].max, 701);
        assert_eq!([100, 199, 200, 599].map(|p| bucket_of(p, 100, 599, 5)), [1, 1, 2, 5]);
    }
}
