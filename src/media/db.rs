//! SQL of product images and pending direct uploads. Every function takes the connection of a
//! `TenantTx`; a product's image changes lock the product row first, so two uploads to one
//! product never both become its first (primary) image.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// Images one product may have.
pub const MAX_IMAGES_PER_PRODUCT: i64 = 50;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MediaRow {
    pub id: Uuid,
    pub product_id: Uuid,
    pub object_key: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub alt: String,
    pub position: i32,
    pub is_primary: bool,
    pub filename: String,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, product_id, object_key, content_type, size_bytes, alt, position, is_primary, filename, created_at";

pub fn product_not_found() -> AppError {
    AppError::not_found("product_not_found", "no such product")
}

pub fn media_not_found() -> AppError {
    AppError::not_found("media_not_found", "no such image of this product")
}

/// 404 unless the product exists; with `lock`, holds its row until the transaction ends.
pub async fn ensure_product(conn: &mut PgConnection, product: Uuid, lock: bool) -> AppResult<()> {
    let sql = if lock {
        "select 1 from products where id = $1 for update"
    } else {
        "select 1 from products where id = $1"
    };
    let found: Option<i32> = sqlx::query_scalar(sql).bind(product).fetch_optional(conn).await?;
    found.map(drop).ok_or_else(product_not_found)
}

/// 409 `media_limit_reached` once the product has [`MAX_IMAGES_PER_PRODUCT`] images.
pub async fn ensure_room(conn: &mut PgConnection, product: Uuid) -> AppResult<()> {
    let count: i64 = sqlx::query_scalar("select count(*) from media where product_id = $1")
        .bind(product)
        .fetch_one(conn)
        .await?;
    if count >= MAX_IMAGES_PER_PRODUCT {
        return Err(AppError::conflict(
            "media_limit_reached",
            format!("a product has at most {MAX_IMAGES_PER_PRODUCT} images; delete one first"),
        ));
    }
    Ok(())
}

pub async fn list(conn: &mut PgConnection, product: Uuid) -> AppResult<Vec<MediaRow>> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from media where product_id = $1 order by position, id"
    ))
    .bind(product)
    .fetch_all(conn)
    .await?)
}

pub async fn find(conn: &mut PgConnection, product: Uuid, id: Uuid) -> AppResult<MediaRow> {
    sqlx::query_as(&format!("select {COLUMNS} from media where id = $1 and product_id = $2"))
        .bind(id)
        .bind(product)
        .fetch_optional(conn)
        .await?
        .ok_or_else(media_not_found)
}

pub struct NewMedia<'a> {
    pub id: Uuid,
    pub product: Uuid,
    pub object_key: &'a str,
    pub content_type: &'a str,
    pub size_bytes: i64,
    pub alt: &'a str,
    pub filename: &'a str,
    pub primary: bool,
}

/// Adds an image after the product's others. It becomes the primary image if asked, or if the
/// product has none yet. The caller holds the product's lock ([`ensure_product`]).
pub async fn insert(conn: &mut PgConnection, new: &NewMedia<'_>) -> AppResult<MediaRow> {
    if new.primary {
        clear_primary(conn, new.product).await?;
    }
    Ok(sqlx::query_as(&format!(
        "insert into media (id, product_id, object_key, content_type, size_bytes, alt, filename, position, is_primary) \
         select $1, $2, $3, $4, $5, $6, $7, \
                coalesce((select max(position) + 1 from media where product_id = $2), 0), \
                not exists (select 1 from media where product_id = $2 and is_primary) \
         returning {COLUMNS}"
    ))
    .bind(new.id)
    .bind(new.product)
    .bind(new.object_key)
    .bind(new.content_type)
    .bind(new.size_bytes)
    .bind(new.alt)
    .bind(new.filename)
    .fetch_one(conn)
    .await?)
}

async fn clear_primary(conn: &mut PgConnection, product: Uuid) -> AppResult<()> {
    sqlx::query("update media set is_primary = false, updated_at = now() where product_id = $1 and is_primary")
        .bind(product)
        .execute(conn)
        .await?;
    Ok(())
}

