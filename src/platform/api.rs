//! `/v1/platform/…`: the platform admin API.

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::admins;
use super::audit::{self, Actor, AuditEntry};
use super::provisioning;
use super::shops::{self, ShopRecord, ShopUsage};
use crate::auth::principal::PlatformAdminAuth;
use crate::auth::tokens::TokenKind;
use crate::error::{AppError, AppResult};
use crate::error_responses;
use crate::sessions::invalid_credentials;
use crate::state::AppState;
use crate::storage;
use crate::tenancy::{ShopId, ShopStatus, migrate};
use crate::values::{decode_cursor, encode_cursor, escape_like, next_page, page_limit};

pub struct PlatformApi {
    pub state: AppState,
}

#[derive(Debug, Object)]
pub struct PlatformLogin {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Object)]
pub struct PlatformToken {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
}

#[derive(Debug, Object)]
pub struct ShopPage {
    pub items: Vec<ShopRecord>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Object)]
pub struct ShopDetail {
    #[oai(flatten)]
    pub shop: ShopRecord,
    /// Storefront URL on the platform's domain.
    pub url: String,
    /// The verified custom domains the shop answers on (unverified claims are left out).
    pub domains: Vec<String>,
    /// Tenant migration version of this build; `schema_version` below it means pending work.
    pub latest_schema_version: i64,
    /// Absent for purged shops.
    #[oai(nullable)]
    pub usage: Option<ShopUsage>,
}

#[derive(Debug, Object)]
pub struct ShopPlanUpdate {
    /// A plan code: `free`, `basic`, `pro`.
    pub plan: String,
}

#[derive(Debug, Object)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
enum ShopDeleted {
    #[oai(status = 204)]
    NoContent,
}

error_responses!(PlatformLoginErrors { 400 BadRequest, 401 Unauthorized, 429 TooManyRequests });
error_responses!(PlatformListErrors { 400 BadRequest, 401 Unauthorized, 422 Unprocessable });
error_responses!(PlatformReadErrors { 401 Unauthorized, 404 NotFound });
error_responses!(PlatformChangeErrors { 401 Unauthorized, 404 NotFound, 409 Conflict, 422 Unprocessable });

#[OpenApi(prefix_path = "/v1/platform", tag = "crate::openapi_tags::Tag::Platform")]
impl PlatformApi {
    /// Sign in as a platform admin
    #[oai(path = "/auth/login", method = "post")]
    async fn login(
        &self,
        body: Json<PlatformLogin>,
    ) -> Result<Json<PlatformToken>, PlatformLoginErrors> {
        // Counted before verifying (see `limits::login`); given back if never verified.
        let attempt =
            self.state.limits.begin_login("platform", "platform_admin", &body.email).await?;
        let verified = async {
            let account = admins::find_by_email(&self.state.pool, &body.email).await?;
            let (id, hash) = account.map_or((None, None), |(id, hash)| (Some(id), Some(hash)));
            let valid = self.state.passwords.verify(body.password.clone(), hash).await?;
            Ok::<_, AppError>(id.filter(|_| valid))
        }
        .await;
        let verified = match verified {
            Ok(verified) => verified,
            Err(err) => {
                attempt.refund().await;
                return Err(err.into());
            }
        };
        let Some(id) = verified else {
            return Err(invalid_credentials().into());
        };
        attempt.succeeded().await;
        let access_token =
            self.state.tokens.issue_access(TokenKind::PlatformAdmin, id, None, None)?;
        Ok(Json(PlatformToken {
            access_token,
            token_type: "Bearer".to_owned(),
            expires_in: self.state.tokens.access_ttl.num_seconds(),
        }))
    }

