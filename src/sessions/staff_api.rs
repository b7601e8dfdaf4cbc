//! Sign-in of a shop's owner and staff: `/v1/admin/auth/{login,refresh,logout}`.

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::auth::principal::StaffAuth;
use crate::auth::tokens::{TokenKind, TokenPair};
use crate::error::ShopReadErrors;
use crate::error_responses;
use crate::state::AppState;
use crate::tenancy::Tenant;

pub struct StaffAuthApi {
    pub state: AppState,
}

#[derive(Debug, Object)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Object)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh. It is spent by this call.
    pub refresh_token: String,
}

#[derive(ApiResponse)]
pub enum LoggedOut {
    /// The refresh token's family is revoked.
    #[oai(status = 204)]
    NoContent,
}

error_responses!(
    /// Errors of a password login.
    LoginErrors { 400 BadRequest, 401 Unauthorized, 403 Forbidden, 404 NotFound, 429 TooManyRequests }
);

#[OpenApi(prefix_path = "/v1/admin/auth", tag = "crate::openapi_tags::Tag::AdminAuth")]
impl StaffAuthApi {
    /// Sign in as owner or staff
    ///
    /// `invalid_credentials` (401) for a wrong e-mail or password; too many failures for one
    /// e-mail give 429 with `Retry-After`.
    #[oai(path = "/login", method = "post")]
    async fn login(
        &self,
        tenant: Data<&Tenant>,
        body: Json<LoginRequest>,
    ) -> Result<Json<TokenPair>, LoginErrors> {
        let (_, pair) = super::password_login(
            &self.state,
            &tenant,
            TokenKind::Staff,
            &body.email,
            &body.password,
        )
        .await?;
        Ok(Json(pair))
    }

    /// Exchange a refresh token for a new pair
    ///
    /// Refresh tokens are single-use: presenting a spent one revokes its whole family.
    #[oai(path = "/refresh", method = "post")]
    async fn refresh(
        &self,
        tenant: Data<&Tenant>,
        body: Json<RefreshRequest>,
    ) -> Result<Json<TokenPair>, ShopReadErrors> {
        Ok(Json(super::refresh(&self.state, &tenant, TokenKind::Staff, &body.refresh_token).await?))
    }

    /// Sign out
    ///
    /// Revokes the given refresh token and every token refreshed from the same login.
    #[oai(path = "/logout", method = "post")]
    async fn logout(
        &self,
        auth: StaffAuth,
        tenant: Data<&Tenant>,
        body: Json<RefreshRequest>,
    ) -> Result<LoggedOut, ShopReadErrors> {
        super::logout(&self.state, &tenant, auth.0.id, &body.refresh_token).await?;
        Ok(LoggedOut::NoContent)
    }
}
