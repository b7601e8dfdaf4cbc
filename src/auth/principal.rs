//! Verified principals: who is calling, proven by a token, bound to the resolved shop.
//!
//! Each is a poem-openapi `SecurityScheme` whose checker verifies the bearer token and then
//! requires the token's shop to equal the shop the request was resolved to (else 401), and its
//! session not to be revoked (logout; [`super::revocation::SessionCheck`], else 401). A customer token on
//! an admin route is 403: the caller is known, just not allowed there.
//!
//! Rule: handlers learn "who" only from these types, and "which shop" only from `Tenant`.

use std::sync::Arc;

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use uuid::Uuid;

use super::revocation::SessionCheck;
use super::tokens::{Claims, TokenKeys, TokenKind};
use crate::error::AppError;
use crate::tenancy::{ShopId, Tenant};

/// A shop's owner or staff member.
#[derive(Debug, Clone)]
pub struct Staff {
    pub id: Uuid,
    pub shop: ShopId,
}

/// A signed-in customer of a shop's storefront.
#[derive(Debug, Clone)]
pub struct Customer {
    pub id: Uuid,
    pub shop: ShopId,
}

/// An administrator of the whole platform.
#[derive(Debug, Clone)]
pub struct PlatformAdmin {
    pub id: Uuid,
}

/// Access token of a shop's staff, from `POST /v1/admin/auth/login` or signup.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_staff")]
pub struct StaffAuth(pub Staff);

/// Access token of a shop's customer, from `POST /v1/store/auth/login`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_customer")]
pub struct CustomerAuth(pub Customer);

/// Access token of a platform admin, from `POST /v1/platform/auth/login`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_platform_admin")]
pub struct PlatformAdminAuth(pub PlatformAdmin);

/// The storefront shopper: a signed-in customer, or a guest (no `Authorization` header).
/// A request that sends a token which does not verify is refused ([`ShopperAuth::customer`]),
/// never silently treated as a guest.
#[derive(SecurityScheme)]
pub enum ShopperAuth {
    Customer(CustomerAuth),
    #[oai(fallback)]
    Guest,
}

impl ShopperAuth {
    /// The customer's id, `None` for a guest; 401 when a token was sent but did not verify.
    pub fn customer(&self, req: &Request) -> Result<Option<Uuid>, AppError> {
        match self {
            Self::Customer(auth) => Ok(Some(auth.0.id)),
            Self::Guest if req.header("authorization").is_some() => Err(invalid_token()),
            Self::Guest => Ok(None),
        }
    }
}

fn invalid_token() -> AppError {
    AppError::unauthorized("invalid_token", "missing, invalid or expired access token")
}

/// The token keys, which the server puts in every request's data.
fn token_keys(req: &Request) -> Result<&TokenKeys, AppError> {
    req.data::<Arc<TokenKeys>>()
        .map(Arc::as_ref)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no token keys in the request")))
}

fn context(req: &Request) -> Result<(&TokenKeys, &Tenant), AppError> {
    let tenant = req
        .data::<Tenant>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("shop route without tenant")))?;
    Ok((token_keys(req)?, tenant))
}

/// Verifies a shop token of any of `kinds` and requires it to belong to the resolved shop.
fn verify_for_shop(req: &Request, token: &str, kinds: &[TokenKind]) -> Result<Claims, AppError> {
    let (keys, tenant) = context(req)?;
    let claims = keys.verify(token, kinds).ok_or_else(invalid_token)?;
    if claims.shop != Some(tenant.id.0) {
        return Err(AppError::unauthorized(
            "token_shop_mismatch",
            "this token was issued for another shop",
        ));
    }
    Ok(claims)
}

/// 401 if the token's session was revoked (logout).
async fn check_session(req: &Request, claims: &Claims) -> Result<(), AppError> {
    let Some(session) = claims.sid else {
        return Ok(()); // issued before sessions were checked; expires soon
    };
    let (_, tenant) = context(req)?;
    let sessions = req
        .data::<SessionCheck>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no session check in the request")))?;
    if sessions.is_revoked(tenant, session).await? {
        return Err(invalid_token());
    }
    Ok(())
}

async fn check_staff(req: &Request, bearer: Bearer) -> poem::Result<Staff> {
    let claims = verify_for_shop(req, &bearer.token, &[TokenKind::Staff, TokenKind::Customer])?;
    if claims.kind != TokenKind::Staff {
        return Err(AppError::forbidden(
            "staff_only",
            "customer accounts cannot use the admin API",
        )
        .into());
    }
    check_session(req, &claims).await?;
    Ok(Staff { id: claims.sub, shop: ShopId(claims.sub_shop()) })
}

async fn check_customer(req: &Request, bearer: Bearer) -> poem::Result<Customer> {
    let claims = verify_for_shop(req, &bearer.token, &[TokenKind::Customer])?;
    check_session(req, &claims).await?;
    Ok(Customer { id: claims.sub, shop: ShopId(claims.sub_shop()) })
}

async fn check_platform_admin(req: &Request, bearer: Bearer) -> poem::Result<PlatformAdmin> {
    let claims = token_keys(req)?
        .verify(&bearer.token, &[TokenKind::PlatformAdmin])
        .ok_or_else(invalid_token)?;
    Ok(PlatformAdmin { id: claims.sub })
}

impl Claims {
    /// The shop of a token already checked against the tenant.
    fn sub_shop(&self) -> Uuid {
        self.shop.unwrap_or_default()
    }
}
