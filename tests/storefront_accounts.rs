//! The storefront's checkout, order, account, SEO and landing pages: what a customer (or a
//! new shop owner) sees, through the same forms a browser posts.

mod common;

use common::browser::{Browser, Page, active_product, csrf_of};
use common::dns::unique_hostname;
use common::{BASE_DOMAIN, TestApp, TestShop};
use reqwest::header::LOCATION;
use reqwest::{Method, StatusCode};
use serde_json::json;

/// The value of the hidden field `name` of a page's form.
fn hidden(page: &Page, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.body.find(&marker).unwrap_or_else(|| panic!("no {name} field")) + marker.len();
    page.body[start..].split('"').next().unwrap_or_default().to_owned()
}

/// A guest's browser with `quantity` of a new product in the cart, on a shop that ships.
async fn guest_with_cart<'a>(app: &'a TestApp, shop: &TestShop, quantity: &str) -> Browser<'a> {
    app.shipping_method(shop, 500, None).await;
    let slug = active_product(app, shop, "Lamp", "", 3000, 10).await;
    let mut browser = Browser::on(app, shop);
    let page = browser.get(&format!("/products/{slug}")).await;
    let csrf = csrf_of(&page);
    let added = browser
        .post("/cart/items", &[("csrf", &csrf), ("product", &slug), ("quantity", quantity)])
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    browser
}

fn address_fields<'a>(csrf: &'a str, key: &'a str, method: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("key", key),
        ("email", "buyer@example.com"),
        ("name", "Lan Nguyen"),
        ("line1", "12 Hang Bac"),
        ("city", "Hanoi"),
        ("postal_code", "100000"),
        ("country", "VN"),
        ("shipping", method),
        ("payment", "test_card"),
        ("card_number", "4242 4242 4242 4242"),
    ]
}

