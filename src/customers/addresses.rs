//! Postal addresses: the input type and its validation, shared by a customer's address book and
//! by checkout's shipping address, and the address book's SQL.
//!
//! Rule: an address reaches the database (or an order's `shipping_address` snapshot) only as the
//! value [`validate_address`] returned: trimmed, within limits, country upper-cased and known.

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::values::{Country, Name};

/// Most addresses one customer may keep.
pub const MAX_ADDRESSES_PER_CUSTOMER: i64 = 50;

/// A postal address as a client sends it (and as checkout stores it in an order).
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
pub struct AddressInput {
    /// Recipient's full name, 1–200 characters.
    pub name: String,
    /// Street and number, 1–200 characters.
    pub line1: String,
    /// Apartment, suite, floor…; up to 200 characters.
    #[oai(default)]
    #[serde(default)]
    pub line2: String,
    /// 1–100 characters.
    pub city: String,
    /// State, province or region; up to 100 characters.
    #[oai(default)]
    #[serde(default)]
    pub region: String,
    /// 1–20 characters.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 code, e.g. `VN`, `US`; any case, stored upper-case.
    pub country: String,
    /// Up to 32 characters: digits, spaces and `+ - ( ) .`.
    #[oai(default)]
    #[serde(default)]
    pub phone: String,
}

fn field_name(prefix: &str, field: &str) -> String {
    if prefix.is_empty() { field.to_owned() } else { format!("{prefix}.{field}") }
}

