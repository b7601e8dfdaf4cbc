//! `GET /v1/admin/orders`, `GET /v1/admin/orders/{id}`,
//! `POST /v1/admin/orders/{id}/{mark-paid|fulfil|deliver|cancel}`,
//! `POST /v1/admin/orders/{id}/refunds` (with `Idempotency-Key`).

use chrono::{DateTime, Utc};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::store_api::{OrderPage, OrderSummary, SUMMARY_COLUMNS, order_page};
use super::{
    Action, Actor, Order, OrderKey, OrderStatus, emit_order_event, find_row, load_order,
    record_history,
};
use crate::auth::permission::Permission;
use crate::auth::principal::StaffAuth;
use crate::error::{AppError, AppResult, ShopListErrors, ShopReadErrors, ShopWriteErrors};
use crate::events::EventKind;
use crate::idempotency::{self, Claim, IdempotencyKey, Principal};
use crate::payments::PaymentStatus;
use crate::state::AppState;
use crate::tenancy::{Tenant, TenantTx};
use crate::values::{Name, client_timestamp, decode_cursor, page_limit};

pub struct OrdersAdminApi {
    pub state: AppState,
}

#[derive(Debug, Object, sqlx::FromRow)]
pub struct OrderHistoryEntry {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// `created`, `paid`, `fulfilled`, `delivered`, `cancelled`, `refunded`, …
    pub kind: String,
    #[oai(nullable)]
    pub from_status: Option<String>,
    #[oai(nullable)]
    pub to_status: Option<String>,
    /// `customer`, `guest`, `staff`, `provider` or `system`.
    pub actor_kind: String,
    #[oai(nullable)]
    pub actor_id: Option<Uuid>,
    pub details: Value,
}

#[derive(Debug, Object, sqlx::FromRow)]
pub struct PaymentRecord {
    pub id: Uuid,
    pub provider: String,
    pub status: PaymentStatus,
    pub amount: i64,
    #[oai(nullable)]
    pub card_last4: Option<String>,
    #[oai(nullable)]
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Object, Serialize, Deserialize, sqlx::FromRow)]
pub struct Refund {
    pub id: Uuid,
    pub amount: i64,
    /// `[{"item_id": …, "quantity": n}]` put back into stock.
    pub restocked: Value,
    pub reason: String,
    #[oai(nullable)]
    pub staff_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Object)]
pub struct OrderDetail {
    pub order: Order,
    /// Oldest first.
    pub history: Vec<OrderHistoryEntry>,
    pub payments: Vec<PaymentRecord>,
    pub refunds: Vec<Refund>,
}

#[derive(Debug, Object)]
pub struct MarkPaid {
    /// e.g. the bank transfer's reference.
    #[oai(nullable)]
    pub note: Option<String>,
}

#[derive(Debug, Object)]
pub struct Fulfilment {
    #[oai(validator(
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub carrier: String,
    #[oai(validator(
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub tracking_number: String,
}

#[derive(Debug, Object)]
pub struct Cancellation {
    #[oai(nullable)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct RestockLine {
    pub item_id: Uuid,
    pub quantity: i32,
}

#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct NewRefund {
    /// Minor units; absent: everything paid and not yet refunded.
    #[oai(nullable)]
    pub amount: Option<i64>,
    /// Put these units back into stock.
    #[oai(default)]
    #[serde(default)]
    pub restock: Vec<RestockLine>,
    /// Put every unit not yet restocked back into stock (instead of `restock`).
    #[oai(default)]
    #[serde(default)]
    pub restock_all: bool,
    #[oai(default)]
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct RefundResult {
    pub refund: Refund,
    pub order: Order,
}

#[derive(ApiResponse)]
enum RefundCreated {
    #[oai(status = 201)]
    Created(Json<RefundResult>),
}

