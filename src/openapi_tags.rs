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
    /// The storefront cart.
    Cart,
    /// Checkout, and orders as customers and staff see them.
    Orders,
    /// Payment providers' callbacks and the shop's payment settings.
    Payments,
    /// Discount codes.
    Discounts,
    /// Shipping methods, tax and other checkout settings.
    Shipping,
    /// Outgoing webhooks to the shop's own systems.
    Webhooks,
    /// Fleet management for platform administrators.
    Platform,
}
