//! Conditional requests for the public storefront reads (`GET /v1/store/products…`,
//! `/v1/store/categories`, `/v1/store/search…`): each 200 answer carries a strong `ETag` (a
//! hash of its body) and `Cache-Control: public, no-cache`, so a browser or CDN may keep it
//! and must revalidate before reuse; a request whose `If-None-Match` names the current ETag
//! gets `304 Not Modified` without the body. With the server's cache warm, revalidating costs
//! a cache hit and a hash, and a change is seen at the next revalidation.
//!
//! The HTML pages are not revalidated this way: each carries the visitor's cart count, CSRF
//! token and a fresh CSP nonce, so they are sent `Cache-Control: private, no-cache` (see
//! `storefront`). Answers that depend on the caller (carts, the search token, accounts) are
//! not touched here.

use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};
use sha2::{Digest, Sha256};

/// Paths whose GET answers are the same for every visitor of a shop.
fn is_public_read(path: &str) -> bool {
    let public = ["/v1/store/products", "/v1/store/categories", "/v1/store/search"];
    public.iter().any(|prefix| {
        path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }) && path != "/v1/store/search/token"
}

pub async fn revalidate<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    if !matches!(req.method(), &Method::GET | &Method::HEAD) || !is_public_read(req.uri().path()) {
        return Ok(next.call(req).await?.into_response());
    }
    let if_none_match = req.header(header::IF_NONE_MATCH).map(str::to_owned);
    let mut response = next.call(req).await?.into_response();
    if response.status() != StatusCode::OK {
        return Ok(response);
    }
    let body = response.take_body().into_bytes().await?;
    let digest = Sha256::digest(&body);
    let etag = format!("\"{}\"", hex::encode(&digest[..16]));
    let cache_control = HeaderValue::from_static("public, no-cache");
    if if_none_match.is_some_and(|tags| matches_etag(&tags, &etag)) {
        let mut not_modified = StatusCode::NOT_MODIFIED.into_response();
        let headers = not_modified.headers_mut();
        headers.insert(header::CACHE_CONTROL, cache_control);
        if let Ok(value) = HeaderValue::from_str(&etag) {
            headers.insert(header::ETAG, value);
        }
        return Ok(not_modified);
    }
    response.set_body(body);
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, cache_control);
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    Ok(response)
}

/// Whether an `If-None-Match` list names `etag` (weak comparison, as RFC 9110 asks for GET).
fn matches_etag(list: &str, etag: &str) -> bool {
    list.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_reads_are_the_catalog_and_search_but_not_the_token_or_carts() {
        assert!(is_public_read("/v1/store/products"));
        assert!(is_public_read("/v1/store/products/classic-tee"));
        assert!(is_public_read("/v1/store/categories"));
        assert!(is_public_read("/v1/store/search/suggest"));
        assert!(!is_public_read("/v1/store/search/token"));
        assert!(!is_public_read("/v1/store/cart"));
        assert!(!is_public_read("/v1/store/productsx"));
    }

    #[test]
    fn if_none_match_lists_are_compared_weakly() {
        assert!(matches_etag("\"a\", W/\"b\"", "\"b\""));
        assert!(matches_etag("*", "\"b\""));
        assert!(!matches_etag("\"a\"", "\"b\""));
    }
}
