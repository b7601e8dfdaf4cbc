//! Placeholder until the address book lands (branch `customers`): the address input type and
//! its validation, shared with checkout.

use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::values::parse_name;

#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
pub struct AddressInput {
    pub name: String,
    pub line1: String,
    #[oai(default)]
    #[serde(default)]
    pub line2: String,
    pub city: String,
    #[oai(default)]
    #[serde(default)]
    pub region: String,
    pub postal_code: String,
    pub country: String,
    #[oai(default)]
    #[serde(default)]
    pub phone: String,
}

pub fn validate_address(field_prefix: &str, input: &AddressInput) -> AppResult<AddressInput> {
    let f = |name: &str| format!("{field_prefix}.{name}");
    let country = input.country.trim().to_ascii_uppercase();
    if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(AppError::validation(f("country"), "must be an ISO 3166-1 alpha-2 code"));
    }
    Ok(AddressInput {
        name: parse_name(&f("name"), &input.name, 200)?,
        line1: parse_name(&f("line1"), &input.line1, 200)?,
        line2: input.line2.trim().to_owned(),
        city: parse_name(&f("city"), &input.city, 100)?,
        region: input.region.trim().to_owned(),
        postal_code: parse_name(&f("postal_code"), &input.postal_code, 20)?,
        country,
        phone: input.phone.trim().to_owned(),
    })
}
