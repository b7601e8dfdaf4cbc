//! Discount codes as the shop's staff manage them.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shopfleet::tenancy::TenantTx;
use uuid::Uuid;

async fn discount(app: &TestApp, shop: &TestShop, body: Value) -> Value {
    let (status, created) = app.owner(shop, Method::POST, "/v1/admin/discounts", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

fn codes(page: &Value) -> Vec<&str> {
    page["items"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap()).collect()
}

async fn category(app: &TestApp, shop: &TestShop, name: &str) -> String {
    let (status, body) =
        app.owner(shop, Method::POST, "/v1/admin/categories", Some(json!({ "name": name }))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_discount_code_round_trips_through_the_admin_api() {
    let app = TestApp::spawn().await;
    let shop = app.signup_with("disc", "VND").await;
    let tops = category(&app, &shop, "Tops").await;
    let created = discount(&app, &shop, json!({
        "code": " Summer-10 ", "kind": "percentage", "value": 10, "min_subtotal": 200000, "category_id": tops,
        "starts_at": "2026-06-01T00:00:00Z", "ends_at": "2026-09-01T00:00:00Z", "usage_limit": 100, "per_customer_limit": 1
    }))
    .await;
    assert_eq!(created["code"], "Summer-10", "trimmed, case kept");
    assert_eq!(created["kind"], "percentage");
    assert_eq!(created["value"], 10);
    assert_eq!(created["min_subtotal"], 200000);
    assert_eq!(created["category_id"], tops.as_str());
    assert_eq!(created["starts_at"], "2026-06-01T00:00:00+00:00");
    assert_eq!(created["ends_at"], "2026-09-01T00:00:00+00:00");
    assert_eq!(
        (created["usage_limit"].as_i64(), created["per_customer_limit"].as_i64()),
        (Some(100), Some(1))
    );
    assert_eq!(created["used_count"], 0);
    assert_eq!(created["active"], true);
    assert_eq!(created["currency"], "VND");
    let path = format!("/v1/admin/discounts/{}", created["id"].as_str().unwrap());

    let (status, got) = app.owner(&shop, Method::GET, &path, None).await;
    assert_eq!((status, &got), (StatusCode::OK, &created));

    let (status, changed) = app.owner(&shop, Method::PATCH, &path, Some(json!({
        "value": 15, "category_id": null, "ends_at": null, "usage_limit": null, "active": false
    })))
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["value"], 15);
    assert!(
        changed["category_id"].is_null()
            && changed["ends_at"].is_null()
            && changed["usage_limit"].is_null(),
        "{changed}"
    );
    assert_eq!(changed["active"], false);
    assert_eq!(
        changed["starts_at"], "2026-06-01T00:00:00+00:00",
        "absent fields keep their values"
    );
    assert_eq!(changed["per_customer_limit"], 1);

    // Another kind: free shipping takes no value; a fixed amount needs a new one.
    let (status, free) =
        app.owner(&shop, Method::PATCH, &path, Some(json!({ "kind": "free_shipping" }))).await;
    assert_eq!(
        (status, free["kind"].as_str(), free["value"].as_i64()),
        (StatusCode::OK, Some("free_shipping"), Some(0)),
        "{free}"
    );
    let (status, err) =
        app.owner(&shop, Method::PATCH, &path, Some(json!({ "kind": "fixed_amount" }))).await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(err["error"]["field"], "value");
    let (status, fixed) = app
        .owner(&shop, Method::PATCH, &path, Some(json!({ "kind": "fixed_amount", "value": 50000 })))
        .await;
    assert_eq!(
        (status, fixed["kind"].as_str(), fixed["value"].as_i64()),
        (StatusCode::OK, Some("fixed_amount"), Some(50000)),
        "{fixed}"
    );

    let (status, body) = app.owner(&shop, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    for (method, body) in
        [(Method::GET, None), (Method::PATCH, Some(json!({ "value": 1 }))), (Method::DELETE, None)]
    {
        let (status, err) = app.owner(&shop, method, &path, body).await;
        assert_error(status, &err, StatusCode::NOT_FOUND, "discount_not_found");
    }
}

#[tokio::test]
async fn codes_are_unique_per_shop_regardless_of_case() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.signup("disc-uniq-a").await, app.signup("disc-uniq-b").await);
    discount(&app, &a, json!({ "code": "WELCOME", "kind": "free_shipping" })).await;
    let other =
        discount(&app, &a, json!({ "code": "BYE", "kind": "fixed_amount", "value": 500 })).await;

    let (status, err) = app
        .owner(
            &a,
            Method::POST,
            "/v1/admin/discounts",
            Some(json!({ "code": " welcome ", "kind": "percentage", "value": 5 })),
        )
        .await;
    assert_error(status, &err, StatusCode::CONFLICT, "discount_code_taken");
    let path = format!("/v1/admin/discounts/{}", other["id"].as_str().unwrap());
    let (status, err) =
        app.owner(&a, Method::PATCH, &path, Some(json!({ "code": "Welcome" }))).await;
    assert_error(status, &err, StatusCode::CONFLICT, "discount_code_taken");
    // Changing the case of its own code is fine.
    let (status, renamed) =
        app.owner(&a, Method::PATCH, &path, Some(json!({ "code": "bye" }))).await;
    assert_eq!((status, renamed["code"].as_str()), (StatusCode::OK, Some("bye")));

    // The same code is free in another shop.
    let theirs =
        discount(&app, &b, json!({ "code": "welcome", "kind": "percentage", "value": 20 })).await;
    assert_eq!(theirs["code"], "welcome");
}

#[tokio::test]
async fn invalid_discounts_are_422_with_the_field_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let (shop, other) = (app.signup("disc-bad").await, app.signup("disc-bad-b").await);
    let foreign_category = category(&app, &other, "Theirs").await;
    let ok = json!({ "code": "OK10", "kind": "percentage", "value": 10 });
    let with = |field: &str, value: Value| {
        let mut body = ok.clone();
        body[field] = value;
        body
    };
    for (body, field) in [
        (with("code", json!("")), "code"),
        (with("code", json!("   ")), "code"),
        (with("code", json!("TWO WORDS")), "code"),
        (with("code", json!("50%OFF")), "code"),
        (with("code", json!("C".repeat(65))), "code"),
        (with("value", json!(0)), "value"),
        (with("value", json!(101)), "value"),
        (json!({ "code": "P", "kind": "percentage" }), "value"),
        (json!({ "code": "F", "kind": "fixed_amount", "value": 0 }), "value"),
        (json!({ "code": "F", "kind": "fixed_amount" }), "value"),
        (json!({ "code": "S", "kind": "free_shipping", "value": 5 }), "value"),
        (with("min_subtotal", json!(-1)), "min_subtotal"),
        (
            json!({ "code": "T", "kind": "percentage", "value": 5, "starts_at": "2026-06-01T00:00:00Z", "ends_at": "2026-06-01T00:00:00Z" }),
            "ends_at",
        ),
        (
            json!({ "code": "T", "kind": "percentage", "value": 5, "starts_at": "2026-06-02T00:00:00Z", "ends_at": "2026-06-01T00:00:00Z" }),
            "ends_at",
        ),
        (with("usage_limit", json!(0)), "usage_limit"),
        (with("per_customer_limit", json!(-2)), "per_customer_limit"),
        (with("category_id", json!(Uuid::now_v7())), "category_id"),
        (with("category_id", json!(foreign_category)), "category_id"),
    ] {
        let (status, err) =
            app.owner(&shop, Method::POST, "/v1/admin/discounts", Some(body.clone())).await;
        assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(err["error"]["field"], field, "{body} -> {err}");
    }
    // An unknown kind does not parse at all.
    let (status, err) = app
        .owner(&shop, Method::POST, "/v1/admin/discounts", Some(with("kind", json!("bogo"))))
        .await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "invalid_request");
    let (_, page) = app.owner(&shop, Method::GET, "/v1/admin/discounts", None).await;
    assert_eq!(page["items"], json!([]), "nothing was written");

    // A change is validated against the whole resulting discount.
    let created = discount(&app, &shop, json!({ "code": "DATED", "kind": "percentage", "value": 5, "ends_at": "2026-06-01T00:00:00Z" })).await;
    let path = format!("/v1/admin/discounts/{}", created["id"].as_str().unwrap());
    let (status, err) = app
        .owner(&shop, Method::PATCH, &path, Some(json!({ "starts_at": "2026-07-01T00:00:00Z" })))
        .await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(err["error"]["field"], "ends_at");
    let (status, err) = app
        .owner(&shop, Method::PATCH, &path, Some(json!({ "category_id": foreign_category })))
        .await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(err["error"]["field"], "category_id");
    let (_, unchanged) = app.owner(&shop, Method::GET, &path, None).await;
    assert_eq!(unchanged, created);
}

