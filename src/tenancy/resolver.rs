//! Tenant resolution: which shop a request is for (docs/ARCHITECTURE.md, "One request").
//!
//! - `Host: tinashop.<base domain>` → slug `tinashop`;
//! - `Host: <base domain>` (or `localhost` / an IP address: health checks, local clients) plus
//!   `X-Shop: tinashop` → slug `tinashop`;
//! - any other host → a custom domain in `platform.domains`, once verified (an unverified
//!   claim is the same 404 as an unknown host).
//!
//! A host naming one shop and an `X-Shop` naming another is a 400, never a silent pick. Unknown
//! and deleted shops are 404, suspended shops 403 `shop_suspended`. A slug or custom domain
//! that cannot exist (wrong shape: see [`slug_shaped`], [`hostname_shaped`]) is the same 404
//! without a lookup, so made-up hosts cost neither a query nor a cache slot.
//!
//! Rule: only shop routes (`/v1/admin`, `/v1/store`) are resolved here, and the resolved
//! [`Tenant`] put in the request is the only source of "which shop" downstream.

use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

use super::registry::{LookupKey, TenantRegistry};
use super::{ShopStatus, Tenant};
use crate::error::AppError;

/// Where the shop of a request comes from, before looking it up.
#[derive(Debug, PartialEq, Eq)]
pub enum HostShop {
    /// The platform host: the shop, if any, comes from `X-Shop`.
    Platform,
    /// A subdomain of the base domain.
    Subdomain(String),
    /// Some other host: maybe a shop's custom domain.
    CustomDomain(String),
}

