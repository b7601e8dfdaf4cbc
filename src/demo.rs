//! `shopfleet seed-demo`: two demo shops, `tinashop` (clothing, VND) and `micocah` (coffee,
//! USD), each with an owner, a small category tree, about twenty products with variants, two
//! shipping methods, a tax setting and a `WELCOME10` discount code: ready to check out.
//! Idempotent: a shop that exists already is left as it is (except that one seeded before
//! checkout existed gets the checkout data).

use anyhow::Context;
use uuid::Uuid;

use crate::auth::password;
use crate::catalog::{NewProduct, NewVariant, ProductOption, create_product};
use crate::commands::cli_error;
use crate::platform::provisioning::{NewShop, provision};
use crate::tenancy::DbPool;
use crate::tenancy::registry::load_tenants;
use crate::tenancy::{ShopId, Slug, Tenant, TenantTx, migrate};

/// Demo shop: slug, name, currency, owner e-mail, owner password.
pub const DEMO_SHOPS: &[(&str, &str, &str, &str, &str)] = &[
    ("tinashop", "Tina Shop", "VND", "owner@tinashop.test", "tinashop-demo-2026"),
    ("micocah", "Mi Cocah Coffee", "USD", "owner@micocah.test", "micocah-demo-2026"),
];

struct DemoCategory {
    name: &'static str,
    slug: &'static str,
    parent: Option<&'static str>,
}

fn categories(slug: &str) -> Vec<DemoCategory> {
    let c = |name, slug, parent| DemoCategory { name, slug, parent };
    match slug {
        "tinashop" => vec![
            c("Tops", "tops", None),
            c("T-shirts", "t-shirts", Some("tops")),
            c("Shirts", "shirts", Some("tops")),
            c("Bottoms", "bottoms", None),
            c("Accessories", "accessories", None),
        ],
        _ => vec![
            c("Coffee", "coffee", None),
            c("Single origin", "single-origin", Some("coffee")),
            c("Blends", "blends", Some("coffee")),
            c("Tea", "tea", None),
            c("Brewing gear", "brewing-gear", None),
        ],
    }
}

/// (name, category slug, base price in minor units, options)
fn products(slug: &str) -> Vec<(String, &'static str, i64, Vec<ProductOption>)> {
    let opt = |name: &str, values: &[&str]| ProductOption {
        name: name.into(),
        values: values.iter().map(|v| (*v).into()).collect(),
    };
    match slug {
        "tinashop" => {
            let sizes = opt("Size", &["S", "M", "L", "XL"]);
            let colours = opt("Colour", &["White", "Black", "Navy"]);
            let mut list = Vec::new();
            for (i, name) in [
                "Classic Crew Tee",
                "Linen Blend Tee",
                "Striped Boat Tee",
                "Pocket Tee",
                "Organic Cotton Tee",
                "Oversized Tee",
                "Henley Tee",
            ]
            .iter()
            .enumerate()
            {
                list.push((
                    name.to_string(),
                    "t-shirts",
                    159_000 + 20_000 * i as i64,
                    vec![sizes.clone(), colours.clone()],
                ));
            }
            for (i, name) in
                ["Oxford Shirt", "Linen Shirt", "Flannel Shirt", "Denim Shirt", "Poplin Shirt"]
                    .iter()
                    .enumerate()
            {
                list.push((
                    name.to_string(),
                    "shirts",
                    349_000 + 30_000 * i as i64,
                    vec![sizes.clone()],
                ));
            }
            for (i, name) in
                ["Chino Trousers", "Linen Shorts", "Slim Jeans", "Jogger Pants"].iter().enumerate()
            {
                list.push((
                    name.to_string(),
                    "bottoms",
                    399_000 + 50_000 * i as i64,
                    vec![opt("Waist", &["28", "30", "32", "34"])],
                ));
            }
            for (i, name) in
                ["Canvas Tote", "Bucket Hat", "Leather Belt", "Wool Socks"].iter().enumerate()
            {
                list.push((name.to_string(), "accessories", 99_000 + 40_000 * i as i64, vec![]));
            }
            list
        }
        _ => {
            let weights = opt("Weight", &["250g", "1kg"]);
            let grind = opt("Grind", &["Whole bean", "Filter", "Espresso"]);
            let mut list = Vec::new();
            for (i, name) in [
                "Ethiopia Yirgacheffe",
                "Colombia Huila",
                "Kenya Nyeri",
                "Guatemala Antigua",
                "Vietnam Da Lat Arabica",
                "Brazil Cerrado",
            ]
            .iter()
            .enumerate()
            {
                list.push((
                    name.to_string(),
                    "single-origin",
                    1_400 + 150 * i as i64,
                    vec![weights.clone(), grind.clone()],
                ));
            }
            for (i, name) in
                ["House Espresso Blend", "Morning Blend", "Decaf Blend", "Robusta Phin Blend"]
                    .iter()
                    .enumerate()
            {
                list.push((
                    name.to_string(),
                    "blends",
                    1_200 + 100 * i as i64,
                    vec![weights.clone(), grind.clone()],
                ));
            }
            for (i, name) in
                ["Sencha Green Tea", "Oolong Tea", "Jasmine Tea", "Earl Grey"].iter().enumerate()
            {
                list.push((
                    name.to_string(),
                    "tea",
                    900 + 120 * i as i64,
                    vec![opt("Size", &["50g", "100g"])],
                ));
            }
            for (i, name) in [
                "Vietnamese Phin Filter",
                "Pour-over Dripper",
                "Hand Grinder",
                "Gooseneck Kettle",
                "Glass Server",
                "Paper Filters (100)",
            ]
            .iter()
            .enumerate()
            {
                list.push((name.to_string(), "brewing-gear", 1_500 + 1_800 * i as i64, vec![]));
            }
            list
        }
    }
}

