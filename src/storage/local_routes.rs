//! `GET/PUT /v1/objects/<key>`: the local store's signed URLs, served by the application.
//!
//! These are not shop routes (no tenant is resolved): the signature is what names the object,
//! and it covers the exact key, so a URL of one shop never reaches another shop's prefix. A PUT
//! must carry the signed `Content-Type` and `Content-Length` exactly, as S3 requires of a
//! presigned PUT. Objects are served with `X-Content-Type-Options: nosniff`.
//!
//! A GET also requires the object's shop to be live: a suspended shop's URLs answer 403
//! `shop_suspended` and a deleted shop's 404 `shop_not_found`, however long their signatures
//! would still run (the shop lookup is the tenant registry's, cached).
//!
//! Rule: nothing here trusts the path before the signature has been checked against it.

use poem::http::{StatusCode, header};
use poem::web::{Data, Path, Query};
use poem::{Body, Endpoint, EndpointExt, Request, Response, Route, get, handler};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::signing::{Grant, now_unix};
use super::{LocalStore, ObjectKey};
use crate::error::AppError;
use crate::tenancy::ShopStatus;
use crate::tenancy::registry::{LookupKey, TenantRegistry};

/// The routes, to nest under `/v1/objects`; `shops` tells whether an object's shop is live.
pub fn local_routes(store: LocalStore, shops: TenantRegistry) -> impl Endpoint {
    Route::new().at("/*key", get(get_object).put(put_object)).data(store).data(shops)
}

#[derive(Debug, Deserialize)]
struct Signed {
    #[serde(rename = "x-expires")]
    expires: Option<u64>,
    #[serde(rename = "x-signature")]
    signature: Option<String>,
    #[serde(rename = "x-type")]
    content_type: Option<String>,
    #[serde(rename = "x-length")]
    content_length: Option<u64>,
}

fn invalid(message: &str) -> AppError {
    AppError::forbidden("invalid_signature", message)
}

/// Checks the signature of `grant` on `key`; 403 `invalid_signature` or `url_expired`.
fn verify(
    store: &LocalStore,
    key: &ObjectKey,
    grant: &Grant,
    signed: &Signed,
) -> Result<(), AppError> {
    let (Some(expires), Some(signature)) = (signed.expires, signed.signature.as_deref()) else {
        return Err(invalid("this object URL is not signed"));
    };
    if !store.signer().verify(key, grant, expires, signature) {
        return Err(invalid("the signature does not match this object, method, type or length"));
    }
    if now_unix() > expires {
        return Err(AppError::forbidden("url_expired", "this object URL has expired"));
    }
    Ok(())
}

fn parse_key(raw: &str) -> Result<ObjectKey, AppError> {
    // A path that is not a valid key cannot have been signed.
    ObjectKey::parse_any(raw).map_err(|_| invalid("the signature does not match this object"))
}

#[handler]
async fn get_object(
    Path(raw): Path<String>,
    Query(signed): Query<Signed>,
    store: Data<&LocalStore>,
    shops: Data<&TenantRegistry>,
) -> Result<Response, AppError> {
    let key = parse_key(&raw)?;
    verify(&store, &key, &Grant::Get, &signed)?;
    match shops.lookup(&LookupKey::Id(key.shop())).await? {
        Some(shop) if shop.status == ShopStatus::Active => {}
        Some(_) => return Err(AppError::forbidden("shop_suspended", "this shop is suspended")),
        None => return Err(AppError::not_found("shop_not_found", "no shop at this address")),
    }
    let Some((file, meta)) = store.open(&key).await? else {
        return Err(AppError::not_found("object_not_found", "no such object"));
    };
    let max_age = signed.expires.unwrap_or(0).saturating_sub(now_unix());
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, meta.content_type)
        .header(header::CONTENT_LENGTH, meta.size)
        .header(header::CACHE_CONTROL, format!("private, max-age={max_age}"))
        .header("X-Content-Type-Options", "nosniff")
        .body(Body::from_async_read(file)))
}

#[handler]
async fn put_object(
    req: &Request,
    Path(raw): Path<String>,
    Query(signed): Query<Signed>,
    store: Data<&LocalStore>,
    body: Body,
) -> Result<Response, AppError> {
    let key = parse_key(&raw)?;
    let (Some(content_type), Some(content_length)) =
        (signed.content_type.as_deref(), signed.content_length)
    else {
        return Err(invalid("this URL does not grant an upload"));
    };
    verify(
        &store,
        &key,
        &Grant::Put { content_type: content_type.to_owned(), content_length },
        &signed,
    )?;
    let sent_type = req.header(header::CONTENT_TYPE).map(str::trim).unwrap_or_default();
    if !sent_type.eq_ignore_ascii_case(content_type) {
        return Err(invalid("the Content-Type header differs from the signed one"));
    }
    let sent_length = req.header(header::CONTENT_LENGTH).and_then(|v| v.trim().parse::<u64>().ok());
    if sent_length != Some(content_length) {
        return Err(invalid("the Content-Length header differs from the signed one"));
    }

    let (temp, mut file) = store.temp_file().await?;
    let copied = async {
        // One byte more than allowed tells a body longer than its header (which hyper already
        // refuses) from a body of exactly the signed length.
        let mut reader = body.into_async_read().take(content_length + 1);
        let copied = tokio::io::copy(&mut reader, &mut file).await?;
        file.flush().await?;
        Ok::<u64, std::io::Error>(copied)
    }
    .await;
    drop(file);
    let copied = match copied {
        Ok(copied) => copied,
        Err(err) => {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(AppError::bad_request(
                "upload_interrupted",
                format!("the upload did not complete: {err}"),
            ));
        }
    };
    if copied != content_length {
        let _ = tokio::fs::remove_file(&temp).await;
        return Err(AppError::bad_request(
            "content_length_mismatch",
            "the body length differs from the signed length",
        ));
    }
    store.commit_temp(&temp, &key, content_type).await?;
    Ok(Response::builder().status(StatusCode::OK).finish())
}
