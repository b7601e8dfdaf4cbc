//! Catalog pages: home, category (filters, sorts, pages), product, search, and the JSON
//! suggestions the search box asks for as the customer types.

use std::collections::HashMap;

use minijinja::{Value, context};
use poem::web::{Json, Path, Query};
use poem::{Request, Response, handler};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::money;
use super::site::Site;
use crate::catalog::storefront::{self, StoreFilter, StoreSort};
use crate::error::{AppError, AppResult};
use crate::media::{self, StoreImage};
use crate::search::{self, Facets, SearchHit, SearchQuery, SearchSort};
use crate::tenancy::TenantTx;

/// Products on the home page.
const HOME_PRODUCTS: i64 = 8;
/// Products per category or search page.
const PER_PAGE: u32 = 24;

#[handler]
pub async fn home_page(req: &Request) -> poem::Result<Response> {
    let site = super::site_of(req)?;
    let layout = site.layout().await?;
    let featured = layout.settings.featured_category_id.and_then(|id| {
        layout.menu.iter().find(|c| c.id == id).map(|c| (c.slug.clone(), c.name.clone()))
    });
    let filter = StoreFilter {
        category: featured.as_ref().map(|(slug, _)| slug.clone()),
        min_price: None,
        max_price: None,
        sort: StoreSort::Newest,
        cursor: None,
        limit: HOME_PRODUCTS,
    };
    let products = site
        .state
        .cache
        .read(site.tenant.id, "page.home", &format!("{filter:?}"), async {
            let mut tx = TenantTx::begin(&site.state.pool, &site.tenant).await?;
            let products = storefront::browse(&mut tx, &filter).await?;
            tx.commit().await?;
            products.finish(site.state.store.as_ref(), site.tenant.id, "").await
        })
        .await?;
    let data = context! {
        page_title => site.tenant.name,
        products => Value::from_serialize(&products.items),
        featured_name => featured.map(|(_, name)| name),
        hero_title => layout.settings.hero_title,
        hero_text => layout.settings.hero_text,
        categories => Value::from_serialize(layout.menu.iter().filter(|c| c.depth == 0).collect::<Vec<_>>()),
        canonical => format!("{}/", site.base_url),
    };
    Ok(site.show(&layout, "home.html", data))
}

/// Filters of a category or search page, as the form sends them. Prices are in the
/// currency's major unit as the customer types them (`12.50`, `350000`).
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    q: String,
    #[serde(default)]
    min: String,
    #[serde(default)]
    max: String,
    #[serde(default)]
    in_stock: Option<String>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    page: Option<u32>,
}

