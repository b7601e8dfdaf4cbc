//! The one OpenAPI service: every domain's API structs, combined as tuples (poem-openapi
//! implements `OpenApi` for tuples of up to 16), grouped by area.
//!
//! Rule: a new API struct is added here and nowhere else; the server serves what this builds.

use poem_openapi::OpenApiService;

use crate::state::AppState;
use crate::{
    cart, catalog, customers, discounts, inventory, media, orders, platform, search, sessions,
    shipping, shop, signup, staff, webhooks,
};

/// The OpenAPI service with every API of the platform.
pub fn openapi_service(state: &AppState) -> OpenApiService<impl poem_openapi::OpenApi, ()> {
    // Grouped by area: poem-openapi implements `OpenApi` for tuples of up to 16.
    let accounts = (
        signup::SignupApi { state: state.clone() },
        sessions::StaffAuthApi { state: state.clone() },
        sessions::CustomerAuthApi { state: state.clone() },
        staff::StaffApi { state: state.clone() },
        staff::RolesApi { state: state.clone() },
        (
            shop::ShopApi { state: state.clone() },
            shop::DomainsApi { state: state.clone() },
            shop::StorefrontSettingsApi { state: state.clone() },
        ),
        customers::CustomerAccountApi { state: state.clone() },
        platform::PlatformApi { state: state.clone() },
    );
    let catalog = (
        catalog::ProductsAdminApi { state: state.clone() },
        catalog::CategoriesAdminApi { state: state.clone() },
        media::MediaAdminApi { state: state.clone() },
        media::MediaUploadsApi { state: state.clone() },
        catalog::StorefrontApi { state: state.clone() },
        search::api::SearchApi {
            pool: state.pool.clone(),
            rbac: state.rbac.clone(),
            engine: state.search.clone(),
            meili: state.meili.clone(),
            cache: state.cache.clone(),
        },
        inventory::StockAdjustmentsApi { state: state.clone() },
    );
    let commerce = (
        cart::CartApi { state: state.clone() },
        orders::OrdersStoreApi { state: state.clone() },
        orders::OrdersAdminApi { state: state.clone() },
        orders::PaymentCallbacksApi { state: state.clone(), rejections: Default::default() },
        webhooks::WebhooksAdminApi { state: state.clone() },
    );
    let customers_and_settings = (
        customers::CustomerAddressesApi { state: state.clone() },
        customers::CustomersAdminApi { state: state.clone() },
        shipping::ShippingAdminApi { state: state.clone() },
        shipping::ShippingStorefrontApi { state: state.clone() },
        shipping::CheckoutSettingsApi { state: state.clone() },
        discounts::DiscountsAdminApi { state: state.clone() },
    );
    let apis = (accounts, catalog, commerce, customers_and_settings);
    OpenApiService::new(apis, "shopfleet", env!("CARGO_PKG_VERSION"))
        .description(
            "Multi-tenant commerce platform. Shop routes (`/v1/admin`, `/v1/store`) are addressed \
             by the shop's host (`<slug>.<base domain>` or a custom domain) or, on the platform \
             host, by an `X-Shop: <slug>` header. No text a client sends (path, query, JSON \
             string or key) may contain the NUL character (U+0000): 422 `validation_failed` \
             naming the field. A value that breaks a constraint this document declares is 422 \
             `validation_failed` naming the field too.",
        )
        .server("/")
}

/// The OpenAPI document as JSON, for `shopfleet openapi` and `/openapi.json`.
pub fn openapi_json(state: &AppState) -> String {
    openapi_service(state).spec()
}
