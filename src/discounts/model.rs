//! Discount codes: types, validation and SQL.

use std::convert::Infallible;

use chrono::{DateTime, Utc};
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::{AppError, AppResult, OnConstraint, mapped_error};

/// 10^13 minor units: far above any real price, far below i64 overflow when summed.
const MAX_AMOUNT: i64 = 10_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum DiscountKind {
    /// `value` percent off the eligible lines (1–100).
    Percentage,
    /// `value` minor units off the eligible lines.
    FixedAmount,
    /// Shipping is free; `value` is 0.
    FreeShipping,
}

impl DiscountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Percentage => "percentage",
            Self::FixedAmount => "fixed_amount",
            Self::FreeShipping => "free_shipping",
        }
    }
}

impl TryFrom<String> for DiscountKind {
    type Error = AppError;

    fn try_from(value: String) -> Result<Self, AppError> {
        match value.as_str() {
            "percentage" => Ok(Self::Percentage),
            "fixed_amount" => Ok(Self::FixedAmount),
            "free_shipping" => Ok(Self::FreeShipping),
            other => Err(AppError::Internal(anyhow::anyhow!("unknown discount kind {other:?}"))),
        }
    }
}

#[derive(Debug, Clone, Object, sqlx::FromRow)]
pub struct Discount {
    pub id: Uuid,
    /// As entered; customers may type it in any case.
    pub code: String,
    #[sqlx(try_from = "String")]
    pub kind: DiscountKind,
    /// `percentage`: percent (1–100); `fixed_amount`: minor units of `currency`;
    /// `free_shipping`: 0.
    pub value: i64,
    /// The cart's subtotal must reach this (minor units) for the code to apply.
    pub min_subtotal: i64,
    /// Only lines of products in this category (or its descendants) are discounted; absent:
    /// the whole cart. A category deleted later makes the code apply to nothing.
    #[oai(nullable)]
    pub category_id: Option<Uuid>,
    /// Valid from (inclusive); absent: from creation.
    #[oai(nullable)]
    pub starts_at: Option<DateTime<Utc>>,
    /// Valid until (exclusive); absent: no end.
    #[oai(nullable)]
    pub ends_at: Option<DateTime<Utc>>,
    /// Most orders the code may be used on in total; absent: unlimited.
    #[oai(nullable)]
    pub usage_limit: Option<i32>,
    /// Most orders one customer (or guest e-mail) may use it on; absent: unlimited.
    #[oai(nullable)]
    pub per_customer_limit: Option<i32>,
    /// Orders that used it so far.
    pub used_count: i32,
    /// Inactive codes are refused at checkout.
    pub active: bool,
    /// ISO 4217 code of the amounts: the shop's currency.
    #[sqlx(skip)]
    #[oai(default)]
    pub currency: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Object)]
pub struct NewDiscount {
    /// 1–64 letters, digits, `-` or `_`; unique in the shop regardless of case.
    #[oai(validator(pattern = r"^\s*[A-Za-z0-9_-]{1,64}\s*$"))]
    pub code: String,
    pub kind: DiscountKind,
    /// `percentage`: 1–100; `fixed_amount`: minor units, more than 0; `free_shipping`: 0 or
    /// absent.
    #[oai(nullable)]
    pub value: Option<i64>,
    #[oai(default)]
    pub min_subtotal: i64,
    /// Must be an existing category.
    #[oai(nullable)]
    pub category_id: Option<Uuid>,
    #[oai(nullable)]
    pub starts_at: Option<DateTime<Utc>>,
    /// After `starts_at`.
    #[oai(nullable)]
    pub ends_at: Option<DateTime<Utc>>,
    /// 1 or more.
    #[oai(nullable)]
    pub usage_limit: Option<i32>,
    /// 1 or more.
    #[oai(nullable)]
    pub per_customer_limit: Option<i32>,
    #[oai(default = "default_true")]
    pub active: bool,
}

fn default_true() -> bool {
    true
}

