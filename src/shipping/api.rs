//! `GET/POST /v1/admin/shipping-methods`, `PATCH/DELETE /v1/admin/shipping-methods/{id}`, and the
//! storefront's `GET /v1/store/shipping-methods`.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::methods::{self, MethodFields, NewShippingMethod, ShippingMethod, ShippingMethodUpdate};
use crate::auth::permission::Permission;
use crate::auth::principal::StaffAuth;
use crate::error::{AppResult, ShopReadErrors, StorefrontListErrors};
use crate::error_responses;
use crate::state::AppState;
use crate::tenancy::{Tenant, TenantTx};
use crate::values::Country;

pub struct ShippingAdminApi {
    pub state: AppState,
}

pub struct ShippingStorefrontApi {
    pub state: AppState,
}

/// A shipping method as the storefront offers it.
#[derive(Debug, Object)]
pub struct StoreShippingMethod {
    pub id: Uuid,
    pub name: String,
    /// Flat rate in minor units of `currency`.
    pub price: i64,
    /// Free when the cart's subtotal (after discounts) is at least this; absent: never free.
    #[oai(nullable)]
    pub free_above: Option<i64>,
    /// ISO 4217 code of the amounts: the shop's currency.
    pub currency: String,
}

#[derive(ApiResponse)]
enum MethodCreated {
    #[oai(status = 201)]
    Created(Json<ShippingMethod>),
}

#[derive(ApiResponse)]
enum MethodDeleted {
    /// Deleted. Orders keep the method's name and price as they were at checkout.
    #[oai(status = 204)]
    NoContent,
}

error_responses!(
    /// A shipping method create or update: validation and the per-shop limit (422), no conflicts.
    MethodWriteErrors { 400 BadRequest, 401 Unauthorized, 403 Forbidden, 404 NotFound, 422 Unprocessable, 429 TooManyRequests }
);

fn with_currency(mut method: ShippingMethod, tenant: &Tenant) -> ShippingMethod {
    method.currency = tenant.currency.clone();
    method
}

#[OpenApi(prefix_path = "/v1/admin/shipping-methods", tag = "crate::openapi_tags::Tag::Shipping")]
impl ShippingAdminApi {
    /// Every shipping method, active or not, in display order
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
    ) -> Result<Json<Vec<ShippingMethod>>, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ShippingRead).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let all = methods::list(&mut tx).await?;
        tx.commit().await?;
        Ok(Json(all.into_iter().map(|m| with_currency(m, &tenant)).collect()))
    }

    /// Create a shipping method
    ///
    /// At most 100 per shop (`too_many_shipping_methods`, 422).
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        body: Json<NewShippingMethod>,
    ) -> Result<MethodCreated, MethodWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ShippingWrite).await?;
        let fields = MethodFields::from_new(&body.0)?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let method = methods::insert(&mut tx, &fields).await?;
        tx.commit().await?;
        Ok(MethodCreated::Created(Json(with_currency(method, &tenant))))
    }

    /// Change a shipping method
    #[oai(path = "/:id", method = "patch")]
    async fn update(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
        body: Json<ShippingMethodUpdate>,
    ) -> Result<Json<ShippingMethod>, MethodWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ShippingWrite).await?;
        Ok(Json(with_currency(self.change(&tenant, id.0, &body.0).await?, &tenant)))
    }

    /// Delete a shipping method
    ///
    /// Orders keep their own copy of the method's name and price; carts that had chosen it
    /// choose again at checkout. To stop offering a method but keep it, set `active: false`.
    #[oai(path = "/:id", method = "delete")]
    async fn delete(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
    ) -> Result<MethodDeleted, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ShippingWrite).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        methods::delete(&mut tx, id.0).await?;
        tx.commit().await?;
        Ok(MethodDeleted::NoContent)
    }
}

impl ShippingAdminApi {
    async fn change(
        &self,
        tenant: &Tenant,
        id: Uuid,
        req: &ShippingMethodUpdate,
    ) -> AppResult<ShippingMethod> {
        let mut tx = TenantTx::begin(&self.state.pool, tenant).await?;
        let current = methods::find_for_update(&mut tx, id).await?;
        let fields = MethodFields::from_update(current, req)?;
        let method = methods::update(&mut tx, id, &fields).await?;
        tx.commit().await?;
        Ok(method)
    }
}

#[OpenApi(prefix_path = "/v1/store/shipping-methods", tag = "crate::openapi_tags::Tag::Shipping")]
impl ShippingStorefrontApi {
    /// Shipping methods offered at checkout
    ///
    /// Active methods only, in display order, with prices in the shop's currency.
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        tenant: Data<&Tenant>,
        /// Only methods that ship to this ISO 3166-1 alpha-2 country.
        #[oai(validator(pattern = "^[A-Za-z]{2}$"))]
        country: Query<Option<String>>,
    ) -> Result<Json<Vec<StoreShippingMethod>>, StorefrontListErrors> {
        let country = country.0.as_deref().map(|c| Country::parse("country", c)).transpose()?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let active = methods::list_active(&mut tx, country.as_deref()).await?;
        tx.commit().await?;
        Ok(Json(
            active
                .into_iter()
                .map(|m| StoreShippingMethod {
                    id: m.id,
                    name: m.name,
                    price: m.price,
                    free_above: m.free_above,
                    currency: tenant.currency.clone(),
                })
                .collect(),
        ))
    }
}
