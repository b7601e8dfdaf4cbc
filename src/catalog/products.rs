//! Products with options and variants: types and SQL (input checks in `validation`).
//!
//! A product has up to three options (e.g. Size, Colour), each with its values; every variant
//! picks exactly one value of each option, and no two variants pick the same combination. A
//! product without options has exactly one variant. `price_min`, `price_max`, `total_stock` and
//! `compare_at_max`
//! on the product row are recomputed from its variants by the same transaction that writes them.

use std::collections::HashSet;
use std::convert::Infallible;

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::categories;
use super::validation::{
    CleanVariant, NewVariant, ProductOption, dedup_categories, validate_options, validate_variants,
};
use crate::error::{AppError, AppResult, OnConstraint, mapped_error};
use crate::events;
use crate::search::document::refresh_search_vector;
use crate::tenancy::ShopId;
use crate::values::{Name, UrlSlug, slugify};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize)]
#[oai(rename_all = "lowercase")]
pub enum ProductStatus {
    /// Not visible on the storefront yet.
    Draft,
    /// On sale.
    Active,
    /// Kept for history, not on sale.
    Archived,
}

impl ProductStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Archived => "archived",
        }
    }

    /// The status named `value`; `None` for a name no status has (read strictly from the
    /// database: see [`crate::values::text_enum`]).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "draft" => Some(Self::Draft),
            "active" => Some(Self::Active),
            "archived" => Some(Self::Archived),
            _ => None,
        }
    }
}

crate::values::text_enum!(ProductStatus);

#[derive(Debug, Clone, Object)]
pub struct Variant {
    pub id: Uuid,
    #[oai(nullable)]
    pub sku: Option<String>,
    /// e.g. `M / Blue`.
    pub title: String,
    /// Minor units of the shop's currency.
    pub price: i64,
    /// Former price shown struck through, in minor units.
    #[oai(nullable)]
    pub compare_at_price: Option<i64>,
    pub stock: i32,
    /// One value per product option, in option order.
    pub option_values: Vec<String>,
    pub position: i32,
}

#[derive(Debug, Clone, Object)]
pub struct Product {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub status: ProductStatus,
    pub options: Vec<ProductOption>,
    pub variants: Vec<Variant>,
    pub category_ids: Vec<Uuid>,
    /// Lowest variant price, minor units.
    pub price_min: i64,
    /// Highest variant price, minor units.
    pub price_max: i64,
    /// Stock summed over variants.
    pub total_stock: i64,
    /// ISO 4217 code of every price of this product.
    pub currency: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Object)]
pub struct NewProduct {
    #[oai(validator(
        max_length = 200,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: String,
    /// Unique in the shop; generated from the name when absent.
    #[oai(nullable)]
    pub slug: Option<String>,
    #[oai(default)]
    pub description: String,
    /// Defaults to `draft`.
    #[oai(nullable)]
    pub status: Option<ProductStatus>,
    #[oai(default)]
    pub options: Vec<ProductOption>,
    /// At least one.
    #[oai(validator(min_items = 1, max_items = 100))]
    pub variants: Vec<NewVariant>,
    #[oai(default)]
    pub category_ids: Vec<Uuid>,
}

/// Partial update: absent fields keep their value. `variants`, when present, is the complete
/// new list (variants with an `id` are updated, without one added, missing ones deleted).
#[derive(Debug, Clone, Object)]
pub struct ProductUpdate {
    #[oai(nullable)]
    #[oai(validator(
        max_length = 200,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: Option<String>,
    #[oai(nullable)]
    pub slug: Option<String>,
    #[oai(nullable)]
    pub description: Option<String>,
    #[oai(nullable)]
    pub status: Option<ProductStatus>,
    /// Changing options requires sending `variants` too.
    #[oai(nullable)]
    pub options: Option<Vec<ProductOption>>,
    #[oai(nullable)]
    #[oai(validator(min_items = 1, max_items = 100))]
    pub variants: Option<Vec<NewVariant>>,
    #[oai(nullable)]
    pub category_ids: Option<Vec<Uuid>>,
}

pub fn not_found() -> AppError {
    AppError::not_found("product_not_found", "no such product")
}

/// SKUs and product slugs are unique in a shop (`variants_sku_key`, `products_slug_key`).
fn product_conflict(err: sqlx::Error) -> AppError {
    let mapped: Result<Infallible, AppError> = Err(err)
        .on_constraint("variants_sku_key", |_| {
            AppError::conflict("sku_taken", "another product of this shop uses this SKU")
        })
        .on_constraint("products_slug_key", |_| {
            AppError::conflict("slug_taken", "a product with this slug exists")
        });
    mapped_error(mapped)
}

