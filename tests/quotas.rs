//! Plan quotas (README, "Plans and quotas"): products, staff, webhook endpoints, custom domains
//! and stored image bytes are refused past the shop's plan with 403 `plan_limit_reached`, the
//! limit and the usage; the last slot goes to exactly one of several concurrent creations; one
//! shop at its limit does not hold back another; the platform's shop detail shows usage
//! against each limit; a downgrade below usage is allowed and blocks further creation.

mod common;

use common::dns::unique_hostname;
use common::*;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A plan of this test's own, with small limits (`None`: unlimited).
struct Limits {
    products: Option<i32>,
    staff: Option<i32>,
    webhook_endpoints: Option<i32>,
    custom_domains: Option<i32>,
    storage_bytes: Option<i64>,
}

const UNLIMITED: Limits = Limits {
    products: None,
    staff: None,
    webhook_endpoints: None,
    custom_domains: None,
    storage_bytes: None,
};

/// Adds a plan to the catalog (as a platform operator would) and returns its code.
async fn plan(app: &TestApp, limits: Limits) -> String {
    let code = random_slug("tiny");
    sqlx::query(
        "insert into platform.plans (code, name, max_products, max_staff, max_upload_bytes, \
         requests_per_minute, max_webhook_endpoints, max_custom_domains, max_storage_bytes) \
         values ($1, 'Tiny', $2, $3, 5242880, 100000, $4, $5, $6)",
    )
    .bind(&code)
    .bind(limits.products)
    .bind(limits.staff)
    .bind(limits.webhook_endpoints)
    .bind(limits.custom_domains)
    .bind(limits.storage_bytes)
    .execute(&app.pool)
    .await
    .expect("insert the plan");
    code
}

/// Moves a shop to `plan` through the platform API and returns the shop's detail.
async fn set_plan(app: &TestApp, admin: &str, shop: &TestShop, plan: &str) -> Value {
    let (status, detail) = app
        .as_admin(
            admin,
            Method::PATCH,
            &format!("/v1/platform/shops/{}", shop.id),
            Some(json!({ "plan": plan })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "changing the plan: {detail}");
    detail
}

async fn detail(app: &TestApp, admin: &str, shop: &TestShop) -> Value {
    let (status, detail) =
        app.as_admin(admin, Method::GET, &format!("/v1/platform/shops/{}", shop.id), None).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    detail
}

/// `usage.quotas` entry of `resource` in a shop detail.
fn quota<'a>(detail: &'a Value, resource: &str) -> &'a Value {
    detail["usage"]["quotas"]
        .as_array()
        .and_then(|quotas| quotas.iter().find(|q| q["resource"] == resource))
        .unwrap_or_else(|| panic!("no quota {resource} in {detail}"))
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Product,
    Staff,
    Webhook,
    Domain,
}

/// One creation of `kind` as the shop's owner; `i` makes names unique.
async fn create(app: &TestApp, shop: &TestShop, kind: Kind, i: usize) -> (StatusCode, Value) {
    let (path, body) = match kind {
        Kind::Product => (
            "/v1/admin/products",
            json!({ "name": format!("Item {i}"), "variants": [{ "price": 100 }] }),
        ),
        Kind::Staff => (
            "/v1/admin/staff",
            json!({
                "email": format!("s{i}-{}@example.com", &uuid::Uuid::new_v4().simple().to_string()[..8]),
                "role": "staff", "password": PASSWORD,
            }),
        ),
        Kind::Webhook => (
            "/v1/admin/webhooks",
            json!({ "url": format!("http://127.0.0.1:9/hook-{i}"), "events": ["*"] }),
        ),
        Kind::Domain => {
            ("/v1/admin/domains", json!({ "hostname": unique_hostname(&format!("q{i}")) }))
        }
    };
    app.owner(shop, Method::POST, path, Some(body)).await
}

/// A padded JPEG of `len` bytes (recognised by its magic bytes).
fn jpeg(len: usize) -> Vec<u8> {
    let mut data = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00".to_vec();
    data.resize(len - 2, 0);
    data.extend(b"\xFF\xD9");
    data
}

