//! The direct-upload flow: `POST /v1/admin/media/uploads` hands out a presigned PUT URL,
//! `POST /v1/admin/media/uploads/{id}/complete` checks what arrived and attaches it.
//!
//! The URL allows exactly one key under the shop's prefix, one content type and one length
//! (signed). Completion checks the object again — it exists, has the announced size, and its
//! magic bytes are of the announced type — because a client, or an S3-compatible server that
//! checks less than S3 does, may not hold to the URL's terms.
//!
//! **Single use.** The URL grants `products/<product>/upload-<upload id>.<ext>`, a key no image
//! is ever served from. Completion copies that object to a key of the image's own
//! (`products/<product>/<media id>-<nonce>.<ext>`, never granted to a client, one per
//! completion attempt), checks the copy — what is stored and will be served — and deletes the
//! upload's key through the outbox. A PUT to
//! the URL after completion (it stays signed until it expires) can only write the upload's key
//! again, which nothing reads: it can never replace the image. Uploads started by the previous
//! version (their key is already the image's) are completed in place, as before.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::db::{self, NewMedia, UploadRow};
use super::image_type::{ImageType, SNIFF_LEN};
use super::media_api::{MediaCreated, attach};
use super::{
    MediaUploadErrors, UPLOAD_URL_TTL, clean_filename, emit_deleted, parse_alt, plan_limit,
    to_item, unsupported_type,
};
use crate::auth::permission::Permission;
use crate::auth::principal::StaffAuth;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::storage::{ObjectKey, ObjectStore};
use crate::tenancy::{Tenant, TenantTx};

pub struct MediaUploadsApi {
    pub state: AppState,
}

/// An image the client is about to upload straight to storage.
#[derive(Debug, Object)]
pub struct NewUpload {
    /// The product the image is for.
    pub product_id: Uuid,
    /// The file's name, kept for display only.
    #[oai(nullable)]
    pub filename: Option<String>,
    /// `image/jpeg`, `image/png`, `image/webp`, `image/gif` or `image/avif`. The upload must
    /// be sent with this type, and its content must really be of this type.
    pub content_type: String,
    /// Exact size of the file in bytes, at most the shop plan's upload limit.
    pub size: i64,
    /// Text alternative for screen readers and search engines (at most 500 characters).
    #[oai(nullable)]
    pub alt: Option<String>,
    /// Make this the product's primary image once completed.
    #[oai(nullable)]
    pub primary: Option<bool>,
}

/// Where and how to upload.
#[derive(Debug, Object)]
pub struct UploadTicket {
    /// Pass to `POST /v1/admin/media/uploads/{id}/complete` once the file is uploaded.
    pub upload_id: Uuid,
    /// HTTP method of the upload: `PUT`.
    pub method: String,
    /// Where to send the file's bytes as the request body. Valid only for this upload's key,
    /// type and size, until `expires_at`.
    pub url: String,
    /// Headers to send with the upload, exactly as given (they are part of the signature).
    pub headers: HashMap<String, String>,
    /// When the URL stops working.
    pub expires_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
enum UploadCreated {
    /// Upload the file to `url`, then complete the upload.
    #[oai(status = 201)]
    Created(Json<UploadTicket>),
}

#[OpenApi(prefix_path = "/v1/admin/media/uploads", tag = "crate::openapi_tags::Tag::Catalog")]
impl MediaUploadsApi {
    /// Start a direct upload of a product image
    ///
    /// Returns a presigned URL to PUT the file to (S3, or this server with the local store).
    /// `unsupported_image_type` (422) for another content type, `file_too_large` (413) over
    /// the plan's limit.
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        body: Json<NewUpload>,
    ) -> Result<UploadCreated, MediaUploadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ProductsWrite).await?;
        Ok(UploadCreated::Created(Json(self.start(&tenant, &body.0).await?)))
    }

    /// Complete a direct upload
    ///
    /// Checks the uploaded object (it exists, has the announced size, and its content is an
    /// image of the announced type) and attaches it to the product. `upload_incomplete` (409)
    /// when nothing was uploaded yet; `upload_size_mismatch` or `unsupported_image_type` (422)
    /// when the object breaks the terms, which deletes it (upload again while the URL works);
    /// `plan_limit_reached` (403) when the image would take the shop's stored images over its
    /// plan's storage limit (the upload stays pending: free space, then complete it again).
    #[oai(path = "/:id/complete", method = "post")]
    async fn complete(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
    ) -> Result<MediaCreated, MediaUploadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ProductsWrite).await?;
        Ok(MediaCreated::Created(Json(self.finish(&tenant, id.0).await?)))
    }
}

