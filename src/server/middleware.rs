//! Middleware around every route: the request id and tracing span (the caller's trace continued
//! from its `traceparent`), the one JSON error shape for errors that escape handlers, and
//! request body limits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use futures::StreamExt;
use poem::http::{HeaderValue, header};
use poem::{Endpoint, IntoResponse, PathPattern, Request, Response};
use tracing::Instrument;
use uuid::Uuid;

use crate::error::{AppError, REQUEST_ID, into_json_response};
use crate::media;
use crate::telemetry;
use crate::telemetry::metrics;

/// Largest request body accepted (JSON APIs; uploads go straight to object storage).
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Largest body of the two routes that carry a file: the multipart image upload
/// (`POST /v1/admin/products/{id}/media`) and a PUT to a local-store signed URL
/// (`PUT /v1/objects/…`). They must fit the largest plan's upload limit (`platform.plans
/// .max_upload_bytes`, capped at [`media::MAX_FILE_BYTES`]) plus the multipart envelope; the
/// handlers then hold each shop to its own plan's limit (413 `file_too_large`) or to the signed
/// length. Every other route keeps the 1 MiB limit.
pub const MAX_UPLOAD_BODY_BYTES: usize = media::MAX_FILE_BYTES as usize + 1024 * 1024;

fn body_limit(req: &Request) -> usize {
    let path = req.uri().path();
    let upload = match *req.method() {
        poem::http::Method::POST => {
            path.starts_with("/v1/admin/products/") && path.ends_with("/media")
        }
        poem::http::Method::PUT => path.starts_with("/v1/objects/"),
        _ => false,
    };
    if upload { MAX_UPLOAD_BODY_BYTES } else { MAX_BODY_BYTES }
}

/// A declared body over the limit, up to this size, is read and thrown away before the 413, so
/// that the client's keep-alive connection stays usable; a larger one gets `Connection: close`.
const MAX_DISCARDED_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Refuses a declared body over the route's limit ([`body_limit`]) with 413, and cuts off an
/// undeclared (chunked) one at that size, so that no request can make the server buffer
/// without bound.
///
/// An unread request body leaves the connection unusable, so every refusal here either reads
/// the body away (declared, at most [`MAX_DISCARDED_BODY_BYTES`]) or answers with
/// `Connection: close`: the client then opens a new connection instead of sending its next
/// request into a closed one. `cut_off` is set when a chunked body is cut off (see
/// `request_context`).
async fn limit_body(req: &mut Request, cut_off: &Arc<AtomicBool>) -> Result<(), Response> {
    let max_bytes = body_limit(req);
    let declared = req.header("content-length").and_then(|v| v.parse::<usize>().ok());
    if let Some(len) = declared.filter(|len| *len > max_bytes) {
        let mut response =
            poem::error::ResponseError::as_response(&AppError::PayloadTooLarge { max_bytes });
        let discarded = len <= MAX_DISCARDED_BODY_BYTES && discard(req.take_body()).await;
        if !discarded {
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        return Err(response);
    }
    if declared.is_none() {
        let mut seen = 0usize;
        let cut_off = cut_off.clone();
        let stream = req.take_body().into_bytes_stream().map(move |chunk| {
            let chunk = chunk?;
            seen += chunk.len();
            if seen > max_bytes {
                cut_off.store(true, Ordering::Relaxed);
                return Err(std::io::Error::other("request body too large"));
            }
            Ok(chunk)
        });
        req.set_body(poem::Body::from_bytes_stream(stream));
    }
    Ok(())
}

/// Reads a body to its end without keeping it; `false` if the connection failed meanwhile.
async fn discard(body: poem::Body) -> bool {
    let mut stream = body.into_bytes_stream();
    while let Some(chunk) = stream.next().await {
        if chunk.is_err() {
            return false;
        }
    }
    true
}

/// The `route` label of requests answered before any route matched (an unknown path, a shop
/// that does not exist, a rate limit's refusal, a body over the limit).
const UNMATCHED: &str = "unmatched";

/// Gives each request an id (or keeps a sane incoming `X-Request-Id`), a tracing span, and
/// turns every escaped error into the JSON error shape carrying that id. Counts the request in
/// the metrics by the route template poem matched (`PathPattern`), never by its path.
pub async fn request_context<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let request_id = req
        .header("x-request-id")
        .filter(|id| {
            (1..=64).contains(&id.len())
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map_or_else(|| Uuid::now_v7().to_string(), str::to_owned);
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %request_id,
        shop = tracing::field::Empty,
        shop_id = tracing::field::Empty,
        otel.kind = "server",
    );
    // An incoming W3C `traceparent` makes this request a part of the caller's trace.
    telemetry::context::continue_trace(&span, req.header("traceparent"), req.header("tracestate"));
    let started = Instant::now();
    let method = req.method().clone();
    let cut_off = Arc::new(AtomicBool::new(false));
    let body_cut_off = cut_off.clone();
    let mut response = REQUEST_ID
        .scope(
            request_id.clone(),
            async move {
                if let Err(refused) = limit_body(&mut req, &body_cut_off).await {
                    return refused;
                }
                match next.call(req).await {
                    Ok(response) => response.into_response(),
                    Err(err) => into_json_response(err),
                }
            }
            .instrument(span.clone()),
        )
        .await;
    if cut_off.load(Ordering::Relaxed) {
        // The rest of the chunked body was never read: this connection cannot carry another
        // request.
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if let Ok(value) = request_id.parse() {
        response.headers_mut().insert("x-request-id", value);
    }
    let route = response
        .data::<PathPattern>()
        .map(|pattern| &*pattern.0)
        .filter(|pattern| !pattern.is_empty())
        .unwrap_or(UNMATCHED);
    metrics::http_request(route, &method, response.status(), started.elapsed());
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "handled"
        );
    });
    Ok(response)
}

