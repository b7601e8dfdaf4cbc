//! Conditional requests for the public storefront reads (`GET /v1/store/products…`,
//! `/v1/store/categories`, `/v1/store/search…`): each 200 answer carries a strong `ETag` (a
//! hash of its body) and `Cache-Control: public, no-cache`, so a browser or CDN may keep it
//! and must revalidate before reuse; a request whose `If-None-Match` names the current ETag
//! gets `304 Not Modified` without the body.
//!
//! These answers are also cached whole in the shop's cache (`crate::cache`, key: the path and
//! query string), with their ETag: a hit answers without running the handler, and a change
//! of the shop moves its generation, so the next request runs the handler again.
//!
//! The HTML pages are not revalidated this way: each carries the visitor's cart count, CSRF
//! token and a fresh CSP nonce, so they are sent `Cache-Control: private, no-cache` (see
//! `storefront`). Answers that depend on the caller (carts, the search token, accounts) are
//! not touched here.

use bytes::Bytes;
use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, PathPattern, Request, Response};
use sha2::{Digest, Sha256};

use crate::cache::Lookup;
use crate::state::AppState;
use crate::tenancy::Tenant;

/// The cache's name of whole answers (`v2`: with their route template).
const ANSWER: &str = "answer.v2";

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
    let target = req.uri().path_and_query().map_or("", |target| target.as_str()).to_owned();
    let shop = req.data::<Tenant>().map(|tenant| tenant.id);
    let cache = req.data::<AppState>().map(|state| state.cache.clone());
    // Only GET answers are stored: a HEAD answer has no body to give a later GET.
    let lookup = match (&cache, shop) {
        (Some(cache), Some(shop)) if req.method() == Method::GET => {
            cache.lookup(shop, ANSWER, &target).await
        }
        _ => None,
    };
    let key = match lookup {
        Some(Lookup::Hit(stored)) => match Stored::parse(&stored) {
            Some(hit) => {
                let mut response = answer(if_none_match.as_deref(), &hit.etag, hit.body);
                response.set_data(PathPattern(hit.route.into()));
                return Ok(response);
            }
            None => None,
        },
        Some(Lookup::Miss(key)) => Some(key),
        None => None,
    };
    let mut response = next.call(req).await?.into_response();
    if response.status() != StatusCode::OK {
        return Ok(response);
    }
    let route = response.data::<PathPattern>().cloned();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    let body = response.take_body().into_bytes().await?;
    let digest = Sha256::digest(&body);
    let etag = format!("\"{}\"", hex::encode(&digest[..16]));
    if let (Some(cache), Some(key), Some(route)) = (&cache, key, &route)
        && is_json
    {
        cache.store(&key, &Stored::bytes(&etag, &route.0, &body)).await;
    }
    let mut response = answer(if_none_match.as_deref(), &etag, body);
    if let Some(route) = route {
        response.set_data(route);
    }
    Ok(response)
}

/// `"` + 32 hex digits + `"`.
const ETAG_LEN: usize = 34;

/// A cached answer: its ETag, the route template that answered it (the metrics' label of a
/// hit, as of the miss) and its body. Stored as the ETag, the template's length (one byte),
/// the template, then the body.
struct Stored {
    etag: String,
    route: String,
    body: Bytes,
}

impl Stored {
    fn bytes(etag: &str, route: &str, body: &[u8]) -> Vec<u8> {
        let route = &route.as_bytes()[..route.len().min(255)];
        let mut stored = Vec::with_capacity(ETAG_LEN + 1 + route.len() + body.len());
        stored.extend_from_slice(etag.as_bytes());
        stored.push(route.len() as u8);
        stored.extend_from_slice(route);
        stored.extend_from_slice(body);
        stored
    }

    fn parse(stored: &Bytes) -> Option<Self> {
        let etag = std::str::from_utf8(stored.get(..ETAG_LEN)?).ok()?.to_owned();
        let route_len = usize::from(*stored.get(ETAG_LEN)?);
        let body_at = ETAG_LEN + 1 + route_len;
        let route = std::str::from_utf8(stored.get(ETAG_LEN + 1..body_at)?).ok()?.to_owned();
        Some(Self { etag, route, body: stored.slice(body_at..) })
    }
}

/// The JSON answer with its validators, or 304 when the client has it already.
fn answer(if_none_match: Option<&str>, etag: &str, body: Bytes) -> Response {
    let mut response = if if_none_match.is_some_and(|tags| matches_etag(tags, etag)) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response =
            Response::builder().content_type("application/json; charset=utf-8").body(body);
        response.set_status(StatusCode::OK);
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, no-cache"));
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    response
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
    fn a_stored_answer_reads_back_whole() {
        let etag = format!("\"{}\"", "a".repeat(32));
        let stored = Bytes::from(Stored::bytes(&etag, "/v1/store/products/:param0", b"{}"));
        let read = Stored::parse(&stored).expect("parses");
        assert_eq!(
            (read.etag.as_str(), read.route.as_str(), &read.body[..]),
            (etag.as_str(), "/v1/store/products/:param0", &b"{}"[..])
        );
        assert!(Stored::parse(&stored.slice(..ETAG_LEN)).is_none());
    }

    #[test]
    fn if_none_match_lists_are_compared_weakly() {
        assert!(matches_etag("\"a\", W/\"b\"", "\"b\""));
        assert!(matches_etag("*", "\"b\""));
        assert!(!matches_etag("\"a\"", "\"b\""));
    }
}
