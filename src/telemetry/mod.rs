//! What an operator sees of a running instance: Prometheus [`metrics`].
//!
//! Rule: telemetry is infrastructure. Any module may record into it; it imports no domain.

pub mod metrics;
