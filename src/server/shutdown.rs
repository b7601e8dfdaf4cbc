//! Graceful shutdown of `serve`, on SIGTERM (an orchestrator stopping the instance) or SIGINT
//! (Ctrl-C), within `SHUTDOWN_GRACE_SECS` of the signal:
//!
//! 1. The instance is marked stopping: `/readyz` answers 503 (`readiness`) and the outbox worker
//!    claims no new batch.
//! 2. After `SHUTDOWN_DRAIN_SECS` (0 by default) the listener closes: new connections are
//!    refused, idle keep-alive connections are closed, in-flight requests run to their end. At
//!    the end of the grace those still running are cut off.
//! 3. The worker's batch in hand may finish until [`RECORD_MARGIN`] before the end of the
//!    grace; then it is abandoned and its rows are released for another instance.
//! 4. The background tasks (change listener, domain re-checks, MeiliSearch probe) are stopped,
//!    the database pool is closed, and one line logs how long it all took.
//!
//! Rule: the grace is the one deadline; every step ends by it (closing the pool, once nothing
//! holds a connection, adds a moment). An orchestrator's stop timeout must be longer than the
//! grace, or it kills the process mid-way (at-least-once delivery still holds then: a batch's
//! rows wait for their lease to run out).

use std::future::Future;
use std::time::{Duration, Instant};

use crate::tenancy::DbPool;
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::ShutdownConfig;

/// Kept from the worker's grace for recording a batch's outcomes (or releasing its rows).
pub const RECORD_MARGIN: Duration = Duration::from_secs(2);
/// How long closing the pool may wait for connections still checked out (the end of the grace
/// cut everything holding one, so this only bounds a surprise).
const POOL_CLOSE_LIMIT: Duration = Duration::from_secs(2);

/// Installs the SIGTERM and SIGINT handlers now (a signal arriving while the server starts is
/// kept) and resolves on the first of them.
pub fn termination_signal() -> std::io::Result<impl Future<Output = ()>> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "shutting down");
    })
}

/// One instance's shutdown: its timing, the token that marks it stopping, and when it began.
pub struct Shutdown {
    config: ShutdownConfig,
    stopping: CancellationToken,
    began: std::sync::OnceLock<Instant>,
}

impl Shutdown {
    pub fn new(config: ShutdownConfig) -> Self {
        Self { config, stopping: CancellationToken::new(), began: std::sync::OnceLock::new() }
    }

    /// Cancelled at the signal: the instance is stopping.
    pub fn stopping(&self) -> CancellationToken {
        self.stopping.clone()
    }

    /// How long the worker's batch in hand may still run once stopping.
    pub fn batch_grace(&self) -> Duration {
        self.config.grace().saturating_sub(RECORD_MARGIN)
    }

    /// How long in-flight requests may run once the listener has closed.
    pub fn request_grace(&self) -> Duration {
        self.config.grace().saturating_sub(self.config.drain())
    }

    /// Resolves when the listener should close: after `signal`, marks the instance stopping,
    /// then waits out the drain.
    pub async fn close_listener_after(&self, signal: impl Future<Output = ()>) {
        signal.await;
        let _ = self.began.set(Instant::now());
        self.stopping.cancel();
        tokio::time::sleep(self.config.drain()).await;
    }

    /// Once the HTTP server has stopped: waits for the outbox worker until the end of the grace,
    /// stops the background tasks, closes the pool and logs how long the shutdown took.
    pub async fn finish(
        &self,
        worker: JoinHandle<()>,
        background: Vec<JoinHandle<()>>,
        pool: DbPool,
    ) {
        let began = *self.began.get_or_init(Instant::now);
        let deadline = tokio::time::Instant::from_std(began + self.config.grace());
        let mut worker = worker;
        if tokio::time::timeout_at(deadline, &mut worker).await.is_err() {
            tracing::warn!("the outbox worker did not stop within the grace; its rows stay leased");
            worker.abort();
            let _ = worker.await;
        }
        for task in background {
            task.abort();
            let _ = task.await;
        }
        if tokio::time::timeout(POOL_CLOSE_LIMIT, pool.close()).await.is_err() {
            tracing::warn!("database connections still in use after the grace; exiting anyway");
        }
        let took_ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::info!(took_ms, "shutdown complete");
    }
}
