//! Fleet management for platform admins: sign-in, shops (list, inspect, suspend, resume,
//! re-plan, delete, purge) and the audit log.
//!
//! Rule: every action of a platform admin writes an audit entry in the same transaction as
//! the change itself, so there is no change without its entry.

pub mod admins;
mod api;
pub mod audit;
pub mod provisioning;
pub mod shops;

pub use api::PlatformApi;
