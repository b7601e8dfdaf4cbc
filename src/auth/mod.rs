//! Authentication and authorization mechanisms: passwords, tokens, principals (the security
//! schemes) and RBAC. The login APIs that use them are `sessions`; their limits are `limits`.
//!
//! Rule: this module is infrastructure: it imports no domain and not the app state.

pub mod password;
pub mod permission;
pub mod principal;
pub mod rbac;
pub mod revocation;
pub mod tokens;
