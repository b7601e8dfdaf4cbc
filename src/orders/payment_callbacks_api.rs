//! `POST /v1/store/payments/{provider}/webhook`: a payment provider reports a result, which
//! moves the order (paid, or cancelled and restocked). It lives with the orders it changes;
//! `payments` holds the providers and knows no order state.
//!
//! Anyone can send a badly signed call-back, so rejections are not audited one row each (an
//! unauthenticated write amplifier): [`RejectionLog`] lets through one platform audit row per
//! shop and provider every [`REJECTION_AUDIT_INTERVAL`] per instance, and that row counts the
//! rejections left out since the previous one (`rejections_not_logged`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{Object, OpenApi};
use serde_json::json;

use crate::error::{AppError, AppResult, current_request_id};
use crate::error_responses;
use crate::orders::{self, Action, Actor, OrderKey, OrderStatus};
use crate::payments::{CallbackError, CallbackEvent, PaymentStatus, provider, shop_secret};
use crate::platform::audit;
use crate::signature::unix_now;
use crate::state::AppState;
use crate::tenancy::{ShopId, Tenant, TenantTx};

pub struct PaymentCallbacksApi {
    pub state: AppState,
    /// Which rejected call-backs get an audit row; one per server.
    pub rejections: RejectionLog,
}

/// At most one audit row of rejected call-backs per shop and provider this often.
pub const REJECTION_AUDIT_INTERVAL: Duration = Duration::from_secs(60);

/// Which rejected call-backs get an audit row (see the module documentation).
#[derive(Clone)]
pub struct RejectionLog {
    windows: moka::sync::Cache<(ShopId, String), Arc<Mutex<RejectionWindow>>>,
}

#[derive(Default)]
struct RejectionWindow {
    /// When the last audit row was written.
    logged_at: Option<Instant>,
    /// Rejections since then without a row of their own.
    not_logged: u64,
}

impl Default for RejectionLog {
    fn default() -> Self {
        let windows = moka::sync::Cache::builder()
            .max_capacity(100_000)
            .time_to_idle(REJECTION_AUDIT_INTERVAL * 60)
            .build();
        Self { windows }
    }
}

impl RejectionLog {
    /// Counts a rejection. `Some(n)`: write an audit row now, standing also for `n` earlier
    /// rejections that got none; `None`: counted for the next row.
    fn admit(&self, shop: ShopId, provider: &str) -> Option<u64> {
        let window = self.windows.get_with((shop, provider.to_owned()), Default::default);
        let mut window = window.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = window.logged_at.is_none_or(|at| at.elapsed() >= REJECTION_AUDIT_INTERVAL);
        if due {
            window.logged_at = Some(Instant::now());
            Some(std::mem::take(&mut window.not_logged))
        } else {
            window.not_logged += 1;
            None
        }
    }
}

#[derive(Debug, Object)]
pub struct CallbackAck {
    /// `applied`, `duplicate` (this event id was applied before) or `ignored` (the payment was
    /// no longer pending).
    pub status: String,
}

error_responses!(CallbackErrors { 400 BadRequest, 403 Forbidden, 404 NotFound, 429 TooManyRequests });

#[OpenApi(prefix_path = "/v1/store/payments", tag = "crate::openapi_tags::Tag::Payments")]
impl PaymentCallbacksApi {
    /// Receive a payment provider's callback
    ///
    /// Signed by the provider (`test_card`: header `Test-Card-Signature: t=<unix>,v1=<hex
    /// HMAC-SHA256 of "t.body">` under the shop's payment secret). A bad or stale signature is
    /// 400 `invalid_signature` and is written to the platform audit log (at most one row a
    /// minute per shop and provider, counting the others). Applying an event id twice changes
    /// nothing.
    #[oai(path = "/:provider/webhook", method = "post")]
    async fn callback(
        &self,
        req: &Request,
        tenant: Data<&Tenant>,
        provider: Path<String>,
        body: Binary<Vec<u8>>,
    ) -> Result<Json<CallbackAck>, CallbackErrors> {
        let status = self.receive(req, &tenant, &provider.0, &body.0).await?;
        Ok(Json(CallbackAck { status: status.to_owned() }))
    }
}

