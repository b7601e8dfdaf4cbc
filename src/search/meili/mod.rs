//! MeiliSearch engine (`meilisearch-sdk`): one index per shop, `shop_<shop id as hex>`.
//!
//! Placement: `MEILI_URL` may list several nodes (comma-separated); a shop's index lives on
//! the node picked by its id ([`node_for`]), so a large fleet spreads over nodes. MeiliSearch
//! keeps only a limited number of indexes open at once (20 by default on Linux) and degrades
//! with hundreds of busy indexes: size the fleet per node accordingly (README, "Search").
//! Changing the node list moves shops: run `shopfleet reindex` afterwards.
//!
//! Documents come from `document::load_documents` through the outbox; only active products
//! are indexed. Every call has a timeout, and a node that does not answer is reported as
//! [`SearchError::Unavailable`] (503 `search_unavailable` on the API), never a hang.
//!
//! A shop whose index does not exist yet (it was created while MeiliSearch was down, and its
//! `shop.created` outbox row has not been retried yet) answers searches and suggestions with
//! **empty results**, not an error: Meili's 404 `index_not_found` means "nothing indexed yet"
//! ([`is_missing_index`]). The read path does not create the index: index creation stays with
//! the outbox (`shop.created`, made due at once when MeiliSearch comes back, see
//! `search::health`), so a search racing a shop's purge cannot resurrect its index. Writes of
//! documents and synonyms to a missing index create it with its settings first, whatever order
//! the outbox rows are retried in.
//!
//! Rule: filters are built only by [`filter_for`], which quotes every value.

use std::time::Duration;

use async_trait::async_trait;
use meilisearch_sdk::DefaultHttpClient;
use meilisearch_sdk::client::Client;
use meilisearch_sdk::documents::DocumentsQuery;
use meilisearch_sdk::errors::{Error as MeiliError, ErrorCode};
use meilisearch_sdk::indexes::Index;
use meilisearch_sdk::search::Selectors;
use meilisearch_sdk::settings::{FacetingSettings, Settings};
use serde_json::json;
use uuid::Uuid;

use super::{
    FacetValue, Facets, ProductDocument, SearchEngine, SearchError, SearchHit, SearchQuery,
    SearchResults, SearchSort, Suggestion, Synonyms, bucket_of, option_facets, price_buckets,
};
use crate::tenancy::{ShopId, Tenant};

const PRICE_BUCKETS: i64 = 5;

/// Settings of the MeiliSearch engine.
#[derive(Clone)]
pub struct MeiliConfig {
    /// One or more node URLs.
    pub urls: Vec<String>,
    /// Admin API key (manages indexes and documents).
    pub api_key: Option<String>,
    /// A search-only API key and its uid, parent of the tenant tokens given to storefronts.
    pub search_key: Option<(String, String)>,
    pub timeout: Duration,
    /// Lifetime of tenant tokens.
    pub token_ttl: Duration,
}

pub struct MeiliEngine {
    nodes: Vec<(String, Client)>,
    config: MeiliConfig,
}

/// Name of a shop's index.
pub fn index_uid(shop: ShopId) -> String {
    format!("shop_{}", shop.0.simple())
}

/// The node (index into the URL list) holding a shop's index: stable for a given list.
pub fn node_for(shop: ShopId, nodes: usize) -> usize {
    let bytes = shop.0.as_bytes();
    // The last 8 bytes of a UUIDv7 are random: an even spread.
    let tail = u64::from_be_bytes([
        bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15],
    ]);
    usize::try_from(tail % nodes.max(1) as u64).unwrap_or(0)
}

/// A MeiliSearch filter string value: double-quoted, with `"` and `\` escaped.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The filter expression of a query. Categories are alternatives; every other condition must
/// hold.
pub fn filter_for(q: &SearchQuery) -> String {
    let mut parts = vec!["active = true".to_owned()];
    if !q.categories.is_empty() {
        let any: Vec<String> =
            q.categories.iter().map(|slug| format!("category_slugs = {}", quoted(slug))).collect();
        parts.push(format!("({})", any.join(" OR ")));
    }
    if let Some(min) = q.min_price {
        parts.push(format!("price_min >= {min}"));
    }
    if let Some(max) = q.max_price {
        parts.push(format!("price_min <= {max}"));
    }
    if q.in_stock {
        parts.push("in_stock = true".to_owned());
    }
    let pair_field = if q.in_stock { "in_stock_option_pairs" } else { "option_pairs" };
    for (name, value) in &q.options {
        parts.push(format!("{pair_field} = {}", quoted(&format!("{name}={value}"))));
    }
    parts.join(" AND ")
}

