//! `Idempotency-Key` for operations with money or stock effects: checkout and refunds.
//!
//! Inside the operation's own transaction, [`claim`] first takes a transaction-scoped advisory
//! lock named after (shop, scope, key) without waiting: if another request holds it, the
//! answer is 409 `idempotency_key_in_use`. Holding it, a stored record with the same request
//! hash is replayed as is, one with another hash is 422 `idempotency_key_reused`, and none
//! means "go ahead". The operation ends with [`store`] in the same transaction, so the key and
//! the effect commit together: a rolled-back operation leaves no key, and a retry runs afresh.
//! Records older than [`KEEP_HOURS`] are ignored and deleted (here and by the hourly cleanup).
//!
//! **Keys belong to their principal**, as Stripe's belong to an account: every key is made with
//! the [`Principal`] that sent it (the signed-in customer, the guest cart's token, the staff
//! member), and the record's scope names that principal. The same key and body from another
//! principal is therefore a fresh request of its own (not a replay of someone else's response,
//! nor a 422 that would tell them the key exists). The principal goes into the existing `scope`
//! column (`checkout/customer:<id>`, `refund:<order>/staff:<id>`, …), so no schema change is
//! needed and code of the previous version keeps working on the same table during a rolling
//! deploy. Its records (unscoped) are still replayed to staff operations (refunds, stock
//! adjustments), so a retry spanning the deploy is not run twice; never to checkout, where an
//! unscoped record is exactly what must not reach another shopper. Drop `legacy_scope` once
//! [`KEEP_HOURS`] have passed since every server runs this version.

use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::tenancy::ShopId;
use crate::values::secret_token_hash;

pub const KEEP_HOURS: i32 = 24;
pub const HEADER: &str = "Idempotency-Key";

/// Who sent a request with a key: a record is replayed only to the principal that made it.
#[derive(Debug, Clone, Copy)]
pub enum Principal<'a> {
    /// A signed-in customer.
    Customer(Uuid),
    /// A guest, known only by their cart's secret token (stored hashed, never in clear).
    Cart(&'a str),
    /// A staff member of the shop.
    Staff(Uuid),
}

impl Principal<'_> {
    fn scope_part(&self) -> String {
        match self {
            Self::Customer(id) => format!("customer:{id}"),
            Self::Cart(token) => format!("cart:{}", hex::encode(secret_token_hash(token))),
            Self::Staff(id) => format!("staff:{id}"),
        }
    }
}

/// A validated key with the hash of the request it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    scope: String,
    /// The scope the previous version wrote, without the principal: still replayed for staff
    /// operations (see the module doc).
    legacy_scope: Option<String>,
    key: String,
    request_hash: Vec<u8>,
}

/// What the caller should do.
#[derive(Debug)]
pub enum Claim {
    /// First time: perform the operation, then [`store`] its response.
    Fresh,
    /// Done before with this key and body: answer with this.
    Replay { status: u16, body: Value },
}

impl IdempotencyKey {
    /// `scope` names the operation (`checkout`, `refund:<order id>`), `principal` who sends it;
    /// `raw` is the header value (required: 400 `idempotency_key_required` when absent);
    /// `request` is the request's meaningful content, hashed in canonical form (sorted keys).
    pub fn new(
        scope: &str,
        principal: Principal<'_>,
        raw: Option<&str>,
        request: &Value,
    ) -> AppResult<Self> {
        let key = raw.map(str::trim).filter(|k| !k.is_empty()).ok_or_else(|| {
            AppError::bad_request(
                "idempotency_key_required",
                format!("send an {HEADER} header (a unique value per operation)"),
            )
        })?;
        if key.len() > 255 || !key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(AppError::bad_request(
                "invalid_idempotency_key",
                "the key must be 1–255 visible ASCII characters",
            ));
        }
        let canonical =
            serde_json::to_vec(request).map_err(|err| AppError::Internal(err.into()))?;
        Ok(Self {
            scope: format!("{scope}/{}", principal.scope_part()),
            legacy_scope: matches!(principal, Principal::Staff(_)).then(|| scope.to_owned()),
            key: key.to_owned(),
            request_hash: Sha256::digest(canonical).to_vec(),
        })
    }

    /// The advisory lock id: 64 bits of SHA-256 over shop, scope and key (advisory locks are
    /// database-wide, so the shop is part of the name).
    fn lock_id(&self, shop: ShopId) -> i64 {
        let digest = Sha256::new()
            .chain_update(shop.0.as_bytes())
            .chain_update(self.scope.as_bytes())
            .chain_update([0])
            .chain_update(self.key.as_bytes())
            .finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(first)
    }
}

/// Claims `key` in the caller's transaction (see the module doc).
pub async fn claim(
    conn: &mut PgConnection,
    shop: ShopId,
    key: &IdempotencyKey,
) -> AppResult<Claim> {
    let locked: bool = sqlx::query_scalar("select pg_try_advisory_xact_lock($1)")
        .bind(key.lock_id(shop))
        .fetch_one(&mut *conn)
        .await?;
    if !locked {
        return Err(AppError::conflict(
            "idempotency_key_in_use",
            "a request with this Idempotency-Key is still being processed; retry later",
        ));
    }
    sqlx::query("delete from idempotency_keys where scope = $1 and key = $2 and created_at < now() - make_interval(hours => $3)")
        .bind(&key.scope)
        .bind(&key.key)
        .bind(KEEP_HOURS)
        .execute(&mut *conn)
        .await?;
    let mut stored = find(conn, &key.scope, &key.key).await?;
    if stored.is_none()
        && let Some(legacy) = &key.legacy_scope
    {
        stored = find(conn, legacy, &key.key).await?;
    }
    match stored {
        None => Ok(Claim::Fresh),
        Some((hash, status, body)) if hash == key.request_hash => {
            Ok(Claim::Replay { status: u16::try_from(status).unwrap_or(200), body })
        }
        Some(_) => Err(AppError::unprocessable(
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request; use a new key",
        )),
    }
}

