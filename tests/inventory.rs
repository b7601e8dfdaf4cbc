//! Stock adjustments: relative, idempotent, never below zero, safe beside concurrent sales, and
//! scoped to the shop.

mod common;

use common::commerce::checkout_body;
use common::*;
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn adjust(
    app: &TestApp,
    shop: &TestShop,
    variant: &str,
    key: &str,
    body: Value,
) -> (StatusCode, Value) {
    app.owner_post_once(shop, &format!("/v1/admin/variants/{variant}/stock-adjustments"), key, body)
        .await
}

#[tokio::test]
async fn stock_is_adjusted_by_relative_amounts_once_per_key() {
    let app = TestApp::spawn().await;
    let shop = app.signup("stock").await;
    let (product, variant) = app.variant(&shop, "Jar", 900, 3).await;

    let (status, first) = adjust(
        &app,
        &shop,
        &variant,
        "delivery-1",
        json!({ "delta": 12, "reason": "received", "note": "PO 118" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(
        (&first["stock_after"], &first["reason"], &first["note"]),
        (&json!(15), &json!("received"), &json!("PO 118"))
    );
    assert_eq!(app.stock_of(&shop, &product).await, 15);
    // A retry is the same adjustment; the key with another body is refused.
    let (status, again) = adjust(
        &app,
        &shop,
        &variant,
        "delivery-1",
        json!({ "delta": 12, "reason": "received", "note": "PO 118" }),
    )
    .await;
    assert_eq!((status, &again["id"]), (StatusCode::CREATED, &first["id"]));
    assert_eq!(app.stock_of(&shop, &product).await, 15);
    let (status, body) =
        adjust(&app, &shop, &variant, "delivery-1", json!({ "delta": 13, "reason": "received" }))
            .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");

    let (status, body) =
        adjust(&app, &shop, &variant, "count-1", json!({ "delta": -16, "reason": "correction" }))
            .await;
    assert_error(status, &body, StatusCode::CONFLICT, "insufficient_stock");
    let (status, body) =
        adjust(&app, &shop, &variant, "count-2", json!({ "delta": 0, "reason": "correction" }))
            .await;
    assert_eq!(
        (status, &body["error"]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("delta"))
    );
    let (status, body) =
        adjust(&app, &shop, &variant, "count-3", json!({ "delta": -2, "reason": "stolen" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an unknown reason: {body}");
    let (status, body) =
        adjust(&app, &shop, &variant, "count-4", json!({ "delta": -15, "reason": "damaged" }))
            .await;
    assert_eq!((status, &body["stock_after"]), (StatusCode::CREATED, &json!(0)), "{body}");
    // At zero the storefront shows it out of stock.
    let (_, listed) =
        app.store(&shop.slug, None, None, Method::GET, "/v1/store/products", None).await;
    assert_eq!(listed["items"][0]["in_stock"], false, "{listed}");

    let (status, page) = app
        .owner(&shop, Method::GET, &format!("/v1/admin/variants/{variant}/stock-adjustments"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let deltas: Vec<i64> =
        page["items"].as_array().unwrap().iter().map(|a| a["delta"].as_i64().unwrap()).collect();
    assert_eq!(deltas, [-15, 12], "newest first");
}

#[tokio::test]
async fn adjustments_and_sales_at_the_same_time_lose_nothing() {
    let app = TestApp::spawn().await;
    let shop = app.signup("stockrace").await;
    let (product, variant) = app.variant(&shop, "Bag", 3000, 10).await;
    let shipping = app.shipping_method(&shop, 0, None).await;
    let mut carts = Vec::new();
    for _ in 0..10 {
        let cart = app.guest_cart(&shop.slug).await;
        app.add_to_cart(&shop.slug, &cart, &variant, 1).await;
        carts.push(cart);
    }
    let body = checkout_body(&shipping, "manual");
    let sales =
        join_all(carts.iter().map(|cart| app.checkout(&shop.slug, Some(cart), None, cart, &body)));
    let keys: Vec<String> = (0..10).map(|i| format!("restock-{i}")).collect();
    let restocks = join_all(keys.iter().map(|key| {
        adjust(&app, &shop, &variant, key, json!({ "delta": 1, "reason": "received" }))
    }));
    let (sales, restocks) = tokio::join!(sales, restocks);
    assert!(
        sales
            .iter()
            .all(|(s, b)| *s == StatusCode::CREATED || b["error"]["code"] == "insufficient_stock"),
        "{sales:?}"
    );
    assert!(restocks.iter().all(|(s, _)| *s == StatusCode::CREATED), "{restocks:?}");
    let sold = sales.iter().filter(|(s, _)| *s == StatusCode::CREATED).count() as i64;
    assert_eq!(sold, 10, "ten in stock from the start: every sale goes through");
    assert_eq!(app.stock_of(&shop, &product).await, 10 - sold + 10);
}

#[tokio::test]
async fn another_shops_variant_cannot_be_adjusted_and_customers_are_refused() {
    let app = TestApp::spawn().await;
    let a = app.signup("stock-a").await;
    let b = app.signup("stock-b").await;
    let (product_a, variant_a) = app.variant(&a, "A jar", 900, 3).await;
    let (status, body) =
        adjust(&app, &b, &variant_a, "x-1", json!({ "delta": 5, "reason": "received" })).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "variant_not_found");
    let (status, body) = app
        .owner(&b, Method::GET, &format!("/v1/admin/variants/{variant_a}/stock-adjustments"), None)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "variant_not_found");
    assert_eq!(app.stock_of(&a, &product_a).await, 3);
    let customer = app.customer_token(&a).await;
    let (status, body) = app
        .as_token(
            &customer,
            &a.slug,
            Method::GET,
            &format!("/v1/admin/variants/{variant_a}/stock-adjustments"),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "staff_only");
    // Catalog staff may adjust stock.
    let staff = app.staff_token(&a, "staff").await;
    let (status, body) = read(
        app.shop(
            Method::POST,
            &a.slug,
            &format!("/v1/admin/variants/{variant_a}/stock-adjustments"),
        )
        .bearer_auth(&staff)
        .header("Idempotency-Key", "staff-1")
        .json(&json!({ "delta": 2, "reason": "returned" }))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((status, &body["stock_after"]), (StatusCode::CREATED, &json!(5)), "{body}");
}

#[tokio::test]
async fn the_smallest_and_largest_integers_as_delta_are_a_clean_422() {
    let app = TestApp::spawn().await;
    let shop = app.signup("stock-min").await;
    let (product, variant) = app.variant(&shop, "Jug", 900, 3).await;
    for (key, delta) in [("min", i64::from(i32::MIN)), ("max", i64::from(i32::MAX))] {
        let (status, body) =
            adjust(&app, &shop, &variant, key, json!({ "delta": delta, "reason": "correction" }))
                .await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["error"]["field"], "delta", "{body}");
    }
    assert_eq!(app.stock_of(&shop, &product).await, 3);
}
