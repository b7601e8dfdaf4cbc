//! Client text must be text PostgreSQL can store: it refuses the NUL character (U+0000) in
//! `text`, `jsonb` and `like` patterns, so a `\u0000` reaching a query is a database error.
//!
//! Rather than trusting every handler and request type to remember that, [`RejectNul`] checks
//! every request to the API once, before any handler runs: the percent-decoded path, each
//! query parameter, and every string (and object key) of a JSON body. A NUL anywhere is 422
//! `validation_failed` naming the field — the query parameter's name, the body field's path
//! (`shipping_address.line1`, `variants[0].sku`), or `path` for the URL path. Other bodies
//! (multipart uploads) are binary and left alone; headers cannot carry a NUL in HTTP at all.
//! Cursors are base64 and decoded later; [`crate::values::decode_cursor`] applies
//! [`first_nul`] to what it decodes.

use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use serde_json::Value;

use crate::error::AppError;

const MESSAGE: &str = "must not contain the NUL character (\\u0000)";

/// The middleware; see the module doc.
pub struct RejectNul;

impl<E: Endpoint> Middleware<E> for RejectNul {
    type Output = RejectNulEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RejectNulEndpoint { inner }
    }
}

pub struct RejectNulEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for RejectNulEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        if let Some(field) = nul_in_uri(req.uri().path(), req.uri().query()) {
            return Err(AppError::validation(field, MESSAGE).into());
        }
        if is_json(&req) {
            // The body is already bounded by the request limit (`app.rs`); one that cannot be
            // read fails here as it would in the handler's extractor.
            let bytes = req.take_body().into_bytes().await?;
            if let Some(field) = nul_in_json(&bytes) {
                return Err(AppError::validation(field, MESSAGE).into());
            }
            req.set_body(bytes);
        }
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}

fn is_json(req: &Request) -> bool {
    req.content_type().is_some_and(|ct| {
        let essence = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        essence == "application/json" || essence.ends_with("+json")
    })
}

/// The field of the first NUL in the path (`path`) or query (the parameter's name).
fn nul_in_uri(path: &str, query: Option<&str>) -> Option<String> {
    // A raw NUL cannot be in a URI; an encoded one is `%00`.
    if path.contains("%00") {
        return Some("path".to_owned());
    }
    let query = query.filter(|q| q.contains("%00"))?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        .map(|(name, _)| if name.contains('\0') { "query".to_owned() } else { name.into_owned() })
}

/// The path of the first string with a NUL in a JSON body; `None` for a body without one, or
/// one that is not JSON (the handler refuses that itself).
fn nul_in_json(body: &[u8]) -> Option<String> {
    // In JSON a NUL can only be written as the escape `\u0000`: skip parsing bodies without it.
    if !body.windows(6).any(|w| w == b"\\u0000") {
        return None;
    }
    let value: Value = serde_json::from_slice(body).ok()?;
    first_nul(&value).map(|field| if field.is_empty() { "body".to_owned() } else { field })
}

/// The path (`a.b[2].c`; empty for the root) of the first string or object key in `value`
/// that contains a NUL.
pub fn first_nul(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => text.contains('\0').then(String::new),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| first_nul(item).map(|rest| format!("[{i}]{}", dotted(&rest)))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                // The key itself cannot name the field: it is the field at fault.
                return Some(String::new());
            }
            first_nul(item).map(|rest| format!("{key}{}", dotted(&rest)))
        }),
        _ => None,
    }
}

/// `rest` as the continuation of a path: `.name`, `[i]…` as is, nothing for the end.
fn dotted(rest: &str) -> String {
    if rest.is_empty() || rest.starts_with('[') { rest.to_owned() } else { format!(".{rest}") }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names_the_field_of_a_nul_in_a_body() {
        let body = json!({
            "email": "a@example.com",
            "shipping_address": { "name": "Lan", "line1": "12\u{0}Hang Bac" },
        });
        assert_eq!(first_nul(&body).as_deref(), Some("shipping_address.line1"));
        let body = json!({ "variants": [{ "sku": "ok" }, { "sku": "a\u{0}" }] });
        assert_eq!(first_nul(&body).as_deref(), Some("variants[1].sku"));
        let body = json!({ "synonyms": [["tee", "t\u{0}shirt"]] });
        assert_eq!(first_nul(&body).as_deref(), Some("synonyms[0][1]"));
        assert_eq!(first_nul(&json!({ "name": "fine", "n": 1 })), None);
        assert_eq!(nul_in_json(br#"{"note": "a\u0000"}"#).as_deref(), Some("note"));
        assert_eq!(nul_in_json(br#""\u0000""#).as_deref(), Some("body"));
        // An escaped backslash followed by `u0000` is text, not a NUL.
        assert_eq!(nul_in_json(br#"{"note": "a\\u0000"}"#), None);
        assert_eq!(nul_in_json(b"not json \\u0000"), None);
    }

    #[test]
    fn names_the_parameter_of_a_nul_in_the_url() {
        assert_eq!(nul_in_uri("/v1/store/products/%00", None).as_deref(), Some("path"));
        assert_eq!(nul_in_uri("/v1/store/products", Some("q=a%00b")).as_deref(), Some("q"));
        assert_eq!(
            nul_in_uri("/v1/store/products", Some("sort=name&category=%00")).as_deref(),
            Some("category")
        );
        assert_eq!(nul_in_uri("/v1/store/products", Some("q=a%2500")), None);
        assert_eq!(nul_in_uri("/v1/store/products", Some("q=shirt")), None);
    }
}
