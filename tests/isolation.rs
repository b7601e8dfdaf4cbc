//! Isolation between shops: tokens, hosts, ids, pooled connections and the database itself.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use shopfleet::config::ServerConfig;
use shopfleet::tenancy::TenantTx;
use shopfleet::tenancy::registry::{LookupKey, TenantRegistry};
use shopfleet::tenancy::resolver::resolve;

#[tokio::test]
async fn a_token_of_one_shop_is_refused_on_another_shops_host() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.signup("iso-a").await, app.signup("iso-b").await);

    let (status, body) =
        app.as_token(&a.token, &b.slug, Method::GET, "/v1/admin/products", None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "token_shop_mismatch");

    let host = format!("{}.{BASE_DOMAIN}", b.slug);
    let (status, body) = read(
        app.host(Method::GET, &host, "/v1/admin/shop").bearer_auth(&a.token).send().await.unwrap(),
    )
    .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "token_shop_mismatch");

    let customer_of_a = app.customer_token(&a).await;
    let (status, body) =
        app.as_token(&customer_of_a, &b.slug, Method::GET, "/v1/store/me", None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "token_shop_mismatch");
}

#[tokio::test]
async fn an_id_of_one_shops_product_is_not_found_in_another_shop() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.signup("iso-a").await, app.signup("iso-b").await);
    let product = app.product(&a, "Secret Tee", 1000).await;
    let id = product["id"].as_str().unwrap();
    let slug = product["slug"].as_str().unwrap();

    for method in [Method::GET, Method::DELETE] {
        let (status, body) = app.owner(&b, method, &format!("/v1/admin/products/{id}"), None).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "product_not_found");
    }
    let (status, body) = app
        .owner(
            &b,
            Method::PATCH,
            &format!("/v1/admin/products/{id}"),
            Some(json!({ "name": "Stolen" })),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "product_not_found");
    let (status, body) = read(
        app.shop(Method::GET, &b.slug, &format!("/v1/store/products/{slug}")).send().await.unwrap(),
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "product_not_found");

    // Still intact in its own shop.
    let (status, body) =
        app.owner(&a, Method::GET, &format!("/v1/admin/products/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "Secret Tee");
}

#[tokio::test]
async fn a_customer_token_on_an_admin_route_is_forbidden() {
    let app = TestApp::spawn().await;
    let shop = app.signup("iso-c").await;
    let customer = app.customer_token(&shop).await;
    let (status, body) =
        app.as_token(&customer, &shop.slug, Method::GET, "/v1/admin/products", None).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "staff_only");
    let (status, body) =
        app.as_token(&shop.token, &shop.slug, Method::GET, "/v1/store/me", None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_token");
}

#[tokio::test]
async fn inside_a_shops_transaction_another_shops_tables_are_a_permission_error() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.signup("iso-a").await, app.signup("iso-b").await);
    app.product(&b, "B's product", 500).await;
    let (tenant_a, tenant_b) =
        (tenant_of(&app.pool, &a.slug).await, tenant_of(&app.pool, &b.slug).await);

    let mut tx = TenantTx::begin(&app.pool, &tenant_a).await.unwrap();
    let own: i64 =
        sqlx::query_scalar("select count(*) from products").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(own, 0, "shop A sees its own (empty) products table");
    let err = sqlx::query_scalar::<_, i64>(&format!(
        "select count(*) from \"{}\".products",
        tenant_b.schema_name
    ))
    .fetch_one(&mut *tx)
    .await
    .unwrap_err();
    assert_eq!(err.as_database_error().and_then(|e| e.code()).as_deref(), Some("42501"), "{err}");
    tx.rollback().await.unwrap();

    // Without a TenantTx, the application role itself cannot read any shop's tables either.
    let err = sqlx::query_scalar::<_, i64>(&format!(
        "select count(*) from \"{}\".products",
        tenant_b.schema_name
    ))
    .fetch_one(&app.pool)
    .await
    .unwrap_err();
    assert_eq!(err.as_database_error().and_then(|e| e.code()).as_deref(), Some("42501"), "{err}");
    // And a query that forgets the tenant finds no table at all.
    let err = sqlx::query("select count(*) from products").fetch_one(&app.pool).await.unwrap_err();
    assert_eq!(err.as_database_error().and_then(|e| e.code()).as_deref(), Some("42P01"), "{err}");
}

