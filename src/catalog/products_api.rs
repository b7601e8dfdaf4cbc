//! `GET/POST /v1/admin/products`, `GET/PATCH/DELETE /v1/admin/products/{id}`.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::products::{self, NewProduct, Product, ProductKey, ProductStatus, ProductUpdate};
use crate::auth::permission::Permission;
use crate::auth::principal::StaffAuth;
use crate::error::{AppResult, ShopListErrors, ShopReadErrors, ShopWriteErrors};
use crate::quotas::{Quota, Resource};
use crate::state::AppState;
use crate::tenancy::{Tenant, TenantTx};
use crate::values::{decode_cursor, encode_cursor, escape_like, next_page, page_limit};

pub struct ProductsAdminApi {
    pub state: AppState,
}

#[derive(Debug, Object, sqlx::FromRow)]
pub struct ProductSummary {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub status: String,
    pub price_min: i64,
    pub price_max: i64,
    pub total_stock: i64,
    pub variant_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Object)]
pub struct ProductPage {
    pub items: Vec<ProductSummary>,
    /// ISO 4217 code of every price in this page.
    pub currency: String,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
enum ProductCreated {
    #[oai(status = 201)]
    Created(Json<Product>),
}

#[derive(ApiResponse)]
enum ProductDeleted {
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(prefix_path = "/v1/admin/products", tag = "crate::openapi_tags::Tag::Catalog")]
impl ProductsAdminApi {
    /// List products, newest first
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        /// Only products with this status.
        status: Query<Option<ProductStatus>>,
        /// Case-insensitive match on name, slug or SKU.
        q: Query<Option<String>>,
        /// Only products directly in this category.
        category_id: Query<Option<Uuid>>,
        cursor: Query<Option<String>>,
        /// 1–100, default 20.
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<ProductPage>, ShopListErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ProductsRead).await?;
        let limit = page_limit(limit.0)?;
        let after: Option<Uuid> = cursor.0.as_deref().map(decode_cursor).transpose()?;
        let pattern =
            q.0.as_deref()
                .map(str::trim)
                .filter(|q| !q.is_empty())
                .map(|q| format!("%{}%", escape_like(q)));
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let mut items: Vec<ProductSummary> = sqlx::query_as(
            "select p.id, p.name, p.slug, p.status, p.price_min, p.price_max, p.total_stock, \
             (select count(*) from variants v where v.product_id = p.id) as variant_count, p.created_at, p.updated_at \
             from products p \
             where ($1::text is null or p.status = $1) \
               and ($2::text is null or p.name ilike $2 or p.slug ilike $2 \
                    or exists (select 1 from variants v where v.product_id = p.id and v.sku ilike $2)) \
               and ($3::uuid is null or exists (select 1 from product_categories pc where pc.product_id = p.id and pc.category_id = $3)) \
               and ($4::uuid is null or p.id < $4) \
             order by p.id desc limit $5",
        )
        .bind(status.0.map(ProductStatus::as_str))
        .bind(pattern)
        .bind(category_id.0)
        .bind(after)
        .bind(limit + 1)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let next_cursor = next_page(&mut items, limit).map(|last| encode_cursor(&last.id));
        Ok(Json(ProductPage { items, currency: tenant.currency.clone(), next_cursor }))
    }

    /// Create a product with its variants
    ///
    /// `slug_taken` or `sku_taken` (409) on duplicates within the shop; `plan_limit_reached`
    /// (403) when the shop has as many products as its plan allows.
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        body: Json<NewProduct>,
    ) -> Result<ProductCreated, ShopWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ProductsWrite).await?;
        let quota = Quota::read(&self.state.pool, tenant.id, Resource::Products).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let id = products::create_product(&mut tx, tenant.id, &body.0).await?;
        quota.enforce(&mut tx, 1).await?;
        let product = products::load_product(&mut tx, ProductKey::Id(id), &tenant.currency).await?;
        tx.commit().await?;
        Ok(ProductCreated::Created(Json(product)))
    }

    /// A product with its variants
    #[oai(path = "/:id", method = "get")]
    async fn get(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
    ) -> Result<Json<Product>, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ProductsRead).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let product =
            products::load_product(&mut tx, ProductKey::Id(id.0), &tenant.currency).await?;
        tx.commit().await?;
        Ok(Json(product))
    }

    /// Change a product
    ///
    /// Absent fields keep their values; `variants`, when sent, is the complete new list.
    #[oai(path = "/:id", method = "patch")]
    async fn update(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
        body: Json<ProductUpdate>,
    ) -> Result<Json<Product>, ShopWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ProductsWrite).await?;
        Ok(Json(self.change(&tenant, id.0, &body.0).await?))
    }

    /// Delete a product and its variants
    #[oai(path = "/:id", method = "delete")]
    async fn delete(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
    ) -> Result<ProductDeleted, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::ProductsWrite).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        // Its images' rows cascade; their objects go through the outbox, in this transaction.
        crate::media::forget_product(&mut tx, tenant.id, id.0).await?;
        products::delete_product(&mut tx, tenant.id, id.0).await?;
        tx.commit().await?;
        Ok(ProductDeleted::NoContent)
    }
}

impl ProductsAdminApi {
    async fn change(&self, tenant: &Tenant, id: Uuid, req: &ProductUpdate) -> AppResult<Product> {
        let mut tx = TenantTx::begin(&self.state.pool, tenant).await?;
        products::update_product(&mut tx, tenant.id, id, req).await?;
        let product = products::load_product(&mut tx, ProductKey::Id(id), &tenant.currency).await?;
        tx.commit().await?;
        Ok(product)
    }
}
