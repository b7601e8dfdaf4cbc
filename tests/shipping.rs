//! Shipping methods (admin and storefront) and the shop's checkout settings.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn method(app: &TestApp, shop: &TestShop, body: Value) -> Value {
    let (status, created) =
        app.owner(shop, Method::POST, "/v1/admin/shipping-methods", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

async fn store(app: &TestApp, shop: &TestShop, path: &str) -> (StatusCode, Value) {
    read(app.shop(Method::GET, &shop.slug, path).send().await.unwrap()).await
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_shipping_method_round_trips_through_the_admin_api() {
    let app = TestApp::spawn().await;
    let shop = app.signup_with("ship", "VND").await;
    let created = method(&app, &shop, json!({
        "name": " Standard (3–5 days) ", "price": 30000, "free_above": 500000, "countries": ["vn", "US", "VN"], "position": 2
    }))
    .await;
    assert_eq!(created["name"], "Standard (3–5 days)");
    assert_eq!(created["price"], 30000);
    assert_eq!(created["free_above"], 500000);
    assert_eq!(created["countries"], json!(["VN", "US"]), "upper-cased, duplicates dropped");
    assert_eq!(created["active"], true);
    assert_eq!(created["position"], 2);
    assert_eq!(created["currency"], "VND");
    let id = created["id"].as_str().unwrap();

    let express = method(&app, &shop, json!({ "name": "Express", "price": 0 })).await;
    assert_eq!(express["countries"], json!([]));
    assert!(express["free_above"].is_null());

    let (status, list) = app.owner(&shop, Method::GET, "/v1/admin/shipping-methods", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(names(&list), ["Express", "Standard (3–5 days)"], "by position");

    let path = format!("/v1/admin/shipping-methods/{id}");
    let (status, changed) = app
        .owner(
            &shop,
            Method::PATCH,
            &path,
            Some(json!({ "price": 25000, "free_above": null, "countries": [], "active": false })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["price"], 25000);
    assert!(changed["free_above"].is_null(), "null clears the threshold");
    assert_eq!(changed["countries"], json!([]));
    assert_eq!(changed["active"], false);
    assert_eq!(changed["name"], "Standard (3–5 days)", "absent fields keep their values");

    let (status, _) = app.owner(&shop, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for (method, body) in [(Method::PATCH, Some(json!({ "price": 1 }))), (Method::DELETE, None)] {
        let (status, err) = app.owner(&shop, method, &path, body).await;
        assert_error(status, &err, StatusCode::NOT_FOUND, "shipping_method_not_found");
    }
    let (_, list) = app.owner(&shop, Method::GET, "/v1/admin/shipping-methods", None).await;
    assert_eq!(names(&list), ["Express"]);
}

#[tokio::test]
async fn invalid_shipping_methods_are_422_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let shop = app.signup("ship-bad").await;
    for (body, field) in [
        (json!({ "name": "", "price": 100 }), "name"),
        (json!({ "name": "x".repeat(101), "price": 100 }), "name"),
        (json!({ "name": "A", "price": -1 }), "price"),
        (json!({ "name": "A", "price": 10_000_000_000_001_i64 }), "price"),
        (json!({ "name": "A", "price": 100, "free_above": -5 }), "free_above"),
        (json!({ "name": "A", "price": 100, "countries": ["VN", "UK"] }), "countries[1]"),
        (json!({ "name": "A", "price": 100, "countries": ["vnm"] }), "countries[0]"),
    ] {
        let (status, err) =
            app.owner(&shop, Method::POST, "/v1/admin/shipping-methods", Some(body.clone())).await;
        assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(err["error"]["field"], field, "{body} -> {err}");
    }
    let (_, list) = app.owner(&shop, Method::GET, "/v1/admin/shipping-methods", None).await;
    assert_eq!(list, json!([]));

    let created = method(&app, &shop, json!({ "name": "A", "price": 100 })).await;
    let path = format!("/v1/admin/shipping-methods/{}", created["id"].as_str().unwrap());
    let (status, err) = app
        .owner(&shop, Method::PATCH, &path, Some(json!({ "price": 5, "countries": ["XX"] })))
        .await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(err["error"]["field"], "countries[0]");
    let (_, list) = app.owner(&shop, Method::GET, "/v1/admin/shipping-methods", None).await;
    assert_eq!(list[0]["price"], 100, "unchanged");
}

#[tokio::test]
async fn the_storefront_offers_active_methods_for_the_destination_country() {
    let app = TestApp::spawn().await;
    let shop = app.signup_with("ship-store", "EUR").await;
    method(&app, &shop, json!({ "name": "Everywhere", "price": 1500, "position": 1 })).await;
    method(&app, &shop, json!({ "name": "Vietnam only", "price": 500, "free_above": 5000, "countries": ["VN"], "position": 2 })).await;
    method(&app, &shop, json!({ "name": "Hidden", "price": 0, "active": false })).await;

    let (status, all) = store(&app, &shop, "/v1/store/shipping-methods").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(names(&all), ["Everywhere", "Vietnam only"], "active only");
    assert_eq!(all[1]["price"], 500);
    assert_eq!(all[1]["free_above"], 5000);
    assert_eq!(all[1]["currency"], "EUR");
    assert!(all[1].get("active").is_none() && all[1].get("countries").is_none(), "{all}");

    let (_, to_vn) = store(&app, &shop, "/v1/store/shipping-methods?country=vn").await;
    assert_eq!(names(&to_vn), ["Everywhere", "Vietnam only"]);
    let (_, to_us) = store(&app, &shop, "/v1/store/shipping-methods?country=US").await;
    assert_eq!(names(&to_us), ["Everywhere"]);
    let (status, err) = store(&app, &shop, "/v1/store/shipping-methods?country=USA").await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(err["error"]["field"], "country");

    // Another shop's storefront shows only its own methods.
    let other = app.signup("ship-store-b").await;
    let (status, theirs) = store(&app, &other, "/v1/store/shipping-methods").await;
    assert_eq!((status, theirs), (StatusCode::OK, json!([])));
}

#[tokio::test]
async fn shipping_needs_shipping_permissions_and_stays_inside_its_shop() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.signup("ship-rbac-a").await, app.signup("ship-rbac-b").await);
    // More staff than `free` allows (README, "Plans and quotas").
    app.set_plan(&a, "basic").await;
    app.set_plan(&b, "basic").await;
    let created = method(&app, &a, json!({ "name": "Standard", "price": 100 })).await;
    let path = format!("/v1/admin/shipping-methods/{}", created["id"].as_str().unwrap());

    let staff = app.staff_token(&a, "staff").await;
    let customer = app.customer_token(&a).await;
    for (method, path, body) in [
        (Method::GET, "/v1/admin/shipping-methods", None),
        (Method::POST, "/v1/admin/shipping-methods", Some(json!({ "name": "X", "price": 1 }))),
        (Method::PATCH, path.as_str(), Some(json!({ "price": 1 }))),
        (Method::DELETE, path.as_str(), None),
    ] {
        let (status, err) = app.as_token(&staff, &a.slug, method.clone(), path, body.clone()).await;
        assert_error(status, &err, StatusCode::FORBIDDEN, "forbidden");
        let (status, err) = app.as_token(&customer, &a.slug, method, path, body).await;
        assert_error(status, &err, StatusCode::FORBIDDEN, "staff_only");
    }

    // A manager runs shipping.
    let manager = app.staff_token(&a, "manager").await;
    let (status, made) = app
        .as_token(
            &manager,
            &a.slug,
            Method::POST,
            "/v1/admin/shipping-methods",
            Some(json!({ "name": "Courier", "price": 900 })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let (status, changed) =
        app.as_token(&manager, &a.slug, Method::PATCH, &path, Some(json!({ "price": 200 }))).await;
    assert_eq!((status, changed["price"].as_i64()), (StatusCode::OK, Some(200)));
    let courier = format!("/v1/admin/shipping-methods/{}", made["id"].as_str().unwrap());
    let (status, _) = app.as_token(&manager, &a.slug, Method::DELETE, &courier, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Shop B cannot see or change A's method by its id.
    let (status, err) = app.owner(&b, Method::PATCH, &path, Some(json!({ "price": 1 }))).await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "shipping_method_not_found");
    let (status, err) = app.owner(&b, Method::DELETE, &path, None).await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "shipping_method_not_found");
    let (_, list) = app.owner(&b, Method::GET, "/v1/admin/shipping-methods", None).await;
    assert_eq!(list, json!([]));
    let (status, err) =
        app.as_token(&a.token, &b.slug, Method::GET, "/v1/admin/shipping-methods", None).await;
    assert_error(status, &err, StatusCode::UNAUTHORIZED, "token_shop_mismatch");

    let (_, list) = app.owner(&a, Method::GET, "/v1/admin/shipping-methods", None).await;
    assert_eq!((names(&list), list[0]["price"].as_i64()), (vec!["Standard"], Some(200)));
}

fn is_hex_secret(value: &Value) -> bool {
    value.as_str().is_some_and(|s| s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()))
}

#[tokio::test]
async fn checkout_settings_are_read_by_staff_changed_by_the_owner_and_the_secret_is_the_owners() {
    let app = TestApp::spawn().await;
    let shop = app.signup("settings").await;
    // More staff than `free` allows (README, "Plans and quotas").
    app.set_plan(&shop, "basic").await;

    let (status, settings) =
        app.owner(&shop, Method::GET, "/v1/admin/checkout-settings", None).await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert_eq!(
        (
            settings["tax_rate_bp"].as_i64(),
            settings["prices_include_tax"].as_bool(),
            settings["low_stock_threshold"].as_i64()
        ),
        (Some(0), Some(false), Some(5))
    );
    let original_secret = settings["payment_callback_secret"].as_str().unwrap().to_owned();
    assert!(original_secret.len() >= 32, "{settings}");

    // Roles with shop:read (manager, staff) see the settings, never the secret.
    let manager = app.staff_token(&shop, "manager").await;
    let staff = app.staff_token(&shop, "staff").await;
    for token in [&manager, &staff] {
        let (status, seen) =
            app.as_token(token, &shop.slug, Method::GET, "/v1/admin/checkout-settings", None).await;
        assert_eq!(status, StatusCode::OK, "{seen}");
        assert_eq!(seen["tax_rate_bp"], 0);
        assert!(seen.get("payment_callback_secret").is_none(), "{seen}");
        let (status, err) = app
            .as_token(
                token,
                &shop.slug,
                Method::PATCH,
                "/v1/admin/checkout-settings",
                Some(json!({ "tax_rate_bp": 1 })),
            )
            .await;
        assert_error(status, &err, StatusCode::FORBIDDEN, "forbidden");
        let (status, err) = app
            .as_token(
                token,
                &shop.slug,
                Method::POST,
                "/v1/admin/checkout-settings/rotate-payment-secret",
                None,
            )
            .await;
        assert_error(status, &err, StatusCode::FORBIDDEN, "forbidden");
    }
    let customer = app.customer_token(&shop).await;
    let (status, err) =
        app.as_token(&customer, &shop.slug, Method::GET, "/v1/admin/checkout-settings", None).await;
    assert_error(status, &err, StatusCode::FORBIDDEN, "staff_only");

    // The owner changes them; absent fields keep their values.
    let (status, changed) = app
        .owner(
            &shop,
            Method::PATCH,
            "/v1/admin/checkout-settings",
            Some(json!({ "tax_rate_bp": 2000, "prices_include_tax": true })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (
            changed["tax_rate_bp"].as_i64(),
            changed["prices_include_tax"].as_bool(),
            changed["low_stock_threshold"].as_i64()
        ),
        (Some(2000), Some(true), Some(5))
    );
    let (_, changed) = app
        .owner(
            &shop,
            Method::PATCH,
            "/v1/admin/checkout-settings",
            Some(json!({ "low_stock_threshold": 0 })),
        )
        .await;
    assert_eq!(
        (changed["tax_rate_bp"].as_i64(), changed["low_stock_threshold"].as_i64()),
        (Some(2000), Some(0))
    );
    for (body, field) in [
        (json!({ "tax_rate_bp": 10001 }), "tax_rate_bp"),
        (json!({ "tax_rate_bp": -1 }), "tax_rate_bp"),
        (json!({ "low_stock_threshold": -1 }), "low_stock_threshold"),
    ] {
        let (status, err) = app
            .owner(&shop, Method::PATCH, "/v1/admin/checkout-settings", Some(body.clone()))
            .await;
        assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(err["error"]["field"], field, "{body}");
    }
    let (status, edge) = app
        .owner(
            &shop,
            Method::PATCH,
            "/v1/admin/checkout-settings",
            Some(json!({ "tax_rate_bp": 10000 })),
        )
        .await;
    assert_eq!((status, edge["tax_rate_bp"].as_i64()), (StatusCode::OK, Some(10000)));

    // Rotation: a new 32-byte hex secret, kept.
    let (status, rotated) = app
        .owner(&shop, Method::POST, "/v1/admin/checkout-settings/rotate-payment-secret", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert!(is_hex_secret(&rotated["payment_callback_secret"]), "{rotated}");
    assert_ne!(rotated["payment_callback_secret"], original_secret.as_str());
    let (_, again) = app.owner(&shop, Method::GET, "/v1/admin/checkout-settings", None).await;
    assert_eq!(again["payment_callback_secret"], rotated["payment_callback_secret"]);
    assert_eq!(again["tax_rate_bp"], 10000, "rotation leaves the other settings alone");

    // Another shop's settings are its own.
    let other = app.signup("settings-b").await;
    app.set_plan(&other, "basic").await;
    let (_, theirs) = app.owner(&other, Method::GET, "/v1/admin/checkout-settings", None).await;
    assert_eq!(theirs["tax_rate_bp"], 0);
    assert_ne!(theirs["payment_callback_secret"], rotated["payment_callback_secret"]);
    let (status, err) = app
        .as_token(
            &shop.token,
            &other.slug,
            Method::PATCH,
            "/v1/admin/checkout-settings",
            Some(json!({ "tax_rate_bp": 1 })),
        )
        .await;
    assert_error(status, &err, StatusCode::UNAUTHORIZED, "token_shop_mismatch");
}
