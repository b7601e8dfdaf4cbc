//! The shop itself, as its owner manages it: settings, custom domains, and the storefront
//! section of the settings.
//!
//! Settings and domains live in the platform catalog (the resolver needs them before any shop schema is
//! touched), so these handlers write `platform.shops` / `platform.domains` through the
//! application role, always filtered by the resolved tenant's id. The trigger on those tables
//! tells every instance to drop its cached resolution.

//! The storefront section (language, accent colour, home page, links) lives in the shop's own
//! schema (`storefront_settings`), read by the pages in their own transaction.

mod api;
mod domains;
pub mod storefront_settings;
mod storefront_settings_api;

pub use api::ShopApi;
pub use storefront_settings_api::StorefrontSettingsApi;
