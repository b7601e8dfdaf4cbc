//! Customers: the signed-in customer's address book, and the admin view of customers with their
//! order count and total spent.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shopfleet::tenancy::TenantTx;
use uuid::Uuid;

struct TestCustomer {
    id: String,
    email: String,
    token: String,
}

async fn register(
    app: &TestApp,
    shop: &TestShop,
    email: &str,
    first: &str,
    last: &str,
) -> TestCustomer {
    let (status, body) = read(
        app.shop(Method::POST, &shop.slug, "/v1/store/customers")
            .json(&json!({ "email": email, "password": PASSWORD, "first_name": first, "last_name": last }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    TestCustomer {
        id: body["customer"]["id"].as_str().unwrap().to_owned(),
        email: email.to_owned(),
        token: body["tokens"]["access_token"].as_str().unwrap().to_owned(),
    }
}

async fn any_customer(app: &TestApp, shop: &TestShop) -> TestCustomer {
    let email = format!("c-{}@example.com", &Uuid::new_v4().simple().to_string()[..8]);
    register(app, shop, &email, "Cus", "Tomer").await
}

fn address(name: &str, city: &str) -> Value {
    json!({ "name": name, "line1": "12 Hang Bac", "city": city, "postal_code": "100000", "country": "vn" })
}

async fn as_customer(
    app: &TestApp,
    shop: &TestShop,
    c: &TestCustomer,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    app.as_token(&c.token, &shop.slug, method, path, body).await
}

async fn add_address(app: &TestApp, shop: &TestShop, c: &TestCustomer, body: Value) -> Value {
    let (status, created) =
        as_customer(app, shop, c, Method::POST, "/v1/store/me/addresses", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

/// Percent-encodes a query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(
            |b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            },
        )
        .collect()
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect()
}

/// Writes an order row straight into the shop's schema (nothing in the API creates orders yet).
async fn insert_order(
    app: &TestApp,
    shop: &TestShop,
    customer: &str,
    email: &str,
    status: &str,
    paid: i64,
    refunded: i64,
) {
    let tenant = tenant_of(&app.pool, &shop.slug).await;
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.unwrap();
    sqlx::query(
        "insert into orders (id, token_hash, customer_id, email, status, currency, subtotal, discount_total, \
         shipping_total, tax_total, total, tax_rate_bp, prices_include_tax, shipping_method_name, \
         shipping_address, payment_method, paid_total, refunded_total) \
         values ($1, $2, $3, $4, $5, 'USD', $6, 0, 0, 0, $6, 0, false, 'Standard', '{}', 'manual', $7, $8)",
    )
    .bind(Uuid::now_v7())
    .bind(Uuid::new_v4().as_bytes().to_vec())
    .bind(Uuid::parse_str(customer).unwrap())
    .bind(email)
    .bind(status)
    .bind(paid.max(10_000))
    .bind(paid)
    .bind(refunded)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_customers_address_book_always_has_exactly_one_default() {
    let app = TestApp::spawn().await;
    let shop = app.signup("addr").await;
    let c = any_customer(&app, &shop).await;

    let (status, list) =
        as_customer(&app, &shop, &c, Method::GET, "/v1/store/me/addresses", None).await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));

    let home = add_address(&app, &shop, &c, json!({
        "name": "  Tina Tran ", "line1": "12 Hang Bac", "line2": "Floor 3", "city": "Ha Noi", "region": "HN",
        "postal_code": "100000", "country": " vn ", "phone": "+84 90 123 4567"
    }))
    .await;
    assert_eq!(home["name"], "Tina Tran", "trimmed");
    assert_eq!(home["country"], "VN", "upper-cased");
    assert_eq!(home["line2"], "Floor 3");
    assert_eq!(home["phone"], "+84 90 123 4567");
    assert_eq!(home["is_default"], true, "the first address becomes the default");

    let work = add_address(&app, &shop, &c, address("Tina at work", "Da Nang")).await;
    assert_eq!(work["is_default"], false);
    assert_eq!(work["line2"], "", "optional fields default to empty");
    let (home_id, work_id) = (home["id"].as_str().unwrap(), work["id"].as_str().unwrap());

    // A new default clears the old one.
    let mut new_default = address("Tina at mum's", "Hue");
    new_default["is_default"] = json!(true);
    let mums = add_address(&app, &shop, &c, new_default).await;
    assert_eq!(mums["is_default"], true);
    let mums_id = mums["id"].as_str().unwrap();
    let (_, list) = as_customer(&app, &shop, &c, Method::GET, "/v1/store/me/addresses", None).await;
    assert_eq!(ids(&list), [mums_id, home_id, work_id], "the default first, then oldest first");
    let defaults: Vec<bool> =
        list.as_array().unwrap().iter().map(|a| a["is_default"].as_bool().unwrap()).collect();
    assert_eq!(defaults, [true, false, false]);

    // Change fields and make `work` the default.
    let (status, changed) = as_customer(
        &app,
        &shop,
        &c,
        Method::PATCH,
        &format!("/v1/store/me/addresses/{work_id}"),
        Some(json!({
            "city": "Sai Gon", "country": "us", "is_default": true
        })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (changed["city"].as_str(), changed["country"].as_str(), changed["is_default"].as_bool()),
        (Some("Sai Gon"), Some("US"), Some(true))
    );
    assert_eq!(changed["name"], "Tina at work", "absent fields keep their values");
    let (_, list) = as_customer(&app, &shop, &c, Method::GET, "/v1/store/me/addresses", None).await;
    assert_eq!(ids(&list), [work_id, home_id, mums_id]);

    // The default cannot just be unset.
    let (status, err) = as_customer(
        &app,
        &shop,
        &c,
        Method::PATCH,
        &format!("/v1/store/me/addresses/{work_id}"),
        Some(json!({ "is_default": false })),
    )
    .await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(err["error"]["field"], "is_default");

    // Deleting the default promotes the newest remaining address.
    let (status, _) = as_customer(
        &app,
        &shop,
        &c,
        Method::DELETE,
        &format!("/v1/store/me/addresses/{work_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = as_customer(&app, &shop, &c, Method::GET, "/v1/store/me/addresses", None).await;
    assert_eq!(ids(&list), [mums_id, home_id]);
    assert_eq!(list[0]["is_default"], true);
    assert_eq!(list[1]["is_default"], false);

    let (status, err) = as_customer(
        &app,
        &shop,
        &c,
        Method::DELETE,
        &format!("/v1/store/me/addresses/{work_id}"),
        None,
    )
    .await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "address_not_found");
}

#[tokio::test]
async fn invalid_addresses_are_refused_with_the_field_at_fault() {
    let app = TestApp::spawn().await;
    let shop = app.signup("addr-bad").await;
    let c = any_customer(&app, &shop).await;
    let with = |field: &str, value: Value| {
        let mut body = address("Tina", "Ha Noi");
        body[field] = value;
        body
    };
    for (body, field) in [
        (with("name", json!("   ")), "name"),
        (with("line1", json!("")), "line1"),
        (with("city", json!("x".repeat(101))), "city"),
        (with("postal_code", json!("1".repeat(21))), "postal_code"),
        (with("country", json!("UK")), "country"),
        (with("country", json!("XX")), "country"),
        (with("country", json!("VNM")), "country"),
        (with("country", json!("")), "country"),
        (with("phone", json!("call me")), "phone"),
        (with("line2", json!("a\nb")), "line2"),
    ] {
        let (status, err) = as_customer(
            &app,
            &shop,
            &c,
            Method::POST,
            "/v1/store/me/addresses",
            Some(body.clone()),
        )
        .await;
        assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(err["error"]["field"], field, "{body} -> {err}");
    }
    // A required field missing altogether is a malformed body.
    let (status, err) = as_customer(
        &app,
        &shop,
        &c,
        Method::POST,
        "/v1/store/me/addresses",
        Some(json!({ "name": "Tina", "line1": "x", "postal_code": "1", "country": "VN" })),
    )
    .await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "invalid_request");

    // A PATCH is validated as the whole resulting address; nothing is written on failure.
    let kept = add_address(&app, &shop, &c, address("Tina", "Ha Noi")).await;
    let path = format!("/v1/store/me/addresses/{}", kept["id"].as_str().unwrap());
    let (status, err) = as_customer(
        &app,
        &shop,
        &c,
        Method::PATCH,
        &path,
        Some(json!({ "city": "Hue", "country": "ZZ" })),
    )
    .await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(err["error"]["field"], "country");
    let (_, list) = as_customer(&app, &shop, &c, Method::GET, "/v1/store/me/addresses", None).await;
    assert_eq!(list[0]["city"], "Ha Noi");
    assert_eq!(list.as_array().unwrap().len(), 1, "no invalid address was stored");
}

#[tokio::test]
async fn a_customer_keeps_at_most_fifty_addresses() {
    let app = TestApp::spawn().await;
    let shop = app.signup("addr-max").await;
    let c = any_customer(&app, &shop).await;
    for i in 0..50 {
        add_address(&app, &shop, &c, address(&format!("Address {i}"), "Ha Noi")).await;
    }
    let (status, err) = as_customer(
        &app,
        &shop,
        &c,
        Method::POST,
        "/v1/store/me/addresses",
        Some(address("One too many", "Hue")),
    )
    .await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "too_many_addresses");
    let (_, list) = as_customer(&app, &shop, &c, Method::GET, "/v1/store/me/addresses", None).await;
    assert_eq!(list.as_array().unwrap().len(), 50);
    assert_eq!(list.as_array().unwrap().iter().filter(|a| a["is_default"] == true).count(), 1);

    // Another customer is not affected by this one's limit.
    let other = any_customer(&app, &shop).await;
    add_address(&app, &shop, &other, address("Fine", "Hue")).await;
}

#[tokio::test]
async fn a_customer_cannot_see_or_touch_another_customers_address() {
    let app = TestApp::spawn().await;
    let shop = app.signup("addr-own").await;
    let (alice, bob) = (any_customer(&app, &shop).await, any_customer(&app, &shop).await);
    let alices = add_address(&app, &shop, &alice, address("Alice", "Ha Noi")).await;
    let path = format!("/v1/store/me/addresses/{}", alices["id"].as_str().unwrap());

    let (status, list) =
        as_customer(&app, &shop, &bob, Method::GET, "/v1/store/me/addresses", None).await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));
    let (status, err) =
        as_customer(&app, &shop, &bob, Method::PATCH, &path, Some(json!({ "city": "Stolen" })))
            .await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "address_not_found");
    let (status, err) =
        as_customer(&app, &shop, &bob, Method::PATCH, &path, Some(json!({ "is_default": true })))
            .await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "address_not_found");
    let (status, err) = as_customer(&app, &shop, &bob, Method::DELETE, &path, None).await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "address_not_found");

    let (_, list) =
        as_customer(&app, &shop, &alice, Method::GET, "/v1/store/me/addresses", None).await;
    assert_eq!(list, json!([alices]), "Alice's address is untouched");
}

