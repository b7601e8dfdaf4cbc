//! Product input, and its validation: options, variants and category lists, checked before
//! anything is written. Pure functions, unit-tested.

use std::collections::HashSet;

use poem_openapi::Object;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::values::Name;

#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
pub struct ProductOption {
    /// e.g. `Size`.
    pub name: String,
    /// e.g. `["S", "M", "L"]`, in display order.
    pub values: Vec<String>,
}

/// A variant as written by the admin API; `id` names an existing variant to update.
#[derive(serde::Serialize, Debug, Clone, Object)]
pub struct NewVariant {
    /// Present to update an existing variant of this product; absent to add one.
    #[oai(nullable)]
    pub id: Option<Uuid>,
    #[oai(nullable)]
    pub sku: Option<String>,
    /// Generated from the option values when absent.
    #[oai(nullable)]
    pub title: Option<String>,
    /// Minor units, e.g. 1999 for 19.99 USD.
    pub price: i64,
    #[oai(nullable)]
    pub compare_at_price: Option<i64>,
    /// Units in stock, 0–10^9. A new variant without it starts at 0; an existing variant
    /// (with `id`) without it keeps its stock, so editing a price never touches inventory.
    #[oai(nullable)]
    pub stock: Option<i32>,
    #[oai(default)]
    pub option_values: Vec<String>,
}

const MAX_OPTIONS: usize = 3;
const MAX_VARIANTS: usize = 100;
/// 10^13 minor units: far above any real price, far below i64 overflow when summed.
const MAX_PRICE: i64 = 10_000_000_000_000;
const MAX_STOCK: i32 = 1_000_000_000;

pub(super) fn validate_options(options: &[ProductOption]) -> AppResult<Vec<ProductOption>> {
    if options.len() > MAX_OPTIONS {
        return Err(AppError::validation("options", format!("at most {MAX_OPTIONS} options")));
    }
    let mut names = HashSet::new();
    let mut clean = Vec::with_capacity(options.len());
    for (i, option) in options.iter().enumerate() {
        let name = Name::parse(&format!("options[{i}].name"), &option.name, 50)?;
        if !names.insert(name.to_lowercase()) {
            return Err(AppError::validation(
                format!("options[{i}].name"),
                "option names must be unique",
            ));
        }
        if option.values.is_empty() || option.values.len() > MAX_VARIANTS {
            return Err(AppError::validation(
                format!("options[{i}].values"),
                format!("1 to {MAX_VARIANTS} values"),
            ));
        }
        let mut values = Vec::with_capacity(option.values.len());
        for value in &option.values {
            let value: String = Name::parse(&format!("options[{i}].values"), value, 100)?.into();
            if values.contains(&value) {
                return Err(AppError::validation(
                    format!("options[{i}].values"),
                    format!("'{value}' is listed twice"),
                ));
            }
            values.push(value);
        }
        clean.push(ProductOption { name: name.into(), values });
    }
    Ok(clean)
}

/// A variant after validation.
pub(super) struct CleanVariant {
    pub(super) id: Option<Uuid>,
    pub(super) sku: Option<String>,
    pub(super) title: String,
    pub(super) price: i64,
    pub(super) compare_at_price: Option<i64>,
    /// `None`: 0 for a new variant, unchanged for an existing one.
    pub(super) stock: Option<i32>,
    pub(super) option_values: Vec<String>,
}