/// Absent fields keep their values; `null` clears an optional one.
#[derive(Debug, Object)]
pub struct DiscountUpdate {
    #[oai(nullable)]
    #[oai(validator(pattern = r"^\s*[A-Za-z0-9_-]{1,64}\s*$"))]
    pub code: Option<String>,
    /// Changing the kind needs a new `value` (except to `free_shipping`).
    #[oai(nullable)]
    pub kind: Option<DiscountKind>,
    #[oai(nullable)]
    pub value: Option<i64>,
    #[oai(nullable)]
    pub min_subtotal: Option<i64>,
    #[oai(nullable)]
    pub category_id: MaybeUndefined<Uuid>,
    #[oai(nullable)]
    pub starts_at: MaybeUndefined<DateTime<Utc>>,
    #[oai(nullable)]
    pub ends_at: MaybeUndefined<DateTime<Utc>>,
    /// Not below `used_count`.
    #[oai(nullable)]
    pub usage_limit: MaybeUndefined<i32>,
    #[oai(nullable)]
    pub per_customer_limit: MaybeUndefined<i32>,
    #[oai(nullable)]
    pub active: Option<bool>,
}

/// A discount's fields before validation (a new one, or an existing one with changes).
#[derive(Debug, Clone)]
pub(super) struct Draft {
    pub code: String,
    pub kind: DiscountKind,
    pub value: Option<i64>,
    pub min_subtotal: i64,
    pub category_id: Option<Uuid>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub usage_limit: Option<i32>,
    pub per_customer_limit: Option<i32>,
    pub active: bool,
}

impl Draft {
    pub fn new(req: &NewDiscount) -> Self {
        Self {
            code: req.code.clone(),
            kind: req.kind,
            value: req.value,
            min_subtotal: req.min_subtotal,
            category_id: req.category_id,
            starts_at: req.starts_at,
            ends_at: req.ends_at,
            usage_limit: req.usage_limit,
            per_customer_limit: req.per_customer_limit,
            active: req.active,
        }
    }

    pub fn changed(current: &Discount, req: &DiscountUpdate) -> Self {
        fn merge<T: Copy>(patch: &MaybeUndefined<T>, current: Option<T>) -> Option<T> {
            match patch {
                MaybeUndefined::Undefined => current,
                MaybeUndefined::Null => None,
                MaybeUndefined::Value(v) => Some(*v),
            }
        }
        let kind = req.kind.unwrap_or(current.kind);
        // A new kind does not inherit the old kind's value: 10 (%) is not 10 (cents).
        let value = match req.value {
            Some(value) => Some(value),
            None if kind == current.kind => Some(current.value),
            None => None,
        };
        Self {
            code: req.code.clone().unwrap_or_else(|| current.code.clone()),
            kind,
            value,
            min_subtotal: req.min_subtotal.unwrap_or(current.min_subtotal),
            category_id: merge(&req.category_id, current.category_id),
            starts_at: merge(&req.starts_at, current.starts_at),
            ends_at: merge(&req.ends_at, current.ends_at),
            usage_limit: merge(&req.usage_limit, current.usage_limit),
            per_customer_limit: merge(&req.per_customer_limit, current.per_customer_limit),
            active: req.active.unwrap_or(current.active),
        }
    }
}

/// A discount's fields, validated.
#[derive(Debug, Clone)]
pub(super) struct DiscountFields {
    pub code: String,
    pub kind: DiscountKind,
    pub value: i64,
    pub min_subtotal: i64,
    pub category_id: Option<Uuid>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub usage_limit: Option<i32>,
    pub per_customer_limit: Option<i32>,
    pub active: bool,
}

/// A discount code: trimmed, 1–64 ASCII letters, digits, `-` or `_`.
pub fn parse_code(field: &str, raw: &str) -> AppResult<String> {
    let code = raw.trim();
    if code.is_empty() || code.len() > 64 {
        return Err(AppError::validation(field, "must be 1 to 64 characters"));
    }
    if !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(AppError::validation(field, "may contain only letters, digits, '-' and '_'"));
    }
    Ok(code.to_owned())
}

