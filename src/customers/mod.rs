//! Customers of a shop: storefront accounts (register, profile).
//!
//! Rule: a customer exists in one shop only; the same e-mail in two shops is two customers.

mod account_api;
mod addresses;

pub use account_api::CustomerAccountApi;
pub use addresses::{AddressInput, validate_address};
