//! Access tokens (JWT, HS256 only) and refresh tokens (opaque, stored hashed, rotated on use).
//!
//! An access token names its audience (`shopfleet:admin`, `shopfleet:store` or
//! `shopfleet:platform`), its kind, its subject and the shop it was issued for. A refresh token
//! is 32 random bytes; only its SHA-256 is stored, in the shop's own schema. Using a refresh
//! token spends it and issues the next one of the same family; presenting a spent token again
//! means it was stolen or replayed, so the whole family is revoked.
//!
//! A shop's access token also names its session (`sid`: the refresh-token family). Logout
//! revokes the family, and the token checkers refuse an access token of a revoked family
//! (`revocation::SessionCheck`), so logging out ends the session's access tokens too, not only
//! its refresh token.
//!
//! Rule: the algorithm is pinned on both sides; a token's shop must equal the resolved shop.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::tenancy::ShopId;

const ISSUER: &str = "shopfleet";

/// Who a token is for; each kind has its own audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Staff,
    Customer,
    PlatformAdmin,
}

impl TokenKind {
    pub fn audience(self) -> &'static str {
        match self {
            Self::Staff => "shopfleet:admin",
            Self::Customer => "shopfleet:store",
            Self::PlatformAdmin => "shopfleet:platform",
        }
    }

    fn subject_kind(self) -> &'static str {
        match self {
            Self::Staff => "staff",
            Self::Customer => "customer",
            Self::PlatformAdmin => "platform_admin",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: Uuid,
    /// The shop the token was issued for; absent on platform admin tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop: Option<Uuid>,
    pub kind: TokenKind,
    /// The session (refresh-token family) of a shop token; absent on platform admin tokens and
    /// on tokens issued before sessions were checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
    pub iat: i64,
    pub exp: i64,
}

/// Signing keys and lifetimes, built once from the configuration.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

impl TokenKeys {
    pub fn new(secret: &[u8], access_ttl_secs: u64, refresh_ttl_days: u64) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            access_ttl: Duration::seconds(i64::try_from(access_ttl_secs).unwrap_or(900)),
            refresh_ttl: Duration::days(i64::try_from(refresh_ttl_days).unwrap_or(30)),
        }
    }

    pub fn issue_access(
        &self,
        kind: TokenKind,
        subject: Uuid,
        shop: Option<ShopId>,
        session: Option<Uuid>,
    ) -> AppResult<String> {
        let now = Utc::now();
        let claims = Claims {
            iss: ISSUER.to_owned(),
            aud: kind.audience().to_owned(),
            sub: subject,
            shop: shop.map(|s| s.0),
            kind,
            sid: session,
            iat: now.timestamp(),
            exp: (now + self.access_ttl).timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|err| AppError::Internal(anyhow::anyhow!("signing a token: {err}")))
    }

    /// Verifies signature, algorithm, issuer, expiry and that the audience is one of `kinds`.
    pub fn verify(&self, token: &str, kinds: &[TokenKind]) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[ISSUER]);
        let audiences: Vec<&str> = kinds.iter().map(|k| k.audience()).collect();
        validation.set_audience(&audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        let claims =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).ok()?.claims;
        // The audience must agree with the kind, or a token could claim one and be used as the other.
        (claims.aud == claims.kind.audience() && kinds.contains(&claims.kind)).then_some(claims)
    }
}

/// Tokens handed to a client after login, signup or refresh.
#[derive(Debug, Clone, poem_openapi::Object)]
pub struct TokenPair {
    /// Bearer token for the `Authorization` header.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Single-use token for `…/auth/refresh`; a new one comes back with each use.
    pub refresh_token: String,
}

