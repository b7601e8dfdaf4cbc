//! Inventory: stock moves outside the product editor, and the `inventory.low` signal.
//!
//! Stock changes in three places, all under the same locks (the product row, then the variant
//! row): checkout takes it with a conditional decrement, cancellations and refunds put it back
//! ([`crate::orders::restock`]), and staff adjust it by a relative amount here
//! (`POST /v1/admin/variants/{id}/stock-adjustments`, with an `Idempotency-Key`). A relative
//! adjustment cannot overwrite a sale made meanwhile, unlike an absolute `stock` sent through
//! the product editor. Whenever stock falls to the shop's `low_stock_threshold` or below from
//! above it, [`low_stock`] gives the `inventory.low` event for the same transaction.

mod api;

use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

pub use api::StockAdjustmentsApi;

use crate::error::AppResult;
use crate::events;
use crate::tenancy::ShopId;

/// A variant whose stock just moved.
#[derive(Debug, Clone)]
pub struct StockMove<'a> {
    pub variant_id: Uuid,
    pub product_id: Uuid,
    pub sku: Option<&'a str>,
    pub product_name: &'a str,
    pub variant_title: &'a str,
    pub before: i32,
    pub after: i32,
}

/// The `inventory.low` payload when the move crossed `threshold` downwards.
pub fn low_stock(moved: &StockMove<'_>, threshold: i32) -> Option<Value> {
    (moved.after <= threshold && moved.before > threshold).then(|| {
        json!({
            "variant_id": moved.variant_id,
            "product_id": moved.product_id,
            "sku": moved.sku,
            "product_name": moved.product_name,
            "variant_title": moved.variant_title,
            "stock": moved.after,
            "threshold": threshold,
        })
    })
}

/// Emits the `inventory.low` events of a transaction's moves.
pub async fn emit_low_stock(
    conn: &mut PgConnection,
    shop: ShopId,
    payloads: Vec<Value>,
) -> AppResult<()> {
    for payload in payloads {
        events::emit(conn, shop, events::EventKind::InventoryLow, payload).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moved(before: i32, after: i32) -> StockMove<'static> {
        StockMove {
            variant_id: Uuid::nil(),
            product_id: Uuid::nil(),
            sku: None,
            product_name: "P",
            variant_title: "V",
            before,
            after,
        }
    }

    #[test]
    fn only_a_fall_across_the_threshold_is_low_stock() {
        assert!(low_stock(&moved(6, 5), 5).is_some(), "reaching the threshold");
        assert!(low_stock(&moved(9, 0), 5).is_some());
        assert!(low_stock(&moved(5, 4), 5).is_none(), "already low: said before");
        assert!(low_stock(&moved(7, 6), 5).is_none());
        assert!(low_stock(&moved(2, 8), 5).is_none(), "a restock");
        assert_eq!(low_stock(&moved(6, 3), 5).unwrap()["stock"], 3);
    }
}