/// Checks a draft; `used_count` is the current number of uses (0 for a new code).
pub(super) fn validate(draft: Draft, used_count: i32) -> AppResult<DiscountFields> {
    let code = parse_code("code", &draft.code)?;
    let value = match (draft.kind, draft.value) {
        (DiscountKind::Percentage, Some(v @ 1..=100)) => v,
        (DiscountKind::Percentage, _) => {
            return Err(AppError::validation(
                "value",
                "a percentage discount needs a value from 1 to 100",
            ));
        }
        (DiscountKind::FixedAmount, Some(v @ 1..=MAX_AMOUNT)) => v,
        (DiscountKind::FixedAmount, _) => {
            return Err(AppError::validation(
                "value",
                "a fixed-amount discount needs a value from 1 to 10^13 minor units",
            ));
        }
        (DiscountKind::FreeShipping, None | Some(0)) => 0,
        (DiscountKind::FreeShipping, Some(_)) => {
            return Err(AppError::validation("value", "must be 0 or absent for free_shipping"));
        }
    };
    if !(0..=MAX_AMOUNT).contains(&draft.min_subtotal) {
        return Err(AppError::validation(
            "min_subtotal",
            "must be between 0 and 10^13 minor units",
        ));
    }
    crate::values::client_timestamp("starts_at", draft.starts_at)?;
    crate::values::client_timestamp("ends_at", draft.ends_at)?;
    if let (Some(starts), Some(ends)) = (draft.starts_at, draft.ends_at)
        && starts >= ends
    {
        return Err(AppError::validation("ends_at", "must be after starts_at"));
    }
    if let Some(limit) = draft.usage_limit {
        if limit < 1 {
            return Err(AppError::validation("usage_limit", "must be 1 or more"));
        }
        if limit < used_count {
            return Err(AppError::validation(
                "usage_limit",
                format!("must not be below the {used_count} uses so far"),
            ));
        }
    }
    if draft.per_customer_limit.is_some_and(|limit| limit < 1) {
        return Err(AppError::validation("per_customer_limit", "must be 1 or more"));
    }
    Ok(DiscountFields {
        code,
        kind: draft.kind,
        value,
        min_subtotal: draft.min_subtotal,
        category_id: draft.category_id,
        starts_at: draft.starts_at,
        ends_at: draft.ends_at,
        usage_limit: draft.usage_limit,
        per_customer_limit: draft.per_customer_limit,
        active: draft.active,
    })
}

pub(super) const COLUMNS: &str = "id, code, kind, value, min_subtotal, category_id, starts_at, ends_at, \
     usage_limit, per_customer_limit, used_count, active, created_at, updated_at";

/// The discount with this code, matched case-insensitively as customers type it; `lock` takes
/// its row lock (checkout counts a use under it).
pub async fn find_by_code(
    conn: &mut PgConnection,
    code: &str,
    lock: bool,
) -> AppResult<Option<Discount>> {
    let lock = if lock { " for update" } else { "" };
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from discounts where lower(code) = lower($1){lock}"
    ))
    .bind(code.trim())
    .fetch_optional(conn)
    .await?)
}

pub(super) fn not_found() -> AppError {
    AppError::not_found("discount_not_found", "no such discount")
}

/// Codes are unique in a shop, whatever their case (`discounts_code_key`).
fn code_taken(err: sqlx::Error) -> AppError {
    let mapped: Result<Infallible, AppError> = Err(err).on_constraint("discounts_code_key", |_| {
        AppError::conflict("discount_code_taken", "this shop already has a discount with this code")
    });
    mapped_error(mapped)
}

