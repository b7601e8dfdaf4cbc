//! Sessions: the login, refresh and logout flows of shop staff ([`StaffAuthApi`]) and customers
//! ([`CustomerAuthApi`]), on the mechanisms of `auth`.
//!
//! Access tokens end with their session: logout revokes it (`auth::revocation`).
//!
//! Rule: a login failure says only `invalid_credentials`, whatever was wrong, and counts
//! against the identity's rate limit.

use sqlx::PgConnection;
use uuid::Uuid;

mod customer_api;
mod staff_api;

pub use customer_api::CustomerAuthApi;
pub use staff_api::StaffAuthApi;

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
///
/// The attempt counts against the identity's limit before the password is verified, and no
/// transaction is open while it is: the hash may wait in the queue of
/// [`crate::auth::password::HashGate`].
pub async fn password_login(
    state: &AppState,
    tenant: &Tenant,
    kind: TokenKind,
    email: &str,
    password: &str,
) -> AppResult<(Uuid, TokenPair)> {
    let attempt = state.limits.begin_login(&tenant.id.to_string(), kind_label(kind), email).await?;
    let verified = match verify_password(state, tenant, kind, email, password).await {
        Ok(verified) => verified,
        Err(err) => {
            // Not verified (database error, or too busy to hash): not a failure of the user's.
            attempt.refund().await;
            return Err(err);
        }
    };
    let Some(id) = verified else {
        return Err(invalid_credentials());
    };
    let mut tx = TenantTx::begin(&state.pool, tenant).await?;
    let pair = tokens::issue_pair(&mut tx, &state.tokens, kind, id, tenant.id, None).await?;
    tx.commit().await?;
    attempt.succeeded().await;
    Ok((id, pair))
}

/// The account's id if `password` is its password.
async fn verify_password(
    state: &AppState,
    tenant: &Tenant,
    kind: TokenKind,
    email: &str,
    password: &str,
) -> AppResult<Option<Uuid>> {
    let mut tx = TenantTx::begin(&state.pool, tenant).await?;
    let account = find_account(&mut tx, kind, email).await?;
    tx.commit().await?;
    let (id, hash) = match account {
        Some((id, hash)) => (Some(id), Some(hash)),
        None => (None, None),
    };
    let valid = state.passwords.verify(password.to_owned(), hash).await?;
    Ok(id.filter(|_| valid))
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

/// Revokes the family of `refresh_token` if it belongs to `subject`: the session ends, its
/// access tokens with it.
pub async fn logout(
    state: &AppState,
    tenant: &Tenant,
    subject: Uuid,
    refresh_token: &str,
) -> AppResult<()> {
    let mut tx = TenantTx::begin(&state.pool, tenant).await?;
    let session = tokens::revoke_by_token(&mut tx, subject, refresh_token).await?;
    tx.commit().await?;
    if let Some(session) = session {
        state.sessions.revoked(tenant.id, session).await;
    }
    Ok(())
}
