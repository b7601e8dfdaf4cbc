//! The shop itself, as its owner manages it: settings and custom domains.
//!
//! Both live in the platform catalog (the resolver needs them before any shop schema is
//! touched), so these handlers write `platform.shops` / `platform.domains` through the
//! application role, always filtered by the resolved tenant's id. The trigger on those tables
//! tells every instance to drop its cached resolution.

mod api;
mod domains;

pub use api::ShopApi;
