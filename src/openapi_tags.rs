//! Tags grouping the operations in the API docs.

use poem_openapi::Tags;

#[derive(Tags)]
pub enum Tag {
    /// Create a shop.
    Signup,
    /// Sign-in of shop owners and staff.
    AdminAuth,
    /// The shop's staff and roles.
    Staff,
    /// The shop's settings and custom domains.
    Shop,
    /// Products and categories, as the shop's staff manage them.
    Catalog,
    /// What customers see on the shop's storefront.
    Storefront,
    /// Customer accounts on the storefront.
    Customers,
    /// Fleet management for platform administrators.
    Platform,
}
