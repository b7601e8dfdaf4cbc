//! The storefront: server-rendered HTML pages on each shop's host (its subdomain or a custom
//! domain), for the shop's customers. Pages call the same domain functions as the JSON API
//! (`catalog::storefront`, `cart`, `search`), never the API over HTTP.
//!
//! Request path: [`Pages`] takes every request that is not an API route (`server` decides),
//! finds the shop from the `Host` only (never `X-Shop`: a page belongs to the host it is on),
//! answers a suspended shop with a plain 503 page and an unknown host with a plain 404 page,
//! spends the shop's storefront budget (`limits`: rate headers on every page, a 429 page when
//! it is spent), refuses a POST without its CSRF token, identifies the customer from the session cookie, and
//! hands the request to the page. Every answer carries the security headers of
//! [`security::add_headers`]; every error becomes a page in the shop's look.
//!
//! The platform host has one page of its own, the landing page with its sign-up form
//! (`landing.rs`); everything else there is the JSON API.
//!
//! Layout: `site.rs` (the request's context and cookies), `theme.rs` (templates, messages and
//! assets of `themes/default/`), `money.rs`, `contrast.rs`, `security.rs`, and one file per
//! page group: `catalog_pages.rs` (home, category, product, search), `cart_pages.rs`,
//! `checkout_pages.rs` (checkout, order status), `account_pages.rs` (sign-up, sign-in,
//! account, address book), `seo_pages.rs` (robots.txt, sitemaps), `landing.rs`.

mod account_pages;
mod cart_pages;
mod catalog_pages;
mod checkout_pages;
mod contrast;
mod landing;
pub mod money;
mod security;
mod seo_pages;
mod site;
mod theme;

use std::sync::Arc;

use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, Request, Response, Route, get, post};

use self::landing::Landing;
use self::security::CsrfKey;
use self::site::{Site, parse_cookies};
use self::theme::Theme;
use crate::error::AppError;
use crate::limits::Budget;
use crate::shop::storefront_settings;
use crate::state::AppState;
use crate::tenancy::registry::LookupKey;
use crate::tenancy::resolver::{HostShop, classify_host, lookup};
use crate::tenancy::{ShopStatus, Tenant, TenantTx};

/// Largest form body a page accepts.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Whether `path` can be a page (everything but the API, its documents and health checks).
fn is_page_path(path: &str) -> bool {
    let api = path == "/v1"
        || path.starts_with("/v1/")
        || path == "/docs"
        || path.starts_with("/docs/")
        || matches!(path, "/openapi.json" | "/healthz" | "/readyz");
    !api
}

/// The storefront endpoint for every page request.
pub struct Pages {
    state: AppState,
    theme: Arc<Theme>,
    csrf_key: CsrfKey,
    routes: Route,
}

impl Pages {
    pub fn new(state: AppState) -> anyhow::Result<Self> {
        let routes = Route::new()
            .at("/", get(catalog_pages::home_page))
            .at("/categories/:slug", get(catalog_pages::category_page))
            .at("/products/:slug", get(catalog_pages::product_page))
            .at("/search", get(catalog_pages::search_page))
            .at("/search/suggest", get(catalog_pages::suggest))
            .at("/cart", get(cart_pages::cart_page))
            .at("/cart/items", post(cart_pages::add_item))
            .at("/cart/items/:id", post(cart_pages::change_item))
            .at("/cart/discount", post(cart_pages::apply_code))
            .at("/cart/discount/remove", post(cart_pages::remove_code))
            .at("/checkout", get(checkout_pages::checkout_page).post(checkout_pages::place_order))
            .at("/orders/:number", get(checkout_pages::order_page))
            .at("/account", get(account_pages::account_page))
            .at("/account/login", get(account_pages::login_page).post(account_pages::login))
            .at(
                "/account/register",
                get(account_pages::register_page).post(account_pages::register),
            )
            .at("/account/logout", post(account_pages::logout))
            .at("/account/addresses", post(account_pages::add_address))
            .at("/account/addresses/:id/delete", post(account_pages::delete_address))
            .at("/robots.txt", get(seo_pages::robots))
            .at("/sitemap.xml", get(seo_pages::sitemap_index))
            .at("/sitemaps/:file", get(seo_pages::sitemap_file));
        let csrf_key = CsrfKey::derive(&state.config.jwt_secret);
        Ok(Self { state, theme: Theme::load()?, csrf_key, routes })
    }

    /// Whether this request is for a page: a theme asset on any host, a page path on a shop's
    /// host (subdomain or custom domain), or the platform host's landing page (`GET /`,
    /// `POST /signup`). Everything else on the platform host is the JSON API.
    pub fn serves(&self, req: &Request) -> bool {
        let path = req.uri().path();
        if path.starts_with("/assets/") {
            return true;
        }
        match classify_host(host_of(req), &self.state.config.base_domain) {
            HostShop::Platform => landing_path(req),
            _ => is_page_path(path),
        }
    }

