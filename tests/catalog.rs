//! Catalog: products with options and variants, categories as a tree, and the storefront's
//! browsing (filters, sorts, cursor pages).

mod common;

use std::collections::HashSet;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn category(app: &TestApp, shop: &TestShop, name: &str, parent: Option<&str>) -> String {
    let (status, body) = app
        .owner(
            shop,
            Method::POST,
            "/v1/admin/categories",
            Some(json!({ "name": name, "parent_id": parent })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn store(app: &TestApp, shop: &TestShop, path: &str) -> (StatusCode, Value) {
    read(app.shop(Method::GET, &shop.slug, path).send().await.unwrap()).await
}

#[tokio::test]
async fn a_product_with_options_and_variants_round_trips() {
    let app = TestApp::spawn().await;
    let shop = app.signup_with("cat", "VND").await;
    let tops = category(&app, &shop, "Tops", None).await;
    let (status, product) = app
        .owner(&shop, Method::POST, "/v1/admin/products", Some(json!({
            "name": "Áo Thun Cổ Tròn", "description": "Cotton", "status": "active",
            "options": [{ "name": "Size", "values": ["S", "M"] }, { "name": "Colour", "values": ["Red", "Blue"] }],
            "variants": [
                { "sku": "TEE-S-R", "price": 150000, "compare_at_price": 200000, "stock": 3, "option_values": ["S", "Red"] },
                { "sku": "TEE-M-B", "price": 170000, "stock": 0, "option_values": ["M", "Blue"] }
            ],
            "category_ids": [tops]
        })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    assert_eq!(product["slug"], "ao-thun-co-tron");
    assert_eq!(product["status"], "active");
    assert_eq!(product["currency"], "VND");
    assert_eq!(product["price_min"], 150000);
    assert_eq!(product["price_max"], 170000);
    assert_eq!(product["total_stock"], 3);
    assert_eq!(product["variants"][0]["title"], "S / Red");
    assert_eq!(product["category_ids"], json!([tops]));

    // Storefront detail: availability instead of stock counts.
    let (status, detail) = store(&app, &shop, "/v1/store/products/ao-thun-co-tron").await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["variants"][0]["available"], true);
    assert_eq!(detail["variants"][1]["available"], false);
    assert!(detail["variants"][0].get("stock").is_none());
    assert_eq!(detail["categories"][0]["name"], "Tops");

    // Replace variants: keep one (updated), drop one, add one.
    let id = product["id"].as_str().unwrap();
    let kept = product["variants"][0]["id"].as_str().unwrap();
    let (status, updated) = app
        .owner(&shop, Method::PATCH, &format!("/v1/admin/products/{id}"), Some(json!({
            "name": "Áo Thun",
            "variants": [
                { "id": kept, "sku": "TEE-S-R", "price": 140000, "stock": 10, "option_values": ["S", "Red"] },
                { "sku": "TEE-M-R", "price": 160000, "stock": 1, "option_values": ["M", "Red"] }
            ]
        })))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "Áo Thun");
    assert_eq!(updated["slug"], "ao-thun-co-tron", "the slug stays unless changed");
    assert_eq!(updated["variants"].as_array().unwrap().len(), 2);
    assert_eq!(updated["variants"][0]["id"], kept);
    assert_eq!(updated["price_min"], 140000);
    assert_eq!(updated["total_stock"], 11);

    let (status, _) =
        app.owner(&shop, Method::DELETE, &format!("/v1/admin/products/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) =
        app.owner(&shop, Method::GET, &format!("/v1/admin/products/{id}"), None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "product_not_found");
}

#[tokio::test]
async fn slugs_and_skus_are_unique_per_shop_only() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.signup("uniq-a").await, app.signup("uniq-b").await);
    let body = json!({ "name": "Linen Shirt", "variants": [{ "sku": "LS-1", "price": 100 }] });
    let (status, first) =
        app.owner(&a, Method::POST, "/v1/admin/products", Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");

    let (status, err) = app.owner(&a, Method::POST, "/v1/admin/products", Some(body.clone())).await;
    assert_error(status, &err, StatusCode::CONFLICT, "sku_taken");
    let (status, second) = app
        .owner(
            &a,
            Method::POST,
            "/v1/admin/products",
            Some(json!({ "name": "Linen Shirt", "variants": [{ "sku": "ls-2", "price": 100 }] })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(second["slug"], "linen-shirt-2", "a generated slug finds a free one");
    let (status, err) = app
        .owner(
            &a,
            Method::POST,
            "/v1/admin/products",
            Some(json!({ "name": "X", "slug": "linen-shirt", "variants": [{ "price": 1 }] })),
        )
        .await;
    assert_error(status, &err, StatusCode::CONFLICT, "slug_taken");
    let (status, err) = app
        .owner(
            &a,
            Method::POST,
            "/v1/admin/products",
            Some(json!({ "name": "Y", "variants": [{ "sku": "LS-1 ", "price": 1 }] })),
        )
        .await;
    assert_error(status, &err, StatusCode::CONFLICT, "sku_taken");

    // The same slug and SKU are free in another shop.
    let (status, other) = app.owner(&b, Method::POST, "/v1/admin/products", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    assert_eq!(other["slug"], "linen-shirt");
}

#[tokio::test]
async fn invalid_products_are_422_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let shop = app.signup("invalid").await;
    let size = json!([{ "name": "Size", "values": ["S", "M"] }]);
    let other_shop = app.signup("invalid-other").await;
    let foreign_category = category(&app, &other_shop, "Theirs", None).await;
    for (body, field) in [
        (json!({ "name": "", "variants": [{ "price": 1 }] }), "name"),
        (json!({ "name": "A", "variants": [] }), "variants"),
        (json!({ "name": "A", "variants": [{ "price": -5 }] }), "variants[0].price"),
        (json!({ "name": "A", "variants": [{ "price": 5, "stock": -1 }] }), "variants[0].stock"),
        (
            json!({ "name": "A", "options": size, "variants": [{ "price": 5, "option_values": ["XL"] }] }),
            "variants[0].option_values",
        ),
        (
            json!({ "name": "A", "options": size, "variants": [{ "price": 5, "option_values": ["S"] }, { "price": 6, "option_values": ["S"] }] }),
            "variants[1].option_values",
        ),
        (json!({ "name": "A", "variants": [{ "price": 5 }, { "price": 6 }] }), "variants"),
        (json!({ "name": "A", "slug": "Not A Slug", "variants": [{ "price": 5 }] }), "slug"),
        (
            json!({ "name": "A", "variants": [{ "price": 5 }], "category_ids": [foreign_category] }),
            "category_ids",
        ),
    ] {
        let (status, err) =
            app.owner(&shop, Method::POST, "/v1/admin/products", Some(body.clone())).await;
        assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(err["error"]["field"], field, "{body} -> {err}");
    }
    let (_, page) = app.owner(&shop, Method::GET, "/v1/admin/products", None).await;
    assert_eq!(page["items"], json!([]), "no half-written product");
}

#[tokio::test]
async fn the_storefront_shows_active_products_filtered_sorted_and_paged() {
    let app = TestApp::spawn().await;
    let shop = app.signup("browse").await;
    let clothing = category(&app, &shop, "Clothing", None).await;
    let shirts = category(&app, &shop, "Shirts", Some(&clothing)).await;
    let mugs = category(&app, &shop, "Mugs", None).await;
    let mut expected_shirts = Vec::new();
    for i in 0..7 {
        let name = format!("Shirt {}", ["G", "A", "E", "C", "F", "B", "D"][i]);
        let (status, _) = app
            .owner(&shop, Method::POST, "/v1/admin/products", Some(json!({
                "name": name, "status": "active", "variants": [{ "price": 1000 + 100 * i as i64, "stock": 1 }], "category_ids": [shirts]
            })))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        expected_shirts.push(name);
    }
    for (name, status) in [("Mug", "active"), ("Draft Mug", "draft"), ("Old Mug", "archived")] {
        app.owner(&shop, Method::POST, "/v1/admin/products", Some(json!({
            "name": name, "status": status, "variants": [{ "price": 500 }], "category_ids": [mugs]
        })))
        .await;
    }

    // Only active products; the parent category includes its subcategory.
    let (_, all) = store(&app, &shop, "/v1/store/products?limit=100").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 8, "{all}");
    let (_, clothing_page) =
        store(&app, &shop, "/v1/store/products?category=clothing&limit=100").await;
    assert_eq!(clothing_page["items"].as_array().unwrap().len(), 7);
    let (_, mug_page) = store(&app, &shop, "/v1/store/products?category=mugs").await;
    assert_eq!(mug_page["items"][0]["name"], "Mug");
    assert_eq!(mug_page["items"][0]["in_stock"], false);

    // Price range and sorts.
    let (_, range) =
        store(&app, &shop, "/v1/store/products?min_price=1200&max_price=1400&sort=price_asc").await;
    let prices: Vec<i64> = range["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["price_min"].as_i64().unwrap())
        .collect();
    assert_eq!(prices, [1200, 1300, 1400]);
    let (_, by_name) = store(&app, &shop, "/v1/store/products?category=shirts&sort=name").await;
    let names: Vec<&str> =
        by_name["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["Shirt A", "Shirt B", "Shirt C", "Shirt D", "Shirt E", "Shirt F", "Shirt G"]
    );
    let (_, desc) =
        store(&app, &shop, "/v1/store/products?category=shirts&sort=price_desc&limit=1").await;
    assert_eq!(desc["items"][0]["price_min"], 1600);

    // Cursor pages of 3 under every sort cover each product once.
    for sort in ["newest", "price_asc", "price_desc", "name"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => {
                    format!("/v1/store/products?category=shirts&sort={sort}&limit=3&cursor={c}")
                }
                None => format!("/v1/store/products?category=shirts&sort={sort}&limit=3"),
            };
            let (status, page) = store(&app, &shop, &path).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            seen.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["name"].as_str().unwrap().to_owned()),
            );
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 7, "{sort}: {seen:?}");
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 7, "{sort}: duplicates in {seen:?}");
    }

    // Bad input is a clear 4xx.
    let (status, err) = store(&app, &shop, "/v1/store/products?limit=101").await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let (status, err) = store(&app, &shop, "/v1/store/products?cursor=garbage").await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "invalid_cursor");
    let (status, err) = store(&app, &shop, "/v1/store/products?category=nope").await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "category_not_found");
    let (status, err) = store(&app, &shop, "/v1/store/products?min_price=10&max_price=5").await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let (status, _) = store(&app, &shop, "/v1/store/products/draft-mug").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "drafts are not on the storefront");
}

