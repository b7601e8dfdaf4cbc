//! What search engines read: `robots.txt`, and the sitemap of active products and categories.
//!
//! `/sitemap.xml` is a sitemap index: one file of categories (`/sitemaps/categories.xml`) and
//! one file per 50,000 active products (`/sitemaps/products-<n>.xml`), as sitemaps.org allows
//! at most 50,000 URLs per file. Draft and archived products are never listed. URLs are on
//! the shop's canonical host (its primary domain when it has one).

use poem::http::header;
use poem::web::Path;
use poem::{Request, Response, handler};

use super::site::Site;
use crate::catalog::storefront::{
    SITEMAP_PAGE, active_product_count, category_tree, sitemap_products,
};
use crate::error::{AppError, AppResult};
use crate::tenancy::TenantTx;

fn xml(body: String) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "application/xml; charset=utf-8")
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .body(body)
}

/// Escapes the five XML special characters.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[handler]
pub async fn robots(req: &Request) -> poem::Result<Response> {
    let site = super::site_of(req)?;
    let body = format!(
        "User-agent: *\nDisallow: /cart\nDisallow: /checkout\nDisallow: /account\n\
         Disallow: /orders/\nDisallow: /search\n\nSitemap: {}/sitemap.xml\n",
        site.base_url
    );
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .body(body))
}

#[handler]
pub async fn sitemap_index(req: &Request) -> poem::Result<Response> {
    Ok(index(&*super::site_of(req)?).await?)
}

async fn index(site: &Site) -> AppResult<Response> {
    let mut tx = TenantTx::begin(&site.state.pool, &site.tenant).await?;
    let products = active_product_count(&mut tx).await?;
    tx.commit().await?;
    let files = (products + SITEMAP_PAGE - 1) / SITEMAP_PAGE;
    let mut body = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    body.push_str(&format!(
        "<sitemap><loc>{}/sitemaps/categories.xml</loc></sitemap>\n",
        escape(&site.base_url)
    ));
    for n in 1..=files {
        body.push_str(&format!(
            "<sitemap><loc>{}/sitemaps/products-{n}.xml</loc></sitemap>\n",
            escape(&site.base_url)
        ));
    }
    body.push_str("</sitemapindex>\n");
    Ok(xml(body))
}

/// `/sitemaps/categories.xml` and `/sitemaps/products-<n>.xml`.
#[handler]
pub async fn sitemap_file(req: &Request, Path(file): Path<String>) -> poem::Result<Response> {
    Ok(urlset(&*super::site_of(req)?, &file).await?)
}

async fn urlset(site: &Site, file: &str) -> AppResult<Response> {
    let base = escape(&site.base_url);
    let mut tx = TenantTx::begin(&site.state.pool, &site.tenant).await?;
    let urls: Vec<String> = if file == "categories.xml" {
        let mut urls = vec![format!("<url><loc>{base}/</loc></url>")];
        urls.extend(
            category_tree(&mut tx)
                .await?
                .iter()
                .map(|c| format!("<url><loc>{base}/categories/{}</loc></url>", escape(&c.slug))),
        );
        urls
    } else {
        let page = file
            .strip_prefix("products-")
            .and_then(|rest| rest.strip_suffix(".xml"))
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| (1..=100_000).contains(n))
            .ok_or_else(|| AppError::not_found("sitemap_not_found", "no such sitemap"))?;
        let products = sitemap_products(&mut tx, page).await?;
        if products.is_empty() {
            return Err(AppError::not_found("sitemap_not_found", "no such sitemap"));
        }
        products
            .iter()
            .map(|(slug, updated)| {
                format!(
                    "<url><loc>{base}/products/{}</loc><lastmod>{}</lastmod></url>",
                    escape(slug),
                    updated.format("%Y-%m-%d")
                )
            })
            .collect()
    };
    tx.commit().await?;
    let mut body = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for url in urls {
        body.push_str(&url);
        body.push('\n');
    }
    body.push_str("</urlset>\n");
    Ok(xml(body))
}