#[tokio::test]
async fn addresses_of_one_shop_are_out_of_reach_from_another() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.signup("addr-a").await, app.signup("addr-b").await);
    let customer_of_a = any_customer(&app, &a).await;
    let customer_of_b = any_customer(&app, &b).await;
    let address_of_a = add_address(&app, &a, &customer_of_a, address("A", "Ha Noi")).await;
    let path = format!("/v1/store/me/addresses/{}", address_of_a["id"].as_str().unwrap());

    // A's customer token on B's host.
    for (method, path) in [(Method::GET, "/v1/store/me/addresses"), (Method::DELETE, path.as_str())]
    {
        let (status, err) = app.as_token(&customer_of_a.token, &b.slug, method, path, None).await;
        assert_error(status, &err, StatusCode::UNAUTHORIZED, "token_shop_mismatch");
    }
    // A's address id, used by B's customer on B.
    let (status, err) =
        as_customer(&app, &b, &customer_of_b, Method::PATCH, &path, Some(json!({ "city": "X" })))
            .await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "address_not_found");
    let (status, err) = as_customer(&app, &b, &customer_of_b, Method::DELETE, &path, None).await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "address_not_found");

    // Without a customer token: no token, or a staff token.
    let (status, err) =
        read(app.shop(Method::GET, &a.slug, "/v1/store/me/addresses").send().await.unwrap()).await;
    assert_error(status, &err, StatusCode::UNAUTHORIZED, "invalid_token");
    let (status, err) = app.owner(&a, Method::GET, "/v1/store/me/addresses", None).await;
    assert_error(status, &err, StatusCode::UNAUTHORIZED, "invalid_token");

    let (_, list) =
        as_customer(&app, &a, &customer_of_a, Method::GET, "/v1/store/me/addresses", None).await;
    assert_eq!(ids(&list), [address_of_a["id"].as_str().unwrap()]);
}

