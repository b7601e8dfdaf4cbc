//! The storefront's view of the catalog: active products only, as the JSON storefront API
//! (`storefront_api`) and the HTML pages (`crate::storefront`) both show them. Every function
//! takes the connection of the caller's `TenantTx`, so a page reads all it needs in one
//! transaction; image rows become URLs after it ([`crate::media::ImageRows`]).

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use super::categories;
use super::products::{self, ProductKey};
use super::validation::ProductOption;
use crate::cache::Cache;
use crate::error::{AppError, AppResult};
use crate::media::{self, ImageRows, StoreImage};
use crate::storage::ObjectStore;
use crate::tenancy::{DbPool, ShopId, Tenant, TenantTx};
use crate::values::{decode_cursor, encode_cursor, next_page};
use poem_openapi::{Enum, Object};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum StoreSort {
    /// Newest first (default).
    Newest,
    /// Cheapest first, by lowest variant price.
    PriceAsc,
    /// Most expensive first, by lowest variant price.
    PriceDesc,
    /// Alphabetical.
    Name,
}

/// Where the previous page stopped, in the sort's own key.
#[derive(Debug, Serialize, Deserialize)]
enum StoreCursor {
    Newest(Uuid),
    Price(i64, Uuid),
    Name(String, Uuid),
}

#[derive(serde::Serialize, Debug, Object, sqlx::FromRow, serde::Deserialize)]
pub struct StoreProductSummary {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    /// Lowest variant price, minor units.
    pub price_min: i64,
    /// Highest variant price, minor units.
    pub price_max: i64,
    /// Highest "compare at" price among variants, for a struck-through price.
    #[oai(nullable)]
    pub compare_at_price: Option<i64>,
    /// Some variant has stock.
    pub in_stock: bool,
    /// The database's lowercase of the name: the key of the `name` sort's cursor.
    #[oai(skip)]
    pub sort_name: String,
    /// The product's primary image; absent when it has none.
    #[sqlx(skip)]
    #[oai(nullable)]
    pub image: Option<StoreImage>,
}

/// A row of the listing: the product, and its primary image's key and text, if it has one.
#[derive(sqlx::FromRow)]
struct ListedProduct {
    #[sqlx(flatten)]
    product: StoreProductSummary,
    image_key: Option<String>,
    image_alt: Option<String>,
}

#[derive(serde::Serialize, Debug, Object, serde::Deserialize)]
pub struct StoreProductPage {
    pub items: Vec<StoreProductSummary>,
    pub currency: String,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(serde::Serialize, Debug, Object, serde::Deserialize)]
pub struct StoreVariant {
    pub id: Uuid,
    pub title: String,
    pub price: i64,
    #[oai(nullable)]
    pub compare_at_price: Option<i64>,
    pub option_values: Vec<String>,
    /// In stock now.
    pub available: bool,
}

#[derive(serde::Serialize, Debug, Object, sqlx::FromRow, serde::Deserialize)]
pub struct CategoryRef {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
}

#[derive(serde::Serialize, Debug, Object, serde::Deserialize)]
pub struct StoreProduct {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub options: Vec<ProductOption>,
    pub variants: Vec<StoreVariant>,
    pub categories: Vec<CategoryRef>,
    pub price_min: i64,
    pub price_max: i64,
    pub currency: String,
    pub in_stock: bool,
    /// The product's images, the primary one first, then in the shop's order.
    pub images: Vec<StoreImage>,
}

#[derive(serde::Serialize, Debug, Clone, Object, serde::Deserialize)]
pub struct StoreCategory {
    pub id: Uuid,
    #[oai(nullable)]
    pub parent_id: Option<Uuid>,
    pub name: String,
    pub slug: String,
    pub description: String,
    /// 0 for top-level categories; the list is in tree order (each parent before its children).
    pub depth: u32,
}

/// A validated storefront listing request.
#[derive(Debug)]
pub struct StoreFilter {
    pub category: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub sort: StoreSort,
    pub cursor: Option<String>,
    pub limit: i64,
}

/// One page of products, before their images are turned into URLs.
pub struct Browse {
    pub items: Vec<StoreProductSummary>,
    pub images: ImageRows,
    pub next_cursor: Option<String>,
}

impl Browse {
    /// The page with image URLs, after the transaction.
    pub async fn finish(
        self,
        store: &dyn ObjectStore,
        shop: ShopId,
        currency: &str,
    ) -> AppResult<StoreProductPage> {
        let mut items = self.items;
        let mut images = self.images.into_map(store, shop).await?;
        for item in &mut items {
            item.image = images.remove(&item.id);
        }
        Ok(StoreProductPage { items, currency: currency.to_owned(), next_cursor: self.next_cursor })
    }
}

