//! Categories: types and SQL.
//!
//! The tree is at most [`MAX_DEPTH`] levels deep, and every recursive query over it stops at that
//! depth, so not even a cycle (which the checks below and tenant migration 0010's trigger
//! refuse) could make one run away. Changes of a parent are serialised per shop by
//! [`lock_tree`]: the cycle and depth checks and the change itself are one atomic step.

use std::convert::Infallible;

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::{AppError, AppResult, OnConstraint, mapped_error};
use crate::events;
use crate::search::document::refresh_search_vector;
use crate::tenancy::ShopId;

#[derive(Debug, Clone, Object, sqlx::FromRow)]
pub struct Category {
    pub id: Uuid,
    /// The parent category; absent for a top-level category.
    #[oai(nullable)]
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

pub use crate::values::MAX_CATEGORY_DEPTH as MAX_DEPTH;

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

fn slug_taken() -> AppError {
    AppError::conflict("slug_taken", "a category with this slug exists")
}

pub struct CategoryFields {
    pub parent_id: Option<Uuid>,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub position: i32,
}

pub async fn insert(conn: &mut PgConnection, fields: &CategoryFields) -> AppResult<Uuid> {
    let id = Uuid::now_v7();
    if let Some(parent) = fields.parent_id {
        ensure_exists(conn, parent, "parent_id").await?;
        lock_tree(conn).await?;
        check_placement(conn, id, parent).await?;
    }
    sqlx::query("insert into categories (id, parent_id, name, slug, description, position) values ($1, $2, $3, $4, $5, $6)")
        .bind(id)
        .bind(fields.parent_id)
        .bind(&fields.name)
        .bind(&fields.slug)
        .bind(&fields.description)
        .bind(fields.position)
        .execute(conn)
        .await
        .map_err(placement_or_slug_error)?;
    Ok(id)
}

/// Takes this shop's category-tree lock until the transaction ends: the lock tenant migration
/// 0010's trigger takes too. Moves and inserts under a parent then run one after the other, so
/// each one's checks see every move committed before it.
async fn lock_tree(conn: &mut PgConnection) -> AppResult<()> {
    sqlx::query(
        "select pg_advisory_xact_lock(hashtext('shopfleet.category_tree'), hashtext(current_schema()))",
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// 422 on `parent_id` unless `id` may sit under `parent`: `parent` is neither `id` nor one of
/// its descendants, and the tree stays within [`MAX_DEPTH`] levels. Call under [`lock_tree`].
async fn check_placement(conn: &mut PgConnection, id: Uuid, parent: Uuid) -> AppResult<()> {
    // Up from the new parent: its depth (0 for a top-level category), and whether `id` is
    // among its ancestors.
    let (parent_depth, cycle): (Option<i32>, Option<bool>) = sqlx::query_as(
        "with recursive up (id, parent_id, depth) as ( \
             select id, parent_id, 0 from categories where id = $1 \
             union all select c.id, c.parent_id, u.depth + 1 from categories c \
                 join up u on c.id = u.parent_id where u.depth <= $3) \
         select max(depth), bool_or(id = $2) from up",
    )
    .bind(parent)
    .bind(id)
    .bind(MAX_DEPTH)
    .fetch_one(&mut *conn)
    .await?;
    if cycle.unwrap_or(false) {
        return Err(AppError::validation("parent_id", "a category cannot be moved under itself"));
    }
    // Down from `id`: how many levels it carries below itself (0 for a new or leaf category).
    let height: Option<i32> = sqlx::query_scalar(
        "with recursive down (id, depth) as ( \
             select id, 0 from categories where id = $1 \
             union all select c.id, d.depth + 1 from categories c \
                 join down d on c.parent_id = d.id where d.depth <= $2) \
         select max(depth) from down",
    )
    .bind(id)
    .bind(MAX_DEPTH)
    .fetch_one(&mut *conn)
    .await?;
    let deepest = parent_depth.unwrap_or(0) + 1 + height.unwrap_or(0);
    if deepest >= MAX_DEPTH {
        return Err(AppError::validation(
            "parent_id",
            format!("the category tree is limited to {MAX_DEPTH} levels"),
        ));
    }
    Ok(())
}

/// A cycle refused by tenant migration 0010's trigger is the same 422 as the checks above.
fn placement_or_slug_error(err: sqlx::Error) -> AppError {
    let mapped: Result<Infallible, AppError> = Err(err)
        .on_constraint("categories_no_cycle", |_| {
            AppError::validation("parent_id", "a category cannot be moved under itself")
        })
        .on_constraint("categories_slug_key", |_| slug_taken());
    mapped_error(mapped)
}

/// Products in a category or any of its subcategories.
async fn products_under(conn: &mut PgConnection, id: Uuid) -> AppResult<Vec<Uuid>> {
    Ok(sqlx::query_scalar(
        "with recursive subtree (id, depth) as (select id, 1 from categories where id = $1 \
         union all select c.id, s.depth + 1 from categories c join subtree s on c.parent_id = s.id \
             where s.depth < $2) \
         select distinct product_id from product_categories where category_id in (select id from subtree)",
    )
    .bind(id)
    .bind(MAX_DEPTH)
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
        lock_tree(conn).await?;
        check_placement(conn, id, parent).await?;
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
    .map_err(placement_or_slug_error)?;
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
