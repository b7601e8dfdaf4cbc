//! Sending webhook rows: the HTTP client, one attempt, a batch, and the attempts' record.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use reqwest::Url;
use serde_json::json;
use sqlx::PgConnection;
use tracing::Instrument;
use uuid::Uuid;

use super::net::{self, GuardedResolver};
use crate::config::WebhookConfig;
use crate::error::AppResult;
use crate::events::{BatchRecord, Consumer, Handled, OutboxRow, Outcome, RetryPolicy, trace};
use crate::signature;
use crate::telemetry::context;
use crate::telemetry::metrics;
use crate::tenancy::{DbPool, Tenant, TenantTx};

/// Endpoints of one batch sent to at once.
const PARALLEL_ENDPOINTS: usize = 16;
/// No new attempt starts after this long in one batch (the worker's lease is 120 s and an
/// attempt takes at most `WEBHOOK_TIMEOUT_SECS` ≤ 60 s).
const BATCH_BUDGET: Duration = Duration::from_secs(60);
/// Bytes of a response body read (and dropped) so that the connection can be reused.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The outbox consumer of webhook rows: the HTTP client and retry policy, built once from the
/// configuration.
pub struct Sender {
    pool: DbPool,
    client: reqwest::Client,
    allow_private: bool,
    timeout: Duration,
    policy: RetryPolicy,
}

impl Sender {
    pub fn new(config: &WebhookConfig, pool: DbPool) -> anyhow::Result<Self> {
        let timeout = Duration::from_secs(config.timeout_secs);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the host itself, past the SSRF guard.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: config.allow_private_networks,
            }))
            .user_agent(concat!("shopfleet-webhooks/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .context("building the webhook HTTP client")?;
        let base = Duration::from_secs(config.retry_base_secs);
        let policy = RetryPolicy {
            max_attempts: i32::try_from(config.max_attempts).unwrap_or(i32::MAX),
            base,
            cap: base.saturating_mul(60),
        };
        Ok(Self { pool, client, allow_private: config.allow_private_networks, timeout, policy })
    }
}

#[async_trait]
impl Consumer for Sender {
    fn name(&self) -> &'static str {
        super::CONSUMER
    }

    /// The webhook policy from the configuration (`WEBHOOK_MAX_ATTEMPTS`, …).
    fn retry_policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Sends the batch (see [`deliver_batch`]); its attempts are recorded with the outcomes.
    async fn handle_batch(&self, tenant: &Tenant, rows: &[&OutboxRow]) -> Handled {
        let delivered = match deliver_batch(self, &self.pool, tenant, rows).await {
            Ok(delivered) => delivered,
            Err(err) => return vec![Outcome::Failed(format!("{err:#}")); rows.len()].into(),
        };
        let attempts: Vec<Attempt> = delivered.iter().filter_map(|d| d.attempt.clone()).collect();
        let mut by_row: HashMap<Uuid, Outcome> =
            delivered.into_iter().map(|d| (d.row.id, d.outcome)).collect();
        let outcomes = rows
            .iter()
            .map(|row| {
                by_row.remove(&row.id).unwrap_or_else(|| Outcome::Failed("not attempted".into()))
            })
            .collect();
        Handled { outcomes, record: Some(Box::new(Attempts(attempts))) }
    }
}

/// The attempts of a batch, stored with the outcomes of their rows.
struct Attempts(Vec<Attempt>);

