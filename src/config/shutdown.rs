//! Settings of a graceful shutdown (`serve` on SIGTERM or SIGINT): how long it may take, and
//! how long the listener stays open, answering `/readyz` with 503, before it closes.

use std::time::Duration;

use anyhow::bail;
use clap::Args;

#[derive(Clone, Debug, Args)]
pub struct ShutdownConfig {
    /// Seconds a shutdown may take, from the signal to the exit: in-flight requests and the
    /// outbox batch in hand finish within it, or are cut off (the batch's rows are released
    /// for another instance). Below the orchestrator's stop timeout (30 s in Kubernetes and
    /// ECS), which kills the process.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 25)]
    pub shutdown_grace_secs: u64,

    /// Seconds the listener keeps accepting after the signal, answering `/readyz` with 503, so
    /// that a load balancer stops routing here before connections are refused. Part of the
    /// grace, so below `SHUTDOWN_GRACE_SECS`.
    #[arg(long, env = "SHUTDOWN_DRAIN_SECS", default_value_t = 0)]
    pub shutdown_drain_secs: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self { shutdown_grace_secs: 25, shutdown_drain_secs: 0 }
    }
}

impl ShutdownConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(1..=3600).contains(&self.shutdown_grace_secs) {
            bail!("SHUTDOWN_GRACE_SECS must be between 1 and 3600");
        }
        if self.shutdown_drain_secs >= self.shutdown_grace_secs {
            bail!("SHUTDOWN_DRAIN_SECS must be below SHUTDOWN_GRACE_SECS");
        }
        Ok(())
    }

    pub fn grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    pub fn drain(&self) -> Duration {
        Duration::from_secs(self.shutdown_drain_secs)
    }
}
