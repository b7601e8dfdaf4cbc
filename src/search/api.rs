//! `GET /v1/store/search`, `GET /v1/store/search/suggest`, `GET /v1/store/search/token` and
//! `GET/PUT /v1/admin/search/synonyms`.

use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use std::sync::Arc;

use super::SearchEngine;
use super::meili::MeiliEngine;
use super::{SearchQuery, SearchResults, SearchSort, Suggestion, Synonyms, load_synonyms};
use crate::auth::permission::Permission;
use crate::auth::principal::StaffAuth;
use crate::auth::rbac::Rbac;
use crate::cache::Cache;
use crate::error::{AppError, AppResult, ShopReadErrors};
use crate::error_responses;
use crate::events;
use crate::tenancy::{DbPool, Tenant, TenantTx};

/// Storefront search and the synonyms admin API. It holds its own handles, not the app state:
/// the search module sits below the state that holds its engine.
pub struct SearchApi {
    pub pool: DbPool,
    pub rbac: Rbac,
    pub engine: Arc<dyn SearchEngine>,
    /// The same engine when it is MeiliSearch: tenant tokens need its keys.
    pub meili: Option<Arc<MeiliEngine>>,
    /// Searches and suggestions are cached per shop (see [`super::cached`]).
    pub cache: Cache,
}

#[derive(Debug, Object)]
pub struct SearchResponse {
    #[oai(flatten)]
    pub results: SearchResults,
    /// ISO 4217 code of every price.
    pub currency: String,
    /// Which engine answered: `postgres` or `meilisearch`.
    pub engine: String,
}

#[derive(Debug, Object)]
pub struct SearchToken {
    /// A MeiliSearch tenant token: searches this shop's index only, active products only.
    pub token: String,
    /// The MeiliSearch node to send searches to.
    pub url: String,
    pub index: String,
    /// Unix seconds.
    pub expires_at: i64,
}

#[derive(Debug, Object)]
pub struct SynonymsBody {
    /// A query word (key) also matches each of its values, e.g. `{"tee": ["t-shirt"]}`.
    /// One-way: list both directions for mutual synonyms. Keys are single words, stored
    /// lowercase without accents.
    pub synonyms: Synonyms,
}

error_responses!(SearchErrors { 400 BadRequest, 403 Forbidden, 404 NotFound, 422 Unprocessable, 429 TooManyRequests, 503 Unavailable });
error_responses!(SynonymErrors { 400 BadRequest, 401 Unauthorized, 403 Forbidden, 404 NotFound, 422 Unprocessable, 429 TooManyRequests });

const MAX_SYNONYM_KEYS: usize = 500;

fn parse_option(raw: &str) -> AppResult<(String, String)> {
    match raw.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() && !value.trim().is_empty() => {
            Ok((name.trim().to_lowercase(), value.trim().to_owned()))
        }
        _ => Err(AppError::validation("option", "use option=<name>:<value>, e.g. option=size:M")),
    }
}

#[OpenApi(prefix_path = "/v1", tag = "crate::openapi_tags::Tag::Storefront")]
impl SearchApi {
    /// Search the shop's active products
    ///
    /// Free text over name, description, SKU, category names and option values, typo
    /// tolerant, with the shop's synonyms; filters; sorts; facet counts for categories, price
    /// buckets and option values. `search_unavailable` (503) when the engine is down.
    #[oai(path = "/store/search", method = "get")]
    async fn search(
        &self,
        tenant: Data<&Tenant>,
        /// Free text; may be empty to browse with filters.
        #[oai(validator(max_length = 200))]
        q: Query<Option<String>>,
        /// Category slug (repeatable: any of them); includes subcategories.
        category: Query<Vec<String>>,
        /// Lowest price, minor units.
        min_price: Query<Option<i64>>,
        /// Highest price, minor units.
        max_price: Query<Option<i64>>,
        /// Only products (and option values) in stock.
        in_stock: Query<Option<bool>>,
        /// `name:value` (repeatable: all of them), e.g. `size:M`.
        option: Query<Vec<String>>,
        sort: Query<Option<SearchSort>>,
        /// 1-based, default 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        page: Query<Option<u32>>,
        /// 1–100, default 20.
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        per_page: Query<Option<u32>>,
    ) -> Result<Json<SearchResponse>, SearchErrors> {
        let text = q.0.unwrap_or_default();
        if text.chars().count() > 200 {
            return Err(AppError::validation("q", "at most 200 characters").into());
        }
        let per_page = match per_page.0 {
            None => 20,
            Some(n @ 1..=100) => n,
            Some(_) => {
                return Err(AppError::validation("per_page", "must be between 1 and 100").into());
            }
        };
        let page = match page.0 {
            None => 1,
            Some(n @ 1..=1000) => n,
            Some(_) => {
                return Err(AppError::validation("page", "must be between 1 and 1000").into());
            }
        };
        if let (Some(min), Some(max)) = (min_price.0, max_price.0)
            && min > max
        {
            return Err(AppError::validation("max_price", "must not be below min_price").into());
        }
        let query = SearchQuery {
            sort: sort.0.unwrap_or(SearchSort::Relevance),
            text,
            categories: category.0.into_iter().take(20).collect(),
            min_price: min_price.0,
            max_price: max_price.0,
            in_stock: in_stock.0.unwrap_or(false),
            options: option.0.iter().take(10).map(|o| parse_option(o)).collect::<AppResult<_>>()?,
            page,
            per_page,
        };
        let params = format!("{query:?}");
        let results = super::cached(
            &self.cache,
            self.engine.as_ref(),
            tenant.id,
            "store.search",
            &params,
            async {
                let mut results =
                    self.engine.search(&tenant, &query).await.map_err(AppError::from)?;
                self.label_categories(&tenant, &mut results).await?;
                Ok(results)
            },
        )
        .await?;
        Ok(Json(SearchResponse {
            results,
            currency: tenant.currency.clone(),
            engine: self.engine.name().to_owned(),
        }))
    }