#[async_trait]
impl BatchRecord for Attempts {
    async fn write(self: Box<Self>, conn: &mut PgConnection) -> AppResult<()> {
        let attempts = self.0;
        if attempts.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = attempts.iter().map(|_| Uuid::now_v7()).collect();
        sqlx::query(
            "insert into webhook_attempts (id, outbox_id, endpoint_id, attempt, started_at, duration_ms, status_code, error) \
             select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::timestamptz[], $6::int[], $7::int[], $8::text[])",
        )
        .bind(&ids)
        .bind(attempts.iter().map(|a| a.outbox_id).collect::<Vec<_>>())
        .bind(attempts.iter().map(|a| a.endpoint_id).collect::<Vec<_>>())
        .bind(attempts.iter().map(|a| a.attempt).collect::<Vec<_>>())
        .bind(attempts.iter().map(|a| a.started_at).collect::<Vec<_>>())
        .bind(attempts.iter().map(|a| a.duration_ms).collect::<Vec<_>>())
        .bind(attempts.iter().map(|a| a.status_code).collect::<Vec<_>>())
        .bind(attempts.iter().map(|a| a.error.clone()).collect::<Vec<_>>())
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// What one attempt got back, as `webhook_attempts` stores it.
#[derive(Debug, Clone)]
struct Attempt {
    pub outbox_id: Uuid,
    pub endpoint_id: Uuid,
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    pub error: Option<String>,
}

/// A claimed row's outcome, and its attempt when one was made.
struct Delivered<'a> {
    pub row: &'a OutboxRow,
    pub outcome: Outcome,
    pub attempt: Option<Attempt>,
}

/// An endpoint as a delivery needs it.
#[derive(sqlx::FromRow)]
struct Target {
    id: Uuid,
    url: String,
    secret: String,
    /// Still valid after a rotation (see the migration).
    previous_secret: Option<String>,
    active: bool,
}

/// Sends a batch of claimed `webhook` rows of one shop: endpoints in parallel, each endpoint's
/// rows in order. See the module doc for deferrals.
async fn deliver_batch<'a>(
    sender: &Sender,
    pool: &DbPool,
    tenant: &Tenant,
    rows: &[&'a OutboxRow],
) -> anyhow::Result<Vec<Delivered<'a>>> {
    let started = Instant::now();
    let mut ids: Vec<Uuid> = rows.iter().filter_map(|row| row.endpoint_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut tx = TenantTx::begin(pool, tenant).await?;
    let targets: Vec<Target> = sqlx::query_as(
        "select id, url, secret, case when previous_secret_until > now() then previous_secret end as previous_secret, active \
         from webhook_endpoints where id = any($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let targets: HashMap<Uuid, Target> = targets.into_iter().map(|t| (t.id, t)).collect();

    // Group by endpoint, keeping the claim order (id order) within each group.
    let mut groups: Vec<(Option<&Target>, Vec<&'a OutboxRow>)> = Vec::new();
    let mut index: HashMap<Option<Uuid>, usize> = HashMap::new();
    for row in rows {
        let slot = *index.entry(row.endpoint_id).or_insert_with(|| {
            groups.push((row.endpoint_id.and_then(|id| targets.get(&id)), Vec::new()));
            groups.len() - 1
        });
        groups[slot].1.push(row);
    }
    // Futures made in a loop rather than a closure: a closure over these borrows trips the
    // compiler's `Send` inference for the worker's spawned task.
    let mut sends = Vec::with_capacity(groups.len());
    for (target, rows) in groups {
        sends.push(deliver_to(sender, tenant, target, rows, started));
    }
    let results: Vec<Vec<Delivered<'a>>> =
        futures::stream::iter(sends).buffer_unordered(PARALLEL_ENDPOINTS).collect().await;
    Ok(results.into_iter().flatten().collect())
}

/// One endpoint's rows, in order.
async fn deliver_to<'a>(
    sender: &Sender,
    tenant: &Tenant,
    target: Option<&Target>,
    rows: Vec<&'a OutboxRow>,
    started: Instant,
) -> Vec<Delivered<'a>> {
    let mut out = Vec::with_capacity(rows.len());
    // Set after a timeout or connection error: the endpoint's other rows wait as long.
    let mut unreachable: Option<Duration> = None;
    for row in rows {
        let (outcome, attempt) = match (target, unreachable) {
            (None, _) => (Outcome::Dead("the endpoint no longer exists".into()), None),
            (Some(target), _) if !target.active => {
                (Outcome::Dead("the endpoint is disabled; not sent".into()), None)
            }
            (Some(_), Some(delay)) => (Outcome::Deferred(delay), None),
            (Some(_), None) if started.elapsed() > BATCH_BUDGET => {
                (Outcome::Deferred(Duration::ZERO), None)
            }
            (Some(target), None) => {
                let (attempt, transport_failure) = sender
                    .attempt(tenant, target, row)
                    .instrument(trace::row_span(tenant, row))
                    .await;
                if transport_failure {
                    unreachable = Some(sender.policy.delay_after(row.attempts));
                }
                let outcome = match &attempt.error {
                    None => Outcome::Done,
                    Some(error) => Outcome::Failed(error.clone()),
                };
                (outcome, Some(attempt))
            }
        };
        out.push(Delivered { row, outcome, attempt });
    }
    out
}

/// Why an attempt got no response.
struct SendFailure {
    message: String,
    timed_out: bool,
}

impl From<String> for SendFailure {
    fn from(message: String) -> Self {
        Self { message, timed_out: false }
    }
}

impl Sender {
    /// One HTTP attempt. Returns its record and whether it failed before any response
    /// (timeout, connection error, refused address).
    async fn attempt(&self, tenant: &Tenant, target: &Target, row: &OutboxRow) -> (Attempt, bool) {
        let started_at = Utc::now();
        let clock = Instant::now();
        let sent = self.send(tenant, target, row).await;
        let timed_out = matches!(&sent, Err(failure) if failure.timed_out);
        let (status_code, error, transport_failure) = match sent {
            Ok(status) if status.is_success() => (Some(status.as_u16()), None, false),
            Ok(status) => (Some(status.as_u16()), Some(format!("HTTP {status}")), false),
            Err(failure) => (None, Some(failure.message), true),
        };
        metrics::webhook_attempt(status_code, timed_out, clock.elapsed());
        let status_code = status_code.map(i32::from);
        let attempt = Attempt {
            outbox_id: row.id,
            endpoint_id: target.id,
            attempt: row.attempts,
            started_at,
            duration_ms: i32::try_from(clock.elapsed().as_millis()).unwrap_or(i32::MAX),
            status_code,
            error,
        };
        (attempt, transport_failure)
    }

