//! The API's own surface: health, readiness, the OpenAPI document and Swagger UI.

mod common;

use common::*;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn().await;
    let (status, body) = read(app.platform(Method::GET, "/healthz").send().await.unwrap()).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (status, body) = read(app.platform(Method::GET, "/readyz").send().await.unwrap()).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ready")));
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_a_sane_incoming_one() {
    let app = TestApp::spawn().await;
    let response = app
        .platform(Method::GET, "/healthz")
        .header("X-Request-Id", "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-123");
    let response = app
        .platform(Method::GET, "/nowhere")
        .header("X-Request-Id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let generated = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(generated, "bad id with spaces");
    let (_, body) = read(response).await;
    assert_eq!(body["error"]["request_id"], generated, "the error body names the same request id");
}

#[tokio::test]
async fn the_openapi_document_lists_operations_with_their_error_statuses() {
    let app = TestApp::spawn().await;
    let (status, spec) =
        read(app.platform(Method::GET, "/openapi.json").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let signup = &spec["paths"]["/v1/signup"]["post"]["responses"];
    for code in ["201", "409", "422"] {
        assert!(signup.get(code).is_some(), "signup lacks {code}: {signup}");
    }
    assert!(spec["paths"]["/v1/admin/products/{id}"]["get"]["security"].is_array());
    assert!(spec["components"]["schemas"]["ErrorBody"].is_object());

    let response = app.platform(Method::GET, "/docs").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("swagger"), "Swagger UI page");
}

#[tokio::test]
async fn an_oversized_body_is_refused_whole() {
    let app = TestApp::spawn().await;
    let huge = format!("{{\"slug\": \"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let (status, body) = read(
        app.platform(Method::POST, "/v1/signup")
            .header("content-type", "application/json")
            .body(huge.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    // Without a Content-Length (chunked), the body is cut off at the limit: a 400, no signup.
    let stream = futures::stream::iter(
        huge.into_bytes()
            .chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let response = app
        .platform(Method::POST, "/v1/signup")
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
}

/// Reads one HTTP/1.1 response with a `Content-Length` body: (status line, lowercased headers).
async fn read_raw_response<R: tokio::io::AsyncBufRead + Unpin>(
    stream: &mut R,
) -> (String, Vec<(String, String)>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let mut status = String::new();
    stream.read_line(&mut status).await.unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).await.unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_ascii_lowercase()));
    }
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .map_or(0, |(_, value)| value.parse().unwrap());
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.unwrap();
    (status.trim_end().to_owned(), headers)
}

#[tokio::test]
async fn a_keep_alive_connection_still_works_after_a_body_over_the_limit() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn().await;
    let stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    let body = vec![b'x'; 1024 * 1024 + 100];
    let head = format!(
        "POST /v1/signup HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    // The body is written while the answer is read: the server may answer before reading it.
    let send = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        writer.write_all(&body).await?;
        writer.flush().await?;
        Ok::<_, std::io::Error>(writer)
    });
    let mut reader = tokio::io::BufReader::new(reader);
    let (status, _) = read_raw_response(&mut reader).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    let mut writer = send.await.unwrap().expect("the whole body could be sent");
    writer
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("the connection is still open");
    let (status, _) = read_raw_response(&mut reader).await;
    assert!(status.starts_with("HTTP/1.1 200"), "the next request on the connection: {status}");
}

#[tokio::test]
async fn a_body_too_large_to_read_away_is_refused_with_connection_close() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn().await;
    let stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    // Only the head: a client announcing 1 GiB must be told the connection ends here.
    writer
        .write_all(
            b"POST /v1/signup HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
              Content-Length: 1073741824\r\n\r\n",
        )
        .await
        .unwrap();
    let mut reader = tokio::io::BufReader::new(reader);
    let (status, headers) = read_raw_response(&mut reader).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    assert!(
        headers.iter().any(|(name, value)| name == "connection" && value == "close"),
        "{headers:?}"
    );
}

