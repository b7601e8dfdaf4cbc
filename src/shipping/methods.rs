//! Shipping methods: types, validation and SQL.
//!
//! Deleting a method is allowed at any time: orders keep their own snapshot
//! (`shipping_method_name`, `shipping_total`), and a cart that had chosen it (`carts
//! .shipping_method_id`, no foreign key) must choose again at checkout.

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use poem_openapi::types::MaybeUndefined;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::pricing::ShippingRule;
use crate::values::{Country, Name};

/// 10^13 minor units: far above any real price, far below i64 overflow when summed.
pub(super) const MAX_AMOUNT: i64 = 10_000_000_000_000;
/// Most shipping methods one shop may define, so that listing them needs no pages.
pub(super) const MAX_METHODS: i64 = 100;

#[derive(Debug, Clone, Object, serde::Serialize, sqlx::FromRow)]
pub struct ShippingMethod {
    pub id: Uuid,
    pub name: String,
    /// Flat rate in minor units of `currency`.
    pub price: i64,
    /// Free when the cart's subtotal (after discounts) is at least this; absent: never free.
    #[oai(nullable)]
    pub free_above: Option<i64>,
    /// ISO 3166-1 alpha-2 codes it ships to; empty: everywhere.
    pub countries: Vec<String>,
    /// Only active methods are offered on the storefront.
    pub active: bool,
    /// Lower first.
    pub position: i32,
    /// ISO 4217 code of `price` and `free_above`: the shop's currency.
    #[sqlx(skip)]
    #[oai(default)]
    pub currency: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Object)]
pub struct NewShippingMethod {
    /// 1–100 characters, e.g. "Standard (3–5 days)".
    #[oai(validator(
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: String,
    /// Flat rate in minor units, 0 or more.
    #[oai(validator(minimum(value = "0"), maximum(value = "10000000000000")))]
    pub price: i64,
    /// Free when the subtotal after discounts reaches this (minor units).
    #[oai(nullable)]
    #[oai(validator(minimum(value = "0"), maximum(value = "10000000000000")))]
    pub free_above: Option<i64>,
    /// ISO 3166-1 alpha-2 codes it ships to (any case); empty or absent: everywhere.
    #[oai(default)]
    pub countries: Vec<String>,
    #[oai(default = "default_true")]
    pub active: bool,
    #[oai(default)]
    pub position: i32,
}

fn default_true() -> bool {
    true
}

/// Absent fields keep their values.
#[derive(Debug, Object)]
pub struct ShippingMethodUpdate {
    #[oai(nullable)]
    #[oai(validator(
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: Option<String>,
    #[oai(nullable)]
    #[oai(validator(minimum(value = "0"), maximum(value = "10000000000000")))]
    pub price: Option<i64>,
    /// `null` removes the free-shipping threshold.
    #[oai(nullable)]
    #[oai(validator(minimum(value = "0"), maximum(value = "10000000000000")))]
    pub free_above: MaybeUndefined<i64>,
    /// The complete new list; empty: everywhere.
    #[oai(nullable)]
    pub countries: Option<Vec<String>>,
    #[oai(nullable)]
    pub active: Option<bool>,
    #[oai(nullable)]
    pub position: Option<i32>,
}

/// A method's fields, validated.
pub(super) struct MethodFields {
    pub name: String,
    pub price: i64,
    pub free_above: Option<i64>,
    pub countries: Vec<String>,
    pub active: bool,
    pub position: i32,
}

fn amount(field: &str, value: i64) -> AppResult<i64> {
    if (0..=MAX_AMOUNT).contains(&value) {
        Ok(value)
    } else {
        Err(AppError::validation(field, "must be between 0 and 10^13 minor units"))
    }
}

/// Upper-cased, known, without duplicates, in the order given.
fn countries(raw: &[String]) -> AppResult<Vec<String>> {
    if raw.len() > 250 {
        return Err(AppError::validation("countries", "at most 250 countries"));
    }
    let mut clean: Vec<String> = Vec::with_capacity(raw.len());
    for (i, code) in raw.iter().enumerate() {
        let code: String = Country::parse(&format!("countries[{i}]"), code)?.into();
        if !clean.contains(&code) {
            clean.push(code);
        }
    }
    Ok(clean)
}

impl MethodFields {
    pub fn from_new(req: &NewShippingMethod) -> AppResult<Self> {
        Ok(Self {
            name: Name::parse("name", &req.name, 100)?.into(),
            price: amount("price", req.price)?,
            free_above: req.free_above.map(|v| amount("free_above", v)).transpose()?,
            countries: countries(&req.countries)?,
            active: req.active,
            position: req.position,
        })
    }

