//! Orders: made by checkout ([`checkout`]), then taken by staff through payment, fulfilment,
//! delivery, cancellation and refunds ([`admin_api`]); customers read theirs, guests with the
//! order token given at checkout ([`store_api`]).
//!
//! States and transitions ([`OrderStatus::after`]); anything else is 409 `invalid_transition`:
//!
//! | action | from | to |
//! |---|---|---|
//! | mark paid (staff, or the provider's callback) | `pending_payment` | `paid` |
//! | fulfil (carrier, tracking number) | `paid`, `partially_refunded` not yet fulfilled | `fulfilled` |
//! | deliver | `fulfilled`, `partially_refunded` fulfilled but not delivered | `delivered` |
//! | cancel (restocks; refunds what was paid) | `pending_payment`, `paid`, `partially_refunded` not yet fulfilled | `cancelled` |
//! | refund part | `paid`, `fulfilled`, `delivered`, `partially_refunded` | `partially_refunded` |
//! | refund the rest | same | `refunded` |
//!
//! `partially_refunded` keeps the fulfilment timestamps, so an order refunded in part can still
//! be fulfilled and delivered. `cancelled` and `refunded` are final. Every change writes a
//! history row ([`record_history`]) and an outbox event in the same transaction.

pub mod admin_api;
mod changes;
pub mod checkout;
mod payment_callbacks_api;
pub mod store_api;

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

pub use admin_api::OrdersAdminApi;
pub use changes::{all_unrestocked, cancel, mark_paid, release_discount, restock};
pub use payment_callbacks_api::PaymentCallbacksApi;
pub use store_api::OrdersStoreApi;

use crate::customers::AddressInput;
use crate::error::{AppError, AppResult};
use crate::events::{self, EventKind};
use crate::tenancy::ShopId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize, sqlx::Type)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum OrderStatus {
    PendingPayment,
    Paid,
    Fulfilled,
    Delivered,
    Cancelled,
    Refunded,
    PartiallyRefunded,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingPayment => "pending_payment",
            Self::Paid => "paid",
            Self::Fulfilled => "fulfilled",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::Refunded => "refunded",
            Self::PartiallyRefunded => "partially_refunded",
        }
    }

    /// The status after `action`, or `None` if the transition is not allowed (module doc).
    pub fn after(self, action: Action, fulfilled: bool, delivered: bool) -> Option<Self> {
        use OrderStatus::*;
        match (action, self) {
            (Action::MarkPaid, PendingPayment) => Some(Paid),
            (Action::Fulfil, Paid) => Some(Fulfilled),
            (Action::Fulfil, PartiallyRefunded) if !fulfilled => Some(Fulfilled),
            (Action::Deliver, Fulfilled) => Some(Delivered),
            (Action::Deliver, PartiallyRefunded) if fulfilled && !delivered => Some(Delivered),
            (Action::Cancel, PendingPayment | Paid) => Some(Cancelled),
            (Action::Cancel, PartiallyRefunded) if !fulfilled => Some(Cancelled),
            (Action::Refund { rest: false }, Paid | Fulfilled | Delivered | PartiallyRefunded) => {
                Some(PartiallyRefunded)
            }
            (Action::Refund { rest: true }, Paid | Fulfilled | Delivered | PartiallyRefunded) => {
                Some(Refunded)
            }
            _ => None,
        }
    }
}

/// What staff (or a payment callback) do to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    MarkPaid,
    Fulfil,
    Deliver,
    Cancel,
    /// `rest`: the refund brings the refunded total up to what was paid.
    Refund {
        rest: bool,
    },
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Self::MarkPaid => "mark_paid",
            Self::Fulfil => "fulfil",
            Self::Deliver => "deliver",
            Self::Cancel => "cancel",
            Self::Refund { .. } => "refund",
        }
    }
}

#[derive(Debug, Clone, Object, Serialize, Deserialize, sqlx::FromRow)]
pub struct OrderItem {
    pub id: Uuid,
    #[oai(nullable)]
    pub variant_id: Option<Uuid>,
    #[oai(nullable)]
    pub product_id: Option<Uuid>,
    pub product_name: String,
    pub variant_title: String,
    #[oai(nullable)]
    pub sku: Option<String>,
    pub unit_price: i64,
    pub quantity: i32,
    pub line_total: i64,
    /// Units put back into stock by a cancellation or refund.
    pub restocked_quantity: i32,
}

