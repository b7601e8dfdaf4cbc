//! `GET/POST /v1/admin/variants/{id}/stock-adjustments`.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{StockMove, emit_low_stock, low_stock};
use crate::auth::permission::Permission;
use crate::auth::principal::StaffAuth;
use crate::catalog::stock_moved;
use crate::error::{AppError, AppResult, ShopListErrors, ShopWriteErrors};
use crate::idempotency::{self, Claim, IdempotencyKey, Principal};
use crate::shipping::load_settings;
use crate::state::AppState;
use crate::tenancy::{Tenant, TenantTx};
use crate::values::{decode_cursor, encode_cursor, next_page, page_limit};

/// The largest change one adjustment may make.
const MAX_DELTA: i32 = 1_000_000;

pub struct StockAdjustmentsApi {
    pub state: AppState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize, sqlx::Type)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum AdjustmentReason {
    /// Goods arrived.
    Received,
    /// A stock count differed.
    Correction,
    Damaged,
    /// Returned by a customer outside a refund.
    Returned,
    Other,
}

#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct NewStockAdjustment {
    /// Units to add (negative to remove); not 0, at most 1,000,000 either way.
    #[oai(validator(minimum(value = "-1000000"), maximum(value = "1000000")))]
    pub delta: i32,
    pub reason: AdjustmentReason,
    /// Up to 500 characters.
    #[oai(default)]
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, Object, Serialize, Deserialize, sqlx::FromRow)]
pub struct StockAdjustment {
    pub id: Uuid,
    pub variant_id: Uuid,
    pub delta: i32,
    /// The variant's stock right after this adjustment.
    pub stock_after: i32,
    pub reason: AdjustmentReason,
    pub note: String,
    #[oai(nullable)]
    pub staff_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Object)]
pub struct StockAdjustmentPage {
    pub items: Vec<StockAdjustment>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
enum AdjustmentCreated {
    /// Applied (or, for a retried key, applied before: the same body is returned).
    #[oai(status = 201)]
    Created(Json<StockAdjustment>),
}

fn variant_not_found() -> AppError {
    AppError::not_found("variant_not_found", "no variant has this id")
}

const COLUMNS: &str = "id, variant_id, delta, stock_after, reason, note, staff_id, created_at";

#[OpenApi(prefix_path = "/v1/admin/variants", tag = "crate::openapi_tags::Tag::Catalog")]
impl StockAdjustmentsApi {
    /// Adjust a variant's stock by a relative amount
    ///
    /// Requires `Idempotency-Key`. Safe against concurrent sales (the change is applied under
    /// the variant's lock); removing more than is in stock is 409 `insufficient_stock`.
    #[oai(path = "/:id/stock-adjustments", method = "post")]
    async fn adjust(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] idempotency_key: Header<Option<String>>,
        body: Json<NewStockAdjustment>,
    ) -> Result<AdjustmentCreated, ShopWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ProductsWrite).await?;
        let adjustment =
            self.apply(&tenant, auth.0.id, id.0, idempotency_key.0.as_deref(), &body.0).await?;
        Ok(AdjustmentCreated::Created(Json(adjustment)))
    }

    /// A variant's stock adjustments, newest first
    #[oai(path = "/:id/stock-adjustments", method = "get")]
    async fn list(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
        cursor: Query<Option<String>>,
        /// 1–100, default 20.
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<StockAdjustmentPage>, ShopListErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ProductsRead).await?;
        let limit = page_limit(limit.0)?;
        let after: Option<Uuid> = cursor.0.as_deref().map(decode_cursor).transpose()?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let exists: bool =
            sqlx::query_scalar("select exists (select 1 from variants where id = $1)")
                .bind(id.0)
                .fetch_one(&mut *tx)
                .await?;
        let mut items: Vec<StockAdjustment> = sqlx::query_as(&format!(
            "select {COLUMNS} from stock_adjustments where variant_id = $1 and ($2::uuid is null or id < $2) \
             order by id desc limit $3"
        ))
        .bind(id.0)
        .bind(after)
        .bind(limit + 1)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        if !exists && items.is_empty() {
            return Err(variant_not_found().into());
        }
        let next_cursor = next_page(&mut items, limit).map(|last| encode_cursor(&last.id));
        Ok(Json(StockAdjustmentPage { items, next_cursor }))
    }
}

