//! Shipping methods (flat rate, free above a subtotal, per destination country) and the shop's
//! checkout settings (tax rate, whether prices include tax, low-stock threshold, the payment
//! callback secret).
//!
//! Money is integer minor units of the shop's currency (`Tenant::currency`), never floats.
//!
//! Rule: every function here takes the connection of a `TenantTx`; nothing names a schema.

mod api;
mod methods;
mod settings_api;

pub use api::{ShippingAdminApi, ShippingStorefrontApi};
pub use methods::{ShippingMethod, find as find_method, get as get_method, list_active};
pub use settings_api::{CheckoutSettings, CheckoutSettingsApi, load_settings};
