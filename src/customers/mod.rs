//! Customers of a shop: storefront accounts (register, profile), their address books, and the
//! admin view of customers with their order figures.
//!
//! Rule: a customer exists in one shop only; the same e-mail in two shops is two customers.

mod account_api;
mod addresses;
mod addresses_api;
mod admin_api;

pub use account_api::{CustomerAccountApi, RegisterCustomer, register};
pub use addresses::{Address, AddressInput, MAX_ADDRESSES_PER_CUSTOMER, validate_address};
pub use addresses::{add as add_address, delete as delete_address, list as list_addresses};
pub use addresses_api::CustomerAddressesApi;
pub use admin_api::CustomersAdminApi;
