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
