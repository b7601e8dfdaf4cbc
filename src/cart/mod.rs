//! Carts of the storefront: guest carts (a secret cart token, sent back as `X-Cart-Token`) and
//! one active cart per signed-in customer; a guest cart is merged into the customer's at login
//! (or at the first cart request that carries both).
//!
//! The cart stores only variant ids and quantities (plus the price last shown, to report a
//! change). Every figure of the response — lines, subtotal, discount, shipping, tax, total —
//! is computed by the server on each read from current prices, stock and settings
//! ([`crate::pricing`]), and checkout recomputes them the same way under row locks. Lines that cannot
//! be bought as they are carry problems (`out_of_stock`, `insufficient_stock`,
//! `product_unavailable`, `price_changed`) instead of disappearing.
//!
//! Guest carts expire [`GUEST_CART_DAYS`] after their last change: they are then not found and
//! the hourly cleanup deletes them.
//!
//! Files: `lines.rs` (lines as they are now, their prices, the cart as shown), `changes.rs`
//! (changes to lines and the discount code), `discount.rs`, `api.rs`.

pub mod api;
pub mod changes;
pub mod discount;
mod lines;

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

pub use api::CartApi;
pub use lines::{LineRow, Priced, load_lines, price, totals_by_shipping, view};

use crate::error::{AppError, AppResult};
use crate::values::secret_token_hash;

pub const GUEST_CART_DAYS: i32 = 30;
pub const MAX_LINE_QUANTITY: i32 = 10_000;
pub const MAX_LINES: i64 = 100;
pub const CART_TOKEN_HEADER: &str = "X-Cart-Token";

/// Something the customer should know about a line or the cart.
#[derive(Debug, Clone, Object, Serialize, Deserialize, PartialEq, Eq)]
pub struct Problem {
    /// Stable code: `out_of_stock`, `insufficient_stock`, `product_unavailable`,
    /// `price_changed`, `shipping_method_unavailable`, or a discount code problem
    /// (`discount_expired`, `discount_usage_limit_reached`, `discount_minimum_not_met`, …).
    pub code: String,
    pub message: String,
}

impl Problem {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self { code: code.to_owned(), message: message.into() }
    }
}

#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct CartLine {
    pub id: Uuid,
    pub variant_id: Uuid,
    #[oai(nullable)]
    pub product_id: Option<Uuid>,
    pub product_name: String,
    pub variant_title: String,
    #[oai(nullable)]
    pub sku: Option<String>,
    pub quantity: i32,
    /// Current unit price.
    pub unit_price: i64,
    /// `unit_price × quantity`; 0 for an unavailable product.
    pub line_total: i64,
    /// Units in stock now.
    pub available: i64,
    pub problems: Vec<Problem>,
}

#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct CartShipping {
    pub id: Uuid,
    pub name: String,
    /// The method's flat rate (before free-shipping rules).
    pub price: i64,
}

/// A cart with every figure computed by the server, in minor units of `currency`.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct Cart {
    pub id: Uuid,
    pub currency: String,
    pub items: Vec<CartLine>,
    /// Units over all lines.
    pub item_count: i64,
    pub subtotal: i64,
    #[oai(nullable)]
    pub discount_code: Option<String>,
    pub discount_total: i64,
    #[oai(nullable)]
    pub shipping_method: Option<CartShipping>,
    pub shipping_total: i64,
    /// Tax rate in basis points (2000 = 20 %).
    pub tax_rate_bp: i32,
    /// When true, `tax_total` is the tax included in the prices; otherwise it is added.
    pub prices_include_tax: bool,
    pub tax_total: i64,
    pub total: i64,
    /// Problems of the cart as a whole (discount code, shipping method).
    pub problems: Vec<Problem>,
    /// Guest carts: when it expires unless changed.
    #[oai(nullable)]
    pub expires_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// Who a cart request is for.
