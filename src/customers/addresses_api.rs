//! `GET/POST /v1/store/me/addresses`, `PATCH/DELETE /v1/store/me/addresses/{id}`: the signed-in
//! customer's address book.
//!
//! Decisions: a customer with addresses always has exactly one default. The first address
//! becomes the default; making another one the default clears the old one in the same
//! transaction; deleting the default promotes the newest remaining address. So `is_default:
//! false` on the current default is refused (422): make another address the default instead.
//!
//! Rule: every statement filters on the token's customer id; another customer's address id is
//! 404 `address_not_found`, never 403 (existence is not revealed).

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::addresses::{self, Address, AddressInput, validate_address};
use crate::auth::principal::CustomerAuth;
use crate::error::{AppError, AppResult};
use crate::error_responses;
use crate::state::AppState;
use crate::tenancy::{Tenant, TenantTx};

pub struct CustomerAddressesApi {
    pub state: AppState,
}

#[derive(Debug, Object)]
pub struct NewAddress {
    #[oai(flatten)]
    pub address: AddressInput,
    /// Make it the default address. The customer's first address is the default regardless.
    #[oai(default)]
    pub is_default: bool,
}

/// Absent fields keep their values.
#[derive(Debug, Object)]
pub struct AddressUpdate {
    #[oai(nullable)]
    pub name: Option<String>,
    #[oai(nullable)]
    pub line1: Option<String>,
    #[oai(nullable)]
    pub line2: Option<String>,
    #[oai(nullable)]
    pub city: Option<String>,
    #[oai(nullable)]
    pub region: Option<String>,
    #[oai(nullable)]
    pub postal_code: Option<String>,
    #[oai(nullable)]
    pub country: Option<String>,
    #[oai(nullable)]
    pub phone: Option<String>,
    /// `true` makes it the default (the previous default stops being one).
    #[oai(nullable)]
    pub is_default: Option<bool>,
}

#[derive(ApiResponse)]
enum AddressCreated {
    #[oai(status = 201)]
    Created(Json<Address>),
}

#[derive(ApiResponse)]
enum AddressDeleted {
    /// Deleted; if it was the default, the newest remaining address is the default now.
    #[oai(status = 204)]
    NoContent,
}

error_responses!(
    /// The signed-in customer's own data.
    AddressReadErrors { 400 BadRequest, 401 Unauthorized, 403 Forbidden, 404 NotFound, 429 TooManyRequests }
);
error_responses!(
    /// Changes to the signed-in customer's address book.
    AddressWriteErrors { 400 BadRequest, 401 Unauthorized, 403 Forbidden, 404 NotFound, 422 Unprocessable, 429 TooManyRequests }
);

#[OpenApi(prefix_path = "/v1/store/me/addresses", tag = "crate::openapi_tags::Tag::Customers")]
impl CustomerAddressesApi {
    /// The signed-in customer's addresses, the default first
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        auth: CustomerAuth,
        tenant: Data<&Tenant>,
    ) -> Result<Json<Vec<Address>>, AddressReadErrors> {
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let all = addresses::list(&mut tx, auth.0.id).await?;
        tx.commit().await?;
        Ok(Json(all))
    }

    /// Add an address
    ///
    /// At most 50 per customer (`too_many_addresses`, 422).
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        auth: CustomerAuth,
        tenant: Data<&Tenant>,
        body: Json<NewAddress>,
    ) -> Result<AddressCreated, AddressWriteErrors> {
        Ok(AddressCreated::Created(Json(self.add(&tenant, auth.0.id, &body.0).await?)))
    }

    /// Change an address, or make it the default
    #[oai(path = "/:id", method = "patch")]
    async fn update(
        &self,
        auth: CustomerAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
        body: Json<AddressUpdate>,
    ) -> Result<Json<Address>, AddressWriteErrors> {
        Ok(Json(self.change(&tenant, auth.0.id, id.0, body.0).await?))
    }

    /// Delete an address
    #[oai(path = "/:id", method = "delete")]
    async fn delete(
        &self,
        auth: CustomerAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
    ) -> Result<AddressDeleted, AddressReadErrors> {
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        addresses::delete(&mut tx, auth.0.id, id.0).await?;
        tx.commit().await?;
        Ok(AddressDeleted::NoContent)
    }
}

impl CustomerAddressesApi {
    async fn add(&self, tenant: &Tenant, customer: Uuid, req: &NewAddress) -> AppResult<Address> {
        let mut tx = TenantTx::begin(&self.state.pool, tenant).await?;
        let created = addresses::add(&mut tx, customer, &req.address, req.is_default).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn change(
        &self,
        tenant: &Tenant,
        customer: Uuid,
        id: Uuid,
        req: AddressUpdate,
    ) -> AppResult<Address> {
        let mut tx = TenantTx::begin(&self.state.pool, tenant).await?;
        addresses::lock_customer(&mut tx, customer).await?;
        let current = addresses::find_for_update(&mut tx, customer, id).await?;
        let base = current.input();
        let merged = AddressInput {
            name: req.name.unwrap_or(base.name),
            line1: req.line1.unwrap_or(base.line1),
            line2: req.line2.unwrap_or(base.line2),
            city: req.city.unwrap_or(base.city),
            region: req.region.unwrap_or(base.region),
            postal_code: req.postal_code.unwrap_or(base.postal_code),
            country: req.country.unwrap_or(base.country),
            phone: req.phone.unwrap_or(base.phone),
        };
        let address = validate_address("", &merged)?;
        let is_default = match req.is_default {
            Some(false) if current.is_default => {
                return Err(AppError::validation(
                    "is_default",
                    "the default address stays the default until another address is made the default",
                ));
            }
            Some(true) if !current.is_default => {
                addresses::clear_default(&mut tx, customer).await?;
                true
            }
            _ => current.is_default,
        };
        let updated = addresses::update(&mut tx, id, &address, is_default).await?;
        tx.commit().await?;
        Ok(updated)
    }
}