#[tokio::test]
async fn staff_search_customers_case_insensitively_newest_first_in_pages() {
    let app = TestApp::spawn().await;
    let shop = app.signup("cust-list").await;
    let tina = register(&app, &shop, "tina.tran@example.com", "Tina", "Tran").await;
    let minh = register(&app, &shop, "minh@example.com", "Minh", "Nguyen").await;
    let lan = register(&app, &shop, "lan@shop.example.org", "Lan", "Tran").await;

    let (status, page) = app.owner(&shop, Method::GET, "/v1/admin/customers", None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        ids(&page["items"]),
        [lan.id.as_str(), minh.id.as_str(), tina.id.as_str()],
        "newest first"
    );
    assert_eq!(page["currency"], "USD");
    assert_eq!(page["items"][0]["email"], "lan@shop.example.org");
    assert_eq!(
        (page["items"][0]["order_count"].as_i64(), page["items"][0]["total_spent"].as_i64()),
        (Some(0), Some(0))
    );
    assert!(page["items"][0].get("password_hash").is_none());

    for (q, expected) in [
        ("TRAN", vec![lan.id.as_str(), tina.id.as_str()]),
        ("minh@", vec![minh.id.as_str()]),
        ("nguy", vec![minh.id.as_str()]),
        ("tina tran", vec![tina.id.as_str()]),
        ("example.org", vec![lan.id.as_str()]),
        ("%", vec![]),
        ("nobody", vec![]),
    ] {
        let (status, page) = app
            .owner(&shop, Method::GET, &format!("/v1/admin/customers?q={}", encode(q)), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(ids(&page["items"]), expected, "q={q}");
    }

    let (_, first) = app.owner(&shop, Method::GET, "/v1/admin/customers?limit=2", None).await;
    assert_eq!(ids(&first["items"]), [lan.id.as_str(), minh.id.as_str()]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app
        .owner(&shop, Method::GET, &format!("/v1/admin/customers?limit=2&cursor={cursor}"), None)
        .await;
    assert_eq!(ids(&second["items"]), [tina.id.as_str()]);
    assert!(second["next_cursor"].is_null(), "{second}");

    let (status, err) =
        app.owner(&shop, Method::GET, "/v1/admin/customers?cursor=garbage!", None).await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "invalid_cursor");
    let (status, err) = app.owner(&shop, Method::GET, "/v1/admin/customers?limit=101", None).await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[tokio::test]
async fn a_customers_detail_shows_addresses_order_count_and_total_spent() {
    let app = TestApp::spawn().await;
    let shop = app.signup("cust-detail").await;
    let tina = register(&app, &shop, "tina@example.com", "Tina", "Tran").await;
    let other = any_customer(&app, &shop).await;
    add_address(&app, &shop, &tina, address("Tina home", "Ha Noi")).await;
    add_address(&app, &shop, &tina, address("Tina work", "Hue")).await;

    insert_order(&app, &shop, &tina.id, &tina.email, "paid", 10_000, 0).await;
    insert_order(&app, &shop, &tina.id, &tina.email, "delivered", 4_000, 0).await;
    insert_order(&app, &shop, &tina.id, &tina.email, "partially_refunded", 5_000, 2_000).await;
    insert_order(&app, &shop, &tina.id, &tina.email, "refunded", 3_000, 3_000).await;
    insert_order(&app, &shop, &tina.id, &tina.email, "pending_payment", 0, 0).await;
    insert_order(&app, &shop, &tina.id, &tina.email, "cancelled", 7_000, 0).await;
    insert_order(&app, &shop, &other.id, &other.email, "paid", 99_000, 0).await;

    let (status, detail) =
        app.owner(&shop, Method::GET, &format!("/v1/admin/customers/{}", tina.id), None).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["email"], "tina@example.com");
    assert_eq!(
        (detail["first_name"].as_str(), detail["last_name"].as_str()),
        (Some("Tina"), Some("Tran"))
    );
    assert_eq!(detail["order_count"], 5, "every order but the cancelled one");
    assert_eq!(
        detail["total_spent"],
        10_000 + 4_000 + 3_000,
        "paid minus refunded, cancelled left out"
    );
    assert_eq!(detail["currency"], "USD");
    let names: Vec<&str> = detail["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Tina home", "Tina work"]);
    assert_eq!(detail["addresses"][0]["is_default"], true);

    // The list shows the same figures.
    let (_, page) = app.owner(&shop, Method::GET, "/v1/admin/customers?q=tina@", None).await;
    assert_eq!(
        (page["items"][0]["order_count"].as_i64(), page["items"][0]["total_spent"].as_i64()),
        (Some(5), Some(17_000))
    );

    let (status, err) = app
        .owner(&shop, Method::GET, &format!("/v1/admin/customers/{}", Uuid::now_v7()), None)
        .await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "customer_not_found");
}

