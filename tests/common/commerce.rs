//! Helpers for carts, checkout and orders: each goes through the public API, like a shop owner
//! or a buyer would.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shopfleet::tenancy::TenantTx;
use shopfleet::tenancy::registry::load_tenants;

use super::{TestApp, TestShop, read};

pub const CARD_OK: &str = "4242 4242 4242 4242";
pub const CARD_DECLINED: &str = "4000 0000 0000 0002";

impl TestApp {
    /// An active product with one variant of `price` and `stock`: (product id, variant id).
    pub async fn variant(
        &self,
        shop: &TestShop,
        name: &str,
        price: i64,
        stock: i64,
    ) -> (String, String) {
        let (status, body) = self
            .owner(
                shop,
                Method::POST,
                "/v1/admin/products",
                Some(json!({ "name": name, "status": "active", "variants": [{ "price": price, "stock": stock, "sku": format!("SKU-{}", uuid::Uuid::new_v4().simple()) }] })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "creating product: {body}");
        (
            body["id"].as_str().unwrap().to_owned(),
            body["variants"][0]["id"].as_str().unwrap().to_owned(),
        )
    }

    /// The stock of a product's first variant, as the admin API shows it.
    pub async fn stock_of(&self, shop: &TestShop, product: &str) -> i64 {
        let (status, body) =
            self.owner(shop, Method::GET, &format!("/v1/admin/products/{product}"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["variants"][0]["stock"].as_i64().unwrap()
    }

    /// A flat-rate shipping method; returns its id.
    pub async fn shipping_method(
        &self,
        shop: &TestShop,
        price: i64,
        free_above: Option<i64>,
    ) -> String {
        let (status, body) = self
            .owner(
                shop,
                Method::POST,
                "/v1/admin/shipping-methods",
                Some(json!({ "name": format!("Standard {price}"), "price": price, "free_above": free_above })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "creating shipping method: {body}");
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn discount(&self, shop: &TestShop, body: Value) -> Value {
        let (status, created) =
            self.owner(shop, Method::POST, "/v1/admin/discounts", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "creating discount: {created}");
        created
    }

    /// A `POST` as the shop's owner with an `Idempotency-Key` (refunds, stock adjustments).
    pub async fn owner_post_once(
        &self,
        shop: &TestShop,
        path: &str,
        key: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        read(
            self.shop(Method::POST, &shop.slug, path)
                .bearer_auth(&shop.token)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    /// A new guest cart's token.
    pub async fn guest_cart(&self, slug: &str) -> String {
        let (status, body) = read(
            self.shop(Method::POST, slug, "/v1/store/carts").send().await.expect("create cart"),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "creating cart: {body}");
        body["token"].as_str().expect("cart token").to_owned()
    }

    /// A storefront request as a guest (`cart`) and/or a customer (`bearer`).
    pub async fn store(
        &self,
        slug: &str,
        cart: Option<&str>,
        bearer: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.shop(method, slug, path);
        if let Some(token) = cart {
            request = request.header("X-Cart-Token", token);
        }
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("request")).await
    }

    pub async fn add_to_cart(&self, slug: &str, cart: &str, variant: &str, quantity: i64) -> Value {
        let (status, body) = self
            .store(
                slug,
                Some(cart),
                None,
                Method::POST,
                "/v1/store/cart/items",
                Some(json!({ "variant_id": variant, "quantity": quantity })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "adding to cart: {body}");
        body
    }

    /// `POST /v1/store/checkout` with an `Idempotency-Key`.
    pub async fn checkout(
        &self,
        slug: &str,
        cart: Option<&str>,
        bearer: Option<&str>,
        key: &str,
        body: &Value,
    ) -> (StatusCode, Value) {
        let mut request = self
            .shop(Method::POST, slug, "/v1/store/checkout")
            .header("Idempotency-Key", key)
            .json(body);
        if let Some(token) = cart {
            request = request.header("X-Cart-Token", token);
        }
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        read(request.send().await.expect("checkout")).await
    }

    /// A guest buys `quantity` of `variant` with `payment` (`manual` or a card number); returns
    /// the checkout response.
    pub async fn guest_order(
        &self,
        shop: &TestShop,
        shipping: &str,
        variant: &str,
        quantity: i64,
        payment: &str,
    ) -> Value {
        let cart = self.guest_cart(&shop.slug).await;
        self.add_to_cart(&shop.slug, &cart, variant, quantity).await;
        let body = checkout_body(shipping, payment);
        let (status, order) = self
            .checkout(&shop.slug, Some(&cart), None, &uuid::Uuid::new_v4().to_string(), &body)
            .await;
        assert_eq!(status, StatusCode::CREATED, "checkout: {order}");
        order
    }

    /// Runs `sql` inside the shop's schema, as the shop's role (as the application does).
    pub async fn shop_sql(&self, shop: &TestShop, sql: &str) {
        let id = shop.id.parse().map(shopfleet::tenancy::ShopId).expect("shop id");
        let tenant = load_tenants(&self.pool, &["active"], Some(id), None)
            .await
            .expect("load tenant")
            .pop()
            .expect("tenant");
        let mut tx = TenantTx::begin(&self.pool, &tenant).await.expect("begin");
        sqlx::raw_sql(sql).execute(&mut *tx).await.expect("shop sql");
        tx.commit().await.expect("commit");
    }

    /// A transaction inside the shop's schema, as the shop's role, held by the test (to hold
    /// row locks while a request waits on them).
    pub async fn shop_tx(&self, shop: &TestShop) -> TenantTx {
        let id = shop.id.parse().map(shopfleet::tenancy::ShopId).expect("shop id");
        let tenant = load_tenants(&self.pool, &["active"], Some(id), None)
            .await
            .expect("load tenant")
            .pop()
            .expect("tenant");
        TenantTx::begin(&self.pool, &tenant).await.expect("begin")
    }

    /// Waits until some other session waits for a lock held by the session `holder` (a
    /// backend pid): the request under test is then blocked exactly where the test wants it.
    pub async fn wait_until_blocked_by(&self, holder: i32) {
        for _ in 0..600 {
            let blocked: bool = sqlx::query_scalar(
                "select exists (select 1 from pg_stat_activity where $1 = any(pg_blocking_pids(pid)))",
            )
            .bind(holder)
            .fetch_one(&self.pool)
            .await
            .expect("pg_stat_activity");
            if blocked {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no request ever waited for the test's lock");
    }

    /// Polls an order as its guest buyer until `done` holds (asynchronous payment call-backs).
    pub async fn wait_for_order(
        &self,
        slug: &str,
        number: i64,
        token: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let (status, order) = self
                .store(
                    slug,
                    None,
                    None,
                    Method::GET,
                    &format!("/v1/store/orders/{number}?token={token}"),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{order}");
            if done(&order) {
                return order;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "order never reached the expected state: {order}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// A checkout body for a guest shipping to Vietnam; `payment` is `manual` or a card number.
pub fn checkout_body(shipping: &str, payment: &str) -> Value {
    let payment = if payment == "manual" {
        json!({ "method": "manual" })
    } else {
        json!({ "method": "test_card", "card_number": payment })
    };
    json!({
        "email": "buyer@example.com",
        "shipping_address": {
            "name": "Lan Nguyen", "line1": "12 Hang Bac", "city": "Hanoi", "postal_code": "100000", "country": "vn"
        },
        "shipping_method_id": shipping,
        "payment": payment,
    })
}
