//! Checkout: a cart becomes an order, in one transaction.
//!
//! 1. Claim the `Idempotency-Key` of this shopper (replay, 422 for another body, 409 while in
//!    progress); the same key from another customer or cart is a checkout of its own.
//! 2. Validate the request; find the shopper's cart.
//! 3. Lock the cart's products, then its variants, each in id order (the product editor locks a
//!    product before its variants too, so the two never deadlock); re-read the lines.
//! 4. Re-price with the same code as the cart (lock the discount row first); refuse when the
//!    buyer's `expected_total` differs.
//! 5. Decrement each variant's stock with `UPDATE … WHERE stock >= $n`: no row means 409
//!    `insufficient_stock`, so stock never goes negative.
//! 6. Count the discount use with a conditional update (`used_count < usage_limit`).
//! 7. Write the order (number from the shop's sequence, from 1001), its items as a snapshot of
//!    names, SKUs and prices, the pending payment, the history, `order.created`,
//!    `inventory.low` for variants that fell to the shop's threshold, and the provider's
//!    follow-up (`payment.requested` for `test_card`).
//! 8. Store the response under the key, then commit. Any error before the commit rolls all of it
//!    back, key included.

use std::collections::BTreeMap;

use poem_openapi::Object;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Actor, Order, OrderStatus, emit_order_event, record_history};
use crate::cart::discount::{self, static_code};
use crate::cart::{self, Shopper};
use crate::catalog::stock_moved;
use crate::customers::{AddressInput, validate_address};
use crate::error::{AppError, AppResult};
use crate::events::EventKind;
use crate::idempotency::{self, Claim, IdempotencyKey, Principal};
use crate::inventory::{StockMove, emit_low_stock, low_stock};
use crate::payments::{NewPayment, PaymentInput, PaymentStatus, provider_for_checkout};
use crate::pricing;
use crate::shipping::{self, ShippingMethod};
use crate::tenancy::{Tenant, TenantTx};
use crate::values::{Email, new_secret_token, secret_token_hash};

#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct CheckoutRequest {
    /// Required for guests; a signed-in customer's orders use their account's e-mail.
    #[oai(nullable)]
    pub email: Option<String>,
    pub shipping_address: AddressInput,
    pub shipping_method_id: Uuid,
    pub payment: PaymentInput,
    /// The total the buyer was shown. When sent and the server's total differs, checkout is
    /// refused with 409 `price_changed` and nothing is charged.
    #[oai(nullable)]
    pub expected_total: Option<i64>,
}

#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct PaymentSummary {
    pub id: Uuid,
    pub provider: String,
    /// `pending` until the provider (or staff, for `manual`) confirms it.
    pub status: PaymentStatus,
    /// What the buyer should do, if anything.
    #[oai(nullable)]
    pub instructions: Option<String>,
}

#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct CheckoutResult {
    pub order: Order,
    /// Lets the buyer read this order without an account:
    /// `GET /v1/store/orders/{number}?token=…`. Shown only here (and to a retry of this
    /// checkout with the same `Idempotency-Key`).
    pub order_token: String,
    pub payment: PaymentSummary,
}

fn conflict(code: &'static str, message: impl Into<String>) -> AppError {
    AppError::conflict(code, message)
}

/// Runs a checkout; returns the response status and body (fresh or replayed). The steps are
/// those of the module doc, each in a function of its own below.
#[tracing::instrument(skip_all, fields(shop_id = %tenant.id))]
pub async fn checkout(
    pool: &crate::tenancy::DbPool,
    tenant: &Tenant,
    shopper: &Shopper,
    guest_token: Option<&str>,
    key: Option<&str>,
    request: &CheckoutRequest,
) -> AppResult<(u16, Value)> {
    // 1. The shopper's idempotency key.
    let canonical = serde_json::to_value(request).map_err(|err| AppError::Internal(err.into()))?;
    let principal = match shopper {
        Shopper::Customer(id) => Principal::Customer(*id),
        Shopper::Guest { token } => Principal::Cart(token),
    };
    let key = IdempotencyKey::new("checkout", principal, key, &canonical)?;
    let mut tx = TenantTx::begin(pool, tenant).await?;
    if let Claim::Replay { status, body } = idempotency::claim(&mut tx, tenant.id, &key).await? {
        tx.rollback().await?;
        return Ok((status, body));
    }

    // 2.–7. Everything else, in the same transaction. A refusal rolls back at once, before the
    // answer leaves: the key's row stays locked until then, and a client retrying the moment it
    // has the answer would otherwise find its key "in use".
    match place(&mut tx, tenant, shopper, guest_token, request).await {
        Ok(body) => {
            // 8. The response, stored under the key, then the commit.
            idempotency::store(&mut tx, &key, 201, &body).await?;
            tx.commit().await?;
            Ok((201, body))
        }
        Err(err) => {
            if let Err(rollback) = tx.rollback().await {
                tracing::warn!(error = %rollback, "rolling back a refused checkout");
            }
            Err(err)
        }
    }
}