/// The methods each route answers, for the `Allow` header of a 405 (RFC 9110 §15.5.6): read
/// once from the OpenAPI document plus the routes outside it, so no route can forget it.
#[derive(Clone, Default)]
pub struct AllowedMethods {
    /// Path templates split into segments (`{id}` matches one segment, `*` the rest) and their
    /// methods, `HEAD` included wherever `GET` is (poem answers it).
    routes: Arc<Vec<(Vec<String>, Vec<String>)>>,
}

impl AllowedMethods {
    /// From the OpenAPI document's `paths`, plus `extra` routes (template, methods).
    pub fn from_spec(spec: &str, extra: &[(&str, &[&str])]) -> Self {
        let mut routes: Vec<(Vec<String>, Vec<String>)> = Vec::new();
        let mut add = |template: &str, methods: Vec<String>| {
            let mut methods: Vec<String> = methods.into_iter().map(|m| m.to_uppercase()).collect();
            if methods.iter().any(|m| m == "GET") && !methods.iter().any(|m| m == "HEAD") {
                methods.push("HEAD".to_owned());
            }
            let segments = template.trim_matches('/').split('/').map(str::to_owned).collect();
            routes.push((segments, methods));
        };
        if let Ok(doc) = serde_json::from_str::<serde_json::Value>(spec)
            && let Some(paths) = doc.get("paths").and_then(|p| p.as_object())
        {
            for (template, item) in paths {
                let methods =
                    item.as_object().map(|ops| ops.keys().cloned().collect()).unwrap_or_default();
                add(template, methods);
            }
        }
        for (template, methods) in extra {
            add(template, methods.iter().map(|m| (*m).to_owned()).collect());
        }
        Self { routes: Arc::new(routes) }
    }

    /// The methods of the route `path` belongs to; of several matching templates, the one poem
    /// routes to: a literal segment wins over a parameter at the first place they differ.
    pub fn for_path(&self, path: &str) -> Option<String> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let matches = |segments: &[String]| -> Option<Vec<bool>> {
            let mut literal = Vec::with_capacity(segments.len());
            for (i, segment) in segments.iter().enumerate() {
                if segment == "*" {
                    return (i < parts.len()).then_some(literal);
                }
                let part = parts.get(i)?;
                if segment.starts_with('{') && segment.ends_with('}') {
                    if part.is_empty() {
                        return None;
                    }
                    literal.push(false);
                } else if segment == part {
                    literal.push(true);
                } else {
                    return None;
                }
            }
            (segments.len() == parts.len()).then_some(literal)
        };
        self.routes
            .iter()
            .filter_map(|(segments, methods)| matches(segments).map(|rank| (rank, methods)))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, methods)| methods.join(", "))
    }
}

impl<E: Endpoint> poem::Middleware<E> for AllowedMethods {
    type Output = AllowHeaderEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        AllowHeaderEndpoint { inner: ep, allowed: self.clone() }
    }
}

/// Adds `Allow` to every 405, in the one JSON error shape.
pub struct AllowHeaderEndpoint<E> {
    inner: E,
    allowed: AllowedMethods,
}

impl<E: Endpoint> Endpoint for AllowHeaderEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let path = req.uri().path().to_owned();
        let mut response = match self.inner.call(req).await {
            Ok(response) => response.into_response(),
            Err(err) => into_json_response(err),
        };
        if response.status() == poem::http::StatusCode::METHOD_NOT_ALLOWED
            && !response.headers().contains_key(header::ALLOW)
            && let Some(value) = self
                .allowed
                .for_path(&path)
                .and_then(|methods| HeaderValue::from_str(&methods).ok())
        {
            response.headers_mut().insert(header::ALLOW, value);
        }
        Ok(response)
    }
}
