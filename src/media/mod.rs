//! Product images: uploads, their checks, their order and the primary image, and the URLs the
//! storefront shows.
//!
//! Two ways in, both ending in the same checks:
//! - `POST /v1/admin/products/{id}/media`: a multipart upload through the API
//!   ([`MediaAdminApi`]);
//! - `POST /v1/admin/media/uploads` hands out a presigned PUT URL for exactly one key under the
//!   shop's prefix, one content type and one length; the client uploads straight to the store,
//!   then `POST /v1/admin/media/uploads/{id}/complete` checks the object and attaches it
//!   ([`MediaUploadsApi`]).
//!
//! An image is accepted by its magic bytes (JPEG, PNG, WebP, GIF, AVIF), whatever its name or
//! declared type, and up to the shop plan's `max_upload_bytes` (capped at [`MAX_FILE_BYTES`],
//! which the request body limit in `server` allows on the upload routes); the shop's images
//! together stay within the plan's `max_storage_bytes`, checked when an image's row is written
//! (`quotas`, 403 `plan_limit_reached`). Objects are deleted through the outbox
//! (`media.deleted`, handled by the `storage` consumer), never inside a request's transaction.
//!
//! Rule: object keys come from [`crate::storage::ObjectKey`] with the tenant's own shop id;
//! a client never names a key, only ids that are looked up in its own shop's schema.

mod db;
mod deletion;
pub mod image_type;
mod media_api;
mod storefront;
mod uploads_api;

use std::time::Duration;

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

pub use deletion::{ObjectDeleter, ObjectDeletion};
pub use media_api::MediaAdminApi;
pub use storefront::{ImageRows, StoreImage, primary_images, product_images, storage_bytes};
pub use uploads_api::MediaUploadsApi;

use crate::error::{AppError, AppResult};
use crate::error_responses;
use crate::storage::{ObjectKey, ObjectStore};
use crate::tenancy::{DbPool, ShopId, Tenant};

/// Largest file any plan may upload; the server sizes the upload routes' body limit from it.
pub const MAX_FILE_BYTES: u64 = 50 * 1024 * 1024;
/// Image URLs stay valid (and identical) for at least this long.
pub const IMAGE_URL_TTL: Duration = Duration::from_secs(3600);
/// How long a presigned upload URL works.
pub const UPLOAD_URL_TTL: Duration = Duration::from_secs(15 * 60);
const MAX_ALT_CHARS: usize = 500;
const MAX_POSITION: i32 = 10_000;

error_responses!(
    /// An image upload: validation and type checks (422), plan size limit (413), image limit
    /// per product (409), plan storage limit (403 `plan_limit_reached`).
    MediaUploadErrors { 400 BadRequest, 401 Unauthorized, 403 Forbidden, 404 NotFound, 409 Conflict, 413 PayloadTooLarge, 422 Unprocessable, 429 TooManyRequests }
);

/// An image of a product, as the admin API shows it.
#[derive(Debug, Clone, Object)]
pub struct MediaItem {
    /// Id of the image.
    pub id: Uuid,
    /// The product it belongs to.
    pub product_id: Uuid,
    /// Where to load the image: the bucket's public URL when one is configured, otherwise a
    /// signed URL that stays valid for at least an hour.
    pub url: String,
    /// Text alternative for screen readers and search engines.
    pub alt: String,
    /// Sort order among the product's images, ascending.
    pub position: i32,
    /// The product's main image, shown in listings. A product with images has exactly one.
    pub primary: bool,
    /// Detected from the file's content (magic bytes), not from a name or a declared type.
    pub content_type: String,
    /// Size of the file in bytes.
    pub size_bytes: i64,
    /// File name given at upload; informational only.
    pub filename: String,
    /// When the image was added.
    pub created_at: DateTime<Utc>,
}

/// Builds the admin view of an image, with its URL.
async fn to_item(store: &dyn ObjectStore, shop: ShopId, row: db::MediaRow) -> AppResult<MediaItem> {
    let key = ObjectKey::parse(shop, &row.object_key)
        .map_err(|err| anyhow::anyhow!("stored key {}: {err}", row.object_key))?;
    Ok(MediaItem {
        url: store.get_url(&key, IMAGE_URL_TTL).await?,
        id: row.id,
        product_id: row.product_id,
        alt: row.alt,
        position: row.position,
        primary: row.is_primary,
        content_type: row.content_type,
        size_bytes: row.size_bytes,
        filename: row.filename,
        created_at: row.created_at,
    })
}

/// The shop plan's upload limit, never above [`MAX_FILE_BYTES`].
async fn plan_limit(pool: &DbPool, tenant: &Tenant) -> AppResult<u64> {
    let limit: Option<i64> =
        sqlx::query_scalar("select max_upload_bytes from platform.plans where code = $1")
            .bind(&tenant.plan)
            .fetch_optional(pool)
            .await?;
    let limit = limit.ok_or_else(|| {
        anyhow::anyhow!("shop {} has unknown plan {:?}", tenant.slug, tenant.plan)
    })?;
    Ok(u64::try_from(limit).unwrap_or(0).min(MAX_FILE_BYTES))
}

fn parse_alt(alt: Option<&str>) -> AppResult<String> {
    let alt = alt.unwrap_or_default().trim();
    if alt.chars().count() > MAX_ALT_CHARS || alt.chars().any(char::is_control) {
        return Err(AppError::validation(
            "alt",
            format!("at most {MAX_ALT_CHARS} characters, no control characters"),
        ));
    }
    Ok(alt.to_owned())
}

fn parse_position(position: Option<i32>) -> AppResult<Option<i32>> {
    match position {
        Some(p) if !(0..=MAX_POSITION).contains(&p) => {
            Err(AppError::validation("position", format!("must be between 0 and {MAX_POSITION}")))
        }
        other => Ok(other),
    }
}

/// The last path segment of a client's file name, printable, at most 255 characters: kept for
/// display only, never used in a key.
fn clean_filename(name: Option<&str>) -> String {
    let base = name.unwrap_or_default().rsplit(['/', '\\']).next().unwrap_or_default();
    base.chars().filter(|c| !c.is_control()).take(255).collect::<String>().trim().to_owned()
}

pub fn unsupported_type() -> AppError {
    AppError::unprocessable(
        "unsupported_image_type",
        "the file is not a JPEG, PNG, WebP, GIF or AVIF image (recognised by its content, not its name)",
    )
}

/// Records, in the caller's transaction, that these objects are to be deleted (`reason` is
/// for whoever reads the outbox).
pub async fn emit_deleted(
    conn: &mut PgConnection,
    shop: ShopId,
    keys: Vec<String>,
    reason: &str,
) -> AppResult<()> {
    if !keys.is_empty() {
        crate::events::emit(
            conn,
            shop,
            crate::events::EventKind::MediaDeleted,
            json!({ "keys": keys, "reason": reason }),
        )
        .await?;
    }
    Ok(())
}

/// Called by product deletion before the product's row goes (its images cascade): emits
/// `media.deleted` with the keys of its images and pending uploads, in the same transaction.
pub async fn forget_product(conn: &mut PgConnection, shop: ShopId, product: Uuid) -> AppResult<()> {
    if !db::tables_exist(conn).await? {
        return Ok(());
    }
    let keys = db::keys_of_product(conn, product).await?;
    emit_deleted(conn, shop, keys, "product_deleted").await
}
