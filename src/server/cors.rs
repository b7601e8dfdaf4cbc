//! CORS: which browser origins may read the API's responses.
//!
//! A shop route (`/v1/admin`, `/v1/store`) allows the shop's own hosts as origins — its
//! subdomain of `BASE_DOMAIN` and its verified custom domains, over http or https, on any
//! port — and every route allows the origins configured in `CORS_ALLOWED_ORIGINS` (a headless
//! storefront, say). A request from any other origin is served as if it sent no `Origin`: its response
//! carries no CORS headers, so the browser keeps it from the page; its preflight is 403
//! `origin_not_allowed`. Tokens travel in `Authorization` headers, never cookies, so nothing
//! here is about credentials.
//!
//! Rule: an origin is never echoed because it was sent; only because it is one of the above.

use std::collections::HashSet;
use std::sync::Arc;

use poem::http::{Method, header};
use poem::middleware::{Cors, CorsEndpoint};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

use crate::error::AppError;
use crate::tenancy::registry::{LookupKey, TenantRegistry};
use crate::tenancy::resolver::{self, HostShop, classify_host};

/// The middleware; wraps poem's `Cors`, which only ever sees allowed origins.
pub struct CorsPolicy {
    pub registry: TenantRegistry,
    pub base_domain: String,
    /// Exact origins (`https://store.example.com`) allowed on every route.
    pub allowed_origins: Vec<String>,
}

impl<E: Endpoint> Middleware<E> for CorsPolicy {
    type Output = CorsPolicyEndpoint<CorsEndpoint<E>>;

    fn transform(&self, inner: E) -> Self::Output {
        CorsPolicyEndpoint {
            inner: Cors::new().transform(inner),
            registry: self.registry.clone(),
            base_domain: self.base_domain.clone(),
            allowed_origins: Arc::new(self.allowed_origins.iter().cloned().collect()),
        }
    }
}

pub struct CorsPolicyEndpoint<E> {
    inner: E,
    registry: TenantRegistry,
    base_domain: String,
    allowed_origins: Arc<HashSet<String>>,
}

impl<E: Endpoint> CorsPolicyEndpoint<E> {
    async fn allows(&self, req: &Request, origin: &str) -> bool {
        if self.allowed_origins.contains(origin) {
            return true;
        }
        if !resolver::is_shop_route(req.uri().path()) {
            return false;
        }
        let Ok(url) = url::Url::parse(origin) else {
            return false; // `null`, or not a URL
        };
        let Some(origin_host) = url.host_str().filter(|_| matches!(url.scheme(), "http" | "https"))
        else {
            return false;
        };
        let origin_key = match classify_host(origin_host, &self.base_domain) {
            HostShop::Platform => return false,
            HostShop::Subdomain(slug) => LookupKey::Slug(slug),
            HostShop::CustomDomain(domain) => LookupKey::Domain(domain),
        };
        let host = req.header("host").or_else(|| req.uri().host()).unwrap_or_default();
        // An unresolvable request fails later, in the tenant resolver, with its own error.
        let Ok(shop) =
            resolver::resolve(&self.registry, &self.base_domain, host, req.header("x-shop")).await
        else {
            return false;
        };
        resolver::lookup(&self.registry, origin_key).await.is_ok_and(|origin| origin.id == shop.id)
    }
}

impl<E: Endpoint> Endpoint for CorsPolicyEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        if let Some(origin) = req.header(header::ORIGIN).map(str::to_owned)
            && !self.allows(&req, &origin).await
        {
            let preflight = req.method() == Method::OPTIONS
                && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
            if preflight {
                return Err(AppError::forbidden(
                    "origin_not_allowed",
                    "this origin may not call this API from a browser",
                )
                .into());
            }
            req.headers_mut().remove(header::ORIGIN);
        }
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}
