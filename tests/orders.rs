//! Orders after checkout: the state machine as staff drive it (payment, fulfilment, delivery,
//! cancellation with restock, partial and full refunds with an idempotency key), every invalid
//! transition, and the `test_card` gateway's signed call-backs (approval, decline, bad
//! signatures, duplicates and replays).

mod common;

use common::commerce::{CARD_DECLINED, CARD_OK, checkout_body};
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shopfleet::signature;

async fn act(app: &TestApp, shop: &TestShop, order: &str, action: &str) -> (StatusCode, Value) {
    let body = match action {
        "fulfil" => json!({ "carrier": "VNPost", "tracking_number": "VN123456789" }),
        _ => json!({}),
    };
    app.owner(shop, Method::POST, &format!("/v1/admin/orders/{order}/{action}"), Some(body)).await
}

async fn refund(
    app: &TestApp,
    shop: &TestShop,
    order: &str,
    key: &str,
    body: Value,
) -> (StatusCode, Value) {
    app.owner_post_once(shop, &format!("/v1/admin/orders/{order}/refunds"), key, body).await
}

#[tokio::test]
async fn an_order_goes_through_payment_fulfilment_partial_refunds_and_delivery() {
    let app = TestApp::spawn().await;
    let shop = app.signup("life").await;
    let (product, variant) = app.variant(&shop, "Lamp", 2500, 5).await;
    let shipping = app.shipping_method(&shop, 500, None).await;
    let done = app.guest_order(&shop, &shipping, &variant, 3, "manual").await;
    let order = done["order"]["id"].as_str().unwrap().to_owned();
    let item = done["order"]["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(done["order"]["total"], 8000);
    assert_eq!(app.stock_of(&shop, &product).await, 2);

    let (status, paid) = act(&app, &shop, &order, "mark-paid").await;
    assert_eq!(
        (status, &paid["status"], &paid["paid_total"]),
        (StatusCode::OK, &json!("paid"), &json!(8000)),
        "{paid}"
    );
    let (status, fulfilled) = act(&app, &shop, &order, "fulfil").await;
    assert_eq!(
        (status, &fulfilled["status"], &fulfilled["tracking_number"]),
        (StatusCode::OK, &json!("fulfilled"), &json!("VN123456789"))
    );

    // A partial refund with one unit back in stock.
    let partial = json!({ "amount": 2500, "restock": [{ "item_id": item, "quantity": 1 }], "reason": "one arrived broken" });
    let (status, refunded) = refund(&app, &shop, &order, "refund-1", partial.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{refunded}");
    assert_eq!(
        (&refunded["order"]["status"], &refunded["order"]["refunded_total"]),
        (&json!("partially_refunded"), &json!(2500))
    );
    assert_eq!(refunded["order"]["items"][0]["restocked_quantity"], 1);
    assert_eq!(app.stock_of(&shop, &product).await, 3);
    // The same request again is the same refund, not a second one.
    let (status, again) = refund(&app, &shop, &order, "refund-1", partial).await;
    assert_eq!((status, &again["refund"]["id"]), (StatusCode::CREATED, &refunded["refund"]["id"]));
    let (status, body) = refund(&app, &shop, &order, "refund-1", json!({ "amount": 100 })).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
    // Never more than what was paid.
    let (status, body) = refund(&app, &shop, &order, "refund-2", json!({ "amount": 5501 })).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "refund_exceeds_paid");
    let (status, body) = refund(
        &app,
        &shop,
        &order,
        "refund-3",
        json!({ "amount": 100, "restock": [{ "item_id": item, "quantity": 3 }] }),
    )
    .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "restock_exceeds_quantity");
    let (status, body) = refund(&app, &shop, &order, "refund-4", json!({ "amount": 0 })).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    // Still deliverable after a partial refund, then refunded in full.
    let (status, delivered) = act(&app, &shop, &order, "deliver").await;
    assert_eq!(
        (status, &delivered["status"]),
        (StatusCode::OK, &json!("delivered")),
        "{delivered}"
    );
    let (status, rest) =
        refund(&app, &shop, &order, "refund-5", json!({ "restock_all": true })).await;
    assert_eq!(status, StatusCode::CREATED, "{rest}");
    assert_eq!(
        (&rest["refund"]["amount"], &rest["order"]["status"], &rest["order"]["refunded_total"]),
        (&json!(5500), &json!("refunded"), &json!(8000))
    );
    assert_eq!(app.stock_of(&shop, &product).await, 5);
    let (status, body) = refund(&app, &shop, &order, "refund-6", json!({ "amount": 1 })).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "refund_exceeds_paid");

    let (status, detail) =
        app.owner(&shop, Method::GET, &format!("/v1/admin/orders/{order}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let kinds: Vec<&str> =
        detail["history"].as_array().unwrap().iter().map(|h| h["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["created", "paid", "fulfilled", "refunded", "delivered", "refunded"]);
    assert_eq!(detail["history"][1]["actor_kind"], "staff");
    assert_eq!(detail["refunds"].as_array().unwrap().len(), 2);
    assert_eq!(detail["payments"][0]["status"], "succeeded");

    let (status, page) =
        app.owner(&shop, Method::GET, "/v1/admin/orders?status=refunded", None).await;
    assert_eq!((status, page["items"].as_array().unwrap().len()), (StatusCode::OK, 1));
    let (_, page) = app.owner(&shop, Method::GET, "/v1/admin/orders?status=paid", None).await;
    assert_eq!(page["items"], json!([]));
    let (_, page) =
        app.owner(&shop, Method::GET, "/v1/admin/orders?email=BUYER@example.com", None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let (_, page) = app
        .owner(&shop, Method::GET, "/v1/admin/orders?created_from=2100-01-01T00:00:00Z", None)
        .await;
    assert_eq!(page["items"], json!([]));
    let (_, page) = app.owner(&shop, Method::GET, "/v1/admin/orders?number=1001", None).await;
    assert_eq!(page["items"][0]["id"], json!(order));
    let (_, page) = app.owner(&shop, Method::GET, "/v1/admin/orders?number=1002", None).await;
    assert_eq!(page["items"], json!([]));
}

#[tokio::test]
async fn cancelling_restocks_and_frees_the_discount_use() {
    let app = TestApp::spawn().await;
    let shop = app.signup("cancel").await;
    let (product, variant) = app.variant(&shop, "Chair", 10_000, 4).await;
    let shipping = app.shipping_method(&shop, 0, None).await;
    let discount = app
        .discount(
            &shop,
            json!({ "code": "CHAIR", "kind": "fixed_amount", "value": 1000, "usage_limit": 1 }),
        )
        .await;
    let cart = app.guest_cart(&shop.slug).await;
    app.add_to_cart(&shop.slug, &cart, &variant, 4).await;
    app.store(
        &shop.slug,
        Some(&cart),
        None,
        Method::POST,
        "/v1/store/cart/discount",
        Some(json!({ "code": "CHAIR" })),
    )
    .await;
    let (status, done) = app
        .checkout(&shop.slug, Some(&cart), None, "c-1", &checkout_body(&shipping, "manual"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    let order = done["order"]["id"].as_str().unwrap();
    assert_eq!(app.stock_of(&shop, &product).await, 0);

    let (status, cancelled) = app
        .owner(
            &shop,
            Method::POST,
            &format!("/v1/admin/orders/{order}/cancel"),
            Some(json!({ "reason": "customer asked" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(
        (&cancelled["status"], &cancelled["cancel_reason"]),
        (&json!("cancelled"), &json!("customer asked"))
    );
    assert_eq!(app.stock_of(&shop, &product).await, 4);
    let (_, read_back) = app
        .owner(
            &shop,
            Method::GET,
            &format!("/v1/admin/discounts/{}", discount["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(read_back["used_count"], 0, "the code can be used again");
    // Cancelling again changes nothing.
    let (status, body) = app
        .owner(&shop, Method::POST, &format!("/v1/admin/orders/{order}/cancel"), Some(json!({})))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "invalid_transition");
    assert_eq!(app.stock_of(&shop, &product).await, 4);
}

/// Brings a new order into `state` through the API.
async fn order_in(
    app: &TestApp,
    shop: &TestShop,
    shipping: &str,
    variant: &str,
    state: &str,
) -> String {
    let done = app.guest_order(shop, shipping, variant, 1, "manual").await;
    let order = done["order"]["id"].as_str().unwrap().to_owned();
    let steps: &[&str] = match state {
        "pending_payment" => &[],
        "paid" => &["mark-paid"],
        "fulfilled" => &["mark-paid", "fulfil"],
        "delivered" => &["mark-paid", "fulfil", "deliver"],
        "cancelled" => &["cancel"],
        "partially_refunded" => &["mark-paid", "refund-part"],
        "refunded" => &["mark-paid", "refund-all"],
        _ => unreachable!(),
    };
    for step in steps {
        let (status, body) = match *step {
            "refund-part" => {
                refund(
                    app,
                    shop,
                    &order,
                    &uuid::Uuid::new_v4().to_string(),
                    json!({ "amount": 100 }),
                )
                .await
            }
            "refund-all" => {
                refund(app, shop, &order, &uuid::Uuid::new_v4().to_string(), json!({})).await
            }
            action => act(app, shop, &order, action).await,
        };
        assert!(status.is_success(), "{step}: {body}");
    }
    order
}

#[tokio::test]
async fn every_invalid_transition_is_refused_and_every_valid_one_allowed() {
    let app = TestApp::spawn().await;
    let shop = app.signup("states").await;
    let (_, variant) = app.variant(&shop, "Pen", 1000, 1000).await;
    let shipping = app.shipping_method(&shop, 0, None).await;
    // (state, action, allowed): the table in src/orders/mod.rs.
    let table: &[(&str, [bool; 5])] = &[
        //                     mark-paid fulfil deliver cancel refund
        ("pending_payment", [true, false, false, true, false]),
        ("paid", [false, true, false, true, true]),
        ("fulfilled", [false, false, true, false, true]),
        ("delivered", [false, false, false, false, true]),
        ("cancelled", [false, false, false, false, false]),
        ("partially_refunded", [false, true, false, true, true]),
        ("refunded", [false, false, false, false, false]),
    ];
    let actions = ["mark-paid", "fulfil", "deliver", "cancel", "refund"];
    for (state, allowed) in table {
        for (action, allowed) in actions.iter().zip(allowed) {
            let order = order_in(&app, &shop, &shipping, &variant, state).await;
            let (status, body) = if *action == "refund" {
                refund(
                    &app,
                    &shop,
                    &order,
                    &uuid::Uuid::new_v4().to_string(),
                    json!({ "amount": 50 }),
                )
                .await
            } else {
                act(&app, &shop, &order, action).await
            };
            if *allowed {
                assert!(status.is_success(), "{action} from {state} should be allowed: {body}");
            } else if *action == "refund"
                && matches!(*state, "pending_payment" | "cancelled" | "refunded")
            {
                // Nothing paid is left: the amount check answers first or the transition does.
                assert!(
                    matches!(status, StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY),
                    "{action} from {state}: {body}"
                );
            } else {
                assert_error(status, &body, StatusCode::CONFLICT, "invalid_transition");
            }
        }
    }
}

#[tokio::test]
async fn staff_without_order_permissions_cannot_touch_orders() {
    let app = TestApp::spawn().await;
    let shop = app.signup("ordrbac").await;
    // More staff than `free` allows (README, "Plans and quotas").
    app.set_plan(&shop, "basic").await;
    let (_, variant) = app.variant(&shop, "Pen", 1000, 10).await;
    let shipping = app.shipping_method(&shop, 0, None).await;
    let done = app.guest_order(&shop, &shipping, &variant, 1, "manual").await;
    let order = done["order"]["id"].as_str().unwrap();
    let staff = app.staff_token(&shop, "staff").await;
    let (status, body) =
        app.as_token(&staff, &shop.slug, Method::GET, "/v1/admin/orders", None).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = app
        .as_token(
            &staff,
            &shop.slug,
            Method::POST,
            &format!("/v1/admin/orders/{order}/mark-paid"),
            Some(json!({})),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let manager = app.staff_token(&shop, "manager").await;
    let (status, body) = app
        .as_token(
            &manager,
            &shop.slug,
            Method::POST,
            &format!("/v1/admin/orders/{order}/mark-paid"),
            Some(json!({})),
        )
        .await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &json!("paid")), "{body}");
}

#[tokio::test]
async fn the_test_card_gateway_confirms_or_declines_through_a_signed_call_back() {
    let app = TestApp::spawn().await;
    let shop = app.signup("card").await;
    let (product, variant) = app.variant(&shop, "Clock", 4200, 5).await;
    let shipping = app.shipping_method(&shop, 0, None).await;

    let approved = app.guest_order(&shop, &shipping, &variant, 1, CARD_OK).await;
    assert_eq!(
        (&approved["order"]["status"], &approved["payment"]["status"]),
        (&json!("pending_payment"), &json!("pending"))
    );
    let number = approved["order"]["number"].as_i64().unwrap();
    let order = app
        .wait_for_order(&shop.slug, number, approved["order_token"].as_str().unwrap(), |o| {
            o["status"] != "pending_payment"
        })
        .await;
    assert_eq!((&order["status"], &order["paid_total"]), (&json!("paid"), &json!(4200)), "{order}");

    // The decline is asynchronous and may already have put the stock back by now; that the
    // checkout took it shows in the item's restocked quantity below.
    let declined = app.guest_order(&shop, &shipping, &variant, 2, CARD_DECLINED).await;
    let number = declined["order"]["number"].as_i64().unwrap();
    let order = app
        .wait_for_order(&shop.slug, number, declined["order_token"].as_str().unwrap(), |o| {
            o["status"] != "pending_payment"
        })
        .await;
    assert_eq!(
        (&order["status"], &order["cancel_reason"]),
        (&json!("cancelled"), &json!("card_declined")),
        "{order}"
    );
    assert_eq!(app.stock_of(&shop, &product).await, 4, "a declined payment puts the stock back");
    let (_, detail) = app
        .owner(
            &shop,
            Method::GET,
            &format!("/v1/admin/orders/{}", declined["order"]["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(
        (&detail["payments"][0]["status"], &detail["payments"][0]["card_last4"]),
        (&json!("failed"), &json!("0002"))
    );
    assert_eq!(detail["history"][1]["actor_kind"], "provider");
    assert_eq!(
        detail["order"]["items"][0]["restocked_quantity"], 2,
        "the 2 units taken at checkout were put back: {detail}"
    );

    // The platform sees the shop's orders and net revenue.
    let admin = app.platform_admin_token().await;
    let (status, platform) =
        app.as_admin(&admin, Method::GET, &format!("/v1/platform/shops/{}", shop.id), None).await;
    assert_eq!(status, StatusCode::OK, "{platform}");
    assert_eq!(
        (&platform["usage"]["orders"], &platform["usage"]["revenue"]),
        (&json!(2), &json!(4200)),
        "{platform}"
    );
}

async fn callback(
    app: &TestApp,
    shop: &TestShop,
    header: &str,
    body: &[u8],
) -> (StatusCode, Value) {
    read(
        app.shop(Method::POST, &shop.slug, "/v1/store/payments/test_card/webhook")
            .header("Content-Type", "application/json")
            .header("Test-Card-Signature", header)
            .body(body.to_vec())
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn payment_call_backs_are_verified_applied_once_and_bad_ones_audited() {
    let app = TestApp::spawn().await;
    let shop = app.signup("sig").await;
    let other = app.signup("sig-other").await;
    let (_, variant) = app.variant(&shop, "Clock", 4200, 5).await;
    let shipping = app.shipping_method(&shop, 0, None).await;
    let done = app.guest_order(&shop, &shipping, &variant, 1, CARD_OK).await;
    let number = done["order"]["number"].as_i64().unwrap();
    app.wait_for_order(&shop.slug, number, done["order_token"].as_str().unwrap(), |o| {
        o["status"] == "paid"
    })
    .await;
    let payment: uuid::Uuid = done["payment"]["id"].as_str().unwrap().parse().unwrap();
    let (_, settings) = app.owner(&shop, Method::GET, "/v1/admin/checkout-settings", None).await;
    let secret =
        settings["payment_callback_secret"].as_str().expect("the owner sees the secret").to_owned();
    // The gateway's own event, as an attacker or a confused proxy might send it again.
    let event = json!({ "id": format!("evt_{}", payment.simple()), "type": "payment.succeeded", "payment_id": payment, "amount": 4200 });
    let body = serde_json::to_vec(&event).unwrap();
    let now = signature::unix_now();

    // Wrong secret, stale timestamp, tampered body, garbage: 400 each, audited once (one row a
    // minute per shop and provider, counting the rejections it stands for).
    let mut tampered = event.clone();
    tampered["amount"] = json!(1);
    let tampered = serde_json::to_vec(&tampered).unwrap();
    for (header, sent) in [
        (signature::sign(b"not-the-secret", now, &body), body.clone()),
        (signature::sign(secret.as_bytes(), now - 301, &body), body.clone()),
        (signature::sign(secret.as_bytes(), now, &body), tampered),
        ("garbage".to_owned(), body.clone()),
    ] {
        let (status, answer) = callback(&app, &shop, &header, &sent).await;
        assert_error(status, &answer, StatusCode::BAD_REQUEST, "invalid_signature");
    }
    let rejected: i64 = sqlx::query_scalar(
        "select count(*) from platform.audit_log where shop_id = $1::text::uuid and action = 'payment.callback_rejected'",
    )
    .bind(&shop.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(rejected, 1);
    // Shop A's signature means nothing to shop B (another secret).
    let signed = signature::sign(secret.as_bytes(), now, &body);
    let (status, answer) = callback(&app, &other, &signed, &body).await;
    assert_error(status, &answer, StatusCode::BAD_REQUEST, "invalid_signature");

    // Correctly signed replays of the applied event change nothing.
    let (status, answer) = callback(&app, &shop, &signed, &body).await;
    assert_eq!((status, &answer["status"]), (StatusCode::OK, &json!("duplicate")), "{answer}");
    // Nor does a new event for a payment that is no longer pending.
    let failed = serde_json::to_vec(&json!({ "id": "evt_other", "type": "payment.failed", "payment_id": payment, "amount": 4200, "reason": "late" })).unwrap();
    let (status, answer) =
        callback(&app, &shop, &signature::sign(secret.as_bytes(), now, &failed), &failed).await;
    assert_eq!((status, &answer["status"]), (StatusCode::OK, &json!("ignored")), "{answer}");
    let (_, detail) = app
        .owner(
            &shop,
            Method::GET,
            &format!("/v1/admin/orders/{}", done["order"]["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(
        (&detail["order"]["status"], &detail["order"]["paid_total"]),
        (&json!("paid"), &json!(4200))
    );
    let paid_entries =
        detail["history"].as_array().unwrap().iter().filter(|h| h["kind"] == "paid").count();
    assert_eq!(paid_entries, 1);

    // Staff who are not owners never see the secret.
    let manager = app.staff_token(&shop, "manager").await;
    let (_, settings) =
        app.as_token(&manager, &shop.slug, Method::GET, "/v1/admin/checkout-settings", None).await;
    assert!(settings["payment_callback_secret"].is_null(), "{settings}");
}

#[tokio::test]
async fn a_flood_of_badly_signed_callbacks_writes_one_audit_row_not_one_each() {
    let app = TestApp::spawn().await;
    let shop = app.signup("sig-flood").await;
    let body = br#"{"id":"evt_x","type":"payment.succeeded","payment_id":"00000000-0000-0000-0000-000000000000","amount":1}"#;
    let attempts = (0..30).map(|i| {
        let header = format!("t={},v1={:064x}", signature::unix_now(), i);
        let app = &app;
        let shop = &shop;
        async move { callback(app, shop, &header, body).await }
    });
    for (status, answer) in futures::future::join_all(attempts).await {
        assert_error(status, &answer, StatusCode::BAD_REQUEST, "invalid_signature");
    }
    let admin = app.platform_admin_token().await;
    let (status, log) = app
        .as_admin(&admin, Method::GET, &format!("/v1/platform/audit-log?shop_id={}", shop.id), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let rejected: Vec<&Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["action"] == "payment.callback_rejected")
        .collect();
    assert_eq!(rejected.len(), 1, "{log}");
    assert_eq!(rejected[0]["details"]["provider"], "test_card");
}

#[tokio::test]
async fn order_filters_outside_the_years_0001_to_9999_are_a_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let shop = app.signup("farfilter").await;
    for (field, at) in [
        ("created_from", "-200000-01-01T00:00:00Z"),
        ("created_to", "%2B200000-01-01T00:00:00Z"),
        ("created_from", "%2B10000-01-01T00:00:00Z"),
    ] {
        let (status, body) =
            app.owner(&shop, Method::GET, &format!("/v1/admin/orders?{field}={at}"), None).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["error"]["field"], field, "{at}: {body}");
    }
    let (status, body) = app
        .owner(
            &shop,
            Method::GET,
            "/v1/admin/orders?created_from=0001-01-01T00:00:00Z&created_to=9999-12-31T23:59:59Z",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
