//! `GET/PATCH /v1/admin/checkout-settings` and `POST
//! /v1/admin/checkout-settings/rotate-payment-secret`: the shop's tax rate, whether prices
//! include tax, the low-stock threshold, and the secret that signs payment callbacks.
//!
//! Rule: the payment callback secret is shown only to a caller holding `shop:write` (the owner,
//! by default). Anyone else with `shop:read` sees the settings without it.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use rand::RngCore;
use sqlx::PgConnection;

use crate::auth::permission::Permission;
use crate::auth::principal::StaffAuth;
use crate::error::{AppError, AppResult, ShopReadErrors};
use crate::error_responses;
use crate::pricing::TaxRule;
use crate::state::AppState;
use crate::tenancy::{Tenant, TenantTx};

pub struct CheckoutSettingsApi {
    pub state: AppState,
}

const MAX_LOW_STOCK_THRESHOLD: i32 = 1_000_000;

#[derive(Debug, Clone, Object, sqlx::FromRow)]
pub struct CheckoutSettings {
    /// Tax rate in basis points: 2000 = 20 %.
    pub tax_rate_bp: i32,
    /// `true`: prices (and shipping) already include tax, which is extracted from the total;
    /// `false`: tax is added on top.
    pub prices_include_tax: bool,
    /// `inventory.low` is emitted when a variant's stock falls to this level or below.
    pub low_stock_threshold: i32,
    /// Key of the HMAC-SHA256 signature on payment providers' callbacks (hex). Present only
    /// for a caller allowed to change the shop's settings (`shop:write`).
    #[oai(skip_serializing_if_is_none)]
    #[sqlx(rename = "payment_secret")]
    #[oai(nullable)]
    pub payment_callback_secret: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl CheckoutSettings {
    /// What pricing needs of the settings.
    pub fn tax(&self) -> TaxRule {
        TaxRule { rate_bp: self.tax_rate_bp, prices_include_tax: self.prices_include_tax }
    }
}

/// Absent fields keep their values.
#[derive(Debug, Object)]
pub struct CheckoutSettingsUpdate {
    /// 0–10000 basis points.
    #[oai(nullable)]
    #[oai(validator(minimum(value = "0"), maximum(value = "10000")))]
    pub tax_rate_bp: Option<i32>,
    #[oai(nullable)]
    pub prices_include_tax: Option<bool>,
    /// 0–1,000,000 units.
    #[oai(nullable)]
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000")))]
    pub low_stock_threshold: Option<i32>,
}

error_responses!(
    /// A change to the checkout settings: validation (422), no conflicts.
    SettingsWriteErrors { 400 BadRequest, 401 Unauthorized, 403 Forbidden, 404 NotFound, 422 Unprocessable, 429 TooManyRequests }
);

/// The shop's checkout settings, secret included: hide it before showing it to anyone but a
/// `shop:write` caller.
pub async fn load_settings(conn: &mut PgConnection) -> AppResult<CheckoutSettings> {
    sqlx::query_as(
        "select tax_rate_bp, prices_include_tax, low_stock_threshold, payment_secret, updated_at from checkout_settings",
    )
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| AppError::Internal(anyhow::anyhow!("checkout_settings has no row")))
}

/// 32 random bytes from the operating system, hex-encoded.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[OpenApi(prefix_path = "/v1/admin/checkout-settings", tag = "crate::openapi_tags::Tag::Shipping")]
impl CheckoutSettingsApi {
    /// The shop's tax and checkout settings
    ///
    /// `payment_callback_secret` is included only for a caller with `shop:write`.
    #[oai(path = "/", method = "get")]
    async fn get(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
    ) -> Result<Json<CheckoutSettings>, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ShopRead).await?;
        let may_see_secret =
            self.state.rbac.allowed(&tenant, &auth.0.id.to_string(), Permission::ShopWrite).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let mut settings = load_settings(&mut tx).await?;
        tx.commit().await?;
        if !may_see_secret {
            settings.payment_callback_secret = None;
        }
        Ok(Json(settings))
    }

    /// Change the tax rate, whether prices include tax, or the low-stock threshold
    ///
    /// Applies to carts and checkouts from now on; existing orders keep the figures they were
    /// placed with.
    #[oai(path = "/", method = "patch")]
    async fn update(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        body: Json<CheckoutSettingsUpdate>,
    ) -> Result<Json<CheckoutSettings>, SettingsWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ShopWrite).await?;
        if body.tax_rate_bp.is_some_and(|bp| !(0..=10_000).contains(&bp)) {
            return Err(AppError::validation(
                "tax_rate_bp",
                "must be between 0 and 10000 basis points",
            )
            .into());
        }
        if body.low_stock_threshold.is_some_and(|n| !(0..=MAX_LOW_STOCK_THRESHOLD).contains(&n)) {
            return Err(AppError::validation(
                "low_stock_threshold",
                "must be between 0 and 1000000",
            )
            .into());
        }
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        sqlx::query(
            "update checkout_settings set tax_rate_bp = coalesce($1, tax_rate_bp), \
             prices_include_tax = coalesce($2, prices_include_tax), \
             low_stock_threshold = coalesce($3, low_stock_threshold), updated_at = now()",
        )
        .bind(body.tax_rate_bp)
        .bind(body.prices_include_tax)
        .bind(body.low_stock_threshold)
        .execute(&mut *tx)
        .await?;
        let settings = load_settings(&mut tx).await?;
        tx.commit().await?;
        Ok(Json(settings))
    }

    /// Replace the payment callback secret with a new random one
    ///
    /// Callbacks signed with the old secret are refused from now on. The response carries the
    /// new secret.
    #[oai(path = "/rotate-payment-secret", method = "post")]
    async fn rotate_payment_secret(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
    ) -> Result<Json<CheckoutSettings>, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ShopWrite).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        sqlx::query("update checkout_settings set payment_secret = $1, updated_at = now()")
            .bind(new_secret())
            .execute(&mut *tx)
            .await?;
        let settings = load_settings(&mut tx).await?;
        tx.commit().await?;
        Ok(Json(settings))
    }
}
