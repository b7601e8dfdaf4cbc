//! Sign-in of a shop's customers: `/v1/store/auth/{login,refresh,logout}`.

use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::Header;
use poem_openapi::payload::Json;

use super::staff_api::{LoggedOut, LoginErrors, LoginRequest, RefreshRequest};
use crate::auth::principal::CustomerAuth;
use crate::auth::tokens::{TokenKind, TokenPair};
use crate::cart;
use crate::error::ShopReadErrors;
use crate::state::AppState;
use crate::tenancy::{Tenant, TenantTx};

pub struct CustomerAuthApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1/store/auth", tag = "crate::openapi_tags::Tag::Customers")]
impl CustomerAuthApi {
    /// Sign in as a customer
    ///
    /// With the `X-Cart-Token` of a guest cart, that cart's items move into the customer's cart.
    #[oai(path = "/login", method = "post")]
    async fn login(
        &self,
        tenant: Data<&Tenant>,
        #[oai(name = "X-Cart-Token")] cart_token: Header<Option<String>>,
        body: Json<LoginRequest>,
    ) -> Result<Json<TokenPair>, LoginErrors> {
        let (customer, pair) = super::password_login(
            &self.state,
            &tenant,
            TokenKind::Customer,
            &body.email,
            &body.password,
        )
        .await?;
        if let Some(token) = cart_token.0.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
            cart::merge_guest_cart(&mut tx, token, customer).await?;
            tx.commit().await?;
        }
        Ok(Json(pair))
    }

    /// Exchange a customer's refresh token for a new pair
    #[oai(path = "/refresh", method = "post")]
    async fn refresh(
        &self,
        tenant: Data<&Tenant>,
        body: Json<RefreshRequest>,
    ) -> Result<Json<TokenPair>, ShopReadErrors> {
        Ok(Json(
            super::refresh(&self.state, &tenant, TokenKind::Customer, &body.refresh_token).await?,
        ))
    }

    /// Sign a customer out
    #[oai(path = "/logout", method = "post")]
    async fn logout(
        &self,
        auth: CustomerAuth,
        tenant: Data<&Tenant>,
        body: Json<RefreshRequest>,
    ) -> Result<LoggedOut, ShopReadErrors> {
        super::logout(&self.state, &tenant, auth.0.id, &body.refresh_token).await?;
        Ok(LoggedOut::NoContent)
    }
}
