//! The storefront catalog: `GET /v1/store/products`, `GET /v1/store/products/{slug}`,
//! `GET /v1/store/categories`. Public (no token), active products only; the reading itself is
//! `catalog::storefront`, shared with the HTML pages. Every read goes through the shop's cache
//! (`crate::cache`), keyed by everything the answer depends on.

use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;

use super::storefront::{
    self, StoreCategory, StoreFilter, StoreProduct, StoreProductPage, StoreSort,
};
use crate::error::{StorefrontErrors, StorefrontListErrors};
use crate::state::AppState;
use crate::tenancy::{Tenant, TenantTx};
use crate::values::page_limit;

pub struct StorefrontApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1/store", tag = "crate::openapi_tags::Tag::Storefront")]
impl StorefrontApi {
    /// Browse the shop's products
    #[oai(path = "/products", method = "get")]
    async fn list(
        &self,
        tenant: Data<&Tenant>,
        /// Category slug; includes its subcategories.
        category: Query<Option<String>>,
        /// Lowest price, minor units.
        #[oai(validator(minimum(value = "0")))]
        min_price: Query<Option<i64>>,
        /// Highest price, minor units.
        #[oai(validator(minimum(value = "0")))]
        max_price: Query<Option<i64>>,
        sort: Query<Option<StoreSort>>,
        cursor: Query<Option<String>>,
        /// 1–100, default 20.
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<StoreProductPage>, StorefrontListErrors> {
        let filter = StoreFilter {
            category: category.0,
            min_price: min_price.0,
            max_price: max_price.0,
            sort: sort.0.unwrap_or(StoreSort::Newest),
            cursor: cursor.0,
            limit: page_limit(limit.0)?,
        };
        let params = format!("{filter:?}");
        let page = self
            .state
            .cache
            .read(tenant.id, "store.products", &params, async {
                let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
                let page = storefront::browse(&mut tx, &filter).await?;
                tx.commit().await?;
                page.finish(self.state.store.as_ref(), tenant.id, &tenant.currency).await
            })
            .await?;
        Ok(Json(page))
    }

    /// One active product by its slug
    #[oai(path = "/products/:slug", method = "get")]
    async fn get(
        &self,
        tenant: Data<&Tenant>,
        slug: Path<String>,
    ) -> Result<Json<StoreProduct>, StorefrontErrors> {
        let state = &self.state;
        let product = storefront::cached_product(
            &state.cache,
            &state.pool,
            state.store.as_ref(),
            &tenant,
            &slug,
        )
        .await?;
        Ok(Json(product))
    }

    /// The shop's categories, in tree order
    #[oai(path = "/categories", method = "get")]
    async fn categories(
        &self,
        tenant: Data<&Tenant>,
    ) -> Result<Json<Vec<StoreCategory>>, StorefrontErrors> {
        let tree = self
            .state
            .cache
            .read(tenant.id, "store.categories", "", async {
                let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
                let tree = storefront::category_tree(&mut tx).await?;
                tx.commit().await?;
                Ok(tree)
            })
            .await?;
        Ok(Json(tree))
    }
}
