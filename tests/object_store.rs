//! The object stores: one behaviour suite run against both the local store and S3 (the moto
//! server of `scripts/test.sh`), plus what only one of them can show.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::objects::{MediaApp, StoreKind, s3_config, store_of};
use common::server_config;
use reqwest::StatusCode;
use shopfleet::storage::{KeyPrefix, ObjectBody, ObjectKey, ObjectMeta, ObjectStore};
use shopfleet::tenancy::ShopId;
use uuid::Uuid;

/// A store under test and an HTTP client for its URLs. The local store's URLs are served by
/// the application, so its fixture runs one.
struct Fixture {
    store: Arc<dyn ObjectStore>,
    http: reqwest::Client,
    _app: Option<MediaApp>,
}

impl Fixture {
    async fn local() -> Self {
        let media = MediaApp::spawn(StoreKind::Local).await;
        Self { store: media.store.clone(), http: media.http.clone(), _app: Some(media) }
    }

    async fn s3() -> Self {
        let mut config = server_config();
        config.storage = s3_config().await;
        Self { store: store_of(&config), http: reqwest::Client::new(), _app: None }
    }

    /// A shop whose objects the store's URLs serve: the local store serves only those of a live
    /// shop, so there it is a real one; S3 knows nothing of shops.
    async fn live_shop(&self) -> ShopId {
        match &self._app {
            Some(media) => ShopId(media.app.signup("objects").await.id.parse().unwrap()),
            None => shop(),
        }
    }
}

fn shop() -> ShopId {
    ShopId(Uuid::now_v7())
}

fn key(shop: ShopId, rest: &str) -> ObjectKey {
    ObjectKey::new(shop, rest).expect("valid key")
}

