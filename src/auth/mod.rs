//! Authentication and authorization: passwords, tokens, principals, RBAC, login limits, and
//! the login APIs of shop staff, customers and platform admins.

pub mod admin_api;
pub mod password;
pub mod principal;
pub mod rate_limit;
pub mod rbac;
pub mod session;
pub mod store_api;
pub mod tokens;
