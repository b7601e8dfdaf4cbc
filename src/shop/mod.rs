//! The shop itself, as its owner manages it: settings, custom domains, and the storefront
//! section of the settings.
//!
//! Settings and domains live in the platform catalog (the resolver needs them before any shop
//! schema is touched), so these handlers write `platform.shops` / `platform.domains` through the
//! application role, always filtered by the resolved tenant's id. The trigger on those tables
//! tells every instance to drop its cached resolution.
//!
//! - `api`: the shop's settings;
//! - `domains_api`, `domains`: custom domains, claimed unverified and routed once verified;
//! - [`verification`]: the DNS TXT proof of control, and the background re-check that takes
//!   verification away from a domain whose record stays missing;
//! - [`storefront_settings`] (and its API): the storefront section (language, accent colour,
//!   home page, links), which lives in the shop's own schema, read by the pages in their own
//!   transaction.

mod api;
mod domains;
mod domains_api;
pub mod storefront_settings;
mod storefront_settings_api;
pub mod verification;

pub use api::ShopApi;
pub use domains_api::DomainsApi;
pub use storefront_settings_api::StorefrontSettingsApi;