/// Every combination of the options' values, in order.
fn combinations(options: &[ProductOption]) -> Vec<Vec<String>> {
    options.iter().fold(vec![Vec::new()], |acc, option| {
        acc.iter()
            .flat_map(|prefix| {
                option.values.iter().map(move |v| [prefix.clone(), vec![v.clone()]].concat())
            })
            .collect()
    })
}

pub async fn seed(pool: &DbPool) -> anyhow::Result<()> {
    let migrations = migrate::embedded();
    for (slug, name, currency, email, pass) in DEMO_SHOPS {
        let exists: bool = sqlx::query_scalar(
            "select exists (select 1 from platform.shops where slug = $1 and status <> 'purged')",
        )
        .bind(slug)
        .fetch_one(pool)
        .await?;
        if exists {
            complete_existing(pool, slug, currency).await?;
            continue;
        }
        let new_shop = NewShop {
            id: ShopId::generate(),
            slug: Slug::parse(slug).map_err(anyhow::Error::msg)?,
            name: (*name).to_owned(),
            currency: (*currency).to_owned(),
            plan: "pro".to_owned(),
            owner_email: (*email).to_owned(),
            owner_name: "Demo Owner".to_owned(),
            owner_password_hash: password::hash((*pass).to_owned()).await.map_err(cli_error)?,
        };
        let shop = provision(pool, &migrations, &new_shop).await.map_err(cli_error)?;

        let mut tx = TenantTx::begin(pool, &shop.tenant).await?;
        let category_ids = seed_categories(&mut tx, slug).await?;
        let count = seed_products(&mut tx, &shop.tenant, name, currency, &category_ids).await?;
        seed_checkout(&mut tx, currency).await?;
        tx.commit().await.context("committing the demo catalog")?;
        println!("{slug}: created with {count} products (owner {email} / {pass})");
    }
    Ok(())
}

/// A demo shop seeded before checkout existed gets its settings; anything else is left.
async fn complete_existing(pool: &DbPool, slug: &str, currency: &str) -> anyhow::Result<()> {
    let mut added = false;
    if let Some(tenant) = load_tenants(pool, &["active"], None, Some(slug)).await?.pop() {
        let mut tx = TenantTx::begin(pool, &tenant).await?;
        added = sqlx::query_scalar("select not exists (select 1 from shipping_methods)")
            .fetch_one(&mut *tx)
            .await?;
        if added {
            seed_checkout(&mut tx, currency).await?;
        }
        tx.commit().await?;
    }
    if added {
        println!("{slug}: exists; shipping methods, tax and WELCOME10 added");
    } else {
        println!("{slug}: exists, left as it is");
    }
    Ok(())
}

