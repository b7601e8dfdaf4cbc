//! `POST /v1/store/checkout`, `GET /v1/store/me/orders`, `GET /v1/store/me/orders/{number}`,
//! `GET /v1/store/orders/{number}?token=…` (a guest's order).

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use sqlx::PgConnection;
use uuid::Uuid;

use super::checkout::{self, CheckoutRequest, CheckoutResult};
use super::{Order, OrderKey, OrderStatus, load_order, order_not_found};
use crate::auth::principal::{CustomerAuth, ShopperAuth};
use crate::cart::{CART_TOKEN_HEADER, Shopper};
use crate::error::{AppError, AppResult};
use crate::error_responses;
use crate::state::AppState;
use crate::tenancy::{Tenant, TenantTx};
use crate::values::{decode_cursor, encode_cursor, next_page, page_limit, secret_token_hash};

pub struct OrdersStoreApi {
    pub state: AppState,
}

#[derive(ApiResponse)]
enum CheckoutResponse {
    /// The order exists (or, for a retried key, existed already: the same body is returned).
    #[oai(status = 201)]
    Created(Json<CheckoutResult>),
}

/// An order in a list.
#[derive(Debug, Clone, Object, serde::Serialize, sqlx::FromRow)]
pub struct OrderSummary {
    pub id: Uuid,
    pub number: i64,
    pub status: OrderStatus,
    pub email: String,
    #[oai(nullable)]
    pub customer_id: Option<Uuid>,
    pub currency: String,
    pub total: i64,
    pub paid_total: i64,
    pub refunded_total: i64,
    pub item_count: i64,
    pub created_at: DateTime<Utc>,
}

pub const SUMMARY_COLUMNS: &str = "o.id, o.number, o.status, o.email, o.customer_id, o.currency, o.total, o.paid_total, \
    o.refunded_total, (select coalesce(sum(quantity), 0)::bigint from order_items i where i.order_id = o.id) as item_count, \
    o.created_at";

#[derive(Debug, Object)]
pub struct OrderPage {
    pub items: Vec<OrderSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// Turns a page of rows (fetched with `limit + 1`) into a response page.
pub fn order_page(mut items: Vec<OrderSummary>, limit: i64) -> OrderPage {
    let next_cursor = next_page(&mut items, limit).map(|last| encode_cursor(&last.id));
    OrderPage { items, next_cursor }
}

error_responses!(CheckoutErrors { 400 BadRequest, 401 Unauthorized, 403 Forbidden, 404 NotFound, 409 Conflict, 422 Unprocessable, 429 TooManyRequests });
error_responses!(StoreOrderErrors { 400 BadRequest, 401 Unauthorized, 403 Forbidden, 404 NotFound, 429 TooManyRequests });

#[OpenApi(prefix_path = "/v1/store", tag = "crate::openapi_tags::Tag::Orders")]
impl OrdersStoreApi {
    /// Check out the cart
    ///
    /// Requires an `Idempotency-Key` header, which belongs to the signed-in customer or the
    /// guest cart (another shopper's identical key is a checkout of its own): a retry with the
    /// same key and body returns the same order and body; the same key with another body is 422 `idempotency_key_reused`;
    /// while the first is still running, 409 `idempotency_key_in_use`. Other refusals (nothing
    /// is ordered): 409 `insufficient_stock`, `product_unavailable`, `price_changed` or a
    /// discount problem (`discount_usage_limit_reached`, …); 422 `cart_empty`,
    /// `shipping_unavailable` or a field error.
    #[oai(path = "/checkout", method = "post")]
    async fn checkout(
        &self,
        auth: ShopperAuth,
        req: &Request,
        tenant: Data<&Tenant>,
        #[oai(name = "X-Cart-Token")] cart_token: Header<Option<String>>,
        #[oai(name = "Idempotency-Key")] idempotency_key: Header<Option<String>>,
        body: Json<CheckoutRequest>,
    ) -> Result<CheckoutResponse, CheckoutErrors> {
        let guest_token = cart_token.0.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let shopper = match auth.customer(req)? {
            Some(customer) => Shopper::Customer(customer),
            None => Shopper::Guest {
                token: guest_token
                    .ok_or_else(|| {
                        AppError::bad_request(
                            "cart_token_required",
                            format!("send the cart's {CART_TOKEN_HEADER} header, or sign in"),
                        )
                    })?
                    .to_owned(),
            },
        };
        let (_, body) = checkout::checkout(
            &self.state.pool,
            &tenant,
            &shopper,
            guest_token,
            idempotency_key.0.as_deref(),
            &body.0,
        )
        .await?;
        let result: CheckoutResult =
            serde_json::from_value(body).map_err(|err| AppError::Internal(err.into()))?;
        Ok(CheckoutResponse::Created(Json(result)))
    }

    /// The signed-in customer's orders, newest first
    #[oai(path = "/me/orders", method = "get")]
    async fn my_orders(
        &self,
        auth: CustomerAuth,
        tenant: Data<&Tenant>,
        cursor: Query<Option<String>>,
        /// 1–100, default 20.
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<OrderPage>, StoreOrderErrors> {
        let limit = page_limit(limit.0)?;
        let after: Option<Uuid> = cursor.0.as_deref().map(decode_cursor).transpose()?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let rows = customer_orders(&mut tx, auth.0.id, after, limit).await?;
        tx.commit().await?;
        Ok(Json(order_page(rows, limit)))
    }

    /// One of the signed-in customer's orders, by number
    #[oai(path = "/me/orders/:number", method = "get")]
    async fn my_order(
        &self,
        auth: CustomerAuth,
        tenant: Data<&Tenant>,
        number: Path<i64>,
    ) -> Result<Json<Order>, StoreOrderErrors> {
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let order = load_order(&mut tx, OrderKey::CustomerNumber(auth.0.id, number.0)).await?;
        tx.commit().await?;
        Ok(Json(order))
    }

    /// A guest's order, with the order token given at checkout
    #[oai(path = "/orders/:number", method = "get")]
    async fn guest_order(
        &self,
        tenant: Data<&Tenant>,
        number: Path<i64>,
        /// The `order_token` from the checkout response.
        token: Query<String>,
    ) -> Result<Json<Order>, StoreOrderErrors> {
        if token.0.trim().is_empty() {
            return Err(order_not_found().into());
        }
        let hash = secret_token_hash(&token.0);
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let order = load_order(&mut tx, OrderKey::TokenNumber(&hash, number.0)).await?;
        tx.commit().await?;
        Ok(Json(order))
    }
}

/// A customer's orders, newest first, `limit + 1` rows after `after` (the last one tells
/// whether there is a next page).
pub async fn customer_orders(
    conn: &mut PgConnection,
    customer: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> AppResult<Vec<OrderSummary>> {
    Ok(sqlx::query_as(&format!(
        "select {SUMMARY_COLUMNS} from orders o where o.customer_id = $1 and ($2::uuid is null or o.id < $2) \
         order by o.id desc limit $3"
    ))
    .bind(customer)
    .bind(after)
    .bind(limit + 1)
    .fetch_all(conn)
    .await?)
}