#[derive(Debug, Clone)]
pub enum Shopper {
    Customer(Uuid),
    Guest { token: String },
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CartRow {
    pub id: Uuid,
    pub customer_id: Option<Uuid>,
    pub discount_code: Option<String>,
    pub shipping_method_id: Option<Uuid>,
    pub updated_at: DateTime<Utc>,
}

const CART_COLUMNS: &str = "id, customer_id, discount_code, shipping_method_id, updated_at";

pub fn cart_not_found() -> AppError {
    AppError::not_found(
        "cart_not_found",
        "no active cart with this token (it may have expired or been checked out)",
    )
}

/// Creates a guest cart; returns it with its token (shown only now).
/// A new guest cart with a new secret token: `(token, cart)`. The token is shown to the guest
/// once; only its hash is stored.
pub async fn start_guest_cart(conn: &mut PgConnection) -> AppResult<(String, CartRow)> {
    let token = crate::values::new_secret_token("ct");
    let cart = create_guest_cart(conn, &token).await?;
    Ok((token, cart))
}

async fn create_guest_cart(conn: &mut PgConnection, token: &str) -> AppResult<CartRow> {
    Ok(sqlx::query_as(&format!(
        "insert into carts (id, token_hash) values ($1, $2) returning {CART_COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(secret_token_hash(token))
    .fetch_one(conn)
    .await?)
}

async fn find_guest_cart(conn: &mut PgConnection, token: &str) -> AppResult<Option<CartRow>> {
    Ok(sqlx::query_as(&format!(
        "select {CART_COLUMNS} from carts where token_hash = $1 and status = 'active' and customer_id is null \
         and updated_at > now() - make_interval(days => $2) for update"
    ))
    .bind(secret_token_hash(token))
    .bind(GUEST_CART_DAYS)
    .fetch_optional(conn)
    .await?)
}

/// Units in the shopper's active cart (0 without one), for the storefront's header. Reads
/// without locking or creating anything.
pub async fn item_count(
    conn: &mut PgConnection,
    customer: Option<Uuid>,
    guest_token: Option<&str>,
) -> AppResult<i64> {
    let count: Option<i64> = match (customer, guest_token) {
        (Some(customer), _) => sqlx::query_scalar(
            "select coalesce(sum(ci.quantity), 0)::bigint from carts c join cart_items ci on ci.cart_id = c.id \
             where c.customer_id = $1 and c.status = 'active'",
        )
        .bind(customer)
        .fetch_optional(conn)
        .await?,
        (None, Some(token)) => sqlx::query_scalar(
            "select coalesce(sum(ci.quantity), 0)::bigint from carts c join cart_items ci on ci.cart_id = c.id \
             where c.token_hash = $1 and c.status = 'active' and c.customer_id is null \
             and c.updated_at > now() - make_interval(days => $2)",
        )
        .bind(secret_token_hash(token))
        .bind(GUEST_CART_DAYS)
        .fetch_optional(conn)
        .await?,
        (None, None) => None,
    };
    Ok(count.unwrap_or(0))
}

/// How often [`customer_cart`] looks again for a cart that a concurrent checkout retired.
const CART_ATTEMPTS: usize = 3;

/// The customer's active cart, created when missing; locked for the transaction.
///
/// A checkout of the same cart may hold its lock: `for update` then waits, and if that checkout
/// commits, the cart is no longer active and the select finds nothing. Each statement sees what
/// committed before it started, so the next round creates the customer's fresh cart: a read or
/// change racing a checkout gets the new (empty) cart, a second checkout `cart_empty`. Should
/// that race repeat [`CART_ATTEMPTS`] times, the answer is 409 `cart_busy`.
pub async fn customer_cart(conn: &mut PgConnection, customer: Uuid) -> AppResult<CartRow> {
    for _ in 0..CART_ATTEMPTS {
        sqlx::query(
            "insert into carts (id, customer_id) values ($1, $2) \
             on conflict (customer_id) where status = 'active' and customer_id is not null do nothing",
        )
        .bind(Uuid::now_v7())
        .bind(customer)
        .execute(&mut *conn)
        .await?;
        let cart: Option<CartRow> = sqlx::query_as(&format!(
            "select {CART_COLUMNS} from carts where customer_id = $1 and status = 'active' for update"
        ))
        .bind(customer)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(cart) = cart {
            return Ok(cart);
        }
    }
    Err(AppError::conflict(
        "cart_busy",
        "the cart was checked out by another request while this one waited; retry",
    ))
}

/// The shopper's active cart, locked for the transaction. A customer request carrying a guest
/// cart token merges that cart first.
#[tracing::instrument(skip_all)]
pub async fn find_cart(
    conn: &mut PgConnection,
    shopper: &Shopper,
    guest_token: Option<&str>,
) -> AppResult<CartRow> {
    match shopper {
        Shopper::Customer(customer) => {
            if let Some(token) = guest_token {
                merge_guest_cart(conn, token, *customer).await?;
            }
            customer_cart(conn, *customer).await
        }
        Shopper::Guest { token } => find_guest_cart(conn, token).await?.ok_or_else(cart_not_found),
    }
}

/// Moves a guest cart's lines into the customer's cart (quantities add up) and retires the
/// guest cart. An unknown or expired token is ignored: there is nothing to merge.
pub async fn merge_guest_cart(
    conn: &mut PgConnection,
    token: &str,
    customer: Uuid,
) -> AppResult<()> {
    let Some(guest) = find_guest_cart(conn, token).await? else { return Ok(()) };
    let cart = customer_cart(conn, customer).await?;
    let guest_lines: Vec<(Uuid, i32, i64)> =
        sqlx::query_as("select variant_id, quantity, seen_price from cart_items where cart_id = $1 order by created_at, id")
            .bind(guest.id)
            .fetch_all(&mut *conn)
            .await?;
    for (variant, quantity, seen_price) in guest_lines {
        sqlx::query(
            "insert into cart_items (id, cart_id, variant_id, quantity, seen_price) values ($1, $2, $3, $4, $5) \
             on conflict (cart_id, variant_id) do update set quantity = least(cart_items.quantity + excluded.quantity, $6)",
        )
        .bind(Uuid::now_v7())
        .bind(cart.id)
        .bind(variant)
        .bind(quantity)
        .bind(seen_price)
        .bind(MAX_LINE_QUANTITY)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "update carts set discount_code = coalesce(discount_code, $2), shipping_method_id = coalesce(shipping_method_id, $3), \
         updated_at = now() where id = $1",
    )
    .bind(cart.id)
    .bind(&guest.discount_code)
    .bind(guest.shipping_method_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("update carts set status = 'merged', updated_at = now() where id = $1")
        .bind(guest.id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn reload(conn: &mut PgConnection, cart: Uuid) -> AppResult<CartRow> {
    Ok(sqlx::query_as(&format!("select {CART_COLUMNS} from carts where id = $1"))
        .bind(cart)
        .fetch_one(conn)
        .await?)
}

pub async fn touch(conn: &mut PgConnection, cart: Uuid) -> AppResult<()> {
    sqlx::query("update carts set updated_at = now() where id = $1")
        .bind(cart)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes guest carts past their expiry and retired carts of the shop whose transaction this
/// is (hourly cleanup). Returns how many were deleted.
pub async fn delete_expired(conn: &mut PgConnection) -> AppResult<u64> {
    let done = sqlx::query(
        "delete from carts where (customer_id is null and updated_at < now() - make_interval(days => $1)) \
         or (status <> 'active' and updated_at < now() - make_interval(days => $1))",
    )
    .bind(GUEST_CART_DAYS)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The hourly clean-up of [`delete_expired`], registered with the outbox worker.
pub struct ExpiredCarts;

#[async_trait::async_trait]
impl crate::events::Housekeeping for ExpiredCarts {
    fn name(&self) -> &'static str {
        "expired_carts"
    }

    async fn run(&self, conn: &mut PgConnection) -> AppResult<()> {
        // Carts arrive with tenant migration 0007 (expand/contract).
        let migrated: bool = sqlx::query_scalar("select to_regclass('carts') is not null")
            .fetch_one(&mut *conn)
            .await?;
        if migrated {
            delete_expired(conn).await?;
        }
        Ok(())
    }
}