    /// List shops
    #[oai(path = "/shops", method = "get")]
    async fn list_shops(
        &self,
        _auth: PlatformAdminAuth,
        /// Case-insensitive match on slug or name.
        q: Query<Option<String>>,
        /// `active`, `suspended`, `deleted` or `purged`.
        status: Query<Option<String>>,
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
    ) -> Result<Json<ShopPage>, PlatformListErrors> {
        let limit = page_limit(limit.0)?;
        if let Some(status) = status.0.as_deref()
            && ShopStatus::parse(status).is_none()
        {
            return Err(AppError::validation("status", "is not a shop status").into());
        }
        let before: Option<Uuid> = cursor.0.as_deref().map(decode_cursor).transpose()?;
        let pattern =
            q.0.as_deref()
                .map(str::trim)
                .filter(|q| !q.is_empty())
                .map(|q| format!("%{}%", escape_like(q)));
        let mut items = shops::list(
            &self.state.pool,
            pattern.as_deref(),
            status.0.as_deref(),
            before,
            limit + 1,
        )
        .await?;
        let next_cursor = next_page(&mut items, limit).map(|last| encode_cursor(&last.id));
        Ok(Json(ShopPage { items, next_cursor }))
    }

    /// A shop with its domains and usage
    #[oai(path = "/shops/:id", method = "get")]
    async fn get_shop(
        &self,
        _auth: PlatformAdminAuth,
        id: Path<Uuid>,
    ) -> Result<Json<ShopDetail>, PlatformReadErrors> {
        Ok(Json(self.detail(id.0).await?))
    }

    /// Suspend a shop
    ///
    /// Every route of the shop answers 403 `shop_suspended` until it is resumed, on every
    /// instance within a second.
    #[oai(path = "/shops/:id/suspend", method = "post")]
    async fn suspend(
        &self,
        auth: PlatformAdminAuth,
        id: Path<Uuid>,
    ) -> Result<Json<ShopDetail>, PlatformChangeErrors> {
        self.change_status(&auth, id.0, &["active"], ShopStatus::Suspended, "shop.suspend").await?;
        Ok(Json(self.detail(id.0).await?))
    }

    /// Resume a suspended shop
    #[oai(path = "/shops/:id/resume", method = "post")]
    async fn resume(
        &self,
        auth: PlatformAdminAuth,
        id: Path<Uuid>,
    ) -> Result<Json<ShopDetail>, PlatformChangeErrors> {
        self.change_status(&auth, id.0, &["suspended"], ShopStatus::Active, "shop.resume").await?;
        Ok(Json(self.detail(id.0).await?))
    }

    /// Change a shop's plan
    ///
    /// A downgrade below the shop's current usage is allowed: nothing is deleted, but creating
    /// more of what is over (or at) the new plan's limit is refused with 403
    /// `plan_limit_reached` until usage is back under it. `usage.quotas` shows each limit
    /// against its usage.
    #[oai(path = "/shops/:id", method = "patch")]
    async fn update_shop(
        &self,
        auth: PlatformAdminAuth,
        id: Path<Uuid>,
        body: Json<ShopPlanUpdate>,
    ) -> Result<Json<ShopDetail>, PlatformChangeErrors> {
        let actor = self.actor(&auth).await?;
        let mut tx = self.state.pool.begin().await?;
        let shop = shops::find(&mut tx, id.0, true).await?;
        if !shops::plan_exists(&mut tx, &body.plan).await? {
            return Err(AppError::validation("plan", format!("no plan '{}'", body.plan)).into());
        }
        sqlx::query("update platform.shops set plan = $2, updated_at = now() where id = $1")
            .bind(shop.id)
            .bind(&body.plan)
            .execute(&mut *tx)
            .await?;
        audit::record(
            &mut tx,
            &actor,
            "shop.change_plan",
            Some(shop.id),
            serde_json::json!({ "from": shop.plan, "to": body.plan }),
        )
        .await?;
        tx.commit().await?;
        self.state.tenants.invalidate_all();
        Ok(Json(self.detail(id.0).await?))
    }