/// Changes alt text, position and/or makes the image primary (absent fields keep their value).
pub async fn update(
    conn: &mut PgConnection,
    product: Uuid,
    id: Uuid,
    alt: Option<&str>,
    position: Option<i32>,
    primary: bool,
) -> AppResult<MediaRow> {
    let current = find(conn, product, id).await?;
    if primary && !current.is_primary {
        clear_primary(conn, product).await?;
    }
    Ok(sqlx::query_as(&format!(
        "update media set alt = coalesce($3, alt), position = coalesce($4, position), \
         is_primary = is_primary or $5, updated_at = now() where id = $1 and product_id = $2 returning {COLUMNS}"
    ))
    .bind(id)
    .bind(product)
    .bind(alt)
    .bind(position)
    .bind(primary)
    .fetch_one(conn)
    .await?)
}

/// Deletes an image and returns its key; if it was the primary image, the next one by
/// position takes its place.
pub async fn delete(conn: &mut PgConnection, product: Uuid, id: Uuid) -> AppResult<String> {
    let deleted: Option<(String, bool)> = sqlx::query_as(
        "delete from media where id = $1 and product_id = $2 returning object_key, is_primary",
    )
    .bind(id)
    .bind(product)
    .fetch_optional(&mut *conn)
    .await?;
    let (key, was_primary) = deleted.ok_or_else(media_not_found)?;
    if was_primary {
        sqlx::query(
            "update media set is_primary = true, updated_at = now() \
             where id = (select id from media where product_id = $1 order by position, id limit 1)",
        )
        .bind(product)
        .execute(conn)
        .await?;
    }
    Ok(key)
}

/// Whether this shop's schema has the media tables yet (tenant migration 0006): code runs on
/// schema versions N and N+1 while `shopfleet migrate` rolls out.
pub async fn tables_exist(conn: &mut PgConnection) -> AppResult<bool> {
    Ok(sqlx::query_scalar("select to_regclass('media_uploads') is not null")
        .fetch_one(conn)
        .await?)
}

/// True for "relation does not exist" (a shop not yet migrated to 0006).
pub fn is_undefined_table(err: &sqlx::Error) -> bool {
    err.as_database_error().and_then(|e| e.code()).as_deref() == Some("42P01")
}

/// The keys of a product's images and pending uploads (to delete with the product).
pub async fn keys_of_product(conn: &mut PgConnection, product: Uuid) -> AppResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "select object_key from media where product_id = $1 \
         union all select object_key from media_uploads where product_id = $1",
    )
    .bind(product)
    .fetch_all(conn)
    .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UploadRow {
    pub id: Uuid,
    pub product_id: Uuid,
    pub media_id: Uuid,
    pub object_key: String,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub alt: String,
    pub make_primary: bool,
}

const UPLOAD_COLUMNS: &str =
    "id, product_id, media_id, object_key, filename, content_type, size_bytes, alt, make_primary";

pub fn upload_not_found() -> AppError {
    AppError::not_found("upload_not_found", "no such pending upload")
}

pub async fn insert_upload(
    conn: &mut PgConnection,
    upload: &UploadRow,
    expires_at: DateTime<Utc>,
) -> AppResult<()> {
    sqlx::query(
        "insert into media_uploads (id, product_id, media_id, object_key, filename, content_type, size_bytes, alt, \
         make_primary, expires_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(upload.id)
    .bind(upload.product_id)
    .bind(upload.media_id)
    .bind(&upload.object_key)
    .bind(&upload.filename)
    .bind(&upload.content_type)
    .bind(upload.size_bytes)
    .bind(&upload.alt)
    .bind(upload.make_primary)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn find_upload(conn: &mut PgConnection, id: Uuid) -> AppResult<UploadRow> {
    sqlx::query_as(&format!("select {UPLOAD_COLUMNS} from media_uploads where id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(upload_not_found)
}

/// Removes a pending upload as it completes; `false` if another request completed it first.
pub async fn take_upload(conn: &mut PgConnection, id: Uuid) -> AppResult<bool> {
    let taken =
        sqlx::query("delete from media_uploads where id = $1").bind(id).execute(conn).await?;
    Ok(taken.rows_affected() == 1)
}

/// Forgets uploads abandoned for a day (their URLs expired long ago) and returns their keys,
/// so the caller can have any object a client did PUT deleted. Bounded per call.
pub async fn expire_abandoned_uploads(conn: &mut PgConnection) -> AppResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "delete from media_uploads where id in (select id from media_uploads \
         where expires_at < now() - interval '1 day' order by expires_at limit 100) returning object_key",
    )
    .fetch_all(conn)
    .await?)
}
