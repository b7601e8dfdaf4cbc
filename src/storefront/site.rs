//! One storefront request's context ([`Site`]): the shop (from the host only), the theme, the
//! shopper's cookies, the signed-in customer, the CSRF token, and the cookies the response
//! must set. What every page shows around its content ([`Layout`]: the storefront settings, the
//! category menu, the cart's item count) comes from [`Site::layout`] for catalog pages, which
//! need no transaction of their own, or with the page's one transaction from [`Site::begin`].
//! The shop's part of it is cached (`crate::cache`); the cart's count is the visitor's own.
//!
//! Cookies are host-only (no `Domain` attribute: a shop's cookies never reach another shop's
//! host), `HttpOnly`, `SameSite=Lax`, and `Secure` when the public URL is https:
//! - `sf_cart`: a guest cart's secret token;
//! - `sf_session` / `sf_refresh`: the customer's access token and refresh token, the same
//!   tokens the JSON API issues, bound to the shop; an expired access token is renewed with the
//!   refresh token on the next page;
//! - `sf_csrf`: a random value; every form carries `HMAC(key, shop id, value)` and every POST
//!   is refused without it (see `security`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use minijinja::Value;
use poem::Response;
use poem::http::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::contrast;
use super::security::{self, CsrfKey};
use super::theme::Theme;
use crate::auth::tokens::TokenKind;
use crate::cart::Shopper;
use crate::catalog::storefront::{StoreCategory, category_tree};
use crate::error::AppResult;
use crate::sessions;
use crate::shop::storefront_settings::{self, SOCIAL_NETWORKS, StorefrontSettings};
use crate::state::AppState;
use crate::tenancy::{Tenant, TenantTx};

pub const CART_COOKIE: &str = "sf_cart";
pub const SESSION_COOKIE: &str = "sf_session";
pub const REFRESH_COOKIE: &str = "sf_refresh";
pub const CSRF_COOKIE: &str = "sf_csrf";

pub struct Site {
    pub state: AppState,
    pub theme: Arc<Theme>,
    pub tenant: Tenant,
    /// The shop's public base URL (`https://tinashop.example.com`), for canonical links.
    pub base_url: String,
    pub cookies: HashMap<String, String>,
    pub customer: Option<Uuid>,
    /// The CSRF token of this page's forms, for the request's `sf_csrf` cookie (or for the new
    /// one this response sets, which no earlier form can carry).
    pub csrf: String,
    /// The CSP nonce of this response's one `<style>` element (the accent colour).
    pub nonce: String,
    pub secure: bool,
    set_cookies: Mutex<Vec<String>>,
}

/// A page's transaction, with what the layout shows.
pub struct Page {
    pub tx: TenantTx,
    pub layout: Layout,
}

/// The part of the layout every visitor of the shop sees alike: cached.
#[derive(Serialize, Deserialize)]
struct ShopLayout {
    settings: StorefrontSettings,
    menu: Vec<StoreCategory>,
}

/// What every page shows around its own content.
pub struct Layout {
    pub settings: StorefrontSettings,
    /// Every category in tree order (the menu shows the top level).
    pub menu: Vec<StoreCategory>,
    pub cart_count: i64,
}

impl Page {
    /// Commits the page's reads; what the layout needs stays.
    pub async fn commit(self) -> AppResult<Layout> {
        self.tx.commit().await?;
        Ok(self.layout)
    }
}

/// What the layout needs to know of the shop.
#[derive(Serialize)]
struct ShopView<'a> {
    name: &'a str,
    url: &'a str,
    accent: &'a str,
    accent_text: &'static str,
    accent_ink: String,
    announcement: &'a str,
    logo_url: Option<&'a str>,
    social: Vec<(&'a str, &'a str)>,
}

impl Site {
    pub fn new(
        state: AppState,
        theme: Arc<Theme>,
        csrf_key: &CsrfKey,
        tenant: Tenant,
        cookies: HashMap<String, String>,
    ) -> Self {
        let secure = is_secure(&state);
        let base_url = match &tenant.primary_domain {
            Some(domain) => state.config.url_of_host(domain),
            None => state.shop_url(&tenant.slug),
        };
        let (csrf_cookie, set_csrf) = csrf_cookie(&cookies, secure);
        let set_cookies = set_csrf.into_iter().collect();
        let csrf = csrf_key.token(tenant.id, &csrf_cookie);
        Self {
            state,
            theme,
            tenant,
            base_url,
            cookies,
            customer: None,
            csrf,
            nonce: security::random_token(),
            secure,
            set_cookies: Mutex::new(set_cookies),
        }
    }