#[tokio::test]
async fn a_pooled_connection_leaves_a_shop_transaction_with_default_settings() {
    let app = TestApp::spawn().await;
    let shop = app.signup("iso-pool").await;
    let tenant = tenant_of(&app.pool, &shop.slug).await;
    // One connection, so every transaction below reuses it.
    let pool = pool(1).await;
    let defaults: (String, String, String) = sqlx::query_as(
        "select current_setting('search_path'), current_user::text, coalesce(current_setting('shopfleet.tenant_id', true), '')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();

    for commit in [true, false] {
        let mut tx = TenantTx::begin(&pool, &tenant).await.unwrap();
        let inside: (String, String, String) = sqlx::query_as(
            "select current_setting('search_path'), current_user::text, current_setting('shopfleet.tenant_id')",
        )
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        assert_eq!(
            inside,
            (
                format!("\"{}\"", tenant.schema_name),
                tenant.role_name.clone(),
                tenant.id.to_string()
            )
        );
        if commit {
            tx.commit().await.unwrap()
        } else {
            tx.rollback().await.unwrap()
        }

        let after: (String, String, String) = sqlx::query_as(
            "select current_setting('search_path'), current_user::text, coalesce(current_setting('shopfleet.tenant_id', true), '')",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(
            after,
            defaults,
            "settings leaked after {}",
            if commit { "commit" } else { "rollback" }
        );
    }
}

#[tokio::test]
async fn two_hundred_concurrent_requests_across_two_shops_each_see_only_their_own_data() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.signup("iso-a").await, app.signup("iso-b").await);
    for i in 0..3 {
        app.product(&a, &format!("Alpha {i}"), 1000 + i).await;
        app.product(&b, &format!("Beta {i}"), 2000 + i).await;
    }
    let requests = (0..200).map(|i| {
        let shop = if i % 2 == 0 { &a } else { &b };
        let admin = i % 4 < 2;
        let request = if admin {
            app.shop(Method::GET, &shop.slug, "/v1/admin/products").bearer_auth(&shop.token)
        } else {
            app.host(Method::GET, &format!("{}.{BASE_DOMAIN}", shop.slug), "/v1/store/products")
        };
        async move { (i, read(request.send().await.unwrap()).await) }
    });
    for (i, (status, body)) in futures::future::join_all(requests).await {
        assert_eq!(status, StatusCode::OK, "request {i}: {body}");
        let expected = if i % 2 == 0 { "Alpha" } else { "Beta" };
        let names: Vec<&str> =
            body["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names.len(), 3, "request {i}: {names:?}");
        assert!(names.iter().all(|n| n.starts_with(expected)), "request {i} saw {names:?}");
    }
}

#[tokio::test]
async fn hosts_resolve_to_shops_and_conflicts_or_unknowns_are_refused() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.signup("host-a").await, app.signup("host-b").await);
    let sub_a = format!("{}.{BASE_DOMAIN}", a.slug);

    let (status, body) =
        read(app.host(Method::GET, &sub_a, "/v1/store/products").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Same shop in Host and X-Shop is fine; different shops are a 400.
    let (status, _) = read(
        app.host(Method::GET, &sub_a, "/v1/store/products")
            .header("X-Shop", &a.slug)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = read(
        app.host(Method::GET, &sub_a, "/v1/store/products")
            .header("X-Shop", &b.slug)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "shop_conflict");

    let (status, body) = read(
        app.host(Method::GET, &format!("nope-{}.{BASE_DOMAIN}", a.slug), "/v1/store/products")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "shop_not_found");
    let (status, body) =
        read(app.shop(Method::GET, "no-such-shop", "/v1/store/products").send().await.unwrap())
            .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "shop_not_found");
    let (status, body) =
        read(app.platform(Method::GET, "/v1/store/products").send().await.unwrap()).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "shop_required");
}