/// Runs each named suite function against both stores: `local::<name>` and `s3::<name>`.
macro_rules! for_each_store {
    ($($name:ident),* $(,)?) => {
        mod local {
            $( #[tokio::test] async fn $name() { super::$name(super::Fixture::local().await).await } )*
        }
        mod s3 {
            $( #[tokio::test] async fn $name() { super::$name(super::Fixture::s3().await).await } )*
        }
    };
}

for_each_store!(
    an_object_round_trips_and_deletes_idempotently,
    a_file_body_is_streamed_whole,
    deleting_a_shops_prefix_leaves_other_shops_alone,
    a_presigned_put_uploads_exactly_that_object,
    a_read_url_serves_the_object_and_is_stable,
);

async fn an_object_round_trips_and_deletes_idempotently(f: Fixture) {
    let key = key(shop(), "products/p1/a.png");
    assert!(f.store.head(&key).await.unwrap().is_none(), "nothing there yet");
    assert!(f.store.get(&key).await.unwrap().is_none());
    assert!(f.store.read_start(&key, 8).await.unwrap().is_none());

    f.store
        .put(&key, b"\x89PNG\r\n\x1a\nrest-of-image".to_vec().into(), "image/png")
        .await
        .unwrap();
    assert_eq!(
        f.store.head(&key).await.unwrap(),
        Some(ObjectMeta { size: 21, content_type: "image/png".into() })
    );
    let object = f.store.get(&key).await.unwrap().expect("stored");
    assert_eq!(&object.data[..], b"\x89PNG\r\n\x1a\nrest-of-image");
    assert_eq!(object.content_type, "image/png");
    assert_eq!(&f.store.read_start(&key, 8).await.unwrap().unwrap()[..], b"\x89PNG\r\n\x1a\n");
    assert_eq!(
        f.store.read_start(&key, 1000).await.unwrap().unwrap().len(),
        21,
        "short objects read whole"
    );

    // Replacing keeps one object with the new content.
    f.store.put(&key, b"GIF89a-new".to_vec().into(), "image/gif").await.unwrap();
    assert_eq!(
        f.store.head(&key).await.unwrap(),
        Some(ObjectMeta { size: 10, content_type: "image/gif".into() })
    );

    f.store.delete(&key).await.unwrap();
    assert!(f.store.head(&key).await.unwrap().is_none(), "deleted");
    f.store.delete(&key).await.unwrap();
}

async fn a_file_body_is_streamed_whole(f: Fixture) {
    let key = key(shop(), "products/p1/big.jpg");
    let data: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
    let path = std::env::temp_dir().join(format!("shopfleet-body-{}", Uuid::new_v4().simple()));
    tokio::fs::write(&path, &data).await.unwrap();
    let file = tokio::fs::File::open(&path).await.unwrap();
    f.store
        .put(&key, ObjectBody::File { file, len: data.len() as u64 }, "image/jpeg")
        .await
        .unwrap();
    tokio::fs::remove_file(&path).await.unwrap();
    let object = f.store.get(&key).await.unwrap().expect("stored");
    assert_eq!(object.data.len(), data.len());
    assert!(object.data[..] == data[..], "same bytes");
}

async fn deleting_a_shops_prefix_leaves_other_shops_alone(f: Fixture) {
    let (a, b) = (shop(), shop());
    let keys_of_a =
        [key(a, "products/p1/1.png"), key(a, "products/p1/2.png"), key(a, "products/p2/3.png")];
    for key in &keys_of_a {
        f.store.put(key, b"GIF89a".to_vec().into(), "image/gif").await.unwrap();
    }
    let key_of_b = key(b, "products/p1/1.png");
    f.store.put(&key_of_b, b"GIF89a".to_vec().into(), "image/gif").await.unwrap();

    assert_eq!(f.store.delete_prefix(&KeyPrefix::shop(a)).await.unwrap(), 3);
    for key in &keys_of_a {
        assert!(f.store.head(key).await.unwrap().is_none(), "{key} survived");
    }
    assert!(f.store.head(&key_of_b).await.unwrap().is_some(), "another shop's object was deleted");
    assert_eq!(f.store.delete_prefix(&KeyPrefix::shop(a)).await.unwrap(), 0, "idempotent");
    // A folder prefix stops at its own folder.
    let (one, two) = (key(b, "products/p2/x.png"), key(b, "products/p22/y.png"));
    for key in [&one, &two] {
        f.store.put(key, b"GIF89a".to_vec().into(), "image/gif").await.unwrap();
    }
    assert_eq!(
        f.store.delete_prefix(&KeyPrefix::folder(b, "products/p2").unwrap()).await.unwrap(),
        1
    );
    assert!(f.store.head(&two).await.unwrap().is_some(), "products/p22 is not under products/p2/");
}

async fn a_presigned_put_uploads_exactly_that_object(f: Fixture) {
    let key = key(shop(), "products/p1/direct.png");
    let body = b"\x89PNG\r\n\x1a\nuploaded directly".to_vec();
    let presigned = f
        .store
        .presign_put(&key, "image/png", body.len() as u64, Duration::from_secs(300))
        .await
        .unwrap();
    assert_eq!(presigned.method, "PUT");
    assert!(presigned.url.contains(key.as_str()), "the URL names the key: {}", presigned.url);
    let mut request = f.http.put(&presigned.url).body(body.clone());
    for (name, value) in &presigned.headers {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    assert!(response.status().is_success(), "PUT to the presigned URL: {}", response.status());
    assert_eq!(
        f.store.head(&key).await.unwrap(),
        Some(ObjectMeta { size: body.len() as u64, content_type: "image/png".into() })
    );
}

async fn a_read_url_serves_the_object_and_is_stable(f: Fixture) {
    let key = key(f.live_shop().await, "products/p1/shown.webp");
    f.store.put(&key, b"RIFF\x04\x00\x00\x00WEBPVP8 ".to_vec().into(), "image/webp").await.unwrap();
    let url = f.store.get_url(&key, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(
        url,
        f.store.get_url(&key, Duration::from_secs(3600)).await.unwrap(),
        "same URL within its window"
    );
    let response = f.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/webp");
    assert_eq!(&response.bytes().await.unwrap()[..], b"RIFF\x04\x00\x00\x00WEBPVP8 ");
}

/// The local store checks its signatures itself: another key, another type, another length or
/// an unsigned URL is refused, and nothing is written.
#[tokio::test]
async fn a_local_signed_url_is_refused_for_any_other_key_type_or_length() {
    let f = Fixture::local().await;
    let (a, b) = (f.live_shop().await, shop());
    let key_of_a = key(a, "products/p1/a.png");
    let body = b"\x89PNG\r\n\x1a\n12345".to_vec();
    let presigned = f
        .store
        .presign_put(&key_of_a, "image/png", body.len() as u64, Duration::from_secs(300))
        .await
        .unwrap();
    let put = |url: String, content_type: &'static str, body: Vec<u8>| {
        let http = f.http.clone();
        async move {
            http.put(url).header("content-type", content_type).body(body).send().await.unwrap()
        }
    };
    let b_prefix = format!("shops/{}/", b.0);
    let under_b = presigned.url.replace(&format!("shops/{}/", a.0), &b_prefix);
    let traversal =
        presigned.url.replace("products/p1/a.png", &format!("../../{b_prefix}products/p1/a.png"));
    for (url, content_type, body, why) in [
        (under_b, "image/png", body.clone(), "another shop's prefix"),
        (traversal, "image/png", body.clone(), "a traversal to another shop"),
        (presigned.url.clone(), "text/html", body.clone(), "another content type"),
        (presigned.url.clone(), "image/png", [&body[..], b"more"].concat(), "a longer body"),
        (
            presigned.url.split('?').next().unwrap().to_owned(),
            "image/png",
            body.clone(),
            "no signature",
        ),
    ] {
        let response = put(url, content_type, body).await;
        let status = response.status();
        let error: serde_json::Value = response.json().await.unwrap_or_default();
        assert_eq!(status, StatusCode::FORBIDDEN, "{why}: {error}");
        assert_eq!(error["error"]["code"], "invalid_signature", "{why}");
    }
    assert!(
        f.store.head(&key(b, "products/p1/a.png")).await.unwrap().is_none(),
        "nothing written under shop B"
    );
    assert!(f.store.head(&key_of_a).await.unwrap().is_none(), "nothing written by a refused PUT");

    // A read URL, too, is for its key only.
    f.store.put(&key_of_a, body.clone().into(), "image/png").await.unwrap();
    let url = f.store.get_url(&key_of_a, Duration::from_secs(3600)).await.unwrap();
    let response =
        f.http.get(url.replace(&format!("shops/{}/", a.0), &b_prefix)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = f.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// S3 checks presigned URLs itself; moto does not verify signatures, so what can be shown here
/// is what the URL binds: the bucket and exact key in the path, and the content type and
/// length among the signed headers (real S3 refuses a request that differs from them).
#[tokio::test]
async fn an_s3_presigned_put_signs_key_type_and_length() {
    let f = Fixture::s3().await;
    let key = key(shop(), "products/p1/a.png");
    let presigned =
        f.store.presign_put(&key, "image/png", 1234, Duration::from_secs(300)).await.unwrap();
    let url = reqwest::Url::parse(&presigned.url).unwrap();
    assert!(url.path().ends_with(&format!("/{key}")), "path-style URL of the exact key: {url}");
    let signed: String = url
        .query_pairs()
        .find(|(name, _)| name == "X-Amz-SignedHeaders")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    for header in ["content-length", "content-type", "host"] {
        assert!(signed.split(';').any(|h| h == header), "{header} is not signed: {signed}");
    }
    let headers: std::collections::HashMap<String, String> =
        presigned.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect();
    assert_eq!(headers.get("content-type").map(String::as_str), Some("image/png"));
    assert_eq!(headers.get("content-length").map(String::as_str), Some("1234"));
    let expires: u64 = url
        .query_pairs()
        .find(|(name, _)| name == "X-Amz-Expires")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_default();
    assert_eq!(expires, 300);
}
