//! Endpoints and deliveries in the shop's schema: validation of what admins send, and the SQL.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use rand::RngCore;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{ALL_EVENTS, CONSUMER, EVENT_KINDS};
use crate::error::{AppError, AppResult};
use crate::events::EventKind;

const MAX_DESCRIPTION_CHARS: usize = 500;

/// A registered endpoint, as every read shows it (never with its secret).
#[derive(Debug, Clone, Object, sqlx::FromRow)]
pub struct WebhookEndpoint {
    pub id: Uuid,
    pub url: String,
    /// Event kinds delivered to it; `*` means all.
    pub events: Vec<String>,
    pub description: String,
    /// Inactive endpoints receive nothing (deliveries already queued are dead-lettered unsent).
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, url, events, description, active, created_at, updated_at";

/// A new signing secret: `whsec_` and 256 random bits.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("whsec_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The subscribed kinds: known kinds or `*`, at least one, duplicates dropped; `*` alone when
/// present.
pub fn parse_events(field: &str, raw: &[String]) -> AppResult<Vec<String>> {
    if raw.is_empty() {
        return Err(AppError::validation(
            field,
            "must name at least one event kind (or \"*\" for all)",
        ));
    }
    let mut events: Vec<String> = Vec::with_capacity(raw.len());
    for kind in raw {
        let kind = kind.trim();
        let known = EventKind::parse(kind).is_some_and(|k| EVENT_KINDS.contains(&k));
        if kind != ALL_EVENTS && !known {
            let names: Vec<&str> = EVENT_KINDS.iter().map(|k| k.as_str()).collect();
            return Err(AppError::validation(
                field,
                format!("unknown event kind {kind:?}; known: {}, or \"*\"", names.join(", ")),
            ));
        }
        if !events.iter().any(|k| k == kind) {
            events.push(kind.to_owned());
        }
    }
    if events.iter().any(|k| k == ALL_EVENTS) {
        return Ok(vec![ALL_EVENTS.to_owned()]);
    }
    Ok(events)
}

/// A trimmed description of at most 500 characters, without control characters (may be empty).
pub fn parse_description(field: &str, raw: &str) -> AppResult<String> {
    let value = raw.trim();
    if value.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(AppError::validation(
            field,
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(AppError::validation(field, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

pub async fn list(
    conn: &mut PgConnection,
    after: Option<Uuid>,
    limit: i64,
) -> AppResult<Vec<WebhookEndpoint>> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from webhook_endpoints where ($1::uuid is null or id < $1) order by id desc limit $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

pub async fn find(conn: &mut PgConnection, id: Uuid) -> AppResult<WebhookEndpoint> {
    sqlx::query_as(&format!("select {COLUMNS} from webhook_endpoints where id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(not_found)
}

pub fn not_found() -> AppError {
    AppError::not_found("webhook_endpoint_not_found", "no such webhook endpoint in this shop")
}

pub struct NewEndpoint {
    pub url: String,
    pub events: Vec<String>,
    pub description: String,
    pub secret: String,
}

/// Inserts an endpoint; the caller enforces the plan's quota (`quotas`) before committing.
pub async fn insert(conn: &mut PgConnection, new: &NewEndpoint) -> AppResult<WebhookEndpoint> {
    Ok(sqlx::query_as(&format!(
        "insert into webhook_endpoints (id, url, events, secret, description) values ($1, $2, $3, $4, $5) returning {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(&new.url)
    .bind(&new.events)
    .bind(&new.secret)
    .bind(&new.description)
    .fetch_one(conn)
    .await?)
}

#[derive(Default)]
pub struct EndpointChange {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub active: Option<bool>,
    /// A new secret; the current one stays valid for signing for 24 h.
    pub secret: Option<String>,
}

pub async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    change: &EndpointChange,
) -> AppResult<WebhookEndpoint> {
    sqlx::query_as(&format!(
        "update webhook_endpoints set url = coalesce($2, url), events = coalesce($3, events), \
         description = coalesce($4, description), active = coalesce($5, active), \
         previous_secret = case when $6::text is null then previous_secret else secret end, \
         previous_secret_until = case when $6::text is null then previous_secret_until else now() + interval '24 hours' end, \
         secret = coalesce($6, secret), updated_at = now() \
         where id = $1 returning {COLUMNS}"
    ))
    .bind(id)
    .bind(&change.url)
    .bind(&change.events)
    .bind(&change.description)
    .bind(change.active)
    .bind(&change.secret)
    .fetch_optional(conn)
    .await?
    .ok_or_else(not_found)
}

/// Deletes the endpoint with its deliveries (cascade). Whether it existed.
///
/// Locks the endpoint's deliveries (outbox rows) before the endpoint: the worker recording an
/// attempt locks its delivery first and then, by the foreign key, the endpoint. Taking them the
/// other way round (the cascade does) could deadlock with a delivery finishing meanwhile, and
/// the deadlock's loser would be this request.
pub async fn delete(conn: &mut PgConnection, id: Uuid) -> AppResult<bool> {
    sqlx::query("select 1 from outbox where endpoint_id = $1 order by id for update")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(sqlx::query("delete from webhook_endpoints where id = $1")
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected()
        == 1)
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not attempted yet.
    Pending,
    /// A worker is making an attempt now.
    Sending,
    /// Attempted and failed; `next_retry_at` says when it is tried again.
    Retrying,
    /// A 2xx was received.
    Delivered,
    /// Given up (dead letter): every attempt failed, or the endpoint was disabled.
    Failed,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, Object, serde::Deserialize)]
pub struct DeliveryAttempt {
    /// 1-based.
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    /// The receiver's HTTP status; absent when there was no response.
    #[oai(nullable)]
    pub status_code: Option<i32>,
    /// Why it failed (`HTTP 500`, `timed out after 10 s`, a connection error); absent on 2xx.
    #[oai(nullable)]
    pub error: Option<String>,
}

/// One event sent (or to be sent) to the endpoint.
#[derive(Debug, Clone, Object)]
pub struct Delivery {
    /// Also the `Shopfleet-Delivery-Id` header.
    pub id: Uuid,
    /// The event's id (`id` in the body, `Shopfleet-Event-Id`): the same for every endpoint.
    pub event_id: Uuid,
    pub event_type: String,
    /// The event's `data`.
    pub data: Value,
    pub created_at: DateTime<Utc>,
    pub state: DeliveryState,
    /// Attempts started so far (including one under way).
    pub attempt_count: i32,
    /// When it is tried next (pending and retrying deliveries).
    #[oai(nullable)]
    pub next_retry_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub delivered_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub failed_at: Option<DateTime<Utc>>,
    /// The last failure's reason.
    #[oai(nullable)]
    pub last_error: Option<String>,
    /// Oldest first.
    pub attempts: Vec<DeliveryAttempt>,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: Uuid,
    event_id: Uuid,
    kind: String,
    payload: Value,
    created_at: DateTime<Utc>,
    attempts: i32,
    available_at: DateTime<Utc>,
    processed_at: Option<DateTime<Utc>>,
    dead_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    in_flight: bool,
    /// Its attempts, oldest first, read in the same statement (one snapshot: a delivery is
    /// never shown under way with the attempt it has just finished).
    attempt_list: sqlx::types::Json<Vec<DeliveryAttempt>>,
}

/// The endpoint's deliveries, newest first, with their attempts.
pub async fn deliveries(
    conn: &mut PgConnection,
    endpoint: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> AppResult<Vec<Delivery>> {
    let rows: Vec<DeliveryRow> = sqlx::query_as(
        "select o.id, o.event_id, o.kind, o.payload, o.created_at, o.attempts, o.available_at, \
         o.processed_at, o.dead_at, o.last_error, coalesce(o.locked_until > now(), false) as in_flight, \
         coalesce((select json_agg(json_build_object('attempt', a.attempt, 'started_at', a.started_at, \
             'duration_ms', a.duration_ms, 'status_code', a.status_code, 'error', a.error) \
             order by a.attempt, a.id) from webhook_attempts a where a.outbox_id = o.id), '[]') as attempt_list \
         from outbox o where o.consumer = $1 and o.endpoint_id = $2 and ($3::uuid is null or o.id < $3) \
         order by o.id desc limit $4",
    )
    .bind(CONSUMER)
    .bind(endpoint)
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let state = match (row.processed_at, row.dead_at, row.in_flight, row.attempts) {
                (Some(_), _, _, _) => DeliveryState::Delivered,
                (None, Some(_), _, _) => DeliveryState::Failed,
                (None, None, true, _) => DeliveryState::Sending,
                (None, None, false, 0) => DeliveryState::Pending,
                (None, None, false, _) => DeliveryState::Retrying,
            };
            let open = matches!(state, DeliveryState::Pending | DeliveryState::Retrying);
            Delivery {
                attempts: row.attempt_list.0,
                id: row.id,
                event_id: row.event_id,
                event_type: row.kind,
                data: row.payload,
                created_at: row.created_at,
                state,
                attempt_count: row.attempts,
                next_retry_at: open.then_some(row.available_at),
                delivered_at: row.processed_at,
                failed_at: row.dead_at,
                last_error: row.last_error,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(raw: &[&str]) -> AppResult<Vec<String>> {
        parse_events("events", &raw.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn event_kinds_are_known_kinds_or_all() {
        assert_eq!(
            kinds(&["order.paid", "order.paid", "product.created"]).unwrap(),
            ["order.paid", "product.created"]
        );
        assert_eq!(kinds(&["order.paid", "*"]).unwrap(), ["*"]);
        assert!(kinds(&[]).is_err());
        assert!(kinds(&["order.shipped"]).is_err());
        assert!(kinds(&["webhook.test"]).is_err());
    }

    #[test]
    fn secrets_are_long_and_distinct() {
        let (a, b) = (new_secret(), new_secret());
        assert!(a.starts_with("whsec_") && a.len() == 6 + 43);
        assert_ne!(a, b);
    }
}