/// Index settings applied to every shop's index.
pub fn index_settings(synonyms: &Synonyms) -> Settings {
    Settings::new()
        .with_searchable_attributes([
            "name",
            "name_joined",
            "category_names",
            "option_values",
            "skus",
            "description",
            "text_joined",
        ])
        .with_filterable_attributes([
            "active",
            "category_slugs",
            "price_min",
            "in_stock",
            "option_pairs",
            "in_stock_option_pairs",
        ])
        .with_sortable_attributes(["price_min", "created_at"])
        .with_faceting(FacetingSettings { max_values_per_facet: 1000, sort_facet_values_by: None })
        .with_synonyms(synonyms.clone().into_iter().collect())
}

fn sort_for(q: &SearchQuery) -> &'static [&'static str] {
    match q.sort {
        SearchSort::PriceAsc => &["price_min:asc"],
        SearchSort::PriceDesc => &["price_min:desc"],
        SearchSort::Newest => &["created_at:desc"],
        SearchSort::Relevance if q.text.trim().is_empty() => &["created_at:desc"],
        SearchSort::Relevance => &[],
    }
}

/// Claims of a tenant token: search this shop's index only, active products only.
pub fn tenant_search_rules(shop: ShopId) -> serde_json::Value {
    json!({ index_uid(shop): { "filter": "active = true" } })
}

fn unavailable(err: impl std::fmt::Display) -> SearchError {
    SearchError::Unavailable(err.to_string())
}

/// Whether MeiliSearch answered that the index does not exist (404 `index_not_found`).
pub fn is_missing_index(err: &MeiliError) -> bool {
    matches!(err, MeiliError::Meilisearch(err) if err.error_code == ErrorCode::IndexNotFound)
}

/// What an SDK call came to: its value, or the [`SearchError`] it means. `None` is a timeout.
fn outcome<T>(result: Option<Result<T, MeiliError>>) -> Result<T, SearchError> {
    match result {
        None => Err(unavailable("timed out")),
        Some(Err(MeiliError::HttpError(err))) => Err(unavailable(err)),
        Some(Err(MeiliError::Meilisearch(err))) => Err(SearchError::Engine(err.to_string())),
        Some(Err(err)) => Err(SearchError::Engine(err.to_string())),
        Some(Ok(value)) => Ok(value),
    }
}

/// The results of a search in an index that does not exist yet: nothing, on the asked page.
pub fn empty_results(q: &SearchQuery) -> SearchResults {
    SearchResults {
        hits: Vec::new(),
        total: 0,
        page: q.page,
        per_page: q.per_page,
        facets: Facets::default(),
    }
}

/// Documents listed per request when reading back an index's ids.
const IDS_PAGE: usize = 1000;

/// The request listing the ids of an index's documents from `offset` on, one page.
pub fn ids_page<'a>(index: &'a Index, offset: usize) -> DocumentsQuery<'a, DefaultHttpClient> {
    let mut query = DocumentsQuery::new(index);
    query.with_fields(["id"]).with_limit(IDS_PAGE).with_offset(offset);
    query
}

/// Only the id of a listed document.
#[derive(serde::Deserialize)]
struct IdOnly {
    id: Uuid,
}

