//! Signup: shops are created atomically, with clear errors for bad input.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn signup_creates_a_shop_whose_owner_can_use_it_at_once() {
    let app = TestApp::spawn().await;
    let shop = app.signup("tina").await;

    let (status, body) = app.owner(&shop, Method::GET, "/v1/admin/shop", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["slug"], shop.slug);
    assert_eq!(body["currency"], "USD");
    assert_eq!(body["url"], format!("http://{}.{BASE_DOMAIN}", shop.slug));

    // Schema and role exist, and the catalog records the latest tenant version.
    let (schema_version, role): (i64, String) =
        sqlx::query_as("select schema_version, role_name from platform.shops where slug = $1")
            .bind(&shop.slug)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        schema_version,
        shopfleet::tenancy::migrate::latest_version(&shopfleet::tenancy::migrate::embedded())
    );
    let role_exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_roles where rolname = $1)")
            .bind(&role)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(role_exists);
}

#[tokio::test]
async fn signup_reports_provisioning_time_separately() {
    let app = TestApp::spawn().await;
    let slug = random_slug("timing");
    let response = app
        .platform(Method::POST, "/v1/signup")
        .json(&json!({ "slug": slug, "name": "Timing", "owner_email": "o@timing.example.com", "owner_password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let timing = response
        .headers()
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(timing.starts_with("provision;dur=") && timing.contains("hash;dur="), "{timing}");
}

#[tokio::test]
async fn a_taken_slug_is_409_and_bad_fields_are_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let shop = app.signup("taken").await;

    let attempt = |slug: String, email: &str, password: &str, currency: &str| {
        app.platform(Method::POST, "/v1/signup")
            .json(&json!({ "slug": slug, "name": "X", "currency": currency, "owner_email": email, "owner_password": password }))
            .send()
    };
    let (status, body) =
        read(attempt(shop.slug.clone(), "a@b.example.com", PASSWORD, "USD").await.unwrap()).await;
    assert_error(status, &body, StatusCode::CONFLICT, "slug_taken");

    for (slug, email, password, currency, field) in [
        ("admin".to_owned(), "a@b.example.com", PASSWORD, "USD", "slug"),
        ("Bad_Slug".to_owned(), "a@b.example.com", PASSWORD, "USD", "slug"),
        (random_slug("ok"), "not-an-email", PASSWORD, "USD", "owner_email"),
        (random_slug("ok"), "a@b.example.com", "short", "USD", "owner_password"),
        (random_slug("ok"), "a@b.example.com", PASSWORD, "XYZ", "currency"),
    ] {
        let (status, body) = read(attempt(slug, email, password, currency).await.unwrap()).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
}

#[tokio::test]
async fn malformed_json_unknown_routes_and_wrong_methods_get_the_json_error_shape() {
    let app = TestApp::spawn().await;
    let (status, body) = read(
        app.platform(Method::POST, "/v1/signup")
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");

    let (status, body) =
        read(app.platform(Method::GET, "/v1/nothing-here").send().await.unwrap()).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "route_not_found");

    let (status, body) =
        read(app.platform(Method::DELETE, "/v1/signup").send().await.unwrap()).await;
    assert_error(status, &body, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test]
async fn concurrent_signups_for_one_slug_create_one_shop() {
    let app = TestApp::spawn().await;
    let slug = random_slug("race");
    let requests = (0..5).map(|i| {
        app.platform(Method::POST, "/v1/signup")
            .json(&json!({ "slug": slug, "name": "Race", "owner_email": format!("o{i}@race.example.com"), "owner_password": PASSWORD }))
            .send()
    });
    let statuses: Vec<StatusCode> = futures::future::join_all(requests)
        .await
        .into_iter()
        .map(|r| r.unwrap().status())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 4, "{statuses:?}");
}