/// Normalises a `Host` header (lowercase, no port, no trailing dot) and classifies it.
pub fn classify_host(host: &str, base_domain: &str) -> HostShop {
    let host = host.trim().to_ascii_lowercase();
    let host = strip_port(&host).trim_end_matches('.');
    if host.is_empty() || host == base_domain || host == "localhost" || is_ip_literal(host) {
        return HostShop::Platform;
    }
    match host.strip_suffix(base_domain).and_then(|rest| rest.strip_suffix('.')) {
        Some(sub) => HostShop::Subdomain(sub.to_owned()),
        None => HostShop::CustomDomain(host.to_owned()),
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // [::1]:8080
        return host.split_once(']').map_or(host, |(addr, _)| &host[..addr.len() + 1]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

fn is_ip_literal(host: &str) -> bool {
    host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().is_ok()
}

/// Resolves the shop of a request from its `Host` and `X-Shop` headers.
pub async fn resolve(
    registry: &TenantRegistry,
    base_domain: &str,
    host: &str,
    x_shop: Option<&str>,
) -> Result<Tenant, AppError> {
    let from_header = x_shop.map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty());
    let from_host = match classify_host(host, base_domain) {
        HostShop::Platform => None,
        HostShop::Subdomain(slug) => Some(LookupKey::Slug(slug)),
        HostShop::CustomDomain(domain) => Some(LookupKey::Domain(domain)),
    };

    let tenant = match (from_host, from_header) {
        (None, None) => {
            return Err(AppError::bad_request(
                "shop_required",
                "this route belongs to a shop: use the shop's host or an X-Shop header",
            ));
        }
        (None, Some(slug)) => lookup(registry, LookupKey::Slug(slug)).await?,
        (Some(key), None) => lookup(registry, key).await?,
        (Some(key), Some(slug)) => {
            let tenant = lookup(registry, key).await?;
            if tenant.slug != slug {
                return Err(AppError::bad_request(
                    "shop_conflict",
                    "the Host and the X-Shop header name different shops",
                ));
            }
            tenant
        }
    };

    match tenant.status {
        ShopStatus::Active => Ok(tenant),
        ShopStatus::Suspended => {
            Err(AppError::forbidden("shop_suspended", "this shop is suspended"))
        }
        ShopStatus::Deleted | ShopStatus::Purged => Err(shop_not_found()),
    }
}

pub(crate) async fn lookup(registry: &TenantRegistry, key: LookupKey) -> Result<Tenant, AppError> {
    let shaped = match &key {
        LookupKey::Slug(slug) => slug_shaped(slug),
        LookupKey::Domain(host) => hostname_shaped(host),
        LookupKey::Id(_) => true,
    };
    if !shaped {
        return Err(shop_not_found());
    }
    registry.lookup(&key).await?.ok_or_else(shop_not_found)
}

/// Whether `slug` has the shape of a shop slug (`Slug::parse`'s rule without the reserved
/// names): 3 to 40 lowercase letters, digits and single `-`, starting with a letter.
pub fn slug_shaped(slug: &str) -> bool {
    (3..=40).contains(&slug.len())
        && slug.starts_with(|c: char| c.is_ascii_lowercase())
        && slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.ends_with('-')
        && !slug.contains("--")
}

/// Whether `host` (lowercased, without port) is a DNS host name with at least two labels, as
/// every custom domain is: at most 253 characters, labels of 1 to 63 letters, digits and `-`,
/// neither starting nor ending with `-`.
pub fn hostname_shaped(host: &str) -> bool {
    host.len() <= 253
        && host.contains('.')
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn shop_not_found() -> AppError {
    AppError::not_found("shop_not_found", "no shop at this address")
}

/// Middleware resolving the tenant of shop routes and putting it in the request.
pub struct TenantResolver {
    pub registry: TenantRegistry,
    pub base_domain: String,
}

/// Paths that belong to a shop.
pub(crate) fn is_shop_route(path: &str) -> bool {
    ["/v1/admin", "/v1/store"]
        .iter()
        .any(|prefix| path.strip_prefix(prefix).is_some_and(|r| r.is_empty() || r.starts_with('/')))
}

impl<E: Endpoint> Middleware<E> for TenantResolver {
    type Output = TenantResolverEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        TenantResolverEndpoint {
            inner,
            registry: self.registry.clone(),
            base_domain: self.base_domain.clone(),
        }
    }
}

pub struct TenantResolverEndpoint<E> {
    inner: E,
    registry: TenantRegistry,
    base_domain: String,
}

impl<E: Endpoint> Endpoint for TenantResolverEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        if is_shop_route(req.uri().path()) {
            let host =
                req.header("host").or_else(|| req.uri().host()).unwrap_or_default().to_owned();
            let tenant =
                resolve(&self.registry, &self.base_domain, &host, req.header("x-shop")).await?;
            let span = tracing::Span::current();
            span.record("shop", tenant.slug.as_str());
            span.record("shop_id", tracing::field::display(tenant.id));
            req.extensions_mut().insert(tenant);
        }
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "shops.example.com";

    #[test]
    fn classifies_hosts() {
        assert_eq!(
            classify_host("tinashop.shops.example.com", BASE),
            HostShop::Subdomain("tinashop".into())
        );
        assert_eq!(
            classify_host("TinaShop.Shops.Example.com:8080", BASE),
            HostShop::Subdomain("tinashop".into())
        );
        assert_eq!(classify_host("shops.example.com", BASE), HostShop::Platform);
        assert_eq!(classify_host("shops.example.com.", BASE), HostShop::Platform);
        assert_eq!(classify_host("127.0.0.1:3000", BASE), HostShop::Platform);
        assert_eq!(classify_host("[::1]:3000", BASE), HostShop::Platform);
        assert_eq!(classify_host("localhost:8080", BASE), HostShop::Platform);
        assert_eq!(
            classify_host("www.tinashop.vn", BASE),
            HostShop::CustomDomain("www.tinashop.vn".into())
        );
        // A look-alike suffix is a custom domain, not a subdomain.
        assert_eq!(
            classify_host("evilshops.example.com", BASE),
            HostShop::CustomDomain("evilshops.example.com".into())
        );
    }

    #[test]
    fn only_well_shaped_slugs_and_hosts_are_looked_up() {
        assert!(slug_shaped("tinashop") && slug_shaped("mi-cocah-2"));
        for bad in ["ab", "Tina", "1shop", "a--b", "shop-", "a_b", "a.b", &"a".repeat(41)] {
            assert!(!slug_shaped(bad), "{bad}");
        }
        assert!(hostname_shaped("www.tinashop.vn") && hostname_shaped("shop-1.example.com"));
        let long = format!("{}.com", "a".repeat(64));
        for bad in ["localhost2", "a..b", "-a.com", "a-.com", "ex ample.com", "x_y.com", &long] {
            assert!(!hostname_shaped(bad), "{bad}");
        }
    }

    #[test]
    fn only_shop_paths_are_resolved() {
        assert!(is_shop_route("/v1/admin/products"));
        assert!(is_shop_route("/v1/store"));
        assert!(!is_shop_route("/v1/administrator"));
        assert!(!is_shop_route("/v1/signup"));
        assert!(!is_shop_route("/v1/platform/shops"));
    }
}
