//! `GET/POST /v1/admin/domains`, `DELETE /v1/admin/domains/{id}`,
//! `POST /v1/admin/domains/{id}/verify`, `POST/DELETE /v1/admin/domains/{id}/primary`.
//!
//! A custom domain is added unverified, with the TXT record to create; `verify` looks the
//! record up and, when it holds the token, the storefront answers on the domain. Every change
//! drops this instance's tenant cache at once (other instances hear of it by `NOTIFY`).

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::domains::{self, Domain};
use super::verification::{self, Finding};
use crate::auth::permission::Permission;
use crate::auth::principal::StaffAuth;
use crate::error::{AppError, ShopReadErrors, ShopWriteErrors};
use crate::error_responses;
use crate::state::AppState;
use crate::tenancy::Tenant;

pub struct DomainsApi {
    pub state: AppState,
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

error_responses!(
    /// A verification: the DNS may not hold the record (422) or not answer (503).
    DomainVerifyErrors {
        400 BadRequest, 401 Unauthorized, 403 Forbidden, 404 NotFound, 409 Conflict,
        422 Unprocessable, 429 TooManyRequests, 503 ServiceUnavailable
    }
);

#[OpenApi(prefix_path = "/v1/admin", tag = "crate::openapi_tags::Tag::Shop")]
impl DomainsApi {
    /// The shop's custom domains
    ///
    /// Verified or not, each with the DNS record that verifies it and the last re-check.
    #[oai(path = "/domains", method = "get")]
    async fn list_domains(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
    ) -> Result<Json<Vec<Domain>>, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::DomainsRead).await?;
        Ok(Json(domains::list(&self.state.pool, tenant.id).await?))
    }

    /// Claim a custom domain
    ///
    /// The domain is added unverified and does not route yet: create the TXT record of
    /// `dns_record` (`_shopfleet.<hostname>` = `shopfleet-verify=<token>`), point the hostname
    /// at the platform, then call `POST /v1/admin/domains/{id}/verify`. `domain_taken` (409)
    /// if another shop has verified it, `domain_exists` (409) if this shop has it already,
    /// `plan_limit_reached` (403) when the shop has as many domains (claims included) as its
    /// plan allows.
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
        Ok(DomainCreated::Created(Json(domain)))
    }

    /// Detach a custom domain
    ///
    /// It stops routing at once; if it was the primary domain, the shop has none.
    #[oai(path = "/domains/:id", method = "delete")]
    async fn remove_domain(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
    ) -> Result<DomainDeleted, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::DomainsWrite).await?;
        domains::remove(&self.state.pool, tenant.id, id.0).await?;
        // Other instances hear of it by NOTIFY; this one must not answer from its cache meanwhile.
        self.state.tenants.invalidate_all();
        Ok(DomainDeleted::NoContent)
    }

    /// Verify a custom domain by its DNS record
    ///
    /// Looks up the TXT records of `_shopfleet.<hostname>`; when one is
    /// `shopfleet-verify=<token>`, the domain is verified and the storefront answers on it.
    /// Otherwise `domain_not_verified` (422) says what was found, `dns_unavailable` (503) that
    /// the DNS gave no answer (try again), and `domain_taken` (409) that another shop has
    /// verified the hostname. Verifying a verified domain checks it again and clears
    /// `last_check_error` when the record is there.
    #[oai(path = "/domains/:id/verify", method = "post")]
    async fn verify_domain(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
    ) -> Result<Json<Domain>, DomainVerifyErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::DomainsWrite).await?;
        let domain = domains::get(&self.state.pool, tenant.id, id.0).await?;
        match verification::check(&self.state.dns, &domain).await {
            Finding::Present => {
                let verified = domains::mark_verified(&self.state.pool, tenant.id, &domain).await?;
                self.state.tenants.invalidate_all();
                Ok(Json(verified))
            }
            Finding::Missing(found) => {
                Err(AppError::unprocessable("domain_not_verified", found).into())
            }
            Finding::Unavailable(why) => Err(AppError::ServiceUnavailable {
                code: "dns_unavailable",
                message: format!("{why}; try again later"),
            }
            .into()),
        }
    }

    /// Make a verified domain the primary one
    ///
    /// The shop's canonical hostname (the previous primary domain, if any, no longer is).
    /// `domain_not_verified` (422) for an unverified domain. A domain that is removed or loses
    /// its verification stops being primary.
    #[oai(path = "/domains/:id/primary", method = "post")]
    async fn set_primary(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
    ) -> Result<Json<Domain>, ShopWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::DomainsWrite).await?;
        let domain = domains::set_primary(&self.state.pool, tenant.id, id.0).await?;
        self.state.tenants.invalidate_all();
        Ok(Json(domain))
    }

    /// Stop using a domain as the primary one
    ///
    /// The shop is left without a primary domain (if this one was it).
    #[oai(path = "/domains/:id/primary", method = "delete")]
    async fn clear_primary(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
    ) -> Result<Json<Domain>, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::DomainsWrite).await?;
        let domain = domains::clear_primary(&self.state.pool, tenant.id, id.0).await?;
        self.state.tenants.invalidate_all();
        Ok(Json(domain))
    }
}
