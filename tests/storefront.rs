//! The HTML storefront on shop hosts: pages, escaping, security headers, cookies, CSRF, the
//! cart's forms, settings, and that nothing of one shop reaches another shop's pages.

mod common;

use common::browser::{Browser, active_product, csrf_of};
use common::{BASE_DOMAIN, TestApp, assert_error};
use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn pages_escape_what_shops_typed_and_carry_the_security_headers() {
    let app = TestApp::spawn().await;
    let shop = app.signup("pages").await;
    let slug = active_product(
        &app,
        &shop,
        "<script>alert(1)</script> Mug",
        "Bold <b>clay</b> mug",
        1250,
        3,
    )
    .await;
    let mut browser = Browser::on(&app, &shop);

    let home = browser.get("/").await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    assert!(home.headers[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    assert!(home.body.contains("&lt;script&gt;alert(1)&lt;"), "{}", home.body);
    assert!(!home.body.contains("<script>alert(1)"), "a product name must render as text");
    assert!(home.body.contains("$12.50"), "USD with two decimals: {}", home.body);
    let csp = home.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(home.headers["x-content-type-options"], "nosniff");
    assert!(home.headers.contains_key("referrer-policy"));

    let page = browser.get(&format!("/products/{slug}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("Bold &lt;b&gt;clay") && !page.body.contains("<b>clay"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("\"@type\":\"Product\"") && page.body.contains("\"price\":\"12.50\""),
        "JSON-LD offer: {}",
        page.body
    );
    assert!(page.body.contains("https://schema.org/InStock"));
    // minijinja escapes `/` in attributes as `&#x2f;`, which browsers read as `/`.
    let canonical = format!("http://{}.{BASE_DOMAIN}/products/{slug}", shop.slug);
    let canonical =
        format!("<link rel=\"canonical\" href=\"{}\">", canonical.replace('/', "&#x2f;"));
    assert!(page.body.contains(&canonical), "{}", page.body);
    assert!(!page.body.contains("<script>alert(1)"), "JSON-LD escapes the name too");

    let missing = browser.get("/products/no-such-thing").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing.body.contains("Page not found")
            && missing.body.contains(&format!("Shop {}", shop.slug)),
        "a 404 in the shop's look: {}",
        missing.body
    );
    let nowhere = browser.get("/no/such/page").await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);

    // The API keeps answering JSON on the same host.
    let api = app.host(Method::GET, &browser.host, "/v1/store/products").send().await.unwrap();
    assert_eq!(api.status(), StatusCode::OK);
    assert!(api.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("application/json"));
}

