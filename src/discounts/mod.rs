//! Discount codes of a shop, as its staff manage them: percentage, fixed amount or free
//! shipping; minimum subtotal; optional category; validity window; total and per-customer
//! usage limits. Applying a code to a cart and counting its uses is checkout's job.
//!
//! Decisions:
//! - Codes are matched case-insensitively (`discounts_code_key` on `lower(code)`) and kept as
//!   entered; `SUMMER10` and `summer10` are the same code (409 `discount_code_taken`).
//! - Deleting a code is allowed even after orders used it, as in Shopify: orders keep their own
//!   snapshot (`discount_code`, `discount_total`), and the code's usage rows go with it
//!   (`discount_usages` cascades). To stop a code but keep its history, set `active: false`.
//! - `usage_limit` cannot be set below `used_count` (422).
//!
//! Rule: `used_count` is written only by checkout, with a conditional update; this admin API
//! never changes it.

mod api;
mod model;

pub use api::DiscountsAdminApi;
pub use model::{Discount, DiscountKind, find_by_code, parse_code};