#[tokio::test]
async fn the_usage_limit_cannot_drop_below_the_uses_so_far_and_a_used_code_can_be_deleted() {
    let app = TestApp::spawn().await;
    let shop = app.signup("disc-used").await;
    let created = discount(
        &app,
        &shop,
        json!({ "code": "USED", "kind": "fixed_amount", "value": 500, "usage_limit": 10 }),
    )
    .await;
    let id = Uuid::parse_str(created["id"].as_str().unwrap()).unwrap();
    let path = format!("/v1/admin/discounts/{id}");

    // Three orders used it (as checkout will record them).
    let tenant = tenant_of(&app.pool, &shop.slug).await;
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.unwrap();
    let mut orders = Vec::new();
    for i in 0..3 {
        let order = Uuid::now_v7();
        sqlx::query(
            "insert into orders (id, token_hash, email, status, currency, subtotal, discount_total, shipping_total, \
             tax_total, total, tax_rate_bp, prices_include_tax, shipping_method_name, shipping_address, payment_method, \
             discount_id, discount_code) \
             values ($1, $2, $3, 'pending_payment', 'USD', 2000, 500, 0, 0, 1500, 0, false, 'Standard', '{}', 'manual', $4, 'USED')",
        )
        .bind(order)
        .bind(Uuid::new_v4().as_bytes().to_vec())
        .bind(format!("buyer{i}@example.com"))
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query(
            "insert into discount_usages (discount_id, order_id, email) values ($1, $2, $3)",
        )
        .bind(id)
        .bind(order)
        .bind(format!("buyer{i}@example.com"))
        .execute(&mut *tx)
        .await
        .unwrap();
        orders.push(order);
    }
    sqlx::query("update discounts set used_count = 3 where id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let (_, got) = app.owner(&shop, Method::GET, &path, None).await;
    assert_eq!(got["used_count"], 3);
    let (status, err) =
        app.owner(&shop, Method::PATCH, &path, Some(json!({ "usage_limit": 2 }))).await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(err["error"]["field"], "usage_limit");
    let (status, changed) =
        app.owner(&shop, Method::PATCH, &path, Some(json!({ "usage_limit": 3 }))).await;
    assert_eq!(
        (status, changed["usage_limit"].as_i64(), changed["used_count"].as_i64()),
        (StatusCode::OK, Some(3), Some(3)),
        "{changed}"
    );

    // Deleting a used code: allowed; its usage rows go, the orders keep their snapshot.
    let (status, _) = app.owner(&shop, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.unwrap();
    let usages: i64 = sqlx::query_scalar("select count(*) from discount_usages")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let kept: Vec<(String, i64)> = sqlx::query_as(
        "select discount_code, discount_total from orders where id = any($1) order by id",
    )
    .bind(&orders)
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(usages, 0);
    assert_eq!(kept, vec![("USED".to_owned(), 500); 3]);
    let (status, err) = app.owner(&shop, Method::GET, &path, None).await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "discount_not_found");
}

#[tokio::test]
async fn discounts_are_listed_newest_first_filtered_and_paged() {
    let app = TestApp::spawn().await;
    let shop = app.signup("disc-list").await;
    for (code, active) in
        [("SPRING5", true), ("SUMMER10", true), ("summer_old", false), ("AUTUMN", true)]
    {
        discount(
            &app,
            &shop,
            json!({ "code": code, "kind": "percentage", "value": 5, "active": active }),
        )
        .await;
    }
    let (status, page) = app.owner(&shop, Method::GET, "/v1/admin/discounts", None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(codes(&page), ["AUTUMN", "summer_old", "SUMMER10", "SPRING5"]);
    let (_, page) = app.owner(&shop, Method::GET, "/v1/admin/discounts?q=Summer", None).await;
    assert_eq!(codes(&page), ["summer_old", "SUMMER10"]);
    let (_, page) = app.owner(&shop, Method::GET, "/v1/admin/discounts?q=_", None).await;
    assert_eq!(codes(&page), ["summer_old"], "`_` is a character, not a wildcard");
    let (_, page) = app.owner(&shop, Method::GET, "/v1/admin/discounts?active=false", None).await;
    assert_eq!(codes(&page), ["summer_old"]);

    let (_, first) = app.owner(&shop, Method::GET, "/v1/admin/discounts?limit=3", None).await;
    assert_eq!(codes(&first), ["AUTUMN", "summer_old", "SUMMER10"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app
        .owner(&shop, Method::GET, &format!("/v1/admin/discounts?limit=3&cursor={cursor}"), None)
        .await;
    assert_eq!(codes(&second), ["SPRING5"]);
    assert!(second["next_cursor"].is_null());
    let (status, err) = app.owner(&shop, Method::GET, "/v1/admin/discounts?limit=0", None).await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[tokio::test]
async fn discounts_need_discount_permissions_and_stay_inside_their_shop() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.signup("disc-rbac-a").await, app.signup("disc-rbac-b").await);
    // More staff than `free` allows (README, "Plans and quotas").
    app.set_plan(&a, "basic").await;
    app.set_plan(&b, "basic").await;
    let created =
        discount(&app, &a, json!({ "code": "SECRET", "kind": "percentage", "value": 50 })).await;
    let path = format!("/v1/admin/discounts/{}", created["id"].as_str().unwrap());

    let staff = app.staff_token(&a, "staff").await;
    let customer = app.customer_token(&a).await;
    for (method, path, body) in [
        (Method::GET, "/v1/admin/discounts", None),
        (
            Method::POST,
            "/v1/admin/discounts",
            Some(json!({ "code": "MINE", "kind": "free_shipping" })),
        ),
        (Method::GET, path.as_str(), None),
        (Method::PATCH, path.as_str(), Some(json!({ "value": 100 }))),
        (Method::DELETE, path.as_str(), None),
    ] {
        let (status, err) = app.as_token(&staff, &a.slug, method.clone(), path, body.clone()).await;
        assert_error(status, &err, StatusCode::FORBIDDEN, "forbidden");
        let (status, err) = app.as_token(&customer, &a.slug, method, path, body).await;
        assert_error(status, &err, StatusCode::FORBIDDEN, "staff_only");
    }

    // A manager runs discounts.
    let manager = app.staff_token(&a, "manager").await;
    let (status, made) = app
        .as_token(
            &manager,
            &a.slug,
            Method::POST,
            "/v1/admin/discounts",
            Some(json!({ "code": "MGR", "kind": "free_shipping" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let (status, changed) =
        app.as_token(&manager, &a.slug, Method::PATCH, &path, Some(json!({ "value": 20 }))).await;
    assert_eq!((status, changed["value"].as_i64()), (StatusCode::OK, Some(20)));
    let (status, page) =
        app.as_token(&manager, &a.slug, Method::GET, "/v1/admin/discounts", None).await;
    assert_eq!((status, codes(&page)), (StatusCode::OK, vec!["MGR", "SECRET"]));
    let mgr = format!("/v1/admin/discounts/{}", made["id"].as_str().unwrap());
    let (status, _) = app.as_token(&manager, &a.slug, Method::DELETE, &mgr, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Shop B: A's discount id is unknown, and its list is empty.
    for (method, body) in
        [(Method::GET, None), (Method::PATCH, Some(json!({ "value": 99 }))), (Method::DELETE, None)]
    {
        let (status, err) = app.owner(&b, method, &path, body).await;
        assert_error(status, &err, StatusCode::NOT_FOUND, "discount_not_found");
    }
    let (_, page) = app.owner(&b, Method::GET, "/v1/admin/discounts", None).await;
    assert_eq!(page["items"], json!([]));
    let (status, err) =
        app.as_token(&a.token, &b.slug, Method::GET, "/v1/admin/discounts", None).await;
    assert_error(status, &err, StatusCode::UNAUTHORIZED, "token_shop_mismatch");

    let (_, still) = app.owner(&a, Method::GET, &path, None).await;
    assert_eq!((still["code"].as_str(), still["value"].as_i64()), (Some("SECRET"), Some(20)));
}

#[tokio::test]
async fn a_discount_window_outside_the_years_0001_to_9999_is_a_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let shop = app.signup("farwindow").await;
    for (field, at) in [
        ("starts_at", "-200000-01-01T00:00:00Z"),
        ("ends_at", "+200000-01-01T00:00:00Z"),
        ("ends_at", "+10000-01-01T00:00:00Z"),
    ] {
        let (status, body) = app
            .owner(
                &shop,
                Method::POST,
                "/v1/admin/discounts",
                Some(json!({ "code": "FAR", "kind": "percentage", "value": 10, field: at })),
            )
            .await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["error"]["field"], field, "{at}: {body}");
    }
    let created = discount(
        &app,
        &shop,
        json!({ "code": "NEAR", "kind": "percentage", "value": 10, "ends_at": "9999-12-31T23:59:59Z" }),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let (status, body) = app
        .owner(
            &shop,
            Method::PATCH,
            &format!("/v1/admin/discounts/{id}"),
            Some(json!({ "starts_at": "-200000-01-01T00:00:00Z" })),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(body["error"]["field"], "starts_at", "{body}");
}
