//! Custom domains: claimed unverified, verified by a DNS TXT record (served by the loopback DNS
//! server of scripts/test.sh), routed only while verified, held by one shop at a time, one of
//! them primary, and re-checked until a record that stays missing takes verification away.

mod common;

use std::time::Duration;

use common::dns::{record_of, remove_txt, set_servfail, set_txt, unique_hostname};
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shopfleet::shop::verification::{RecheckReport, RecheckRule, recheck_due};
use shopfleet::tenancy::registry::LookupKey;

/// The slug of the shop `host` routes to, or the error code of the storefront's answer.
async fn routes_to(app: &TestApp, host: &str) -> Result<String, String> {
    let (status, body) =
        read(app.host(Method::GET, host, "/v1/store/categories").send().await.unwrap()).await;
    if status != StatusCode::OK {
        return Err(body["error"]["code"].as_str().unwrap_or_default().to_owned());
    }
    // The answer above may have come from the cache just before a NOTIFY emptied it: then the
    // registry no longer finds the shop, which is what the next request sees.
    let tenant = app.state.tenants.lookup(&LookupKey::Domain(host.to_owned())).await.unwrap();
    tenant.map(|t| t.slug).ok_or_else(|| "shop_not_found".to_owned())
}

/// Waits until `host` routes as `expected` (NOTIFY reaches the server's cache asynchronously).
async fn eventually_routes(app: &TestApp, host: &str, expected: Result<&str, &str>) {
    let expected = expected.map(str::to_owned).map_err(str::to_owned);
    eventually(&format!("{host} to route as {expected:?}"), Duration::from_secs(5), || async {
        (routes_to(app, host).await == expected).then_some(())
    })
    .await;
}

async fn domain_in_list(app: &TestApp, shop: &TestShop, id: &Value) -> Value {
    let (status, body) = app.owner(shop, Method::GET, "/v1/admin/domains", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .expect("a list")
        .iter()
        .find(|domain| &domain["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} not in {body}"))
}

async fn primary_domain_of(app: &TestApp, shop: &TestShop) -> Option<String> {
    tenant_of(&app.pool, &shop.slug).await.primary_domain
}

#[tokio::test]
async fn a_claimed_domain_routes_only_once_its_txt_record_holds_the_token() {
    let app = TestApp::spawn().await;
    let shop = app.signup("dom-verify").await;
    let host = unique_hostname("verify");

    let claim = app.claim_domain(&shop, &host).await;
    assert_eq!(claim["verified"], false, "{claim}");
    assert!(claim["verified_at"].is_null(), "{claim}");
    assert_eq!(claim["primary"], false, "{claim}");
    let (name, value) = record_of(&claim);
    assert_eq!(name, format!("_shopfleet.{host}"));
    assert!(value.starts_with("shopfleet-verify=") && value.len() > 30, "{value}");
    assert_eq!(routes_to(&app, &host).await, Err("shop_not_found".into()), "unverified: no route");

    // No record: 422, saying so; still no route.
    let (status, body) = app.verify_domain(&shop, &claim).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "domain_not_verified");
    assert!(body["error"]["message"].as_str().unwrap().contains("does not exist"), "{body}");
    assert_eq!(routes_to(&app, &host).await, Err("shop_not_found".into()));

    // Other values only: 422 quoting them.
    set_txt(&name, &["v=spf1 -all", "shopfleet-verify=not-this-one"]);
    let (status, body) = app.verify_domain(&shop, &claim).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "domain_not_verified");
    assert!(body["error"]["message"].as_str().unwrap().contains("not-this-one"), "{body}");
    assert_eq!(routes_to(&app, &host).await, Err("shop_not_found".into()));

    // A DNS failure is 503, never a 500.
    set_servfail(&name);
    let (status, body) = app.verify_domain(&shop, &claim).await;
    assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, "dns_unavailable");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&name) && message.contains("try again"), "{message}");

    // The token among other records: verified, and the storefront answers on the domain.
    set_txt(&name, &["v=spf1 -all", &value]);
    let (status, body) = app.verify_domain(&shop, &claim).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["verified"], true, "{body}");
    assert!(body["verified_at"].is_string() && body["last_checked_at"].is_string(), "{body}");
    assert!(body["last_check_error"].is_null(), "{body}");
    assert_eq!(routes_to(&app, &host).await, Ok(shop.slug.clone()));
    let (status, body) = read(
        app.host(Method::GET, &host, "/v1/admin/shop")
            .bearer_auth(&shop.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["slug"], shop.slug);
    assert_eq!(domain_in_list(&app, &shop, &claim["id"]).await["verified"], true);

    // Verifying again checks again.
    let (status, body) = app.verify_domain(&shop, &claim).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    remove_txt(&name);
}

