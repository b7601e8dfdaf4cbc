//! Rate limits (`limits`): each shop's budgets from its plan, with their headers; per-client
//! limits of sign-up, registration and logins; login failures that a stranger cannot use to
//! lock an owner out; counting across two instances through Redis; and Redis going away.
//!
//! Tests of many processes share 127.0.0.1 and the test Redis: each test trusts 127.0.0.1 as a
//! proxy and names its clients with unique `X-Forwarded-For` addresses, and uses shops and plans
//! of its own.

mod common;

use common::private_redis::PrivateRedis;
use common::{
    PASSWORD, TestApp, TestShop, assert_error, random_slug, read, redis_config, server_config,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shopfleet::config::ServerConfig;

/// A client address no other test (or run) uses.
fn unique_ip() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    format!("10.{}.{}.{}", bytes[0], bytes[1], bytes[2].max(1))
}

/// `config` behind a trusted proxy on 127.0.0.1.
fn behind_proxy(mut config: ServerConfig) -> ServerConfig {
    config.limits.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a block")];
    config
}

fn header(response: &reqwest::Response, name: &str) -> Option<u64> {
    response.headers().get(name)?.to_str().ok()?.parse().ok()
}

/// The `(RateLimit-Limit, RateLimit-Remaining)` of a response; panics without them.
fn rate_headers(response: &reqwest::Response) -> (u64, u64) {
    let limit = header(response, "ratelimit-limit").expect("RateLimit-Limit");
    let remaining = header(response, "ratelimit-remaining").expect("RateLimit-Remaining");
    assert!(header(response, "ratelimit-reset").is_some(), "RateLimit-Reset");
    (limit, remaining)
}

/// Puts the shop on a plan of its own with these budgets per minute.
async fn give_plan(apps: &[&TestApp], shop: &TestShop, admin: i32, storefront: i32) {
    let code = random_slug("plan");
    let pool = &apps[0].pool;
    sqlx::query(
        "insert into platform.plans (code, name, max_upload_bytes, requests_per_minute, \
         storefront_requests_per_minute) values ($1, $1, 5242880, $2, $3)",
    )
    .bind(&code)
    .bind(admin)
    .bind(storefront)
    .execute(pool)
    .await
    .expect("a plan");
    sqlx::query("update platform.shops set plan = $1 where slug = $2")
        .bind(&code)
        .bind(&shop.slug)
        .execute(pool)
        .await
        .expect("re-plan the shop");
    for app in apps {
        app.state.tenants.invalidate_all();
    }
}

/// Waits until the app's Redis answers (its pool connects lazily, and a slow first connection
/// would send the first requests to the in-process fallback).
async fn redis_ready(app: &TestApp) {
    let redis = app.state.redis.clone().expect("Redis configured");
    common::eventually("Redis to answer", std::time::Duration::from_secs(10), || {
        let redis = redis.clone();
        async move { (redis.ping().await && redis.is_up()).then_some(()) }
    })
    .await;
}

async fn list_products(app: &TestApp, shop: &TestShop) -> reqwest::Response {
    app.shop(Method::GET, &shop.slug, "/v1/admin/products")
        .bearer_auth(&shop.token)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn a_shop_that_spends_its_budget_gets_429_while_another_shop_is_unaffected() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.signup("rl-a").await, app.signup("rl-b").await);
    give_plan(&[&app], &a, 3, 2).await;

    for expected_remaining in [2, 1, 0] {
        let response = list_products(&app, &a).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(rate_headers(&response), (3, expected_remaining));
    }
    let refused = list_products(&app, &a).await;
    assert_eq!(rate_headers(&refused), (3, 0));
    let retry_after = header(&refused, "retry-after").expect("Retry-After");
    assert!((1..=20).contains(&retry_after), "Retry-After {retry_after}");
    let (status, body) = read(refused).await;
    assert_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "rate_limited");

    // Shop B, on the same server, has its whole (free plan) budget.
    for _ in 0..5 {
        let response = list_products(&app, &b).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(rate_headers(&response).0, 600);
    }
    // Errors carry the headers too.
    let missing = app
        .shop(Method::GET, &b.slug, "/v1/admin/products/00000000-0000-0000-0000-000000000000")
        .bearer_auth(&b.token)
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(rate_headers(&missing).0, 600);

    // The storefront is a budget of its own: the JSON API and the pages spend it together.
    let store = app.shop(Method::GET, &a.slug, "/v1/store/products").send().await.expect("store");
    assert_eq!(store.status(), StatusCode::OK);
    assert_eq!(rate_headers(&store), (2, 1));
    let host = format!("{}.{}", a.slug, common::BASE_DOMAIN);
    let page = app.host(Method::GET, &host, "/").send().await.expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(rate_headers(&page), (2, 0));
    let refused = app.host(Method::GET, &host, "/").send().await.expect("page");
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&refused, "retry-after").is_some());
    assert_eq!(rate_headers(&refused), (2, 0));
    // Shop B's storefront is untouched.
    let host_b = format!("{}.{}", b.slug, common::BASE_DOMAIN);
    let page = app.host(Method::GET, &host_b, "/").send().await.expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(rate_headers(&page).0, 1200);
}

