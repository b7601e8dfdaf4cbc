//! Sign-in, refresh rotation, logout and login rate limits, for staff and customers.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use shopfleet::config::ServerConfig;

async fn post(
    app: &TestApp,
    slug: &str,
    path: &str,
    body: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    read(app.shop(Method::POST, slug, path).json(&body).send().await.unwrap()).await
}

#[tokio::test]
async fn the_owner_logs_in_and_a_wrong_password_or_unknown_email_is_the_same_401() {
    let app = TestApp::spawn().await;
    let shop = app.signup("auth").await;
    let (status, body) = post(
        &app,
        &shop.slug,
        "/v1/admin/auth/login",
        json!({ "email": shop.owner_email.to_uppercase(), "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().unwrap();
    let (status, _) =
        app.as_token(token, &shop.slug, Method::GET, "/v1/admin/products", None).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = post(
        &app,
        &shop.slug,
        "/v1/admin/auth/login",
        json!({ "email": shop.owner_email, "password": "wrong-password-1" }),
    )
    .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_credentials");
    let (status, body) = post(
        &app,
        &shop.slug,
        "/v1/admin/auth/login",
        json!({ "email": "nobody@example.com", "password": PASSWORD }),
    )
    .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_credentials");

    // The owner of one shop is nobody in another.
    let other = app.signup("auth-other").await;
    let (status, body) = post(
        &app,
        &other.slug,
        "/v1/admin/auth/login",
        json!({ "email": shop.owner_email, "password": PASSWORD }),
    )
    .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_credentials");
}

#[tokio::test]
async fn repeated_login_failures_are_rate_limited_per_identity() {
    let app = TestApp::spawn().await;
    let shop = app.signup("limit").await;
    for _ in 0..5 {
        let (status, _) = post(
            &app,
            &shop.slug,
            "/v1/admin/auth/login",
            json!({ "email": shop.owner_email, "password": "wrong-password-1" }),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let response = app
        .shop(Method::POST, &shop.slug, "/v1/admin/auth/login")
        .json(&json!({ "email": shop.owner_email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let (status, body) = read(response).await;
    assert_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!((1..=300).contains(&retry_after), "Retry-After was {retry_after}");

    // Another identity of the same shop is not affected.
    let (status, _) = post(
        &app,
        &shop.slug,
        "/v1/admin/auth/login",
        json!({ "email": "someone@example.com", "password": "wrong-password-1" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reusing_a_spent_one_revokes_the_family() {
    let app = TestApp::spawn().await;
    let shop = app.signup("refresh").await;

    let (status, first) = post(
        &app,
        &shop.slug,
        "/v1/admin/auth/refresh",
        json!({ "refresh_token": shop.refresh_token }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let second_refresh = first["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, shop.refresh_token);
    let (status, _) = app
        .as_token(
            first["access_token"].as_str().unwrap(),
            &shop.slug,
            Method::GET,
            "/v1/admin/shop",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Replaying the spent token fails, and takes the newer token of the family with it.
    let (status, body) = post(
        &app,
        &shop.slug,
        "/v1/admin/auth/refresh",
        json!({ "refresh_token": shop.refresh_token }),
    )
    .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_refresh_token");
    let (status, body) = post(
        &app,
        &shop.slug,
        "/v1/admin/auth/refresh",
        json!({ "refresh_token": second_refresh }),
    )
    .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_refresh_token");

    // A refresh token of one shop means nothing in another.
    let other = app.signup("refresh-other").await;
    let (status, body) = post(
        &app,
        &shop.slug,
        "/v1/admin/auth/refresh",
        json!({ "refresh_token": other.refresh_token }),
    )
    .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_refresh_token");
    let (status, _) = post(
        &app,
        &other.slug,
        "/v1/admin/auth/refresh",
        json!({ "refresh_token": other.refresh_token }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the other shop's own token still works");
}

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    let app = TestApp::spawn().await;
    let shop = app.signup("logout").await;
    let response = app
        .shop(Method::POST, &shop.slug, "/v1/admin/auth/logout")
        .bearer_auth(&shop.token)
        .json(&json!({ "refresh_token": shop.refresh_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, body) = post(
        &app,
        &shop.slug,
        "/v1/admin/auth/refresh",
        json!({ "refresh_token": shop.refresh_token }),
    )
    .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_refresh_token");
}

#[tokio::test]
async fn customers_register_log_in_refresh_and_read_their_profile() {
    let app = TestApp::spawn().await;
    let shop = app.signup("cust").await;
    let (status, body) = post(
        &app,
        &shop.slug,
        "/v1/store/customers",
        json!({ "email": "Ana@Example.com", "password": PASSWORD, "first_name": "Ana" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let refresh = body["tokens"]["refresh_token"].as_str().unwrap().to_owned();

    let (status, body) = post(
        &app,
        &shop.slug,
        "/v1/store/customers",
        json!({ "email": "ana@example.com", "password": PASSWORD }),
    )
    .await;
    assert_error(status, &body, StatusCode::CONFLICT, "email_taken");
    let (status, body) = post(
        &app,
        &shop.slug,
        "/v1/store/customers",
        json!({ "email": "bob@example.com", "password": "short" }),
    )
    .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let (status, body) = post(
        &app,
        &shop.slug,
        "/v1/store/auth/login",
        json!({ "email": "ana@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let (status, me) = app.as_token(token, &shop.slug, Method::GET, "/v1/store/me", None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["email"], "Ana@Example.com");
    assert_eq!(me["first_name"], "Ana");

    let (status, body) =
        post(&app, &shop.slug, "/v1/store/auth/refresh", json!({ "refresh_token": refresh })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A customer's refresh token is not a staff refresh token.
    let (status, body) = post(
        &app,
        &shop.slug,
        "/v1/admin/auth/refresh",
        json!({ "refresh_token": body["refresh_token"] }),
    )
    .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_refresh_token");

    // The same e-mail registers separately in another shop.
    let other = app.signup("cust-other").await;
    let (status, _) = post(
        &app,
        &other.slug,
        "/v1/store/customers",
        json!({ "email": "ana@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_garbage_or_missing_token_is_401() {
    let app = TestApp::spawn().await;
    let shop = app.signup("garbage").await;
    let (status, body) =
        app.as_token("not.a.jwt", &shop.slug, Method::GET, "/v1/admin/products", None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_token");
    let (status, body) =
        read(app.shop(Method::GET, &shop.slug, "/v1/admin/products").send().await.unwrap()).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_token");
}

#[tokio::test]
async fn forty_wrong_passwords_at_once_for_one_account_get_only_the_limit_verified() {
    let app = TestApp::spawn().await;
    let shop = app.signup("burst").await;
    let attempts = (0..40).map(|_| {
        post(
            &app,
            &shop.slug,
            "/v1/admin/auth/login",
            json!({ "email": shop.owner_email, "password": "wrong-password-1" }),
        )
    });
    let answers = futures::future::join_all(attempts).await;
    let verified = answers.iter().filter(|(status, _)| *status == StatusCode::UNAUTHORIZED).count();
    let limited =
        answers.iter().filter(|(status, _)| *status == StatusCode::TOO_MANY_REQUESTS).count();
    // `login_max_failures` is 5 in the test configuration.
    assert_eq!((verified, limited), (5, 35), "{answers:?}");
}

#[tokio::test]
async fn an_access_token_stops_working_when_its_session_logs_out() {
    let app = TestApp::spawn().await;
    let shop = app.signup("session").await;
    // A second session of the same owner, which must survive the first one's logout.
    let (status, other) = post(
        &app,
        &shop.slug,
        "/v1/admin/auth/login",
        json!({ "email": shop.owner_email, "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{other}");
    let other = other["access_token"].as_str().unwrap().to_owned();
    let (status, _) = app.owner(&shop, Method::GET, "/v1/admin/shop", None).await;
    assert_eq!(status, StatusCode::OK);

    let response = app
        .shop(Method::POST, &shop.slug, "/v1/admin/auth/logout")
        .bearer_auth(&shop.token)
        .json(&json!({ "refresh_token": shop.refresh_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, body) = app.owner(&shop, Method::GET, "/v1/admin/shop", None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_token");
    let (status, _) = app.as_token(&other, &shop.slug, Method::GET, "/v1/admin/shop", None).await;
    assert_eq!(status, StatusCode::OK, "another session of the same account is unaffected");

    // The same for a customer.
    let (status, registered) = post(
        &app,
        &shop.slug,
        "/v1/store/customers",
        json!({ "email": "leaving@example.com", "password": PASSWORD, "first_name": "Lea" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    let token = registered["tokens"]["access_token"].as_str().unwrap();
    let refresh = registered["tokens"]["refresh_token"].as_str().unwrap();
    let (status, _) = app.as_token(token, &shop.slug, Method::GET, "/v1/store/me", None).await;
    assert_eq!(status, StatusCode::OK);
    let response = app
        .shop(Method::POST, &shop.slug, "/v1/store/auth/logout")
        .bearer_auth(token)
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, body) = app.as_token(token, &shop.slug, Method::GET, "/v1/store/me", None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_token");
}

#[tokio::test]
async fn logins_beyond_the_password_hashing_queue_get_503_server_busy_with_retry_after() {
    let app = TestApp::spawn_with(ServerConfig {
        password_hash_concurrency: 1,
        password_hash_queue: 0,
        ..server_config()
    })
    .await;
    let shop = app.signup("busy").await;
    // The one hashing slot is taken, and there is no room to wait.
    let held = app.state.passwords.enter().await.expect("a free slot");
    let login = || {
        app.shop(Method::POST, &shop.slug, "/v1/admin/auth/login")
            .json(&json!({ "email": shop.owner_email, "password": PASSWORD }))
            .send()
    };
    for _ in 0..3 {
        let response = login().await.unwrap();
        let retry_after =
            response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
        let (status, body) = read(response).await;
        assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, "server_busy");
        assert_eq!(retry_after.as_deref(), Some("1"));
    }
    let (status, body) = post(
        &app,
        &shop.slug,
        "/v1/store/customers",
        json!({ "email": "busy@example.com", "password": PASSWORD, "first_name": "Bo" }),
    )
    .await;
    assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, "server_busy");

    // Refused attempts were never verified, so they did not count as failures (limit 5).
    drop(held);
    let (status, body) = read(login().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
