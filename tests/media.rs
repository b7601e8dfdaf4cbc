//! Product images through the API: multipart and direct uploads, type and size checks,
//! storefront URLs, deletion through the outbox, and isolation between shops — against both
//! stores (the local directory and S3 on the moto server of `scripts/test.sh`).

mod common;

use std::time::Duration;

use base64::Engine;
use common::objects::{MediaApp, StoreKind};
use common::*;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shopfleet::storage::ObjectKey;
use shopfleet::tenancy::ShopId;

/// A real 1×1 PNG.
fn png() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
        .unwrap()
}

/// The start of a JPEG (magic bytes and a JFIF header), padded.
fn jpeg() -> Vec<u8> {
    let mut data = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00".to_vec();
    data.extend(std::iter::repeat_n(0u8, 300));
    data.extend(b"\xFF\xD9");
    data
}

async fn upload(
    m: &MediaApp,
    shop: &TestShop,
    token: &str,
    product: &str,
    name: &str,
    data: Vec<u8>,
    alt: &str,
) -> (StatusCode, Value) {
    let form = Form::new()
        .part("file", Part::bytes(data).file_name(name.to_owned()).mime_str("image/png").unwrap())
        .text("alt", alt.to_owned());
    read(
        m.app
            .shop(Method::POST, &shop.slug, &format!("/v1/admin/products/{product}/media"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Direct upload: announce, PUT the bytes to the presigned URL, complete.
async fn direct_upload(
    m: &MediaApp,
    shop: &TestShop,
    product: &str,
    content_type: &str,
    data: Vec<u8>,
) -> (StatusCode, Value) {
    let (status, ticket) = m
        .app
        .owner(shop, Method::POST, "/v1/admin/media/uploads", Some(json!({
            "product_id": product, "filename": "photo.bin", "content_type": content_type, "size": data.len(), "alt": "Direct",
        })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    put_to_ticket(m, &ticket, data).await;
    let id = ticket["upload_id"].as_str().unwrap();
    m.app.owner(shop, Method::POST, &format!("/v1/admin/media/uploads/{id}/complete"), None).await
}

async fn put_to_ticket(m: &MediaApp, ticket: &Value, data: Vec<u8>) -> StatusCode {
    assert_eq!(ticket["method"], "PUT");
    let mut request = m.http.put(ticket["url"].as_str().unwrap()).body(data);
    for (name, value) in ticket["headers"].as_object().unwrap() {
        request = request.header(name, value.as_str().unwrap());
    }
    request.send().await.unwrap().status()
}

async fn fetch(m: &MediaApp, url: &str) -> (StatusCode, Vec<u8>) {
    let response = m.http.get(url).send().await.unwrap();
    (response.status(), response.bytes().await.unwrap().to_vec())
}

fn key_of(shop: &TestShop, item: &Value) -> ObjectKey {
    let shop = ShopId(shop.id.parse().unwrap());
    let ext = match item["content_type"].as_str().unwrap() {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        other => panic!("unexpected type {other}"),
    };
    ObjectKey::new(
        shop,
        &format!(
            "products/{}/{}.{ext}",
            item["product_id"].as_str().unwrap(),
            item["id"].as_str().unwrap()
        ),
    )
    .unwrap()
}

macro_rules! for_each_store {
    ($($name:ident),* $(,)?) => {
        mod local {
            $( #[tokio::test] async fn $name() { super::$name(super::MediaApp::spawn(super::StoreKind::Local).await).await } )*
        }
        mod s3 {
            $( #[tokio::test] async fn $name() { super::$name(super::MediaApp::spawn(super::StoreKind::S3).await).await } )*
        }
    };
}

for_each_store!(
    images_uploaded_by_multipart_are_ordered_and_shown_on_the_storefront,
    a_direct_upload_goes_to_the_presigned_url_and_is_attached_on_completion,
    content_that_is_not_an_image_is_refused_whatever_its_name,
    deleting_an_image_or_its_product_deletes_the_stored_files,
    another_shop_gets_404_for_images_products_and_uploads_it_does_not_own,
    a_completed_upload_is_closed_and_its_url_can_no_longer_change_the_image,
);

async fn a_completed_upload_is_closed_and_its_url_can_no_longer_change_the_image(m: MediaApp) {
    let shop = m.app.signup("once").await;
    let product = m.app.product(&shop, "Badge", 600).await;
    let id = product["id"].as_str().unwrap();
    let (status, ticket) = m
        .app
        .owner(
            &shop,
            Method::POST,
            "/v1/admin/media/uploads",
            Some(json!({
                "product_id": id, "content_type": "image/png", "size": png().len(),
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    assert!(put_to_ticket(&m, &ticket, png()).await.is_success());
    let upload_id = ticket["upload_id"].as_str().unwrap();
    let (status, item) = m
        .app
        .owner(&shop, Method::POST, &format!("/v1/admin/media/uploads/{upload_id}/complete"), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    let url = item["url"].as_str().unwrap();
    assert_eq!(fetch(&m, url).await, (StatusCode::OK, png()));

    // The URL is still signed and unexpired: HTML of the same length, sent as image/png.
    let mut html = b"<html><script>alert('replaced')</script>".to_vec();
    html.resize(png().len(), b' ');
    put_to_ticket(&m, &ticket, html).await;
    // What is served is still the checked PNG, at the same URL and at a fresh one.
    assert_eq!(fetch(&m, url).await, (StatusCode::OK, png()));
    let (_, list) =
        m.app.owner(&shop, Method::GET, &format!("/v1/admin/products/{id}/media"), None).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["id"], item["id"]);
    assert_eq!(fetch(&m, list[0]["url"].as_str().unwrap()).await, (StatusCode::OK, png()));
}

async fn images_uploaded_by_multipart_are_ordered_and_shown_on_the_storefront(m: MediaApp) {
    let shop = m.app.signup("media").await;
    let product = m.app.product(&shop, "Linen Tote", 2500).await;
    let id = product["id"].as_str().unwrap();

    let (status, first) =
        upload(&m, &shop, &shop.token, id, "tote.png", png(), "A sand-coloured tote").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["alt"], "A sand-coloured tote");
    assert_eq!(first["content_type"], "image/png");
    assert_eq!(first["size_bytes"], png().len());
    assert_eq!(first["filename"], "tote.png");
    assert_eq!(
        (first["primary"].as_bool(), first["position"].as_i64()),
        (Some(true), Some(0)),
        "the first image is primary"
    );
    assert_eq!(fetch(&m, first["url"].as_str().unwrap()).await, (StatusCode::OK, png()));
    // A JPEG sent with a PNG name and type is stored as what it is.
    let (status, second) = upload(&m, &shop, &shop.token, id, "back.png", jpeg(), "").await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(second["content_type"], "image/jpeg");
    assert_eq!((second["primary"].as_bool(), second["position"].as_i64()), (Some(false), Some(1)));

    let (status, list) =
        m.app.owner(&shop, Method::GET, &format!("/v1/admin/products/{id}/media"), None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(
        list.as_array().unwrap().iter().map(|i| i["id"].clone()).collect::<Vec<_>>(),
        [first["id"].clone(), second["id"].clone()]
    );

    // Storefront: the detail has both (primary first), the listing the primary one.
    let slug = product["slug"].as_str().unwrap();
    let (status, detail) = read(
        m.app
            .shop(Method::GET, &shop.slug, &format!("/v1/store/products/{slug}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["images"].as_array().unwrap().len(), 2);
    assert_eq!(detail["images"][0]["alt"], "A sand-coloured tote");
    assert_eq!(
        fetch(&m, detail["images"][0]["url"].as_str().unwrap()).await,
        (StatusCode::OK, png())
    );
    let (status, page) =
        read(m.app.shop(Method::GET, &shop.slug, "/v1/store/products").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"][0]["image"]["alt"], "A sand-coloured tote");
    assert_eq!(
        fetch(&m, page["items"][0]["image"]["url"].as_str().unwrap()).await,
        (StatusCode::OK, png())
    );

    // Make the second one primary and move it first; the listing follows.
    let path = format!("/v1/admin/products/{id}/media/{}", second["id"].as_str().unwrap());
    let (status, changed) = m
        .app
        .owner(
            &shop,
            Method::PATCH,
            &path,
            Some(json!({ "primary": true, "position": 0, "alt": "Back" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (changed["primary"].as_bool(), changed["position"].as_i64(), changed["alt"].as_str()),
        (Some(true), Some(0), Some("Back"))
    );
    let (_, page) =
        read(m.app.shop(Method::GET, &shop.slug, "/v1/store/products").send().await.unwrap()).await;
    assert_eq!(page["items"][0]["image"]["alt"], "Back");
    let (_, list) =
        m.app.owner(&shop, Method::GET, &format!("/v1/admin/products/{id}/media"), None).await;
    assert_eq!(
        list.as_array().unwrap().iter().filter(|i| i["primary"] == true).count(),
        1,
        "one primary image: {list}"
    );

    // The primary image cannot be un-made primary; bad alt text is a 422 on its field.
    let (status, body) =
        m.app.owner(&shop, Method::PATCH, &path, Some(json!({ "primary": false }))).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(body["error"]["field"], "primary");
    let (status, body) =
        m.app.owner(&shop, Method::PATCH, &path, Some(json!({ "alt": "x".repeat(501) }))).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(body["error"]["field"], "alt");

    // A product without images has none on the storefront.
    m.app.product(&shop, "Plain Mug", 900).await;
    let (_, page) =
        read(m.app.shop(Method::GET, &shop.slug, "/v1/store/products").send().await.unwrap()).await;
    assert!(page["items"][0].get("image").is_none_or(Value::is_null), "{page}");
}

async fn a_direct_upload_goes_to_the_presigned_url_and_is_attached_on_completion(m: MediaApp) {
    let shop = m.app.signup("direct").await;
    let product = m.app.product(&shop, "Enamel Pin", 800).await;
    let id = product["id"].as_str().unwrap();

    let (status, ticket) = m
        .app
        .owner(&shop, Method::POST, "/v1/admin/media/uploads", Some(json!({
            "product_id": id, "filename": "pin.png", "content_type": "image/png", "size": png().len(), "alt": "The pin",
        })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    assert!(
        ticket["url"].as_str().unwrap().contains(&format!("shops/{}/products/{id}/", shop.id)),
        "{ticket}"
    );
    let upload_id = ticket["upload_id"].as_str().unwrap();
    let complete = format!("/v1/admin/media/uploads/{upload_id}/complete");

    // Completing before anything was uploaded says so.
    let (status, body) = m.app.owner(&shop, Method::POST, &complete, None).await;
    assert_error(status, &body, StatusCode::CONFLICT, "upload_incomplete");

    assert!(put_to_ticket(&m, &ticket, png()).await.is_success());
    let (status, item) = m.app.owner(&shop, Method::POST, &complete, None).await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    assert_eq!(
        (item["alt"].as_str(), item["primary"].as_bool(), item["filename"].as_str()),
        (Some("The pin"), Some(true), Some("pin.png"))
    );
    assert_eq!(fetch(&m, item["url"].as_str().unwrap()).await, (StatusCode::OK, png()));
    let (status, body) = m.app.owner(&shop, Method::POST, &complete, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "upload_not_found");

    let (_, detail) = read(
        m.app
            .shop(
                Method::GET,
                &shop.slug,
                &format!("/v1/store/products/{}", product["slug"].as_str().unwrap()),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(detail["images"][0]["alt"], "The pin");

    // The platform admin sees the bytes in the shop's usage.
    let admin = m.app.platform_admin_token().await;
    let (status, shop_detail) =
        m.app.as_admin(&admin, Method::GET, &format!("/v1/platform/shops/{}", shop.id), None).await;
    assert_eq!(status, StatusCode::OK, "{shop_detail}");
    assert_eq!(shop_detail["usage"]["storage_bytes"], png().len());
}

async fn content_that_is_not_an_image_is_refused_whatever_its_name(m: MediaApp) {
    let shop = m.app.signup("magic").await;
    let id = m.app.product(&shop, "Poster", 1500).await["id"].as_str().unwrap().to_owned();
    let text = b"just some text, in a file called poster.png".to_vec();

    let (status, body) = upload(&m, &shop, &shop.token, &id, "poster.png", text.clone(), "").await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "unsupported_image_type");
    let (status, body) = upload(
        &m,
        &shop,
        &shop.token,
        &id,
        "vector.svg",
        b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>".to_vec(),
        "",
    )
    .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "unsupported_image_type");

    // Direct upload: another declared type is refused up front; text sent as image/png is
    // refused on completion, and the object is deleted.
    let (status, body) = m
        .app
        .owner(
            &shop,
            Method::POST,
            "/v1/admin/media/uploads",
            Some(json!({ "product_id": id, "content_type": "text/html", "size": 10 })),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "unsupported_image_type");
    let (status, body) = direct_upload(&m, &shop, &id, "image/png", text).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "unsupported_image_type");
    let (_, list) =
        m.app.owner(&shop, Method::GET, &format!("/v1/admin/products/{id}/media"), None).await;
    assert_eq!(list, json!([]), "nothing attached");
    let (status, body) = direct_upload(&m, &shop, &id, "image/png", jpeg()).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "unsupported_image_type");
}

async fn deleting_an_image_or_its_product_deletes_the_stored_files(m: MediaApp) {
    let shop = m.app.signup("delete").await;
    let id = m.app.product(&shop, "Candle", 1200).await["id"].as_str().unwrap().to_owned();
    let (_, first) = upload(&m, &shop, &shop.token, &id, "a.png", png(), "").await;
    let (_, second) = upload(&m, &shop, &shop.token, &id, "b.jpg", jpeg(), "").await;
    let (first_key, second_key) = (key_of(&shop, &first), key_of(&shop, &second));
    assert!(m.store.head(&first_key).await.unwrap().is_some());

    let (status, _) = m
        .app
        .owner(
            &shop,
            Method::DELETE,
            &format!("/v1/admin/products/{id}/media/{}", first["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let store = m.store.clone();
    eventually("the deleted image's file to be removed", Duration::from_secs(20), || {
        let (s, k) = (store.clone(), first_key.clone());
        async move { s.head(&k).await.unwrap().is_none().then_some(()) }
    })
    .await;
    assert!(
        m.store.head(&second_key).await.unwrap().is_some(),
        "the other image's file was deleted"
    );
    let (_, list) =
        m.app.owner(&shop, Method::GET, &format!("/v1/admin/products/{id}/media"), None).await;
    assert_eq!(list[0]["id"], second["id"]);
    assert_eq!(list[0]["primary"], true, "the next image became primary");
    let (status, body) = m
        .app
        .owner(
            &shop,
            Method::DELETE,
            &format!("/v1/admin/products/{id}/media/{}", first["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "media_not_found");

    let (status, _) =
        m.app.owner(&shop, Method::DELETE, &format!("/v1/admin/products/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    eventually("the deleted product's file to be removed", Duration::from_secs(20), || {
        let (s, k) = (store.clone(), second_key.clone());
        async move { s.head(&k).await.unwrap().is_none().then_some(()) }
    })
    .await;
}

async fn another_shop_gets_404_for_images_products_and_uploads_it_does_not_own(m: MediaApp) {
    let (a, b) = (m.app.signup("iso-ma").await, m.app.signup("iso-mb").await);
    let product_a = m.app.product(&a, "A's Lamp", 4000).await["id"].as_str().unwrap().to_owned();
    let product_b = m.app.product(&b, "B's Lamp", 4000).await["id"].as_str().unwrap().to_owned();
    let (_, image_a) = upload(&m, &a, &a.token, &product_a, "lamp.png", png(), "A's").await;
    let media_a = image_a["id"].as_str().unwrap();

    // Shop B, with its own token and host, cannot see or touch A's product or image.
    let (status, body) =
        m.app.owner(&b, Method::GET, &format!("/v1/admin/products/{product_a}/media"), None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "product_not_found");
    let (status, body) = upload(&m, &b, &b.token, &product_a, "x.png", png(), "").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "product_not_found");
    for method in [Method::PATCH, Method::DELETE] {
        let (status, body) = m
            .app
            .owner(
                &b,
                method.clone(),
                &format!("/v1/admin/products/{product_a}/media/{media_a}"),
                Some(json!({ "alt": "mine" })),
            )
            .await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "product_not_found");
        let (status, body) = m
            .app
            .owner(
                &b,
                method,
                &format!("/v1/admin/products/{product_b}/media/{media_a}"),
                Some(json!({ "alt": "mine" })),
            )
            .await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "media_not_found");
    }
    let (status, body) = m
        .app
        .owner(
            &b,
            Method::POST,
            "/v1/admin/media/uploads",
            Some(json!({ "product_id": product_a, "content_type": "image/png", "size": 10 })),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "product_not_found");
    // A's token on B's host is refused outright.
    let (status, body) = m
        .app
        .as_token(
            &a.token,
            &b.slug,
            Method::GET,
            &format!("/v1/admin/products/{product_a}/media"),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "token_shop_mismatch");

    // An upload started by A cannot be completed by B, and its URL is under A's prefix only.
    let (_, ticket) = m
        .app
        .owner(&a, Method::POST, "/v1/admin/media/uploads", Some(json!({ "product_id": product_a, "content_type": "image/png", "size": png().len() })))
        .await;
    let url = ticket["url"].as_str().unwrap();
    assert!(url.contains(&format!("shops/{}/", a.id)) && !url.contains(&b.id), "{url}");
    assert!(put_to_ticket(&m, &ticket, png()).await.is_success());
    let upload_id = ticket["upload_id"].as_str().unwrap();
    let (status, body) = m
        .app
        .owner(&b, Method::POST, &format!("/v1/admin/media/uploads/{upload_id}/complete"), None)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "upload_not_found");
    let (status, _) = m
        .app
        .owner(&a, Method::POST, &format!("/v1/admin/media/uploads/{upload_id}/complete"), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "still A's to complete");

    // B's storefront shows none of A's images; A's image is intact.
    let (_, page) =
        read(m.app.shop(Method::GET, &b.slug, "/v1/store/products").send().await.unwrap()).await;
    assert!(page["items"][0].get("image").is_none_or(Value::is_null), "{page}");
    let (_, list) =
        m.app.owner(&a, Method::GET, &format!("/v1/admin/products/{product_a}/media"), None).await;
    assert_eq!(list[0]["alt"], "A's");

    if m.kind == StoreKind::Local {
        // The local store's signed URL of A's object, pointed at B's prefix, is refused.
        let forged = list[0]["url"]
            .as_str()
            .unwrap()
            .replace(&format!("shops/{}/", a.id), &format!("shops/{}/", b.id));
        let (status, _) = fetch(&m, &forged).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}

/// Size limits come from the shop's plan: `free` allows 5 MiB, `basic` 20 MiB.
#[tokio::test]
async fn files_over_the_plan_limit_are_refused_with_file_too_large() {
    let m = MediaApp::spawn(StoreKind::S3).await;
    let shop = m.app.signup("limits").await;
    let id = m.app.product(&shop, "Big Print", 9000).await["id"].as_str().unwrap().to_owned();
    let free_limit: usize = 5 * 1024 * 1024;
    let mut big = png();
    big.resize(free_limit + 1, 0);

    let (status, body) = upload(&m, &shop, &shop.token, &id, "big.png", big.clone(), "").await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "file_too_large");
    let announce = json!({ "product_id": id, "content_type": "image/png", "size": big.len() });
    let (status, body) =
        m.app.owner(&shop, Method::POST, "/v1/admin/media/uploads", Some(announce.clone())).await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "file_too_large");
    // Far over any plan, the body limit refuses it before it is read.
    let (status, body) =
        upload(&m, &shop, &shop.token, &id, "huge.png", vec![0u8; 52 * 1024 * 1024], "").await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    // On the basic plan the same file is welcome.
    let admin = m.app.platform_admin_token().await;
    let (status, _) = m
        .app
        .as_admin(
            &admin,
            Method::PATCH,
            &format!("/v1/platform/shops/{}", shop.id),
            Some(json!({ "plan": "basic" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, item) = upload(&m, &shop, &shop.token, &id, "big.png", big.clone(), "").await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    assert_eq!(item["size_bytes"], big.len());

    // A direct upload whose object differs in size from the announcement is refused on
    // completion (moto, unlike S3, does not hold the PUT to its signed length).
    let (status, ticket) = m
        .app
        .owner(
            &shop,
            Method::POST,
            "/v1/admin/media/uploads",
            Some(json!({ "product_id": id, "content_type": "image/png", "size": 100 })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    let response = m
        .http
        .put(ticket["url"].as_str().unwrap())
        .header("content-type", "image/png")
        .body(png())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let (status, body) = m
        .app
        .owner(
            &shop,
            Method::POST,
            &format!("/v1/admin/media/uploads/{}/complete", ticket["upload_id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "upload_size_mismatch");
}

#[tokio::test]
async fn only_staff_allowed_to_write_products_can_upload() {
    let m = MediaApp::spawn(StoreKind::Local).await;
    let shop = m.app.signup("perm").await;
    let id = m.app.product(&shop, "Scarf", 3000).await["id"].as_str().unwrap().to_owned();
    let (status, body) = m
        .app
        .owner(
            &shop,
            Method::POST,
            "/v1/admin/roles",
            Some(json!({ "name": "viewer", "permissions": ["products:read"] })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let viewer = m.app.staff_token(&shop, "viewer").await;

    let (status, body) = m
        .app
        .as_token(&viewer, &shop.slug, Method::GET, &format!("/v1/admin/products/{id}/media"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = upload(&m, &shop, &viewer, &id, "s.png", png(), "").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = m
        .app
        .as_token(
            &viewer,
            &shop.slug,
            Method::POST,
            "/v1/admin/media/uploads",
            Some(json!({ "product_id": id, "content_type": "image/png", "size": 10 })),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let customer = m.app.customer_token(&shop).await;
    let (status, body) = upload(&m, &shop, &customer, &id, "s.png", png(), "").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "staff_only");
    let (status, body) = read(
        m.app
            .shop(Method::GET, &shop.slug, &format!("/v1/admin/products/{id}/media"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_token");
}

#[tokio::test]
async fn purging_a_shop_deletes_everything_under_its_prefix() {
    let m = MediaApp::spawn(StoreKind::S3).await;
    let (gone, kept) = (m.app.signup("purge-m").await, m.app.signup("keep-m").await);
    let id = m.app.product(&gone, "Vase", 5000).await["id"].as_str().unwrap().to_owned();
    let (_, item) = upload(&m, &gone, &gone.token, &id, "v.png", png(), "").await;
    let kept_id = m.app.product(&kept, "Bowl", 5000).await["id"].as_str().unwrap().to_owned();
    let (_, kept_item) = upload(&m, &kept, &kept.token, &kept_id, "b.png", png(), "").await;
    // A pending direct upload's object is under the prefix too.
    let (_, ticket) = m
        .app
        .owner(
            &gone,
            Method::POST,
            "/v1/admin/media/uploads",
            Some(json!({ "product_id": id, "content_type": "image/png", "size": png().len() })),
        )
        .await;
    assert!(put_to_ticket(&m, &ticket, png()).await.is_success());

    let admin = m.app.platform_admin_token().await;
    let (status, _) = m
        .app
        .as_admin(
            &admin,
            Method::DELETE,
            &format!("/v1/platform/shops/{}?purge=true", gone.id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let prefix = shopfleet::storage::KeyPrefix::shop(ShopId(gone.id.parse().unwrap()));
    assert_eq!(
        m.store.delete_prefix(&prefix).await.unwrap(),
        0,
        "objects left under the purged shop's prefix"
    );
    assert!(m.store.head(&key_of(&gone, &item)).await.unwrap().is_none());
    assert!(
        m.store.head(&key_of(&kept, &kept_item)).await.unwrap().is_some(),
        "another shop's object was deleted"
    );
    let (status, detail) =
        m.app.as_admin(&admin, Method::GET, &format!("/v1/platform/shops/{}", kept.id), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["usage"]["storage_bytes"], png().len());
}

/// The local store serves its signed URLs itself, so it can stop; S3's presigned URLs are
/// S3's (see README, "Object storage").
#[tokio::test]
async fn signed_image_urls_of_a_suspended_or_deleted_shop_stop_serving() {
    let m = MediaApp::spawn(StoreKind::Local).await;
    let shop = m.app.signup("media-off").await;
    let other = m.app.signup("media-on").await;
    let mut urls = Vec::new();
    for s in [&shop, &other] {
        let id = m.app.product(s, "Lamp", 5000).await["id"].as_str().unwrap().to_owned();
        let (status, item) = upload(&m, s, &s.token, &id, "lamp.png", png(), "").await;
        assert_eq!(status, StatusCode::CREATED, "{item}");
        urls.push(item["url"].as_str().unwrap().to_owned());
    }
    let (url, other_url) = (&urls[0], &urls[1]);
    assert_eq!(fetch(&m, url).await, (StatusCode::OK, png()));

    let admin = m.app.platform_admin_token().await;
    let path = format!("/v1/platform/shops/{}", shop.id);
    let (status, _) = m.app.as_admin(&admin, Method::POST, &format!("{path}/suspend"), None).await;
    assert!(status.is_success(), "{status}");
    let (status, body) = read(m.http.get(url).send().await.unwrap()).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "shop_suspended");
    assert_eq!(fetch(&m, other_url).await, (StatusCode::OK, png()), "other shops are unaffected");

    let (status, _) = m.app.as_admin(&admin, Method::POST, &format!("{path}/resume"), None).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(fetch(&m, url).await, (StatusCode::OK, png()));

    let (status, _) = m.app.as_admin(&admin, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = read(m.http.get(url).send().await.unwrap()).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "shop_not_found");
}
