//! `GET/POST /v1/admin/discounts`, `GET/PATCH/DELETE /v1/admin/discounts/{id}`.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::model::{
    self, COLUMNS, Discount, DiscountUpdate, Draft, NewDiscount, not_found, validate,
};
use crate::auth::permission::Permission;
use crate::auth::principal::StaffAuth;
use crate::error::{AppResult, ShopListErrors, ShopReadErrors, ShopWriteErrors};
use crate::state::AppState;
use crate::tenancy::{Tenant, TenantTx};
use crate::values::{decode_cursor, encode_cursor, escape_like, next_page, page_limit};

pub struct DiscountsAdminApi {
    pub state: AppState,
}

#[derive(Debug, Object)]
pub struct DiscountPage {
    pub items: Vec<Discount>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
enum DiscountCreated {
    #[oai(status = 201)]
    Created(Json<Discount>),
}

#[derive(ApiResponse)]
enum DiscountDeleted {
    /// Deleted with its usage records; orders keep the code and amount they were placed with.
    #[oai(status = 204)]
    NoContent,
}

fn with_currency(mut discount: Discount, tenant: &Tenant) -> Discount {
    discount.currency = tenant.currency.clone();
    discount
}

#[OpenApi(prefix_path = "/v1/admin/discounts", tag = "crate::openapi_tags::Tag::Discounts")]
impl DiscountsAdminApi {
    /// List discount codes, newest first
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        /// Case-insensitive match on the code.
        q: Query<Option<String>>,
        /// Only active (`true`) or inactive (`false`) codes.
        active: Query<Option<bool>>,
        cursor: Query<Option<String>>,
        /// 1–100, default 20.
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<DiscountPage>, ShopListErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::DiscountsRead).await?;
        let limit = page_limit(limit.0)?;
        let after: Option<Uuid> = cursor.0.as_deref().map(decode_cursor).transpose()?;
        let pattern =
            q.0.as_deref()
                .map(str::trim)
                .filter(|q| !q.is_empty())
                .map(|q| format!("%{}%", escape_like(q)));
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let mut items: Vec<Discount> = sqlx::query_as(&format!(
            "select {COLUMNS} from discounts \
             where ($1::text is null or code ilike $1) and ($2::boolean is null or active = $2) \
               and ($3::uuid is null or id < $3) \
             order by id desc limit $4",
        ))
        .bind(pattern)
        .bind(active.0)
        .bind(after)
        .bind(limit + 1)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let next_cursor = next_page(&mut items, limit).map(|last| encode_cursor(&last.id));
        let items = items.into_iter().map(|d| with_currency(d, &tenant)).collect();
        Ok(Json(DiscountPage { items, next_cursor }))
    }

    /// Create a discount code
    ///
    /// `discount_code_taken` (409) if the shop has the code already, in any case.
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        body: Json<NewDiscount>,
    ) -> Result<DiscountCreated, ShopWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::DiscountsWrite).await?;
        let fields = validate(Draft::new(&body.0), 0)?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        if let Some(category) = fields.category_id {
            model::require_category(&mut tx, category).await?;
        }
        let discount = model::insert(&mut tx, &fields).await?;
        tx.commit().await?;
        Ok(DiscountCreated::Created(Json(with_currency(discount, &tenant))))
    }

    /// A discount code with its use count
    #[oai(path = "/:id", method = "get")]
    async fn get(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
    ) -> Result<Json<Discount>, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::DiscountsRead).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let discount = model::find(&mut tx, id.0, false).await?;
        tx.commit().await?;
        Ok(Json(with_currency(discount, &tenant)))
    }

    /// Change a discount code
    ///
    /// Orders already placed keep the discount they got.
    #[oai(path = "/:id", method = "patch")]
    async fn update(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
        body: Json<DiscountUpdate>,
    ) -> Result<Json<Discount>, ShopWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::DiscountsWrite).await?;
        Ok(Json(with_currency(self.change(&tenant, id.0, &body.0).await?, &tenant)))
    }

    /// Delete a discount code
    ///
    /// Allowed even after orders used it: they keep the code and the amount they were placed
    /// with; the code's usage records are deleted with it. Set `active: false` instead to stop
    /// the code and keep its history.
    #[oai(path = "/:id", method = "delete")]
    async fn delete(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
    ) -> Result<DiscountDeleted, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::DiscountsWrite).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let deleted =
            sqlx::query("delete from discounts where id = $1").bind(id.0).execute(&mut *tx).await?;
        if deleted.rows_affected() == 0 {
            return Err(not_found().into());
        }
        tx.commit().await?;
        Ok(DiscountDeleted::NoContent)
    }
}

impl DiscountsAdminApi {
    async fn change(&self, tenant: &Tenant, id: Uuid, req: &DiscountUpdate) -> AppResult<Discount> {
        let mut tx = TenantTx::begin(&self.state.pool, tenant).await?;
        // Locked: a checkout counting a use waits, so `usage_limit` is checked against the
        // real count.
        let current = model::find(&mut tx, id, true).await?;
        let fields = validate(Draft::changed(&current, req), current.used_count)?;
        if let MaybeUndefined::Value(category) = req.category_id
            && current.category_id != Some(category)
        {
            model::require_category(&mut tx, category).await?;
        }
        let discount = model::update(&mut tx, id, &fields).await?;
        tx.commit().await?;
        Ok(discount)
    }
}
