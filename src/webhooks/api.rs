//! `GET/POST /v1/admin/webhooks`, `GET/PATCH/DELETE /v1/admin/webhooks/{id}`,
//! `GET /v1/admin/webhooks/{id}/deliveries`, `POST /v1/admin/webhooks/{id}/test`.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::json;
use uuid::Uuid;

use super::endpoints::{self, Delivery, EndpointChange, NewEndpoint, WebhookEndpoint};
use super::{CONSUMER, net};
use crate::auth::permission::Permission;
use crate::auth::principal::StaffAuth;
use crate::error::{AppError, AppResult, ShopListErrors, ShopReadErrors, ShopWriteErrors};
use crate::events::{self, EventKind};
use crate::quotas::{Quota, Resource};
use crate::state::AppState;
use crate::tenancy::{Tenant, TenantTx};
use crate::values::{decode_cursor, encode_cursor, next_page, page_limit};

pub struct WebhooksAdminApi {
    pub state: AppState,
}

#[derive(Debug, Object)]
pub struct WebhookEndpointPage {
    pub items: Vec<WebhookEndpoint>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Object)]
pub struct NewWebhookEndpoint {
    /// Absolute `http://` or `https://` URL, at most 2048 characters, on a public address.
    pub url: String,
    /// Event kinds to deliver: `order.created`, `order.paid`, `order.fulfilled`,
    /// `order.delivered`, `order.cancelled`, `order.refunded`, `product.created`,
    /// `product.updated`, `product.deleted`, `inventory.low`, or `*` for all.
    #[oai(validator(min_items = 1))]
    pub events: Vec<String>,
    /// Up to 500 characters.
    #[oai(nullable)]
    pub description: Option<String>,
}

/// The endpoint with its signing secret: shown here once, never again.
#[derive(Debug, Object)]
pub struct WebhookEndpointWithSecret {
    #[oai(flatten)]
    pub endpoint: WebhookEndpoint,
    /// HMAC-SHA256 key of the `Shopfleet-Signature` header. Store it now: reads never show it.
    pub secret: String,
}

#[derive(Debug, Object)]
pub struct WebhookEndpointUpdate {
    #[oai(nullable)]
    pub url: Option<String>,
    #[oai(nullable)]
    #[oai(validator(min_items = 1))]
    pub events: Option<Vec<String>>,
    #[oai(nullable)]
    pub description: Option<String>,
    /// `false` stops deliveries to it; queued ones are dead-lettered unsent.
    #[oai(nullable)]
    pub active: Option<bool>,
    /// `true` makes a new secret, returned once in `secret`; deliveries are signed with both
    /// the new and the old secret for 24 hours.
    #[oai(nullable)]
    pub rotate_secret: Option<bool>,
}

#[derive(Debug, Object)]
pub struct WebhookEndpointChanged {
    #[oai(flatten)]
    pub endpoint: WebhookEndpoint,
    /// The new secret, when `rotate_secret` was `true`; shown once.
    #[oai(skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub secret: Option<String>,
}

#[derive(Debug, Object)]
pub struct DeliveryPage {
    /// Newest first. Delivered ones are kept 7 days; failed ones until the endpoint is deleted.
    pub items: Vec<Delivery>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Object)]
pub struct TestQueued {
    /// Id of the `webhook.test` event (its `Shopfleet-Event-Id`).
    pub event_id: Uuid,
}

#[derive(ApiResponse)]
enum EndpointCreated {
    #[oai(status = 201)]
    Created(Json<WebhookEndpointWithSecret>),
}