#[tokio::test]
async fn categories_form_a_tree_without_cycles() {
    let app = TestApp::spawn().await;
    let shop = app.signup("tree").await;
    let root = category(&app, &shop, "Root", None).await;
    let child = category(&app, &shop, "Child", Some(&root)).await;
    let grandchild = category(&app, &shop, "Grandchild", Some(&child)).await;
    category(&app, &shop, "Another", None).await;

    let (_, tree) = store(&app, &shop, "/v1/store/categories").await;
    let rows: Vec<(String, u64)> = tree
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c["depth"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        rows,
        [("Another".into(), 0), ("Root".into(), 0), ("Child".into(), 1), ("Grandchild".into(), 2)]
    );

    let (status, err) = app
        .owner(
            &shop,
            Method::PATCH,
            &format!("/v1/admin/categories/{root}"),
            Some(json!({ "parent_id": grandchild })),
        )
        .await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let (status, err) =
        app.owner(&shop, Method::DELETE, &format!("/v1/admin/categories/{child}"), None).await;
    assert_error(status, &err, StatusCode::CONFLICT, "category_has_children");
    let (status, moved) = app
        .owner(
            &shop,
            Method::PATCH,
            &format!("/v1/admin/categories/{grandchild}"),
            Some(json!({ "parent_id": null, "name": "Promoted" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["parent_id"], Value::Null);
    assert_eq!(moved["slug"], "grandchild");
    let (status, _) =
        app.owner(&shop, Method::DELETE, &format!("/v1/admin/categories/{child}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, err) = app
        .owner(
            &shop,
            Method::POST,
            "/v1/admin/categories",
            Some(json!({ "name": "Promoted", "slug": "grandchild" })),
        )
        .await;
    assert_error(status, &err, StatusCode::CONFLICT, "slug_taken");

    let other = app.signup("tree-other").await;
    let (status, err) =
        app.owner(&other, Method::DELETE, &format!("/v1/admin/categories/{root}"), None).await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "category_not_found");
}

#[tokio::test]
async fn admin_product_list_searches_and_pages() {
    let app = TestApp::spawn().await;
    let shop = app.signup("adminlist").await;
    for i in 0..5 {
        app.owner(&shop, Method::POST, "/v1/admin/products", Some(json!({
            "name": format!("Item {i}"), "variants": [{ "sku": format!("SKU-{i}"), "price": 100 }]
        })))
        .await;
    }
    let (_, found) = app.owner(&shop, Method::GET, "/v1/admin/products?q=sku-3", None).await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    assert_eq!(found["items"][0]["name"], "Item 3");
    let (_, drafts) =
        app.owner(&shop, Method::GET, "/v1/admin/products?status=draft&limit=2", None).await;
    assert_eq!(drafts["items"].as_array().unwrap().len(), 2);
    assert_eq!(drafts["items"][0]["name"], "Item 4", "newest first");
    let cursor = drafts["next_cursor"].as_str().unwrap();
    let (_, next) = app
        .owner(
            &shop,
            Method::GET,
            &format!("/v1/admin/products?status=draft&limit=2&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(next["items"][0]["name"], "Item 2");
    let (_, none) = app.owner(&shop, Method::GET, "/v1/admin/products?q=%25", None).await;
    assert_eq!(none["items"], json!([]), "LIKE wildcards in q are literal");
}

#[tokio::test]
async fn two_categories_moved_under_each_other_at_once_never_form_a_cycle() {
    let app = TestApp::spawn().await;
    let shop = app.signup("cycle").await;
    let mut pairs = Vec::new();
    for i in 0..12 {
        let x = category(&app, &shop, &format!("X{i}"), None).await;
        let y = category(&app, &shop, &format!("Y{i}"), None).await;
        pairs.push((x, y));
    }
    let patch = |id: String, parent: String| {
        let app = &app;
        let shop = &shop;
        async move {
            app.owner(
                shop,
                Method::PATCH,
                &format!("/v1/admin/categories/{id}"),
                Some(json!({ "parent_id": parent })),
            )
            .await
        }
    };
    // X under Y and Y under X, both at once, for every pair.
    let moves =
        pairs.iter().flat_map(|(x, y)| [patch(x.clone(), y.clone()), patch(y.clone(), x.clone())]);
    let results = futures::future::join_all(moves).await;
    for (pair, answers) in pairs.iter().zip(results.chunks(2)) {
        let ok = answers.iter().filter(|(status, _)| *status == StatusCode::OK).count();
        assert_eq!(ok, 1, "exactly one of the crossed moves of {pair:?} wins: {answers:?}");
        let (status, err) = answers.iter().find(|(status, _)| *status != StatusCode::OK).unwrap();
        assert_error(*status, err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(err["error"]["field"], "parent_id", "{err}");
    }
    // The tree still answers, with every category in it.
    let (status, tree) = store(&app, &shop, "/v1/store/categories").await;
    assert_eq!(status, StatusCode::OK, "{tree}");
    assert_eq!(tree.as_array().unwrap().len(), 24);
    let (status, _) = store(&app, &shop, "/v1/store/products?category=x0").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_category_tree_deeper_than_twenty_levels_is_refused() {
    let app = TestApp::spawn().await;
    let shop = app.signup("deep").await;
    let mut parent: Option<String> = None;
    let mut chain = Vec::new();
    for level in 0..20 {
        let id = category(&app, &shop, &format!("Level {level}"), parent.as_deref()).await;
        chain.push(id.clone());
        parent = Some(id);
    }
    let (status, err) = app
        .owner(
            &shop,
            Method::POST,
            "/v1/admin/categories",
            Some(json!({ "name": "Level 20", "parent_id": parent })),
        )
        .await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(err["error"]["field"], "parent_id", "{err}");

    // Moving a two-level subtree under level 18 would make 21 levels too.
    let top = category(&app, &shop, "Top", None).await;
    category(&app, &shop, "Below top", Some(&top)).await;
    let (status, err) = app
        .owner(
            &shop,
            Method::PATCH,
            &format!("/v1/admin/categories/{top}"),
            Some(json!({ "parent_id": chain[18] })),
        )
        .await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    // Under level 17 it fits exactly.
    let (status, moved) = app
        .owner(
            &shop,
            Method::PATCH,
            &format!("/v1/admin/categories/{top}"),
            Some(json!({ "parent_id": chain[17] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    let (status, tree) = store(&app, &shop, "/v1/store/categories").await;
    assert_eq!(status, StatusCode::OK);
    let deepest = tree.as_array().unwrap().iter().filter_map(|c| c["depth"].as_u64()).max();
    assert_eq!(deepest, Some(19));
}

#[tokio::test]
async fn a_product_edit_whose_variants_omit_stock_keeps_each_variants_stock() {
    let app = TestApp::spawn().await;
    let shop = app.signup("keepstock").await;
    let product = app.product(&shop, "Scarf", 2000).await;
    let id = product["id"].as_str().unwrap();
    let (small, medium) = (&product["variants"][0], &product["variants"][1]);
    assert_eq!((small["stock"].as_i64(), medium["stock"].as_i64()), (Some(5), Some(0)));

    // A price change that sends the variants without `stock`, plus a new variant.
    let (status, body) = app
        .owner(
            &shop,
            Method::PATCH,
            &format!("/v1/admin/products/{id}"),
            Some(json!({
                "options": [{ "name": "Size", "values": ["S", "M", "L"] }],
                "variants": [
                    { "id": small["id"], "price": 2500, "option_values": ["S"] },
                    { "id": medium["id"], "price": 2600, "stock": 7, "option_values": ["M"] },
                    { "price": 2700, "option_values": ["L"] }
                ]
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) =
        app.owner(&shop, Method::GET, &format!("/v1/admin/products/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let stocks: Vec<(i64, i64)> = body["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["price"].as_i64().unwrap(), v["stock"].as_i64().unwrap()))
        .collect();
    assert_eq!(stocks, [(2500, 5), (2600, 7), (2700, 0)], "{body}");
    assert_eq!(body["total_stock"], 12);
}