/// Trimmed text that may be empty, at most `max` characters, no control characters.
fn optional_text(field: String, raw: &str, max: usize) -> AppResult<String> {
    let value = raw.trim();
    if value.chars().count() > max {
        return Err(AppError::validation(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(AppError::validation(field, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

/// Checks an address and returns it cleaned (trimmed, country upper-cased).
///
/// `field_prefix` names the address in error fields: `validate_address("shipping_address", …)`
/// reports `shipping_address.city`; an empty prefix reports plain `city`. Errors are 422
/// `validation_failed` with that field.
pub fn validate_address(field_prefix: &str, input: &AddressInput) -> AppResult<AddressInput> {
    let f = |name: &str| field_name(field_prefix, name);
    let phone = optional_text(f("phone"), &input.phone, 32)?;
    if !phone.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) {
        return Err(AppError::validation(
            f("phone"),
            "may contain only digits, spaces and + - ( ) .",
        ));
    }
    if !phone.is_empty() && !phone.chars().any(|c| c.is_ascii_digit()) {
        return Err(AppError::validation(f("phone"), "must contain digits"));
    }
    Ok(AddressInput {
        name: Name::parse(&f("name"), &input.name, 200)?.into(),
        line1: Name::parse(&f("line1"), &input.line1, 200)?.into(),
        line2: optional_text(f("line2"), &input.line2, 200)?,
        city: Name::parse(&f("city"), &input.city, 100)?.into(),
        region: optional_text(f("region"), &input.region, 100)?,
        postal_code: Name::parse(&f("postal_code"), &input.postal_code, 20)?.into(),
        country: Country::parse(&f("country"), &input.country)?.into(),
        phone,
    })
}

/// An address in a customer's address book.
#[derive(Debug, Clone, Object, Serialize, sqlx::FromRow)]
pub struct Address {
    pub id: Uuid,
    pub name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    pub phone: String,
    /// The address checkout offers first. A customer with addresses has exactly one default.
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Address {
    /// The address fields alone, as an input to change and validate again.
    pub fn input(&self) -> AddressInput {
        AddressInput {
            name: self.name.clone(),
            line1: self.line1.clone(),
            line2: self.line2.clone(),
            city: self.city.clone(),
            region: self.region.clone(),
            postal_code: self.postal_code.clone(),
            country: self.country.clone(),
            phone: self.phone.clone(),
        }
    }
}

const COLUMNS: &str = "id, name, line1, line2, city, region, postal_code, country, phone, is_default, created_at, updated_at";

pub(crate) fn address_not_found() -> AppError {
    AppError::not_found("address_not_found", "no such address")
}

/// The customer's addresses: the default first, then oldest first.
pub async fn list(conn: &mut PgConnection, customer: Uuid) -> AppResult<Vec<Address>> {
    let rows = sqlx::query_as(&format!(
        "select {COLUMNS} from customer_addresses where customer_id = $1 order by is_default desc, created_at, id",
    ))
    .bind(customer)
    .fetch_all(conn)
    .await?;
    Ok(rows)
}

/// One of the customer's addresses, locked for change; another customer's is not found.
pub async fn find_for_update(
    conn: &mut PgConnection,
    customer: Uuid,
    id: Uuid,
) -> AppResult<Address> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from customer_addresses where id = $1 and customer_id = $2 for update"
    ))
    .bind(id)
    .bind(customer)
    .fetch_optional(conn)
    .await?
    .ok_or_else(address_not_found)
}

/// Locks the customer's row, so that concurrent changes to one address book (the 50-address
/// limit, the single default) run one after the other. 401 if the account is gone.
pub async fn lock_customer(conn: &mut PgConnection, customer: Uuid) -> AppResult<()> {
    sqlx::query_scalar::<_, Uuid>("select id from customers where id = $1 for update")
        .bind(customer)
        .fetch_optional(&mut *conn)
        .await?
        .map(|_| ())
        .ok_or_else(|| AppError::unauthorized("invalid_token", "this account no longer exists"))
}

pub async fn count(conn: &mut PgConnection, customer: Uuid) -> AppResult<i64> {
    Ok(sqlx::query_scalar("select count(*) from customer_addresses where customer_id = $1")
        .bind(customer)
        .fetch_one(conn)
        .await?)
}

/// Clears the customer's default flag (before another address takes it).
pub async fn clear_default(conn: &mut PgConnection, customer: Uuid) -> AppResult<()> {
    sqlx::query("update customer_addresses set is_default = false, updated_at = now() where customer_id = $1 and is_default")
        .bind(customer)
        .execute(conn)
        .await?;
    Ok(())
}

/// Adds an address to the customer's book (at most [`MAX_ADDRESSES_PER_CUSTOMER`]); the first
/// one, or one with `make_default`, becomes the default.
pub async fn add(
    conn: &mut PgConnection,
    customer: Uuid,
    input: &AddressInput,
    make_default: bool,
) -> AppResult<Address> {
    let address = validate_address("", input)?;
    lock_customer(conn, customer).await?;
    let existing = count(conn, customer).await?;
    if existing >= MAX_ADDRESSES_PER_CUSTOMER {
        return Err(AppError::unprocessable(
            "too_many_addresses",
            format!(
                "a customer can keep at most {MAX_ADDRESSES_PER_CUSTOMER} addresses; delete one first"
            ),
        ));
    }
    let is_default = make_default || existing == 0;
    if is_default {
        clear_default(conn, customer).await?;
    }
    insert(conn, customer, &address, is_default).await
}

pub async fn insert(
    conn: &mut PgConnection,
    customer: Uuid,
    address: &AddressInput,
    is_default: bool,
) -> AppResult<Address> {
    Ok(sqlx::query_as(&format!(
        "insert into customer_addresses \
         (id, customer_id, name, line1, line2, city, region, postal_code, country, phone, is_default) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) returning {COLUMNS}",
    ))
    .bind(Uuid::now_v7())
    .bind(customer)
    .bind(&address.name)
    .bind(&address.line1)
    .bind(&address.line2)
    .bind(&address.city)
    .bind(&address.region)
    .bind(&address.postal_code)
    .bind(&address.country)
    .bind(&address.phone)
    .bind(is_default)
    .fetch_one(conn)
    .await?)
}

pub async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    address: &AddressInput,
    is_default: bool,
) -> AppResult<Address> {
    Ok(sqlx::query_as(&format!(
        "update customer_addresses set name = $2, line1 = $3, line2 = $4, city = $5, region = $6, \
         postal_code = $7, country = $8, phone = $9, is_default = $10, updated_at = now() \
         where id = $1 returning {COLUMNS}",
    ))
    .bind(id)
    .bind(&address.name)
    .bind(&address.line1)
    .bind(&address.line2)
    .bind(&address.city)
    .bind(&address.region)
    .bind(&address.postal_code)
    .bind(&address.country)
    .bind(&address.phone)
    .bind(is_default)
    .fetch_one(conn)
    .await?)
}

/// Deletes an address; when it was the default, the newest remaining address becomes the default.
pub async fn delete(conn: &mut PgConnection, customer: Uuid, id: Uuid) -> AppResult<()> {
    lock_customer(conn, customer).await?;
    let was_default: bool = sqlx::query_scalar(
        "delete from customer_addresses where id = $1 and customer_id = $2 returning is_default",
    )
    .bind(id)
    .bind(customer)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(address_not_found)?;
    if was_default {
        sqlx::query(
            "update customer_addresses set is_default = true, updated_at = now() where id = \
             (select id from customer_addresses where customer_id = $1 order by created_at desc, id desc limit 1)",
        )
        .bind(customer)
        .execute(conn)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> AddressInput {
        AddressInput {
            name: " Tina Tran ".into(),
            line1: "12 Hang Bac".into(),
            line2: String::new(),
            city: "Ha Noi".into(),
            region: String::new(),
            postal_code: "100000".into(),
            country: "vn".into(),
            phone: "+84 90 123 4567".into(),
        }
    }

    #[test]
    fn a_valid_address_comes_back_cleaned() {
        let clean = validate_address("shipping_address", &input()).unwrap();
        assert_eq!(clean.name, "Tina Tran");
        assert_eq!(clean.country, "VN");
    }

    #[test]
    fn errors_name_the_field_under_the_prefix() {
        let field = |result: AppResult<AddressInput>| match result {
            Err(AppError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        };
        let bad = AddressInput { city: "  ".into(), ..input() };
        assert_eq!(field(validate_address("shipping_address", &bad)), "shipping_address.city");
        let bad = AddressInput { country: "UK".into(), ..input() };
        assert_eq!(field(validate_address("", &bad)), "country");
        let bad = AddressInput { phone: "call me".into(), ..input() };
        assert_eq!(field(validate_address("", &bad)), "phone");
        let bad = AddressInput { postal_code: "1".repeat(21), ..input() };
        assert_eq!(field(validate_address("", &bad)), "postal_code");
    }
}
