//! A cart's lines as they are now (joined with their variants and products), their prices
//! with the cart's discount and shipping, and the cart as the shopper sees it ([`view`]).

use std::collections::HashSet;

use sqlx::PgConnection;
use uuid::Uuid;

use super::discount::{self, DiscountCheck};
use super::{Cart, CartLine, CartRow, CartShipping, GUEST_CART_DAYS, Problem};
use crate::error::AppResult;
use crate::pricing::{self, PriceLine, Totals};
use crate::shipping::{self, CheckoutSettings, ShippingMethod, load_settings};
use crate::tenancy::Tenant;

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
#[tracing::instrument(skip_all, fields(shop_id = %tenant.id))]
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
