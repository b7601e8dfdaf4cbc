//! `GET/POST /v1/admin/products/{id}/media`, `PATCH/DELETE /v1/admin/products/{id}/media/{media_id}`.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::multipart::Upload;
use poem_openapi::{ApiResponse, Multipart, Object, OpenApi};
use tokio::io::AsyncReadExt;
use uuid::Uuid;

use super::db::{self, NewMedia};
use super::image_type::{ImageType, SNIFF_LEN};
use super::{
    MediaItem, MediaUploadErrors, clean_filename, emit_deleted, parse_alt, parse_position,
    plan_limit, to_item, unsupported_type,
};
use crate::auth::permission::Permission;
use crate::auth::principal::StaffAuth;
use crate::error::{AppError, AppResult, ShopReadErrors, ShopWriteErrors};
use crate::quotas::{Quota, Resource};
use crate::state::AppState;
use crate::storage::{ObjectBody, ObjectKey};
use crate::tenancy::{Tenant, TenantTx};

pub struct MediaAdminApi {
    pub state: AppState,
}

/// A multipart image upload.
#[derive(Debug, Multipart)]
pub struct MediaUpload {
    /// The image: JPEG, PNG, WebP, GIF or AVIF, recognised by its content (not its name or
    /// declared type), at most the shop plan's upload limit.
    pub file: Upload,
    /// Text alternative for screen readers and search engines (at most 500 characters).
    pub alt: Option<String>,
    /// Make this the product's primary image. A product's first image always is.
    pub primary: Option<bool>,
}

/// Changes to an image; absent fields keep their value.
#[derive(Debug, Object)]
pub struct MediaUpdate {
    /// New text alternative (at most 500 characters).
    #[oai(nullable)]
    pub alt: Option<String>,
    /// New sort position, 0–10000; images are shown by ascending position.
    #[oai(nullable)]
    #[oai(validator(minimum(value = "0"), maximum(value = "10000")))]
    pub position: Option<i32>,
    /// `true` makes this the primary image (the previous one stops being primary). To change
    /// the primary image, make another one primary: `false` on the primary image is refused.
    #[oai(nullable)]
    pub primary: Option<bool>,
}

#[derive(ApiResponse)]
pub enum MediaCreated {
    /// The image, attached to the product.
    #[oai(status = 201)]
    Created(Json<MediaItem>),
}

#[derive(ApiResponse)]
enum MediaDeleted {
    /// Deleted; the stored file is removed shortly after.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(prefix_path = "/v1/admin/products", tag = "crate::openapi_tags::Tag::Catalog")]
impl MediaAdminApi {
    /// A product's images, by position
    #[oai(path = "/:id/media", method = "get")]
    async fn list(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
    ) -> Result<Json<Vec<MediaItem>>, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ProductsRead).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        db::ensure_product(&mut tx, id.0, false).await?;
        let rows = db::list(&mut tx, id.0).await?;
        tx.commit().await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            items.push(to_item(self.state.store.as_ref(), tenant.id, row).await?);
        }
        Ok(Json(items))
    }

    /// Upload an image of a product (multipart)
    ///
    /// `unsupported_image_type` (422) when the content is not a JPEG, PNG, WebP, GIF or AVIF
    /// image, `file_too_large` (413) over the plan's limit, `media_limit_reached` (409) at 50
    /// images, `plan_limit_reached` (403) when the file would take the shop's stored images
    /// over its plan's storage limit. For large files, prefer the direct upload
    /// (`POST /v1/admin/media/uploads`).
    #[oai(path = "/:id/media", method = "post")]
    async fn upload(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
        body: MediaUpload,
    ) -> Result<MediaCreated, MediaUploadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ProductsWrite).await?;
        Ok(MediaCreated::Created(Json(self.add(&tenant, id.0, body).await?)))
    }

    /// Change an image's alt text, position or primary flag
    #[oai(path = "/:id/media/:media_id", method = "patch")]
    async fn update(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
        media_id: Path<Uuid>,
        body: Json<MediaUpdate>,
    ) -> Result<Json<MediaItem>, ShopWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ProductsWrite).await?;
        let alt = body.alt.as_deref().map(|alt| parse_alt(Some(alt))).transpose()?;
        let position = parse_position(body.position)?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        db::ensure_product(&mut tx, id.0, true).await?;
        if body.primary == Some(false) && db::find(&mut tx, id.0, media_id.0).await?.is_primary {
            return Err(
                AppError::validation("primary", "make another image primary instead").into()
            );
        }
        let row = db::update(
            &mut tx,
            id.0,
            media_id.0,
            alt.as_deref(),
            position,
            body.primary == Some(true),
        )
        .await?;
        tx.commit().await?;
        Ok(Json(to_item(self.state.store.as_ref(), tenant.id, row).await?))
    }

    /// Delete an image
    ///
    /// If it was the primary image, the next one by position becomes primary.
    #[oai(path = "/:id/media/:media_id", method = "delete")]
    async fn delete(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
        media_id: Path<Uuid>,
    ) -> Result<MediaDeleted, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ProductsWrite).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        db::ensure_product(&mut tx, id.0, true).await?;
        let key = db::delete(&mut tx, id.0, media_id.0).await?;
        emit_deleted(&mut tx, tenant.id, vec![key], "media_deleted").await?;
        tx.commit().await?;
        Ok(MediaDeleted::NoContent)
    }
}

