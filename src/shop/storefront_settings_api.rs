//! `GET/PATCH /v1/admin/shop/storefront`: the storefront section of the shop's settings.

use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::payload::{Binary, Json};

use super::storefront_settings::{self, StorefrontSettings, StorefrontSettingsUpdate};
use crate::auth::permission::Permission;
use crate::auth::principal::StaffAuth;
use crate::error::{AppResult, ShopReadErrors, ShopWriteErrors};
use crate::error_responses;
use crate::state::AppState;
use crate::tenancy::{Tenant, TenantTx};

pub struct StorefrontSettingsApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1/admin/shop", tag = "crate::openapi_tags::Tag::Shop")]
impl StorefrontSettingsApi {
    /// How the shop's storefront pages look and speak
    #[oai(path = "/storefront", method = "get")]
    async fn get(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
    ) -> Result<Json<StorefrontSettings>, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ShopRead).await?;
        Ok(self.current(&tenant).await?)
    }

    /// Change the storefront's language, accent colour, announcement, home page or links
    ///
    /// An omitted field keeps its value; `featured_category_id: null` clears it.
    #[oai(path = "/storefront", method = "patch")]
    async fn update(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        body: Json<StorefrontSettingsUpdate>,
    ) -> Result<Json<StorefrontSettings>, ShopWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ShopWrite).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let settings = storefront_settings::update(&mut tx, &body).await?;
        tx.commit().await?;
        let store = self.state.store.as_ref();
        Ok(Json(storefront_settings::with_logo_url(settings, store, tenant.id).await?))
    }

    /// Upload the storefront's logo
    ///
    /// The body is the image itself (JPEG, PNG, WebP, GIF or AVIF, recognised by its content;
    /// at most 512 KiB). Replaces the current logo, whose file is deleted.
    /// `unsupported_image_type` (422), `file_too_large` (413).
    #[oai(path = "/storefront/logo", method = "put")]
    async fn put_logo(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        body: Binary<Vec<u8>>,
    ) -> Result<Json<StorefrontSettings>, LogoErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ShopWrite).await?;
        storefront_settings::set_logo(&self.state.pool, self.state.store.as_ref(), &tenant, body.0)
            .await?;
        Ok(self.current(&tenant).await?)
    }

    /// Remove the storefront's logo
    #[oai(path = "/storefront/logo", method = "delete")]
    async fn delete_logo(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
    ) -> Result<Json<StorefrontSettings>, ShopWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ShopWrite).await?;
        storefront_settings::replace_logo(&self.state.pool, &tenant, None).await?;
        Ok(self.current(&tenant).await?)
    }
}

error_responses!(LogoErrors { 400 BadRequest, 401 Unauthorized, 403 Forbidden, 404 NotFound, 413 PayloadTooLarge, 422 Unprocessable, 429 TooManyRequests });

impl StorefrontSettingsApi {
    async fn current(&self, tenant: &Tenant) -> AppResult<Json<StorefrontSettings>> {
        let mut tx = TenantTx::begin(&self.state.pool, tenant).await?;
        let settings = storefront_settings::load(&mut tx).await?;
        tx.commit().await?;
        let store = self.state.store.as_ref();
        Ok(Json(storefront_settings::with_logo_url(settings, store, tenant.id).await?))
    }
}