impl MeiliEngine {
    pub fn new(config: MeiliConfig) -> Result<Self, SearchError> {
        let nodes = config
            .urls
            .iter()
            .map(|url| {
                let url = url.trim().trim_end_matches('/').to_owned();
                Client::new(url.clone(), config.api_key.clone()).map(|client| (url, client))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| SearchError::Engine(err.to_string()))?;
        if nodes.is_empty() {
            return Err(SearchError::Engine("MEILI_URL lists no node".into()));
        }
        Ok(Self { nodes, config })
    }

    fn node(&self, shop: ShopId) -> &(String, Client) {
        &self.nodes[node_for(shop, self.nodes.len())]
    }

    /// Runs one SDK call with the engine's timeout; transport failures mean "unavailable".
    async fn call<T>(
        &self,
        future: impl std::future::Future<Output = Result<T, MeiliError>>,
    ) -> Result<T, SearchError> {
        outcome(tokio::time::timeout(self.config.timeout, future).await.ok())
    }

    /// [`Self::call`] for a read of a shop's index: `None` if the index does not exist.
    async fn read<T>(
        &self,
        future: impl std::future::Future<Output = Result<T, MeiliError>>,
    ) -> Result<Option<T>, SearchError> {
        match tokio::time::timeout(self.config.timeout, future).await {
            Ok(Err(err)) if is_missing_index(&err) => Ok(None),
            result => outcome(result.ok()).map(Some),
        }
    }

    /// Creates the shop's index with its settings if it does not exist. MeiliSearch would
    /// create a missing index on the first documents or synonyms, but without the settings (no
    /// filterable attribute: every search would then fail), as when a product's indexing runs
    /// before its shop's `shop.created` row, retried later, after an outage.
    async fn ensure_index(&self, tenant: &Tenant) -> Result<(), SearchError> {
        let (_, client) = self.node(tenant.id);
        if self.read(client.get_index(index_uid(tenant.id))).await?.is_none() {
            self.create_index(tenant).await?;
        }
        Ok(())
    }

    /// Whether each node answers its health check (in `MEILI_URL` order), each within the
    /// engine's timeout.
    pub async fn nodes_healthy(&self) -> Vec<bool> {
        futures::future::join_all(self.nodes.iter().map(|(_, client)| async move {
            tokio::time::timeout(self.config.timeout, client.is_healthy()).await.unwrap_or(false)
        }))
        .await
    }

    /// A tenant token for a storefront to query its shop's index from the browser:
    /// `(token, node URL, index uid, expiry as Unix seconds)`.
    pub fn tenant_token(
        &self,
        tenant: &Tenant,
    ) -> Result<(String, String, String, i64), SearchError> {
        let (key, uid) = self.config.search_key.clone().ok_or_else(|| {
            SearchError::Engine("MEILI_SEARCH_KEY and MEILI_SEARCH_KEY_UID are not set".into())
        })?;
        let ttl = i64::try_from(self.config.token_ttl.as_secs()).unwrap_or(3600);
        let expires = time::OffsetDateTime::now_utc() + time::Duration::seconds(ttl);
        let (url, client) = self.node(tenant.id);
        let token = client
            .generate_tenant_token(uid, tenant_search_rules(tenant.id), Some(&key), Some(expires))
            .map_err(|err| SearchError::Engine(err.to_string()))?;
        Ok((token, url.clone(), index_uid(tenant.id), expires.unix_timestamp()))
    }
}

#[async_trait]
impl SearchEngine for MeiliEngine {
    fn name(&self) -> &'static str {
        "meilisearch"
    }

    fn indexes_through_outbox(&self) -> bool {
        true
    }

    async fn create_index(&self, tenant: &Tenant) -> Result<(), SearchError> {
        let (_, client) = self.node(tenant.id);
        // Creating an existing index fails as a task, not as a call: idempotent as wanted.
        self.call(client.create_index(index_uid(tenant.id), Some("id"))).await?;
        self.call(
            client.index(index_uid(tenant.id)).set_settings(&index_settings(&Synonyms::new())),
        )
        .await?;
        Ok(())
    }

    async fn delete_index(&self, shop: ShopId) -> Result<(), SearchError> {
        let (_, client) = self.node(shop);
        self.call(client.index(index_uid(shop)).delete()).await?;
        Ok(())
    }

    async fn upsert(
        &self,
        tenant: &Tenant,
        documents: &[ProductDocument],
    ) -> Result<(), SearchError> {
        if documents.is_empty() {
            return Ok(());
        }
        self.ensure_index(tenant).await?;
        let (_, client) = self.node(tenant.id);
        self.call(client.index(index_uid(tenant.id)).add_or_replace(documents, Some("id"))).await?;
        Ok(())
    }

    async fn remove(&self, tenant: &Tenant, ids: &[Uuid]) -> Result<(), SearchError> {
        if ids.is_empty() {
            return Ok(());
        }
        let (_, client) = self.node(tenant.id);
        self.call(client.index(index_uid(tenant.id)).delete_documents(ids)).await?;
        Ok(())
    }

