//! Carts and checkout: server-computed totals, line problems, merging at login, expiry; and the
//! guarantees under concurrency — no overselling, discount limits held, one order per
//! idempotency key, nothing left behind by a failed checkout — and cross-shop isolation.

mod common;

use common::commerce::checkout_body;
use common::*;
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn set_tax(app: &TestApp, shop: &TestShop, rate_bp: i64, included: bool) {
    let (status, body) = app
        .owner(
            shop,
            Method::PATCH,
            "/v1/admin/checkout-settings",
            Some(json!({ "tax_rate_bp": rate_bp, "prices_include_tax": included })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn order_count(app: &TestApp, shop: &TestShop) -> usize {
    let (status, body) = app.owner(shop, Method::GET, "/v1/admin/orders?limit=100", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_guest_cart_shows_every_figure_computed_by_the_server() {
    let app = TestApp::spawn().await;
    let shop = app.signup("cart").await;
    let (product, variant) = app.variant(&shop, "Linen shirt", 1999, 5).await;
    let shipping = app.shipping_method(&shop, 500, Some(10_000)).await;
    set_tax(&app, &shop, 1000, false).await;
    let cart = app.guest_cart(&shop.slug).await;

    let body = app.add_to_cart(&shop.slug, &cart, &variant, 2).await;
    assert_eq!(body["items"][0]["quantity"], 2);
    assert_eq!(body["currency"], "USD");
    let (status, body) = app
        .store(
            &shop.slug,
            Some(&cart),
            None,
            Method::PATCH,
            "/v1/store/cart",
            Some(json!({ "shipping_method_id": shipping })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // 2 × 1999 = 3998; shipping 500; 10 % tax on 4498 = 449.8 → 450.
    assert_eq!(
        (&body["subtotal"], &body["shipping_total"], &body["tax_total"], &body["total"]),
        (&json!(3998), &json!(500), &json!(450), &json!(4948)),
        "{body}"
    );

    app.discount(&shop, json!({ "code": "TENOFF", "kind": "percentage", "value": 10 })).await;
    let (status, body) = app
        .store(
            &shop.slug,
            Some(&cart),
            None,
            Method::POST,
            "/v1/store/cart/discount",
            Some(json!({ "code": "tenoff" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // 10 % of 3998 = 399.8 → 400; tax on 3598 + 500 = 409.8 → 410.
    assert_eq!(body["discount_code"], "TENOFF");
    assert_eq!(
        (&body["discount_total"], &body["tax_total"], &body["total"]),
        (&json!(400), &json!(410), &json!(4508)),
        "{body}"
    );

    // More than in stock is refused and changes nothing.
    let (status, refused) = app
        .store(
            &shop.slug,
            Some(&cart),
            None,
            Method::POST,
            "/v1/store/cart/items",
            Some(json!({ "variant_id": variant, "quantity": 4 })),
        )
        .await;
    assert_error(status, &refused, StatusCode::CONFLICT, "insufficient_stock");
    let line = body["items"][0]["id"].as_str().unwrap();
    let (status, refused) = app
        .store(
            &shop.slug,
            Some(&cart),
            None,
            Method::PATCH,
            &format!("/v1/store/cart/items/{line}"),
            Some(json!({ "quantity": 6 })),
        )
        .await;
    assert_error(status, &refused, StatusCode::CONFLICT, "insufficient_stock");
    let (status, refused) = app
        .store(
            &shop.slug,
            Some(&cart),
            None,
            Method::PATCH,
            &format!("/v1/store/cart/items/{line}"),
            Some(json!({ "quantity": 0 })),
        )
        .await;
    assert_error(status, &refused, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    // The shop changes the price and the stock: the cart reports both.
    let (status, updated) = app
        .owner(
            &shop,
            Method::PATCH,
            &format!("/v1/admin/products/{product}"),
            Some(json!({ "variants": [{ "id": variant, "price": 2499, "stock": 1 }] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let (_, body) =
        app.store(&shop.slug, Some(&cart), None, Method::GET, "/v1/store/cart", None).await;
    let codes: Vec<&str> = body["items"][0]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["insufficient_stock", "price_changed"], "{body}");
    assert_eq!(body["items"][0]["unit_price"], 2499);
    assert_eq!(body["subtotal"], 4998);
    // A price change is reported once: the customer has now seen it.
    let (_, body) =
        app.store(&shop.slug, Some(&cart), None, Method::GET, "/v1/store/cart", None).await;
    let codes: Vec<&str> = body["items"][0]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["insufficient_stock"], "{body}");

    // Archiving the product leaves the line with a problem and out of the totals.
    app.owner(
        &shop,
        Method::PATCH,
        &format!("/v1/admin/products/{product}"),
        Some(json!({ "status": "archived" })),
    )
    .await;
    let (_, body) =
        app.store(&shop.slug, Some(&cart), None, Method::GET, "/v1/store/cart", None).await;
    assert_eq!(body["items"][0]["problems"][0]["code"], "product_unavailable", "{body}");
    assert_eq!(body["subtotal"], 0);

    let (status, body) = app
        .store(
            &shop.slug,
            Some(&cart),
            None,
            Method::DELETE,
            &format!("/v1/store/cart/items/{line}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"], json!([]));
    let (status, body) = app
        .store(
            &shop.slug,
            Some(&cart),
            None,
            Method::DELETE,
            &format!("/v1/store/cart/items/{line}"),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "cart_item_not_found");
}

#[tokio::test]
async fn discount_codes_are_refused_with_their_reason() {
    let app = TestApp::spawn().await;
    let shop = app.signup("codes").await;
    let (_, variant) = app.variant(&shop, "Mug", 1000, 10).await;
    let cart = app.guest_cart(&shop.slug).await;
    app.add_to_cart(&shop.slug, &cart, &variant, 1).await;
    app.discount(
        &shop,
        json!({ "code": "BIG", "kind": "fixed_amount", "value": 500, "min_subtotal": 5000 }),
    )
    .await;
    app.discount(&shop, json!({ "code": "OLD", "kind": "percentage", "value": 5, "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2021-01-01T00:00:00Z" })).await;
    for (code, status, error) in [
        ("NOPE", StatusCode::NOT_FOUND, "discount_not_found"),
        ("big", StatusCode::UNPROCESSABLE_ENTITY, "discount_minimum_not_met"),
        ("OLD", StatusCode::UNPROCESSABLE_ENTITY, "discount_expired"),
    ] {
        let (got, body) = app
            .store(
                &shop.slug,
                Some(&cart),
                None,
                Method::POST,
                "/v1/store/cart/discount",
                Some(json!({ "code": code })),
            )
            .await;
        assert_error(got, &body, status, error);
    }
    // Reaching the minimum makes the code apply; dropping below it later shows a problem.
    app.add_to_cart(&shop.slug, &cart, &variant, 4).await;
    let (status, body) = app
        .store(
            &shop.slug,
            Some(&cart),
            None,
            Method::POST,
            "/v1/store/cart/discount",
            Some(json!({ "code": "BIG" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["discount_total"], 500);
    let line = body["items"][0]["id"].as_str().unwrap();
    let (_, body) = app
        .store(
            &shop.slug,
            Some(&cart),
            None,
            Method::PATCH,
            &format!("/v1/store/cart/items/{line}"),
            Some(json!({ "quantity": 2 })),
        )
        .await;
    assert_eq!(body["discount_total"], 0);
    assert_eq!(body["problems"][0]["code"], "discount_minimum_not_met", "{body}");
    let (status, body) = app
        .store(&shop.slug, Some(&cart), None, Method::DELETE, "/v1/store/cart/discount", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((&body["discount_code"], &body["problems"]), (&Value::Null, &json!([])));
}

#[tokio::test]
async fn a_guest_cart_merges_into_the_customer_cart_at_login() {
    let app = TestApp::spawn().await;
    let shop = app.signup("merge").await;
    let (_, mug) = app.variant(&shop, "Mug", 1000, 10).await;
    let (_, cup) = app.variant(&shop, "Cup", 700, 10).await;
    let email = format!("m-{}@example.com", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let (status, body) = app
        .store(
            &shop.slug,
            None,
            None,
            Method::POST,
            "/v1/store/customers",
            Some(json!({ "email": email, "password": PASSWORD })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["tokens"]["access_token"].as_str().unwrap().to_owned();
    // The customer's own cart holds one mug.
    let (status, _) = app
        .store(
            &shop.slug,
            None,
            Some(&token),
            Method::POST,
            "/v1/store/cart/items",
            Some(json!({ "variant_id": mug, "quantity": 1 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // As a guest (signed out) they add two mugs and a cup.
    let guest = app.guest_cart(&shop.slug).await;
    app.add_to_cart(&shop.slug, &guest, &mug, 2).await;
    app.add_to_cart(&shop.slug, &guest, &cup, 1).await;

    let (status, body) = read(
        app.shop(Method::POST, &shop.slug, "/v1/store/auth/login")
            .header("X-Cart-Token", &guest)
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let (_, cart) =
        app.store(&shop.slug, None, Some(token), Method::GET, "/v1/store/cart", None).await;
    let mut lines: Vec<(String, i64)> = cart["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["variant_id"].as_str().unwrap().to_owned(), l["quantity"].as_i64().unwrap()))
        .collect();
    lines.sort();
    let mut expected = vec![(mug.clone(), 3), (cup.clone(), 1)];
    expected.sort();
    assert_eq!(lines, expected);
    assert_eq!(cart["subtotal"], 3 * 1000 + 700);
    // The guest cart is gone.
    let (status, body) =
        app.store(&shop.slug, Some(&guest), None, Method::GET, "/v1/store/cart", None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "cart_not_found");
}

#[tokio::test]
async fn abandoned_guest_carts_expire() {
    let app = TestApp::spawn().await;
    let shop = app.signup("expire").await;
    let (_, variant) = app.variant(&shop, "Mug", 1000, 10).await;
    let cart = app.guest_cart(&shop.slug).await;
    let body = app.add_to_cart(&shop.slug, &cart, &variant, 1).await;
    assert!(body["expires_at"].as_str().is_some());
    app.shop_sql(
        &shop,
        &format!(
            "update carts set updated_at = now() - interval '31 days' where id = '{}'",
            body["id"].as_str().unwrap()
        ),
    )
    .await;
    let (status, body) =
        app.store(&shop.slug, Some(&cart), None, Method::GET, "/v1/store/cart", None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "cart_not_found");
    let (status, body) =
        app.store(&shop.slug, None, None, Method::GET, "/v1/store/cart", None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "cart_token_required");

    // The hourly cleanup deletes it (and keeps a fresh one).
    let fresh = app.guest_cart(&shop.slug).await;
    let id = shop.id.parse().map(shopfleet::tenancy::ShopId).unwrap();
    let tenant = shopfleet::tenancy::registry::load_tenants(&app.pool, &["active"], Some(id), None)
        .await
        .unwrap()
        .pop()
        .unwrap();
    let mut tx = shopfleet::tenancy::TenantTx::begin(&app.pool, &tenant).await.unwrap();
    assert_eq!(shopfleet::cart::delete_expired(&mut tx).await.unwrap(), 1);
    tx.commit().await.unwrap();
    let (status, _) =
        app.store(&shop.slug, Some(&fresh), None, Method::GET, "/v1/store/cart", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_guest_checks_out_and_reads_the_order_with_its_token() {
    let app = TestApp::spawn().await;
    let shop = app.signup("buy").await;
    let (product, variant) = app.variant(&shop, "Teapot", 3500, 4).await;
    let shipping = app.shipping_method(&shop, 700, None).await;
    set_tax(&app, &shop, 2000, true).await;
    let cart = app.guest_cart(&shop.slug).await;
    app.add_to_cart(&shop.slug, &cart, &variant, 2).await;

    let mut body = checkout_body(&shipping, "manual");
    body["expected_total"] = json!(7000);
    let (status, refused) = app.checkout(&shop.slug, Some(&cart), None, "k-1", &body).await;
    assert_error(status, &refused, StatusCode::CONFLICT, "price_changed");
    body["expected_total"] = json!(7700);
    let (status, done) = app.checkout(&shop.slug, Some(&cart), None, "k-2", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    let order = &done["order"];
    assert_eq!(order["number"], 1001, "the shop's first order");
    assert_eq!(order["status"], "pending_payment");
    // Prices include 20 % tax: 7700 × 2000 / 12000 = 1283.3 → 1283.
    assert_eq!(
        (&order["subtotal"], &order["shipping_total"], &order["tax_total"], &order["total"]),
        (&json!(7000), &json!(700), &json!(1283), &json!(7700))
    );
    assert_eq!(order["items"][0]["product_name"], "Teapot");
    assert_eq!(order["items"][0]["unit_price"], 3500);
    assert_eq!(order["shipping_address"]["country"], "VN");
    assert_eq!(done["payment"]["provider"], "manual");
    assert!(done["payment"]["instructions"].as_str().is_some());
    assert_eq!(app.stock_of(&shop, &product).await, 2);

    // The snapshot does not follow later catalog changes.
    app.owner(
        &shop,
        Method::PATCH,
        &format!("/v1/admin/products/{product}"),
        Some(json!({ "name": "Renamed" })),
    )
    .await;
    let token = done["order_token"].as_str().unwrap();
    let (status, read_back) = app
        .store(
            &shop.slug,
            None,
            None,
            Method::GET,
            &format!("/v1/store/orders/1001?token={token}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{read_back}");
    assert_eq!(read_back["items"][0]["product_name"], "Teapot");
    let (status, body) = app
        .store(&shop.slug, None, None, Method::GET, "/v1/store/orders/1001?token=ot_wrong", None)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "order_not_found");

    // The cart was used up; a second order gets the next number.
    let (status, body) =
        app.store(&shop.slug, Some(&cart), None, Method::GET, "/v1/store/cart", None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "cart_not_found");
    let second = app.guest_order(&shop, &shipping, &variant, 1, "manual").await;
    assert_eq!(second["order"]["number"], 1002);
}

#[tokio::test]
async fn checkout_refuses_bad_input_with_field_errors() {
    let app = TestApp::spawn().await;
    let shop = app.signup("badco").await;
    let (_, variant) = app.variant(&shop, "Mug", 1000, 10).await;
    let shipping = app.shipping_method(&shop, 0, None).await;
    let cart = app.guest_cart(&shop.slug).await;
    let (status, body) = app
        .checkout(&shop.slug, Some(&cart), None, "k-empty", &checkout_body(&shipping, "manual"))
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "cart_empty");
    app.add_to_cart(&shop.slug, &cart, &variant, 1).await;

    let mut no_email = checkout_body(&shipping, "manual");
    no_email.as_object_mut().unwrap().remove("email");
    let (status, body) = app.checkout(&shop.slug, Some(&cart), None, "k-a", &no_email).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(body["error"]["field"], "email");
    let mut bad_card = checkout_body(&shipping, "4242 4242 4242 4241");
    let (status, body) = app.checkout(&shop.slug, Some(&cart), None, "k-b", &bad_card).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(body["error"]["field"], "payment.card_number");
    bad_card["payment"] = json!({ "method": "bitcoin" });
    let (status, body) = app.checkout(&shop.slug, Some(&cart), None, "k-c", &bad_card).await;
    assert_eq!(
        (status, &body["error"]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("payment.method"))
    );
    let mut bad_address = checkout_body(&shipping, "manual");
    bad_address["shipping_address"]["city"] = json!("  ");
    let (status, body) = app.checkout(&shop.slug, Some(&cart), None, "k-d", &bad_address).await;
    assert_eq!(
        (status, &body["error"]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("shipping_address.city"))
    );
    let (status, body) = app
        .checkout(
            &shop.slug,
            Some(&cart),
            None,
            "k-e",
            &checkout_body(&uuid::Uuid::now_v7().to_string(), "manual"),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("shipping_method_id"))
    );
    // Without an Idempotency-Key there is no checkout.
    let (status, body) = read(
        app.shop(Method::POST, &shop.slug, "/v1/store/checkout")
            .header("X-Cart-Token", &cart)
            .json(&checkout_body(&shipping, "manual"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "idempotency_key_required");
    assert_eq!(order_count(&app, &shop).await, 0);
}

#[tokio::test]
async fn fifty_concurrent_checkouts_of_ten_in_stock_sell_exactly_ten() {
    let app = TestApp::spawn().await;
    let shop = app.signup("rush").await;
    let (product, variant) = app.variant(&shop, "Limited print", 5000, 10).await;
    let shipping = app.shipping_method(&shop, 0, None).await;
    let mut carts = Vec::new();
    for _ in 0..50 {
        let cart = app.guest_cart(&shop.slug).await;
        app.add_to_cart(&shop.slug, &cart, &variant, 1).await;
        carts.push(cart);
    }
    let body = checkout_body(&shipping, "manual");
    let results =
        join_all(carts.iter().map(|cart| app.checkout(&shop.slug, Some(cart), None, cart, &body)))
            .await;

    let created = results.iter().filter(|(status, _)| *status == StatusCode::CREATED).count();
    assert_eq!(created, 10, "exactly the stock is sold");
    for (status, body) in results.iter().filter(|(status, _)| *status != StatusCode::CREATED) {
        assert_error(*status, body, StatusCode::CONFLICT, "insufficient_stock");
    }
    assert_eq!(app.stock_of(&shop, &product).await, 0);
    assert_eq!(order_count(&app, &shop).await, 10);
    let mut numbers: Vec<i64> =
        results.iter().filter_map(|(_, b)| b["order"]["number"].as_i64()).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 10, "every order has its own number");
}

#[tokio::test]
async fn a_discount_limited_to_five_uses_is_used_five_times_under_twenty_concurrent_checkouts() {
    let app = TestApp::spawn().await;
    let shop = app.signup("limit").await;
    let (_, variant) = app.variant(&shop, "Tote", 2000, 100).await;
    let shipping = app.shipping_method(&shop, 0, None).await;
    let discount = app
        .discount(
            &shop,
            json!({ "code": "FIVE", "kind": "fixed_amount", "value": 500, "usage_limit": 5 }),
        )
        .await;
    let mut carts = Vec::new();
    for _ in 0..20 {
        let cart = app.guest_cart(&shop.slug).await;
        app.add_to_cart(&shop.slug, &cart, &variant, 1).await;
        let (status, body) = app
            .store(
                &shop.slug,
                Some(&cart),
                None,
                Method::POST,
                "/v1/store/cart/discount",
                Some(json!({ "code": "FIVE" })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        carts.push(cart);
    }
    let body = checkout_body(&shipping, "manual");
    let results =
        join_all(carts.iter().map(|cart| app.checkout(&shop.slug, Some(cart), None, cart, &body)))
            .await;

    let discounted: Vec<&Value> =
        results.iter().filter(|(s, _)| *s == StatusCode::CREATED).map(|(_, b)| b).collect();
    assert_eq!(discounted.len(), 5);
    assert!(
        discounted
            .iter()
            .all(|b| b["order"]["discount_total"] == 500 && b["order"]["total"] == 1500)
    );
    for (status, body) in results.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_error(*status, body, StatusCode::CONFLICT, "discount_usage_limit_reached");
    }
    let (_, read_back) = app
        .owner(
            &shop,
            Method::GET,
            &format!("/v1/admin/discounts/{}", discount["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(read_back["used_count"], 5, "{read_back}");
}

#[tokio::test]
async fn one_idempotency_key_retried_ten_times_at_once_makes_one_order() {
    let app = TestApp::spawn().await;
    let shop = app.signup("retry").await;
    let (product, variant) = app.variant(&shop, "Kettle", 4000, 10).await;
    let shipping = app.shipping_method(&shop, 300, None).await;
    let cart = app.guest_cart(&shop.slug).await;
    app.add_to_cart(&shop.slug, &cart, &variant, 2).await;
    let body = checkout_body(&shipping, "manual");

    let results =
        join_all((0..10).map(|_| app.checkout(&shop.slug, Some(&cart), None, "same-key", &body)))
            .await;
    let created: Vec<&Value> =
        results.iter().filter(|(s, _)| *s == StatusCode::CREATED).map(|(_, b)| b).collect();
    assert!(!created.is_empty());
    assert!(created.iter().all(|b| *b == created[0]), "every success is the same response");
    for (status, body) in results.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_error(*status, body, StatusCode::CONFLICT, "idempotency_key_in_use");
    }
    assert_eq!(order_count(&app, &shop).await, 1);
    assert_eq!(app.stock_of(&shop, &product).await, 8);

    // Later retries replay the stored response; another body under the key is refused.
    let (status, again) = app.checkout(&shop.slug, Some(&cart), None, "same-key", &body).await;
    assert_eq!((status, &again), (StatusCode::CREATED, created[0]));
    let mut other = body.clone();
    other["email"] = json!("someone-else@example.com");
    let (status, refused) = app.checkout(&shop.slug, Some(&cart), None, "same-key", &other).await;
    assert_error(status, &refused, StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
    assert_eq!(order_count(&app, &shop).await, 1);
}

#[tokio::test]
async fn a_checkout_failing_at_its_last_step_leaves_nothing_behind() {
    let app = TestApp::spawn().await;
    let shop = app.signup("atomic").await;
    let (product, variant) = app.variant(&shop, "Vase", 3000, 3).await;
    let shipping = app.shipping_method(&shop, 0, None).await;
    let discount = app
        .discount(
            &shop,
            json!({ "code": "ONCE", "kind": "percentage", "value": 20, "usage_limit": 1 }),
        )
        .await;
    let cart = app.guest_cart(&shop.slug).await;
    app.add_to_cart(&shop.slug, &cart, &variant, 2).await;
    app.store(
        &shop.slug,
        Some(&cart),
        None,
        Method::POST,
        "/v1/store/cart/discount",
        Some(json!({ "code": "ONCE" })),
    )
    .await;
    // The last write of a checkout is its idempotency record: make it fail.
    app.shop_sql(
        &shop,
        "create function fail_checkout() returns trigger language plpgsql as $$ begin raise exception 'injected failure'; end $$; \
         create trigger fail_checkout before insert on idempotency_keys for each row execute function fail_checkout();",
    )
    .await;

    let body = checkout_body(&shipping, "manual");
    let (status, failed) = app.checkout(&shop.slug, Some(&cart), None, "atomic-1", &body).await;
    assert_error(status, &failed, StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
    assert_eq!(order_count(&app, &shop).await, 0);
    assert_eq!(app.stock_of(&shop, &product).await, 3);
    let discount_path = format!("/v1/admin/discounts/{}", discount["id"].as_str().unwrap());
    assert_eq!(app.owner(&shop, Method::GET, &discount_path, None).await.1["used_count"], 0);
    let (status, still) =
        app.store(&shop.slug, Some(&cart), None, Method::GET, "/v1/store/cart", None).await;
    assert_eq!(
        (status, &still["items"][0]["quantity"]),
        (StatusCode::OK, &json!(2)),
        "the cart is untouched"
    );

    // Once the fault is gone, the same key runs afresh: the failed attempt left no record.
    app.shop_sql(
        &shop,
        "drop trigger fail_checkout on idempotency_keys; drop function fail_checkout();",
    )
    .await;
    let (status, done) = app.checkout(&shop.slug, Some(&cart), None, "atomic-1", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    assert_eq!(done["order"]["discount_total"], 1200);
    assert_eq!(app.stock_of(&shop, &product).await, 1);
    assert_eq!(app.owner(&shop, Method::GET, &discount_path, None).await.1["used_count"], 1);
}

#[tokio::test]
async fn a_customer_checks_out_their_cart_and_lists_their_orders() {
    let app = TestApp::spawn().await;
    let shop = app.signup("mine").await;
    let (_, variant) = app.variant(&shop, "Bowl", 1200, 10).await;
    let shipping = app.shipping_method(&shop, 0, None).await;
    let alice = app.customer_token(&shop).await;
    let bob = app.customer_token(&shop).await;
    let (status, _) = app
        .store(
            &shop.slug,
            None,
            Some(&alice),
            Method::POST,
            "/v1/store/cart/items",
            Some(json!({ "variant_id": variant, "quantity": 3 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut body = checkout_body(&shipping, "manual");
    body.as_object_mut().unwrap().remove("email");
    let (status, done) = app.checkout(&shop.slug, None, Some(&alice), "alice-1", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    let number = done["order"]["number"].as_i64().unwrap();
    assert!(done["order"]["email"].as_str().unwrap().starts_with("c-"), "the account's e-mail");

    let (status, list) =
        app.store(&shop.slug, None, Some(&alice), Method::GET, "/v1/store/me/orders", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["item_count"], 3);
    let (status, _) = app
        .store(
            &shop.slug,
            None,
            Some(&alice),
            Method::GET,
            &format!("/v1/store/me/orders/{number}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Another customer sees none of it.
    let (_, list) =
        app.store(&shop.slug, None, Some(&bob), Method::GET, "/v1/store/me/orders", None).await;
    assert_eq!(list["items"], json!([]));
    let (status, body) = app
        .store(
            &shop.slug,
            None,
            Some(&bob),
            Method::GET,
            &format!("/v1/store/me/orders/{number}"),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "order_not_found");
    // A bad token is refused, not treated as a guest.
    let (status, body) =
        app.store(&shop.slug, None, Some("not-a-token"), Method::GET, "/v1/store/cart", None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_token");
}

#[tokio::test]
async fn cart_tokens_order_numbers_and_order_tokens_of_one_shop_are_useless_on_another() {
    let app = TestApp::spawn().await;
    let a = app.signup("iso-a").await;
    let b = app.signup("iso-b").await;
    let (_, variant_a) = app.variant(&a, "A thing", 1000, 10).await;
    let (_, variant_b) = app.variant(&b, "B thing", 1000, 10).await;
    let shipping_a = app.shipping_method(&a, 0, None).await;
    let shipping_b = app.shipping_method(&b, 0, None).await;
    let cart_a = app.guest_cart(&a.slug).await;
    app.add_to_cart(&a.slug, &cart_a, &variant_a, 1).await;

    // Shop A's cart token on shop B.
    let (status, body) =
        app.store(&b.slug, Some(&cart_a), None, Method::GET, "/v1/store/cart", None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "cart_not_found");
    let (status, body) = app
        .store(
            &b.slug,
            Some(&cart_a),
            None,
            Method::POST,
            "/v1/store/cart/items",
            Some(json!({ "variant_id": variant_b, "quantity": 1 })),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "cart_not_found");
    let (status, body) = app
        .checkout(&b.slug, Some(&cart_a), None, "x-1", &checkout_body(&shipping_b, "manual"))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "cart_not_found");
    // Shop B's variant in shop A's cart.
    let (status, body) = app
        .store(
            &a.slug,
            Some(&cart_a),
            None,
            Method::POST,
            "/v1/store/cart/items",
            Some(json!({ "variant_id": variant_b, "quantity": 1 })),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "variant_not_found");

    let order_a = app.guest_order(&a, &shipping_a, &variant_a, 1, "manual").await;
    let order_b = app.guest_order(&b, &shipping_b, &variant_b, 1, "manual").await;
    assert_eq!(
        (&order_a["order"]["number"], &order_b["order"]["number"]),
        (&json!(1001), &json!(1001)),
        "numbers are per shop"
    );
    let token_a = order_a["order_token"].as_str().unwrap();
    let (status, body) = app
        .store(
            &b.slug,
            None,
            None,
            Method::GET,
            &format!("/v1/store/orders/1001?token={token_a}"),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "order_not_found");
    let order_id_a = order_a["order"]["id"].as_str().unwrap();
    let (status, body) =
        app.owner(&b, Method::GET, &format!("/v1/admin/orders/{order_id_a}"), None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "order_not_found");
    let (status, body) = app
        .owner(
            &b,
            Method::POST,
            &format!("/v1/admin/orders/{order_id_a}/mark-paid"),
            Some(json!({})),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "order_not_found");
    // A customer token of shop A is refused on shop B, even for checkout.
    let customer_a = app.customer_token(&a).await;
    let (status, body) = app
        .checkout(&b.slug, None, Some(&customer_a), "x-2", &checkout_body(&shipping_b, "manual"))
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_token");
    // One idempotency key used in two shops makes one order in each: keys are per shop.
    let (cart_a2, cart_b2) = (app.guest_cart(&a.slug).await, app.guest_cart(&b.slug).await);
    app.add_to_cart(&a.slug, &cart_a2, &variant_a, 1).await;
    app.add_to_cart(&b.slug, &cart_b2, &variant_b, 1).await;
    let (status_a, done_a) = app
        .checkout(
            &a.slug,
            Some(&cart_a2),
            None,
            "shared-key",
            &checkout_body(&shipping_a, "manual"),
        )
        .await;
    let (status_b, done_b) = app
        .checkout(
            &b.slug,
            Some(&cart_b2),
            None,
            "shared-key",
            &checkout_body(&shipping_b, "manual"),
        )
        .await;
    assert_eq!(
        (status_a, status_b),
        (StatusCode::CREATED, StatusCode::CREATED),
        "{done_a} {done_b}"
    );
    assert_ne!(done_a["order"]["id"], done_b["order"]["id"]);
}

#[tokio::test]
async fn a_demo_shop_sells_right_away_with_its_shipping_tax_and_welcome_code() {
    let app = TestApp::spawn().await;
    shopfleet::demo::seed(&app.pool).await.expect("seed the demo shops");
    let (status, page) =
        app.store("tinashop", None, None, Method::GET, "/v1/store/products?limit=50", None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // The first variant in stock of any product on sale.
    let mut variant = None;
    for product in page["items"].as_array().unwrap().iter().filter(|p| p["in_stock"] == true) {
        let (_, detail) = app
            .store(
                "tinashop",
                None,
                None,
                Method::GET,
                &format!("/v1/store/products/{}", product["slug"].as_str().unwrap()),
                None,
            )
            .await;
        variant =
            detail["variants"].as_array().unwrap().iter().find(|v| v["available"] == true).cloned();
        if variant.is_some() {
            break;
        }
    }
    let variant = variant.expect("a variant in stock");
    let (status, methods) = app
        .store("tinashop", None, None, Method::GET, "/v1/store/shipping-methods?country=VN", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{methods}");
    let method = &methods[0];
    assert_eq!(method["currency"], "VND");

    let cart = app.guest_cart("tinashop").await;
    app.add_to_cart("tinashop", &cart, variant["id"].as_str().unwrap(), 1).await;
    let (status, priced) = app
        .store(
            "tinashop",
            Some(&cart),
            None,
            Method::POST,
            "/v1/store/cart/discount",
            Some(json!({ "code": "welcome10" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{priced}");
    let price = variant["price"].as_i64().unwrap();
    assert_eq!(priced["discount_total"], json!(pricing_percent(price, 10)), "{priced}");
    assert_eq!(
        (&priced["tax_rate_bp"], &priced["prices_include_tax"]),
        (&json!(1000), &json!(true))
    );

    // WELCOME10 is once per customer: a buyer of their own (the demo shops outlive a test run).
    let mut body = checkout_body(method["id"].as_str().unwrap(), "manual");
    body["email"] = json!(format!("{}@example.com", uuid::Uuid::new_v4().simple()));
    let (status, done) = app.checkout("tinashop", Some(&cart), None, &cart, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    let order = &done["order"];
    let shipping = if price - pricing_percent(price, 10)
        >= method["free_above"].as_i64().unwrap_or(i64::MAX)
    {
        0
    } else {
        method["price"].as_i64().unwrap()
    };
    assert_eq!(
        order["total"],
        json!(price - pricing_percent(price, 10) + shipping),
        "VAT is included: the total does not grow"
    );
    assert_eq!(order["currency"], "VND");
}

/// `percent` of `amount`, rounded half to even (the documented rule).
fn pricing_percent(amount: i64, percent: i64) -> i64 {
    let (q, r) = (amount * percent / 100, amount * percent % 100);
    if 2 * r > 100 || (2 * r == 100 && q % 2 == 1) { q + 1 } else { q }
}

#[tokio::test]
async fn discounts_honour_category_restrictions_per_customer_limits_and_free_shipping() {
    let app = TestApp::spawn().await;
    let shop = app.signup("rules").await;
    let category = |name: &'static str, parent: Option<String>| {
        let app = &app;
        let shop = &shop;
        async move {
            let (status, body) = app
                .owner(
                    shop,
                    Method::POST,
                    "/v1/admin/categories",
                    Some(json!({ "name": name, "parent_id": parent })),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            body["id"].as_str().unwrap().to_owned()
        }
    };
    let clothing = category("Clothing", None).await;
    let shirts = category("Shirts", Some(clothing.clone())).await;
    let product = |name: &'static str, price: i64, category: Option<String>| {
        let app = &app;
        let shop = &shop;
        async move {
            let categories: Vec<String> = category.into_iter().collect();
            let (status, body) = app
                .owner(shop, Method::POST, "/v1/admin/products", Some(json!({ "name": name, "status": "active", "variants": [{ "price": price, "stock": 50 }], "category_ids": categories })))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            body["variants"][0]["id"].as_str().unwrap().to_owned()
        }
    };
    let shirt = product("Oxford shirt", 4000, Some(shirts)).await;
    let mug = product("Mug", 1000, None).await;
    let shipping = app.shipping_method(&shop, 700, None).await;
    app.discount(&shop, json!({ "code": "CLOTHES25", "kind": "percentage", "value": 25, "category_id": clothing, "per_customer_limit": 1 })).await;
    app.discount(&shop, json!({ "code": "SHIPFREE", "kind": "free_shipping" })).await;

    // 25 % of the shirt (a subcategory of Clothing) only, not of the mug.
    let cart = app.guest_cart(&shop.slug).await;
    app.add_to_cart(&shop.slug, &cart, &shirt, 1).await;
    app.add_to_cart(&shop.slug, &cart, &mug, 2).await;
    let (status, body) = app
        .store(
            &shop.slug,
            Some(&cart),
            None,
            Method::POST,
            "/v1/store/cart/discount",
            Some(json!({ "code": "clothes25" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["subtotal"], &body["discount_total"]),
        (&json!(6000), &json!(1000)),
        "{body}"
    );
    let (status, done) = app
        .checkout(&shop.slug, Some(&cart), None, "rules-1", &checkout_body(&shipping, "manual"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    assert_eq!(
        (&done["order"]["discount_total"], &done["order"]["total"]),
        (&json!(1000), &json!(5700))
    );

    // The same buyer (by e-mail) may not use it twice; the cart says so and checkout refuses.
    let again = app.guest_cart(&shop.slug).await;
    app.add_to_cart(&shop.slug, &again, &shirt, 1).await;
    let (status, body) = app
        .store(
            &shop.slug,
            Some(&again),
            None,
            Method::POST,
            "/v1/store/cart/discount",
            Some(json!({ "code": "CLOTHES25" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a guest's e-mail is only known at checkout: {body}");
    let (status, refused) = app
        .checkout(&shop.slug, Some(&again), None, "rules-2", &checkout_body(&shipping, "manual"))
        .await;
    assert_error(status, &refused, StatusCode::CONFLICT, "discount_customer_limit_reached");
    // A mug-only cart gets nothing from a clothing code.
    let mugs = app.guest_cart(&shop.slug).await;
    app.add_to_cart(&shop.slug, &mugs, &mug, 1).await;
    let (status, body) = app
        .store(
            &shop.slug,
            Some(&mugs),
            None,
            Method::POST,
            "/v1/store/cart/discount",
            Some(json!({ "code": "CLOTHES25" })),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "discount_not_applicable");

    // Free shipping takes the shipping off, nothing else.
    let (status, body) = app
        .store(
            &shop.slug,
            Some(&mugs),
            None,
            Method::POST,
            "/v1/store/cart/discount",
            Some(json!({ "code": "SHIPFREE" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, done) = app
        .checkout(&shop.slug, Some(&mugs), None, "rules-3", &checkout_body(&shipping, "manual"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    assert_eq!(
        (
            &done["order"]["shipping_total"],
            &done["order"]["discount_total"],
            &done["order"]["total"]
        ),
        (&json!(0), &json!(0), &json!(1000))
    );
}

#[tokio::test]
async fn an_idempotency_key_reused_by_another_shopper_is_their_own_checkout_not_a_replay() {
    let app = TestApp::spawn().await;
    let shop = app.signup("idemscope").await;
    let (product, variant) = app.variant(&shop, "Teapot", 2500, 10).await;
    let shipping = app.shipping_method(&shop, 0, None).await;
    let body = checkout_body(&shipping, "manual");

    // The victim, a guest, checks out with a key the attacker learns (or guesses).
    let victim = app.guest_cart(&shop.slug).await;
    app.add_to_cart(&shop.slug, &victim, &variant, 1).await;
    let (status, first) = app.checkout(&shop.slug, Some(&victim), None, "shared-key", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");

    // Another guest with the same key and body gets an order of their own, never the victim's.
    let attacker = app.guest_cart(&shop.slug).await;
    app.add_to_cart(&shop.slug, &attacker, &variant, 2).await;
    let (status, second) =
        app.checkout(&shop.slug, Some(&attacker), None, "shared-key", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_ne!(second["order"]["number"], first["order"]["number"]);
    assert_ne!(second["order_token"], first["order_token"]);
    assert_eq!(second["order"]["subtotal"], 5000, "the attacker's own cart: {second}");

    // A signed-in customer with the same key and body too; with an empty cart that is the
    // plain refusal of an empty cart, not someone else's order.
    let customer = app.customer_token(&shop).await;
    let mut customer_body = body.clone();
    customer_body.as_object_mut().unwrap().remove("email");
    let (status, refused) =
        app.checkout(&shop.slug, None, Some(&customer), "shared-key", &body).await;
    assert_error(status, &refused, StatusCode::UNPROCESSABLE_ENTITY, "cart_empty");
    let (status, refused) =
        app.checkout(&shop.slug, None, Some(&customer), "shared-key", &customer_body).await;
    assert_error(status, &refused, StatusCode::UNPROCESSABLE_ENTITY, "cart_empty");

    // Each shopper's own retry still replays their own response.
    let (status, again) = app.checkout(&shop.slug, Some(&victim), None, "shared-key", &body).await;
    assert_eq!((status, &again), (StatusCode::CREATED, &first));
    let (status, again) =
        app.checkout(&shop.slug, Some(&attacker), None, "shared-key", &body).await;
    assert_eq!((status, &again), (StatusCode::CREATED, &second));
    assert_eq!(order_count(&app, &shop).await, 2);
    assert_eq!(app.stock_of(&shop, &product).await, 7);
}

#[tokio::test]
async fn an_idempotency_key_of_one_staff_member_is_not_replayed_to_another() {
    let app = TestApp::spawn().await;
    let shop = app.signup("idemstaff").await;
    let (product, variant) = app.variant(&shop, "Cup", 900, 10).await;
    let manager = app.staff_token(&shop, "manager").await;
    let path = format!("/v1/admin/variants/{variant}/stock-adjustments");
    let body = json!({ "delta": 5, "reason": "received" });

    let (status, first) = app.owner_post_once(&shop, &path, "stock-key", body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, second) = read(
        app.shop(Method::POST, &shop.slug, &path)
            .bearer_auth(&manager)
            .header("Idempotency-Key", "stock-key")
            .json(&body)
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_ne!(second["id"], first["id"], "the manager's adjustment is their own");
    assert_eq!(app.stock_of(&shop, &product).await, 20);
}

/// Holds the lock on the customer's cart while `request` starts and waits for it, then
/// retires the cart as a checkout would and commits; returns what `request` answered.
async fn race_a_checkout<F>(app: &TestApp, shop: &TestShop, request: F) -> (StatusCode, Value)
where
    F: Future<Output = (StatusCode, Value)> + Send + 'static,
{
    let mut tx = app.shop_tx(shop).await;
    let holder: i32 =
        sqlx::query_scalar("select pg_backend_pid()").fetch_one(&mut *tx).await.unwrap();
    sqlx::query(
        "select id from carts where customer_id is not null and status = 'active' for update",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    let pending = tokio::spawn(request);
    app.wait_until_blocked_by(holder).await;
    sqlx::query("update carts set status = 'converted', updated_at = now() where customer_id is not null and status = 'active'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    pending.await.expect("request task")
}

#[tokio::test]
async fn a_customer_cart_read_or_checkout_racing_a_checkout_of_that_cart_gets_the_fresh_cart() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let shop = app.signup("cartrace").await;
    let (_, variant) = app.variant(&shop, "Jug", 1500, 10).await;
    let shipping = app.shipping_method(&shop, 0, None).await;
    let customer = app.customer_token(&shop).await;
    let add = json!({ "variant_id": variant, "quantity": 1 });
    let (status, before) = app
        .store(
            &shop.slug,
            None,
            Some(&customer),
            Method::POST,
            "/v1/store/cart/items",
            Some(add.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{before}");

    // A cart read waiting for the checkout's lock answers with the customer's new, empty cart.
    let (a, slug, token) = (app.clone(), shop.slug.clone(), customer.clone());
    let (status, cart) = race_a_checkout(&app, &shop, async move {
        a.store(&slug, None, Some(&token), Method::GET, "/v1/store/cart", None).await
    })
    .await;
    assert_eq!(status, StatusCode::OK, "{cart}");
    assert_ne!(cart["id"], before["id"]);
    assert_eq!(cart["items"], json!([]));

    // A second checkout waiting for the first one's lock finds nothing left to buy.
    let (status, _) = app
        .store(&shop.slug, None, Some(&customer), Method::POST, "/v1/store/cart/items", Some(add))
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut body = checkout_body(&shipping, "manual");
    body.as_object_mut().unwrap().remove("email");
    let (a, slug, token) = (app.clone(), shop.slug.clone(), customer.clone());
    let (status, refused) = race_a_checkout(&app, &shop, async move {
        a.checkout(&slug, None, Some(&token), "race-key", &body).await
    })
    .await;
    assert_error(status, &refused, StatusCode::UNPROCESSABLE_ENTITY, "cart_empty");
}

#[tokio::test]
async fn unscoped_idempotency_records_of_the_previous_version_replay_to_staff_never_to_shoppers() {
    let app = TestApp::spawn().await;
    let shop = app.signup("idemlegacy").await;
    let (product, variant) = app.variant(&shop, "Mug", 1000, 10).await;
    let shipping = app.shipping_method(&shop, 0, None).await;
    // The previous version wrote scopes without the principal (`stock:<variant>`, `checkout`).
    let unscope = "update idempotency_keys set scope = split_part(scope, '/', 1)";

    // A stock adjustment retried across the deploy is replayed, not applied twice.
    let path = format!("/v1/admin/variants/{variant}/stock-adjustments");
    let body = json!({ "delta": 5, "reason": "received" });
    let (status, first) = app.owner_post_once(&shop, &path, "across-deploy", body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    app.shop_sql(&shop, unscope).await;
    let (status, again) = app.owner_post_once(&shop, &path, "across-deploy", body).await;
    assert_eq!((status, &again), (StatusCode::CREATED, &first));
    assert_eq!(app.stock_of(&shop, &product).await, 15);

    // An unscoped checkout record is never replayed to another shopper.
    let body = checkout_body(&shipping, "manual");
    let victim = app.guest_cart(&shop.slug).await;
    app.add_to_cart(&shop.slug, &victim, &variant, 1).await;
    let (status, first) = app.checkout(&shop.slug, Some(&victim), None, "old-key", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    app.shop_sql(&shop, unscope).await;
    let other = app.guest_cart(&shop.slug).await;
    app.add_to_cart(&shop.slug, &other, &variant, 1).await;
    let (status, second) = app.checkout(&shop.slug, Some(&other), None, "old-key", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_ne!(second["order_token"], first["order_token"]);
}
