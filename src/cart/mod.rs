//! Carts of the storefront: guest carts (a secret cart token, sent back as `X-Cart-Token`) and
//! one active cart per signed-in customer; a guest cart is merged into the customer's at login
//! (or at the first cart request that carries both).
//!
//! The cart stores only variant ids and quantities (plus the price last shown, to report a
//! change). Every figure of the response — lines, subtotal, discount, shipping, tax, total —
//! is computed by the server on each read from current prices, stock and settings
//! ([`pricing`]), and checkout recomputes them the same way under row locks. Lines that cannot
//! be bought as they are carry problems (`out_of_stock`, `insufficient_stock`,
//! `product_unavailable`, `price_changed`) instead of disappearing.
//!
//! Guest carts expire [`GUEST_CART_DAYS`] after their last change: they are then not found and
//! the hourly cleanup deletes them.

pub mod api;
pub mod changes;
pub mod discount;

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::pricing::{self, PriceLine, Totals};
pub use api::CartApi;
use discount::DiscountCheck;

use crate::error::{AppError, AppResult};
use crate::shipping::{self, CheckoutSettings, ShippingMethod, load_settings};
use crate::tenancy::Tenant;
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

/// A cart line joined with its variant and product as they are now.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LineRow {
    pub id: Uuid,
    pub variant_id: Uuid,
    pub quantity: i32,
    pub seen_price: i64,
    pub product_id: Option<Uuid>,
    pub product_name: Option<String>,
    pub product_status: Option<String>,
    pub variant_title: Option<String>,
    pub sku: Option<String>,
    pub price: Option<i64>,
    pub stock: Option<i32>,
}

impl LineRow {
    /// Whether the variant exists and its product is on sale.
    pub fn purchasable(&self) -> bool {
        self.price.is_some() && self.product_status.as_deref() == Some("active")
    }

    pub fn price_line(&self, discountable: &HashSet<Uuid>) -> PriceLine {
        PriceLine {
            unit_price: if self.purchasable() { self.price.unwrap_or(0) } else { 0 },
            quantity: i64::from(self.quantity),
            discountable: self.product_id.is_some_and(|p| discountable.contains(&p)),
        }
    }

    fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let (Some(price), Some(stock)) = (self.price, self.stock) else {
            return vec![Problem::new("product_unavailable", "this product is no longer sold")];
        };
        if !self.purchasable() {
            problems.push(Problem::new(
                "product_unavailable",
                "this product is not available at the moment",
            ));
        } else if stock == 0 {
            problems.push(Problem::new("out_of_stock", "this item is out of stock"));
        } else if self.quantity > stock {
            problems
                .push(Problem::new("insufficient_stock", format!("only {stock} left in stock")));
        }
        if price != self.seen_price {
            problems.push(Problem::new(
                "price_changed",
                format!("the price changed from {} to {price}", self.seen_price),
            ));
        }
        problems
    }
}

/// The cart's lines, in the order they were added.
pub async fn load_lines(conn: &mut PgConnection, cart: Uuid) -> AppResult<Vec<LineRow>> {
    Ok(sqlx::query_as(
        "select ci.id, ci.variant_id, ci.quantity, ci.seen_price, v.product_id, p.name as product_name, \
         p.status as product_status, v.title as variant_title, v.sku, v.price, v.stock \
         from cart_items ci left join variants v on v.id = ci.variant_id left join products p on p.id = v.product_id \
         where ci.cart_id = $1 order by ci.created_at, ci.id",
    )
    .bind(cart)
    .fetch_all(conn)
    .await?)
}

/// The priced view of a cart: its lines, the applied discount's check, and the totals.
pub struct Priced {
    pub lines: Vec<LineRow>,
    pub discount: DiscountCheck,
    pub shipping: Option<ShippingMethod>,
    pub totals: Totals,
    pub settings: CheckoutSettings,
}

