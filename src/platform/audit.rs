//! The platform audit log: who did what to which shop, when.

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::AppResult;

#[derive(Debug, Object, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// `platform_admin`, `cli` or `system`.
    pub actor_kind: String,
    #[oai(nullable)]
    pub actor_id: Option<Uuid>,
    /// E-mail of the admin, or a description of the actor.
    pub actor_label: String,
    /// e.g. `shop.suspend`.
    pub action: String,
    #[oai(nullable)]
    pub shop_id: Option<Uuid>,
    pub details: serde_json::Value,
}

pub struct Actor {
    pub kind: &'static str,
    pub id: Option<Uuid>,
    pub label: String,
}

pub async fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    action: &str,
    shop: Option<Uuid>,
    details: serde_json::Value,
) -> AppResult<()> {
    sqlx::query(
        "insert into platform.audit_log (id, actor_kind, actor_id, actor_label, action, shop_id, details) \
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(Uuid::now_v7())
    .bind(actor.kind)
    .bind(actor.id)
    .bind(&actor.label)
    .bind(action)
    .bind(shop)
    .bind(details)
    .execute(conn)
    .await?;
    Ok(())
}

/// Newest first, optionally for one shop, after the entry `before` (cursor).
pub async fn list(
    conn: &mut PgConnection,
    shop: Option<Uuid>,
    before: Option<Uuid>,
    limit: i64,
) -> AppResult<Vec<AuditEntry>> {
    Ok(sqlx::query_as(
        "select id, at, actor_kind, actor_id, actor_label, action, shop_id, details from platform.audit_log \
         where ($1::uuid is null or shop_id = $1) and ($2::uuid is null or id < $2) \
         order by id desc limit $3",
    )
    .bind(shop)
    .bind(before)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}