/// Steps 2 to 7 of the module doc in the checkout's transaction; the response body.
async fn place(
    tx: &mut TenantTx,
    tenant: &Tenant,
    shopper: &Shopper,
    guest_token: Option<&str>,
    request: &CheckoutRequest,
) -> AppResult<Value> {
    // 2. The request and the shopper's cart.
    let provider = provider_for_checkout(request.payment.method.trim())?;
    let accepted = provider.accept(&request.payment)?;
    let address = validate_address("shipping_address", &request.shipping_address)?;
    let customer = match shopper {
        Shopper::Customer(id) => Some(*id),
        Shopper::Guest { .. } => None,
    };
    let email = buyer_email(tx, customer, request).await?;
    let cart = cart::find_cart(tx, shopper, guest_token).await?;

    // 3. Its lines, locked; 4. the price.
    let lines = lock_lines(tx, cart.id).await?;
    let method = shipping_method(tx, request.shipping_method_id, &address).await?;
    let discount_check = check_discount(tx, &cart, &lines, customer, &email).await?;
    let settings = shipping::load_settings(tx).await?;
    let price_lines: Vec<pricing::PriceLine> =
        lines.iter().map(|l| l.price_line(&discount_check.discountable)).collect();
    let totals =
        pricing::compute(&price_lines, discount_check.rule(), Some(method.rule()), settings.tax());
    if let Some(expected) = request.expected_total
        && expected != totals.total
    {
        return Err(conflict(
            "price_changed",
            format!("the total is now {} (you saw {expected}); review the cart", totals.total),
        ));
    }

    // 5. Stock; 6. the discount's use.
    let low = take_stock(tx, tenant, &lines, settings.low_stock_threshold).await?;
    count_discount_use(tx, &discount_check).await?;

    // 7. The order, its items, payment and history, and its events.
    let order_token = new_secret_token("ot");
    let paid_in_full = totals.total == 0;
    let payment = NewPayment {
        id: Uuid::now_v7(),
        order_id: Uuid::now_v7(),
        amount: totals.total,
        currency: tenant.currency.clone(),
        card_last4: accepted.card_last4,
    };
    let payment_status =
        if paid_in_full { PaymentStatus::Succeeded } else { PaymentStatus::Pending };
    write_order(
        tx,
        &OrderDraft {
            tenant,
            customer,
            email: &email,
            order_token: &order_token,
            address: &address,
            method: &method,
            discount: &discount_check,
            tax_rate_bp: settings.tax_rate_bp,
            prices_include_tax: settings.prices_include_tax,
            totals: &totals,
            lines: &lines,
            price_lines: &price_lines,
            provider: provider.name(),
            payment: &payment,
            payment_status,
            cart_id: cart.id,
        },
    )
    .await?;
    let order_id = payment.order_id;
    let order = emit_order_event(tx, tenant.id, EventKind::OrderCreated, order_id).await?;
    if paid_in_full {
        emit_order_event(tx, tenant.id, EventKind::OrderPaid, order_id).await?;
    }
    emit_low_stock(tx, tenant.id, low).await?;
    let instructions =
        if paid_in_full { None } else { provider.after_checkout(tx, tenant.id, &payment).await? };

    // The response (stored under the key by the caller).
    let result = CheckoutResult {
        order,
        order_token,
        payment: PaymentSummary {
            id: payment.id,
            provider: provider.name().to_owned(),
            status: payment_status,
            instructions,
        },
    };
    serde_json::to_value(&result).map_err(|err| AppError::Internal(err.into()))
}

/// The e-mail the order is for: a customer's account's, or the guest's (required).
async fn buyer_email(
    tx: &mut TenantTx,
    customer: Option<Uuid>,
    request: &CheckoutRequest,
) -> AppResult<String> {
    match customer {
        Some(id) => sqlx::query_scalar::<_, String>("select email from customers where id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| {
                AppError::unauthorized("invalid_token", "this account no longer exists")
            }),
        None => {
            let raw = request
                .email
                .as_deref()
                .ok_or_else(|| AppError::validation("email", "is required for a guest checkout"))?;
            Ok(Email::parse("email", raw)?.as_str().to_owned())
        }
    }
}