#[tokio::test]
async fn a_vietnamese_shop_speaks_vietnamese_and_writes_dong_without_decimals() {
    let app = TestApp::spawn().await;
    let shop = app.signup_with("vnd", "VND").await;
    let slug = active_product(&app, &shop, "Áo thun", "", 350_000, 5).await;
    let (status, settings) = app
        .owner(&shop, Method::PATCH, "/v1/admin/shop/storefront", Some(json!({ "locale": "vi", "accent_color": "#FFEB3B", "announcement": "Miễn phí giao hàng" })))
        .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert_eq!((&settings["locale"], &settings["accent_color"]), (&json!("vi"), &json!("#ffeb3b")));

    let mut browser = Browser::on(&app, &shop);
    let page = browser.get(&format!("/products/{slug}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<html lang=\"vi\">"));
    assert!(page.body.contains("350.000 ₫"), "{}", page.body);
    assert!(page.body.contains("Thêm vào giỏ") && page.body.contains("Miễn phí giao hàng"));
    assert!(
        page.body.contains("--accent:#ffeb3b;--accent-text:#000000"),
        "black text on yellow: {}",
        page.body
    );

    // An omitted field keeps its value; a bad one is refused with the field named.
    let (status, kept) = app
        .owner(
            &shop,
            Method::PATCH,
            "/v1/admin/shop/storefront",
            Some(json!({ "hero_title": "Xin chào" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((&kept["locale"], &kept["hero_title"]), (&json!("vi"), &json!("Xin chào")));
    let (status, err) = app
        .owner(
            &shop,
            Method::PATCH,
            "/v1/admin/shop/storefront",
            Some(json!({ "accent_color": "red" })),
        )
        .await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(err["error"]["field"], "accent_color");
}

#[tokio::test]
async fn a_guest_fills_a_cart_through_forms_with_csrf_and_host_only_cookies() {
    let app = TestApp::spawn().await;
    let shop = app.signup("cartpage").await;
    let slug = active_product(&app, &shop, "Teapot", "", 4200, 2).await;
    let mut browser = Browser::on(&app, &shop);
    let page = browser.get(&format!("/products/{slug}")).await;
    let csrf = csrf_of(&page);
    let csrf_cookie =
        page.set_cookies.iter().find(|c| c.starts_with("sf_csrf=")).expect("csrf cookie");
    assert!(
        csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Lax"),
        "{csrf_cookie}"
    );
    assert!(!csrf_cookie.to_ascii_lowercase().contains("domain="), "host-only: {csrf_cookie}");

    // Without the token, nothing happens.
    let refused = browser.post("/cart/items", &[("product", &slug), ("quantity", "1")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("This form has expired"));
    assert!(!browser.cookies.contains_key("sf_cart"), "no cart was made");

    let added = browser
        .post("/cart/items", &[("csrf", &csrf), ("product", &slug), ("quantity", "2")])
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    assert_eq!(added.headers[LOCATION], "/cart");
    let cart_cookie =
        added.set_cookies.iter().find(|c| c.starts_with("sf_cart=")).expect("cart cookie");
    assert!(
        cart_cookie.contains("HttpOnly") && !cart_cookie.to_ascii_lowercase().contains("domain="),
        "{cart_cookie}"
    );

    let cart = browser.get("/cart").await;
    assert_eq!(cart.status, StatusCode::OK);
    assert!(cart.body.contains("Teapot") && cart.body.contains("$84.00"), "{}", cart.body);
    assert!(cart.body.contains("Cart (2)"));

    // More than the stock: refused, and the cart says why.
    let more = browser
        .post("/cart/items", &[("csrf", &csrf), ("product", &slug), ("quantity", "1")])
        .await;
    assert_eq!(more.headers[LOCATION], format!("/products/{slug}?error=insufficient_stock"));
    let shown = browser.get(more.headers[LOCATION].to_str().unwrap()).await;
    assert!(shown.body.contains("Not enough in stock"), "{}", shown.body);

    let unknown = browser.post("/cart/discount", &[("csrf", &csrf), ("code", "NOPE")]).await;
    assert_eq!(unknown.headers[LOCATION], "/cart?error=discount_not_found");
    let line = cart
        .body
        .split("action=\"/cart/items/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a line form")
        .to_owned();
    let removed =
        browser.post(&format!("/cart/items/{line}"), &[("csrf", &csrf), ("quantity", "0")]).await;
    assert_eq!(removed.headers[LOCATION], "/cart");
    assert!(browser.get("/cart").await.body.contains("Your cart is empty"));
}

#[tokio::test]
async fn nothing_of_one_shop_reaches_another_shops_pages() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.signup("iso-a").await, app.signup("iso-b").await);
    let slug = active_product(&app, &a, "Only in A", "", 1000, 5).await;
    let mut on_a = Browser::on(&app, &a);
    let page = on_a.get(&format!("/products/{slug}")).await;
    let csrf = csrf_of(&page);
    on_a.post("/cart/items", &[("csrf", &csrf), ("product", &slug), ("quantity", "1")]).await;
    assert!(on_a.get("/cart").await.body.contains("Only in A"));

    // Shop A's cookies, carried to shop B's host by hand: B sees no cart and refuses A's form token.
    let mut on_b = Browser::on(&app, &b);
    on_b.cookies = on_a.cookies.clone();
    let cart = on_b.get("/cart").await;
    assert_eq!(cart.status, StatusCode::OK);
    assert!(
        !cart.body.contains("Only in A") && cart.body.contains("Your cart is empty"),
        "{}",
        cart.body
    );
    let refused = on_b.post("/cart/discount", &[("csrf", &csrf), ("code", "X")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "A's CSRF token is useless on B");
    assert_eq!(on_b.get(&format!("/products/{slug}")).await.status, StatusCode::NOT_FOUND);
    assert!(!on_b.get("/").await.body.contains("Only in A"));
}

#[tokio::test]
async fn a_suspended_shop_and_an_unknown_host_get_plain_pages() {
    let app = TestApp::spawn().await;
    let shop = app.signup("closed").await;
    let admin = app.platform_admin_token().await;
    let (status, _) = app
        .as_admin(&admin, Method::POST, &format!("/v1/platform/shops/{}/suspend", shop.id), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut browser = Browser::on(&app, &shop);
    let page = browser.get("/").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        page.body.contains("This shop is unavailable") && !page.body.contains(&shop.slug),
        "{}",
        page.body
    );
    assert!(page.headers.contains_key("retry-after"));

    let mut nowhere = Browser::new(&app, &format!("no-such-shop.{BASE_DOMAIN}"));
    let page = nowhere.get("/").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("Page not found"));
    assert!(page.headers.contains_key("content-security-policy"));
}

/// The object key in a local-store URL (`…/v1/objects/<key>?…`).
fn key_in(url: &str) -> shopfleet::storage::ObjectKey {
    let path = url.split("/v1/objects/").nth(1).and_then(|rest| rest.split('?').next());
    shopfleet::storage::ObjectKey::parse_any(path.expect("a local-store URL")).expect("a key")
}

#[tokio::test]
async fn a_shop_uploads_a_logo_that_its_pages_show_and_a_replaced_one_is_deleted() {
    let app = TestApp::spawn().await;
    let shop = app.signup("logo").await;
    let png = |n: u8| [&b"\x89PNG\r\n\x1a\n"[..], &[n; 64]].concat();
    let upload = |body: Vec<u8>| {
        app.shop(Method::PUT, &shop.slug, "/v1/admin/shop/storefront/logo")
            .bearer_auth(&shop.token)
            .header("content-type", "application/octet-stream")
            .body(body)
    };
    let refused = upload(b"GIF? no, plain text".to_vec()).send().await.unwrap();
    let (status, err) = (refused.status(), refused.json::<serde_json::Value>().await.unwrap());
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "unsupported_image_type");

    let first: serde_json::Value = upload(png(1)).send().await.unwrap().json().await.unwrap();
    let first_url = first["logo_url"].as_str().expect("a logo URL").to_owned();
    let home = Browser::on(&app, &shop).get("/").await;
    let shown = format!("alt=\"Shop {}\"", shop.slug);
    assert!(
        home.body.contains(&shown) && home.body.contains("class=\"brand\" href=\"/\"><img"),
        "{}",
        home.body
    );

    let second: serde_json::Value = upload(png(2)).send().await.unwrap().json().await.unwrap();
    assert_ne!(second["logo_url"], first["logo_url"]);
    let old = key_in(&first_url);
    common::eventually(
        "the replaced logo's deletion",
        std::time::Duration::from_secs(20),
        || async { app.state.store.head(&old).await.ok().flatten().is_none().then_some(()) },
    )
    .await;
    let new = key_in(second["logo_url"].as_str().unwrap());
    assert!(app.state.store.head(&new).await.unwrap().is_some(), "the new logo stays");
    let (status, cleared) =
        app.owner(&shop, Method::DELETE, "/v1/admin/shop/storefront/logo", None).await;
    assert_eq!((status, &cleared["logo_url"]), (StatusCode::OK, &serde_json::Value::Null));
}