    /// Autocomplete: up to 10 product names for a partial query
    #[oai(path = "/store/search/suggest", method = "get")]
    async fn suggest(
        &self,
        tenant: Data<&Tenant>,
        q: Query<String>,
        /// 1–10, default 10.
        #[oai(validator(minimum(value = "0")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<Vec<Suggestion>>, SearchErrors> {
        let limit = usize::try_from(limit.0.unwrap_or(10).clamp(1, 10)).unwrap_or(10);
        if q.0.chars().count() > 100 {
            return Err(AppError::validation("q", "at most 100 characters").into());
        }
        let params = format!("{limit}:{}", q.0);
        let suggestions = super::cached(
            &self.cache,
            self.engine.as_ref(),
            tenant.id,
            "store.suggest",
            &params,
            async { self.engine.suggest(&tenant, &q.0, limit).await.map_err(AppError::from) },
        )
        .await?;
        Ok(Json(suggestions))
    }

    /// A MeiliSearch tenant token for searching from the browser
    ///
    /// Limited to this shop's index and active products, valid for a short time.
    /// `search_token_unavailable` (404) when the platform searches with PostgreSQL.
    #[oai(path = "/store/search/token", method = "get")]
    async fn token(&self, tenant: Data<&Tenant>) -> Result<Json<SearchToken>, SearchErrors> {
        let Some(meili) = self.meili.as_ref() else {
            return Err(AppError::not_found(
                "search_token_unavailable",
                "this platform does not search with MeiliSearch",
            )
            .into());
        };
        let (token, url, index, expires_at) =
            MeiliEngine::tenant_token(meili, &tenant).map_err(AppError::from)?;
        Ok(Json(SearchToken { token, url, index, expires_at }))
    }

    /// The shop's search synonyms
    #[oai(
        path = "/admin/search/synonyms",
        method = "get",
        tag = "crate::openapi_tags::Tag::Catalog"
    )]
    async fn get_synonyms(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
    ) -> Result<Json<SynonymsBody>, ShopReadErrors> {
        self.rbac.require(&tenant, auth.0.id, Permission::ProductsRead).await?;
        let mut tx = TenantTx::begin(&self.pool, &tenant).await?;
        let synonyms = load_synonyms(&mut tx).await?;
        tx.commit().await?;
        Ok(Json(SynonymsBody { synonyms }))
    }

    /// Replace the shop's search synonyms
    ///
    /// Effective at once on PostgreSQL, within seconds on MeiliSearch.
    #[oai(
        path = "/admin/search/synonyms",
        method = "put",
        tag = "crate::openapi_tags::Tag::Catalog"
    )]
    async fn put_synonyms(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        body: Json<SynonymsBody>,
    ) -> Result<Json<SynonymsBody>, SynonymErrors> {
        self.rbac.require(&tenant, auth.0.id, Permission::ProductsWrite).await?;
        if body.synonyms.len() > MAX_SYNONYM_KEYS {
            return Err(AppError::validation(
                "synonyms",
                format!("at most {MAX_SYNONYM_KEYS} words"),
            )
            .into());
        }
        let mut tx = TenantTx::begin(&self.pool, &tenant).await?;
        sqlx::query("delete from search_synonyms").execute(&mut *tx).await?;
        for (word, list) in &body.synonyms {
            let folded: String = sqlx::query_scalar("select extensions.unaccent(lower(trim($1)))")
                .bind(word)
                .fetch_one(&mut *tx)
                .await?;
            if folded.is_empty()
                || !folded.chars().all(char::is_alphanumeric)
                || folded.chars().count() > 50
            {
                return Err(AppError::validation(
                    "synonyms",
                    format!("'{word}' must be one word of letters and digits"),
                )
                .into());
            }
            let list: Vec<String> = list
                .iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .take(20)
                .collect();
            if list.iter().any(|s| s.chars().count() > 100) {
                return Err(AppError::validation(
                    "synonyms",
                    "synonyms are at most 100 characters",
                )
                .into());
            }
            sqlx::query("insert into search_synonyms (term, synonyms) values ($1, $2) on conflict (term) do update set synonyms = excluded.synonyms")
                .bind(&folded)
                .bind(&list)
                .execute(&mut *tx)
                .await?;
        }
        let synonyms = load_synonyms(&mut tx).await?;
        events::emit(&mut tx, tenant.id, events::EventKind::SynonymsChanged, serde_json::json!({}))
            .await?;
        tx.commit().await?;
        Ok(Json(SynonymsBody { synonyms }))
    }
}

impl SearchApi {
    /// Category facets come back as slugs from either engine; give them their names.
    async fn label_categories(
        &self,
        tenant: &Tenant,
        results: &mut SearchResults,
    ) -> AppResult<()> {
        if results.facets.categories.is_empty() {
            return Ok(());
        }
        let slugs: Vec<String> =
            results.facets.categories.iter().map(|c| c.value.clone()).collect();
        let mut tx = TenantTx::begin(&self.pool, tenant).await?;
        let names: Vec<(String, String)> =
            sqlx::query_as("select slug, name from categories where slug = any($1)")
                .bind(&slugs)
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        for facet in &mut results.facets.categories {
            if let Some((_, name)) = names.iter().find(|(slug, _)| *slug == facet.value) {
                facet.label = name.clone();
            }
        }
        Ok(())
    }
}