/// An order as the buyer and staff see it; money in minor units of `currency`.
#[derive(Debug, Clone, Object, Serialize, Deserialize, sqlx::FromRow)]
pub struct Order {
    pub id: Uuid,
    /// The shop's human order number, from 1001.
    pub number: i64,
    pub status: OrderStatus,
    pub email: String,
    #[oai(nullable)]
    pub customer_id: Option<Uuid>,
    pub currency: String,
    /// Loaded after the row ([`load_order`]).
    #[sqlx(skip)]
    pub items: Vec<OrderItem>,
    pub subtotal: i64,
    #[oai(nullable)]
    pub discount_id: Option<Uuid>,
    #[oai(nullable)]
    pub discount_code: Option<String>,
    pub discount_total: i64,
    pub shipping_method_name: String,
    pub shipping_total: i64,
    pub tax_rate_bp: i32,
    pub prices_include_tax: bool,
    pub tax_total: i64,
    pub total: i64,
    pub paid_total: i64,
    pub refunded_total: i64,
    #[sqlx(json)]
    pub shipping_address: AddressInput,
    pub payment_method: String,
    #[oai(nullable)]
    pub carrier: Option<String>,
    #[oai(nullable)]
    pub tracking_number: Option<String>,
    #[oai(nullable)]
    pub cancel_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[oai(nullable)]
    pub paid_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub fulfilled_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub delivered_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub cancelled_at: Option<DateTime<Utc>>,
}

impl Order {
    /// The status `action` leads to, or 409 `invalid_transition`.
    pub fn transition(&self, action: Action) -> AppResult<OrderStatus> {
        let status = self.status;
        status.after(action, self.fulfilled_at.is_some(), self.delivered_at.is_some()).ok_or_else(
            || {
                AppError::conflict(
                    "invalid_transition",
                    format!(
                        "an order in status {} cannot be {}",
                        status.as_str(),
                        past_tense(action)
                    ),
                )
            },
        )
    }
}

fn past_tense(action: Action) -> &'static str {
    match action {
        Action::MarkPaid => "marked paid",
        Action::Fulfil => "fulfilled",
        Action::Deliver => "delivered",
        Action::Cancel => "cancelled",
        Action::Refund { .. } => "refunded",
    }
}

pub const ORDER_COLUMNS: &str = "id, number, status, email, customer_id, currency, subtotal, discount_code, discount_id, \
    discount_total, shipping_method_name, shipping_total, tax_rate_bp, prices_include_tax, tax_total, total, paid_total, \
    refunded_total, shipping_address, payment_method, carrier, tracking_number, cancel_reason, created_at, updated_at, \
    paid_at, fulfilled_at, delivered_at, cancelled_at";

pub fn order_not_found() -> AppError {
    AppError::not_found("order_not_found", "no order with this id or number")
}

/// How an order is looked up.
#[derive(Debug, Clone, Copy)]
pub enum OrderKey<'a> {
    Id(Uuid),
    Number(i64),
    /// A customer's own order by number.
    CustomerNumber(Uuid, i64),
    /// A guest's order by number and the hash of its order token.
    TokenNumber(&'a [u8], i64),
}

/// Reads an order without its items; `lock` takes its row lock (every state change does).
pub async fn find_row(conn: &mut PgConnection, key: OrderKey<'_>, lock: bool) -> AppResult<Order> {
    let lock = if lock { " for update" } else { "" };
    let query = match key {
        OrderKey::Id(_) => format!("select {ORDER_COLUMNS} from orders where id = $1{lock}"),
        OrderKey::Number(_) => {
            format!("select {ORDER_COLUMNS} from orders where number = $1{lock}")
        }
        OrderKey::CustomerNumber(..) => format!(
            "select {ORDER_COLUMNS} from orders where customer_id = $1 and number = $2{lock}"
        ),
        OrderKey::TokenNumber(..) => format!(
            "select {ORDER_COLUMNS} from orders where token_hash = $1 and number = $2{lock}"
        ),
    };
    let query = sqlx::query_as::<_, Order>(&query);
    let query = match key {
        OrderKey::Id(id) => query.bind(id),
        OrderKey::Number(number) => query.bind(number),
        OrderKey::CustomerNumber(customer, number) => query.bind(customer).bind(number),
        OrderKey::TokenNumber(hash, number) => query.bind(hash.to_vec()).bind(number),
    };
    query.fetch_optional(conn).await?.ok_or_else(order_not_found)
}