/// Prices `lines` with the cart's discount code and `shipping` (see [`pricing`]).
/// `customer`/`email` are used for per-customer discount limits.
pub async fn price(
    conn: &mut PgConnection,
    lines: Vec<LineRow>,
    discount_code: Option<&str>,
    shipping: Option<ShippingMethod>,
    customer: Option<Uuid>,
    email: Option<&str>,
) -> AppResult<Priced> {
    let settings = load_settings(conn).await?;
    let discount = discount::check(conn, discount_code, &lines, customer, email).await?;
    let price_lines: Vec<PriceLine> =
        lines.iter().map(|l| l.price_line(&discount.discountable)).collect();
    let usable_shipping = shipping.as_ref().filter(|m| m.active).map(ShippingMethod::rule);
    let totals = pricing::compute(&price_lines, discount.rule(), usable_shipping, settings.tax());
    Ok(Priced { lines, discount, shipping, totals, settings })
}

/// The cart's total with each of `methods` (in their order): what checkout will charge with
/// that method, for the checkout page to show and to send back as the expected total. One
/// read of the lines, settings and discount for all of them.
pub async fn totals_by_shipping(
    conn: &mut PgConnection,
    cart: &CartRow,
    methods: &[ShippingMethod],
) -> AppResult<Vec<i64>> {
    let lines = load_lines(conn, cart.id).await?;
    let priced =
        price(conn, lines, cart.discount_code.as_deref(), None, cart.customer_id, None).await?;
    let price_lines: Vec<PriceLine> =
        priced.lines.iter().map(|l| l.price_line(&priced.discount.discountable)).collect();
    Ok(methods
        .iter()
        .map(|method| {
            let rule = Some(method.rule());
            pricing::compute(&price_lines, priced.discount.rule(), rule, priced.settings.tax())
                .total
        })
        .collect())
}

/// The full response for a cart; records that the customer has now seen the current prices.
pub async fn view(conn: &mut PgConnection, tenant: &Tenant, cart: &CartRow) -> AppResult<Cart> {
    let lines = load_lines(conn, cart.id).await?;
    let shipping = match cart.shipping_method_id {
        Some(id) => shipping::get_method(conn, id).await?,
        None => None,
    };
    let priced =
        price(conn, lines, cart.discount_code.as_deref(), shipping, cart.customer_id, None).await?;
    let mut problems = Vec::new();
    if let Some(problem) = &priced.discount.problem {
        problems.push(problem.clone());
    }
    if cart.shipping_method_id.is_some() && !priced.shipping.as_ref().is_some_and(|m| m.active) {
        problems.push(Problem::new(
            "shipping_method_unavailable",
            "the chosen shipping method is no longer offered",
        ));
    }
    let items: Vec<CartLine> = priced
        .lines
        .iter()
        .map(|line| {
            let price_line = line.price_line(&priced.discount.discountable);
            CartLine {
                id: line.id,
                variant_id: line.variant_id,
                product_id: line.product_id,
                product_name: line.product_name.clone().unwrap_or_default(),
                variant_title: line.variant_title.clone().unwrap_or_default(),
                sku: line.sku.clone(),
                quantity: line.quantity,
                unit_price: price_line.unit_price,
                line_total: pricing::line_total(&price_line),
                available: i64::from(line.stock.unwrap_or(0)),
                problems: line.problems(),
            }
        })
        .collect();
    // The customer sees the new prices now: the change is reported once.
    sqlx::query(
        "update cart_items ci set seen_price = v.price from variants v where ci.cart_id = $1 and v.id = ci.variant_id \
         and ci.seen_price <> v.price",
    )
    .bind(cart.id)
    .execute(&mut *conn)
    .await?;
    let Totals { subtotal, discount_total, shipping_total, tax_total, total } = priced.totals;
    Ok(Cart {
        id: cart.id,
        currency: tenant.currency.clone(),
        item_count: items.iter().map(|i| i64::from(i.quantity)).sum(),
        items,
        subtotal,
        discount_code: cart.discount_code.clone(),
        discount_total,
        shipping_method: priced.shipping.as_ref().map(|m| CartShipping {
            id: m.id,
            name: m.name.clone(),
            price: m.price,
        }),
        shipping_total,
        tax_rate_bp: priced.settings.tax_rate_bp,
        prices_include_tax: priced.settings.prices_include_tax,
        tax_total,
        total,
        problems,
        expires_at: cart
            .customer_id
            .is_none()
            .then(|| cart.updated_at + chrono::Duration::days(i64::from(GUEST_CART_DAYS))),
        updated_at: cart.updated_at,
    })
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
