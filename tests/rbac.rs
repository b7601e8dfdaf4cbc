//! Roles: what each built-in role may do, custom roles, no privilege escalation, and an owner
//! who can never be locked out.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

fn product_body(name: &str) -> serde_json::Value {
    json!({ "name": name, "variants": [{ "price": 100 }] })
}

#[tokio::test]
async fn each_builtin_role_gets_exactly_its_permissions() {
    let app = TestApp::spawn().await;
    let shop = app.signup("roles").await;
    // More staff than `free` allows (README, "Plans and quotas").
    app.set_plan(&shop, "basic").await;
    let manager = app.staff_token(&shop, "manager").await;
    let staff = app.staff_token(&shop, "staff").await;

    // (role, token, method, path, body, expected status)
    type Case<'a> = (&'a str, &'a str, Method, &'a str, Option<serde_json::Value>, StatusCode);
    let cases: Vec<Case> = vec![
        ("staff", &staff, Method::GET, "/v1/admin/products", None, StatusCode::OK),
        (
            "staff",
            &staff,
            Method::POST,
            "/v1/admin/products",
            Some(product_body("By staff")),
            StatusCode::CREATED,
        ),
        ("staff", &staff, Method::GET, "/v1/admin/categories", None, StatusCode::OK),
        (
            "staff",
            &staff,
            Method::POST,
            "/v1/admin/categories",
            Some(json!({ "name": "No" })),
            StatusCode::FORBIDDEN,
        ),
        ("staff", &staff, Method::GET, "/v1/admin/staff", None, StatusCode::FORBIDDEN),
        ("staff", &staff, Method::GET, "/v1/admin/roles", None, StatusCode::FORBIDDEN),
        ("staff", &staff, Method::GET, "/v1/admin/shop", None, StatusCode::OK),
        (
            "staff",
            &staff,
            Method::PATCH,
            "/v1/admin/shop",
            Some(json!({ "name": "Hijacked" })),
            StatusCode::FORBIDDEN,
        ),
        ("staff", &staff, Method::GET, "/v1/admin/domains", None, StatusCode::FORBIDDEN),
        (
            "manager",
            &manager,
            Method::POST,
            "/v1/admin/categories",
            Some(json!({ "name": "Yes" })),
            StatusCode::CREATED,
        ),
        ("manager", &manager, Method::GET, "/v1/admin/staff", None, StatusCode::OK),
        ("manager", &manager, Method::GET, "/v1/admin/roles", None, StatusCode::OK),
        (
            "manager",
            &manager,
            Method::POST,
            "/v1/admin/roles",
            Some(json!({ "name": "packer", "permissions": ["products:read"] })),
            StatusCode::FORBIDDEN,
        ),
        (
            "manager",
            &manager,
            Method::PATCH,
            "/v1/admin/shop",
            Some(json!({ "name": "Hijacked" })),
            StatusCode::FORBIDDEN,
        ),
        ("manager", &manager, Method::GET, "/v1/admin/domains", None, StatusCode::OK),
        (
            "manager",
            &manager,
            Method::POST,
            "/v1/admin/domains",
            Some(json!({ "hostname": "shop.example.net" })),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (role, token, method, path, body, expected) in cases {
        let (status, response) = app.as_token(token, &shop.slug, method.clone(), path, body).await;
        assert_eq!(status, expected, "{role} {method} {path}: {response}");
        if expected == StatusCode::FORBIDDEN {
            assert_eq!(response["error"]["code"], "forbidden", "{response}");
        }
    }
}

#[tokio::test]
async fn a_custom_role_grants_its_permissions_and_can_be_deleted_when_unused() {
    let app = TestApp::spawn().await;
    let shop = app.signup("custom").await;
    // More staff than `free` allows (README, "Plans and quotas").
    app.set_plan(&shop, "basic").await;
    let (status, body) = app
        .owner(&shop, Method::POST, "/v1/admin/roles", Some(json!({ "name": "catalog-viewer", "permissions": ["products:read", "categories:read"] })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["permissions"], json!(["categories:read", "products:read"]));

    let viewer = app.staff_token(&shop, "catalog-viewer").await;
    let (status, _) =
        app.as_token(&viewer, &shop.slug, Method::GET, "/v1/admin/products", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .as_token(&viewer, &shop.slug, Method::POST, "/v1/admin/products", Some(product_body("x")))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, body) = app
        .owner(
            &shop,
            Method::POST,
            "/v1/admin/roles",
            Some(json!({ "name": "catalog-viewer", "permissions": ["products:read"] })),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "role_exists");
    let (status, body) = app
        .owner(
            &shop,
            Method::POST,
            "/v1/admin/roles",
            Some(json!({ "name": "bad", "permissions": ["orders:fly"] })),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let (status, body) =
        app.owner(&shop, Method::DELETE, "/v1/admin/roles/catalog-viewer", None).await;
    assert_error(status, &body, StatusCode::CONFLICT, "role_in_use");
    let (status, body) = app.owner(&shop, Method::DELETE, "/v1/admin/roles/manager", None).await;
    assert_error(status, &body, StatusCode::CONFLICT, "role_builtin");
    let (status, _) = app
        .owner(
            &shop,
            Method::POST,
            "/v1/admin/roles",
            Some(json!({ "name": "unused", "permissions": ["shop:read"] })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app.owner(&shop, Method::DELETE, "/v1/admin/roles/unused", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, roles) = app.owner(&shop, Method::GET, "/v1/admin/roles", None).await;
    let names: Vec<&str> =
        roles.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["customer", "manager", "owner", "staff", "catalog-viewer"]);

    // A role of the same name in another shop is unrelated.
    let other = app.signup("custom-other").await;
    app.set_plan(&other, "basic").await;
    let (status, body) = app
        .owner(
            &other,
            Method::POST,
            "/v1/admin/staff",
            Some(
                json!({ "email": "v@example.com", "role": "catalog-viewer", "password": PASSWORD }),
            ),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[tokio::test]
async fn nobody_can_grant_a_permission_they_do_not_hold() {
    let app = TestApp::spawn().await;
    let shop = app.signup("escalate").await;
    // More staff than `free` allows (README, "Plans and quotas").
    app.set_plan(&shop, "basic").await;
    let (status, _) = app
        .owner(
            &shop,
            Method::POST,
            "/v1/admin/roles",
            Some(json!({ "name": "settings", "permissions": ["shop:write"] })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let manager = app.staff_token(&shop, "manager").await;

    // The manager may add staff, but not with a role holding shop:write, nor as owner.
    let (status, body) = app
        .as_token(
            &manager,
            &shop.slug,
            Method::POST,
            "/v1/admin/staff",
            Some(json!({ "email": "e@example.com", "role": "settings", "password": PASSWORD })),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "privilege_escalation");
    let (status, body) = app
        .as_token(
            &manager,
            &shop.slug,
            Method::POST,
            "/v1/admin/staff",
            Some(json!({ "email": "e@example.com", "role": "owner", "password": PASSWORD })),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let (status, body) = app
        .as_token(
            &manager,
            &shop.slug,
            Method::POST,
            "/v1/admin/staff",
            Some(json!({ "email": "e@example.com", "role": "staff", "password": PASSWORD })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn the_owner_cannot_be_removed_or_demoted() {
    let app = TestApp::spawn().await;
    let shop = app.signup("owner").await;
    // More staff than `free` allows (README, "Plans and quotas").
    app.set_plan(&shop, "basic").await;
    let (_, staff) = app.owner(&shop, Method::GET, "/v1/admin/staff", None).await;
    let owner = &staff.as_array().unwrap()[0];
    assert_eq!(owner["is_owner"], true);
    assert_eq!(owner["role"], "owner");
    let owner_id = owner["id"].as_str().unwrap();

    let manager = app.staff_token(&shop, "manager").await;
    let (status, body) = app
        .as_token(
            &manager,
            &shop.slug,
            Method::DELETE,
            &format!("/v1/admin/staff/{owner_id}"),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "owner_protected");
    let (status, body) = app
        .owner(
            &shop,
            Method::PATCH,
            &format!("/v1/admin/staff/{owner_id}"),
            Some(json!({ "role": "staff" })),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "owner_protected");
    let (status, _) = app.owner(&shop, Method::GET, "/v1/admin/roles", None).await;
    assert_eq!(status, StatusCode::OK, "the owner keeps every right");
}

#[tokio::test]
async fn role_changes_and_removal_take_effect_on_the_next_request() {
    let app = TestApp::spawn().await;
    let shop = app.signup("change").await;
    // More staff than `free` allows (README, "Plans and quotas").
    app.set_plan(&shop, "basic").await;
    let email = "moving@example.com";
    let (status, created) = app
        .owner(
            &shop,
            Method::POST,
            "/v1/admin/staff",
            Some(json!({ "email": email, "role": "staff", "password": PASSWORD })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_str().unwrap();
    let token = app.login(&shop.slug, "/v1/admin/auth/login", email).await;
    let (status, _) = app.as_token(&token, &shop.slug, Method::GET, "/v1/admin/staff", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, body) = app
        .owner(
            &shop,
            Method::PATCH,
            &format!("/v1/admin/staff/{id}"),
            Some(json!({ "role": "manager" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "manager");
    let (status, _) = app.as_token(&token, &shop.slug, Method::GET, "/v1/admin/staff", None).await;
    assert_eq!(status, StatusCode::OK, "promotion applies at once");

    let (status, _) =
        app.owner(&shop, Method::DELETE, &format!("/v1/admin/staff/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) =
        app.as_token(&token, &shop.slug, Method::GET, "/v1/admin/products", None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_token");

    // Another shop cannot touch this shop's staff by id.
    let other = app.signup("change-other").await;
    app.set_plan(&other, "basic").await;
    let (status, body) = app
        .owner(
            &other,
            Method::DELETE,
            &format!("/v1/admin/staff/{}", created["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "staff_not_found");
}

#[tokio::test]
async fn a_manager_cannot_change_or_remove_staff_holding_rights_the_manager_lacks() {
    let app = TestApp::spawn().await;
    let shop = app.signup("superior").await;
    // More staff than `free` allows (README, "Plans and quotas").
    app.set_plan(&shop, "basic").await;
    let (status, _) = app
        .owner(
            &shop,
            Method::POST,
            "/v1/admin/roles",
            Some(json!({ "name": "settings", "permissions": ["shop:read", "shop:write"] })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut ids = Vec::new();
    for role in ["settings", "staff", "manager"] {
        let (status, created) = app
            .owner(
                &shop,
                Method::POST,
                "/v1/admin/staff",
                Some(json!({ "email": format!("{role}@example.com"), "role": role, "password": PASSWORD })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let (superior, junior, peer) = (&ids[0], &ids[1], &ids[2]);
    let manager = app.staff_token(&shop, "manager").await;

    // The settings role holds shop:write, which the manager does not: no demotion, no renaming,
    // no removal.
    for (method, body) in [
        (Method::PATCH, Some(json!({ "role": "staff" }))),
        (Method::PATCH, Some(json!({ "name": "Demoted" }))),
        (Method::DELETE, None),
    ] {
        let (status, body) = app
            .as_token(
                &manager,
                &shop.slug,
                method.clone(),
                &format!("/v1/admin/staff/{superior}"),
                body,
            )
            .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "privilege_escalation");
    }
    let (_, staff) = app.owner(&shop, Method::GET, "/v1/admin/staff", None).await;
    let kept = staff.as_array().unwrap().iter().find(|s| s["id"] == superior.as_str()).unwrap();
    assert_eq!((&kept["role"], &kept["name"]), (&json!("settings"), &json!("")));

    // Staff whose rights are a subset of the manager's (a peer included) stay manageable.
    let (status, body) = app
        .as_token(
            &manager,
            &shop.slug,
            Method::PATCH,
            &format!("/v1/admin/staff/{peer}"),
            Some(json!({ "role": "staff" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for id in [junior, peer] {
        let (status, body) = app
            .as_token(&manager, &shop.slug, Method::DELETE, &format!("/v1/admin/staff/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    // The owner, who holds everything, still manages the superior.
    let (status, _) =
        app.owner(&shop, Method::DELETE, &format!("/v1/admin/staff/{superior}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}
