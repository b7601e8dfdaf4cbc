//! `GET /v1/admin/customers`, `GET /v1/admin/customers/{id}`: the shop's customers as its staff
//! see them, with what they bought.
//!
//! Figures (one rule, in [`ORDER_FIGURES`]): `order_count` counts the customer's orders in any
//! status except `cancelled`; `total_spent` is the sum over those same orders of
//! `paid_total - refunded_total`, in minor units of the shop's currency. So an order awaiting
//! payment counts as an order but adds nothing to the total, a refunded order adds nothing, a
//! partial refund is subtracted, and a cancelled order is left out of both.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::addresses::{self, Address};
use crate::auth::permission::Permission;
use crate::auth::principal::StaffAuth;
use crate::error::{AppError, ShopListErrors, ShopReadErrors};
use crate::state::AppState;
use crate::tenancy::{Tenant, TenantTx};
use crate::values::{decode_cursor, encode_cursor, escape_like, next_page, page_limit};

pub struct CustomersAdminApi {
    pub state: AppState,
}

/// `order_count` and `total_spent` of customer `c` (see the module doc).
const ORDER_FIGURES: &str = "coalesce((select count(*) from orders o where o.customer_id = c.id and o.status <> 'cancelled'), 0) as order_count, \
     coalesce((select sum(o.paid_total - o.refunded_total) from orders o where o.customer_id = c.id and o.status <> 'cancelled'), 0)::bigint as total_spent";

#[derive(Debug, Object, sqlx::FromRow)]
pub struct CustomerSummary {
    pub id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// Orders placed, cancelled ones excluded.
    pub order_count: i64,
    /// Paid minus refunded over those orders, in minor units of `currency`.
    pub total_spent: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Object)]
pub struct CustomerPage {
    pub items: Vec<CustomerSummary>,
    /// ISO 4217 code of every amount in this page.
    pub currency: String,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Object, sqlx::FromRow)]
pub struct CustomerDetail {
    pub id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// Orders placed, cancelled ones excluded.
    pub order_count: i64,
    /// Sum of `paid_total - refunded_total` over the customer's orders that are not cancelled,
    /// in minor units of `currency`.
    pub total_spent: i64,
    /// ISO 4217 code of `total_spent`.
    #[sqlx(skip)]
    #[oai(default)]
    pub currency: String,
    /// The customer's address book, the default first.
    #[sqlx(skip)]
    #[oai(default)]
    pub addresses: Vec<Address>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[OpenApi(prefix_path = "/v1/admin/customers", tag = "crate::openapi_tags::Tag::Customers")]
impl CustomersAdminApi {
    /// List customers, newest first
    ///
    /// Each with `order_count` and `total_spent`: orders in any status but `cancelled`, and the
    /// sum of what was paid minus what was refunded on them.
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        /// Case-insensitive match on e-mail, first name, last name or "first last".
        q: Query<Option<String>>,
        cursor: Query<Option<String>>,
        /// 1–100, default 20.
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<CustomerPage>, ShopListErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::CustomersRead).await?;
        let limit = page_limit(limit.0)?;
        let after: Option<Uuid> = cursor.0.as_deref().map(decode_cursor).transpose()?;
        let pattern =
            q.0.as_deref()
                .map(str::trim)
                .filter(|q| !q.is_empty())
                .map(|q| format!("%{}%", escape_like(q)));
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let mut items: Vec<CustomerSummary> = sqlx::query_as(&format!(
            "select c.id, c.email, c.first_name, c.last_name, {ORDER_FIGURES}, c.created_at \
             from customers c \
             where ($1::text is null or c.email ilike $1 or c.first_name ilike $1 or c.last_name ilike $1 \
                    or (c.first_name || ' ' || c.last_name) ilike $1) \
               and ($2::uuid is null or c.id < $2) \
             order by c.id desc limit $3",
        ))
        .bind(pattern)
        .bind(after)
        .bind(limit + 1)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let next_cursor = next_page(&mut items, limit).map(|last| encode_cursor(&last.id));
        Ok(Json(CustomerPage { items, currency: tenant.currency.clone(), next_cursor }))
    }

    /// A customer with their addresses, order count and total spent
    #[oai(path = "/:id", method = "get")]
    async fn get(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
    ) -> Result<Json<CustomerDetail>, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::CustomersRead).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let customer: Option<CustomerDetail> = sqlx::query_as(&format!(
            "select c.id, c.email, c.first_name, c.last_name, {ORDER_FIGURES}, c.created_at, c.updated_at \
             from customers c where c.id = $1",
        ))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let mut customer = customer
            .ok_or_else(|| AppError::not_found("customer_not_found", "no such customer"))?;
        customer.addresses = addresses::list(&mut tx, customer.id).await?;
        tx.commit().await?;
        customer.currency = tenant.currency.clone();
        Ok(Json(customer))
    }
}
