//! Categories: types and SQL.

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::{AppError, AppResult, on_unique_violation};
use crate::events;
use crate::search::document::refresh_search_vector;
use crate::tenancy::ShopId;

#[derive(Debug, Clone, Object, sqlx::FromRow)]
pub struct Category {
    pub id: Uuid,
    /// The parent category; absent for a top-level category.
    pub parent_id: Option<Uuid>,
    pub name: String,
    pub slug: String,
    pub description: String,
    /// Order among siblings, ascending.
    pub position: i32,
    /// Products directly in this category.
    pub product_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SELECT_CATEGORY: &str = "select c.id, c.parent_id, c.name, c.slug, c.description, c.position, \
     (select count(*) from product_categories pc where pc.category_id = c.id) as product_count, \
     c.created_at, c.updated_at from categories c";

pub async fn list(conn: &mut PgConnection) -> AppResult<Vec<Category>> {
    Ok(sqlx::query_as(&format!("{SELECT_CATEGORY} order by c.position, c.name, c.id"))
        .fetch_all(conn)
        .await?)
}

pub async fn find(conn: &mut PgConnection, id: Uuid) -> AppResult<Category> {
    sqlx::query_as(&format!("{SELECT_CATEGORY} where c.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(not_found)
}

pub fn not_found() -> AppError {
    AppError::not_found("category_not_found", "no such category")
}

fn slug_taken(err: sqlx::Error) -> AppError {
    on_unique_violation(
        err,
        "categories_slug_key",
        "slug_taken",
        "a category with this slug exists",
    )
}

pub struct CategoryFields {
    pub parent_id: Option<Uuid>,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub position: i32,
}

pub async fn insert(conn: &mut PgConnection, fields: &CategoryFields) -> AppResult<Uuid> {
    if let Some(parent) = fields.parent_id {
        ensure_exists(conn, parent, "parent_id").await?;
    }
    let id = Uuid::now_v7();
    sqlx::query("insert into categories (id, parent_id, name, slug, description, position) values ($1, $2, $3, $4, $5, $6)")
        .bind(id)
        .bind(fields.parent_id)
        .bind(&fields.name)
        .bind(&fields.slug)
        .bind(&fields.description)
        .bind(fields.position)
        .execute(conn)
        .await
        .map_err(slug_taken)?;
    Ok(id)
}

/// Products in a category or any of its subcategories.
async fn products_under(conn: &mut PgConnection, id: Uuid) -> AppResult<Vec<Uuid>> {
    Ok(sqlx::query_scalar(
        "with recursive subtree as (select id from categories where id = $1 \
         union all select c.id from categories c join subtree s on c.parent_id = s.id) \
         select distinct product_id from product_categories where category_id in (select id from subtree)",
    )
    .bind(id)
    .fetch_all(conn)
    .await?)
}

/// Category names and slugs are part of product search documents: rebuild those of `products`
/// and tell outbox-fed engines.
async fn refresh_products(
    conn: &mut PgConnection,
    shop: ShopId,
    products: &[Uuid],
) -> AppResult<()> {
    refresh_search_vector(conn, products).await?;
    for id in products {
        events::emit(conn, shop, events::EventKind::ProductUpdated, json!({ "id": id })).await?;
    }
    Ok(())
}

pub async fn update(
    conn: &mut PgConnection,
    shop: ShopId,
    id: Uuid,
    fields: &CategoryFields,
) -> AppResult<()> {
    if let Some(parent) = fields.parent_id {
        ensure_exists(conn, parent, "parent_id").await?;
        // The new parent must not be the category itself or one of its descendants.
        let cycle: bool = sqlx::query_scalar(
            "with recursive subtree as (select id from categories where id = $1 \
             union all select c.id from categories c join subtree s on c.parent_id = s.id) \
             select exists (select 1 from subtree where id = $2)",
        )
        .bind(id)
        .bind(parent)
        .fetch_one(&mut *conn)
        .await?;
        if cycle {
            return Err(AppError::validation(
                "parent_id",
                "a category cannot be moved under itself",
            ));
        }
    }
    sqlx::query(
        "update categories set parent_id = $2, name = $3, slug = $4, description = $5, position = $6, \
         updated_at = now() where id = $1",
    )
    .bind(id)
    .bind(fields.parent_id)
    .bind(&fields.name)
    .bind(&fields.slug)
    .bind(&fields.description)
    .bind(fields.position)
    .execute(&mut *conn)
    .await
    .map_err(slug_taken)?;
    let affected = products_under(conn, id).await?;
    refresh_products(conn, shop, &affected).await
}

pub async fn delete(conn: &mut PgConnection, shop: ShopId, id: Uuid) -> AppResult<()> {
    let has_children: bool =
        sqlx::query_scalar("select exists (select 1 from categories where parent_id = $1)")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
    if has_children {
        return Err(AppError::conflict(
            "category_has_children",
            "move or delete its subcategories first",
        ));
    }
    let affected = products_under(conn, id).await?;
    let deleted =
        sqlx::query("delete from categories where id = $1").bind(id).execute(&mut *conn).await?;
    if deleted.rows_affected() == 0 {
        return Err(not_found());
    }
    refresh_products(conn, shop, &affected).await
}

/// 422 on `field` unless the category exists in this shop.
pub async fn ensure_exists(conn: &mut PgConnection, id: Uuid, field: &str) -> AppResult<()> {
    let exists: bool = sqlx::query_scalar("select exists (select 1 from categories where id = $1)")
        .bind(id)
        .fetch_one(conn)
        .await?;
    if exists { Ok(()) } else { Err(AppError::validation(field, format!("no category {id}"))) }
}