    /// Finds the signed-in customer from the session cookies, renewing an expired access
    /// token with the refresh token (and forgetting both when that fails).
    pub async fn identify(&mut self) {
        let claims = self
            .cookies
            .get(SESSION_COOKIE)
            .and_then(|token| self.state.tokens.verify(token, &[TokenKind::Customer]))
            .filter(|claims| claims.shop == Some(self.tenant.id.0));
        if let Some(claims) = claims {
            let revoked = match claims.sid {
                Some(sid) => {
                    self.state.sessions.is_revoked(&self.tenant, sid).await.unwrap_or(true)
                }
                None => false,
            };
            if !revoked {
                self.customer = Some(claims.sub);
                return;
            }
        }
        let Some(refresh) = self.cookies.get(REFRESH_COOKIE).cloned() else { return };
        match sessions::refresh(&self.state, &self.tenant, TokenKind::Customer, &refresh).await {
            Ok(pair) => {
                if let Some(claims) =
                    self.state.tokens.verify(&pair.access_token, &[TokenKind::Customer])
                {
                    self.customer = Some(claims.sub);
                }
                self.sign_in_cookies(&pair.access_token, &pair.refresh_token);
            }
            Err(_) => self.sign_out_cookies(),
        }
    }

    pub fn sign_in_cookies(&self, access: &str, refresh: &str) {
        let days = self.state.config.refresh_token_ttl_days.saturating_mul(86_400);
        self.set_cookie(cookie(SESSION_COOKIE, access, None, self.secure));
        self.set_cookie(cookie(REFRESH_COOKIE, refresh, Some(days), self.secure));
    }

    pub fn sign_out_cookies(&self) {
        for name in [SESSION_COOKIE, REFRESH_COOKIE] {
            self.set_cookie(cookie(name, "", Some(0), self.secure));
        }
    }

    pub fn set_cart_cookie(&self, token: &str) {
        self.set_cookie(cookie(CART_COOKIE, token, Some(30 * 86_400), self.secure));
    }

    /// Forgets the guest cart (merged into a customer's, or checked out).
    pub fn clear_cart_cookie(&self) {
        self.set_cookie(cookie(CART_COOKIE, "", Some(0), self.secure));
    }

    pub fn refresh_token(&self) -> Option<&str> {
        self.cookies.get(REFRESH_COOKIE).map(String::as_str).filter(|t| !t.is_empty())
    }

    pub fn cart_token(&self) -> Option<&str> {
        self.cookies.get(CART_COOKIE).map(String::as_str).filter(|t| !t.is_empty())
    }

    fn set_cookie(&self, header: String) {
        if let Ok(mut cookies) = self.set_cookies.lock() {
            cookies.push(header);
        }
    }

    /// The `Set-Cookie` values of this response.
    pub fn take_cookies(&self) -> Vec<String> {
        self.set_cookies.lock().map(|mut c| std::mem::take(&mut *c)).unwrap_or_default()
    }

    /// Opens the page's transaction and reads what the layout shows (the shop's part cached).
    pub async fn begin(&self) -> AppResult<Page> {
        let ShopLayout { settings, menu } = self.shop_layout().await?;
        let mut tx = TenantTx::begin(&self.state.pool, &self.tenant).await?;
        let cart_count = crate::cart::item_count(&mut tx, self.customer, self.cart_token()).await?;
        Ok(Page { tx, layout: Layout { settings, menu, cart_count } })
    }

    /// What the layout shows, for a page that needs no transaction of its own: the shop's part
    /// from the cache, and the cart's item count read only when there is a cart to count.
    pub async fn layout(&self) -> AppResult<Layout> {
        let ShopLayout { settings, menu } = self.shop_layout().await?;
        let cart_count = if self.customer.is_some() || self.cart_token().is_some() {
            let mut tx = TenantTx::begin(&self.state.pool, &self.tenant).await?;
            let count = crate::cart::item_count(&mut tx, self.customer, self.cart_token()).await?;
            tx.commit().await?;
            count
        } else {
            0
        };
        Ok(Layout { settings, menu, cart_count })
    }