pub(super) fn validate_variants(
    options: &[ProductOption],
    variants: &[NewVariant],
) -> AppResult<Vec<CleanVariant>> {
    if variants.is_empty() || variants.len() > MAX_VARIANTS {
        return Err(AppError::validation("variants", format!("1 to {MAX_VARIANTS} variants")));
    }
    if options.is_empty() && variants.len() > 1 {
        return Err(AppError::validation(
            "variants",
            "a product without options has exactly one variant",
        ));
    }
    let mut combinations = HashSet::new();
    let mut skus = HashSet::new();
    let mut clean = Vec::with_capacity(variants.len());
    for (i, v) in variants.iter().enumerate() {
        let field = |name: &str| format!("variants[{i}].{name}");
        if !(0..=MAX_PRICE).contains(&v.price) {
            return Err(AppError::validation(
                field("price"),
                "must be between 0 and 10^13 minor units",
            ));
        }
        if v.compare_at_price.is_some_and(|p| !(0..=MAX_PRICE).contains(&p)) {
            return Err(AppError::validation(
                field("compare_at_price"),
                "must be between 0 and 10^13 minor units",
            ));
        }
        if v.stock.is_some_and(|stock| !(0..=MAX_STOCK).contains(&stock)) {
            return Err(AppError::validation(field("stock"), "must be between 0 and 10^9"));
        }
        let values: Vec<String> = v.option_values.iter().map(|s| s.trim().to_owned()).collect();
        if values.len() != options.len() {
            return Err(AppError::validation(
                field("option_values"),
                format!("needs exactly {} values, one per option", options.len()),
            ));
        }
        for (value, option) in values.iter().zip(options) {
            if !option.values.contains(value) {
                return Err(AppError::validation(
                    field("option_values"),
                    format!("'{value}' is not a value of {}", option.name),
                ));
            }
        }
        if !combinations.insert(values.clone()) {
            return Err(AppError::validation(
                field("option_values"),
                "another variant has the same option values",
            ));
        }
        let sku = v.sku.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        if let Some(sku) = &sku {
            if sku.len() > 64 || sku.chars().any(char::is_control) {
                return Err(AppError::validation(field("sku"), "at most 64 printable characters"));
            }
            if !skus.insert(sku.to_lowercase()) {
                return Err(AppError::validation(field("sku"), "two variants have the same SKU"));
            }
        }
        let title = match v.title.as_deref() {
            Some(title) => Name::parse(&field("title"), title, 200)?.into(),
            None if values.is_empty() => "Default".to_owned(),
            None => values.join(" / "),
        };
        clean.push(CleanVariant {
            id: v.id,
            sku,
            title,
            price: v.price,
            compare_at_price: v.compare_at_price,
            stock: v.stock,
            option_values: values,
        });
    }
    Ok(clean)
}

pub(super) fn dedup_categories(ids: &[Uuid]) -> Vec<Uuid> {
    let mut seen = HashSet::new();
    ids.iter().copied().filter(|id| seen.insert(*id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(price: i64, values: &[&str]) -> NewVariant {
        NewVariant {
            id: None,
            sku: None,
            title: None,
            price,
            compare_at_price: None,
            stock: Some(1),
            option_values: values.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn size_colour() -> Vec<ProductOption> {
        vec![
            ProductOption { name: "Size".into(), values: vec!["S".into(), "M".into()] },
            ProductOption { name: "Colour".into(), values: vec!["Red".into()] },
        ]
    }

    #[test]
    fn variants_must_pick_one_known_value_per_option() {
        let options = size_colour();
        let ok = validate_variants(
            &options,
            &[variant(100, &["S", "Red"]), variant(120, &["M", "Red"])],
        )
        .unwrap();
        assert_eq!(ok[1].title, "M / Red");
        for bad in [
            vec![variant(100, &["S"])],
            vec![variant(100, &["XL", "Red"])],
            vec![variant(100, &["S", "Red"]), variant(100, &["S", "Red"])],
            vec![variant(-1, &["S", "Red"])],
            vec![],
        ] {
            assert!(validate_variants(&options, &bad).is_err());
        }
    }

    #[test]
    fn product_without_options_has_one_default_variant() {
        let ok = validate_variants(&[], &[variant(500, &[])]).unwrap();
        assert_eq!(ok[0].title, "Default");
        assert!(validate_variants(&[], &[variant(500, &[]), variant(600, &[])]).is_err());
    }

    #[test]
    fn options_are_bounded_and_unique() {
        let dup = vec![
            ProductOption { name: "Size".into(), values: vec!["S".into()] },
            ProductOption { name: "size".into(), values: vec!["M".into()] },
        ];
        assert!(validate_options(&dup).is_err());
        let repeated =
            vec![ProductOption { name: "Size".into(), values: vec!["S".into(), "S".into()] }];
        assert!(validate_options(&repeated).is_err());
        let four: Vec<_> = (0..4)
            .map(|i| ProductOption { name: format!("O{i}"), values: vec!["x".into()] })
            .collect();
        assert!(validate_options(&four).is_err());
    }
}