#[tokio::test]
async fn customer_admin_needs_customers_read_and_stays_inside_its_shop() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.signup("cust-rbac-a").await, app.signup("cust-rbac-b").await);
    // More staff than `free` allows (README, "Plans and quotas").
    app.set_plan(&a, "basic").await;
    app.set_plan(&b, "basic").await;
    let customer = any_customer(&app, &a).await;
    let detail = format!("/v1/admin/customers/{}", customer.id);

    let staff = app.staff_token(&a, "staff").await;
    for path in ["/v1/admin/customers", detail.as_str()] {
        let (status, err) = app.as_token(&staff, &a.slug, Method::GET, path, None).await;
        assert_error(status, &err, StatusCode::FORBIDDEN, "forbidden");
        let (status, err) = app.as_token(&customer.token, &a.slug, Method::GET, path, None).await;
        assert_error(status, &err, StatusCode::FORBIDDEN, "staff_only");
    }
    let manager = app.staff_token(&a, "manager").await;
    let (status, body) = app.as_token(&manager, &a.slug, Method::GET, &detail, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], customer.id.as_str());

    // Shop B's owner: A's customer id is unknown there, and B's list does not include it.
    let (status, err) = app.owner(&b, Method::GET, &detail, None).await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "customer_not_found");
    let (_, page) = app.owner(&b, Method::GET, "/v1/admin/customers", None).await;
    assert_eq!(page["items"], json!([]));
    let (status, err) =
        app.as_token(&a.token, &b.slug, Method::GET, "/v1/admin/customers", None).await;
    assert_error(status, &err, StatusCode::UNAUTHORIZED, "token_shop_mismatch");
}