#[OpenApi(prefix_path = "/v1/admin/orders", tag = "crate::openapi_tags::Tag::Orders")]
impl OrdersAdminApi {
    /// List orders, newest first
    #[oai(path = "/", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: StaffAuth,
        tenant: poem::web::Data<&Tenant>,
        status: Query<Option<OrderStatus>>,
        /// The order number the customer quotes (e.g. 1042).
        number: Query<Option<i64>>,
        /// Placed at or after this time.
        created_from: Query<Option<DateTime<Utc>>>,
        /// Placed before this time.
        created_to: Query<Option<DateTime<Utc>>>,
        customer_id: Query<Option<Uuid>>,
        /// Exact e-mail, case-insensitive.
        email: Query<Option<String>>,
        cursor: Query<Option<String>>,
        /// 1–100, default 20.
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<OrderPage>, ShopListErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::OrdersRead).await?;
        let limit = page_limit(limit.0)?;
        let created_from = client_timestamp("created_from", created_from.0)?;
        let created_to = client_timestamp("created_to", created_to.0)?;
        let after: Option<Uuid> = cursor.0.as_deref().map(decode_cursor).transpose()?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let rows: Vec<OrderSummary> = sqlx::query_as(&format!(
            "select {SUMMARY_COLUMNS} from orders o \
             where ($1::text is null or o.status = $1) and ($2::timestamptz is null or o.created_at >= $2) \
               and ($3::timestamptz is null or o.created_at < $3) and ($4::uuid is null or o.customer_id = $4) \
               and ($5::text is null or lower(o.email) = lower($5)) and ($6::uuid is null or o.id < $6) \
               and ($8::bigint is null or o.number = $8) \
             order by o.id desc limit $7"
        ))
        .bind(status.0.map(OrderStatus::as_str))
        .bind(created_from)
        .bind(created_to)
        .bind(customer_id.0)
        .bind(email.0.as_deref().map(str::trim))
        .bind(after)
        .bind(limit + 1)
        .bind(number.0)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Json(order_page(rows, limit)))
    }

    /// An order with its history, payments and refunds
    #[oai(path = "/:id", method = "get")]
    async fn get(
        &self,
        auth: StaffAuth,
        tenant: poem::web::Data<&Tenant>,
        id: Path<Uuid>,
    ) -> Result<Json<OrderDetail>, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::OrdersRead).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let order = load_order(&mut tx, OrderKey::Id(id.0)).await?;
        let history = sqlx::query_as(
            "select id, at, kind, from_status, to_status, actor_kind, actor_id, details from order_events \
             where order_id = $1 order by id",
        )
        .bind(id.0)
        .fetch_all(&mut *tx)
        .await?;
        let payments = sqlx::query_as(
            "select id, provider, status, amount, card_last4, failure_reason, created_at, updated_at from payments \
             where order_id = $1 order by id",
        )
        .bind(id.0)
        .fetch_all(&mut *tx)
        .await?;
        let refunds = load_refunds(&mut tx, id.0).await?;
        tx.commit().await?;
        Ok(Json(OrderDetail { order, history, payments, refunds }))
    }

    /// Mark an order paid (manual payments)
    ///
    /// `invalid_transition` (409) unless the order is `pending_payment`.
    #[oai(path = "/:id/mark-paid", method = "post")]
    async fn mark_paid(
        &self,
        auth: StaffAuth,
        tenant: poem::web::Data<&Tenant>,
        id: Path<Uuid>,
        body: Json<MarkPaid>,
    ) -> Result<Json<Order>, ShopWriteErrors> {
        let note = body.0.note.map(|n| n.trim().chars().take(500).collect::<String>());
        self.act(&tenant, auth.0.id, id.0, Action::MarkPaid, |tx, order, shop, staff| {
            Box::pin(async move {
                super::mark_paid(tx, shop, order, Actor::Staff(staff), json!({ "note": note }))
                    .await
            })
        })
        .await
    }

    /// Fulfil an order: it has shipped
    #[oai(path = "/:id/fulfil", method = "post")]
    async fn fulfil(
        &self,
        auth: StaffAuth,
        tenant: poem::web::Data<&Tenant>,
        id: Path<Uuid>,
        body: Json<Fulfilment>,
    ) -> Result<Json<Order>, ShopWriteErrors> {
        let carrier = Name::parse("carrier", &body.carrier, 100)?;
        let tracking = Name::parse("tracking_number", &body.tracking_number, 100)?;
        self.act(&tenant, auth.0.id, id.0, Action::Fulfil, |tx, order, shop, staff| {
            Box::pin(async move {
                sqlx::query(
                    "update orders set status = 'fulfilled', carrier = $2, tracking_number = $3, fulfilled_at = now(), \
                     updated_at = now() where id = $1",
                )
                .bind(order.id)
                .bind(&carrier)
                .bind(&tracking)
                .execute(&mut **tx)
                .await?;
                let change = Some((order.status, OrderStatus::Fulfilled));
                let details = json!({ "carrier": carrier, "tracking_number": tracking });
                record_history(tx, order.id, "fulfilled", change, Actor::Staff(staff), details).await?;
                emit_order_event(tx, shop, EventKind::OrderFulfilled, order.id).await
            })
        })
        .await
    }

    /// Mark an order delivered
    #[oai(path = "/:id/deliver", method = "post")]
    async fn deliver(
        &self,
        auth: StaffAuth,
        tenant: poem::web::Data<&Tenant>,
        id: Path<Uuid>,
    ) -> Result<Json<Order>, ShopWriteErrors> {
        self.act(&tenant, auth.0.id, id.0, Action::Deliver, |tx, order, shop, staff| {
            Box::pin(async move {
                sqlx::query("update orders set status = 'delivered', delivered_at = now(), updated_at = now() where id = $1")
                    .bind(order.id)
                    .execute(&mut **tx)
                    .await?;
                let change = Some((order.status, OrderStatus::Delivered));
                record_history(tx, order.id, "delivered", change, Actor::Staff(staff), json!({})).await?;
                emit_order_event(tx, shop, EventKind::OrderDelivered, order.id).await
            })
        })
        .await
    }

    /// Cancel an order
    ///
    /// Puts every unit back into stock, frees its discount use, and records what was paid as
    /// refunded. Not possible once fulfilled (refund instead).
    #[oai(path = "/:id/cancel", method = "post")]
    async fn cancel(
        &self,
        auth: StaffAuth,
        tenant: poem::web::Data<&Tenant>,
        id: Path<Uuid>,
        body: Json<Cancellation>,
    ) -> Result<Json<Order>, ShopWriteErrors> {
        let reason = body
            .0
            .reason
            .map(|r| r.trim().chars().take(500).collect::<String>())
            .filter(|r| !r.is_empty());
        let reason = reason.unwrap_or_else(|| "cancelled by the shop".to_owned());
        self.act(&tenant, auth.0.id, id.0, Action::Cancel, |tx, order, shop, staff| {
            Box::pin(
                async move { super::cancel(tx, shop, order, Actor::Staff(staff), &reason).await },
            )
        })
        .await
    }

    /// Refund an order, in full or in part, optionally restocking
    ///
    /// Requires `Idempotency-Key`. The total refunded never exceeds what was paid
    /// (422 `refund_exceeds_paid`).
    #[oai(path = "/:id/refunds", method = "post")]
    async fn refund(
        &self,
        auth: StaffAuth,
        tenant: poem::web::Data<&Tenant>,
        id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] idempotency_key: Header<Option<String>>,
        body: Json<NewRefund>,
    ) -> Result<RefundCreated, ShopWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::OrdersWrite).await?;
        let result = self
            .create_refund(&tenant, auth.0.id, id.0, idempotency_key.0.as_deref(), &body.0)
            .await?;
        Ok(RefundCreated::Created(Json(result)))
    }
}