impl PaymentCallbacksApi {
    async fn receive(
        &self,
        req: &Request,
        tenant: &Tenant,
        name: &str,
        body: &[u8],
    ) -> AppResult<&'static str> {
        let provider = provider(name).ok_or_else(|| {
            AppError::not_found("unknown_payment_provider", "no payment provider of this name")
        })?;
        let mut tx = TenantTx::begin(&self.state.pool, tenant).await?;
        let secret = shop_secret(&mut tx).await?;
        let event =
            match provider.verify_callback(secret.as_bytes(), req.headers(), body, unix_now()) {
                Ok(event) => event,
                Err(CallbackError::NotSupported) => {
                    return Err(AppError::not_found(
                        "unknown_payment_provider",
                        "this provider sends no callbacks",
                    ));
                }
                Err(err) => {
                    tx.rollback().await?;
                    self.audit_rejection(tenant, name, &err).await?;
                    return Err(AppError::bad_request("invalid_signature", err.to_string()));
                }
            };
        let status = apply(&mut tx, tenant, name, &event).await?;
        tx.commit().await?;
        Ok(status)
    }

    async fn audit_rejection(
        &self,
        tenant: &Tenant,
        provider: &str,
        err: &CallbackError,
    ) -> AppResult<()> {
        let Some(not_logged) = self.rejections.admit(tenant.id, provider) else {
            return Ok(());
        };
        let actor = audit::Actor { kind: "payment_provider", id: None, label: provider.to_owned() };
        let details = json!({
            "provider": provider,
            "reason": err.to_string(),
            "request_id": current_request_id(),
            "rejections_not_logged": not_logged,
        });
        let mut tx = self.state.pool.begin().await?;
        audit::record(&mut tx, &actor, "payment.callback_rejected", Some(tenant.id.0), details)
            .await?;
        Ok(tx.commit().await?)
    }
}

/// Applies a verified event in the shop's transaction.
async fn apply(
    tx: &mut TenantTx,
    tenant: &Tenant,
    provider: &str,
    event: &CallbackEvent,
) -> AppResult<&'static str> {
    let fresh = sqlx::query(
        "insert into payment_callbacks (provider, event_id, payment_id) values ($1, $2, $3) on conflict do nothing",
    )
    .bind(provider)
    .bind(&event.id)
    .bind(event.payment_id)
    .execute(&mut **tx)
    .await?;
    if fresh.rows_affected() == 0 {
        return Ok("duplicate");
    }
    let order_id: Option<uuid::Uuid> =
        sqlx::query_scalar("select order_id from payments where id = $1 and provider = $2")
            .bind(event.payment_id)
            .bind(provider)
            .fetch_optional(&mut **tx)
            .await?;
    let order_id = order_id.ok_or_else(|| {
        AppError::not_found("payment_not_found", "no payment of this provider has this id")
    })?;
    // The order first, then its payment: the order as staff change it (no deadlock).
    let order = orders::find_row(tx, OrderKey::Id(order_id), true).await?;
    let (status, amount): (PaymentStatus, i64) =
        sqlx::query_as("select status, amount from payments where id = $1 for update")
            .bind(event.payment_id)
            .fetch_one(&mut **tx)
            .await?;
    if status != PaymentStatus::Pending {
        return Ok("ignored");
    }
    match event.kind.as_str() {
        "payment.succeeded" if event.amount == amount => {
            if order.status == OrderStatus::PendingPayment {
                let details = json!({ "provider": provider, "event_id": event.id });
                orders::mark_paid(tx, tenant.id, &order, Actor::Provider, details).await?;
            } else {
                // Paid after the order was cancelled: keep the record for staff to refund.
                sqlx::query(
                    "update payments set status = 'succeeded', updated_at = now() where id = $1",
                )
                .bind(event.payment_id)
                .execute(&mut **tx)
                .await?;
                orders::record_history(
                    tx,
                    order_id,
                    "payment_after_cancel",
                    None,
                    Actor::Provider,
                    json!({ "amount": amount }),
                )
                .await?;
            }
        }
        "payment.succeeded" => {
            return Err(AppError::bad_request(
                "amount_mismatch",
                "the event's amount is not the payment's",
            ));
        }
        "payment.failed" => {
            let reason = event.reason.clone().unwrap_or_else(|| "payment_failed".to_owned());
            sqlx::query("update payments set status = 'failed', failure_reason = $2, updated_at = now() where id = $1")
                .bind(event.payment_id)
                .bind(&reason)
                .execute(&mut **tx)
                .await?;
            if order.transition(Action::Cancel).is_ok()
                && order.status == OrderStatus::PendingPayment
            {
                orders::cancel(tx, tenant.id, &order, Actor::Provider, &reason).await?;
            }
        }
        _ => return Err(AppError::bad_request("unknown_event", "unknown payment event type")),
    }
    Ok("applied")
}
