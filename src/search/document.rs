//! The searchable document of a product, built from PostgreSQL for both engines: MeiliSearch
//! stores it as is; PostgreSQL turns it into the product's `search_vector` in the writing
//! transaction ([`refresh_search_vector`]).
//!
//! Rule: documents are always rebuilt from the database, never from an event's payload, so a
//! replayed or late event converges on the current state.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use super::SearchEngine;
use crate::tenancy::{DbPool, Tenant, TenantTx};

/// The part of a product option (`products.options`) the document needs: its name.
#[derive(Debug, Deserialize)]
struct ProductOption {
    name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductDocument {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub description: String,
    /// Only active products are in a search index.
    pub active: bool,
    pub skus: Vec<String>,
    /// Every option value of every variant, for full text.
    pub option_values: Vec<String>,
    /// `name=value` (option name lowercased) of every variant: filters and facets.
    pub option_pairs: Vec<String>,
    /// The same, of variants in stock only.
    pub in_stock_option_pairs: Vec<String>,
    /// The product's categories and all their ancestors.
    pub category_slugs: Vec<String>,
    pub category_names: Vec<String>,
    pub price_min: i64,
    pub price_max: i64,
    pub in_stock: bool,
    /// Unix seconds, for "newest".
    pub created_at: i64,
    /// The name's hyphenated words joined ("T-Shirt" → "TShirt"), searchable on MeiliSearch,
    /// which splits "T-Shirt" into "t" and "shirt": `tshrit` then finds it within one typo, as
    /// on PostgreSQL (whose search vector gets the same words from [`indexable`]). Absent from
    /// documents indexed before it existed: `shopfleet reindex` adds it.
    #[serde(default)]
    pub name_joined: Vec<String>,
    /// The same for SKUs, option values, category names and description.
    #[serde(default)]
    pub text_joined: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct ProductRow {
    id: Uuid,
    name: String,
    slug: String,
    description: String,
    status: String,
    options: sqlx::types::Json<Vec<ProductOption>>,
    price_min: i64,
    price_max: i64,
    total_stock: i64,
    created_at: DateTime<Utc>,
    category_slugs: Vec<String>,
    category_names: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct VariantRow {
    product_id: Uuid,
    sku: Option<String>,
    option_values: Vec<String>,
    stock: i32,
}

/// Builds the documents of `ids` (products that do not exist are left out).
pub async fn load_documents(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<Vec<ProductDocument>, sqlx::Error> {
    let products: Vec<ProductRow> = sqlx::query_as(
        "with recursive cats (product_id, id, parent_id, slug, name, depth) as ( \
             select pc.product_id, c.id, c.parent_id, c.slug, c.name, 1 from product_categories pc \
             join categories c on c.id = pc.category_id where pc.product_id = any($1) \
             union \
             select cats.product_id, c.id, c.parent_id, c.slug, c.name, cats.depth + 1 from cats \
             join categories c on c.id = cats.parent_id where cats.depth < $2) \
         select p.id, p.name, p.slug, p.description, p.status, p.options, p.price_min, p.price_max, p.total_stock, p.created_at, \
             coalesce((select array_agg(distinct cats.slug) from cats where cats.product_id = p.id), '{}') as category_slugs, \
             coalesce((select array_agg(distinct cats.name) from cats where cats.product_id = p.id), '{}') as category_names \
         from products p where p.id = any($1) order by p.id",
    )
    .bind(ids)
    .bind(crate::values::MAX_CATEGORY_DEPTH)
    .fetch_all(&mut *conn)
    .await?;
    let variants: Vec<VariantRow> = sqlx::query_as(
        "select product_id, sku, option_values, stock from variants where product_id = any($1) order by product_id, position",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;

    Ok(products
        .into_iter()
        .map(|p| {
            let option_names: Vec<String> =
                p.options.0.iter().map(|o| o.name.to_lowercase()).collect();
            let (mut skus, mut values, mut pairs, mut in_stock_pairs) =
                (Vec::new(), BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
            for v in variants.iter().filter(|v| v.product_id == p.id) {
                skus.extend(v.sku.clone());
                for (name, value) in option_names.iter().zip(&v.option_values) {
                    values.insert(value.clone());
                    pairs.insert(format!("{name}={value}"));
                    if v.stock > 0 {
                        in_stock_pairs.insert(format!("{name}={value}"));
                    }
                }
            }
            let name_joined = joined_words(&p.name);
            let text_joined = skus
                .iter()
                .chain(&values)
                .chain(&p.category_names)
                .chain(std::iter::once(&p.description))
                .flat_map(|text| joined_words(text))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            ProductDocument {
                name_joined,
                text_joined,
                id: p.id,
                name: p.name,
                slug: p.slug,
                description: p.description,
                active: p.status == "active",
                skus,
                option_values: values.into_iter().collect(),
                option_pairs: pairs.into_iter().collect(),
                in_stock_option_pairs: in_stock_pairs.into_iter().collect(),
                category_slugs: p.category_slugs,
                category_names: p.category_names,
                price_min: p.price_min,
                price_max: p.price_max,
                in_stock: p.total_stock > 0,
                created_at: p.created_at.timestamp(),
            }
        })
        .collect())
}

/// Text as the query side sees it (`query::tokens`): runs of letters and digits separated by
/// spaces, so PostgreSQL's parser cannot read "MUG-42" as "mug" and "-42". Hyphenated words
/// also appear joined ("T-Shirt" → "T Shirt TShirt"), so a query typed without the hyphen
/// still finds them.
fn indexable(text: &str) -> String {
    let words: String = text.chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    let joined = joined_words(text);
    let words = words.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.is_empty() { words } else { format!("{words} {}", joined.join(" ")) }
}

/// The hyphenated words of `text`, joined: "Classic T-Shirt, MUG-42" → ["TShirt", "MUG42"].
fn joined_words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter(|w| w.contains('-'))
        .map(|w| w.chars().filter(|c| c.is_alphanumeric()).collect::<String>())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Rebuilds the PostgreSQL search columns of products (in the caller's transaction, so the
/// change is searchable at commit) and adds their words to the shop's typo lexicon.
pub async fn refresh_search_vector(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<(), sqlx::Error> {
    for doc in load_documents(conn, ids).await? {
        let secondary =
            [doc.skus.join(" "), doc.option_values.join(" "), doc.category_names.join(" ")]
                .join(" ");
        sqlx::query(
            "update products set search_vector = \
                 setweight(to_tsvector('simple', extensions.unaccent(lower($2))), 'A') || \
                 setweight(to_tsvector('simple', extensions.unaccent(lower($3))), 'B') || \
                 setweight(to_tsvector('simple', extensions.unaccent(lower($4))), 'C'), \
                 category_slugs = $5, option_pairs = $6, in_stock_option_pairs = $7 \
             where id = $1",
        )
        .bind(doc.id)
        .bind(indexable(&doc.name))
        .bind(indexable(&secondary))
        .bind(indexable(&doc.description))
        .bind(&doc.category_slugs)
        .bind(&doc.option_pairs)
        .bind(&doc.in_stock_option_pairs)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "insert into search_terms (term) \
             select lexeme from products, unnest(tsvector_to_array(search_vector)) as lexeme \
             where id = $1 and length(lexeme) >= 3 on conflict do nothing",
        )
        .bind(doc.id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Brings one product's entry in an outbox-fed engine up to date with the database.
pub async fn index_from_database(
    pool: &DbPool,
    engine: &dyn SearchEngine,
    tenant: &Tenant,
    product: Uuid,
) -> anyhow::Result<()> {
    let mut tx = TenantTx::begin(pool, tenant).await?;
    let documents = load_documents(&mut tx, &[product]).await?;
    tx.commit().await?;
    match documents.into_iter().next() {
        Some(doc) if doc.active => engine.upsert(tenant, &[doc]).await?,
        _ => engine.remove(tenant, &[product]).await?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{ProductDocument, indexable, joined_words};

    #[test]
    fn indexed_text_is_plain_words_with_hyphenated_ones_joined_too() {
        assert_eq!(indexable("Classic T-Shirt"), "Classic T Shirt TShirt");
        assert_eq!(indexable("MUG-42, 100%"), "MUG 42 100 MUG42");
        assert_eq!(indexable("Linen shirt"), "Linen shirt");
    }

    #[test]
    fn hyphenated_words_are_also_sent_joined_and_nothing_else_is() {
        assert_eq!(joined_words("Classic T-Shirt"), ["TShirt"]);
        assert_eq!(joined_words("MUG-42, e-mail ready"), ["MUG42", "email"]);
        assert!(joined_words("Linen shirt - summer").is_empty());
    }

    #[test]
    fn documents_indexed_before_the_joined_fields_existed_still_read_back() {
        let old = serde_json::json!({
            "id": "0192f0c4-5c6e-7a4b-8c1d-2e3f4a5b6c7d", "name": "Classic T-Shirt",
            "slug": "classic-t-shirt", "description": "", "active": true, "skus": [],
            "option_values": [], "option_pairs": [], "in_stock_option_pairs": [],
            "category_slugs": [], "category_names": [], "price_min": 1500, "price_max": 1700,
            "in_stock": true, "created_at": 0
        });
        let doc: ProductDocument = serde_json::from_value(old).unwrap();
        assert_eq!(doc.name, "Classic T-Shirt");
        assert!(doc.name_joined.is_empty());
    }
}
