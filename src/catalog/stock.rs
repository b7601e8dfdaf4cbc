//! Stock moved outside the product editor (checkout, cancellation, restock, adjustments).

use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::cache;
use crate::error::AppResult;
use crate::events;
use crate::search::document::refresh_search_vector;
use crate::tenancy::ShopId;

/// Stock moved outside the product editor (checkout, cancellation, restock): `changes` are
/// (product, units added — negative when sold, whether a variant crossed zero). Keeps
/// `total_stock` in step; when availability changed, also the search document, and emits
/// `product.updated` so external search indexes follow. The caller holds the rows' locks.
pub async fn stock_moved(
    conn: &mut PgConnection,
    shop: ShopId,
    changes: &[(Uuid, i64, bool)],
) -> AppResult<()> {
    for (product, delta, crossed_zero) in changes {
        sqlx::query("update products set total_stock = total_stock + $2 where id = $1")
            .bind(product)
            .bind(delta)
            .execute(&mut *conn)
            .await?;
        if *crossed_zero {
            // Storefronts show availability: the caller's next read sees it (`cache::changes`).
            cache::changes::record(shop);
            refresh_search_vector(conn, &[*product]).await?;
            events::emit(conn, shop, events::EventKind::ProductUpdated, json!({ "id": product }))
                .await?;
        }
    }
    Ok(())
}
