//! Custom domain names: validation and storage in `platform.domains`.
//!
//! A domain is added as an unverified *claim* with a random token; it routes only once verified
//! (`shop::verification` finds the token in DNS). Several shops may claim one hostname, each
//! with its own token, but only one may hold it verified: the partial unique index
//! `domains_verified_hostname_key` makes two verifications racing for it unable to both commit
//! (the second waits for the first and fails: 409 `domain_taken`). Once one shop holds it, the
//! other shops' claims stay in their lists but cannot be verified (409 `domain_taken`), and no
//! new claim can be added; they become verifiable again if that shop removes the domain or
//! loses its verification (the re-check). Nothing of one shop is ever deleted by another.
//!
//! Rule: every query is filtered by the resolved tenant's id; another shop's domain is
//! "not found", and another shop's *verified* hostname is "taken".

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::{AppError, AppResult, OnConstraint};
use crate::quotas::{Quota, Resource};
use crate::tenancy::{DbPool, ShopId};

/// What the TXT record's value starts with; the token follows.
pub const RECORD_VALUE_PREFIX: &str = "shopfleet-verify=";

#[derive(Debug, Object)]
pub struct Domain {
    pub id: Uuid,
    /// e.g. `www.tinashop.vn`; point its DNS at the platform's load balancer.
    pub hostname: String,
    pub created_at: DateTime<Utc>,
    /// Whether the storefront answers on this hostname: its TXT record was found.
    pub verified: bool,
    /// When it was verified; absent while unverified.
    #[oai(nullable)]
    pub verified_at: Option<DateTime<Utc>>,
    /// The shop's canonical hostname (at most one; verified domains only).
    pub primary: bool,
    /// The record to create at the domain's DNS provider, and to keep: verified domains are
    /// re-checked every 6 hours.
    pub dns_record: DnsRecord,
    /// The last background re-check of a verified domain (or the last successful verification).
    #[oai(nullable)]
    pub last_checked_at: Option<DateTime<Utc>>,
    /// What the last check found wrong; absent when it found the record.
    #[oai(nullable)]
    pub last_check_error: Option<String>,
}

/// A DNS record the shop owner creates to prove control of the domain.
#[derive(Debug, Object)]
pub struct DnsRecord {
    /// `_shopfleet.<hostname>`
    pub name: String,
    /// Always `TXT`.
    #[oai(rename = "type")]
    pub record_type: String,
    /// `shopfleet-verify=<token>`
    pub value: String,
}

/// A row of `platform.domains`, as the API and the verification need it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DomainRow {
    pub id: Uuid,
    pub hostname: String,
    pub created_at: DateTime<Utc>,
    pub verification_token: String,
    pub verified_at: Option<DateTime<Utc>>,
    pub is_primary: bool,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub last_check_error: Option<String>,
}

pub(super) const COLUMNS: &str = "id, hostname, created_at, verification_token, verified_at, is_primary, \
     last_checked_at, last_check_error";

impl DomainRow {
    pub fn record_name(&self) -> String {
        record_name(&self.hostname)
    }

    pub fn record_value(&self) -> String {
        format!("{RECORD_VALUE_PREFIX}{}", self.verification_token)
    }
}

impl From<DomainRow> for Domain {
    fn from(row: DomainRow) -> Self {
        let dns_record = DnsRecord {
            name: row.record_name(),
            record_type: "TXT".to_owned(),
            value: row.record_value(),
        };
        Self {
            id: row.id,
            hostname: row.hostname,
            created_at: row.created_at,
            verified: row.verified_at.is_some(),
            verified_at: row.verified_at,
            primary: row.is_primary,
            dns_record,
            last_checked_at: row.last_checked_at,
            last_check_error: row.last_check_error,
        }
    }
}

/// Where the verification record of `hostname` lives.
pub fn record_name(hostname: &str) -> String {
    format!("_shopfleet.{hostname}")
}

/// 128 random bits as 32 hex digits.
fn new_token() -> String {
    let mut raw = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    hex::encode(raw)
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
    // 253 less the `_shopfleet.` of the verification record's name.
    if host.len() > 242
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

fn domain_not_found() -> AppError {
    AppError::not_found("domain_not_found", "no such domain")
}

pub fn domain_taken() -> AppError {
    AppError::conflict("domain_taken", "another shop has verified this domain")
}

pub async fn list(pool: &DbPool, shop: ShopId) -> AppResult<Vec<Domain>> {
    let rows: Vec<DomainRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from platform.domains where shop_id = $1 order by created_at, id"
    ))
    .bind(shop)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Domain::from).collect())
}

/// One domain of this shop; another shop's domain id is "not found".
pub async fn get(pool: &DbPool, shop: ShopId, id: Uuid) -> AppResult<DomainRow> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from platform.domains where id = $1 and shop_id = $2"
    ))
    .bind(id)
    .bind(shop)
    .fetch_optional(pool)
    .await?
    .ok_or_else(domain_not_found)
}