/// The shop's category tree; returns each category's id by slug.
async fn seed_categories(
    tx: &mut TenantTx,
    slug: &str,
) -> anyhow::Result<std::collections::HashMap<&'static str, Uuid>> {
    let mut category_ids = std::collections::HashMap::new();
    for (position, category) in categories(slug).iter().enumerate() {
        let id = Uuid::now_v7();
        sqlx::query("insert into categories (id, parent_id, name, slug, position) values ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(category.parent.and_then(|p| category_ids.get(p).copied()))
            .bind(category.name)
            .bind(category.slug)
            .bind(i32::try_from(position).unwrap_or_default())
            .execute(&mut **tx)
            .await?;
        category_ids.insert(category.slug, id);
    }
    Ok(category_ids)
}

/// The shop's products, through the catalog's own code; returns how many.
async fn seed_products(
    tx: &mut TenantTx,
    tenant: &Tenant,
    shop_name: &str,
    currency: &str,
    category_ids: &std::collections::HashMap<&'static str, Uuid>,
) -> anyhow::Result<usize> {
    let slug = tenant.slug.as_str();
    let list = products(slug);
    for (i, (product_name, category, price, options)) in list.iter().enumerate() {
        let sku_prefix: String = product_name
            .split_whitespace()
            .filter_map(|w| w.chars().next())
            .collect::<String>()
            .to_uppercase();
        let variants = combinations(options)
            .into_iter()
            .enumerate()
            .map(|(n, values)| NewVariant {
                id: None,
                sku: Some(format!("{}-{sku_prefix}-{i:02}-{n:02}", &slug[..3].to_uppercase())),
                title: None,
                price: price
                    + 10 * i64::try_from(n).unwrap_or_default()
                        * if currency == "VND" { 1_000 } else { 1 },
                compare_at_price: (i % 4 == 0).then_some(price * 5 / 4),
                stock: Some(i32::try_from((i * 7 + n * 3) % 25).unwrap_or_default()),
                option_values: values,
            })
            .collect();
        let product = NewProduct {
            name: product_name.clone(),
            slug: None,
            description: format!("{product_name} from {shop_name}."),
            status: None,
            options: options.clone(),
            variants,
            category_ids: category_ids.get(category).copied().into_iter().collect(),
        };
        let id = create_product(tx, tenant.id, &product).await.map_err(cli_error)?;
        // Most products on sale, one kept as a draft to show the difference.
        let status = if i == list.len() - 1 { "draft" } else { "active" };
        sqlx::query("update products set status = $2 where id = $1")
            .bind(id)
            .bind(status)
            .execute(&mut **tx)
            .await?;
    }
    Ok(list.len())
}

/// Shipping methods, tax and a discount code, in the shop's currency (VND has no minor unit;
/// Vietnamese prices include 10 % VAT, US prices get sales tax on top).
async fn seed_checkout(tx: &mut TenantTx, currency: &str) -> anyhow::Result<()> {
    let vnd = currency == "VND";
    let methods: [(&str, i64, Option<i64>); 2] = if vnd {
        [("Giao hàng tiêu chuẩn", 30_000, Some(500_000)), ("Giao hàng nhanh", 60_000, None)]
    } else {
        [("Standard shipping", 599, Some(5_000)), ("Express shipping", 1_499, None)]
    };
    for (position, (name, price, free_above)) in methods.into_iter().enumerate() {
        sqlx::query("insert into shipping_methods (id, name, price, free_above, position) values ($1, $2, $3, $4, $5)")
            .bind(Uuid::now_v7())
            .bind(name)
            .bind(price)
            .bind(free_above)
            .bind(i32::try_from(position).unwrap_or_default())
            .execute(&mut **tx)
            .await?;
    }
    let (rate_bp, included) = if vnd { (1000, true) } else { (825, false) };
    sqlx::query("update checkout_settings set tax_rate_bp = $1, prices_include_tax = $2")
        .bind(rate_bp)
        .bind(included)
        .execute(&mut **tx)
        .await?;
    sqlx::query("insert into discounts (id, code, kind, value, per_customer_limit) values ($1, 'WELCOME10', 'percentage', 10, 1)")
        .bind(Uuid::now_v7())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations_cover_every_value_pair() {
        let options = vec![
            ProductOption { name: "Size".into(), values: vec!["S".into(), "M".into()] },
            ProductOption {
                name: "Colour".into(),
                values: vec!["Red".into(), "Blue".into(), "Green".into()],
            },
        ];
        let all = combinations(&options);
        assert_eq!(all.len(), 6);
        assert_eq!(all[0], vec!["S", "Red"]);
        assert_eq!(combinations(&[]), vec![Vec::<String>::new()]);
    }
}