#[tokio::test]
async fn a_hostname_verified_by_one_shop_cannot_be_claimed_or_verified_by_another() {
    let app = TestApp::spawn().await;
    let (a, b, c) =
        (app.signup("dom-a").await, app.signup("dom-b").await, app.signup("dom-c").await);
    let host = unique_hostname("taken");

    // Both may claim it while nobody holds it, each with a token of its own.
    let claim_b = app.claim_domain(&b, &host).await;
    let claim_a = app.claim_domain(&a, &host).await;
    let (name, value_a) = record_of(&claim_a);
    let (_, value_b) = record_of(&claim_b);
    assert_ne!(value_a, value_b);
    let (status, body) =
        app.owner(&a, Method::POST, "/v1/admin/domains", Some(json!({ "hostname": host }))).await;
    assert_error(status, &body, StatusCode::CONFLICT, "domain_exists");

    // B's unverified claim never routes to B, not even with B's X-Shop.
    assert_eq!(routes_to(&app, &host).await, Err("shop_not_found".into()));
    let (status, body) = read(
        app.host(Method::GET, &host, "/v1/store/categories")
            .header("X-Shop", &b.slug)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "shop_not_found");

    // A's record: A holds it.
    set_txt(&name, &[&value_a]);
    let (status, body) = app.verify_domain(&a, &claim_a).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually_routes(&app, &host, Ok(&a.slug)).await;

    // B, even with its own token in the record, cannot verify; C cannot claim.
    set_txt(&name, &[&value_a, &value_b]);
    let (status, body) = app.verify_domain(&b, &claim_b).await;
    assert_error(status, &body, StatusCode::CONFLICT, "domain_taken");
    let (status, body) =
        app.owner(&c, Method::POST, "/v1/admin/domains", Some(json!({ "hostname": host }))).await;
    assert_error(status, &body, StatusCode::CONFLICT, "domain_taken");
    assert_eq!(domain_in_list(&app, &b, &claim_b["id"]).await["verified"], false);
    assert_eq!(routes_to(&app, &host).await, Ok(a.slug.clone()));

    // Another shop's domain id is unknown to B.
    let a_id = claim_a["id"].as_str().unwrap();
    for (method, path) in [
        (Method::POST, format!("/v1/admin/domains/{a_id}/verify")),
        (Method::POST, format!("/v1/admin/domains/{a_id}/primary")),
        (Method::DELETE, format!("/v1/admin/domains/{a_id}")),
    ] {
        let (status, body) = app.owner(&b, method, &path, None).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "domain_not_found");
    }

    // Once A lets it go, B's claim can be verified.
    let (status, _) =
        app.owner(&a, Method::DELETE, &format!("/v1/admin/domains/{a_id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(routes_to(&app, &host).await, Err("shop_not_found".into()));
    let (status, body) = app.verify_domain(&b, &claim_b).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually_routes(&app, &host, Ok(&b.slug)).await;
    remove_txt(&name);
}

#[tokio::test]
async fn two_shops_verifying_one_hostname_at_once_make_exactly_one_winner() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.signup("race-a").await, app.signup("race-b").await);
    // More domains than `free` allows (README, "Plans and quotas").
    app.set_plan(&a, "pro").await;
    app.set_plan(&b, "pro").await;
    for round in 0..4 {
        let host = unique_hostname(&format!("race{round}"));
        let (claim_a, claim_b) =
            (app.claim_domain(&a, &host).await, app.claim_domain(&b, &host).await);
        let (name, value_a) = record_of(&claim_a);
        set_txt(&name, &[&value_a, &record_of(&claim_b).1]);

        let ((status_a, body_a), (status_b, body_b)) =
            tokio::join!(app.verify_domain(&a, &claim_a), app.verify_domain(&b, &claim_b));
        let (winner, loser_body) = match (status_a, status_b) {
            (StatusCode::OK, StatusCode::CONFLICT) => (&a, body_b),
            (StatusCode::CONFLICT, StatusCode::OK) => (&b, body_a),
            other => panic!("exactly one verification must win: {other:?} {body_a} {body_b}"),
        };
        assert_eq!(loser_body["error"]["code"], "domain_taken", "{loser_body}");
        let verified: i64 = sqlx::query_scalar(
            "select count(*) from platform.domains where hostname = $1 and verified_at is not null",
        )
        .bind(&host)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(verified, 1);
        eventually_routes(&app, &host, Ok(&winner.slug)).await;
        remove_txt(&name);
    }
}