    async fn send(
        &self,
        tenant: &Tenant,
        target: &Target,
        row: &OutboxRow,
    ) -> Result<reqwest::StatusCode, SendFailure> {
        let url = Url::parse(&target.url)
            .map_err(|err| SendFailure::from(format!("invalid endpoint URL: {err}")))?;
        net::check_literal(&url, self.allow_private)
            .map_err(|err| SendFailure::from(err.to_string()))?;
        let body = json!({
            "id": row.event_id,
            "type": row.kind,
            "created_at": row.created_at,
            "shop_id": tenant.id,
            "data": row.payload,
        })
        .to_string();
        let timestamp = signature::unix_now();
        let mut signed = signature::sign(target.secret.as_bytes(), timestamp, body.as_bytes());
        if let Some(previous) = &target.previous_secret {
            // `t=…,v1=<new>,v1=<old>`: receivers accept any matching `v1`.
            let old = signature::sign(previous.as_bytes(), timestamp, body.as_bytes());
            if let Some((_, v1)) = old.split_once(',') {
                signed.push(',');
                signed.push_str(v1);
            }
        }
        let mut request = self.client.post(url);
        // The delivery's span (`outbox.event`), which continues the trace of the change.
        if let Some(traceparent) = context::traceparent(&tracing::Span::current()) {
            request = request.header("traceparent", traceparent);
        }
        let response = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Shopfleet-Signature", signed)
            .header("Shopfleet-Event-Id", row.event_id.to_string())
            .header("Shopfleet-Event-Type", row.kind.as_str())
            .header("Shopfleet-Delivery-Id", row.id.to_string())
            .body(body)
            .send()
            .await
            .map_err(|err| SendFailure {
                message: self.describe(&err),
                timed_out: err.is_timeout(),
            })?;
        let status = response.status();
        // Read a little of the body so the connection can be reused; its content is not kept.
        let mut response = response;
        let mut read = 0usize;
        while read < MAX_RESPONSE_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                _ => break,
            }
        }
        Ok(status)
    }

    fn describe(&self, err: &reqwest::Error) -> String {
        if err.is_timeout() {
            return format!("timed out after {} s", self.timeout.as_secs());
        }
        // reqwest's own message is generic ("error sending request"); the cause is below it.
        let mut message = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        message
    }
}