fn hash_refresh(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Issues an access token and a new refresh token (family `family`, or a new family), storing
/// the refresh token's hash in the shop's schema through `conn` (a `TenantTx`).
pub async fn issue_pair(
    conn: &mut PgConnection,
    keys: &TokenKeys,
    kind: TokenKind,
    subject: Uuid,
    shop: ShopId,
    family: Option<Uuid>,
) -> AppResult<TokenPair> {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let refresh_token = URL_SAFE_NO_PAD.encode(raw);
    let expires_at: DateTime<Utc> = Utc::now() + keys.refresh_ttl;
    let family = family.unwrap_or_else(Uuid::now_v7);
    sqlx::query(
        "insert into refresh_tokens (id, family_id, subject_kind, subject_id, token_hash, expires_at) \
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::now_v7())
    .bind(family)
    .bind(kind.subject_kind())
    .bind(subject)
    .bind(hash_refresh(&refresh_token))
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(TokenPair {
        access_token: keys.issue_access(kind, subject, Some(shop), Some(family))?,
        token_type: "Bearer".to_owned(),
        expires_in: keys.access_ttl.num_seconds(),
        refresh_token,
    })
}

#[derive(sqlx::FromRow)]
struct StoredRefresh {
    id: Uuid,
    family_id: Uuid,
    subject_id: Uuid,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

/// Spends a refresh token and returns `(subject, family)` to issue the next pair in.
/// A spent or revoked token revokes its whole family and fails; so does an unknown one.
/// The caller must commit even on failure, so that the revocation sticks.
pub async fn spend_refresh(
    conn: &mut PgConnection,
    kind: TokenKind,
    token: &str,
) -> AppResult<Result<(Uuid, Uuid), AppError>> {
    let stored: Option<StoredRefresh> = sqlx::query_as(
        "select id, family_id, subject_id, expires_at, used_at, revoked_at from refresh_tokens \
         where token_hash = $1 and subject_kind = $2 for update",
    )
    .bind(hash_refresh(token))
    .bind(kind.subject_kind())
    .fetch_optional(&mut *conn)
    .await?;
    let invalid =
        || AppError::unauthorized("invalid_refresh_token", "refresh token is invalid or expired");
    let Some(stored) = stored else {
        return Ok(Err(invalid()));
    };
    if stored.used_at.is_some() || stored.revoked_at.is_some() {
        revoke_family(conn, stored.family_id).await?;
        tracing::warn!(family = %stored.family_id, "refresh token reused; family revoked");
        return Ok(Err(invalid()));
    }
    if stored.expires_at <= Utc::now() {
        return Ok(Err(invalid()));
    }
    sqlx::query("update refresh_tokens set used_at = now() where id = $1")
        .bind(stored.id)
        .execute(&mut *conn)
        .await?;
    Ok(Ok((stored.subject_id, stored.family_id)))
}

pub async fn revoke_family(conn: &mut PgConnection, family: Uuid) -> AppResult<()> {
    sqlx::query(
        "update refresh_tokens set revoked_at = now() where family_id = $1 and revoked_at is null",
    )
    .bind(family)
    .execute(conn)
    .await?;
    Ok(())
}

/// Logout: revokes the family of the given refresh token, if it belongs to `subject`, and
/// returns that family (the session id of its access tokens).
pub async fn revoke_by_token(
    conn: &mut PgConnection,
    subject: Uuid,
    token: &str,
) -> AppResult<Option<Uuid>> {
    let family: Option<Uuid> = sqlx::query_scalar(
        "select family_id from refresh_tokens where token_hash = $1 and subject_id = $2",
    )
    .bind(hash_refresh(token))
    .bind(subject)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(family) = family {
        revoke_family(conn, family).await?;
    }
    Ok(family)
}

/// Whether the session (refresh-token family) `family` was revoked: by logout, by the reuse of a
/// spent refresh token, or with all of its subject's ([`revoke_subject`]).
pub async fn is_revoked(conn: &mut PgConnection, family: Uuid) -> AppResult<bool> {
    Ok(sqlx::query_scalar(
        "select exists (select 1 from refresh_tokens where family_id = $1 and revoked_at is not null)",
    )
    .bind(family)
    .fetch_one(conn)
    .await?)
}

/// Revokes every refresh token of a subject (staff removed, password changed).
pub async fn revoke_subject(conn: &mut PgConnection, subject: Uuid) -> AppResult<()> {
    sqlx::query(
        "update refresh_tokens set revoked_at = now() where subject_id = $1 and revoked_at is null",
    )
    .bind(subject)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"0123456789abcdef0123456789abcdef", 900, 30)
    }

    #[test]
    fn a_token_verifies_only_for_its_own_kind() {
        let keys = keys();
        let shop = ShopId(Uuid::now_v7());
        let token =
            keys.issue_access(TokenKind::Customer, Uuid::now_v7(), Some(shop), None).unwrap();
        let claims = keys.verify(&token, &[TokenKind::Customer]).unwrap();
        assert_eq!(claims.shop, Some(shop.0));
        assert!(keys.verify(&token, &[TokenKind::Staff]).is_none());
        assert!(keys.verify(&token, &[TokenKind::PlatformAdmin]).is_none());
    }

    #[test]
    fn tokens_signed_otherwise_are_refused() {
        let other = TokenKeys::new(b"another-secret-another-secret-xx", 900, 30);
        let token = other.issue_access(TokenKind::Staff, Uuid::now_v7(), None, None).unwrap();
        assert!(keys().verify(&token, &[TokenKind::Staff]).is_none());

        // alg=none with the same claims
        let claims = keys()
            .verify(
                &keys().issue_access(TokenKind::Staff, Uuid::now_v7(), None, None).unwrap(),
                &[TokenKind::Staff],
            )
            .unwrap();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        let none_token =
            format!("{}.{}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#), payload);
        assert!(keys().verify(&none_token, &[TokenKind::Staff]).is_none());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let keys = TokenKeys { access_ttl: Duration::seconds(-60), ..keys() };
        let token = keys.issue_access(TokenKind::Staff, Uuid::now_v7(), None, None).unwrap();
        assert!(keys.verify(&token, &[TokenKind::Staff]).is_none());
    }
}
