//! Changes that several order operations share: restocking, releasing a discount use,
//! cancelling and marking paid (staff actions and payment call-backs alike).

use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Actor, Order, OrderStatus, emit_order_event, load_items, record_history};
use crate::catalog::stock_moved;
use crate::error::{AppError, AppResult};
use crate::events::EventKind;
use crate::tenancy::ShopId;

/// Puts units of an order's items back into stock: `(item id, quantity)` pairs, each at most
/// what is not restocked yet (422 `restock_exceeds_quantity`). Variants deleted since are
/// skipped (their units are counted as restocked). Rows are locked in variant-id order, after
/// their products, like checkout.
pub async fn restock(
    conn: &mut PgConnection,
    shop: ShopId,
    order: Uuid,
    lines: &[(Uuid, i32)],
) -> AppResult<Vec<Value>> {
    let items = load_items(conn, order).await?;
    let mut moves: Vec<(Uuid, i32)> = Vec::new();
    let mut restocked = Vec::new();
    for (item_id, quantity) in lines {
        let item = items.iter().find(|i| i.id == *item_id).ok_or_else(|| {
            AppError::validation(
                "restock",
                format!("order item {item_id} is not part of this order"),
            )
        })?;
        if *quantity < 1 || *quantity > item.quantity - item.restocked_quantity {
            return Err(AppError::unprocessable(
                "restock_exceeds_quantity",
                format!(
                    "item {item_id}: at most {} more units can be restocked",
                    item.quantity - item.restocked_quantity
                ),
            ));
        }
        sqlx::query(
            "update order_items set restocked_quantity = restocked_quantity + $2 where id = $1",
        )
        .bind(item_id)
        .bind(quantity)
        .execute(&mut *conn)
        .await?;
        if let Some(variant) = item.variant_id {
            moves.push((variant, *quantity));
        }
        restocked.push(json!({ "item_id": item_id, "quantity": quantity }));
    }
    moves.sort_by_key(|(variant, _)| *variant);
    let variants: Vec<Uuid> = moves.iter().map(|(v, _)| *v).collect();
    sqlx::query("select id from products where id in (select product_id from variants where id = any($1)) order by id for update")
        .bind(&variants)
        .execute(&mut *conn)
        .await?;
    let mut changes: Vec<(Uuid, i64, bool)> = Vec::new();
    for (variant, quantity) in moves {
        let moved: Option<(Uuid, i32)> =
            sqlx::query_as("update variants set stock = stock + $2, updated_at = now() where id = $1 returning product_id, stock")
                .bind(variant)
                .bind(quantity)
                .fetch_optional(&mut *conn)
                .await?;
        if let Some((product, stock)) = moved {
            changes.push((product, i64::from(quantity), stock == quantity));
        }
    }
    stock_moved(conn, shop, &changes).await?;
    Ok(restocked)
}

/// Every not-yet-restocked unit of the order, as restock lines.
pub async fn all_unrestocked(conn: &mut PgConnection, order: Uuid) -> AppResult<Vec<(Uuid, i32)>> {
    Ok(load_items(conn, order)
        .await?
        .into_iter()
        .filter(|i| i.quantity > i.restocked_quantity)
        .map(|i| (i.id, i.quantity - i.restocked_quantity))
        .collect())
}

/// Releases the order's discount use (a cancelled order does not count against limits).
pub async fn release_discount(conn: &mut PgConnection, order: &Order) -> AppResult<()> {
    let Some(discount) = order.discount_id else { return Ok(()) };
    let released =
        sqlx::query("delete from discount_usages where discount_id = $1 and order_id = $2")
            .bind(discount)
            .bind(order.id)
            .execute(&mut *conn)
            .await?;
    if released.rows_affected() > 0 {
        sqlx::query("update discounts set used_count = greatest(used_count - 1, 0) where id = $1")
            .bind(discount)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Cancels an order in the caller's transaction (row already locked, transition checked by
/// the caller): restocks every unit, releases the discount use, records what was paid as
/// refunded, history and `order.cancelled`. Returns the order as it now is.
pub async fn cancel(
    conn: &mut PgConnection,
    shop: ShopId,
    order: &Order,
    actor: Actor,
    reason: &str,
) -> AppResult<Order> {
    let from = order.status;
    let lines = all_unrestocked(conn, order.id).await?;
    let restocked = restock(conn, shop, order.id, &lines).await?;
    release_discount(conn, order).await?;
    let refund = order.paid_total - order.refunded_total;
    if refund > 0 {
        sqlx::query("insert into refunds (id, order_id, amount, restocked, reason, staff_id) values ($1, $2, $3, '[]', $4, $5)")
            .bind(Uuid::now_v7())
            .bind(order.id)
            .bind(refund)
            .bind(format!("cancelled: {reason}"))
            .bind(actor.id())
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(
        "update orders set status = 'cancelled', cancel_reason = $2, cancelled_at = now(), refunded_total = paid_total, \
         updated_at = now() where id = $1",
    )
    .bind(order.id)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    record_history(
        conn,
        order.id,
        "cancelled",
        Some((from, OrderStatus::Cancelled)),
        actor,
        json!({ "reason": reason, "restocked": restocked, "refunded": refund }),
    )
    .await?;
    emit_order_event(conn, shop, EventKind::OrderCancelled, order.id).await
}

/// Marks an order paid in the caller's transaction (row locked, transition checked). Returns
/// the order as it now is.
pub async fn mark_paid(
    conn: &mut PgConnection,
    shop: ShopId,
    order: &Order,
    actor: Actor,
    details: Value,
) -> AppResult<Order> {
    let from = order.status;
    sqlx::query("update orders set status = 'paid', paid_total = total, paid_at = now(), updated_at = now() where id = $1")
        .bind(order.id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("update payments set status = 'succeeded', updated_at = now() where order_id = $1 and status = 'pending'")
        .bind(order.id)
        .execute(&mut *conn)
        .await?;
    record_history(conn, order.id, "paid", Some((from, OrderStatus::Paid)), actor, details).await?;
    emit_order_event(conn, shop, EventKind::OrderPaid, order.id).await
}