type Step<'a> = std::pin::Pin<Box<dyn Future<Output = AppResult<Order>> + Send + 'a>>;

impl OrdersAdminApi {
    /// Locks the order, checks `action` is allowed, runs `step` and answers with the order it
    /// returns.
    async fn act<F>(
        &self,
        tenant: &Tenant,
        staff: Uuid,
        id: Uuid,
        action: Action,
        step: F,
    ) -> Result<Json<Order>, ShopWriteErrors>
    where
        F: for<'a> FnOnce(
            &'a mut TenantTx,
            &'a super::Order,
            crate::tenancy::ShopId,
            Uuid,
        ) -> Step<'a>,
    {
        self.state.rbac.require(tenant, staff, Permission::OrdersWrite).await?;
        let mut tx = TenantTx::begin(&self.state.pool, tenant).await?;
        let order = find_row(&mut tx, OrderKey::Id(id), true).await?;
        order.transition(action)?;
        let order = step(&mut tx, &order, tenant.id, staff).await?;
        tx.commit().await?;
        Ok(Json(order))
    }

    async fn create_refund(
        &self,
        tenant: &Tenant,
        staff: Uuid,
        id: Uuid,
        key: Option<&str>,
        req: &NewRefund,
    ) -> AppResult<RefundResult> {
        let canonical = serde_json::to_value(req).map_err(|err| AppError::Internal(err.into()))?;
        let key =
            IdempotencyKey::new(&format!("refund:{id}"), Principal::Staff(staff), key, &canonical)?;
        let mut tx = TenantTx::begin(&self.state.pool, tenant).await?;
        if let Claim::Replay { body, .. } = idempotency::claim(&mut tx, tenant.id, &key).await? {
            tx.rollback().await?;
            return serde_json::from_value(body).map_err(|err| AppError::Internal(err.into()));
        }
        let order = find_row(&mut tx, OrderKey::Id(id), true).await?;
        let refundable = order.paid_total - order.refunded_total;
        let amount = req.amount.unwrap_or(refundable);
        if amount <= 0 {
            return Err(if req.amount.is_some() {
                AppError::validation("amount", "must be positive")
            } else {
                AppError::unprocessable("refund_exceeds_paid", "nothing paid is left to refund")
            });
        }
        if amount > refundable {
            return Err(AppError::unprocessable(
                "refund_exceeds_paid",
                format!(
                    "at most {refundable} can be refunded (paid {}, refunded {})",
                    order.paid_total, order.refunded_total
                ),
            ));
        }
        let to = order.transition(Action::Refund { rest: amount == refundable })?;
        let lines: Vec<(Uuid, i32)> = if req.restock_all {
            super::all_unrestocked(&mut tx, id).await?
        } else {
            req.restock.iter().map(|l| (l.item_id, l.quantity)).collect()
        };
        let restocked = super::restock(&mut tx, tenant.id, id, &lines).await?;
        let reason: String = req.reason.trim().chars().take(500).collect();
        let refund: Refund = sqlx::query_as(
            "insert into refunds (id, order_id, amount, restocked, reason, staff_id) values ($1, $2, $3, $4, $5, $6) \
             returning id, amount, restocked, reason, staff_id, created_at",
        )
        .bind(Uuid::now_v7())
        .bind(id)
        .bind(amount)
        .bind(Value::Array(restocked.clone()))
        .bind(&reason)
        .bind(staff)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("update orders set status = $2, refunded_total = refunded_total + $3, updated_at = now() where id = $1")
            .bind(id)
            .bind(to.as_str())
            .bind(amount)
            .execute(&mut *tx)
            .await?;
        let details = json!({ "refund_id": refund.id, "amount": amount, "restocked": restocked, "reason": reason });
        record_history(
            &mut tx,
            id,
            "refunded",
            Some((order.status, to)),
            Actor::Staff(staff),
            details,
        )
        .await?;
        let order = emit_order_event(&mut tx, tenant.id, EventKind::OrderRefunded, id).await?;
        let result = RefundResult { refund, order };
        let body = serde_json::to_value(&result).map_err(|err| AppError::Internal(err.into()))?;
        idempotency::store(&mut tx, &key, 201, &body).await?;
        tx.commit().await?;
        Ok(result)
    }
}

async fn load_refunds(conn: &mut sqlx::PgConnection, order: Uuid) -> AppResult<Vec<Refund>> {
    Ok(sqlx::query_as("select id, amount, restocked, reason, staff_id, created_at from refunds where order_id = $1 order by id")
        .bind(order)
        .fetch_all(conn)
        .await?)
}
