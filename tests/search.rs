//! Storefront search: one behaviour suite, run against every engine available — PostgreSQL
//! full-text search always, MeiliSearch when `MEILI_URL` (and `MEILI_API_KEY`) are set.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn ok_if(condition: bool, value: Value) -> Option<Value> {
    condition.then_some(value)
}

async fn search(app: &TestApp, shop: &TestShop, query: &str) -> (StatusCode, Value) {
    read(
        app.shop(Method::GET, &shop.slug, &format!("/v1/store/search?{query}"))
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn names(body: &Value) -> Vec<String> {
    body["hits"]
        .as_array()
        .map(|hits| {
            hits.iter().map(|h| h["name"].as_str().unwrap_or_default().to_owned()).collect()
        })
        .unwrap_or_default()
}

async fn create(app: &TestApp, shop: &TestShop, body: Value) -> Value {
    let (status, product) = app.owner(shop, Method::POST, "/v1/admin/products", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    product
}

/// A small catalog: clothes with sizes, a mug, a draft.
async fn seed(app: &TestApp, shop: &TestShop) {
    let (_, tops) = app
        .owner(shop, Method::POST, "/v1/admin/categories", Some(json!({ "name": "Tops" })))
        .await;
    let (_, tees) = app
        .owner(
            shop,
            Method::POST,
            "/v1/admin/categories",
            Some(json!({ "name": "Tees", "parent_id": tops["id"] })),
        )
        .await;
    let (_, kitchen) = app
        .owner(shop, Method::POST, "/v1/admin/categories", Some(json!({ "name": "Kitchen" })))
        .await;
    create(
        app,
        shop,
        json!({
            "name": "Classic T-Shirt", "status": "active", "description": "Soft organic cotton.",
            "options": [{ "name": "Size", "values": ["S", "M", "L"] }],
            "variants": [
                { "sku": "TEE-S", "price": 1500, "stock": 4, "option_values": ["S"] },
                { "sku": "TEE-M", "price": 1500, "stock": 0, "option_values": ["M"] },
                { "sku": "TEE-L", "price": 1700, "stock": 2, "option_values": ["L"] }
            ],
            "category_ids": [tees["id"]]
        }),
    )
    .await;
    create(
        app,
        shop,
        json!({
            "name": "Áo Thun Cổ Tròn", "status": "active", "description": "Vietnamese cotton tee.",
            "options": [{ "name": "Size", "values": ["M"] }],
            "variants": [{ "sku": "ATCT-M", "price": 2500, "stock": 3, "option_values": ["M"] }],
            "category_ids": [tees["id"]]
        }),
    )
    .await;
    create(app, shop, json!({
        "name": "Linen Shirt", "status": "active", "description": "Breathable linen for summer.",
        "variants": [{ "sku": "LIN-1", "price": 4900, "stock": 1 }],
        "category_ids": [tops["id"]]
    })).await;
    create(
        app,
        shop,
        json!({
            "name": "Enamel Mug", "status": "active", "description": "Keeps coffee warm.",
            "variants": [{ "sku": "MUG-42", "price": 900, "stock": 0 }],
            "category_ids": [kitchen["id"]]
        }),
    )
    .await;
    create(
        app,
        shop,
        json!({
            "name": "Secret Draft Shirt", "status": "draft", "variants": [{ "price": 100 }]
        }),
    )
    .await;
}

async fn behaviour_suite(app: &TestApp, deadline: Duration) {
    let shop = app.signup("search").await;
    let other = app.signup("search-other").await;
    seed(app, &shop).await;
    create(
        app,
        &other,
        json!({ "name": "Other Shop Shirt", "status": "active", "variants": [{ "price": 100 }] }),
    )
    .await;

    // Everything active is there (and nothing else).
    let all = eventually("the search index to catch up", deadline, || async {
        let (status, body) = search(app, &shop, "per_page=50").await;
        ok_if(status == StatusCode::OK && body["total"] == 4, body)
    })
    .await;
    assert!(!names(&all).iter().any(|n| n.contains("Draft") || n.contains("Other")), "{all}");

    // Free text over name, description, SKU, category and option values.
    for (query, expected) in [
        ("q=linen", "Linen Shirt"),
        ("q=coffee", "Enamel Mug"),
        ("q=MUG-42", "Enamel Mug"),
        ("q=kitchen", "Enamel Mug"),
        ("q=tshrit", "Classic T-Shirt"),
        ("q=ao%20thun", "Áo Thun Cổ Tròn"),
    ] {
        let (status, body) = search(app, &shop, query).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(names(&body).first().map(String::as_str), Some(expected), "{query}: {body}");
    }
    // Another shop's products never show up, even for their exact name.
    let (_, body) = search(app, &shop, "q=other%20shop").await;
    assert_eq!(body["total"], 0, "{body}");

    // Filters.
    let (_, body) = search(app, &shop, "category=tops&sort=price_asc").await;
    assert_eq!(
        names(&body),
        ["Classic T-Shirt", "Áo Thun Cổ Tròn", "Linen Shirt"],
        "parent category includes its children"
    );
    let (_, body) = search(app, &shop, "min_price=1000&max_price=3000&sort=price_desc").await;
    assert_eq!(names(&body), ["Áo Thun Cổ Tròn", "Classic T-Shirt"]);
    let (_, body) = search(app, &shop, "in_stock=true&sort=price_asc").await;
    assert_eq!(names(&body), ["Classic T-Shirt", "Áo Thun Cổ Tròn", "Linen Shirt"]);
    let (_, body) = search(app, &shop, "option=size:M&sort=price_asc").await;
    assert_eq!(names(&body), ["Classic T-Shirt", "Áo Thun Cổ Tròn"]);
    let (_, body) = search(app, &shop, "option=size:M&in_stock=true").await;
    assert_eq!(names(&body), ["Áo Thun Cổ Tròn"], "the tee's M is sold out");

    // Facets.
    let (_, body) = search(app, &shop, "q=cotton").await;
    assert_eq!(body["total"], 2);
    let categories = &body["facets"]["categories"];
    assert!(
        categories
            .as_array()
            .unwrap()
            .contains(&json!({ "value": "tees", "label": "Tees", "count": 2 })),
        "{categories}"
    );
    assert!(
        categories
            .as_array()
            .unwrap()
            .contains(&json!({ "value": "tops", "label": "Tops", "count": 2 })),
        "{categories}"
    );
    assert_eq!(
        body["facets"]["options"],
        json!([{ "name": "size", "values": [
        { "value": "L", "label": "L", "count": 1 }, { "value": "M", "label": "M", "count": 2 }, { "value": "S", "label": "S", "count": 1 }
    ] }])
    );
    let buckets = body["facets"]["price"].as_array().unwrap();
    assert_eq!(buckets.iter().map(|b| b["count"].as_i64().unwrap()).sum::<i64>(), 2);
    assert_eq!(buckets[0]["min"], 1500);

    // Pages.
    let (_, first) = search(app, &shop, "sort=price_asc&per_page=3&page=1").await;
    let (_, second) = search(app, &shop, "sort=price_asc&per_page=3&page=2").await;
    assert_eq!(names(&first), ["Enamel Mug", "Classic T-Shirt", "Áo Thun Cổ Tròn"]);
    assert_eq!(names(&second), ["Linen Shirt"]);
    assert_eq!(second["total"], 4);

    // Suggestions as you type.
    let (status, suggestions) = read(
        app.shop(Method::GET, &shop.slug, "/v1/store/search/suggest?q=clas").send().await.unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(suggestions[0]["name"], "Classic T-Shirt", "{suggestions}");

    // Synonyms of this shop only.
    let (status, body) = app
        .owner(
            &shop,
            Method::PUT,
            "/v1/admin/search/synonyms",
            Some(json!({ "synonyms": { "Tee": ["t-shirt"] } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["synonyms"], json!({ "tee": ["t-shirt"] }));
    eventually("the search index to catch up", deadline, || async {
        let (_, body) = search(app, &shop, "q=tee").await;
        ok_if(names(&body).contains(&"Classic T-Shirt".to_owned()), body)
    })
    .await;
    let (_, body) = app.owner(&other, Method::GET, "/v1/admin/search/synonyms", None).await;
    assert_eq!(body["synonyms"], json!({}));

    // Changes show up: a rename, an archive.
    let (_, page) = app.owner(&shop, Method::GET, "/v1/admin/products?q=linen", None).await;
    let linen = page["items"][0]["id"].as_str().unwrap().to_owned();
    app.owner(
        &shop,
        Method::PATCH,
        &format!("/v1/admin/products/{linen}"),
        Some(json!({ "name": "Hemp Shirt" })),
    )
    .await;
    eventually("the search index to catch up", deadline, || async {
        let (_, body) = search(app, &shop, "q=hemp").await;
        ok_if(names(&body) == ["Hemp Shirt"], body)
    })
    .await;
    app.owner(
        &shop,
        Method::PATCH,
        &format!("/v1/admin/products/{linen}"),
        Some(json!({ "status": "archived" })),
    )
    .await;
    eventually("the search index to catch up", deadline, || async {
        let (_, body) = search(app, &shop, "q=hemp").await;
        ok_if(body["total"] == 0, body)
    })
    .await;

    // Bad input is a clear 422.
    for query in ["per_page=101", "option=size", "page=0", "min_price=10&max_price=5"] {
        let (status, body) = search(app, &shop, query).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
}

#[tokio::test]
async fn postgres_search_behaves_as_specified() {
    let app = TestApp::spawn().await;
    behaviour_suite(&app, Duration::from_secs(1)).await;

    let shop = app.signup("search-token").await;
    let (status, body) =
        read(app.shop(Method::GET, &shop.slug, "/v1/store/search/token").send().await.unwrap())
            .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "search_token_unavailable");
}

/// The MeiliSearch server of `MEILI_URL`, or `None` after printing why the test is skipped
/// (nextest shows that line: `.config/nextest.toml`).
fn meilisearch_or_skip(test: &str) -> Option<String> {
    match std::env::var("MEILI_URL") {
        Ok(url) if !url.trim().is_empty() => {
            println!("RUN: {test} against MeiliSearch at {url}");
            Some(url)
        }
        _ => {
            println!(
                "SKIPPED: {test}: MeiliSearch integration test (set MEILI_URL and MEILI_API_KEY to run it)"
            );
            None
        }
    }
}

/// A server on MeiliSearch, with a database of its own: a worker of a PostgreSQL-engine server
/// on the shared database would take this server's `search_index` rows and mark them done
/// without indexing anything.
async fn meilisearch_app(url: String, database: &str) -> TestApp {
    let mut config = server_config();
    config.database = database_config(database);
    config.search.meili_urls = vec![url];
    config.search.meili_api_key = std::env::var("MEILI_API_KEY").ok();
    TestApp::spawn_with(config).await
}

#[tokio::test]
async fn meilisearch_search_behaves_as_specified() {
    let Some(url) = meilisearch_or_skip("meilisearch_search_behaves_as_specified") else { return };
    let app = meilisearch_app(url, "search_meili").await;
    behaviour_suite(&app, Duration::from_secs(15)).await;
}

#[tokio::test]
async fn meilisearch_a_shop_without_an_index_yet_finds_nothing_instead_of_failing() {
    let Some(url) = meilisearch_or_skip(
        "meilisearch_a_shop_without_an_index_yet_finds_nothing_instead_of_failing",
    ) else {
        return;
    };
    let app = meilisearch_app(url.clone(), "search_meili").await;
    let shop = app.signup("search-noindex").await;
    let tenant = tenant_of(&app.pool, &shop.slug).await;
    let client =
        meilisearch_sdk::client::Client::new(url, std::env::var("MEILI_API_KEY").ok()).unwrap();
    let uid = shopfleet::search::meili::index_uid(tenant.id);
    eventually("the shop's index to be created", Duration::from_secs(15), || async {
        client.get_index(&uid).await.ok().map(|_| ())
    })
    .await;
    // As if the shop had been created while MeiliSearch was down: no index.
    app.state.search.delete_index(tenant.id).await.unwrap();
    eventually("the index to be gone", Duration::from_secs(15), || async {
        match client.get_index(&uid).await {
            Err(err) if shopfleet::search::meili::is_missing_index(&err) => Some(()),
            _ => None,
        }
    })
    .await;

    let (status, body) = search(&app, &shop, "q=shirt").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["total"].as_i64(), names(&body).len()), (Some(0), 0), "{body}");
    let (status, body) = read(
        app.shop(Method::GET, &shop.slug, "/v1/store/search/suggest?q=shi").send().await.unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!([]));

    // The first product indexed creates the index with its settings: filters keep working.
    create(
        &app,
        &shop,
        json!({ "name": "Late Shirt", "status": "active", "variants": [{ "price": 100 }] }),
    )
    .await;
    eventually("the product to be searchable", Duration::from_secs(15), || async {
        let (status, body) = search(&app, &shop, "q=shirt&sort=price_asc").await;
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
        ok_if(status == StatusCode::OK && names(&body) == ["Late Shirt"], body)
    })
    .await;
}

#[tokio::test]
async fn meilisearch_reindex_removes_products_whose_deletion_never_reached_the_index() {
    let Some(url) = meilisearch_or_skip(
        "meilisearch_reindex_removes_products_whose_deletion_never_reached_the_index",
    ) else {
        return;
    };
    let app = meilisearch_app(url, "search_meili").await;
    let shop = app.signup("search-reindex").await;
    let tenant = tenant_of(&app.pool, &shop.slug).await;
    let gone = create(
        &app,
        &shop,
        json!({ "name": "Vanished Scarf", "status": "active", "variants": [{ "price": 100 }] }),
    )
    .await;
    create(
        &app,
        &shop,
        json!({ "name": "Kept Scarf", "status": "active", "variants": [{ "price": 100 }] }),
    )
    .await;
    eventually("the search index to catch up", Duration::from_secs(15), || async {
        let (_, body) = search(&app, &shop, "q=scarf").await;
        ok_if(body["total"] == 2, body)
    })
    .await;
    let gone_id: uuid::Uuid = gone["id"].as_str().unwrap().parse().unwrap();
    let mut tx = shopfleet::tenancy::TenantTx::begin(&app.pool, &tenant).await.unwrap();
    let stale = shopfleet::search::document::load_documents(&mut tx, &[gone_id]).await.unwrap();
    tx.commit().await.unwrap();

    // The product is deleted, then its document comes back, as when the delete event was
    // dead-lettered during an outage.
    let (status, body) =
        app.owner(&shop, Method::DELETE, &format!("/v1/admin/products/{gone_id}"), None).await;
    assert!(status.is_success(), "{status}: {body}");
    eventually("the deletion to reach the index", Duration::from_secs(15), || async {
        let (_, body) = search(&app, &shop, "q=scarf").await;
        ok_if(names(&body) == ["Kept Scarf"], body)
    })
    .await;
    app.state.search.upsert(&tenant, &stale).await.unwrap();
    eventually("the stale document to be searchable", Duration::from_secs(15), || async {
        let (_, body) = search(&app, &shop, "q=scarf").await;
        ok_if(body["total"] == 2, body)
    })
    .await;

    let report = shopfleet::search::reindex::reindex(
        &app.pool,
        app.state.search.as_ref(),
        Some(&shop.slug),
        false,
    )
    .await
    .unwrap();
    assert_eq!((report.shops, report.products), (1, 1));
    eventually("the reindex to remove the deleted product", Duration::from_secs(15), || async {
        let (_, body) = search(&app, &shop, "q=scarf").await;
        ok_if(names(&body) == ["Kept Scarf"], body)
    })
    .await;
}

#[tokio::test]
async fn the_document_sent_to_meilisearch_carries_hyphenated_words_joined_in_searchable_fields() {
    let app = TestApp::spawn().await;
    let shop = app.signup("search-joined").await;
    let tenant = tenant_of(&app.pool, &shop.slug).await;
    let product = create(
        &app,
        &shop,
        json!({
            "name": "Classic T-Shirt", "status": "active", "description": "An all-season tee.",
            "variants": [{ "sku": "TEE-S", "price": 1500 }]
        }),
    )
    .await;
    let id: uuid::Uuid = product["id"].as_str().unwrap().parse().unwrap();
    let mut tx = shopfleet::tenancy::TenantTx::begin(&app.pool, &tenant).await.unwrap();
    let docs = shopfleet::search::document::load_documents(&mut tx, &[id]).await.unwrap();
    tx.commit().await.unwrap();

    // What MeiliSearch stores: `tshrit` is one typo away from `tshirt`, as on PostgreSQL.
    let doc = serde_json::to_value(&docs[0]).unwrap();
    assert_eq!(doc["name"], "Classic T-Shirt");
    assert_eq!(doc["name_joined"], json!(["TShirt"]));
    assert_eq!(doc["text_joined"], json!(["TEES", "allseason"]));
    let settings =
        serde_json::to_value(shopfleet::search::meili::index_settings(&Default::default()))
            .unwrap();
    let searchable = settings["searchableAttributes"].as_array().unwrap();
    assert!(
        searchable.contains(&json!("name_joined")) && searchable.contains(&json!("text_joined"))
    );
}

#[tokio::test]
async fn when_meilisearch_is_down_search_answers_503_and_writes_still_succeed() {
    let mut config = server_config();
    // Its own database: its outbox worker (with a dead MeiliSearch) must not take other tests'
    // events, nor theirs this test's.
    config.database = database_config("search_down");
    // Nothing listens there: every MeiliSearch call fails at once.
    config.search.meili_urls = vec!["http://127.0.0.1:9".into()];
    config.search.meili_timeout_ms = 500;
    let app = TestApp::spawn_with(config).await;
    let shop = app.signup("search-down").await;

    let started = Instant::now();
    let (status, body) = search(&app, &shop, "q=shirt").await;
    assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, "search_unavailable");
    assert!(started.elapsed() < Duration::from_secs(5), "the search endpoint must not hang");

    // The product is saved all the same; its indexing waits in the outbox for MeiliSearch to
    // come back (the retry itself is tested in tests/outbox.rs).
    let product = create(
        &app,
        &shop,
        json!({ "name": "Waiting Shirt", "status": "active", "variants": [{ "price": 100 }] }),
    )
    .await;
    let (status, body) = app
        .owner(
            &shop,
            Method::GET,
            &format!("/v1/admin/products/{}", product["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "Waiting Shirt");

    // When MeiliSearch comes back, the health probe makes the waiting indexing due now: it is
    // tried again within seconds, not at its retry time minutes later.
    let tenant = tenant_of(&app.pool, &shop.slug).await;
    let attempts = || async {
        let mut tx = shopfleet::tenancy::TenantTx::begin(&app.pool, &tenant).await.unwrap();
        let attempts: Vec<(String, i32, bool)> = sqlx::query_as(
            "select kind, attempts, available_at > now() + interval '1 minute' from outbox \
             where consumer = 'search_index' and kind = 'product.created'",
        )
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
        attempts
    };
    eventually("the first indexing attempt to fail", Duration::from_secs(10), || async {
        let rows = attempts().await;
        (rows.len() == 1 && rows[0].1 == 1 && rows[0].2).then_some(())
    })
    .await;
    let due = shopfleet::events::worker::make_due_now(&app.pool, "search_index").await.unwrap();
    assert!(due >= 1, "{due}");
    eventually("the indexing to be tried again at once", Duration::from_secs(10), || async {
        (attempts().await[0].1 >= 2).then_some(())
    })
    .await;
}
