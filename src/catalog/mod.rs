//! The catalog of a shop: categories (a tree), products with options and variants.
//!
//! Money is integer minor units of the shop's currency (`Tenant::currency`), never floats.
//! Ids are UUIDv7, so "newest first" is "id descending" and makes a stable cursor.
//!
//! Rule: every function here takes the connection of a `TenantTx`; nothing names a schema.

pub mod categories;
mod categories_api;
mod products;
mod products_api;
mod stock;
pub mod storefront;
mod storefront_api;
mod validation;

pub use categories_api::CategoriesAdminApi;
pub use products::{NewProduct, ProductStatus, create_product};
pub use products_api::ProductsAdminApi;
pub use stock::stock_moved;
pub use storefront_api::StorefrontApi;
pub use validation::{NewVariant, ProductOption};