#[derive(ApiResponse)]
enum EndpointDeleted {
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
enum TestAccepted {
    /// Queued; it is delivered like any event (see the endpoint's deliveries).
    #[oai(status = 202)]
    Accepted(Json<TestQueued>),
}

#[OpenApi(prefix_path = "/v1/admin/webhooks", tag = "crate::openapi_tags::Tag::Webhooks")]
impl WebhooksAdminApi {
    /// List webhook endpoints, newest first
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        cursor: Query<Option<String>>,
        /// 1–100, default 20.
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<WebhookEndpointPage>, ShopListErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::WebhooksRead).await?;
        let limit = page_limit(limit.0)?;
        let after: Option<Uuid> = cursor.0.as_deref().map(decode_cursor).transpose()?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let mut items = endpoints::list(&mut tx, after, limit + 1).await?;
        tx.commit().await?;
        let next_cursor = next_page(&mut items, limit).map(|last| encode_cursor(&last.id));
        Ok(Json(WebhookEndpointPage { items, next_cursor }))
    }

    /// Register a webhook endpoint
    ///
    /// The response carries the signing secret, shown this once. 422 `validation_failed`
    /// (`url`, `events`, `description`), 422 `webhook_url_not_allowed` for a host on a private
    /// network, 422 `webhook_url_unresolvable`, 403 `plan_limit_reached` when the shop has as
    /// many endpoints as its plan allows.
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        body: Json<NewWebhookEndpoint>,
    ) -> Result<EndpointCreated, ShopWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::WebhooksWrite).await?;
        let url = self.checked_url(&body.url).await?;
        let new = NewEndpoint {
            url,
            events: endpoints::parse_events("events", &body.events)?,
            description: endpoints::parse_description(
                "description",
                body.description.as_deref().unwrap_or_default(),
            )?,
            secret: endpoints::new_secret(),
        };
        let quota = Quota::read(&self.state.pool, tenant.id, Resource::WebhookEndpoints).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let endpoint = endpoints::insert(&mut tx, &new).await?;
        quota.enforce(&mut tx, 1).await?;
        tx.commit().await?;
        Ok(EndpointCreated::Created(Json(WebhookEndpointWithSecret {
            endpoint,
            secret: new.secret,
        })))
    }

    /// A webhook endpoint (without its secret)
    #[oai(path = "/:id", method = "get")]
    async fn get(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
    ) -> Result<Json<WebhookEndpoint>, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::WebhooksRead).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let endpoint = endpoints::find(&mut tx, id.0).await?;
        tx.commit().await?;
        Ok(Json(endpoint))
    }

    /// Change a webhook endpoint
    ///
    /// Absent fields keep their values. Deliveries already queued keep going to the endpoint
    /// (to its new URL, if changed).
    #[oai(path = "/:id", method = "patch")]
    async fn update(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
        body: Json<WebhookEndpointUpdate>,
    ) -> Result<Json<WebhookEndpointChanged>, ShopWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::WebhooksWrite).await?;
        let url = match body.url.as_deref() {
            Some(raw) => Some(self.checked_url(raw).await?),
            None => None,
        };
        let change = EndpointChange {
            url,
            events: body
                .events
                .as_deref()
                .map(|raw| endpoints::parse_events("events", raw))
                .transpose()?,
            description: body
                .description
                .as_deref()
                .map(|raw| endpoints::parse_description("description", raw))
                .transpose()?,
            active: body.active,
            secret: (body.rotate_secret == Some(true)).then(endpoints::new_secret),
        };
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let endpoint = endpoints::update(&mut tx, id.0, &change).await?;
        tx.commit().await?;
        Ok(Json(WebhookEndpointChanged { endpoint, secret: change.secret }))
    }

    /// Delete a webhook endpoint and its deliveries
    #[oai(path = "/:id", method = "delete")]
    async fn delete(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
    ) -> Result<EndpointDeleted, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::WebhooksWrite).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        if !endpoints::delete(&mut tx, id.0).await? {
            return Err(endpoints::not_found().into());
        }
        tx.commit().await?;
        Ok(EndpointDeleted::NoContent)
    }

    /// The endpoint's deliveries, newest first, with every attempt
    #[oai(path = "/:id/deliveries", method = "get")]
    async fn deliveries(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
        cursor: Query<Option<String>>,
        /// 1–100, default 20.
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<DeliveryPage>, ShopListErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::WebhooksRead).await?;
        let limit = page_limit(limit.0)?;
        let after: Option<Uuid> = cursor.0.as_deref().map(decode_cursor).transpose()?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        endpoints::find(&mut tx, id.0).await?;
        let mut items = endpoints::deliveries(&mut tx, id.0, after, limit + 1).await?;
        tx.commit().await?;
        let next_cursor = next_page(&mut items, limit).map(|last| encode_cursor(&last.id));
        Ok(Json(DeliveryPage { items, next_cursor }))
    }

    /// Send a `webhook.test` event to this endpoint only
    ///
    /// 409 `webhook_endpoint_inactive` if the endpoint is inactive.
    #[oai(path = "/:id/test", method = "post")]
    async fn test(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
    ) -> Result<TestAccepted, ShopWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::WebhooksWrite).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let endpoint = endpoints::find(&mut tx, id.0).await?;
        if !endpoint.active {
            return Err(AppError::conflict(
                "webhook_endpoint_inactive",
                "the endpoint is inactive; activate it first",
            )
            .into());
        }
        let payload =
            json!({ "message": "A test event from shopfleet.", "endpoint_id": endpoint.id });
        let event_id = events::emit_to(
            &mut tx,
            tenant.id,
            CONSUMER,
            endpoint.id,
            EventKind::WebhookTest,
            &payload,
        )
        .await?;
        tx.commit().await?;
        Ok(TestAccepted::Accepted(Json(TestQueued { event_id })))
    }
}

impl WebhooksAdminApi {
    /// Parses the URL and, unless private networks are allowed, refuses hosts that are or
    /// resolve to non-public addresses (checked again at every delivery).
    async fn checked_url(&self, raw: &str) -> AppResult<String> {
        let url = net::parse_url("url", raw)?;
        net::check_target(&url, self.state.config.webhooks.allow_private_networks).await?;
        Ok(url.to_string())
    }
}