/// Whether a shop other than `shop` holds `hostname` verified.
async fn verified_elsewhere(
    conn: &mut PgConnection,
    shop: ShopId,
    hostname: &str,
) -> AppResult<bool> {
    Ok(sqlx::query_scalar(
        "select exists (select 1 from platform.domains \
         where hostname = $1 and verified_at is not null and shop_id <> $2)",
    )
    .bind(hostname)
    .bind(shop)
    .fetch_one(conn)
    .await?)
}

/// Adds an unverified claim with a fresh token. 409 `domain_taken` when another shop holds the
/// hostname verified, `domain_exists` when this shop already has it; 403 `plan_limit_reached`
/// when the shop has as many domains (claims included) as its plan allows (`quotas`).
pub async fn add(pool: &DbPool, shop: ShopId, hostname: &str) -> AppResult<Domain> {
    let quota = Quota::read(pool, shop, Resource::CustomDomains).await?;
    let mut tx = pool.begin().await?;
    if verified_elsewhere(&mut tx, shop, hostname).await? {
        return Err(domain_taken());
    }
    let row: DomainRow = sqlx::query_as(&format!(
        "insert into platform.domains (id, shop_id, hostname, verification_token) \
         values ($1, $2, $3, $4) returning {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(shop)
    .bind(hostname)
    .bind(new_token())
    .fetch_one(&mut *tx)
    .await
    .on_constraint("domains_shop_hostname_key", |_| {
        AppError::conflict("domain_exists", "this shop already has this domain")
    })?;
    quota.enforce(&mut tx, 1).await?;
    tx.commit().await?;
    Ok(row.into())
}

/// Removes a domain of this shop; another shop's domain id is "not found". Removing the
/// primary domain leaves the shop without one.
pub async fn remove(pool: &DbPool, shop: ShopId, id: Uuid) -> AppResult<()> {
    let deleted = sqlx::query("delete from platform.domains where id = $1 and shop_id = $2")
        .bind(id)
        .bind(shop)
        .execute(pool)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(domain_not_found());
    }
    Ok(())
}

/// Records that the domain's TXT record was found: it is verified (again) and its check
/// history is clean. 409 `domain_taken` when another shop holds the hostname verified, also
/// when that shop's verification commits while this one runs.
pub async fn mark_verified(pool: &DbPool, shop: ShopId, domain: &DomainRow) -> AppResult<Domain> {
    let mut tx = pool.begin().await?;
    if verified_elsewhere(&mut tx, shop, &domain.hostname).await? {
        return Err(domain_taken());
    }
    let row: Option<DomainRow> = sqlx::query_as(&format!(
        "update platform.domains set verified_at = coalesce(verified_at, now()), \
         last_checked_at = now(), last_check_error = null, check_failures = 0, \
         failing_since = null where id = $1 and shop_id = $2 returning {COLUMNS}"
    ))
    .bind(domain.id)
    .bind(shop)
    .fetch_optional(&mut *tx)
    .await
    .on_constraint("domains_verified_hostname_key", |_| domain_taken())?;
    tx.commit().await?;
    Ok(row.ok_or_else(domain_not_found)?.into())
}

/// Makes a verified domain the shop's primary one (the previous primary, if any, is no longer
/// primary). 422 `domain_not_verified` for an unverified domain.
pub async fn set_primary(pool: &DbPool, shop: ShopId, id: Uuid) -> AppResult<Domain> {
    let mut tx = pool.begin().await?;
    // One change of primary at a time per shop: the partial unique index would refuse the
    // second of two racing ones with an error instead.
    sqlx::query("select 1 from platform.shops where id = $1 for update")
        .bind(shop)
        .execute(&mut *tx)
        .await?;
    let verified: Option<bool> = sqlx::query_scalar(
        "select verified_at is not null from platform.domains where id = $1 and shop_id = $2 \
         for update",
    )
    .bind(id)
    .bind(shop)
    .fetch_optional(&mut *tx)
    .await?;
    match verified {
        None => return Err(domain_not_found()),
        Some(false) => {
            return Err(AppError::unprocessable(
                "domain_not_verified",
                "only a verified domain can be the primary domain: verify it first",
            ));
        }
        Some(true) => {}
    }
    sqlx::query(
        "update platform.domains set is_primary = false where shop_id = $1 and is_primary and id <> $2",
    )
    .bind(shop)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let row: DomainRow = sqlx::query_as(&format!(
        "update platform.domains set is_primary = true where id = $1 returning {COLUMNS}"
    ))
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row.into())
}

/// Leaves the shop without a primary domain, if this one was it.
pub async fn clear_primary(pool: &DbPool, shop: ShopId, id: Uuid) -> AppResult<Domain> {
    let row: Option<DomainRow> = sqlx::query_as(&format!(
        "update platform.domains set is_primary = false where id = $1 and shop_id = $2 \
         returning {COLUMNS}"
    ))
    .bind(id)
    .bind(shop)
    .fetch_optional(pool)
    .await?;
    Ok(row.ok_or_else(domain_not_found)?.into())
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

    #[test]
    fn the_verification_record_name_fits_in_dns() {
        let label = "a".repeat(60);
        let long = format!("{label}.{label}.{label}.{label}.com");
        assert!(long.len() > 242 && long.len() <= 253);
        assert!(parse_hostname(&long, "shops.example.com").is_err());
    }
}
