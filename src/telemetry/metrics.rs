//! Prometheus metrics: every metric shopfleet records, named and labelled in one place, and the
//! text that `GET /metrics` answers (`server::metrics_endpoint`, on `METRICS_ADDR` only).
//!
//! Rule: no label takes a value from a request or a shop. Labels are route templates, methods
//! of a fixed list, status classes, consumer names and outcome words, so the number of series
//! is bounded whatever clients send and however many shops there are. Figures per shop belong
//! to the platform API (`/v1/platform/shops/{id}/usage`), not here.
//!
//! Counters and histograms are recorded where things happen, through the functions below; the
//! gauges of state (pool, shops by status, outbox schedule) are read when Prometheus scrapes
//! ([`render`]).

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::http::{Method, StatusCode};
use sqlx::{Executor, Postgres};

/// Latency buckets in seconds: 1 ms to 10 s (requests, transactions, deliveries).
const LATENCY_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Lag buckets in seconds: how late outbox rows are handled (10 ms to an hour).
const LAG_BUCKETS: &[f64] = &[0.01, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 3600.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder (once; later calls are no-ops). Until it is installed,
/// recorded values go nowhere. `None` if another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                // A full name sorts before any suffix: the outbox lag gets its own buckets.
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("shopfleet_outbox_lag_seconds".into()),
                        LAG_BUCKETS,
                    )
                });
            match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(err) => {
                    tracing::warn!(error = %err, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    describe_counter!(
        "shopfleet_http_requests_total",
        "HTTP requests answered, by route template, method and status class."
    );
    describe_histogram!(
        "shopfleet_http_request_duration_seconds",
        "Time to answer an HTTP request, by route template, method and status class."
    );
    describe_gauge!("shopfleet_db_pool_connections", "Open connections of the database pool.");
    describe_gauge!("shopfleet_db_pool_idle", "Idle connections of the database pool.");
    describe_gauge!("shopfleet_db_pool_max", "The database pool's maximum connections.");
    describe_gauge!(
        "shopfleet_db_pool_waiting",
        "Shop transactions waiting to begin (for a pooled connection, then the BEGIN round trip)."
    );
    describe_histogram!(
        "shopfleet_db_begin_duration_seconds",
        "Time to begin a shop transaction, the wait for a pooled connection included."
    );
    describe_histogram!(
        "shopfleet_db_transaction_duration_seconds",
        "Lifetime of a shop transaction (its queries), by outcome: commit, rollback, error."
    );
    describe_counter!(
        "shopfleet_db_begin_failures_total",
        "Shop transactions that could not begin, by reason: pool_timeout, role_denied, other."
    );
    describe_counter!(
        "shopfleet_outbox_handled_total",
        "Outbox rows handled, by consumer and outcome: done, retry, dead, deferred."
    );
    describe_histogram!(
        "shopfleet_outbox_lag_seconds",
        "How long after it was due an outbox row was claimed, by consumer."
    );
    describe_gauge!(
        "shopfleet_outbox_shops_due",
        "Shops whose outbox has rows due now that the worker has not handled yet (retries, expired leases)."
    );
    describe_gauge!(
        "shopfleet_outbox_oldest_due_age_seconds",
        "How long the most overdue shop's outbox rows have been due (0 when none is)."
    );
    describe_counter!(
        "shopfleet_webhook_attempts_total",
        "Webhook delivery attempts, by outcome: success, http_4xx, http_5xx, timeout, failed."
    );
    describe_histogram!(
        "shopfleet_webhook_attempt_duration_seconds",
        "Time of one webhook delivery attempt."
    );
    describe_counter!(
        "shopfleet_cache_lookups_total",
        "Storefront cache lookups, by result: hit, miss, bypassed (Redis down), refused (a value of another shop)."
    );
    describe_counter!(
        "shopfleet_rate_limit_refusals_total",
        "Requests refused by a rate limit, by limit: shop_admin, shop_storefront, auth_client, login_client, login_identity, signup_client, signup_all."
    );
    describe_counter!("shopfleet_signups_total", "Shops created by sign-up.");
    describe_histogram!(
        "shopfleet_shop_provisioning_seconds",
        "Database time to provision a shop (schema, role, migrations, owner)."
    );
    describe_gauge!("shopfleet_shops", "Shops by status: active, suspended, deleted.");
}

/// Methods outside this list are counted as `other`: a client can send any token as a method.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// One answered request. `route` is the template poem matched (`/v1/admin/products/:id`), or
/// `unmatched` when no route matched: never the path itself.
pub fn http_request(route: &str, method: &Method, status: StatusCode, elapsed: Duration) {
    let labels = [
        ("route", route.to_owned()),
        ("method", method_label(method).to_owned()),
        ("status", status_class(status).to_owned()),
    ];
    counter!("shopfleet_http_requests_total", &labels).increment(1);
    histogram!("shopfleet_http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
}

/// Counts a shop transaction waiting to begin while alive (`shopfleet_db_pool_waiting`).
pub struct BeginWait(());

impl BeginWait {
    pub fn start() -> Self {
        gauge!("shopfleet_db_pool_waiting").increment(1.0);
        Self(())
    }
}

impl Drop for BeginWait {
    fn drop(&mut self) {
        gauge!("shopfleet_db_pool_waiting").decrement(1.0);
    }
}

pub fn db_begin(elapsed: Duration) {
    histogram!("shopfleet_db_begin_duration_seconds").record(elapsed.as_secs_f64());
}

pub fn db_begin_failed(err: &sqlx::Error) {
    let reason = match err {
        sqlx::Error::PoolTimedOut => "pool_timeout",
        err if err.as_database_error().and_then(|db| db.code()).as_deref() == Some("42501") => {
            "role_denied"
        }
        _ => "other",
    };
    counter!("shopfleet_db_begin_failures_total", "reason" => reason).increment(1);
}

/// How a shop transaction ended.
#[derive(Debug, Clone, Copy)]
pub enum TxOutcome {
    Commit,
    /// Rolled back, explicitly or by being dropped (an error returned early).
    Rollback,
    /// COMMIT or ROLLBACK itself failed.
    Error,
}

pub fn db_transaction(outcome: TxOutcome, lifetime: Duration) {
    let outcome = match outcome {
        TxOutcome::Commit => "commit",
        TxOutcome::Rollback => "rollback",
        TxOutcome::Error => "error",
    };
    histogram!("shopfleet_db_transaction_duration_seconds", "outcome" => outcome)
        .record(lifetime.as_secs_f64());
}

/// One outbox row's outcome. `consumer` is a registered consumer's name (a fixed set).
pub fn outbox_handled(consumer: &'static str, outcome: &'static str) {
    counter!("shopfleet_outbox_handled_total", "consumer" => consumer, "outcome" => outcome)
        .increment(1);
}

pub fn outbox_lag(consumer: &'static str, lag: Duration) {
    histogram!("shopfleet_outbox_lag_seconds", "consumer" => consumer).record(lag.as_secs_f64());
}

/// One webhook attempt: the endpoint's status, or `None` when no response came.
pub fn webhook_attempt(status: Option<u16>, timed_out: bool, elapsed: Duration) {
    let outcome = match status {
        Some(200..=299) => "success",
        Some(400..=499) => "http_4xx",
        Some(_) => "http_5xx",
        None if timed_out => "timeout",
        None => "failed",
    };
    counter!("shopfleet_webhook_attempts_total", "outcome" => outcome).increment(1);
    histogram!("shopfleet_webhook_attempt_duration_seconds").record(elapsed.as_secs_f64());
}

/// One storefront cache lookup: `hit`, `miss`, `bypassed` or `refused`.
pub fn cache_lookup(result: &'static str) {
    counter!("shopfleet_cache_lookups_total", "result" => result).increment(1);
}

/// A request refused by the limit named `limit` (a fixed word, see `describe`).
pub fn rate_limit_refused(limit: &'static str) {
    counter!("shopfleet_rate_limit_refusals_total", "limit" => limit).increment(1);
}

pub fn signup(provisioning: Duration) {
    counter!("shopfleet_signups_total").increment(1);
    histogram!("shopfleet_shop_provisioning_seconds").record(provisioning.as_secs_f64());
}

/// The database pool's connections when scraped: open, idle, maximum.
#[derive(Debug, Clone, Copy)]
pub struct PoolGauges {
    pub open: u32,
    pub idle: usize,
    pub max: u32,
}

/// The exposition text: sets the state gauges first (the pool's, then shops and the outbox
/// schedule read through `db`), then renders everything recorded. A failed read leaves those
/// gauges at their last value (logged).
pub async fn render<'e, E>(pool: PoolGauges, db: E) -> String
where
    E: Executor<'e, Database = Postgres> + Copy,
{
    let Some(handle) = install() else { return String::new() };
    gauge!("shopfleet_db_pool_connections").set(f64::from(pool.open));
    gauge!("shopfleet_db_pool_idle").set(pool.idle as f64);
    gauge!("shopfleet_db_pool_max").set(f64::from(pool.max));
    if let Err(err) = read_platform_gauges(db).await {
        tracing::warn!(error = %err, "metrics: platform figures unreadable");
    }
    handle.run_upkeep();
    handle.render()
}

async fn read_platform_gauges<'e, E>(pool: E) -> sqlx::Result<()>
where
    E: Executor<'e, Database = Postgres> + Copy,
{
    let shops: Vec<(String, i64)> =
        sqlx::query_as("select status, count(*) from platform.shops group by status")
            .fetch_all(pool)
            .await?;
    for status in ["active", "suspended", "deleted"] {
        let count = shops.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| *n);
        gauge!("shopfleet_shops", "status" => status).set(count as f64);
    }
    let (due, oldest): (i64, f64) = sqlx::query_as(
        "select count(*), coalesce(extract(epoch from now() - min(next_at))::float8, 0) \
         from platform.outbox_schedule where next_at <= now()",
    )
    .fetch_one(pool)
    .await?;
    gauge!("shopfleet_outbox_shops_due").set(due as f64);
    gauge!("shopfleet_outbox_oldest_due_age_seconds").set(oldest.max(0.0));
    Ok(())
}
