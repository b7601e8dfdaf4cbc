//! Unit tests of the MeiliSearch adapter: request building, settings, error mapping.

use super::*;

fn query() -> SearchQuery {
    SearchQuery {
        text: "shirt".into(),
        categories: vec![],
        min_price: None,
        max_price: None,
        in_stock: false,
        options: vec![],
        sort: SearchSort::Relevance,
        page: 1,
        per_page: 20,
    }
}

#[test]
fn filters_quote_values_and_combine_conditions() {
    let q = SearchQuery {
        categories: vec!["tops".into(), "sale \"50%\"".into()],
        min_price: Some(1000),
        max_price: Some(5000),
        in_stock: true,
        options: vec![("size".into(), "M".into())],
        ..query()
    };
    assert_eq!(
        filter_for(&q),
        r#"active = true AND (category_slugs = "tops" OR category_slugs = "sale \"50%\"") AND price_min >= 1000 AND price_min <= 5000 AND in_stock = true AND in_stock_option_pairs = "size=M""#
    );
    assert_eq!(filter_for(&query()), "active = true");
}

#[test]
fn index_names_and_tenant_tokens_are_bound_to_one_shop() {
    let shop = ShopId(Uuid::now_v7());
    let uid = index_uid(shop);
    assert_eq!(uid, format!("shop_{}", shop.0.simple()));
    let rules = tenant_search_rules(shop);
    let rules = rules.as_object().unwrap();
    assert_eq!(rules.len(), 1, "a token searches one index only");
    assert_eq!(rules[&uid]["filter"], "active = true");
}

#[test]
fn placement_is_stable_and_spreads_shops() {
    let shops: Vec<ShopId> = (0..300).map(|_| ShopId(Uuid::now_v7())).collect();
    let mut per_node = [0usize; 3];
    for shop in &shops {
        let node = node_for(*shop, 3);
        assert_eq!(node, node_for(*shop, 3));
        per_node[node] += 1;
    }
    assert!(per_node.iter().all(|n| *n > 50), "{per_node:?}");
    assert_eq!(node_for(shops[0], 1), 0);
}

#[test]
fn settings_make_every_filtered_and_sorted_field_usable() {
    let mut synonyms = Synonyms::new();
    synonyms.insert("tee".into(), vec!["t-shirt".into()]);
    let settings = serde_json::to_value(index_settings(&synonyms)).unwrap();
    for field in [
        "category_slugs",
        "price_min",
        "in_stock",
        "option_pairs",
        "in_stock_option_pairs",
        "active",
    ] {
        assert!(
            settings["filterableAttributes"].as_array().unwrap().iter().any(|f| f == field),
            "{field}"
        );
    }
    assert_eq!(settings["sortableAttributes"], json!(["price_min", "created_at"]));
    assert_eq!(settings["synonyms"]["tee"], json!(["t-shirt"]));
    assert_eq!(settings["searchableAttributes"][0], "name");
}

#[test]
fn hyphenated_words_are_searchable_joined_next_to_the_name() {
    let settings = serde_json::to_value(index_settings(&Synonyms::new())).unwrap();
    assert_eq!(
        settings["searchableAttributes"],
        json!([
            "name",
            "name_joined",
            "category_names",
            "option_values",
            "skus",
            "description",
            "text_joined"
        ]),
        "`tshrit` must meet `TShirt` right after the name, before weaker fields"
    );
}

fn meili_error(body: serde_json::Value) -> MeiliError {
    MeiliError::Meilisearch(serde_json::from_value(body).unwrap())
}

fn missing_index() -> MeiliError {
    // MeiliSearch's answer (404) for a shop whose index was never created.
    meili_error(json!({
        "message": "Index `shop_0192f0c45c6e7a4b8c1d2e3f4a5b6c7d` not found.",
        "code": "index_not_found", "type": "invalid_request",
        "link": "https://docs.meilisearch.com/errors#index_not_found"
    }))
}

fn engine() -> MeiliEngine {
    MeiliEngine::new(MeiliConfig {
        urls: vec!["http://127.0.0.1:9".into()],
        api_key: None,
        search_key: None,
        timeout: Duration::from_secs(1),
        token_ttl: Duration::from_secs(60),
    })
    .unwrap()
}

#[tokio::test]
async fn a_shop_without_an_index_yet_reads_as_nothing_indexed_not_as_an_error() {
    assert!(is_missing_index(&missing_index()));
    let read = engine().read(async { Err::<(), _>(missing_index()) }).await;
    assert!(matches!(read, Ok(None)), "{read:?}");
    let results = empty_results(&SearchQuery { page: 3, per_page: 10, ..query() });
    assert_eq!((results.hits.len(), results.total, results.page, results.per_page), (0, 0, 3, 10));
    assert_eq!(results.facets, Facets::default());
}

#[tokio::test]
async fn other_meilisearch_errors_stay_errors_and_timeouts_mean_unavailable() {
    let bad_filter = meili_error(json!({
        "message": "Attribute `colour` is not filterable.", "code": "invalid_search_filter",
        "type": "invalid_request", "link": "https://docs.meilisearch.com/errors#invalid_search_filter"
    }));
    assert!(!is_missing_index(&bad_filter));
    let read = engine().read(async { Err::<(), _>(bad_filter) }).await;
    assert!(matches!(read, Err(SearchError::Engine(_))), "{read:?}");
    // A write to a missing index is not excused: only reads are.
    let write = engine().call(async { Err::<(), _>(missing_index()) }).await;
    assert!(matches!(write, Err(SearchError::Engine(_))), "{write:?}");
    assert!(matches!(outcome::<()>(None), Err(SearchError::Unavailable(_))));
}

#[test]
fn reindex_lists_the_ids_of_an_index_page_by_page_and_nothing_else() {
    let client = Client::new("http://127.0.0.1:9", None::<String>).unwrap();
    let index = client.index("shop_x");
    let first = serde_json::to_value(ids_page(&index, 0)).unwrap();
    assert_eq!(first, json!({ "offset": 0, "limit": IDS_PAGE, "fields": ["id"] }));
    let next = serde_json::to_value(ids_page(&index, IDS_PAGE)).unwrap();
    assert_eq!(next["offset"], IDS_PAGE);
}