impl MediaAdminApi {
    async fn add(&self, tenant: &Tenant, product: Uuid, body: MediaUpload) -> AppResult<MediaItem> {
        let alt = parse_alt(body.alt.as_deref())?;
        let limit = plan_limit(&self.state.pool, tenant).await?;
        let size = body.file.size() as u64;
        if size > limit {
            return Err(AppError::FileTooLarge { max_bytes: limit });
        }
        let filename = clean_filename(body.file.file_name());
        let mut file = body.file.into_file();
        let mut head = Vec::new();
        (&mut file).take(SNIFF_LEN).read_to_end(&mut head).await.map_err(anyhow::Error::from)?;
        let kind = ImageType::sniff(&head).ok_or_else(unsupported_type)?;

        // Refuse before storing anything: an unknown product (another shop's, say) is a 404.
        let mut tx = TenantTx::begin(&self.state.pool, tenant).await?;
        db::ensure_product(&mut tx, product, false).await?;
        db::ensure_room(&mut tx, product).await?;
        tx.commit().await?;

        let id = Uuid::now_v7();
        let key =
            ObjectKey::new(tenant.id, &format!("products/{product}/{id}.{}", kind.extension()))
                .map_err(anyhow::Error::from)?;
        self.state.store.put(&key, ObjectBody::File { file, len: size }, kind.mime()).await?;
        let new = NewMedia {
            id,
            product,
            object_key: key.as_str(),
            content_type: kind.mime(),
            size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
            alt: &alt,
            filename: &filename,
            primary: body.primary.unwrap_or(false),
        };
        let row = match attach(&self.state, tenant, &new, None).await {
            Ok(row) => row,
            Err(err) => {
                // The row was not written, so nothing else will ever delete the object.
                if let Err(cleanup) = self.state.store.delete(&key).await {
                    tracing::warn!(key = %key, error = %cleanup, "could not delete the object of a failed upload");
                }
                return Err(err);
            }
        };
        to_item(self.state.store.as_ref(), tenant.id, row).await
    }
}

/// Writes an image's row, with the product locked, within the plan's storage quota (403
/// `plan_limit_reached`, see `quotas`): shared by both upload paths. A direct
/// upload passes its id and key, and is removed in the same transaction (404 if it is gone
/// already); its key, when it is not the image's, is deleted through the outbox.
pub(super) async fn attach(
    state: &AppState,
    tenant: &Tenant,
    new: &NewMedia<'_>,
    upload: Option<(Uuid, &str)>,
) -> AppResult<db::MediaRow> {
    let quota = Quota::read(&state.pool, tenant.id, Resource::StorageBytes).await?;
    let mut tx = TenantTx::begin(&state.pool, tenant).await?;
    db::ensure_product(&mut tx, new.product, true).await?;
    if let Some((upload, key)) = upload {
        if !db::take_upload(&mut tx, upload).await? {
            return Err(db::upload_not_found());
        }
        if key != new.object_key {
            emit_deleted(&mut tx, tenant.id, vec![key.to_owned()], "upload_completed").await?;
        }
    }
    db::ensure_room(&mut tx, new.product).await?;
    let row = db::insert(&mut tx, new).await?;
    quota.enforce(&mut tx, new.size_bytes).await?;
    tx.commit().await?;
    Ok(row)
}
