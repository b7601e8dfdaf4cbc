//! The shop itself, as its owner manages it: settings and custom domains.
//!
//! Both live in the platform catalog (the resolver needs them before any shop schema is
//! touched), so these handlers write `platform.shops` / `platform.domains` through the
//! application role, always filtered by the resolved tenant's id. The trigger on those tables
//! tells every instance to drop its cached resolution.
//!
//! - `api`: the shop's settings;
//! - `domains_api`, `domains`: custom domains, claimed unverified and routed once verified;
//! - [`verification`]: the DNS TXT proof of control, and the background re-check that takes
//!   verification away from a domain whose record stays missing.

mod api;
mod domains;
mod domains_api;
pub mod verification;

pub use api::ShopApi;
pub use domains_api::DomainsApi;