/// A page of active products under `filter`, with their primary images, in one query.
#[tracing::instrument(skip_all)]
pub async fn browse(conn: &mut PgConnection, filter: &StoreFilter) -> AppResult<Browse> {
    {
        if filter.min_price.is_some_and(|p| p < 0) {
            return Err(AppError::validation("min_price", "must not be negative"));
        }
        if let (Some(min), Some(max)) = (filter.min_price, filter.max_price)
            && min > max
        {
            return Err(AppError::validation("max_price", "must not be below min_price"));
        }
        let cursor: Option<StoreCursor> =
            filter.cursor.as_deref().map(decode_cursor).transpose()?;
        let (keyset, order) = match filter.sort {
            StoreSort::Newest => ("($4::uuid is null or p.id < $4)", "p.id desc"),
            StoreSort::PriceAsc => (
                "($5::bigint is null or (p.price_min, p.id) > ($5, $4::uuid))",
                "p.price_min, p.id",
            ),
            StoreSort::PriceDesc => (
                "($5::bigint is null or (p.price_min, p.id) < ($5, $4::uuid))",
                "p.price_min desc, p.id desc",
            ),
            StoreSort::Name => (
                "($6::text is null or (lower(p.name), p.id) > ($6, $4::uuid))",
                "lower(p.name), p.id",
            ),
        };
        let (after_id, after_price, after_name) = match (filter.sort, cursor) {
            (_, None) => (None, None, None),
            (StoreSort::Newest, Some(StoreCursor::Newest(id))) => (Some(id), None, None),
            (StoreSort::PriceAsc | StoreSort::PriceDesc, Some(StoreCursor::Price(price, id))) => {
                (Some(id), Some(price), None)
            }
            (StoreSort::Name, Some(StoreCursor::Name(name, id))) => (Some(id), None, Some(name)),
            _ => {
                return Err(AppError::bad_request(
                    "invalid_cursor",
                    "the cursor belongs to another sort order",
                ));
            }
        };
        let sql = format!(
            "with recursive scope (id, depth) as ( \
                 select id, 1 from categories where slug = $1 \
                 union all select c.id, s.depth + 1 from categories c join scope s on c.parent_id = s.id \
                     where s.depth < {max_depth}) \
             select p.id, p.name, p.slug, p.price_min, p.price_max, p.total_stock > 0 as in_stock, lower(p.name) as sort_name, \
                 p.compare_at_max as compare_at_price, m.object_key as image_key, m.alt as image_alt \
             from products p \
             left join media m on m.product_id = p.id and m.is_primary \
             where p.status = 'active' \
               and ($1::text is null or exists (select 1 from product_categories pc \
                    where pc.product_id = p.id and pc.category_id in (select id from scope))) \
               and ($2::bigint is null or p.price_min >= $2) \
               and ($3::bigint is null or p.price_min <= $3) \
               and {keyset} \
             order by {order} limit $7",
            max_depth = categories::MAX_DEPTH,
        );

        if let Some(slug) = &filter.category {
            let exists: bool =
                sqlx::query_scalar("select exists (select 1 from categories where slug = $1)")
                    .bind(slug)
                    .fetch_one(&mut *conn)
                    .await?;
            if !exists {
                return Err(categories::not_found());
            }
        }
        let rows: Vec<ListedProduct> = sqlx::query_as(&sql)
            .bind(&filter.category)
            .bind(filter.min_price)
            .bind(filter.max_price)
            .bind(after_id)
            .bind(after_price)
            .bind(after_name)
            .bind(filter.limit + 1)
            .fetch_all(&mut *conn)
            .await?;
        // The primary images come with the products (the partial unique index on `media`
        // gives each at most one): one round trip for the page.
        let images = ImageRows::from_rows(
            rows.iter()
                .filter_map(|row| {
                    Some((row.product.id, row.image_key.clone()?, row.image_alt.clone()?))
                })
                .collect(),
        );
        let mut items: Vec<StoreProductSummary> = rows.into_iter().map(|row| row.product).collect();

        let next_cursor = next_page(&mut items, filter.limit).map(|last| {
            encode_cursor(&match filter.sort {
                StoreSort::Newest => StoreCursor::Newest(last.id),
                StoreSort::PriceAsc | StoreSort::PriceDesc => {
                    StoreCursor::Price(last.price_min, last.id)
                }
                StoreSort::Name => StoreCursor::Name(last.sort_name.clone(), last.id),
            })
        });
        Ok(Browse { items, images, next_cursor })
    }
}