async fn signup_from(app: &TestApp, ip: &str) -> (StatusCode, Value) {
    let slug = random_slug("rl-su");
    read(
        app.platform(Method::POST, "/v1/signup")
            .header("X-Forwarded-For", ip)
            .json(&json!({
                "slug": slug, "name": "Limited", "owner_email": format!("o@{slug}.example.com"),
                "owner_password": PASSWORD,
            }))
            .send()
            .await
            .expect("signup"),
    )
    .await
}

#[tokio::test]
async fn signups_are_limited_per_client_and_overall() {
    let mut config = behind_proxy(server_config());
    config.limits.signups_per_ip_per_hour = 2;
    config.limits.signups_per_hour = 3;
    let app = TestApp::spawn_with(config).await;
    let (first, second, third) = (unique_ip(), unique_ip(), unique_ip());

    for _ in 0..2 {
        assert_eq!(signup_from(&app, &first).await.0, StatusCode::CREATED);
    }
    let (status, body) = signup_from(&app, &first).await;
    assert_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // Another client may; then the overall limit (3) is reached for everyone.
    assert_eq!(signup_from(&app, &second).await.0, StatusCode::CREATED);
    let (status, body) = signup_from(&app, &third).await;
    assert_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

#[tokio::test]
async fn forwarded_for_is_ignored_from_an_untrusted_peer() {
    let mut config = server_config();
    config.limits.signups_per_ip_per_hour = 1;
    let app = TestApp::spawn_with(config).await;
    // 127.0.0.1 is not trusted: a new X-Forwarded-For does not make a new client.
    assert_eq!(signup_from(&app, &unique_ip()).await.0, StatusCode::CREATED);
    assert_eq!(signup_from(&app, &unique_ip()).await.0, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn customer_registrations_are_limited_per_client() {
    let mut config = behind_proxy(server_config());
    config.limits.auth_per_ip_per_minute = 2;
    let app = TestApp::spawn_with(config).await;
    let shop = app.signup("rl-reg").await;
    let register = |ip: String| {
        let email = format!("c-{}@example.com", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let request = app
            .shop(Method::POST, &shop.slug, "/v1/store/customers")
            .header("X-Forwarded-For", ip)
            .json(&json!({ "email": email, "password": PASSWORD, "first_name": "Cus" }));
        async move { read(request.send().await.expect("register")).await }
    };
    let client = unique_ip();
    for _ in 0..2 {
        assert_eq!(register(client.clone()).await.0, StatusCode::CREATED);
    }
    let (status, body) = register(client).await;
    assert_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(register(unique_ip()).await.0, StatusCode::CREATED);
}

async fn login_from(app: &TestApp, shop: &TestShop, ip: &str, password: &str) -> StatusCode {
    app.shop(Method::POST, &shop.slug, "/v1/admin/auth/login")
        .header("X-Forwarded-For", ip)
        .json(&json!({ "email": shop.owner_email, "password": password }))
        .send()
        .await
        .expect("login")
        .status()
}

#[tokio::test]
async fn a_stranger_failing_logins_for_the_owners_email_does_not_lock_the_owner_out() {
    // 5 failures per identity and client (the test default); 8 per identity from all clients.
    let mut config = behind_proxy(server_config());
    config.limits.login_identity_max_failures = 8;
    let app = TestApp::spawn_with(config).await;
    let shop = app.signup("rl-lock").await;
    let (stranger, owner) = (unique_ip(), unique_ip());

    for _ in 0..5 {
        assert_eq!(
            login_from(&app, &shop, &stranger, "wrong-password-1").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from(&app, &shop, &stranger, "wrong-password-1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The owner, from their own client, is not affected: typos, then the right password.
    assert_eq!(login_from(&app, &shop, &owner, "typo-password").await, StatusCode::UNAUTHORIZED);
    assert_eq!(login_from(&app, &shop, &owner, PASSWORD).await, StatusCode::OK);
    // Even the right password is refused to the stranger's client until it has waited.
    assert_eq!(login_from(&app, &shop, &stranger, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);

    // Guessing from many clients meets the looser per-identity ceiling (8; the owner's typo
    // counted one, their success gave its own attempt back): 2 more failures use it up.
    let helper = unique_ip();
    for _ in 0..2 {
        assert_eq!(
            login_from(&app, &shop, &helper, "wrong-password-2").await,
            StatusCode::UNAUTHORIZED
        );
    }
    let response = app
        .shop(Method::POST, &shop.slug, "/v1/admin/auth/login")
        .header("X-Forwarded-For", unique_ip())
        .json(&json!({ "email": shop.owner_email, "password": "wrong-password-3" }))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // It slows guessing down (one attempt per window / ceiling), it does not close the door
    // for the whole window.
    let retry_after = header(&response, "retry-after").expect("Retry-After");
    assert!(retry_after <= 300 / 8 + 1, "Retry-After {retry_after}");
}

#[tokio::test]
async fn two_instances_count_shop_budgets_and_login_failures_together_through_redis() {
    let config = behind_proxy(redis_config());
    let first = TestApp::spawn_with(config.clone()).await;
    let second = TestApp::spawn_with(config).await;
    let shop = first.signup("rl-two").await;
    give_plan(&[&first, &second], &shop, 4, 100).await;
    redis_ready(&first).await;
    redis_ready(&second).await;

    for (i, app) in [&first, &second, &first, &second].into_iter().enumerate() {
        let response = list_products(app, &shop).await;
        assert_eq!(response.status(), StatusCode::OK, "request {i}");
        assert_eq!(rate_headers(&response), (4, 3 - i as u64));
    }
    for app in [&first, &second] {
        assert_eq!(list_products(app, &shop).await.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    // 5 failed logins (the test limit) from one client, spread over both instances (on another
    // shop: logins spend the admin budget too).
    let shop = first.signup("rl-two-login").await;
    let client = unique_ip();
    for app in [&first, &second, &first, &second, &first] {
        assert_eq!(
            login_from(app, &shop, &client, "wrong-password-1").await,
            StatusCode::UNAUTHORIZED
        );
    }
    for app in [&second, &first] {
        assert_eq!(
            login_from(app, &shop, &client, "wrong-password-1").await,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
}

#[tokio::test]
async fn requests_still_answer_when_redis_goes_away() {
    let mut redis = PrivateRedis::start().await;
    let mut config = behind_proxy(server_config());
    config.cache.redis_url = Some(redis.url());
    let app = TestApp::spawn_with(config).await;
    let shop = app.signup("rl-down").await;
    give_plan(&[&app], &shop, 6, 100).await;
    redis_ready(&app).await;
    for _ in 0..2 {
        assert_eq!(list_products(&app, &shop).await.status(), StatusCode::OK);
    }
    let counted: Vec<String> = {
        let client = redis::Client::open(redis.url()).expect("client");
        let mut conn = client.get_multiplexed_async_connection().await.expect("connect");
        redis::cmd("KEYS").arg("rl:*").query_async(&mut conn).await.expect("keys")
    };
    assert!(counted.iter().any(|key| key.ends_with(":admin")), "counted in Redis: {counted:?}");

    redis.kill();
    // The shop's API, its storefront, logins and sign-ups answer as before, counted in process.
    for _ in 0..3 {
        let response = list_products(&app, &shop).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(rate_headers(&response).0, 6);
    }
    let host = format!("{}.{}", shop.slug, common::BASE_DOMAIN);
    let page = app.host(Method::GET, &host, "/").send().await.expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(login_from(&app, &shop, &unique_ip(), PASSWORD).await, StatusCode::OK);
    assert_eq!(signup_from(&app, &unique_ip()).await.0, StatusCode::CREATED);
    // And the in-process count still limits.
    let mut refused = false;
    for _ in 0..10 {
        refused |= list_products(&app, &shop).await.status() == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(refused, "the budget still holds without Redis");
}
