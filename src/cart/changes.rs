//! Changes to a cart's lines and discount code, each in the caller's transaction with the
//! cart locked ([`super::find_cart`]). The JSON cart API and the cart page both call these.

use sqlx::PgConnection;
use uuid::Uuid;

use super::{CartRow, MAX_LINE_QUANTITY, MAX_LINES};
use crate::error::{AppError, AppResult};

/// A change to a locked cart, run inside its transaction (the API's `with_cart`, the cart
/// page's forms).
pub type Change<'a> = std::pin::Pin<Box<dyn Future<Output = AppResult<()>> + Send + 'a>>;

pub fn check_quantity(quantity: i32) -> AppResult<()> {
    if (1..=MAX_LINE_QUANTITY).contains(&quantity) {
        Ok(())
    } else {
        Err(AppError::validation("quantity", format!("must be between 1 and {MAX_LINE_QUANTITY}")))
    }
}

fn insufficient_stock(stock: i32) -> AppError {
    AppError::conflict("insufficient_stock", format!("only {stock} in stock"))
}

fn line_not_found() -> AppError {
    AppError::not_found("cart_item_not_found", "this cart has no such line")
}

/// Adds `quantity` of a variant on sale (to the line's quantity when it is in the cart).
#[tracing::instrument(skip_all)]
pub async fn add_item(
    conn: &mut PgConnection,
    cart: &CartRow,
    variant_id: Uuid,
    quantity: i32,
) -> AppResult<()> {
    let variant: Option<(i64, i32)> = sqlx::query_as(
        "select v.price, v.stock from variants v join products p on p.id = v.product_id \
         where v.id = $1 and p.status = 'active'",
    )
    .bind(variant_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (price, stock) = variant.ok_or_else(|| {
        AppError::not_found("variant_not_found", "no variant on sale has this id")
    })?;
    let existing: Option<i32> = sqlx::query_scalar(
        "select quantity from cart_items where cart_id = $1 and variant_id = $2",
    )
    .bind(cart.id)
    .bind(variant_id)
    .fetch_optional(&mut *conn)
    .await?;
    if existing.is_none() {
        let lines: i64 = sqlx::query_scalar("select count(*) from cart_items where cart_id = $1")
            .bind(cart.id)
            .fetch_one(&mut *conn)
            .await?;
        if lines >= MAX_LINES {
            return Err(AppError::unprocessable(
                "cart_full",
                format!("a cart holds at most {MAX_LINES} different items"),
            ));
        }
    }
    let total = existing.unwrap_or(0).saturating_add(quantity);
    check_quantity(total)?;
    if total > stock {
        return Err(insufficient_stock(stock));
    }
    sqlx::query(
        "insert into cart_items (id, cart_id, variant_id, quantity, seen_price) values ($1, $2, $3, $4, $5) \
         on conflict (cart_id, variant_id) do update set quantity = excluded.quantity, seen_price = excluded.seen_price",
    )
    .bind(Uuid::now_v7())
    .bind(cart.id)
    .bind(variant_id)
    .bind(total)
    .bind(price)
    .execute(&mut *conn)
    .await?;
    super::touch(conn, cart.id).await
}

/// Sets a line's quantity, within the variant's stock.
#[tracing::instrument(skip_all)]
pub async fn set_quantity(
    conn: &mut PgConnection,
    cart: &CartRow,
    line: Uuid,
    quantity: i32,
) -> AppResult<()> {
    let stock: Option<Option<i32>> = sqlx::query_scalar(
        "select v.stock from cart_items ci left join variants v on v.id = ci.variant_id \
         where ci.id = $1 and ci.cart_id = $2",
    )
    .bind(line)
    .bind(cart.id)
    .fetch_optional(&mut *conn)
    .await?;
    let stock = stock.ok_or_else(line_not_found)?.unwrap_or(0);
    if quantity > stock {
        return Err(insufficient_stock(stock));
    }
    sqlx::query("update cart_items set quantity = $3 where id = $1 and cart_id = $2")
        .bind(line)
        .bind(cart.id)
        .bind(quantity)
        .execute(&mut *conn)
        .await?;
    super::touch(conn, cart.id).await
}

#[tracing::instrument(skip_all)]
pub async fn remove_line(conn: &mut PgConnection, cart: &CartRow, line: Uuid) -> AppResult<()> {
    let removed = sqlx::query("delete from cart_items where id = $1 and cart_id = $2")
        .bind(line)
        .bind(cart.id)
        .execute(&mut *conn)
        .await?;
    if removed.rows_affected() == 0 {
        return Err(line_not_found());
    }
    super::touch(conn, cart.id).await
}

/// A discount code as a shopper typed it: trimmed, 1–64 bytes.
pub fn parse_code(raw: &str) -> AppResult<String> {
    let code = raw.trim();
    if code.is_empty() || code.len() > 64 {
        return Err(AppError::validation("code", "must be 1–64 characters"));
    }
    Ok(code.to_owned())
}

/// Applies a discount code ([`parse_code`]) when it applies to this cart now (else the
/// reason, 404/422).
#[tracing::instrument(skip_all)]
pub async fn apply_discount(
    conn: &mut PgConnection,
    cart: &CartRow,
    code: String,
) -> AppResult<()> {
    let lines = super::load_lines(conn, cart.id).await?;
    let check = super::discount::check(conn, Some(&code), &lines, cart.customer_id, None)
        .await?
        .into_result()?;
    let code = check.applied.map_or(code, |d| d.code);
    sqlx::query("update carts set discount_code = $2, updated_at = now() where id = $1")
        .bind(cart.id)
        .bind(code)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn remove_discount(conn: &mut PgConnection, cart: &CartRow) -> AppResult<()> {
    sqlx::query("update carts set discount_code = null, updated_at = now() where id = $1")
        .bind(cart.id)
        .execute(conn)
        .await?;
    Ok(())
}
