//! Images as the storefront and the platform's usage report see them.
//!
//! A listing page reads its products' primary images with one query (`= any($1)` on the
//! partial unique index), never one per product. The queries tolerate a shop whose schema is
//! not yet at tenant migration 0006 (no images rather than an error), since the code runs on
//! versions N and N+1 during a rollout; they run last in their transaction for that reason.

use std::collections::HashMap;

use poem_openapi::Object;
use sqlx::PgConnection;
use uuid::Uuid;

use super::IMAGE_URL_TTL;
use super::db::{is_undefined_table, tables_exist};
use crate::error::AppResult;
use crate::storage::{ObjectKey, ObjectStore};
use crate::tenancy::ShopId;

/// An image on the storefront.
#[derive(serde::Serialize, Debug, Clone, Object, serde::Deserialize)]
pub struct StoreImage {
    /// URL of the image: the bucket's public URL when one is configured, otherwise a signed URL
    /// that stays valid (and the same) for at least an hour.
    pub url: String,
    /// Text alternative for screen readers and search engines.
    pub alt: String,
}

/// Rows of (product id, key, alt) not yet turned into URLs.
pub struct ImageRows(Vec<(Uuid, String, String)>);

impl ImageRows {
    /// Rows read by another query (the storefront listing joins the primary images).
    pub fn from_rows(rows: Vec<(Uuid, String, String)>) -> Self {
        Self(rows)
    }

    /// Turns keys into URLs (after the transaction: signing needs no database).
    pub async fn into_urls(
        self,
        store: &dyn ObjectStore,
        shop: ShopId,
    ) -> AppResult<Vec<(Uuid, StoreImage)>> {
        let mut out = Vec::with_capacity(self.0.len());
        for (product, key, alt) in self.0 {
            let Ok(key) = ObjectKey::parse(shop, &key) else {
                tracing::warn!(shop = %shop, key, "image key outside the shop's prefix; not shown");
                continue;
            };
            out.push((product, StoreImage { url: store.get_url(&key, IMAGE_URL_TTL).await?, alt }));
        }
        Ok(out)
    }

    /// One image per product, keyed by product id.
    pub async fn into_map(
        self,
        store: &dyn ObjectStore,
        shop: ShopId,
    ) -> AppResult<HashMap<Uuid, StoreImage>> {
        Ok(self.into_urls(store, shop).await?.into_iter().collect())
    }
}

fn tolerate_missing(
    result: Result<Vec<(Uuid, String, String)>, sqlx::Error>,
) -> AppResult<ImageRows> {
    match result {
        Ok(rows) => Ok(ImageRows(rows)),
        Err(err) if is_undefined_table(&err) => Ok(ImageRows(Vec::new())),
        Err(err) => Err(err.into()),
    }
}

/// The primary image of each of `products` (those that have one), in one query.
pub async fn primary_images(conn: &mut PgConnection, products: &[Uuid]) -> AppResult<ImageRows> {
    if products.is_empty() {
        return Ok(ImageRows(Vec::new()));
    }
    tolerate_missing(
        sqlx::query_as("select product_id, object_key, alt from media where product_id = any($1) and is_primary")
            .bind(products)
            .fetch_all(conn)
            .await,
    )
}

/// A product's images, the primary one first, then by position.
pub async fn product_images(conn: &mut PgConnection, product: Uuid) -> AppResult<ImageRows> {
    tolerate_missing(
        sqlx::query_as(
            "select product_id, object_key, alt from media where product_id = $1 order by is_primary desc, position, id",
        )
        .bind(product)
        .fetch_all(conn)
        .await,
    )
}

/// Bytes of the shop's images, for the platform's usage report.
pub async fn storage_bytes(conn: &mut PgConnection) -> AppResult<i64> {
    if !tables_exist(conn).await? {
        return Ok(0);
    }
    Ok(sqlx::query_scalar("select coalesce(sum(size_bytes), 0)::bigint from media")
        .fetch_one(conn)
        .await?)
}