    /// The landing page on the platform host, with its own CSRF token (bound to no shop).
    async fn platform_page(&self, mut req: Request) -> Response {
        let cookies = parse_cookies(req.header("cookie"));
        let (cookie, set_cookie) = site::csrf_cookie(&cookies, site::is_secure(&self.state));
        let csrf = self.csrf_key.token(landing::PLATFORM, &cookie);
        let nonce = security::random_token();
        let landing =
            Landing { state: &self.state, theme: &self.theme, csrf: &csrf, nonce: &nonce };
        let mut response = if req.method() == Method::POST {
            match csrf_checked(&mut req, &csrf).await {
                Ok(body) => {
                    landing.signup(serde_urlencoded::from_bytes(&body).unwrap_or_default()).await
                }
                Err(status) => self.plain_page(status, "form_expired"),
            }
        } else {
            landing.page()
        };
        if let Some(value) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        security::add_headers(&mut response, &nonce);
        response
    }

    async fn shop_page(&self, req: Request) -> Response {
        let host = host_of(&req).to_owned();
        let key = match classify_host(&host, &self.state.config.base_domain) {
            HostShop::Subdomain(slug) => LookupKey::Slug(slug),
            HostShop::CustomDomain(domain) => LookupKey::Domain(domain),
            HostShop::Platform => return self.plain_page(StatusCode::NOT_FOUND, "not_found"),
        };
        let tenant = match lookup(&self.state.tenants, key).await {
            Ok(tenant) => tenant,
            Err(AppError::NotFound { .. }) => {
                return self.plain_page(StatusCode::NOT_FOUND, "not_found");
            }
            Err(err) => {
                tracing::error!(error = %err, "resolving a storefront host");
                return self.plain_page(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
            }
        };
        match tenant.status {
            ShopStatus::Active => {}
            ShopStatus::Suspended => {
                let mut response = self.plain_page(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("3600"));
                return response;
            }
            ShopStatus::Deleted | ShopStatus::Purged => {
                return self.plain_page(StatusCode::NOT_FOUND, "not_found");
            }
        }
        let span = tracing::Span::current();
        span.record("shop", tenant.slug.as_str());
        span.record("shop_id", tracing::field::display(tenant.id));
        // The shop's storefront budget (`limits`): its headers on every page, 429 when spent.
        let decision = self.state.limits.shop(&tenant, Budget::Storefront).await;
        let mut response = match decision {
            Some(refused) if !refused.allowed => {
                let mut response = self.plain_page(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(refused.retry_after_secs));
                response
            }
            _ => Box::pin(self.shop_site(req, tenant, &host)).await,
        };
        if let Some(decision) = decision {
            decision.add_headers(response.headers_mut());
        }
        response
    }

    /// A page of an active shop's site, once its budget allowed the request.
    async fn shop_site(&self, mut req: Request, tenant: Tenant, host: &str) -> Response {
        if let Some(location) = primary_domain_redirect(&self.state, &tenant, &req, host) {
            return Response::builder()
                .status(StatusCode::MOVED_PERMANENTLY)
                .header(header::LOCATION, location)
                .finish();
        }
        let cookies = parse_cookies(req.header("cookie"));
        let mut site =
            Site::new(self.state.clone(), self.theme.clone(), &self.csrf_key, tenant, cookies);
        if req.method() == Method::POST {
            match csrf_checked(&mut req, &site.csrf).await {
                Ok(body) => req.set_body(body),
                Err(status) => return self.error_page(&site, status, "form_expired").await,
            }
        }
        site.identify().await;
        let site = Arc::new(site);
        req.extensions_mut().insert(site.clone());
        let response = match self.routes.call(req).await {
            Ok(response) => response,
            Err(err) if err.status() == StatusCode::NOT_FOUND => {
                self.error_page(&site, StatusCode::NOT_FOUND, "not_found").await
            }
            Err(err) if err.status() == StatusCode::METHOD_NOT_ALLOWED => {
                self.error_page(&site, StatusCode::METHOD_NOT_ALLOWED, "not_found").await
            }
            Err(err) => match err.downcast::<AppError>() {
                Ok(app) => self.app_error_page(&site, app).await,
                Err(err) => self.error_page(&site, err.status(), "error").await,
            },
        };
        finish(response, &site)
    }

    async fn app_error_page(&self, site: &Site, err: AppError) -> Response {
        let status = poem::error::ResponseError::status(&err);
        if status.is_server_error() {
            tracing::error!(shop = %site.tenant.slug, error = %err, "storefront page failed");
            return self.error_page(site, status, "error").await;
        }
        let kind = if status == StatusCode::NOT_FOUND { "not_found" } else { "bad_request" };
        self.error_page(site, status, kind).await
    }

    /// An error page in the shop's look (its settings read in a short transaction of its own;
    /// the default look if even that fails).
    async fn error_page(&self, site: &Site, status: StatusCode, kind: &str) -> Response {
        let look = async {
            let mut tx = TenantTx::begin(&site.state.pool, &site.tenant).await?;
            let settings = storefront_settings::load(&mut tx).await?;
            tx.commit().await?;
            let store = site.state.store.as_ref();
            storefront_settings::with_logo_url(settings, store, site.tenant.id).await
        }
        .await;
        let data = minijinja::context! { kind => kind, status => status.as_u16() };
        match look {
            Ok(settings) => site.render(&settings, &[], 0, "error.html", status, data),
            Err(_) => self.plain_page(status, kind),
        }
    }

    /// A page outside any shop's look: unknown host, unavailable shop.
    fn plain_page(&self, status: StatusCode, kind: &str) -> Response {
        let nonce = security::random_token();
        let context = minijinja::context! {
            kind => kind, status => status.as_u16(), locale => "en", nonce => nonce,
        };
        let body = self.theme.render("plain.html", context).unwrap_or_else(|err| {
            tracing::error!(error = %err, "plain page failed");
            "<!doctype html><title>Unavailable</title>".to_owned()
        });
        let mut response = html(status, body);
        security::add_headers(&mut response, &nonce);
        response
    }

    fn asset(&self, path: &str) -> Option<Response> {
        let asset = self.theme.asset(path)?;
        Some(
            Response::builder()
                .header(header::CONTENT_TYPE, asset.content_type)
                .header(header::CACHE_CONTROL, "public, max-age=31536000, immutable")
                .header("x-content-type-options", "nosniff")
                .body(asset.bytes.to_vec()),
        )
    }
}

impl Endpoint for Pages {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let path = req.uri().path().to_owned();
        if path.starts_with("/assets/") {
            return Ok(self
                .asset(&path)
                .unwrap_or_else(|| self.plain_page(StatusCode::NOT_FOUND, "not_found")));
        }
        if classify_host(host_of(&req), &self.state.config.base_domain) == HostShop::Platform {
            return Ok(self.platform_page(req).await);
        }
        Ok(self.shop_page(req).await)
    }
}