/// 422 unless the category exists in this shop.
pub(super) async fn require_category(conn: &mut PgConnection, id: Uuid) -> AppResult<()> {
    let exists: bool = sqlx::query_scalar("select exists (select 1 from categories where id = $1)")
        .bind(id)
        .fetch_one(conn)
        .await?;
    if exists { Ok(()) } else { Err(AppError::validation("category_id", "no such category")) }
}

pub(super) async fn find(conn: &mut PgConnection, id: Uuid, lock: bool) -> AppResult<Discount> {
    let lock = if lock { " for update" } else { "" };
    sqlx::query_as(&format!("select {COLUMNS} from discounts where id = $1{lock}"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(not_found)
}

pub(super) async fn insert(conn: &mut PgConnection, f: &DiscountFields) -> AppResult<Discount> {
    sqlx::query_as(&format!(
        "insert into discounts (id, code, kind, value, min_subtotal, category_id, starts_at, ends_at, \
         usage_limit, per_customer_limit, active) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         returning {COLUMNS}",
    ))
    .bind(Uuid::now_v7())
    .bind(&f.code)
    .bind(f.kind.as_str())
    .bind(f.value)
    .bind(f.min_subtotal)
    .bind(f.category_id)
    .bind(f.starts_at)
    .bind(f.ends_at)
    .bind(f.usage_limit)
    .bind(f.per_customer_limit)
    .bind(f.active)
    .fetch_one(conn)
    .await
    .map_err(code_taken)
}

pub(super) async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    f: &DiscountFields,
) -> AppResult<Discount> {
    sqlx::query_as(&format!(
        "update discounts set code = $2, kind = $3, value = $4, min_subtotal = $5, category_id = $6, \
         starts_at = $7, ends_at = $8, usage_limit = $9, per_customer_limit = $10, active = $11, \
         updated_at = now() where id = $1 returning {COLUMNS}",
    ))
    .bind(id)
    .bind(&f.code)
    .bind(f.kind.as_str())
    .bind(f.value)
    .bind(f.min_subtotal)
    .bind(f.category_id)
    .bind(f.starts_at)
    .bind(f.ends_at)
    .bind(f.usage_limit)
    .bind(f.per_customer_limit)
    .bind(f.active)
    .fetch_optional(conn)
    .await
    .map_err(code_taken)?
    .ok_or_else(not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(kind: DiscountKind, value: Option<i64>) -> Draft {
        Draft {
            code: " SUMMER-10 ".into(),
            kind,
            value,
            min_subtotal: 0,
            category_id: None,
            starts_at: None,
            ends_at: None,
            usage_limit: None,
            per_customer_limit: None,
            active: true,
        }
    }

    #[test]
    fn values_follow_the_kind() {
        assert_eq!(validate(draft(DiscountKind::Percentage, Some(100)), 0).unwrap().value, 100);
        assert!(validate(draft(DiscountKind::Percentage, Some(101)), 0).is_err());
        assert!(validate(draft(DiscountKind::Percentage, None), 0).is_err());
        assert!(validate(draft(DiscountKind::FixedAmount, Some(0)), 0).is_err());
        assert_eq!(validate(draft(DiscountKind::FreeShipping, None), 0).unwrap().value, 0);
        assert!(validate(draft(DiscountKind::FreeShipping, Some(5)), 0).is_err());
        assert_eq!(
            validate(draft(DiscountKind::FixedAmount, Some(500)), 0).unwrap().code,
            "SUMMER-10"
        );
    }

    #[test]
    fn codes_are_plain_ascii_words() {
        assert_eq!(parse_code("code", " abc_DEF-1 ").unwrap(), "abc_DEF-1");
        for bad in ["", "   ", "with space", "ÉTÉ", "50%", &"x".repeat(65)] {
            assert!(parse_code("code", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_usage_limit_cannot_drop_below_the_uses_so_far() {
        let d = Draft { usage_limit: Some(3), ..draft(DiscountKind::Percentage, Some(10)) };
        assert!(validate(d.clone(), 3).is_ok());
        assert!(validate(d, 4).is_err());
    }
}