    async fn indexed_ids(&self, tenant: &Tenant) -> Result<Vec<Uuid>, SearchError> {
        let (_, client) = self.node(tenant.id);
        let index = client.index(index_uid(tenant.id));
        let mut ids = Vec::new();
        loop {
            let query = ids_page(&index, ids.len());
            let Some(page) = self.read(index.get_documents_with::<IdOnly>(&query)).await? else {
                return Ok(ids); // no index yet: nothing in it
            };
            let listed = page.results.len();
            ids.extend(page.results.into_iter().map(|doc| doc.id));
            if listed < IDS_PAGE {
                return Ok(ids);
            }
        }
    }

    async fn search(&self, tenant: &Tenant, q: &SearchQuery) -> Result<SearchResults, SearchError> {
        let (_, client) = self.node(tenant.id);
        let index = client.index(index_uid(tenant.id));
        let filter = filter_for(q);
        let pair_facet = if q.in_stock { "in_stock_option_pairs" } else { "option_pairs" };
        let facets = ["category_slugs", pair_facet, "price_min"];
        let page = usize::try_from(q.page).unwrap_or(1);
        let per_page = usize::try_from(q.per_page).unwrap_or(20);
        let mut request = index.search();
        request
            .with_query(&q.text)
            .with_filter(&filter)
            .with_sort(sort_for(q))
            .with_facets(Selectors::Some(&facets))
            .with_page(page)
            .with_hits_per_page(per_page);
        let Some(results) = self.read(request.execute::<ProductDocument>()).await? else {
            return Ok(empty_results(q));
        };

        let distribution = results.facet_distribution.unwrap_or_default();
        let counts = |facet: &str| -> Vec<(String, i64)> {
            distribution
                .get(facet)
                .map(|values| {
                    values
                        .iter()
                        .map(|(v, n)| (v.clone(), i64::try_from(*n).unwrap_or(0)))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut categories: Vec<FacetValue> = counts("category_slugs")
            .into_iter()
            .map(|(slug, count)| FacetValue { label: slug.clone(), value: slug, count })
            .collect();
        categories.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        let price = results
            .facet_stats
            .as_ref()
            .and_then(|stats| stats.get("price_min"))
            .map(|stats| {
                let (lo, hi) = (stats.min as i64, stats.max as i64);
                let mut buckets = std::collections::BTreeMap::new();
                for (price, count) in counts("price_min") {
                    if let Ok(price) = price.parse::<f64>() {
                        *buckets
                            .entry(bucket_of(price as i64, lo, hi, PRICE_BUCKETS))
                            .or_insert(0) += count;
                    }
                }
                price_buckets(lo, hi, PRICE_BUCKETS, &buckets.into_iter().collect::<Vec<_>>())
            })
            .unwrap_or_default();

        Ok(SearchResults {
            hits: results
                .hits
                .into_iter()
                .map(|hit| SearchHit {
                    id: hit.result.id,
                    name: hit.result.name,
                    slug: hit.result.slug,
                    price_min: hit.result.price_min,
                    price_max: hit.result.price_max,
                    in_stock: hit.result.in_stock,
                })
                .collect(),
            total: i64::try_from(results.total_hits.unwrap_or(0)).unwrap_or(0),
            page: q.page,
            per_page: q.per_page,
            facets: Facets { categories, price, options: option_facets(counts(pair_facet)) },
        })
    }

    async fn suggest(
        &self,
        tenant: &Tenant,
        text: &str,
        limit: usize,
    ) -> Result<Vec<Suggestion>, SearchError> {
        let (_, client) = self.node(tenant.id);
        let index = client.index(index_uid(tenant.id));
        let mut request = index.search();
        request
            .with_query(text)
            .with_filter("active = true")
            .with_limit(limit)
            .with_attributes_to_retrieve(Selectors::Some(&["name", "slug"]));
        let Some(results) = self.read(request.execute::<serde_json::Value>()).await? else {
            return Ok(Vec::new());
        };
        Ok(results
            .hits
            .into_iter()
            .filter_map(|hit| {
                Some(Suggestion {
                    name: hit.result.get("name")?.as_str()?.to_owned(),
                    slug: hit.result.get("slug")?.as_str()?.to_owned(),
                })
            })
            .collect())
    }

    async fn apply_synonyms(
        &self,
        tenant: &Tenant,
        synonyms: &Synonyms,
    ) -> Result<(), SearchError> {
        self.ensure_index(tenant).await?;
        let (_, client) = self.node(tenant.id);
        let map: std::collections::HashMap<String, Vec<String>> =
            synonyms.clone().into_iter().collect();
        self.call(client.index(index_uid(tenant.id)).set_synonyms(&map)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
