//! Custom domain names: validation and storage in `platform.domains`.

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::{AppError, AppResult, OnConstraint};
use crate::tenancy::ShopId;

/// Domains one shop may attach.
const MAX_DOMAINS_PER_SHOP: i64 = 10;

#[derive(Debug, Object, sqlx::FromRow)]
pub struct Domain {
    pub id: Uuid,
    /// e.g. `www.tinashop.vn`; point its DNS at the platform's load balancer.
    pub hostname: String,
    pub created_at: DateTime<Utc>,
}

/// A host name a shop may claim: DNS syntax, at least two labels, not an IP address, and not
/// the platform's base domain or any name under it.
pub fn parse_hostname(raw: &str, base_domain: &str) -> AppResult<String> {
    let host = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let valid_label = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.len() > 253
        || labels.len() < 2
        || !labels.iter().all(valid_label)
        || host.parse::<std::net::IpAddr>().is_ok()
        || labels.last().is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(AppError::validation("hostname", "is not a valid domain name"));
    }
    if host == base_domain || host.ends_with(&format!(".{base_domain}")) || host == "localhost" {
        return Err(AppError::validation("hostname", "belongs to the platform"));
    }
    Ok(host)
}

pub async fn list(pool: &PgPool, shop: ShopId) -> AppResult<Vec<Domain>> {
    Ok(sqlx::query_as("select id, hostname, created_at from platform.domains where shop_id = $1 order by created_at")
        .bind(shop)
        .fetch_all(pool)
        .await?)
}

pub async fn add(pool: &PgPool, shop: ShopId, hostname: &str) -> AppResult<Domain> {
    let mut tx = pool.begin().await?;
    // Serialise additions per shop so the limit holds under concurrency.
    sqlx::query("select 1 from platform.shops where id = $1 for update")
        .bind(shop)
        .execute(&mut *tx)
        .await?;
    let count: i64 = sqlx::query_scalar("select count(*) from platform.domains where shop_id = $1")
        .bind(shop)
        .fetch_one(&mut *tx)
        .await?;
    if count >= MAX_DOMAINS_PER_SHOP {
        return Err(AppError::conflict(
            "domain_limit",
            format!("a shop can have at most {MAX_DOMAINS_PER_SHOP} domains"),
        ));
    }
    let domain = sqlx::query_as(
        "insert into platform.domains (id, shop_id, hostname) values ($1, $2, $3) returning id, hostname, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(shop)
    .bind(hostname)
    .fetch_one(&mut *tx)
    .await
    .on_constraint("domains_hostname_key", |_| AppError::conflict("domain_taken", "this domain is already in use"))?;
    tx.commit().await?;
    Ok(domain)
}

/// Removes a domain of this shop; another shop's domain id is "not found".
pub async fn remove(pool: &PgPool, shop: ShopId, id: Uuid) -> AppResult<()> {
    let deleted = sqlx::query("delete from platform.domains where id = $1 and shop_id = $2")
        .bind(id)
        .bind(shop)
        .execute(pool)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(AppError::not_found("domain_not_found", "no such domain"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_hostname;

    #[test]
    fn accepts_real_domains_and_refuses_platform_ones() {
        let base = "shops.example.com";
        assert_eq!(parse_hostname("WWW.TinaShop.vn.", base).unwrap(), "www.tinashop.vn");
        for bad in [
            "localhost",
            "tinashop",
            "1.2.3.4",
            "a..b",
            "-a.com",
            "x.shops.example.com",
            "shops.example.com",
            "a_b.com",
        ] {
            assert!(parse_hostname(bad, base).is_err(), "{bad} should be refused");
        }
    }
}
