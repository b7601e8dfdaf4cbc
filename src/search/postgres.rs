//! PostgreSQL full-text search inside each shop's schema: the default engine.
//!
//! Products carry a `search_vector` rebuilt by the transaction that writes them, so there is
//! nothing to index afterwards. A query is accent-folded and split into words; each word also
//! matches the shop's lexicon words within its typo allowance (trigram candidates, then an
//! exact edit distance) and its synonyms, and the last word matches as a prefix. Filters and
//! facets use the same derived keys as the MeiliSearch documents (`category_slugs`,
//! `option_pairs`), so both engines agree. Hits, total and every facet come back from one
//! statement.
//!
//! Rule: the query text reaches SQL only as bound parameters and as a `tsquery` built from
//! letters-and-digits words (see `query::tsquery`).

use async_trait::async_trait;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use super::query::{self, Alternatives, allowed_typos, edit_distance};
use super::{
    FacetValue, Facets, ProductDocument, SearchEngine, SearchError, SearchHit, SearchQuery,
    SearchResults, SearchSort, Suggestion, Synonyms, option_facets, price_buckets,
};
use crate::tenancy::{DbPool, ShopId, Tenant, TenantTx};

/// Price buckets in the price facet.
const PRICE_BUCKETS: i64 = 5;
/// Corrections kept per misspelt word.
const MAX_CORRECTIONS: usize = 5;

pub struct PostgresEngine {
    pool: DbPool,
}

impl PostgresEngine {
    pub fn new(pool: DbPool) -> Self {
        Self { pool }
    }
}

/// Folds and splits `text`, and finds each word's corrections and synonyms in the shop's
/// lexicon. The last word also matches as a prefix when `prefix_last` is set.
async fn expand(
    conn: &mut PgConnection,
    text: &str,
    prefix_last: bool,
) -> Result<Vec<Alternatives>, sqlx::Error> {
    let folded: String = sqlx::query_scalar("select extensions.unaccent(lower($1))")
        .bind(text)
        .fetch_one(&mut *conn)
        .await?;
    let words = query::tokens(&folded);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let known: Vec<String> =
        sqlx::query_scalar("select term from search_terms where term = any($1)")
            .bind(&words)
            .fetch_all(&mut *conn)
            .await?;
    let synonyms: Vec<(String, Vec<String>)> = sqlx::query_as(
        "select term, array(select extensions.unaccent(lower(s)) from unnest(synonyms) s) from search_synonyms where term = any($1)",
    )
    .bind(&words)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query("select set_config('pg_trgm.similarity_threshold', '0.2', true)")
        .execute(&mut *conn)
        .await?;

    let last = words.len() - 1;
    let mut expanded = Vec::with_capacity(words.len());
    for (i, word) in words.into_iter().enumerate() {
        let mut corrections = Vec::new();
        let typos = allowed_typos(&word);
        if typos > 0 && !known.contains(&word) {
            let candidates: Vec<String> = sqlx::query_scalar(
                "select term from search_terms where term operator(extensions.%) $1 \
                 order by extensions.similarity(term, $1) desc limit 50",
            )
            .bind(&word)
            .fetch_all(&mut *conn)
            .await?;
            let mut close: Vec<(usize, String)> = candidates
                .into_iter()
                .map(|term| (edit_distance(&word, &term), term))
                .filter(|(distance, _)| *distance <= typos)
                .collect();
            close.sort();
            corrections = close.into_iter().take(MAX_CORRECTIONS).map(|(_, term)| term).collect();
        }
        let groups = synonyms
            .iter()
            .filter(|(term, _)| *term == word)
            .flat_map(|(_, list)| list.iter().map(|s| query::tokens(s)))
            .collect();
        expanded.push(Alternatives {
            word,
            prefix: prefix_last && i == last,
            corrections,
            synonyms: groups,
        });
    }
    Ok(expanded)
}

#[derive(sqlx::FromRow)]
struct ResultRow {
    total: i64,
    hits: Json<Vec<SearchHit>>,
    categories: Json<Vec<FacetValue>>,
    options: Json<Vec<(String, i64)>>,
    prices: Json<Vec<(i64, i64)>>,
    lo: Option<i64>,
    hi: Option<i64>,
}

fn order_by(sort: SearchSort) -> &'static str {
    match sort {
        SearchSort::Relevance => "rank desc, id desc",
        SearchSort::PriceAsc => "price_min, id",
        SearchSort::PriceDesc => "price_min desc, id desc",
        SearchSort::Newest => "id desc",
    }
}

#[async_trait]
impl SearchEngine for PostgresEngine {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn indexes_through_outbox(&self) -> bool {
        false
    }

    async fn create_index(&self, _tenant: &Tenant) -> Result<(), SearchError> {
        Ok(()) // the index is part of the shop's schema (tenant migration 0005)
    }

    async fn delete_index(&self, _shop: ShopId) -> Result<(), SearchError> {
        Ok(()) // dropped with the shop's schema
    }

    async fn upsert(
        &self,
        _tenant: &Tenant,
        _documents: &[ProductDocument],
    ) -> Result<(), SearchError> {
        Ok(()) // indexed at commit by `document::refresh_search_vector`
    }