impl MediaUploadsApi {
    async fn start(&self, tenant: &Tenant, req: &NewUpload) -> AppResult<UploadTicket> {
        let kind = ImageType::from_mime(&req.content_type).ok_or_else(unsupported_type)?;
        let size = u64::try_from(req.size)
            .ok()
            .filter(|size| *size > 0)
            .ok_or_else(|| AppError::validation("size", "must be positive"))?;
        let limit = plan_limit(&self.state.pool, tenant).await?;
        if size > limit {
            return Err(AppError::FileTooLarge { max_bytes: limit });
        }
        let alt = parse_alt(req.alt.as_deref())?;
        let (id, media_id) = (Uuid::now_v7(), Uuid::now_v7());
        let key = ObjectKey::new(
            tenant.id,
            &format!("products/{}/upload-{id}.{}", req.product_id, kind.extension()),
        )
        .map_err(anyhow::Error::from)?;
        let upload = UploadRow {
            id,
            product_id: req.product_id,
            media_id,
            object_key: key.as_str().to_owned(),
            filename: clean_filename(req.filename.as_deref()),
            content_type: kind.mime().to_owned(),
            size_bytes: req.size,
            alt,
            make_primary: req.primary.unwrap_or(false),
        };
        let expires_at = Utc::now() + UPLOAD_URL_TTL;

        let mut tx = TenantTx::begin(&self.state.pool, tenant).await?;
        db::ensure_product(&mut tx, req.product_id, false).await?;
        db::ensure_room(&mut tx, req.product_id).await?;
        // Housekeeping on the way: uploads abandoned long ago, and any object sent to them.
        let abandoned = db::expire_abandoned_uploads(&mut tx).await?;
        emit_deleted(&mut tx, tenant.id, abandoned, "upload_abandoned").await?;
        db::insert_upload(&mut tx, &upload, expires_at).await?;
        tx.commit().await?;

        let presigned =
            self.state.store.presign_put(&key, kind.mime(), size, UPLOAD_URL_TTL).await?;
        Ok(UploadTicket {
            upload_id: upload.id,
            method: presigned.method.to_owned(),
            url: presigned.url,
            headers: presigned.headers.into_iter().collect(),
            expires_at,
        })
    }

    async fn finish(&self, tenant: &Tenant, id: Uuid) -> AppResult<super::MediaItem> {
        let mut tx = TenantTx::begin(&self.state.pool, tenant).await?;
        let upload = db::find_upload(&mut tx, id).await?;
        tx.commit().await?;

        let store = self.state.store.as_ref();
        let key = ObjectKey::parse(tenant.id, &upload.object_key).map_err(anyhow::Error::from)?;
        // Uploads started by the previous version wrote the image's key itself: completed in
        // place, as before (see the module doc).
        let in_place = !upload.object_key.contains("/upload-");
        let image_key = if in_place {
            key.clone()
        } else {
            // A key of this completion's own: a concurrent completion of the same upload never
            // writes or deletes it.
            let announced =
                ImageType::from_mime(&upload.content_type).ok_or_else(unsupported_type)?;
            let name = format!("{}-{}", upload.media_id, Uuid::now_v7().simple());
            let rest = format!("products/{}/{name}.{}", upload.product_id, announced.extension());
            let image_key = ObjectKey::new(tenant.id, &rest).map_err(anyhow::Error::from)?;
            // The image is a copy of the upload, and the copy is what gets checked: whatever is
            // sent to the URL later, what is served stays what was checked.
            if !store.copy(&key, &image_key, &upload.content_type).await? {
                return Err(upload_incomplete());
            }
            image_key
        };
        let kind = match verify_object(store, &image_key, &upload).await {
            Ok(kind) => kind,
            Err(err) => {
                // The upload broke its terms: remove it too, so it can be sent again.
                store.delete(&key).await?;
                return Err(err);
            }
        };
        let new = NewMedia {
            id: upload.media_id,
            product: upload.product_id,
            object_key: image_key.as_str(),
            content_type: kind.mime(),
            size_bytes: upload.size_bytes,
            alt: &upload.alt,
            filename: &upload.filename,
            primary: upload.make_primary,
        };
        match attach(&self.state, tenant, &new, Some((upload.id, key.as_str()))).await {
            Ok(row) => to_item(store, tenant.id, row).await,
            Err(err) => {
                // Nothing refers to this completion's copy (another completion won, or the
                // upload is still pending with its own key).
                if !in_place {
                    store.delete(&image_key).await?;
                }
                Err(err)
            }
        }
    }
}

fn upload_incomplete() -> AppError {
    AppError::conflict("upload_incomplete", "nothing has been uploaded to this upload's URL yet")
}

/// Checks an uploaded object against its upload's terms; deletes it if it breaks them.
async fn verify_object(
    store: &dyn ObjectStore,
    key: &ObjectKey,
    upload: &UploadRow,
) -> AppResult<ImageType> {
    let Some(meta) = store.head(key).await? else {
        return Err(upload_incomplete());
    };
    let refusal = if i64::try_from(meta.size).ok() != Some(upload.size_bytes) {
        AppError::unprocessable(
            "upload_size_mismatch",
            format!(
                "the uploaded file has {} bytes, not the announced {}",
                meta.size, upload.size_bytes
            ),
        )
    } else {
        let head = store.read_start(key, SNIFF_LEN).await?.unwrap_or_default();
        match ImageType::sniff(&head) {
            Some(kind) if kind.mime() == upload.content_type => return Ok(kind),
            _ => unsupported_type(),
        }
    };
    store.delete(key).await?;
    Err(refusal)
}