#[tokio::test]
async fn a_nul_character_anywhere_in_client_text_is_a_422_naming_the_field() {
    use serde_json::json;

    let app = TestApp::spawn().await;
    let shop = app.signup("nul").await;
    let product = app.product(&shop, "Plain", 1000).await;
    let (product_id, variant_id) =
        (product["id"].as_str().unwrap(), product["variants"][0]["id"].as_str().unwrap());
    let customer = app.customer_token(&shop).await;
    let nul = "a\u{0}b";
    let address = json!({ "name": "Lan", "line1": nul, "city": "Hanoi", "postal_code": "1", "country": "vn" });

    // (who, method, path, body, field named in the answer)
    let cases: Vec<(&str, Method, String, Option<serde_json::Value>, &str)> = vec![
        ("guest", Method::GET, "/v1/store/products?q=%00".into(), None, "q"),
        ("guest", Method::GET, "/v1/store/products?category=%00".into(), None, "category"),
        ("guest", Method::GET, "/v1/store/products?cursor=%00".into(), None, "cursor"),
        ("guest", Method::GET, "/v1/store/search?q=tee%00".into(), None, "q"),
        ("guest", Method::GET, "/v1/store/products/%00".into(), None, "path"),
        ("owner", Method::DELETE, "/v1/admin/roles/%00".into(), None, "path"),
        ("owner", Method::GET, "/v1/admin/orders?email=x%00%40example.com".into(), None, "email"),
        ("owner", Method::GET, "/v1/admin/products?q=%00".into(), None, "q"),
        ("owner", Method::GET, "/v1/admin/customers?q=%00".into(), None, "q"),
        (
            "owner",
            Method::POST,
            "/v1/admin/products".into(),
            Some(json!({ "name": nul, "variants": [{ "price": 1 }] })),
            "name",
        ),
        (
            "owner",
            Method::POST,
            "/v1/admin/products".into(),
            Some(json!({ "name": "ok", "variants": [{ "price": 1, "sku": nul }] })),
            "variants[0].sku",
        ),
        (
            "owner",
            Method::PATCH,
            format!("/v1/admin/products/{product_id}"),
            Some(json!({ "description": nul })),
            "description",
        ),
        (
            "owner",
            Method::POST,
            "/v1/admin/categories".into(),
            Some(json!({ "name": nul })),
            "name",
        ),
        (
            "owner",
            Method::POST,
            "/v1/admin/discounts".into(),
            Some(json!({ "code": nul, "kind": "percentage", "value": 10 })),
            "code",
        ),
        (
            "owner",
            Method::PUT,
            "/v1/admin/search/synonyms".into(),
            Some(json!({ "synonyms": { "tee": ["t-shirt", nul] } })),
            "synonyms.tee[1]",
        ),
        (
            "owner",
            Method::PUT,
            "/v1/admin/search/synonyms".into(),
            Some(json!({ "synonyms": { nul: ["x"] } })),
            "synonyms",
        ),
        (
            "owner",
            Method::POST,
            format!("/v1/admin/variants/{variant_id}/stock-adjustments"),
            Some(json!({ "delta": 1, "reason": "other", "note": nul })),
            "note",
        ),
        (
            "owner",
            Method::POST,
            "/v1/admin/staff".into(),
            Some(json!({ "email": nul, "role": "staff", "password": PASSWORD })),
            "email",
        ),
        ("owner", Method::PATCH, "/v1/admin/shop".into(), Some(json!({ "name": nul })), "name"),
        (
            "guest",
            Method::POST,
            "/v1/admin/auth/login".into(),
            Some(json!({ "email": nul, "password": PASSWORD })),
            "email",
        ),
        (
            "guest",
            Method::POST,
            "/v1/store/auth/login".into(),
            Some(json!({ "email": nul, "password": PASSWORD })),
            "email",
        ),
        (
            "platform",
            Method::POST,
            "/v1/platform/auth/login".into(),
            Some(json!({ "email": nul, "password": PASSWORD })),
            "email",
        ),
        (
            "platform",
            Method::POST,
            "/v1/signup".into(),
            Some(json!({ "slug": "nul-shop", "name": nul, "currency": "USD",
                         "owner_email": "o@example.com", "owner_password": PASSWORD })),
            "name",
        ),
        (
            "guest",
            Method::POST,
            "/v1/store/customers".into(),
            Some(json!({ "email": "n@example.com", "password": PASSWORD, "first_name": nul })),
            "first_name",
        ),
        (
            "customer",
            Method::POST,
            "/v1/store/cart/discount".into(),
            Some(json!({ "code": nul })),
            "code",
        ),
        ("customer", Method::POST, "/v1/store/me/addresses".into(), Some(address.clone()), "line1"),
        (
            "customer",
            Method::POST,
            "/v1/store/checkout".into(),
            Some(json!({ "shipping_address": address, "shipping_method_id": variant_id,
                         "payment": { "method": "manual" } })),
            "shipping_address.line1",
        ),
    ];
    for (who, method, path, body, field) in cases {
        let mut request = match who {
            "platform" => app.platform(method.clone(), &path),
            _ => app.shop(method.clone(), &shop.slug, &path),
        };
        request = match who {
            "owner" => request.bearer_auth(&shop.token),
            "customer" => request.bearer_auth(&customer),
            _ => request,
        };
        request = request.header("Idempotency-Key", "nul-test");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, answer) = read(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{method} {path}: {answer}");
        assert_error(status, &answer, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(answer["error"]["field"], field, "{method} {path}: {answer}");
    }

    // A cursor is decoded after the edge: one hiding a NUL was never given out.
    use base64::Engine;
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({ "Name": [nul, uuid::Uuid::nil()] }).to_string());
    let (status, body) = read(
        app.shop(Method::GET, &shop.slug, &format!("/v1/store/products?sort=name&cursor={forged}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_cursor");
}

#[tokio::test]
async fn a_method_a_route_does_not_answer_is_a_405_whose_allow_header_lists_the_methods_it_does() {
    let app = TestApp::spawn().await;
    let shop = app.signup("allow").await;

    let cases = [
        // (method, path, the route's methods)
        (Method::PUT, "/v1/signup".to_owned(), "POST"),
        (Method::DELETE, "/v1/admin/products".to_owned(), "GET, POST, HEAD"),
        (
            Method::PUT,
            format!("/v1/admin/products/{}", uuid::Uuid::new_v4()),
            "GET, PATCH, DELETE, HEAD",
        ),
        // A literal segment is its own route, not the `{name}` next to it.
        (Method::DELETE, "/v1/admin/roles/permissions".to_owned(), "GET, HEAD"),
        (Method::POST, "/healthz".to_owned(), "GET, HEAD"),
    ];
    for (method, path, allowed) in cases {
        let response = app
            .shop(method.clone(), &shop.slug, &path)
            .bearer_auth(&shop.token)
            .send()
            .await
            .unwrap();
        let allow = response.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
        let (status, body) = read(response).await;
        assert_error(status, &body, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        let mut allow: Vec<String> =
            allow.unwrap_or_default().split(", ").map(str::to_owned).collect();
        let mut expected: Vec<String> = allowed.split(", ").map(str::to_owned).collect();
        allow.sort();
        expected.sort();
        assert_eq!(allow, expected, "Allow of {method} {path}");
    }
}

#[tokio::test]
async fn the_openapi_document_declares_nullable_fields_and_the_limits_the_server_enforces() {
    let app = TestApp::spawn().await;
    let (_, spec) = read(app.platform(Method::GET, "/openapi.json").send().await.unwrap()).await;
    let schemas = &spec["components"]["schemas"];
    assert_eq!(schemas["ProductPage"]["properties"]["next_cursor"]["nullable"], true);
    let signup = &schemas["SignupRequest"]["properties"];
    assert_eq!(signup["name"]["maxLength"], 100);
    assert_eq!(
        (signup["slug"]["minLength"].as_u64(), signup["slug"]["maxLength"].as_u64()),
        (Some(3), Some(40))
    );
    let limit = spec["paths"]["/v1/admin/products"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()["schema"]
        .clone();
    assert_eq!((limit["minimum"].as_f64(), limit["maximum"].as_f64()), (Some(1.0), Some(100.0)));
}

#[tokio::test]
async fn a_value_breaking_a_declared_constraint_is_a_422_naming_the_field() {
    use serde_json::json;

    let app = TestApp::spawn().await;
    let shop = app.signup("limits").await;
    let long_name = "x".repeat(201);
    let cases: Vec<(Method, &str, Option<serde_json::Value>, &str)> = vec![
        (Method::GET, "/v1/admin/products?limit=0", None, "limit"),
        (Method::GET, "/v1/admin/orders?limit=101", None, "limit"),
        (
            Method::POST,
            "/v1/admin/products",
            Some(json!({ "name": long_name, "variants": [{ "price": 1 }] })),
            "name",
        ),
        (Method::POST, "/v1/admin/categories", Some(json!({ "name": "   " })), "name"),
        (
            Method::PATCH,
            "/v1/admin/checkout-settings",
            Some(json!({ "tax_rate_bp": 10_001 })),
            "tax_rate_bp",
        ),
    ];
    for (method, path, body, field) in cases {
        let (status, body) = app.owner(&shop, method.clone(), path, body).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["error"]["field"], field, "{method} {path}: {body}");
    }
    // On a storefront too, without a token.
    let (status, body) = read(
        app.shop(Method::GET, &shop.slug, "/v1/store/products?min_price=-1").send().await.unwrap(),
    )
    .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(body["error"]["field"], "min_price");
}