pub async fn load_items(conn: &mut PgConnection, order: Uuid) -> AppResult<Vec<OrderItem>> {
    Ok(sqlx::query_as(
        "select id, variant_id, product_id, product_name, variant_title, sku, unit_price, quantity, line_total, \
         restocked_quantity from order_items where order_id = $1 order by position, id",
    )
    .bind(order)
    .fetch_all(conn)
    .await?)
}

/// An order with its items.
#[tracing::instrument(skip_all)]
pub async fn load_order(conn: &mut PgConnection, key: OrderKey<'_>) -> AppResult<Order> {
    let mut order = find_row(conn, key, false).await?;
    order.items = load_items(conn, order.id).await?;
    Ok(order)
}

/// Who made a change, for the history.
#[derive(Debug, Clone, Copy)]
pub enum Actor {
    Customer(Uuid),
    Guest,
    Staff(Uuid),
    Provider,
    System,
}

impl Actor {
    fn kind(self) -> &'static str {
        match self {
            Self::Customer(_) => "customer",
            Self::Guest => "guest",
            Self::Staff(_) => "staff",
            Self::Provider => "provider",
            Self::System => "system",
        }
    }

    fn id(self) -> Option<Uuid> {
        match self {
            Self::Customer(id) | Self::Staff(id) => Some(id),
            Self::Guest | Self::Provider | Self::System => None,
        }
    }
}

/// Appends to the order's history.
pub async fn record_history(
    conn: &mut PgConnection,
    order: Uuid,
    kind: &str,
    change: Option<(OrderStatus, OrderStatus)>,
    actor: Actor,
    details: Value,
) -> AppResult<()> {
    sqlx::query(
        "insert into order_events (id, order_id, kind, from_status, to_status, actor_kind, actor_id, details) \
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(Uuid::now_v7())
    .bind(order)
    .bind(kind)
    .bind(change.map(|(from, _)| from.as_str()))
    .bind(change.map(|(_, to)| to.as_str()))
    .bind(actor.kind())
    .bind(actor.id())
    .bind(details)
    .execute(conn)
    .await?;
    Ok(())
}

/// Emits `kind` (`order.created`, `order.paid`, …) with the order as it now is, and returns
/// that order (the caller's response, read once).
pub async fn emit_order_event(
    conn: &mut PgConnection,
    shop: ShopId,
    kind: EventKind,
    order: Uuid,
) -> AppResult<Order> {
    let order = load_order(conn, OrderKey::Id(order)).await?;
    let payload = serde_json::to_value(&order).map_err(|err| AppError::Internal(err.into()))?;
    events::emit(conn, shop, kind, payload).await?;
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_documented_transitions_are_allowed() {
        use OrderStatus::*;
        let allowed = |status: OrderStatus, action| status.after(action, false, false);
        assert_eq!(allowed(PendingPayment, Action::MarkPaid), Some(Paid));
        assert_eq!(allowed(Paid, Action::MarkPaid), None);
        assert_eq!(allowed(PendingPayment, Action::Fulfil), None);
        assert_eq!(allowed(Paid, Action::Fulfil), Some(Fulfilled));
        assert_eq!(allowed(Fulfilled, Action::Deliver), Some(Delivered));
        assert_eq!(allowed(Paid, Action::Deliver), None);
        assert_eq!(allowed(Fulfilled, Action::Cancel), None);
        assert_eq!(allowed(PendingPayment, Action::Refund { rest: false }), None);
        assert_eq!(allowed(Delivered, Action::Refund { rest: true }), Some(Refunded));
        for action in [
            Action::MarkPaid,
            Action::Fulfil,
            Action::Deliver,
            Action::Cancel,
            Action::Refund { rest: false },
        ] {
            assert_eq!(allowed(Cancelled, action), None, "cancelled is final");
            assert_eq!(allowed(Refunded, action), None, "refunded is final");
        }
    }

    #[test]
    fn a_partially_refunded_order_follows_its_fulfilment() {
        use OrderStatus::*;
        assert_eq!(PartiallyRefunded.after(Action::Fulfil, false, false), Some(Fulfilled));
        assert_eq!(PartiallyRefunded.after(Action::Fulfil, true, false), None);
        assert_eq!(PartiallyRefunded.after(Action::Deliver, true, false), Some(Delivered));
        assert_eq!(PartiallyRefunded.after(Action::Deliver, true, true), None);
        assert_eq!(PartiallyRefunded.after(Action::Cancel, false, false), Some(Cancelled));
        assert_eq!(PartiallyRefunded.after(Action::Cancel, true, false), None);
    }
}