/// Reads a POST's form and returns it, refusing it (403) unless its `csrf` field is
/// `expected`: the token of the request's `sf_csrf` cookie on this shop ([`Site::csrf`]) or on
/// the platform host.
async fn csrf_checked(req: &mut Request, expected: &str) -> Result<bytes::Bytes, StatusCode> {
    let body = req.take_body().into_bytes_limit(MAX_FORM_BYTES).await.map_err(|err| {
        if err.to_string().contains("payload too large") {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        }
    })?;
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let sent = fields.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or("");
    if !security::same_token(expected, sent) {
        return Err(StatusCode::FORBIDDEN);
    }
    Ok(body)
}

fn host_of(req: &Request) -> &str {
    req.header("host").or_else(|| req.uri().host()).unwrap_or_default()
}

/// The platform host's page routes: the landing page and its form.
fn landing_path(req: &Request) -> bool {
    matches!(
        (req.method(), req.uri().path()),
        (&Method::GET | &Method::HEAD, "/") | (&Method::POST, "/signup")
    )
}

/// Where a page read on another host of a shop that has a verified primary domain moves to
/// (301): the same path on the primary domain. Form posts are served where they arrive.
fn primary_domain_redirect(
    state: &AppState,
    tenant: &crate::tenancy::Tenant,
    req: &Request,
    host: &str,
) -> Option<String> {
    let primary = tenant.primary_domain.as_deref()?;
    let bare = host.rsplit_once(':').map_or(host, |(name, _)| name).trim_end_matches('.');
    if bare.eq_ignore_ascii_case(primary) || !matches!(*req.method(), Method::GET | Method::HEAD) {
        return None;
    }
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    Some(format!("{}{path}", state.config.url_of_host(primary)))
}

/// Adds the cookies and security headers of `site` to a page's response.
fn finish(mut response: Response, site: &Site) -> Response {
    for cookie in site.take_cookies() {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    if !response.headers().contains_key(header::CACHE_CONTROL) {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    }
    security::add_headers(&mut response, &site.nonce);
    response
}

pub(crate) fn html(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(body)
}

/// 303 to `location` (after a form POST).
pub(crate) fn see_other(location: &str) -> Response {
    Response::builder().status(StatusCode::SEE_OTHER).header(header::LOCATION, location).finish()
}

/// The page's context as the request carries it.
pub(crate) fn site_of(req: &Request) -> poem::Result<Arc<Site>> {
    req.extensions()
        .get::<Arc<Site>>()
        .cloned()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("storefront page without a site")).into())
}

/// The request's query as name/value pairs, in order (names may repeat).
pub(crate) fn query_pairs(req: &Request) -> Vec<(String, String)> {
    serde_urlencoded::from_str(req.uri().query().unwrap_or_default()).unwrap_or_default()
}

/// The `error` code a form redirected back with (`?error=insufficient_stock`), if it is one
/// of ours (letters and `_` only), to show its message.
pub(crate) fn error_of(req: &Request) -> Option<String> {
    query_pairs(req).into_iter().find(|(k, _)| k == "error").map(|(_, v)| v).filter(|v| {
        (1..=64).contains(&v.len()) && v.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    })
}