/// Creates a product with its variants and category links, and emits `product.created`.
pub async fn create_product(
    conn: &mut PgConnection,
    shop: ShopId,
    req: &NewProduct,
) -> AppResult<Uuid> {
    let name = Name::parse("name", &req.name, 200)?;
    let options = validate_options(&req.options)?;
    let variants = validate_variants(&options, &req.variants)?;
    if variants.iter().any(|v| v.id.is_some()) {
        return Err(AppError::validation(
            "variants",
            "new products cannot name existing variant ids",
        ));
    }
    let category_ids = dedup_categories(&req.category_ids);
    for id in &category_ids {
        categories::ensure_exists(conn, *id, "category_ids").await?;
    }
    let slug = match req.slug.as_deref() {
        Some(slug) => UrlSlug::parse("slug", slug)?.into(),
        None => free_slug(conn, &slugify(&name)).await?,
    };
    let id = Uuid::now_v7();
    sqlx::query("insert into products (id, name, slug, description, status, options) values ($1, $2, $3, $4, $5, $6)")
        .bind(id)
        .bind(&name)
        .bind(&slug)
        .bind(req.description.trim())
        .bind(req.status.unwrap_or(ProductStatus::Draft).as_str())
        .bind(sqlx::types::Json(&options))
        .execute(&mut *conn)
        .await
        .map_err(product_conflict)?;
    write_variants(conn, id, &variants).await?;
    write_categories(conn, id, &category_ids).await?;
    refresh_summary(conn, id).await?;
    events::emit(conn, shop, events::EventKind::ProductCreated, json!({ "id": id })).await?;
    Ok(id)
}

/// `base`, or `base-2`, `base-3`, … whichever is free (for generated slugs only).
async fn free_slug(conn: &mut PgConnection, base: &str) -> AppResult<String> {
    let taken: Vec<String> =
        sqlx::query_scalar("select slug from products where slug = $1 or slug like $1 || '-%'")
            .bind(base)
            .fetch_all(conn)
            .await?;
    let taken: HashSet<String> = taken.into_iter().collect();
    Ok((1..)
        .map(|n| if n == 1 { base.to_owned() } else { format!("{base}-{n}") })
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or_else(|| format!("{base}-{}", Uuid::now_v7().simple())))
}

