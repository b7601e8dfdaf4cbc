//! A browser for the storefront tests: one host's cookies, kept the way a real browser keeps
//! host-only cookies, and the pages' forms' CSRF token.

use std::collections::HashMap;

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{BASE_DOMAIN, TestApp, TestShop};

/// A browser on one host: keeps that host's cookies, as a real browser keeps host-only ones.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub host: String,
    pub cookies: HashMap<String, String>,
}

pub struct Page {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub set_cookies: Vec<String>,
    pub body: String,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp, host: &str) -> Self {
        Self { app, host: host.to_owned(), cookies: HashMap::new() }
    }

    pub fn on(app: &'a TestApp, shop: &TestShop) -> Self {
        Self::new(app, &format!("{}.{BASE_DOMAIN}", shop.slug))
    }

    pub async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let cookie: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let request =
            if cookie.is_empty() { request } else { request.header(COOKIE, cookie.join("; ")) };
        let response = request.send().await.expect("request");
        let status = response.status();
        let headers = response.headers().clone();
        let set_cookies: Vec<String> = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for set in &set_cookies {
            let pair = set.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        let body = response.text().await.unwrap_or_default();
        Page { status, headers, set_cookies, body }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.app.host(Method::GET, &self.host, path);
        self.send(request).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let request = self.app.host(Method::POST, &self.host, path).form(fields);
        self.send(request).await
    }
}

/// The value of the hidden `csrf` field of a page's forms.
pub fn csrf_of(page: &Page) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.body.find(marker).expect("a form with a csrf field") + marker.len();
    page.body[start..].split('"').next().unwrap_or_default().to_owned()
}

/// An active product with one variant; returns its slug.
pub async fn active_product(
    app: &TestApp,
    shop: &TestShop,
    name: &str,
    description: &str,
    price: i64,
    stock: i64,
) -> String {
    let slug = format!("p-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let (status, body) = app
        .owner(
            shop,
            Method::POST,
            "/v1/admin/products",
            Some(json!({
                "name": name, "slug": slug, "description": description, "status": "active",
                "variants": [{ "price": price, "stock": stock }]
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    slug
}