    pub fn from_update(current: ShippingMethod, req: &ShippingMethodUpdate) -> AppResult<Self> {
        Ok(Self {
            name: req
                .name
                .as_deref()
                .map(|n| Name::parse("name", n, 100).map(String::from))
                .transpose()?
                .unwrap_or(current.name),
            price: req.price.map(|p| amount("price", p)).transpose()?.unwrap_or(current.price),
            free_above: match &req.free_above {
                MaybeUndefined::Undefined => current.free_above,
                MaybeUndefined::Null => None,
                MaybeUndefined::Value(v) => Some(amount("free_above", *v)?),
            },
            countries: req
                .countries
                .as_deref()
                .map(countries)
                .transpose()?
                .unwrap_or(current.countries),
            active: req.active.unwrap_or(current.active),
            position: req.position.unwrap_or(current.position),
        })
    }
}

const COLUMNS: &str =
    "id, name, price, free_above, countries, active, position, created_at, updated_at";

fn not_found() -> AppError {
    AppError::not_found("shipping_method_not_found", "no such shipping method")
}

/// Every method, in display order.
pub async fn list(conn: &mut PgConnection) -> AppResult<Vec<ShippingMethod>> {
    Ok(sqlx::query_as(&format!("select {COLUMNS} from shipping_methods order by position, id"))
        .fetch_all(conn)
        .await?)
}

/// The active methods that ship to `country` (all active ones when `None`), in display order.
pub async fn list_active(
    conn: &mut PgConnection,
    country: Option<&str>,
) -> AppResult<Vec<ShippingMethod>> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from shipping_methods \
         where active and ($1::text is null or cardinality(countries) = 0 or $1 = any(countries)) \
         order by position, id",
    ))
    .bind(country)
    .fetch_all(conn)
    .await?)
}

/// One method, whatever its state (checkout checks `active` and `countries` itself).
pub async fn find(conn: &mut PgConnection, id: Uuid) -> AppResult<ShippingMethod> {
    get(conn, id).await?.ok_or_else(not_found)
}

/// One method if it exists, whatever its state (a cart shows a method that went away).
pub async fn get(conn: &mut PgConnection, id: Uuid) -> AppResult<Option<ShippingMethod>> {
    Ok(sqlx::query_as(&format!("select {COLUMNS} from shipping_methods where id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

impl ShippingMethod {
    /// What pricing needs of the method.
    pub fn rule(&self) -> ShippingRule {
        ShippingRule { price: self.price, free_above: self.free_above }
    }

    pub fn ships_to(&self, country: &str) -> bool {
        self.countries.is_empty() || self.countries.iter().any(|c| c == country)
    }
}

pub(super) async fn find_for_update(
    conn: &mut PgConnection,
    id: Uuid,
) -> AppResult<ShippingMethod> {
    sqlx::query_as(&format!("select {COLUMNS} from shipping_methods where id = $1 for update"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(not_found)
}

pub(super) async fn insert(
    conn: &mut PgConnection,
    fields: &MethodFields,
) -> AppResult<ShippingMethod> {
    // Serialises concurrent creations, so that the limit holds.
    sqlx::query("lock table shipping_methods in share row exclusive mode")
        .execute(&mut *conn)
        .await?;
    let existing: i64 =
        sqlx::query_scalar("select count(*) from shipping_methods").fetch_one(&mut *conn).await?;
    if existing >= MAX_METHODS {
        return Err(AppError::unprocessable(
            "too_many_shipping_methods",
            format!("a shop can have at most {MAX_METHODS} shipping methods"),
        ));
    }
    Ok(sqlx::query_as(&format!(
        "insert into shipping_methods (id, name, price, free_above, countries, active, position) \
         values ($1, $2, $3, $4, $5, $6, $7) returning {COLUMNS}",
    ))
    .bind(Uuid::now_v7())
    .bind(&fields.name)
    .bind(fields.price)
    .bind(fields.free_above)
    .bind(&fields.countries)
    .bind(fields.active)
    .bind(fields.position)
    .fetch_one(conn)
    .await?)
}

pub(super) async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    fields: &MethodFields,
) -> AppResult<ShippingMethod> {
    sqlx::query_as(&format!(
        "update shipping_methods set name = $2, price = $3, free_above = $4, countries = $5, active = $6, \
         position = $7, updated_at = now() where id = $1 returning {COLUMNS}",
    ))
    .bind(id)
    .bind(&fields.name)
    .bind(fields.price)
    .bind(fields.free_above)
    .bind(&fields.countries)
    .bind(fields.active)
    .bind(fields.position)
    .fetch_optional(conn)
    .await?
    .ok_or_else(not_found)
}

pub(super) async fn delete(conn: &mut PgConnection, id: Uuid) -> AppResult<()> {
    let deleted =
        sqlx::query("delete from shipping_methods where id = $1").bind(id).execute(conn).await?;
    if deleted.rows_affected() == 0 {
        return Err(not_found());
    }
    Ok(())
}