#[tokio::test]
async fn a_verified_custom_domain_serves_its_shop_until_removed_and_cannot_be_claimed_twice() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.signup("dom-a").await, app.signup("dom-b").await);
    let domain = dns::unique_hostname("dom");

    // Unknown before it is attached.
    let (status, _) =
        read(app.host(Method::GET, &domain, "/v1/store/products").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Claimed in any case, stored lowercase; verified by its TXT record (tests/domains.rs has
    // the steps in detail).
    let claim = app.claim_domain(&a, &domain.to_uppercase()).await;
    assert_eq!(claim["hostname"], domain);
    let domain_id = claim["id"].as_str().unwrap().to_owned();
    let (name, value) = dns::record_of(&claim);
    dns::set_txt(&name, &[&value]);
    let (status, body) = app.verify_domain(&a, &claim).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = read(
        app.host(Method::GET, &domain, "/v1/admin/shop")
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["slug"], a.slug);
    // B's token on A's domain: 401.
    let (status, body) = read(
        app.host(Method::GET, &domain, "/v1/admin/shop")
            .bearer_auth(&b.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "token_shop_mismatch");

    let (status, body) =
        app.owner(&b, Method::POST, "/v1/admin/domains", Some(json!({ "hostname": domain }))).await;
    assert_error(status, &body, StatusCode::CONFLICT, "domain_taken");
    let (status, body) = app
        .owner(
            &b,
            Method::POST,
            "/v1/admin/domains",
            Some(json!({ "hostname": format!("x.{BASE_DOMAIN}") })),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    // B cannot remove A's domain: it does not exist as far as B knows.
    let (status, body) =
        app.owner(&b, Method::DELETE, &format!("/v1/admin/domains/{domain_id}"), None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "domain_not_found");

    let (status, _) =
        app.owner(&a, Method::DELETE, &format!("/v1/admin/domains/{domain_id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) =
        read(app.host(Method::GET, &domain, "/v1/store/products").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a removed domain must stop resolving at once");
    dns::remove_txt(&name);
}

#[tokio::test]
async fn a_shop_transaction_that_cannot_start_leaves_its_pooled_connection_clean() {
    let app = TestApp::spawn().await;
    let shop = app.signup("iso-role").await;
    let mut tenant = tenant_of(&app.pool, &shop.slug).await;
    // One connection, so the failure and the next query share it.
    let pool = pool(1).await;
    tenant.role_name = "shop_role_that_was_dropped".into();
    let err = TenantTx::begin(&pool, &tenant).await.err().expect("a missing role must fail");
    assert!(err.to_string().contains("does not exist"), "{err}");

    // Two statements in autocommit get two transaction ids; inside a leftover transaction they
    // would share one, and inside an aborted one they would fail.
    let xid =
        || async { sqlx::query_scalar::<_, i64>("select txid_current()").fetch_one(&pool).await };
    let first = xid().await.expect("the connection is usable, not stuck in an aborted transaction");
    assert_ne!(first, xid().await.unwrap(), "the failed BEGIN left a transaction open");
    let search_path: String =
        sqlx::query_scalar("select current_setting('search_path')").fetch_one(&pool).await.unwrap();
    assert!(!search_path.contains("shop_"), "{search_path}");
    let tenant = tenant_of(&app.pool, &shop.slug).await;
    let mut tx = TenantTx::begin(&pool, &tenant).await.unwrap();
    let products: i64 =
        sqlx::query_scalar("select count(*) from products").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(products, 0);
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn shop_transactions_carry_statement_lock_and_idle_timeouts_that_end_with_them() {
    let app = TestApp::spawn().await;
    let shop = app.signup("iso-timeout").await;
    let tenant = tenant_of(&app.pool, &shop.slug).await;
    // One connection, so the transaction and the query after it share it.
    let pool = pool(1).await;
    let settings = "select current_setting('statement_timeout'), current_setting('lock_timeout'), \
                    current_setting('idle_in_transaction_session_timeout')";
    let mut tx = TenantTx::begin(&pool, &tenant).await.unwrap();
    let inside: (String, String, String) =
        sqlx::query_as(settings).fetch_one(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    // The values of `server_config` in tests/common.
    assert_eq!(inside, ("10s".into(), "5s".into(), "30s".into()));
    let after: (String, String, String) = sqlx::query_as(settings).fetch_one(&pool).await.unwrap();
    assert_eq!(
        after,
        ("0".into(), "0".into(), "0".into()),
        "the timeouts outlived the transaction"
    );
}

async fn allowed_origin(app: &TestApp, slug: &str, origin: &str) -> Option<String> {
    let response = app
        .shop(Method::GET, slug, "/v1/store/products")
        .header("Origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "CORS never refuses the request itself");
    response
        .headers()
        .get("access-control-allow-origin")
        .map(|value| value.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn cors_allows_only_the_shops_own_hosts_as_origins() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.signup("cors-a").await, app.signup("cors-b").await);
    let own = format!("https://{}.{BASE_DOMAIN}", a.slug);
    assert_eq!(allowed_origin(&app, &a.slug, &own).await, Some(own.clone()));
    for origin in [
        "https://evil.example".to_owned(),
        format!("https://{}.{BASE_DOMAIN}", b.slug),
        format!("https://{BASE_DOMAIN}"),
        "null".to_owned(),
    ] {
        assert_eq!(allowed_origin(&app, &a.slug, &origin).await, None, "{origin}");
    }

    let preflight = |origin: String| {
        app.shop(Method::OPTIONS, &a.slug, "/v1/store/carts")
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
    };
    let response = preflight(own.clone()).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(response.headers()["access-control-allow-origin"].to_str().unwrap(), own);
    let response = preflight("https://evil.example".into()).await.unwrap();
    assert!(response.headers().get("access-control-allow-origin").is_none());
    let (status, body) = read(response).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "origin_not_allowed");
}

#[tokio::test]
async fn made_up_hosts_cost_no_lookup_and_never_evict_a_known_shop_from_the_cache() {
    let app = TestApp::spawn().await;
    let shops = [app.signup("iso-cache-a").await, app.signup("iso-cache-b").await];
    // Slugs and hosts that cannot name a shop: the same 404 as an unknown shop.
    let long_label = format!("{}.example.com", "a".repeat(64));
    for slug in ["Bad_Slug!", "a", "x--y", &"a".repeat(41)] {
        let (status, body) =
            read(app.shop(Method::GET, slug, "/v1/store/products").send().await.unwrap()).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "shop_not_found");
    }
    for host in [long_label.as_str(), "under_score.example.com"] {
        let (status, body) =
            read(app.host(Method::GET, host, "/v1/store/products").send().await.unwrap()).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "shop_not_found");
    }

    // The mechanism, on a registry of its own: the server's is emptied by every shop change of
    // the parallel tests (NOTIFY), which would make its contents racy to assert on.
    let registry = TenantRegistry::new(app.pool.clone(), 5);
    for slug in ["Bad_Slug!", "a", "x--y"] {
        assert!(resolve(&registry, BASE_DOMAIN, "127.0.0.1", Some(slug)).await.is_err());
    }
    assert!(resolve(&registry, BASE_DOMAIN, &long_label, None).await.is_err());
    assert_eq!(registry.cached_counts().await, (0, 0), "a malformed host or slug was looked up");

    for shop in &shops {
        let tenant = resolve(&registry, BASE_DOMAIN, "127.0.0.1", Some(&shop.slug)).await;
        assert_eq!(tenant.unwrap().slug, shop.slug);
    }
    // Far more well-formed unknown hosts than the cache holds.
    for i in 0..50 {
        let host = format!("nobody-{i}-{}.{BASE_DOMAIN}", shops[0].slug);
        assert!(resolve(&registry, BASE_DOMAIN, &host, None).await.is_err());
    }
    let (found, misses) = registry.cached_counts().await;
    assert!(misses <= 5, "misses are bounded: {misses}");
    assert_eq!(found, 2);
    for shop in &shops {
        assert!(
            registry.is_cached(&LookupKey::Slug(shop.slug.clone())),
            "{} was evicted by unknown hosts",
            shop.slug
        );
    }
}

#[tokio::test]
async fn cors_allows_configured_origins_on_every_route() {
    let app = TestApp::spawn_with(ServerConfig {
        cors_allowed_origins: vec!["https://headless.example.com".into()],
        ..server_config()
    })
    .await;
    let shop = app.signup("cors-cfg").await;
    assert_eq!(
        allowed_origin(&app, &shop.slug, "https://headless.example.com").await.as_deref(),
        Some("https://headless.example.com")
    );
    assert_eq!(allowed_origin(&app, &shop.slug, "https://headless.example.com:8443").await, None);
    let response = app
        .platform(Method::GET, "/healthz")
        .header("Origin", "https://headless.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["access-control-allow-origin"].to_str().unwrap(),
        "https://headless.example.com"
    );
}
