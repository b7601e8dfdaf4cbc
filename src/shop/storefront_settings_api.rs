//! `GET/PATCH /v1/admin/shop/storefront`: the storefront section of the shop's settings.

use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::payload::Json;

use super::storefront_settings::{self, StorefrontSettings, StorefrontSettingsUpdate};
use crate::auth::permission::Permission;
use crate::auth::principal::StaffAuth;
use crate::error::{ShopReadErrors, ShopWriteErrors};
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
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let settings = storefront_settings::load(&mut tx).await?;
        tx.commit().await?;
        Ok(Json(settings))
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
        Ok(Json(settings))
    }
}
