//! Authentication and authorization mechanisms: passwords, tokens, principals (the security
//! schemes), RBAC and login limits. The login APIs that use them are `sessions`.
//!
//! Rule: this module is infrastructure: it imports no domain and not the app state.

pub mod password;
pub mod permission;
pub mod principal;
pub mod rate_limit;
pub mod rbac;
pub mod revocation;
pub mod tokens;