/// Locks the cart's products, then its variants, each in id order, and reads its lines again
/// under those locks; every line must still be purchasable.
async fn lock_lines(tx: &mut TenantTx, cart: Uuid) -> AppResult<Vec<cart::LineRow>> {
    let lines = cart::load_lines(tx, cart).await?;
    if lines.is_empty() {
        return Err(AppError::unprocessable("cart_empty", "the cart has no items"));
    }
    let mut products: Vec<Uuid> = lines.iter().filter_map(|l| l.product_id).collect();
    products.sort();
    products.dedup();
    let mut variants: Vec<Uuid> = lines.iter().map(|l| l.variant_id).collect();
    variants.sort();
    sqlx::query("select id from products where id = any($1) order by id for update")
        .bind(&products)
        .execute(&mut **tx)
        .await?;
    sqlx::query("select id from variants where id = any($1) order by id for update")
        .bind(&variants)
        .execute(&mut **tx)
        .await?;
    let lines = cart::load_lines(tx, cart).await?;
    if let Some(line) = lines.iter().find(|l| !l.purchasable()) {
        return Err(conflict(
            "product_unavailable",
            format!(
                "{} is no longer available; remove it from the cart",
                line.product_name.as_deref().unwrap_or("an item")
            ),
        ));
    }
    Ok(lines)
}

/// The chosen shipping method, if it is active and ships to the address's country.
async fn shipping_method(
    tx: &mut TenantTx,
    id: Uuid,
    address: &AddressInput,
) -> AppResult<ShippingMethod> {
    let method = shipping::get_method(tx, id).await?.filter(|m| m.active).ok_or_else(|| {
        AppError::validation("shipping_method_id", "no active shipping method has this id")
    })?;
    if !method.ships_to(&address.country) {
        return Err(AppError::unprocessable(
            "shipping_unavailable",
            format!("{} does not ship to {}", method.name, address.country),
        ));
    }
    Ok(method)
}

/// The cart's discount code, checked again under its row lock.
async fn check_discount(
    tx: &mut TenantTx,
    cart: &cart::CartRow,
    lines: &[cart::LineRow],
    customer: Option<Uuid>,
    email: &str,
) -> AppResult<discount::DiscountCheck> {
    let Some(code) = cart.discount_code.as_deref() else {
        return Ok(discount::DiscountCheck::default());
    };
    let row = crate::discounts::find_by_code(tx, code, true).await?.ok_or_else(|| {
        conflict("discount_not_found", "the cart's discount code no longer exists")
    })?;
    let check = discount::evaluate(tx, row, lines, customer, Some(email)).await?;
    if let Some(problem) = &check.problem {
        return Err(conflict(
            static_code(&problem.code),
            format!("{}; remove the code or try again", problem.message),
        ));
    }
    Ok(check)
}

/// Decrements each variant's stock, in variant id order, with the conditional update; returns
/// the `inventory.low` payloads of variants that fell to `threshold`.
async fn take_stock(
    tx: &mut TenantTx,
    tenant: &Tenant,
    lines: &[cart::LineRow],
    threshold: i32,
) -> AppResult<Vec<Value>> {
    let mut sorted: Vec<&cart::LineRow> = lines.iter().collect();
    sorted.sort_by_key(|l| l.variant_id);
    let mut moved: BTreeMap<Uuid, (i64, bool)> = BTreeMap::new();
    let mut low: Vec<Value> = Vec::new();
    for line in sorted {
        let left: Option<(Uuid, i32)> = sqlx::query_as(
            "update variants set stock = stock - $2, updated_at = now() where id = $1 and stock >= $2 returning product_id, stock",
        )
        .bind(line.variant_id)
        .bind(line.quantity)
        .fetch_optional(&mut **tx)
        .await?;
        let Some((product, stock)) = left else {
            return Err(conflict(
                "insufficient_stock",
                format!(
                    "only {} of {} left in stock",
                    line.stock.unwrap_or(0),
                    line.product_name.as_deref().unwrap_or("an item")
                ),
            ));
        };
        let entry = moved.entry(product).or_insert((0, false));
        entry.0 -= i64::from(line.quantity);
        entry.1 |= stock == 0;
        let stock_move = StockMove {
            variant_id: line.variant_id,
            product_id: product,
            sku: line.sku.as_deref(),
            product_name: line.product_name.as_deref().unwrap_or_default(),
            variant_title: line.variant_title.as_deref().unwrap_or_default(),
            before: stock + line.quantity,
            after: stock,
        };
        low.extend(low_stock(&stock_move, threshold));
    }
    let changes: Vec<(Uuid, i64, bool)> =
        moved.into_iter().map(|(product, (delta, zero))| (product, delta, zero)).collect();
    stock_moved(tx, tenant.id, &changes).await?;
    Ok(low)
}