/// The live record of `(scope, key)`: request hash, status and body.
async fn find(
    conn: &mut PgConnection,
    scope: &str,
    key: &str,
) -> AppResult<Option<(Vec<u8>, i32, Value)>> {
    Ok(sqlx::query_as(
        "select request_hash, response_status, response_body from idempotency_keys \
         where scope = $1 and key = $2 and created_at >= now() - make_interval(hours => $3)",
    )
    .bind(scope)
    .bind(key)
    .bind(KEEP_HOURS)
    .fetch_optional(conn)
    .await?)
}

/// Records the response of a fresh operation, in its transaction.
pub async fn store(
    conn: &mut PgConnection,
    key: &IdempotencyKey,
    status: u16,
    body: &Value,
) -> AppResult<()> {
    sqlx::query(
        "insert into idempotency_keys (scope, key, request_hash, response_status, response_body) values ($1, $2, $3, $4, $5)",
    )
    .bind(&key.scope)
    .bind(&key.key)
    .bind(&key.request_hash)
    .bind(i32::from(status))
    .bind(body)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes expired records of the shop whose transaction this is (hourly cleanup).
pub async fn delete_expired(conn: &mut PgConnection) -> AppResult<u64> {
    let done = sqlx::query(
        "delete from idempotency_keys where created_at < now() - make_interval(hours => $1)",
    )
    .bind(KEEP_HOURS)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The hourly clean-up of [`delete_expired`], registered with the outbox worker.
pub struct ExpiredKeys;

#[async_trait::async_trait]
impl crate::events::Housekeeping for ExpiredKeys {
    fn name(&self) -> &'static str {
        "expired_idempotency_keys"
    }

    async fn run(&self, conn: &mut PgConnection) -> AppResult<()> {
        // The table arrives with tenant migration 0007 (expand/contract).
        let migrated: bool =
            sqlx::query_scalar("select to_regclass('idempotency_keys') is not null")
                .fetch_one(&mut *conn)
                .await?;
        if migrated {
            delete_expired(conn).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const GUEST: Principal<'static> = Principal::Cart("ct_guest");

    #[test]
    fn a_key_is_required_and_bounded() {
        let body = json!({});
        let missing = IdempotencyKey::new("checkout", GUEST, None, &body).unwrap_err();
        assert!(matches!(missing, AppError::BadRequest { code: "idempotency_key_required", .. }));
        let blank = IdempotencyKey::new("checkout", GUEST, Some("  "), &body).unwrap_err();
        assert!(matches!(blank, AppError::BadRequest { code: "idempotency_key_required", .. }));
        let long = "k".repeat(256);
        assert!(matches!(
            IdempotencyKey::new("checkout", GUEST, Some(&long), &body),
            Err(AppError::BadRequest { code: "invalid_idempotency_key", .. })
        ));
        assert!(
            IdempotencyKey::new("checkout", GUEST, Some("order-2026-11-22-0001"), &body).is_ok()
        );
    }

    #[test]
    fn the_hash_ignores_key_order_but_not_values() {
        let a =
            IdempotencyKey::new("checkout", GUEST, Some("k"), &json!({"a": 1, "b": 2})).unwrap();
        let b =
            IdempotencyKey::new("checkout", GUEST, Some("k"), &json!({"b": 2, "a": 1})).unwrap();
        let c =
            IdempotencyKey::new("checkout", GUEST, Some("k"), &json!({"a": 1, "b": 3})).unwrap();
        assert_eq!(a.request_hash, b.request_hash);
        assert_ne!(a.request_hash, c.request_hash);
    }

    #[test]
    fn lock_ids_differ_by_shop_scope_and_key() {
        let key = IdempotencyKey::new("checkout", GUEST, Some("k"), &json!({})).unwrap();
        let (one, two) = (ShopId(Uuid::now_v7()), ShopId(Uuid::now_v7()));
        assert_ne!(key.lock_id(one), key.lock_id(two));
        let refund = IdempotencyKey::new("refund:x", GUEST, Some("k"), &json!({})).unwrap();
        assert_ne!(key.lock_id(one), refund.lock_id(one));
    }

    #[test]
    fn records_and_locks_of_different_principals_never_meet() {
        let body = json!({"a": 1});
        let shop = ShopId(Uuid::now_v7());
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let keys = [
            IdempotencyKey::new("checkout", Principal::Customer(a), Some("k"), &body).unwrap(),
            IdempotencyKey::new("checkout", Principal::Customer(b), Some("k"), &body).unwrap(),
            IdempotencyKey::new("checkout", Principal::Cart("ct_one"), Some("k"), &body).unwrap(),
            IdempotencyKey::new("checkout", Principal::Cart("ct_two"), Some("k"), &body).unwrap(),
            IdempotencyKey::new("checkout", Principal::Staff(a), Some("k"), &body).unwrap(),
        ];
        for (i, one) in keys.iter().enumerate() {
            for other in &keys[i + 1..] {
                assert_ne!(one.scope, other.scope);
                assert_ne!(one.lock_id(shop), other.lock_id(shop));
            }
        }
        // The cart token itself is never stored.
        assert!(!keys[2].scope.contains("ct_one"));
    }
}