    /// The storefront settings (with the logo's URL) and the category menu, through the cache.
    async fn shop_layout(&self) -> AppResult<ShopLayout> {
        let state = &self.state;
        state
            .cache
            .read(self.tenant.id, "page.layout", "", async {
                let mut tx = TenantTx::begin(&state.pool, &self.tenant).await?;
                let settings = storefront_settings::load(&mut tx).await?;
                let menu = category_tree(&mut tx).await?;
                tx.commit().await?;
                let settings = storefront_settings::with_logo_url(
                    settings,
                    state.store.as_ref(),
                    self.tenant.id,
                )
                .await?;
                Ok(ShopLayout { settings, menu })
            })
            .await
    }

    /// Renders `template` in the layout of the shop, with `data` merged into the context.
    pub fn render(
        &self,
        settings: &StorefrontSettings,
        menu: &[StoreCategory],
        cart_count: i64,
        template: &str,
        status: StatusCode,
        data: Value,
    ) -> Response {
        let accent = settings.accent_color.as_str();
        let shop = ShopView {
            name: &self.tenant.name,
            url: &self.base_url,
            accent,
            accent_text: contrast::text_on(accent),
            accent_ink: contrast::ink_on_white(accent),
            announcement: &settings.announcement,
            logo_url: settings.logo_url.as_deref(),
            social: SOCIAL_NETWORKS
                .iter()
                .filter_map(|n| settings.social_links.get(*n).map(|url| (*n, url.as_str())))
                .collect(),
        };
        let context = minijinja::context! {
            shop => Value::from_serialize(&shop),
            locale => settings.locale,
            currency => self.tenant.currency,
            menu => Value::from_serialize(menu.iter().filter(|c| c.depth == 0).collect::<Vec<_>>()),
            cart_count => cart_count,
            signed_in => self.customer.is_some(),
            csrf => self.csrf,
            nonce => self.nonce,
            ..data
        };
        match self.theme.render(template, context) {
            Ok(html) => super::html(status, html),
            Err(err) => {
                tracing::error!(shop = %self.tenant.slug, template, error = %format!("{err:#}"), "template failed");
                super::html(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "<!doctype html><title>Error</title><p>Something went wrong.</p>".to_owned(),
                )
            }
        }
    }

    /// A page of `layout` with status 200.
    pub fn show(&self, layout: &Layout, template: &str, data: Value) -> Response {
        self.show_status(layout, template, StatusCode::OK, data)
    }

    /// A page of `layout` with `status` (a form shown again after a refusal).
    pub fn show_status(
        &self,
        layout: &Layout,
        template: &str,
        status: StatusCode,
        data: Value,
    ) -> Response {
        self.render(&layout.settings, &layout.menu, layout.cart_count, template, status, data)
    }

    /// The shopper of this request, if they have an account or a cart.
    pub fn shopper(&self) -> Option<Shopper> {
        match (self.customer, self.cart_token()) {
            (Some(customer), _) => Some(Shopper::Customer(customer)),
            (None, Some(token)) => Some(Shopper::Guest { token: token.to_owned() }),
            (None, None) => None,
        }
    }
}

/// Whether the public URLs are https (cookies are then `Secure`).
pub fn is_secure(state: &AppState) -> bool {
    state.config.public_url_template.starts_with("https://")
}

/// The request's `sf_csrf` cookie value, or a new one with the `Set-Cookie` that sets it.
pub fn csrf_cookie(cookies: &HashMap<String, String>, secure: bool) -> (String, Option<String>) {
    match cookies.get(CSRF_COOKIE).filter(|v| security::well_formed(v)) {
        Some(value) => (value.clone(), None),
        None => {
            let value = security::random_token();
            let set = cookie(CSRF_COOKIE, &value, None, secure);
            (value, Some(set))
        }
    }
}

/// A `Set-Cookie` value: host-only, `Path=/`, `HttpOnly`, `SameSite=Lax`, `Secure` on https.
fn cookie(name: &str, value: &str, max_age: Option<u64>, secure: bool) -> String {
    let mut out = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        out.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        out.push_str("; Secure");
    }
    out
}

/// The request's cookies by name (the first of a repeated name wins).
pub fn parse_cookies(header: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in header.unwrap_or_default().split(';') {
        if let Some((name, value)) = pair.trim().split_once('=') {
            out.entry(name.trim().to_owned()).or_insert_with(|| value.trim().to_owned());
        }
    }
    out
}