async fn upload(app: &TestApp, shop: &TestShop, product: &str, len: usize) -> (StatusCode, Value) {
    let part = Part::bytes(jpeg(len)).file_name("photo.jpg").mime_str("image/jpeg").unwrap();
    read(
        app.shop(Method::POST, &shop.slug, &format!("/v1/admin/products/{product}/media"))
            .bearer_auth(&shop.token)
            .multipart(Form::new().part("file", part))
            .send()
            .await
            .expect("upload"),
    )
    .await
}

/// Asserts a `plan_limit_reached` refusal and what it says.
fn assert_plan_limit(status: StatusCode, body: &Value, resource: &str, limit: i64, usage: i64) {
    assert_error(status, body, StatusCode::FORBIDDEN, "plan_limit_reached");
    assert_eq!(body["error"]["resource"], resource, "{body}");
    assert_eq!(body["error"]["limit"], limit, "{body}");
    assert_eq!(body["error"]["usage"], usage, "{body}");
}

/// Of `results`, exactly one is created (201) and the others are refused at `limit`.
fn assert_one_winner(results: &[(StatusCode, Value)], resource: &str, limit: i64) {
    let created = results.iter().filter(|(status, _)| *status == StatusCode::CREATED).count();
    assert_eq!(created, 1, "exactly one creation must take the last slot: {results:?}");
    for (status, body) in results.iter().filter(|(status, _)| *status != StatusCode::CREATED) {
        assert_plan_limit(*status, body, resource, limit, limit);
    }
}

/// Fills `kind` up to one below `limit`, then sends `racers` creations at once.
async fn race(app: &TestApp, shop: &TestShop, kind: Kind, limit: usize, racers: usize) {
    let resource = match kind {
        Kind::Product => "products",
        // The owner is a staff member too.
        Kind::Staff => "staff",
        Kind::Webhook => "webhook_endpoints",
        Kind::Domain => "custom_domains",
    };
    let already = if matches!(kind, Kind::Staff) { 1 } else { 0 };
    for i in already..limit - 1 {
        let (status, body) = create(app, shop, kind, i).await;
        assert_eq!(status, StatusCode::CREATED, "{kind:?} {i}: {body}");
    }
    let results =
        futures::future::join_all((0..racers).map(|i| create(app, shop, kind, 100 + i))).await;
    assert_one_winner(&results, resource, limit as i64);
    // And the next one, alone, is refused too.
    let (status, body) = create(app, shop, kind, 1000).await;
    assert_plan_limit(status, &body, resource, limit as i64, limit as i64);
}

