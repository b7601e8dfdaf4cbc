//! Readiness, `GET /readyz`: whether this instance should get traffic, with the state of each
//! configured dependency, all checked side by side, each within [`CHECK_TIMEOUT`].
//!
//! - **PostgreSQL is required** (`select 1` through the pool): every shop's data, the tenant
//!   registry and the sessions live there, so without it no request can be served. The instance
//!   is `not_ready` (503) and a load balancer sends traffic to another.
//! - **Redis, MeiliSearch and the object store are optional**: one of them failing leaves the
//!   instance `degraded` (still 200), because without it only a part of the service fails or
//!   a fallback takes over, and every instance shares it, so taking them all out would turn a
//!   partial outage into a total one. Without Redis the cache is bypassed and the rate limits
//!   count in this process (`cache::RedisClient`); without MeiliSearch searches answer 503
//!   `search_unavailable` and indexing waits in the outbox; without the object store uploads
//!   and images fail. Each is checked only when configured (`REDIS_URL`, `MEILI_URL`; the
//!   object store always: S3's bucket, or the local directory written to).
//! - **Shutting down**: from the signal on, `not_ready` (503) at once, without checks, so a
//!   load balancer stops routing here while in-flight requests finish (`server::shutdown`).
//!
//! Liveness is `/healthz`: the process answers. It checks nothing, so an outage of a dependency
//! never makes an orchestrator restart healthy instances.
//!
//! Rule: the body names each dependency with its state, latency and a fixed error word
//! (`timeout`, `failed`), never an address or an error's text, which may carry a host or a
//! credential; the cause goes to the log. The checks run at most once per [`REUSE_FOR`] (the
//! endpoint is public: a flood of probes must not become a flood of queries).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use futures::future::OptionFuture;
use poem::http::StatusCode;
use poem::http::header::CACHE_CONTROL;
use poem::web::Json;
use poem::{Endpoint, IntoResponse, Request, Response};
use serde::Serialize;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// The longest one dependency's check may take.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// A report this young is answered again rather than checked anew.
const REUSE_FOR: Duration = Duration::from_secs(1);

/// The request data that tells `/readyz` the instance is shutting down (cancelled at the
/// signal).
#[derive(Clone)]
pub struct Stopping(pub CancellationToken);

#[derive(Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Status {
    Ready,
    Degraded,
    NotReady,
}

#[derive(Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum State {
    Up,
    Down,
}

#[derive(Clone, Serialize)]
struct Check {
    status: State,
    required: bool,
    latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    /// `s3` or `local` for the object store.
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
}

#[derive(Clone, Serialize)]
struct Report {
    status: Status,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    shutting_down: bool,
    checks: BTreeMap<&'static str, Check>,
}

impl Report {
    fn from_checks(checks: BTreeMap<&'static str, Check>) -> Self {
        let down = |required: bool| {
            checks.values().any(|check| check.required == required && check.status == State::Down)
        };
        let status = if down(true) {
            Status::NotReady
        } else if down(false) {
            Status::Degraded
        } else {
            Status::Ready
        };
        Self { status, shutting_down: false, checks }
    }
}

impl IntoResponse for Report {
    fn into_response(self) -> Response {
        let status = match self.status {
            Status::Ready | Status::Degraded => StatusCode::OK,
            Status::NotReady => StatusCode::SERVICE_UNAVAILABLE,
        };
        Json(self).with_status(status).with_header(CACHE_CONTROL, "no-store").into_response()
    }
}

/// The `/readyz` endpoint.
pub struct Readyz {
    state: AppState,
    last: Mutex<Option<(Instant, Report)>>,
}

impl Readyz {
    pub fn new(state: AppState) -> Self {
        Self { state, last: Mutex::new(None) }
    }

    /// The last report if young enough, else a new one. Callers arriving during a check wait
    /// for it and share it.
    async fn report(&self) -> Report {
        let mut last = self.last.lock().await;
        if let Some((at, report)) = last.as_ref()
            && at.elapsed() < REUSE_FOR
        {
            return report.clone();
        }
        let report = check_all(&self.state).await;
        *last = Some((Instant::now(), report.clone()));
        report
    }
}

impl Endpoint for Readyz {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if req.data::<Stopping>().is_some_and(|stopping| stopping.0.is_cancelled()) {
            let report =
                Report { status: Status::NotReady, shutting_down: true, checks: BTreeMap::new() };
            return Ok(report.into_response());
        }
        Ok(self.report().await.into_response())
    }
}

/// Every configured dependency, side by side.
async fn check_all(state: &AppState) -> Report {
    let postgres = check("postgres", true, async {
        sqlx::query("select 1").execute(&state.pool).await.map(drop).map_err(|err| err.to_string())
    });
    let redis: OptionFuture<_> = state
        .redis
        .as_ref()
        .map(|redis| {
            check("redis", false, async move {
                match redis.ping().await {
                    true => Ok(()),
                    false => Err("no answer to PING within REDIS_TIMEOUT_MS".to_owned()),
                }
            })
        })
        .into();
    let meilisearch: OptionFuture<_> = state
        .meili
        .as_ref()
        .map(|meili| {
            check("meilisearch", false, async move {
                let nodes = meili.nodes_healthy().await;
                match nodes.iter().filter(|healthy| !**healthy).count() {
                    0 => Ok(()),
                    down => Err(format!("{down} of {} nodes not healthy", nodes.len())),
                }
            })
        })
        .into();
    let store = check("object_store", false, async {
        state.store.check().await.map_err(|err| format!("{err:#}"))
    });
    let (postgres, redis, meilisearch, store) = futures::join!(postgres, redis, meilisearch, store);
    let store = Check { kind: Some(state.store.kind()), ..store };
    let mut checks = BTreeMap::from([("postgres", postgres), ("object_store", store)]);
    checks.extend(redis.map(|check| ("redis", check)));
    checks.extend(meilisearch.map(|check| ("meilisearch", check)));
    Report::from_checks(checks)
}

/// Runs one check within [`CHECK_TIMEOUT`]; a failure's cause is logged, not reported.
async fn check(
    name: &'static str,
    required: bool,
    probe: impl Future<Output = Result<(), String>>,
) -> Check {
    let started = Instant::now();
    let outcome = tokio::time::timeout(CHECK_TIMEOUT, probe).await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(cause)) => {
            tracing::warn!(dependency = name, error = %cause, "readiness check failed");
            Some("failed")
        }
        Err(_) => {
            tracing::warn!(
                dependency = name,
                timeout_ms = CHECK_TIMEOUT.as_millis() as u64,
                "readiness check timed out"
            );
            Some("timeout")
        }
    };
    let status = if error.is_some() { State::Down } else { State::Up };
    Check { status, required, latency_ms, error, kind: None }
}
