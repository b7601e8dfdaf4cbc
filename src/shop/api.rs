//! `GET/PATCH /v1/admin/shop`.

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use crate::auth::permission::Permission;
use crate::auth::principal::StaffAuth;
use crate::error::{AppError, AppResult, ShopReadErrors, ShopWriteErrors};
use crate::state::AppState;
use crate::tenancy::Tenant;
use crate::values::{Currency, Email, Name};

pub struct ShopApi {
    pub state: AppState,
}

#[derive(Debug, Object, sqlx::FromRow)]
pub struct ShopSettings {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    /// ISO 4217 code of the shop's prices.
    pub currency: String,
    #[oai(nullable)]
    pub contact_email: Option<String>,
    pub plan: String,
    /// The shop's storefront URL on the platform's domain.
    #[oai(default)]
    #[sqlx(skip)]
    pub url: String,
}

#[derive(Debug, Object)]
pub struct ShopSettingsUpdate {
    #[oai(nullable)]
    #[oai(validator(
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: Option<String>,
    /// Changing it does not convert existing prices.
    #[oai(nullable)]
    pub currency: Option<String>,
    #[oai(nullable)]
    pub contact_email: Option<String>,
}

#[OpenApi(prefix_path = "/v1/admin", tag = "crate::openapi_tags::Tag::Shop")]
impl ShopApi {
    /// The shop's settings
    #[oai(path = "/shop", method = "get")]
    async fn get(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
    ) -> Result<Json<ShopSettings>, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ShopRead).await?;
        Ok(Json(self.settings(&tenant).await?))
    }

    /// Change the shop's name, currency or contact e-mail
    #[oai(path = "/shop", method = "patch")]
    async fn update(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        body: Json<ShopSettingsUpdate>,
    ) -> Result<Json<ShopSettings>, ShopWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ShopWrite).await?;
        let name = body.name.as_deref().map(|n| Name::parse("name", n, 100)).transpose()?;
        let currency =
            body.currency.as_deref().map(|c| Currency::parse("currency", c)).transpose()?;
        let email =
            body.contact_email.as_deref().map(|e| Email::parse("contact_email", e)).transpose()?;
        sqlx::query(
            "update platform.shops set name = coalesce($2, name), currency = coalesce($3, currency), \
             contact_email = coalesce($4, contact_email), updated_at = now() where id = $1",
        )
        .bind(tenant.id)
        .bind(name)
        .bind(currency)
        .bind(email.as_ref().map(Email::as_str))
        .execute(&self.state.pool)
        .await?;
        self.state.tenants.invalidate_all();
        Ok(Json(self.settings(&tenant).await?))
    }
}

impl ShopApi {
    async fn settings(&self, tenant: &Tenant) -> AppResult<ShopSettings> {
        let mut settings: ShopSettings = sqlx::query_as(
            "select id, slug, name, currency, contact_email, plan from platform.shops where id = $1",
        )
        .bind(tenant.id)
        .fetch_optional(&self.state.pool)
        .await?
        .ok_or_else(|| AppError::not_found("shop_not_found", "no shop at this address"))?;
        settings.url = self.state.shop_url(&settings.slug);
        Ok(settings)
    }
}
