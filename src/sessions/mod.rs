//! Sessions: the login, refresh and logout flows of shop staff ([`StaffAuthApi`]) and customers
//! ([`CustomerAuthApi`]), on the mechanisms of `auth`.
//!
//! Rule: a login failure says only `invalid_credentials`, whatever was wrong, and counts
//! against the identity's rate limit.

use sqlx::PgConnection;
use uuid::Uuid;

mod customer_api;
mod staff_api;

pub use customer_api::CustomerAuthApi;
pub use staff_api::StaffAuthApi;

use crate::auth::password;
use crate::auth::rate_limit::LoginLimiter;
use crate::auth::tokens::{self, TokenKind, TokenPair};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::tenancy::{Tenant, TenantTx};

fn kind_label(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Staff => "staff",
        TokenKind::Customer => "customer",
        TokenKind::PlatformAdmin => "platform_admin",
    }
}

/// `(id, password hash)` of the shop account with this e-mail.
async fn find_account(
    conn: &mut PgConnection,
    kind: TokenKind,
    email: &str,
) -> AppResult<Option<(Uuid, String)>> {
    let sql = match kind {
        TokenKind::Staff => "select id, password_hash from staff where lower(email) = lower($1)",
        TokenKind::Customer => {
            "select id, password_hash from customers where lower(email) = lower($1)"
        }
        TokenKind::PlatformAdmin => return Ok(None),
    };
    Ok(sqlx::query_as(sql).bind(email.trim()).fetch_optional(conn).await?)
}

async fn account_exists(conn: &mut PgConnection, kind: TokenKind, id: Uuid) -> AppResult<bool> {
    let sql = match kind {
        TokenKind::Staff => "select exists (select 1 from staff where id = $1)",
        TokenKind::Customer => "select exists (select 1 from customers where id = $1)",
        TokenKind::PlatformAdmin => return Ok(false),
    };
    Ok(sqlx::query_scalar(sql).bind(id).fetch_one(conn).await?)
}

pub fn invalid_credentials() -> AppError {
    AppError::unauthorized("invalid_credentials", "e-mail or password is wrong")
}

/// Checks e-mail and password of a shop account and signs it in.
/// Returns the account's id with its new token pair.
pub async fn password_login(
    state: &AppState,
    tenant: &Tenant,
    kind: TokenKind,
    email: &str,
    password: &str,
) -> AppResult<(Uuid, TokenPair)> {
    let limit_key = LoginLimiter::key(&tenant.id.to_string(), kind_label(kind), email);
    state.login_limiter.check(&limit_key)?;

    let mut tx = TenantTx::begin(&state.pool, tenant).await?;
    let account = find_account(&mut tx, kind, email).await?;
    let (id, hash) = match account {
        Some((id, hash)) => (Some(id), Some(hash)),
        None => (None, None),
    };
    let valid = password::verify(password.to_owned(), hash).await?;
    let Some(id) = id.filter(|_| valid) else {
        tx.rollback().await?;
        state.login_limiter.record_failure(&limit_key);
        return Err(invalid_credentials());
    };
    let pair = tokens::issue_pair(&mut tx, &state.tokens, kind, id, tenant.id, None).await?;
    tx.commit().await?;
    state.login_limiter.record_success(&limit_key);
    Ok((id, pair))
}

/// Spends a refresh token and issues the next pair of its family.
pub async fn refresh(
    state: &AppState,
    tenant: &Tenant,
    kind: TokenKind,
    refresh_token: &str,
) -> AppResult<TokenPair> {
    let mut tx = TenantTx::begin(&state.pool, tenant).await?;
    let (subject, family) = match tokens::spend_refresh(&mut tx, kind, refresh_token).await? {
        Ok(spent) => spent,
        Err(err) => {
            // Commit: a reuse has just revoked the family, and that must stick.
            tx.commit().await?;
            return Err(err);
        }
    };
    if !account_exists(&mut tx, kind, subject).await? {
        tx.rollback().await?;
        return Err(AppError::unauthorized(
            "invalid_refresh_token",
            "refresh token is invalid or expired",
        ));
    }
    let pair =
        tokens::issue_pair(&mut tx, &state.tokens, kind, subject, tenant.id, Some(family)).await?;
    tx.commit().await?;
    Ok(pair)
}

/// Revokes the family of `refresh_token` if it belongs to `subject`.
pub async fn logout(
    state: &AppState,
    tenant: &Tenant,
    subject: Uuid,
    refresh_token: &str,
) -> AppResult<()> {
    let mut tx = TenantTx::begin(&state.pool, tenant).await?;
    tokens::revoke_by_token(&mut tx, subject, refresh_token).await?;
    tx.commit().await?;
    Ok(())
}