    async fn remove(&self, _tenant: &Tenant, _ids: &[Uuid]) -> Result<(), SearchError> {
        Ok(())
    }

    async fn indexed_ids(&self, _tenant: &Tenant) -> Result<Vec<Uuid>, SearchError> {
        Ok(Vec::new())
    }

    async fn search(&self, tenant: &Tenant, q: &SearchQuery) -> Result<SearchResults, SearchError> {
        let mut tx = TenantTx::begin(&self.pool, tenant).await?;
        let words = expand(&mut tx, &q.text, false).await?;
        let tsquery = query::tsquery(&words);
        let pairs: Vec<String> =
            q.options.iter().map(|(name, value)| format!("{name}={value}")).collect();
        let sql = format!(
            "with matched as ( \
                 select p.id, p.name, p.slug, p.price_min, p.price_max, p.total_stock > 0 as in_stock, \
                     p.category_slugs, case when $5 then p.in_stock_option_pairs else p.option_pairs end as pairs, \
                     case when $1::text is null then 0 \
                          else ts_rank_cd('{{0.1, 0.4, 0.7, 1.0}}', p.search_vector, to_tsquery('simple', $1)) end as rank \
                 from products p \
                 where p.status = 'active' \
                   and ($1::text is null or p.search_vector @@ to_tsquery('simple', $1)) \
                   and (cardinality($2::text[]) = 0 or p.category_slugs && $2) \
                   and ($3::bigint is null or p.price_min >= $3) \
                   and ($4::bigint is null or p.price_min <= $4) \
                   and (not $5 or p.total_stock > 0) \
                   and (case when $5 then p.in_stock_option_pairs else p.option_pairs end) @> $6), \
             page as ( \
                 select id, name, slug, price_min, price_max, in_stock, row_number() over (order by {order}) as position \
                 from matched order by {order} limit $7 offset $8), \
             category_counts as ( \
                 select cs as value, cs as label, count(*) as count from matched, unnest(category_slugs) as cs group by cs), \
             option_counts as ( \
                 select pair, count(*) as count from matched, unnest(pairs) as pair group by pair), \
             bounds as (select min(price_min) as lo, max(price_min) as hi from matched), \
             price_counts as ( \
                 select (m.price_min - b.lo) / greatest(1, ((b.hi + 1 - b.lo) + {buckets} - 1) / {buckets}) + 1 as bucket, \
                     count(*) as count \
                 from matched m, bounds b group by 1) \
             select (select count(*) from matched) as total, \
                 (select coalesce(json_agg(json_build_object('id', id, 'name', name, 'slug', slug, 'price_min', price_min, \
                      'price_max', price_max, 'in_stock', in_stock) order by position), '[]') from page) as hits, \
                 (select coalesce(json_agg(category_counts order by count desc, value), '[]') from category_counts) as categories, \
                 (select coalesce(json_agg(json_build_array(pair, count) order by pair), '[]') from option_counts) as options, \
                 (select coalesce(json_agg(json_build_array(bucket, count) order by bucket), '[]') from price_counts) as prices, \
                 (select lo from bounds) as lo, (select hi from bounds) as hi",
            order = order_by(q.sort),
            buckets = PRICE_BUCKETS,
        );
        let per_page = i64::from(q.per_page);
        let row: ResultRow = sqlx::query_as(&sql)
            .bind(&tsquery)
            .bind(&q.categories)
            .bind(q.min_price)
            .bind(q.max_price)
            .bind(q.in_stock)
            .bind(&pairs)
            .bind(per_page)
            .bind(per_page * i64::from(q.page.saturating_sub(1)))
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;

        let options = option_facets(row.options.0);
        let price = match (row.lo, row.hi) {
            (Some(lo), Some(hi)) => price_buckets(lo, hi, PRICE_BUCKETS, &row.prices.0),
            _ => Vec::new(),
        };
        Ok(SearchResults {
            hits: row.hits.0,
            total: row.total,
            page: q.page,
            per_page: q.per_page,
            facets: Facets { categories: row.categories.0, price, options },
        })
    }

    async fn suggest(
        &self,
        tenant: &Tenant,
        text: &str,
        limit: usize,
    ) -> Result<Vec<Suggestion>, SearchError> {
        let mut tx = TenantTx::begin(&self.pool, tenant).await?;
        let words = expand(&mut tx, text, true).await?;
        let Some(tsquery) = query::tsquery(&words) else {
            return Ok(Vec::new());
        };
        let suggestions: Vec<(String, String)> = sqlx::query_as(
            "select name, slug from products where status = 'active' and search_vector @@ to_tsquery('simple', $1) \
             order by ts_rank_cd('{0.1, 0.4, 0.7, 1.0}', search_vector, to_tsquery('simple', $1)) desc, id desc limit $2",
        )
        .bind(&tsquery)
        .bind(i64::try_from(limit).unwrap_or(10))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(suggestions.into_iter().map(|(name, slug)| Suggestion { name, slug }).collect())
    }

    async fn apply_synonyms(
        &self,
        _tenant: &Tenant,
        _synonyms: &Synonyms,
    ) -> Result<(), SearchError> {
        Ok(()) // read from the shop's schema at query time
    }
}