#[tokio::test]
async fn concurrent_creations_at_the_last_slot_let_exactly_one_through() {
    let app = TestApp::spawn().await;
    let admin = app.platform_admin_token().await;
    let tiny = plan(
        &app,
        Limits {
            products: Some(3),
            staff: Some(3),
            webhook_endpoints: Some(2),
            custom_domains: Some(2),
            storage_bytes: Some(1000),
        },
    )
    .await;
    let shop = app.signup("quota-race").await;
    set_plan(&app, &admin, &shop, &tiny).await;

    race(&app, &shop, Kind::Product, 3, 6).await;
    race(&app, &shop, Kind::Staff, 3, 3).await;
    race(&app, &shop, Kind::Webhook, 2, 6).await;
    race(&app, &shop, Kind::Domain, 2, 6).await;

    let (_, products) = app.owner(&shop, Method::GET, "/v1/admin/products", None).await;
    assert_eq!(products["items"].as_array().unwrap().len(), 3, "{products}");
    let (_, staff) = app.owner(&shop, Method::GET, "/v1/admin/staff", None).await;
    assert_eq!(staff.as_array().unwrap().len(), 3, "{staff}");
    let (_, hooks) = app.owner(&shop, Method::GET, "/v1/admin/webhooks", None).await;
    assert_eq!(hooks["items"].as_array().unwrap().len(), 2, "{hooks}");
    let (_, domains) = app.owner(&shop, Method::GET, "/v1/admin/domains", None).await;
    assert_eq!(domains.as_array().unwrap().len(), 2, "{domains}");

    // Storage: 2 × 300 bytes stored, then three 300-byte images race for the last 400 bytes.
    let product = products["items"][0]["id"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let (status, body) = upload(&app, &shop, &product, 300).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let results =
        futures::future::join_all((0..3).map(|_| upload(&app, &shop, &product, 300))).await;
    let created = results.iter().filter(|(status, _)| *status == StatusCode::CREATED).count();
    assert_eq!(created, 1, "exactly one image must fit: {results:?}");
    for (status, body) in results.iter().filter(|(status, _)| *status != StatusCode::CREATED) {
        assert_plan_limit(*status, body, "storage_bytes", 1000, 900);
    }
    let (_, images) =
        app.owner(&shop, Method::GET, &format!("/v1/admin/products/{product}/media"), None).await;
    assert_eq!(images.as_array().unwrap().len(), 3, "{images}");
    // A file that still fits is welcome.
    let (status, body) = upload(&app, &shop, &product, 100).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = upload(&app, &shop, &product, 100).await;
    assert_plan_limit(status, &body, "storage_bytes", 1000, 1000);
}

#[tokio::test]
async fn a_shop_at_its_limit_does_not_hold_back_another_shop() {
    let app = TestApp::spawn().await;
    let admin = app.platform_admin_token().await;
    let tiny = plan(
        &app,
        Limits {
            products: Some(1),
            webhook_endpoints: Some(1),
            custom_domains: Some(1),
            ..UNLIMITED
        },
    )
    .await;
    let (a, b) = (app.signup("quota-a").await, app.signup("quota-b").await);
    set_plan(&app, &admin, &a, &tiny).await;
    set_plan(&app, &admin, &b, &tiny).await;

    for kind in [Kind::Product, Kind::Webhook, Kind::Domain] {
        let (status, body) = create(&app, &a, kind, 0).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = create(&app, &a, Kind::Product, 1).await;
    assert_plan_limit(status, &body, "products", 1, 1);

    // B, on the same plan, has its own slots: even while A's creations are being refused.
    for kind in [Kind::Product, Kind::Webhook, Kind::Domain] {
        let ((status_a, body_a), (status_b, body_b)) =
            tokio::join!(create(&app, &a, kind, 2), create(&app, &b, kind, 2));
        assert_eq!(status_a, StatusCode::FORBIDDEN, "{body_a}");
        assert_eq!(body_a["error"]["code"], "plan_limit_reached", "{body_a}");
        assert_eq!(status_b, StatusCode::CREATED, "{kind:?}: {body_b}");
    }
    let (status, body) = create(&app, &b, Kind::Webhook, 3).await;
    assert_plan_limit(status, &body, "webhook_endpoints", 1, 1);

    // A shop on an unlimited plan is never refused for these.
    let c = app.signup("quota-c").await;
    set_plan(&app, &admin, &c, &plan(&app, UNLIMITED).await).await;
    for i in 0..3 {
        let (status, body) = create(&app, &c, Kind::Product, i).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
}

#[tokio::test]
async fn the_platform_shop_detail_shows_usage_against_each_limit() {
    let app = TestApp::spawn().await;
    let admin = app.platform_admin_token().await;
    let shop = app.signup("quota-detail").await;

    // A new shop is on `free`: the owner is its one staff member.
    let fresh = detail(&app, &admin, &shop).await;
    let expected = [
        ("products", 0, json!(100)),
        ("staff", 1, json!(2)),
        ("webhook_endpoints", 0, json!(2)),
        ("custom_domains", 0, json!(1)),
        ("storage_bytes", 0, json!(104_857_600)),
    ];
    assert_eq!(fresh["usage"]["quotas"].as_array().unwrap().len(), expected.len(), "{fresh}");
    for (resource, usage, limit) in &expected {
        let q = quota(&fresh, resource);
        assert_eq!(q["usage"], *usage, "{resource}: {fresh}");
        assert_eq!(q["limit"], *limit, "{resource}: {fresh}");
        assert_eq!(q["at_limit"], false, "{resource}: {fresh}");
    }

    let product = app.product(&shop, "Shown", 500).await["id"].as_str().unwrap().to_owned();
    let (status, body) = upload(&app, &shop, &product, 400).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = create(&app, &shop, Kind::Domain, 0).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = create(&app, &shop, Kind::Webhook, 0).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let after = detail(&app, &admin, &shop).await;
    assert_eq!(quota(&after, "products")["usage"], 1, "{after}");
    assert_eq!(quota(&after, "storage_bytes")["usage"], 400, "{after}");
    assert_eq!(quota(&after, "webhook_endpoints")["usage"], 1, "{after}");
    assert_eq!(quota(&after, "custom_domains")["usage"], 1, "{after}");
    assert_eq!(quota(&after, "custom_domains")["at_limit"], true, "{after}");
    assert_eq!(quota(&after, "webhook_endpoints")["at_limit"], false, "{after}");

    // On `pro`, products, staff and storage are unlimited (null).
    let pro = set_plan(&app, &admin, &shop, "pro").await;
    for resource in ["products", "staff", "storage_bytes"] {
        assert!(quota(&pro, resource)["limit"].is_null(), "{resource}: {pro}");
        assert_eq!(quota(&pro, resource)["at_limit"], false, "{resource}: {pro}");
    }
    assert_eq!(quota(&pro, "custom_domains")["limit"], 10, "{pro}");
    assert_eq!(quota(&pro, "custom_domains")["at_limit"], false, "{pro}");
}

#[tokio::test]
async fn a_downgrade_below_usage_is_allowed_and_blocks_creation_until_usage_is_under_the_limit() {
    let app = TestApp::spawn().await;
    let admin = app.platform_admin_token().await;
    let shop = app.signup("quota-down").await;
    set_plan(&app, &admin, &shop, "pro").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let (status, body) = create(&app, &shop, Kind::Product, i).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    for i in 0..2 {
        let (status, body) = create(&app, &shop, Kind::Staff, i).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    let tiny = plan(&app, Limits { products: Some(1), staff: Some(2), ..UNLIMITED }).await;
    let downgraded = set_plan(&app, &admin, &shop, &tiny).await;
    assert_eq!(downgraded["plan"], tiny.as_str());
    let products = quota(&downgraded, "products");
    assert_eq!((products["usage"].clone(), products["limit"].clone()), (json!(3), json!(1)));
    assert_eq!(products["at_limit"], true, "{downgraded}");
    assert_eq!(quota(&downgraded, "staff")["usage"], 3, "{downgraded}");

    // Nothing is taken away: the products and staff stay, readable and changeable.
    let (_, list) = app.owner(&shop, Method::GET, "/v1/admin/products", None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 3, "{list}");
    let (status, body) = app
        .owner(
            &shop,
            Method::PATCH,
            &format!("/v1/admin/products/{}", ids[0]),
            Some(json!({ "name": "Renamed" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // But nothing more is created while usage is at or over the limit.
    let (status, body) = create(&app, &shop, Kind::Product, 10).await;
    assert_plan_limit(status, &body, "products", 1, 3);
    let (status, body) = create(&app, &shop, Kind::Staff, 10).await;
    assert_plan_limit(status, &body, "staff", 2, 3);
    for id in &ids[..2] {
        let (status, body) =
            app.owner(&shop, Method::DELETE, &format!("/v1/admin/products/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    let (status, body) = create(&app, &shop, Kind::Product, 11).await;
    assert_plan_limit(status, &body, "products", 1, 1);
    let (status, body) =
        app.owner(&shop, Method::DELETE, &format!("/v1/admin/products/{}", ids[2]), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = create(&app, &shop, Kind::Product, 12).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(quota(&detail(&app, &admin, &shop).await, "products")["usage"], 1);
}
