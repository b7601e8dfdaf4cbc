//! `GET/POST /v1/admin/categories`, `PATCH/DELETE /v1/admin/categories/{id}`.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::categories::{self, Category, CategoryFields};
use crate::auth::permission::Permission;
use crate::auth::principal::StaffAuth;
use crate::error::{AppResult, ShopDeleteErrors, ShopReadErrors, ShopWriteErrors};
use crate::state::AppState;
use crate::tenancy::{Tenant, TenantTx};
use crate::values::{Name, UrlSlug, slugify};

pub struct CategoriesAdminApi {
    pub state: AppState,
}

#[derive(Debug, Object)]
pub struct NewCategory {
    #[oai(validator(
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: String,
    /// Generated from the name when absent.
    #[oai(nullable)]
    pub slug: Option<String>,
    #[oai(nullable)]
    pub parent_id: Option<Uuid>,
    #[oai(default)]
    pub description: String,
    #[oai(default)]
    pub position: i32,
}

#[derive(Debug, Object)]
pub struct CategoryUpdate {
    #[oai(nullable)]
    #[oai(validator(
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: Option<String>,
    #[oai(nullable)]
    pub slug: Option<String>,
    /// `null` moves the category to the top level.
    #[oai(nullable)]
    pub parent_id: MaybeUndefined<Uuid>,
    #[oai(nullable)]
    pub description: Option<String>,
    #[oai(nullable)]
    pub position: Option<i32>,
}

#[derive(ApiResponse)]
enum CategoryCreated {
    #[oai(status = 201)]
    Created(Json<Category>),
}

#[derive(ApiResponse)]
enum CategoryDeleted {
    /// Deleted; its products stay, without this category.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(prefix_path = "/v1/admin/categories", tag = "crate::openapi_tags::Tag::Catalog")]
impl CategoriesAdminApi {
    /// List all categories (flat; use `parent_id` for the tree)
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
    ) -> Result<Json<Vec<Category>>, ShopReadErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::CategoriesRead).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let all = categories::list(&mut tx).await?;
        tx.commit().await?;
        Ok(Json(all))
    }

    /// Create a category
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        body: Json<NewCategory>,
    ) -> Result<CategoryCreated, ShopWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::CategoriesWrite).await?;
        let name = Name::parse("name", &body.name, 100)?;
        let slug = match body.slug.as_deref() {
            Some(slug) => UrlSlug::parse("slug", slug)?.into(),
            None => slugify(&name),
        };
        let fields = CategoryFields {
            parent_id: body.parent_id,
            name: name.into(),
            slug,
            description: body.description.trim().to_owned(),
            position: body.position,
        };
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let id = categories::insert(&mut tx, &fields).await?;
        let category = categories::find(&mut tx, id).await?;
        tx.commit().await?;
        Ok(CategoryCreated::Created(Json(category)))
    }

    /// Change a category, or move it in the tree
    #[oai(path = "/:id", method = "patch")]
    async fn update(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
        body: Json<CategoryUpdate>,
    ) -> Result<Json<Category>, ShopWriteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::CategoriesWrite).await?;
        Ok(Json(self.change(&tenant, id.0, body.0).await?))
    }

    /// Delete a category
    ///
    /// `category_has_children` (409) while it has subcategories.
    #[oai(path = "/:id", method = "delete")]
    async fn delete(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
    ) -> Result<CategoryDeleted, ShopDeleteErrors> {
        self.state.rbac.require(&tenant, auth.0.id, Permission::CategoriesWrite).await?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        categories::delete(&mut tx, tenant.id, id.0).await?;
        tx.commit().await?;
        Ok(CategoryDeleted::NoContent)
    }
}

impl CategoriesAdminApi {
    async fn change(&self, tenant: &Tenant, id: Uuid, req: CategoryUpdate) -> AppResult<Category> {
        let mut tx = TenantTx::begin(&self.state.pool, tenant).await?;
        let current = categories::find(&mut tx, id).await?;
        let fields = CategoryFields {
            parent_id: match req.parent_id {
                MaybeUndefined::Undefined => current.parent_id,
                MaybeUndefined::Null => None,
                MaybeUndefined::Value(parent) => Some(parent),
            },
            name: req
                .name
                .as_deref()
                .map(|n| Name::parse("name", n, 100).map(String::from))
                .transpose()?
                .unwrap_or(current.name),
            slug: req
                .slug
                .as_deref()
                .map(|s| UrlSlug::parse("slug", s).map(String::from))
                .transpose()?
                .unwrap_or(current.slug),
            description: req
                .description
                .map(|d| d.trim().to_owned())
                .unwrap_or(current.description),
            position: req.position.unwrap_or(current.position),
        };
        categories::update(&mut tx, tenant.id, id, &fields).await?;
        let category = categories::find(&mut tx, id).await?;
        tx.commit().await?;
        Ok(category)
    }
}