impl StockAdjustmentsApi {
    async fn apply(
        &self,
        tenant: &Tenant,
        staff: Uuid,
        variant: Uuid,
        key: Option<&str>,
        req: &NewStockAdjustment,
    ) -> AppResult<StockAdjustment> {
        // `unsigned_abs`: `abs` of i32::MIN overflows.
        if req.delta == 0 || req.delta.unsigned_abs() > MAX_DELTA.unsigned_abs() {
            return Err(AppError::validation(
                "delta",
                format!("must be non-zero and at most {MAX_DELTA} either way"),
            ));
        }
        let note = req.note.trim();
        if note.chars().count() > 500 {
            return Err(AppError::validation("note", "must be at most 500 characters"));
        }
        let canonical = serde_json::to_value(req).map_err(|err| AppError::Internal(err.into()))?;
        let key = IdempotencyKey::new(
            &format!("stock:{variant}"),
            Principal::Staff(staff),
            key,
            &canonical,
        )?;
        let mut tx = TenantTx::begin(&self.state.pool, tenant).await?;
        if let Claim::Replay { body, .. } = idempotency::claim(&mut tx, tenant.id, &key).await? {
            tx.rollback().await?;
            return serde_json::from_value(body).map_err(|err| AppError::Internal(err.into()));
        }

        // The product first, then the variant: the order of checkout and the editor.
        let product: Option<(Uuid, String)> = sqlx::query_as(
            "select p.id, p.name from products p join variants v on v.product_id = p.id where v.id = $1 for update of p",
        )
        .bind(variant)
        .fetch_optional(&mut *tx)
        .await?;
        let (product, product_name) = product.ok_or_else(variant_not_found)?;
        let moved: Option<(i32, Option<String>, String)> = sqlx::query_as(
            "update variants set stock = stock + $2, updated_at = now() where id = $1 and stock + $2 >= 0 \
             returning stock, sku, title",
        )
        .bind(variant)
        .bind(req.delta)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((after, sku, title)) = moved else {
            let stock: i32 = sqlx::query_scalar("select stock from variants where id = $1")
                .bind(variant)
                .fetch_one(&mut *tx)
                .await?;
            return Err(AppError::conflict("insufficient_stock", format!("only {stock} in stock")));
        };
        let before = after - req.delta;
        stock_moved(
            &mut tx,
            tenant.id,
            &[(product, i64::from(req.delta), before == 0 || after == 0)],
        )
        .await?;
        let threshold = load_settings(&mut tx).await?.low_stock_threshold;
        let moved = StockMove {
            variant_id: variant,
            product_id: product,
            sku: sku.as_deref(),
            product_name: &product_name,
            variant_title: &title,
            before,
            after,
        };
        emit_low_stock(&mut tx, tenant.id, low_stock(&moved, threshold).into_iter().collect())
            .await?;

        let adjustment: StockAdjustment = sqlx::query_as(&format!(
            "insert into stock_adjustments (id, variant_id, delta, stock_after, reason, note, staff_id) \
             values ($1, $2, $3, $4, $5, $6, $7) returning {COLUMNS}"
        ))
        .bind(Uuid::now_v7())
        .bind(variant)
        .bind(req.delta)
        .bind(after)
        .bind(req.reason)
        .bind(note)
        .bind(staff)
        .fetch_one(&mut *tx)
        .await?;
        let body =
            serde_json::to_value(&adjustment).map_err(|err| AppError::Internal(err.into()))?;
        idempotency::store(&mut tx, &key, 201, &body).await?;
        tx.commit().await?;
        Ok(adjustment)
    }
}
