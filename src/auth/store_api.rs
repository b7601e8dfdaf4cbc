//! Sign-in of a shop's customers: `/v1/store/auth/{login,refresh,logout}`.

use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::payload::Json;

use super::admin_api::{LoggedOut, LoginErrors, LoginRequest, RefreshRequest};
use super::principal::CustomerAuth;
use super::session;
use super::tokens::{TokenKind, TokenPair};
use crate::app::AppState;
use crate::error::ShopReadErrors;
use crate::tenancy::Tenant;

pub struct StoreAuthApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1/store/auth", tag = "crate::openapi_tags::Tag::Customers")]
impl StoreAuthApi {
    /// Sign in as a customer
    #[oai(path = "/login", method = "post")]
    async fn login(&self, tenant: Data<&Tenant>, body: Json<LoginRequest>) -> Result<Json<TokenPair>, LoginErrors> {
        let pair = session::password_login(&self.state, &tenant, TokenKind::Customer, &body.email, &body.password).await?;
        Ok(Json(pair))
    }

    /// Exchange a customer's refresh token for a new pair
    #[oai(path = "/refresh", method = "post")]
    async fn refresh(&self, tenant: Data<&Tenant>, body: Json<RefreshRequest>) -> Result<Json<TokenPair>, ShopReadErrors> {
        Ok(Json(session::refresh(&self.state, &tenant, TokenKind::Customer, &body.refresh_token).await?))
    }

    /// Sign a customer out
    #[oai(path = "/logout", method = "post")]
    async fn logout(&self, auth: CustomerAuth, tenant: Data<&Tenant>, body: Json<RefreshRequest>) -> Result<LoggedOut, ShopReadErrors> {
        session::logout(&self.state, &tenant, auth.0.id, &body.refresh_token).await?;
        Ok(LoggedOut::NoContent)
    }
}