/// An active product by its slug, with its images' URLs, through the shop's cache: the read
/// behind `GET /v1/store/products/{slug}` and the product page.
pub async fn cached_product(
    cache: &Cache,
    pool: &DbPool,
    store: &dyn ObjectStore,
    tenant: &Tenant,
    slug: &str,
) -> AppResult<StoreProduct> {
    cache
        .read(tenant.id, "store.product", slug, async {
            let mut tx = TenantTx::begin(pool, tenant).await?;
            let (mut product, images) = self::product(&mut tx, slug, &tenant.currency).await?;
            tx.commit().await?;
            let images = images.into_urls(store, tenant.id).await?;
            product.images = images.into_iter().map(|(_, image)| image).collect();
            Ok(product)
        })
        .await
}

/// An active product by its slug, with its categories; its images come back as rows, read last.
#[tracing::instrument(skip_all)]
pub async fn product(
    conn: &mut PgConnection,
    slug: &str,
    currency: &str,
) -> AppResult<(StoreProduct, ImageRows)> {
    let product = products::load_product(conn, ProductKey::ActiveSlug(slug), currency).await?;
    let categories: Vec<CategoryRef> = sqlx::query_as(
        "select c.id, c.name, c.slug from categories c join product_categories pc on pc.category_id = c.id \
         where pc.product_id = $1 order by c.position, c.name",
    )
    .bind(product.id)
    .fetch_all(&mut *conn)
    .await?;
    let images = media::product_images(conn, product.id).await?;
    let view = StoreProduct {
        images: Vec::new(),
        id: product.id,
        name: product.name,
        slug: product.slug,
        description: product.description,
        options: product.options,
        in_stock: product.total_stock > 0,
        variants: product
            .variants
            .into_iter()
            .map(|v| StoreVariant {
                id: v.id,
                title: v.title,
                price: v.price,
                compare_at_price: v.compare_at_price,
                option_values: v.option_values,
                available: v.stock > 0,
            })
            .collect(),
        categories,
        price_min: product.price_min,
        price_max: product.price_max,
        currency: product.currency,
    };
    Ok((view, images))
}

/// The variant of an active product a customer chose: by id, by its option values (in the
/// product's option order), or the product's only variant. Reads the product and its variants
/// only (no categories, no images).
pub async fn chosen_variant(
    conn: &mut PgConnection,
    slug: &str,
    variant: Option<Uuid>,
    option_values: &[String],
) -> AppResult<Uuid> {
    let product = products::load_product(conn, ProductKey::ActiveSlug(slug), "").await?;
    let only = product.variants.len() == 1;
    product
        .variants
        .iter()
        .find(|v| match variant {
            Some(id) => v.id == id,
            None => only || v.option_values == option_values,
        })
        .map(|v| v.id)
        .ok_or_else(|| AppError::not_found("variant_not_found", "no variant with these options"))
}

/// URLs a sitemap file holds at most (sitemaps.org).
pub const SITEMAP_PAGE: i64 = 50_000;

/// Active products, for the sitemap.
pub async fn active_product_count(conn: &mut PgConnection) -> AppResult<i64> {
    Ok(sqlx::query_scalar("select count(*) from products where status = 'active'")
        .fetch_one(conn)
        .await?)
}

/// Page `page` (from 1) of the active products' slugs and last changes, oldest first, for the
/// sitemap ([`SITEMAP_PAGE`] per page).
pub async fn sitemap_products(
    conn: &mut PgConnection,
    page: i64,
) -> AppResult<Vec<(String, chrono::DateTime<chrono::Utc>)>> {
    Ok(sqlx::query_as(
        "select slug, updated_at from products where status = 'active' order by id \
         offset $1 limit $2",
    )
    .bind((page - 1).max(0).saturating_mul(SITEMAP_PAGE))
    .bind(SITEMAP_PAGE)
    .fetch_all(conn)
    .await?)
}

/// The shop's categories in tree order.
#[tracing::instrument(skip_all)]
pub async fn category_tree(conn: &mut PgConnection) -> AppResult<Vec<StoreCategory>> {
    Ok(tree_order(categories::list(conn).await?))
}

/// Orders a flat category list so that each parent comes before its children, siblings by
/// position then name.
pub fn tree_order(all: Vec<categories::Category>) -> Vec<StoreCategory> {
    fn visit(
        parent: Option<Uuid>,
        depth: u32,
        all: &[categories::Category],
        out: &mut Vec<StoreCategory>,
    ) {
        for c in all.iter().filter(|c| c.parent_id == parent) {
            out.push(StoreCategory {
                id: c.id,
                parent_id: c.parent_id,
                name: c.name.clone(),
                slug: c.slug.clone(),
                description: c.description.clone(),
                depth,
            });
            if depth < 64 {
                visit(Some(c.id), depth + 1, all, out);
            }
        }
    }
    let mut out = Vec::with_capacity(all.len());
    visit(None, 0, &all, &mut out);
    out
}
