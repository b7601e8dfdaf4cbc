//! Platform admin accounts (created with `shopfleet admin create`).

use uuid::Uuid;

use crate::error::{AppError, AppResult, OnConstraint};
use crate::tenancy::DbPool;

pub async fn create(pool: &DbPool, email: &str, password_hash: &str) -> AppResult<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query("insert into platform.admins (id, email, password_hash) values ($1, $2, $3)")
        .bind(id)
        .bind(email)
        .bind(password_hash)
        .execute(pool)
        .await
        .on_constraint("admins_email_key", |_| {
            AppError::conflict("email_taken", "a platform admin with this e-mail exists")
        })?;
    Ok(id)
}

/// `(id, password hash)` of the admin with this e-mail.
pub async fn find_by_email(pool: &DbPool, email: &str) -> AppResult<Option<(Uuid, String)>> {
    Ok(sqlx::query_as(
        "select id, password_hash from platform.admins where lower(email) = lower($1)",
    )
    .bind(email.trim())
    .fetch_optional(pool)
    .await?)
}

pub async fn email_of(pool: &DbPool, id: Uuid) -> AppResult<Option<String>> {
    Ok(sqlx::query_scalar("select email from platform.admins where id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?)
}