    /// Delete a shop
    ///
    /// The shop disappears at once (its hosts answer 404). With `purge=true` its schema and
    /// role are dropped too, and its stored objects deleted; otherwise `shopfleet shop purge`
    /// does that later.
    #[oai(path = "/shops/:id", method = "delete")]
    async fn delete_shop(
        &self,
        auth: PlatformAdminAuth,
        id: Path<Uuid>,
        purge: Query<Option<bool>>,
    ) -> Result<ShopDeleted, PlatformChangeErrors> {
        let actor = self.actor(&auth).await?;
        let mut tx = self.state.pool.begin().await?;
        let shop = shops::change_status(
            &mut tx,
            &actor,
            id.0,
            &["active", "suspended"],
            ShopStatus::Deleted,
            "shop.delete",
        )
        .await?;
        let purged =
            purge.0.unwrap_or(false) && provisioning::purge(&mut tx, ShopId(shop.id)).await?;
        if purged {
            audit::record(&mut tx, &actor, "shop.purge", Some(shop.id), serde_json::json!({}))
                .await?;
        }
        tx.commit().await?;
        self.state.tenants.invalidate_all();
        // After the commit, never before (see `storage`): a failure leaves only objects, which
        // `shopfleet shop purge <slug>` removes on a re-run.
        if purged
            && let Err(err) = storage::purge_shop(self.state.store.as_ref(), ShopId(shop.id)).await
        {
            tracing::error!(shop = %shop.id, error = ?err, "shop purged but its objects were not all deleted; run `shopfleet shop purge` again");
        }
        if purged && let Err(err) = self.state.search.delete_index(ShopId(shop.id)).await {
            tracing::error!(shop = %shop.id, error = %err, "shop purged but its search index was not deleted; run `shopfleet shop purge` again");
        }
        Ok(ShopDeleted::NoContent)
    }

    /// The audit log, newest first
    #[oai(path = "/audit-log", method = "get")]
    async fn audit_log(
        &self,
        _auth: PlatformAdminAuth,
        /// Only entries about this shop.
        shop_id: Query<Option<Uuid>>,
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
    ) -> Result<Json<AuditPage>, PlatformListErrors> {
        let limit = page_limit(limit.0)?;
        let before: Option<Uuid> = cursor.0.as_deref().map(decode_cursor).transpose()?;
        let mut tx = self.state.pool.begin().await?;
        let mut items = audit::list(&mut tx, shop_id.0, before, limit + 1).await?;
        tx.commit().await?;
        let next_cursor = next_page(&mut items, limit).map(|last| encode_cursor(&last.id));
        Ok(Json(AuditPage { items, next_cursor }))
    }
}

impl PlatformApi {
    async fn actor(&self, auth: &PlatformAdminAuth) -> AppResult<Actor> {
        let label = admins::email_of(&self.state.pool, auth.0.id).await?.ok_or_else(|| {
            AppError::unauthorized("invalid_token", "this admin account no longer exists")
        })?;
        Ok(Actor { kind: "platform_admin", id: Some(auth.0.id), label })
    }

    async fn change_status(
        &self,
        auth: &PlatformAdminAuth,
        id: Uuid,
        from: &[&str],
        to: ShopStatus,
        action: &str,
    ) -> AppResult<()> {
        let actor = self.actor(auth).await?;
        let mut tx = self.state.pool.begin().await?;
        shops::change_status(&mut tx, &actor, id, from, to, action).await?;
        tx.commit().await?;
        // The trigger's NOTIFY reaches every instance; this one need not wait for it.
        self.state.tenants.invalidate_all();
        Ok(())
    }

    async fn detail(&self, id: Uuid) -> AppResult<ShopDetail> {
        let mut tx = self.state.pool.begin().await?;
        let shop = shops::find(&mut tx, id, false).await?;
        tx.commit().await?;
        let usage = shops::usage(&self.state.pool, &shop).await?;
        Ok(ShopDetail {
            url: self.state.shop_url(&shop.slug),
            domains: shops::domains_of(&self.state.pool, id).await?,
            latest_schema_version: migrate::latest_version(&migrate::embedded()),
            usage,
            shop,
        })
    }
}