#[tokio::test]
async fn the_primary_domain_is_on_the_tenant_while_it_is_verified_and_attached() {
    let app = TestApp::spawn().await;
    let (shop, other) = (app.signup("dom-primary").await, app.signup("dom-other").await);
    // More domains than `free` allows (README, "Plans and quotas").
    app.set_plan(&shop, "pro").await;
    app.set_plan(&other, "pro").await;
    let (host1, host2) = (unique_hostname("primary1"), unique_hostname("primary2"));
    let first = app.verified_domain(&shop, &host1).await;
    let second = app.verified_domain(&shop, &host2).await;
    let unverified = app.claim_domain(&shop, &unique_hostname("primary3")).await;
    let path =
        |domain: &Value| format!("/v1/admin/domains/{}/primary", domain["id"].as_str().unwrap());
    assert_eq!(primary_domain_of(&app, &shop).await, None);

    let (status, body) = app.owner(&shop, Method::POST, &path(&unverified), None).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "domain_not_verified");
    let (status, body) = app.owner(&other, Method::POST, &path(&first), None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "domain_not_found");

    let (status, body) = app.owner(&shop, Method::POST, &path(&first), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["primary"], true);
    assert_eq!(primary_domain_of(&app, &shop).await, Some(host1.clone()));
    // As the request pipeline resolves it, by either host.
    for key in [LookupKey::Slug(shop.slug.clone()), LookupKey::Domain(host2.clone())] {
        let tenant = app.state.tenants.lookup(&key).await.unwrap().expect("the shop");
        assert_eq!(tenant.primary_domain, Some(host1.clone()), "{key:?}");
    }

    // One primary at a time.
    let (status, body) = app.owner(&shop, Method::POST, &path(&second), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(domain_in_list(&app, &shop, &first["id"]).await["primary"], false);
    assert_eq!(primary_domain_of(&app, &shop).await, Some(host2.clone()));

    let (status, body) = app.owner(&shop, Method::DELETE, &path(&second), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["primary"], false);
    assert_eq!(primary_domain_of(&app, &shop).await, None);

    // Removing the primary domain leaves none.
    let (status, _) = app.owner(&shop, Method::POST, &path(&second), None).await;
    assert_eq!(status, StatusCode::OK);
    let id = second["id"].as_str().unwrap();
    let (status, _) =
        app.owner(&shop, Method::DELETE, &format!("/v1/admin/domains/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(primary_domain_of(&app, &shop).await, None);
    let tenant = app.state.tenants.lookup(&LookupKey::Slug(shop.slug.clone())).await.unwrap();
    assert_eq!(tenant.expect("the shop").primary_domain, None);
    for domain in [&first, &second] {
        remove_txt(&record_of(domain).0);
    }
}

#[tokio::test]
async fn a_verified_domain_whose_record_stays_missing_stops_routing_after_the_recheck_rule() {
    // A database of its own: the re-check visits every verified domain of its database, and the
    // reports below count this test's one domain.
    let mut config = server_config();
    config.database = database_config("recheck");
    let app = TestApp::spawn_with(config).await;
    let shop = app.signup("dom-recheck").await;
    let host = unique_hostname("recheck");
    let domain = app.verified_domain(&shop, &host).await;
    let (name, value) = record_of(&domain);
    let id = domain["id"].as_str().unwrap();
    let (status, _) =
        app.owner(&shop, Method::POST, &format!("/v1/admin/domains/{id}/primary"), None).await;
    assert_eq!(status, StatusCode::OK);
    // Every verified domain is due at once; two missing checks (no time) unverify.
    let rule = RecheckRule { interval: Duration::ZERO, grace: Duration::ZERO, min_failures: 2 };
    let server = &app;
    let recheck = |rule: RecheckRule| async move {
        recheck_due(&server.pool, &server.state.dns, rule).await.expect("re-check")
    };
    let report = |checked, missing, unavailable, unverified| RecheckReport {
        checked,
        missing,
        unavailable,
        unverified,
    };

    // Not due under the server's rule: it was just verified.
    assert_eq!(recheck(RecheckRule::default()).await, report(0, 0, 0, 0));
    assert_eq!(recheck(rule).await, report(1, 0, 0, 0));

    // Record gone: the first failure shows, the domain still routes.
    remove_txt(&name);
    assert_eq!(recheck(rule).await, report(1, 1, 0, 0));
    let listed = domain_in_list(&app, &shop, &domain["id"]).await;
    assert_eq!(listed["verified"], true, "{listed}");
    assert!(listed["last_check_error"].as_str().unwrap().contains("does not exist"), "{listed}");
    assert!(listed["last_checked_at"].is_string(), "{listed}");
    assert_eq!(routes_to(&app, &host).await, Ok(shop.slug.clone()));

    // A DNS failure neither extends nor ends the run; a found record ends it.
    set_servfail(&name);
    assert_eq!(recheck(rule).await, report(1, 0, 1, 0));
    set_txt(&name, &[&value]);
    assert_eq!(recheck(rule).await, report(1, 0, 0, 0));
    assert!(domain_in_list(&app, &shop, &domain["id"]).await["last_check_error"].is_null());

    // A new run: one failure is not enough, nor is a run younger than the grace period.
    remove_txt(&name);
    assert_eq!(recheck(rule).await, report(1, 1, 0, 0));
    let patient = RecheckRule { grace: Duration::from_secs(72 * 3600), ..rule };
    assert_eq!(recheck(patient).await, report(1, 1, 0, 0));
    assert_eq!(routes_to(&app, &host).await, Ok(shop.slug.clone()));

    // The rule met: unverified, no longer primary, no longer routing (other instances learn
    // it by NOTIFY, as this one does: the re-check does not touch the cache itself).
    assert_eq!(recheck(rule).await, report(1, 1, 0, 1));
    eventually_routes(&app, &host, Err("shop_not_found")).await;
    let listed = domain_in_list(&app, &shop, &domain["id"]).await;
    assert_eq!(listed["verified"], false, "{listed}");
    assert_eq!(listed["primary"], false, "{listed}");
    assert!(listed["verified_at"].is_null(), "{listed}");
    assert!(listed["last_check_error"].is_string(), "{listed}");
    assert_eq!(primary_domain_of(&app, &shop).await, None);
    // No longer re-checked; verifying again brings it back.
    assert_eq!(recheck(rule).await, report(0, 0, 0, 0));
    set_txt(&name, &[&value]);
    let (status, body) = app.verify_domain(&shop, &domain).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["last_check_error"].is_null(), "{body}");
    eventually_routes(&app, &host, Ok(&shop.slug)).await;
    remove_txt(&name);
}

#[tokio::test]
async fn a_shop_keeps_at_most_its_plans_domains_claims_included() {
    let app = TestApp::spawn().await;
    let shop = app.signup("dom-limit").await;
    // `free` allows one domain, an unverified claim included.
    app.claim_domain(&shop, &unique_hostname("limit0")).await;
    let (status, body) = app
        .owner(
            &shop,
            Method::POST,
            "/v1/admin/domains",
            Some(json!({ "hostname": unique_hostname("limit1") })),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "plan_limit_reached");
    assert_eq!(body["error"]["resource"], "custom_domains", "{body}");
    assert_eq!(
        (body["error"]["limit"].clone(), body["error"]["usage"].clone()),
        (json!(1), json!(1))
    );
}

#[tokio::test]
async fn verification_needs_the_domains_write_permission() {
    let app = TestApp::spawn().await;
    let shop = app.signup("dom-rbac").await;
    let claim = app.claim_domain(&shop, &unique_hostname("rbac")).await;
    let manager = app.staff_token(&shop, "manager").await;
    let id = claim["id"].as_str().unwrap();
    for path in
        [format!("/v1/admin/domains/{id}/verify"), format!("/v1/admin/domains/{id}/primary")]
    {
        let (status, body) = app.as_token(&manager, &shop.slug, Method::POST, &path, None).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    }
}
