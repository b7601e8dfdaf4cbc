//! `GET/PATCH /v1/admin/shop` and `GET/POST /v1/admin/domains`, `DELETE /v1/admin/domains/{id}`.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::domains::{self, Domain};
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

#[derive(Debug, Object)]
pub struct NewDomain {
    pub hostname: String,
}

#[derive(ApiResponse)]
enum DomainCreated {
    #[oai(status = 201)]
    Created(Json<Domain>),
}

#[derive(ApiResponse)]
enum DomainDeleted {
    #[oai(status = 204)]
    NoContent,
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

    /// The shop's custom domains
    #[oai(path = "/domains", method = "get")]
    async fn list_domains(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
    ) -> Result<Json<Vec<Domain>>, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::DomainsRead).await?;
        Ok(Json(domains::list(&self.state.pool, tenant.id).await?))
    }

    /// Attach a custom domain
    ///
    /// The storefront answers on it as soon as DNS points at the platform. `domain_taken` (409)
    /// if any shop already uses it.
    #[oai(path = "/domains", method = "post")]
    async fn add_domain(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        body: Json<NewDomain>,
    ) -> Result<DomainCreated, ShopWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::DomainsWrite).await?;
        let hostname = domains::parse_hostname(&body.hostname, &self.state.config.base_domain)?;
        let domain = domains::add(&self.state.pool, tenant.id, &hostname).await?;
        // Other instances hear of it by NOTIFY; this one must not answer from its cache meanwhile.
        self.state.tenants.invalidate_all();
        Ok(DomainCreated::Created(Json(domain)))
    }

    /// Detach a custom domain
    #[oai(path = "/domains/:id", method = "delete")]
    async fn remove_domain(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
    ) -> Result<DomainDeleted, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::DomainsWrite).await?;
        domains::remove(&self.state.pool, tenant.id, id.0).await?;
        self.state.tenants.invalidate_all();
        Ok(DomainDeleted::NoContent)
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