#[tokio::test]
async fn a_guest_checks_out_through_the_form_once_however_often_it_is_sent() {
    let app = TestApp::spawn().await;
    let shop = app.signup("checkout-page").await;
    let mut browser = guest_with_cart(&app, &shop, "2").await;

    let form = browser.get("/checkout").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert!(form.body.contains("Lamp") && form.body.contains("$60.00"), "{}", form.body);
    let (csrf, key, method) = (csrf_of(&form), hidden(&form, "key"), hidden(&form, "shipping"));

    // A missing city: the form comes back with what was typed and the field marked.
    let mut fields = address_fields(&csrf, &key, &method);
    fields.retain(|(name, _)| *name != "city");
    let refused = browser.post("/checkout", &fields).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert!(refused.body.contains("value=\"12 Hang Bac\""), "typed values are kept");
    assert!(refused.body.contains("id=\"city\" name=\"city\" type=\"text\" value=\"\" required"));
    assert!(
        refused
            .body
            .contains("aria-invalid=\"true\" aria-describedby=\"shipping_address-city-error\"")
    );

    let fields = address_fields(&csrf, &key, &method);
    let placed = browser.post("/checkout", &fields).await;
    assert_eq!(placed.status, StatusCode::SEE_OTHER, "{}", placed.body);
    let location = placed.headers[LOCATION].to_str().unwrap().to_owned();
    assert!(location.starts_with("/orders/1001?token="), "{location}");
    // The same form sent again (a double click): the same order, not a second one.
    let again = browser.post("/checkout", &fields).await;
    assert_eq!(again.headers[LOCATION].to_str().unwrap(), location);
    let (_, orders) = app.owner(&shop, Method::GET, "/v1/admin/orders", None).await;
    assert_eq!(orders["items"].as_array().unwrap().len(), 1, "{orders}");

    let order = browser.get(&location).await;
    assert_eq!(order.status, StatusCode::OK);
    assert!(
        order.body.contains("Order #1001") && order.body.contains("Lan Nguyen"),
        "{}",
        order.body
    );
    assert!(order.body.contains("$65.00"), "2 × $30 + $5 shipping: {}", order.body);
    assert!(browser.get("/cart").await.body.contains("Your cart is empty"));
    // Without its token the order is nobody's business.
    assert_eq!(browser.get("/orders/1001").await.status, StatusCode::NOT_FOUND);
    assert_eq!(browser.get("/orders/1001?token=ot_wrong").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_customer_signs_up_buys_and_finds_the_order_in_their_account() {
    let app = TestApp::spawn().await;
    let shop = app.signup("account-page").await;
    let mut browser = guest_with_cart(&app, &shop, "1").await;

    let form = browser.get("/account/register").await;
    let csrf = csrf_of(&form);
    let weak = browser
        .post(
            "/account/register",
            &[("csrf", &csrf), ("email", "mai@example.com"), ("password", "short")],
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        weak.body.contains("id=\"password-error\"")
            && weak.body.contains("value=\"mai@example.com\"")
    );
    let created = browser
        .post(
            "/account/register",
            &[
                ("csrf", &csrf),
                ("email", "mai@example.com"),
                ("password", "a-long-passphrase"),
                ("first_name", "Mai"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let session =
        created.set_cookies.iter().find(|c| c.starts_with("sf_session=")).expect("session");
    assert!(session.contains("HttpOnly") && !session.to_ascii_lowercase().contains("domain="));

    // The guest cart came along; checkout uses the account's e-mail.
    let checkout = browser.get("/checkout").await;
    assert!(checkout.body.contains("Lamp") && checkout.body.contains("mai@example.com"));
    let (csrf2, key, method) =
        (csrf_of(&checkout), hidden(&checkout, "key"), hidden(&checkout, "shipping"));
    let fields = address_fields(&csrf2, &key, &method);
    let fields: Vec<_> = fields.into_iter().filter(|(name, _)| *name != "email").collect();
    let placed = browser.post("/checkout", &fields).await;
    assert_eq!(placed.status, StatusCode::SEE_OTHER, "{}", placed.body);

    let account = browser.get("/account").await;
    assert!(
        account.body.contains("#1001") && account.body.contains("mai@example.com"),
        "{}",
        account.body
    );
    let added = browser
        .post(
            "/account/addresses",
            &[
                ("csrf", &csrf),
                ("name", "Mai"),
                ("line1", "1 Trang Tien"),
                ("city", "Hanoi"),
                ("postal_code", "100000"),
                ("country", "vn"),
            ],
        )
        .await;
    assert_eq!(added.headers[LOCATION], "/account");
    assert!(browser.get("/account").await.body.contains("1 Trang Tien"));

    // Signed out, the account page asks to sign in; a wrong password says only that.
    let out = browser.post("/account/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(browser.get("/account").await.headers[LOCATION], "/account/login");
    let wrong = browser
        .post(
            "/account/login",
            &[("csrf", &csrf), ("email", "mai@example.com"), ("password", "not-the-password")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("The e-mail or password is wrong."));
    let back = browser
        .post(
            "/account/login",
            &[("csrf", &csrf), ("email", "mai@example.com"), ("password", "a-long-passphrase")],
        )
        .await;
    assert_eq!(back.headers[LOCATION], "/account");
    assert!(browser.get("/account").await.body.contains("#1001"));
}

#[tokio::test]
async fn a_customer_session_of_one_shop_is_useless_on_another() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.signup("sess-a").await, app.signup("sess-b").await);
    let mut on_a = Browser::on(&app, &a);
    let csrf = csrf_of(&on_a.get("/account/register").await);
    on_a.post(
        "/account/register",
        &[("csrf", &csrf), ("email", "kim@example.com"), ("password", "a-long-passphrase")],
    )
    .await;
    assert!(on_a.get("/account").await.body.contains("kim@example.com"));

    let mut on_b = Browser::on(&app, &b);
    on_b.cookies = on_a.cookies.clone();
    let page = on_b.get("/account").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "A's session cookie does not sign in on B");
    assert_eq!(page.headers[LOCATION], "/account/login");
    assert!(on_b.get("/").await.body.contains("Sign in"));
}

#[tokio::test]
async fn search_engines_get_a_sitemap_of_active_products_and_robots_rules() {
    let app = TestApp::spawn().await;
    let shop = app.signup("seo").await;
    let active = active_product(&app, &shop, "Kettle", "", 2000, 1).await;
    let (status, draft) = app
        .owner(&shop, Method::POST, "/v1/admin/products", Some(json!({ "name": "Secret", "slug": "secret-draft", "status": "draft", "variants": [{ "price": 100, "stock": 1 }] })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    let mut browser = Browser::on(&app, &shop);
    let base = format!("http://{}.{BASE_DOMAIN}", shop.slug);

    let robots = browser.get("/robots.txt").await;
    assert!(
        robots.body.contains(&format!("Sitemap: {base}/sitemap.xml"))
            && robots.body.contains("Disallow: /checkout")
    );
    let index = browser.get("/sitemap.xml").await;
    assert!(
        index.body.contains(&format!("<loc>{base}/sitemaps/products-1.xml</loc>")),
        "{}",
        index.body
    );
    assert!(!index.body.contains("products-2.xml"));
    let products = browser.get("/sitemaps/products-1.xml").await;
    assert!(
        products.body.contains(&format!("<loc>{base}/products/{active}</loc>")),
        "{}",
        products.body
    );
    assert!(!products.body.contains("secret-draft"), "drafts are never listed");
    assert_eq!(browser.get("/sitemaps/products-2.xml").await.status, StatusCode::NOT_FOUND);
    assert!(
        browser.get("/sitemaps/categories.xml").await.body.contains(&format!("<loc>{base}/</loc>"))
    );
}

#[tokio::test]
async fn a_verified_primary_domain_takes_the_subdomains_readers_with_a_301() {
    let app = TestApp::spawn().await;
    let shop = app.signup("primary").await;
    let host = unique_hostname("primary");
    let domain = app.verified_domain(&shop, &host).await;
    let id = domain["id"].as_str().unwrap();
    let (status, body) =
        app.owner(&shop, Method::POST, &format!("/v1/admin/domains/{id}/primary"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let mut on_subdomain = Browser::on(&app, &shop);
    let moved = on_subdomain.get("/search?q=lamp").await;
    assert_eq!(moved.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(moved.headers[LOCATION], format!("http://{host}/search?q=lamp"));
    let mut on_domain = Browser::new(&app, &host);
    let home = on_domain.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    let canonical = format!("http://{host}/").replace('/', "&#x2f;");
    assert!(
        home.body.contains(&format!("rel=\"canonical\" href=\"{canonical}\"")),
        "{}",
        home.body
    );
}

#[tokio::test]
async fn the_platform_host_offers_a_shop_to_anyone_through_its_sign_up_form() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app, BASE_DOMAIN);
    let landing = browser.get("/").await;
    assert_eq!(landing.status, StatusCode::OK);
    assert!(landing.body.contains("Create your shop"));
    let csrf = csrf_of(&landing);
    let slug = format!("landed-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let fields = |csrf: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("name", "Landed Shop".to_owned()),
            ("slug", slug.clone()),
            ("currency", "EUR".to_owned()),
            ("owner_email", format!("owner@{slug}.example.com")),
            ("owner_password", "a-long-passphrase".to_owned()),
        ]
    };
    let forged: Vec<(&str, String)> = fields("0".repeat(64).as_str());
    let refused = browser.send(app.host(Method::POST, BASE_DOMAIN, "/signup").form(&forged)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let created =
        browser.send(app.host(Method::POST, BASE_DOMAIN, "/signup").form(&fields(&csrf))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(created.body.contains("Landed Shop is ready"));
    assert!(
        created.body.contains(&format!("http:&#x2f;&#x2f;{slug}.{BASE_DOMAIN}")),
        "{}",
        created.body
    );
    let shop_home = Browser::new(&app, &format!("{slug}.{BASE_DOMAIN}")).get("/").await;
    assert_eq!(shop_home.status, StatusCode::OK);

    // The same address again: the form comes back with the reason beside the field.
    let taken =
        browser.send(app.host(Method::POST, BASE_DOMAIN, "/signup").form(&fields(&csrf))).await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.body);
    assert!(taken.body.contains("value=\"Landed Shop\""));

    // Everything else on the platform host stays the JSON API.
    let api = app.host(Method::GET, BASE_DOMAIN, "/nowhere").send().await.unwrap();
    assert!(api.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
}