/// Applies a partial update and emits `product.updated`.
pub async fn update_product(
    conn: &mut PgConnection,
    shop: ShopId,
    id: Uuid,
    req: &ProductUpdate,
) -> AppResult<()> {
    // Lock the product: concurrent edits of one product apply one after the other.
    let current: Option<(sqlx::types::Json<Vec<ProductOption>>,)> =
        sqlx::query_as("select options from products where id = $1 for update")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((sqlx::types::Json(current_options),)) = current else {
        return Err(not_found());
    };
    let options = match &req.options {
        Some(options) => {
            let options = validate_options(options)?;
            if options != current_options && req.variants.is_none() {
                return Err(AppError::validation(
                    "variants",
                    "send the variants when changing options",
                ));
            }
            options
        }
        None => current_options,
    };
    let name = req.name.as_deref().map(|n| Name::parse("name", n, 200)).transpose()?;
    let slug = req.slug.as_deref().map(|s| UrlSlug::parse("slug", s)).transpose()?;
    sqlx::query(
        "update products set name = coalesce($2, name), slug = coalesce($3, slug), \
         description = coalesce($4, description), status = coalesce($5, status), options = $6, \
         updated_at = now() where id = $1",
    )
    .bind(id)
    .bind(name)
    .bind(slug)
    .bind(req.description.as_deref().map(str::trim))
    .bind(req.status.map(ProductStatus::as_str))
    .bind(sqlx::types::Json(&options))
    .execute(&mut *conn)
    .await
    .map_err(product_conflict)?;

    if let Some(variants) = &req.variants {
        let variants = validate_variants(&options, variants)?;
        let keep: Vec<Uuid> = variants.iter().filter_map(|v| v.id).collect();
        let existing: Vec<Uuid> =
            sqlx::query_scalar("select id from variants where product_id = $1")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
        if let Some(foreign) = keep.iter().find(|v| !existing.contains(v)) {
            return Err(AppError::validation(
                "variants",
                format!("variant {foreign} is not a variant of this product"),
            ));
        }
        sqlx::query("delete from variants where product_id = $1 and id <> all($2)")
            .bind(id)
            .bind(&keep)
            .execute(&mut *conn)
            .await?;
        // SKUs are rewritten below; clearing them first lets two variants swap SKUs.
        sqlx::query("update variants set sku = null where product_id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        write_variants(conn, id, &variants).await?;
    }
    if let Some(category_ids) = &req.category_ids {
        let category_ids = dedup_categories(category_ids);
        for category in &category_ids {
            categories::ensure_exists(conn, *category, "category_ids").await?;
        }
        sqlx::query("delete from product_categories where product_id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        write_categories(conn, id, &category_ids).await?;
    }
    refresh_summary(conn, id).await?;
    events::emit(conn, shop, events::EventKind::ProductUpdated, json!({ "id": id })).await?;
    Ok(())
}

async fn write_variants(
    conn: &mut PgConnection,
    product: Uuid,
    variants: &[CleanVariant],
) -> AppResult<()> {
    for (position, v) in variants.iter().enumerate() {
        let position = i32::try_from(position).unwrap_or(i32::MAX);
        sqlx::query(
            "insert into variants (id, product_id, sku, title, price, compare_at_price, stock, option_values, position) \
             values ($1, $2, $3, $4, $5, $6, coalesce($7, 0), $8, $9) \
             on conflict (id) do update set sku = excluded.sku, title = excluded.title, price = excluded.price, \
             compare_at_price = excluded.compare_at_price, stock = coalesce($7, variants.stock), \
             option_values = excluded.option_values, position = excluded.position, updated_at = now()",
        )
        .bind(v.id.unwrap_or_else(Uuid::now_v7))
        .bind(product)
        .bind(&v.sku)
        .bind(&v.title)
        .bind(v.price)
        .bind(v.compare_at_price)
        .bind(v.stock)
        .bind(&v.option_values)
        .bind(position)
        .execute(&mut *conn)
        .await
        .map_err(product_conflict)?;
    }
    Ok(())
}

async fn write_categories(
    conn: &mut PgConnection,
    product: Uuid,
    category_ids: &[Uuid],
) -> AppResult<()> {
    sqlx::query(
        "insert into product_categories (product_id, category_id) select $1, unnest($2::uuid[])",
    )
    .bind(product)
    .bind(category_ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// Recomputes the product's derived columns (prices, stock, search) from its rows.
async fn refresh_summary(conn: &mut PgConnection, product: Uuid) -> AppResult<()> {
    sqlx::query(
        "update products p set price_min = s.price_min, price_max = s.price_max, total_stock = s.total_stock, \
         compare_at_max = s.compare_at_max \
         from (select coalesce(min(price), 0) as price_min, coalesce(max(price), 0) as price_max, \
               coalesce(sum(stock), 0)::bigint as total_stock, max(compare_at_price) as compare_at_max \
               from variants where product_id = $1) s \
         where p.id = $1",
    )
    .bind(product)
    .execute(&mut *conn)
    .await?;
    refresh_search_vector(conn, &[product]).await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct ProductRow {
    id: Uuid,
    name: String,
    slug: String,
    description: String,
    status: ProductStatus,
    options: sqlx::types::Json<Vec<ProductOption>>,
    price_min: i64,
    price_max: i64,
    total_stock: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct VariantRow {
    id: Uuid,
    sku: Option<String>,
    title: String,
    price: i64,
    compare_at_price: Option<i64>,
    stock: i32,
    option_values: Vec<String>,
    position: i32,
}

/// Loads a product by id or slug (`by_slug`), optionally only if active.
pub async fn load_product(
    conn: &mut PgConnection,
    key: ProductKey<'_>,
    currency: &str,
) -> AppResult<Product> {
    let base = "select id, name, slug, description, status, options, price_min, price_max, total_stock, \
                created_at, updated_at from products";
    let row: Option<ProductRow> = match key {
        ProductKey::Id(id) => {
            sqlx::query_as(&format!("{base} where id = $1"))
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
        }
        ProductKey::ActiveSlug(slug) => {
            sqlx::query_as(&format!("{base} where slug = $1 and status = 'active'"))
                .bind(slug)
                .fetch_optional(&mut *conn)
                .await?
        }
    };
    let row = row.ok_or_else(not_found)?;
    let variants: Vec<VariantRow> = sqlx::query_as(
        "select id, sku, title, price, compare_at_price, stock, option_values, position from variants \
         where product_id = $1 order by position, id",
    )
    .bind(row.id)
    .fetch_all(&mut *conn)
    .await?;
    let category_ids: Vec<Uuid> = sqlx::query_scalar(
        "select category_id from product_categories where product_id = $1 order by category_id",
    )
    .bind(row.id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Product {
        id: row.id,
        name: row.name,
        slug: row.slug,
        description: row.description,
        status: row.status,
        options: row.options.0,
        variants: variants
            .into_iter()
            .map(|v| Variant {
                id: v.id,
                sku: v.sku,
                title: v.title,
                price: v.price,
                compare_at_price: v.compare_at_price,
                stock: v.stock,
                option_values: v.option_values,
                position: v.position,
            })
            .collect(),
        category_ids,
        price_min: row.price_min,
        price_max: row.price_max,
        total_stock: row.total_stock,
        currency: currency.to_owned(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub enum ProductKey<'a> {
    Id(Uuid),
    ActiveSlug(&'a str),
}

/// Deletes a product and emits `product.deleted`.
pub async fn delete_product(conn: &mut PgConnection, shop: ShopId, id: Uuid) -> AppResult<()> {
    let deleted =
        sqlx::query("delete from products where id = $1").bind(id).execute(&mut *conn).await?;
    if deleted.rows_affected() == 0 {
        return Err(not_found());
    }
    events::emit(conn, shop, events::EventKind::ProductDeleted, json!({ "id": id })).await?;
    Ok(())
}