/// Counts one use of the applied discount, if its limit allows.
async fn count_discount_use(tx: &mut TenantTx, check: &discount::DiscountCheck) -> AppResult<()> {
    let Some(applied) = &check.applied else {
        return Ok(());
    };
    let counted = sqlx::query(
        "update discounts set used_count = used_count + 1 where id = $1 and (usage_limit is null or used_count < usage_limit)",
    )
    .bind(applied.id)
    .execute(&mut **tx)
    .await?;
    if counted.rows_affected() == 0 {
        return Err(conflict(
            "discount_usage_limit_reached",
            "this discount code has been used up",
        ));
    }
    Ok(())
}

/// Everything [`write_order`] writes, as checkout computed it.
struct OrderDraft<'a> {
    tenant: &'a Tenant,
    customer: Option<Uuid>,
    email: &'a str,
    order_token: &'a str,
    address: &'a AddressInput,
    method: &'a ShippingMethod,
    discount: &'a discount::DiscountCheck,
    tax_rate_bp: i32,
    prices_include_tax: bool,
    totals: &'a pricing::Totals,
    lines: &'a [cart::LineRow],
    price_lines: &'a [pricing::PriceLine],
    provider: &'static str,
    payment: &'a NewPayment,
    payment_status: PaymentStatus,
    cart_id: Uuid,
}

/// Writes the order (`draft.payment.order_id`), its items as a snapshot, the discount's use,
/// the payment and the history, and retires the cart.
async fn write_order(tx: &mut TenantTx, draft: &OrderDraft<'_>) -> AppResult<()> {
    let order_id = draft.payment.order_id;
    let paid_in_full = draft.payment_status == PaymentStatus::Succeeded;
    let status = if paid_in_full { OrderStatus::Paid } else { OrderStatus::PendingPayment };
    let applied = draft.discount.applied.as_ref();
    sqlx::query(
        "insert into orders (id, token_hash, customer_id, email, status, currency, subtotal, discount_total, shipping_total, \
         tax_total, total, tax_rate_bp, prices_include_tax, discount_id, discount_code, shipping_method_id, shipping_method_name, \
         shipping_address, payment_method, paid_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
                 case when $20 then now() end)",
    )
    .bind(order_id)
    .bind(secret_token_hash(draft.order_token))
    .bind(draft.customer)
    .bind(draft.email)
    .bind(status.as_str())
    .bind(&draft.tenant.currency)
    .bind(draft.totals.subtotal)
    .bind(draft.totals.discount_total)
    .bind(draft.totals.shipping_total)
    .bind(draft.totals.tax_total)
    .bind(draft.totals.total)
    .bind(draft.tax_rate_bp)
    .bind(draft.prices_include_tax)
    .bind(applied.map(|d| d.id))
    .bind(applied.map(|d| d.code.clone()))
    .bind(draft.method.id)
    .bind(&draft.method.name)
    .bind(sqlx::types::Json(draft.address))
    .bind(draft.provider)
    .bind(paid_in_full)
    .execute(&mut **tx)
    .await?;
    for (position, (line, price_line)) in draft.lines.iter().zip(draft.price_lines).enumerate() {
        sqlx::query(
            "insert into order_items (id, order_id, variant_id, product_id, product_name, variant_title, sku, unit_price, \
             quantity, line_total, position) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(Uuid::now_v7())
        .bind(order_id)
        .bind(line.variant_id)
        .bind(line.product_id)
        .bind(line.product_name.as_deref().unwrap_or_default())
        .bind(line.variant_title.as_deref().unwrap_or_default())
        .bind(&line.sku)
        .bind(price_line.unit_price)
        .bind(line.quantity)
        .bind(pricing::line_total(price_line))
        .bind(i32::try_from(position).unwrap_or(i32::MAX))
        .execute(&mut **tx)
        .await?;
    }
    if let Some(applied) = applied {
        sqlx::query("insert into discount_usages (discount_id, order_id, customer_id, email) values ($1, $2, $3, $4)")
            .bind(applied.id)
            .bind(order_id)
            .bind(draft.customer)
            .bind(draft.email)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("insert into payments (id, order_id, provider, status, amount, card_last4) values ($1, $2, $3, $4, $5, $6)")
        .bind(draft.payment.id)
        .bind(order_id)
        .bind(draft.provider)
        .bind(draft.payment_status)
        .bind(draft.payment.amount)
        .bind(&draft.payment.card_last4)
        .execute(&mut **tx)
        .await?;
    let actor = draft.customer.map_or(Actor::Guest, Actor::Customer);
    record_history(
        tx,
        order_id,
        "created",
        None,
        actor,
        json!({ "cart_id": draft.cart_id, "payment_method": draft.provider }),
    )
    .await?;
    sqlx::query("update carts set status = 'converted', updated_at = now() where id = $1")
        .bind(draft.cart_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
