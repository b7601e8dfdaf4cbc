//! The platform admin API: fleet listing, inspection, suspension, plans, deletion, purge,
//! the audit log — and suspension reaching a second instance within a second.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn platform_admins_list_and_inspect_shops_with_usage() {
    let app = TestApp::spawn().await;
    let admin = app.platform_admin_token().await;
    let shop = app.signup("fleet").await;
    app.product(&shop, "Counted", 100).await;
    app.customer_token(&shop).await;

    let (status, page) = app
        .as_admin(&admin, Method::GET, &format!("/v1/platform/shops?q={}", shop.slug), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["slug"], shop.slug);

    let (status, detail) =
        app.as_admin(&admin, Method::GET, &format!("/v1/platform/shops/{}", shop.id), None).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(
        detail["usage"],
        json!({
            "products": 1, "active_products": 1, "staff": 1, "customers": 1, "storage_bytes": 0,
            "orders": 0, "revenue": 0,
            // Usage against the `free` plan's limits (tests/quotas.rs has the rest).
            "quotas": [
                { "resource": "products", "usage": 1, "limit": 100, "at_limit": false },
                { "resource": "staff", "usage": 1, "limit": 2, "at_limit": false },
                { "resource": "webhook_endpoints", "usage": 0, "limit": 2, "at_limit": false },
                { "resource": "custom_domains", "usage": 0, "limit": 1, "at_limit": false },
                { "resource": "storage_bytes", "usage": 0, "limit": 104_857_600, "at_limit": false },
            ],
        })
    );
    assert_eq!(detail["schema_version"], detail["latest_schema_version"]);
    assert_eq!(detail["status"], "active");

    // A second shop, so that one shop per page leaves a next page.
    app.signup("admin-list-2").await;
    let (status, page) =
        app.as_admin(&admin, Method::GET, "/v1/platform/shops?status=active&limit=1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string(), "{page}");
    let (status, err) =
        app.as_admin(&admin, Method::GET, "/v1/platform/shops?status=sleeping", None).await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let (status, err) = app
        .as_admin(
            &admin,
            Method::GET,
            &format!("/v1/platform/shops/{}", uuid::Uuid::now_v7()),
            None,
        )
        .await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "shop_not_found");
}

#[tokio::test]
async fn shop_tokens_cannot_use_the_platform_api() {
    let app = TestApp::spawn().await;
    let shop = app.signup("notadmin").await;
    let (status, err) = app.as_admin(&shop.token, Method::GET, "/v1/platform/shops", None).await;
    assert_error(status, &err, StatusCode::UNAUTHORIZED, "invalid_token");
    let (status, err) = read(
        app.platform(Method::POST, "/v1/platform/auth/login")
            .json(&json!({ "email": shop.owner_email, "password": PASSWORD }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &err, StatusCode::UNAUTHORIZED, "invalid_credentials");
}

#[tokio::test]
async fn suspend_resume_plan_and_delete_are_applied_and_audited() {
    let app = TestApp::spawn().await;
    let admin = app.platform_admin_token().await;
    let shop = app.signup("lifecycle").await;
    let base = format!("/v1/platform/shops/{}", shop.id);

    let (status, detail) =
        app.as_admin(&admin, Method::POST, &format!("{base}/suspend"), None).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["status"], "suspended");
    for path in ["/v1/store/products", "/v1/admin/products"] {
        let (status, err) = app.as_token(&shop.token, &shop.slug, Method::GET, path, None).await;
        assert_error(status, &err, StatusCode::FORBIDDEN, "shop_suspended");
    }
    let (status, err) = app.as_admin(&admin, Method::POST, &format!("{base}/suspend"), None).await;
    assert_eq!(status, StatusCode::OK, "suspending twice is harmless: {err}");

    let (status, _) = app.as_admin(&admin, Method::POST, &format!("{base}/resume"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) =
        app.as_token(&shop.token, &shop.slug, Method::GET, "/v1/admin/products", None).await;
    assert_eq!(status, StatusCode::OK);

    let (status, detail) =
        app.as_admin(&admin, Method::PATCH, &base, Some(json!({ "plan": "pro" }))).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["plan"], "pro");
    let (status, err) =
        app.as_admin(&admin, Method::PATCH, &base, Some(json!({ "plan": "platinum" }))).await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let (status, _) = app.as_admin(&admin, Method::DELETE, &base, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, err) =
        app.as_token(&shop.token, &shop.slug, Method::GET, "/v1/admin/products", None).await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "shop_not_found");
    let (status, err) = app.as_admin(&admin, Method::POST, &format!("{base}/resume"), None).await;
    assert_error(status, &err, StatusCode::CONFLICT, "invalid_transition");

    let (status, log) = app
        .as_admin(&admin, Method::GET, &format!("/v1/platform/audit-log?shop_id={}", shop.id), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<&str> =
        log["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["shop.delete", "shop.change_plan", "shop.resume", "shop.suspend"]);
    assert!(log["items"][0]["actor_label"].as_str().unwrap().starts_with("admin-"));
}

#[tokio::test]
async fn purging_drops_schema_and_role_and_frees_the_slug() {
    let app = TestApp::spawn().await;
    let admin = app.platform_admin_token().await;
    let shop = app.signup("purge").await;
    let (schema, role): (String, String) =
        sqlx::query_as("select schema_name, role_name from platform.shops where id = $1::uuid")
            .bind(&shop.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();

    let (status, _) = app
        .as_admin(
            &admin,
            Method::DELETE,
            &format!("/v1/platform/shops/{}?purge=true", shop.id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (schema_left, role_left): (bool, bool) = sqlx::query_as(
        "select exists (select 1 from pg_namespace where nspname = $1), exists (select 1 from pg_roles where rolname = $2)",
    )
    .bind(&schema)
    .bind(&role)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(!schema_left && !role_left, "schema or role survived the purge");
    let (_, detail) =
        app.as_admin(&admin, Method::GET, &format!("/v1/platform/shops/{}", shop.id), None).await;
    assert_eq!(detail["status"], "purged");
    assert!(detail["usage"].is_null());

    // The slug can be signed up for again, as a brand-new shop.
    let response = app
        .platform(Method::POST, "/v1/signup")
        .json(&json!({ "slug": shop.slug, "name": "Reborn", "owner_email": "new@example.com", "owner_password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_suspension_reaches_a_second_instance_within_one_second() {
    let first = TestApp::spawn().await;
    let second = TestApp::spawn().await;
    let admin = first.platform_admin_token().await;
    let shop = first.signup("two-instances").await;
    // Warm the second instance's cache with the active shop.
    let (status, _) =
        read(second.shop(Method::GET, &shop.slug, "/v1/store/products").send().await.unwrap())
            .await;
    assert_eq!(status, StatusCode::OK);

    let (status, _) = first
        .as_admin(&admin, Method::POST, &format!("/v1/platform/shops/{}/suspend", shop.id), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let suspended_at = Instant::now();
    loop {
        let (status, body) =
            read(second.shop(Method::GET, &shop.slug, "/v1/store/products").send().await.unwrap())
                .await;
        if status == StatusCode::FORBIDDEN {
            assert_eq!(body["error"]["code"], "shop_suspended");
            break;
        }
        assert!(
            suspended_at.elapsed() < Duration::from_secs(1),
            "second instance still serves the suspended shop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