/// `option=size:M` pairs of the query (they repeat).
fn options_of(pairs: &[(String, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .filter(|(key, _)| key == "option")
        .filter_map(|(_, value)| {
            let (name, value) = value.split_once(':')?;
            let (name, value) = (name.trim().to_lowercase(), value.trim().to_owned());
            (!name.is_empty() && !value.is_empty()).then_some((name, value))
        })
        .take(10)
        .collect()
}

/// A price the customer typed, in minor units; `None` when empty or not a number.
fn parse_price(raw: &str, currency: &str) -> Option<i64> {
    let raw = raw.trim().replace([',', ' '], "");
    if raw.is_empty() {
        return None;
    }
    let exp = money::exponent(currency);
    let (whole, fraction) = raw.split_once('.').unwrap_or((&raw, ""));
    if !whole.chars().all(|c| c.is_ascii_digit()) || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let mut fraction: String = fraction.chars().take(exp as usize).collect();
    while fraction.len() < exp as usize {
        fraction.push('0');
    }
    let fraction: i64 = if fraction.is_empty() { 0 } else { fraction.parse().ok()? };
    whole.checked_mul(10i64.pow(exp))?.checked_add(fraction)
}

fn sort_of(raw: Option<&str>, has_text: bool) -> SearchSort {
    match raw {
        Some("price_asc") => SearchSort::PriceAsc,
        Some("price_desc") => SearchSort::PriceDesc,
        Some("newest") => SearchSort::Newest,
        Some("relevance") if has_text => SearchSort::Relevance,
        _ if has_text => SearchSort::Relevance,
        _ => SearchSort::Newest,
    }
}

/// A product card: a search hit with its primary image.
#[derive(Serialize, Deserialize)]
struct Card {
    #[serde(flatten)]
    hit: SearchHit,
    image: Option<StoreImage>,
}

/// What a category or search page lists: the same for every visitor, so cached.
#[derive(Serialize, Deserialize)]
struct Listed {
    cards: Vec<Card>,
    total: i64,
    facets: Facets,
}

/// Runs a search for a category or search page and renders `template`.
async fn listing(
    site: &Site,
    req: &Request,
    filters: Filters,
    category: Option<&str>,
    template: &str,
    extra: Value,
) -> AppResult<Response> {
    let layout = site.layout().await?;
    let current = match category {
        Some(slug) => Some(
            layout
                .menu
                .iter()
                .find(|c| c.slug == slug)
                .cloned()
                .ok_or_else(crate::catalog::categories::not_found)?,
        ),
        None => None,
    };
    let text: String = filters.q.trim().chars().take(200).collect();
    let currency = site.tenant.currency.clone();
    let (min_price, max_price) =
        (parse_price(&filters.min, &currency), parse_price(&filters.max, &currency));
    let pairs = super::query_pairs(req);
    let options = options_of(&pairs);
    let query = SearchQuery {
        text: text.clone(),
        categories: category.map(|slug| vec![slug.to_owned()]).unwrap_or_default(),
        min_price,
        max_price: max_price.filter(|max| min_price.is_none_or(|min| *max >= min)),
        in_stock: filters.in_stock.is_some(),
        options: options.clone(),
        sort: sort_of(filters.sort.as_deref(), !text.is_empty()),
        page: filters.page.unwrap_or(1).clamp(1, 1000),
        per_page: PER_PAGE,
    };
    let state = &site.state;
    let listed = search::cached(
        &state.cache,
        state.search.as_ref(),
        site.tenant.id,
        "page.listing",
        &format!("{query:?}"),
        async {
            let results =
                state.search.search(&site.tenant, &query).await.map_err(AppError::from)?;
            let ids: Vec<Uuid> = results.hits.iter().map(|hit| hit.id).collect();
            let mut tx = TenantTx::begin(&state.pool, &site.tenant).await?;
            let images = media::primary_images(&mut tx, &ids).await?;
            tx.commit().await?;
            let mut images = images.into_map(state.store.as_ref(), site.tenant.id).await?;
            let cards = results
                .hits
                .into_iter()
                .map(|hit| Card { image: images.remove(&hit.id), hit })
                .collect();
            Ok(Listed { cards, total: results.total, facets: results.facets })
        },
    )
    .await?;
    let pages = (listed.total + i64::from(PER_PAGE) - 1) / i64::from(PER_PAGE);
    let subcategories: Vec<_> = match &current {
        Some(c) => layout.menu.iter().filter(|s| s.parent_id == Some(c.id)).collect(),
        None => Vec::new(),
    };
    let chosen: HashMap<String, Vec<String>> =
        options.iter().fold(HashMap::new(), |mut m, (k, v)| {
            m.entry(k.clone()).or_default().push(v.clone());
            m
        });
    // The query string of the page links: the same filters, another page.
    let kept: Vec<&(String, String)> = pairs.iter().filter(|(k, _)| k != "page").collect();
    let mut query_without_page = serde_urlencoded::to_string(&kept).unwrap_or_default();
    if !query_without_page.is_empty() {
        query_without_page.push('&');
    }
    let data = context! {
        query_without_page,
        q => text,
        category => Value::from_serialize(&current),
        subcategories => Value::from_serialize(&subcategories),
        products => Value::from_serialize(&listed.cards),
        total => listed.total,
        page => query.page,
        pages => pages,
        facets => Value::from_serialize(&listed.facets),
        min => filters.min,
        max => filters.max,
        in_stock => query.in_stock,
        sort => filters.sort.unwrap_or_default(),
        chosen => Value::from_serialize(&chosen),
        ..extra
    };
    Ok(site.show(&layout, template, data))
}

#[handler]
pub async fn category_page(
    req: &Request,
    Path(slug): Path<String>,
    Query(filters): Query<Filters>,
) -> poem::Result<Response> {
    let site = super::site_of(req)?;
    let canonical = format!("{}/categories/{slug}", site.base_url);
    Ok(listing(&site, req, filters, Some(&slug), "category.html", context! { canonical }).await?)
}

#[handler]
pub async fn search_page(req: &Request, Query(filters): Query<Filters>) -> poem::Result<Response> {
    let site = super::site_of(req)?;
    let canonical = format!("{}/search", site.base_url);
    Ok(listing(&site, req, filters, None, "search.html", context! { canonical, noindex => true })
        .await?)
}

#[derive(Deserialize)]
pub struct SuggestQuery {
    #[serde(default)]
    q: String,
}

/// Up to 8 product names for what the customer has typed so far.
#[handler]
pub async fn suggest(
    req: &Request,
    Query(query): Query<SuggestQuery>,
) -> poem::Result<Json<Vec<crate::search::Suggestion>>> {
    let site = super::site_of(req)?;
    let text: String = query.q.trim().chars().take(100).collect();
    if text.is_empty() {
        return Ok(Json(Vec::new()));
    }
    let state = &site.state;
    // The same cached read as `GET /v1/store/search/suggest?limit=8`.
    let found = search::cached(
        &state.cache,
        state.search.as_ref(),
        site.tenant.id,
        "store.suggest",
        &format!("8:{text}"),
        async { state.search.suggest(&site.tenant, &text, 8).await.map_err(AppError::from) },
    )
    .await?;
    Ok(Json(found))
}

#[handler]
pub async fn product_page(req: &Request, Path(slug): Path<String>) -> poem::Result<Response> {
    let site = super::site_of(req)?;
    let layout = site.layout().await?;
    let state = &site.state;
    let product = storefront::cached_product(
        &state.cache,
        &state.pool,
        state.store.as_ref(),
        &site.tenant,
        &slug,
    )
    .await?;
    let currency = site.tenant.currency.as_str();
    let url = format!("{}/products/{}", site.base_url, product.slug);
    let json_ld = serde_json::json!([
        {
            "@context": "https://schema.org",
            "@type": "Product",
            "name": product.name,
            "description": product.description,
            "url": url,
            "image": product.images.iter().map(|i| i.url.clone()).collect::<Vec<_>>(),
            "offers": product.variants.iter().map(|v| serde_json::json!({
                "@type": "Offer",
                "price": money::decimal(v.price, currency),
                "priceCurrency": currency,
                "availability": if v.available { "https://schema.org/InStock" } else { "https://schema.org/OutOfStock" },
                "url": url,
            })).collect::<Vec<_>>(),
        },
        {
            "@context": "https://schema.org",
            "@type": "BreadcrumbList",
            "itemListElement": breadcrumbs(&site, &product),
        }
    ]);
    let description: String = product.description.chars().take(160).collect();
    let data = context! {
        product => Value::from_serialize(&product),
        variants_json => serde_json::to_string(&product.variants.iter().map(|v| serde_json::json!({
            "id": v.id, "options": v.option_values,
            "price": money::format(v.price, currency),
            "compare_at": v.compare_at_price.filter(|c| *c > v.price).map(|c| money::format(c, currency)),
            "available": v.available,
        })).collect::<Vec<_>>()).unwrap_or_default(),
        json_ld => json_ld,
        canonical => url,
        page_title => product.name,
        description => description,
        og_image => product.images.first().map(|i| i.url.clone()),
        error => super::error_of(req),
    };
    Ok(site.show(&layout, "product.html", data))
}

fn breadcrumbs(site: &Site, product: &storefront::StoreProduct) -> Vec<serde_json::Value> {
    let mut items = vec![serde_json::json!({
        "@type": "ListItem", "position": 1, "name": site.tenant.name, "item": format!("{}/", site.base_url),
    })];
    if let Some(category) = product.categories.first() {
        items.push(serde_json::json!({
            "@type": "ListItem", "position": 2, "name": category.name,
            "item": format!("{}/categories/{}", site.base_url, category.slug),
        }));
    }
    items.push(serde_json::json!({
        "@type": "ListItem", "position": items.len() + 1, "name": product.name,
    }));
    items
}

#[cfg(test)]
mod tests {
    use super::parse_price;

    #[test]
    fn typed_prices_become_minor_units_of_the_currency() {
        assert_eq!(parse_price("12.50", "USD"), Some(1250));
        assert_eq!(parse_price("12", "USD"), Some(1200));
        assert_eq!(parse_price("350,000", "VND"), Some(350_000));
        assert_eq!(parse_price("350000", "VND"), Some(350_000));
        assert_eq!(parse_price("", "USD"), None);
        assert_eq!(parse_price("abc", "USD"), None);
        assert_eq!(parse_price("-5", "USD"), None);
        assert_eq!(parse_price("99999999999999999999", "USD"), None);
    }
}
