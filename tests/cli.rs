//! The `shopfleet` command line, run as a real process against the test database.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

/// How long a change made by the CLI may take to reach the running server (NOTIFY).
const WAIT: Duration = Duration::from_secs(5);

fn shopfleet(args: &[&str], envs: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shopfleet"));
    command.args(args).env("DATABASE_URL", database_url()).env("RUST_LOG", "warn");
    for (key, value) in envs {
        command.env(key, value);
    }
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("run shopfleet");
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("wait for shopfleet")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn a_shop_created_on_the_command_line_is_served_migrated_suspended_and_purged() {
    let app = TestApp::spawn().await;
    let slug = random_slug("cli");
    let email = format!("owner@{slug}.example.com");
    let out = stdout(&shopfleet(
        &[
            "shop",
            "create",
            "--slug",
            &slug,
            "--name",
            "CLI Shop",
            "--currency",
            "eur",
            "--owner-email",
            &email,
        ],
        &[("SHOPFLEET_OWNER_PASSWORD", PASSWORD)],
        None,
    ));
    assert!(out.contains(&format!("shop {slug} created")), "{out}");
    let token = app.login(&slug, "/v1/admin/auth/login", &email).await;
    let (_, settings) = app.as_token(&token, &slug, Method::GET, "/v1/admin/shop", None).await;
    assert_eq!(settings["currency"], "EUR");

    let out = stdout(&shopfleet(&["migrate", "--shop", &slug], &[], None));
    assert!(out.contains("0 migrated, 0 failed"), "{out}");
    let out = stdout(&shopfleet(&["migrate", "--status"], &[], None));
    let line = out.lines().find(|l| l.starts_with(&slug)).unwrap_or_default().to_owned();
    assert!(
        line.contains("active") && line.trim_end().ends_with(" 0"),
        "no pending work for {slug}: {line:?}"
    );

    stdout(&shopfleet(&["shop", "suspend", &slug], &[], None));
    // The server hears of it through NOTIFY, a moment after the command's commit.
    let (status, err) = eventually("the suspension to reach the server", WAIT, || async {
        let (status, err) =
            read(app.shop(Method::GET, &slug, "/v1/store/products").send().await.unwrap()).await;
        (status != StatusCode::OK).then_some((status, err))
    })
    .await;
    assert_error(status, &err, StatusCode::FORBIDDEN, "shop_suspended");
    let (actor, action): (String, String) = sqlx::query_as(
        "select actor_kind, action from platform.audit_log where shop_id = (select id from platform.shops where slug = $1) order by id desc limit 1",
    )
    .bind(&slug)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((actor.as_str(), action.as_str()), ("cli", "shop.suspend"));

    let refused = shopfleet(&["shop", "purge", &slug], &[], None);
    assert!(!refused.status.success(), "an undeleted shop must not be purged");
    stdout(&shopfleet(&["shop", "delete", &slug], &[], None));
    stdout(&shopfleet(&["shop", "purge", &slug], &[], None));
    let schema_left: bool =
        sqlx::query_scalar("select exists (select 1 from pg_namespace where nspname = $1)")
            .bind(format!("shop_{}", slug.replace('-', "_")))
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(!schema_left);
}

#[tokio::test]
async fn a_platform_admin_created_with_a_password_on_stdin_can_log_in() {
    let app = TestApp::spawn().await;
    let email = format!("{}@ops.example.com", random_slug("admin"));
    let out = stdout(&shopfleet(
        &["admin", "create", "--email", &email],
        &[],
        Some(&format!("{PASSWORD}\n")),
    ));
    assert!(out.contains("created"), "{out}");
    let (status, body) = read(
        app.platform(Method::POST, "/v1/platform/auth/login")
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let duplicate = shopfleet(
        &["admin", "create", "--email", &email],
        &[("SHOPFLEET_ADMIN_PASSWORD", PASSWORD)],
        None,
    );
    assert!(!duplicate.status.success());
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("email_taken"));
    let weak = shopfleet(
        &["admin", "create", "--email", "weak@ops.example.com"],
        &[("SHOPFLEET_ADMIN_PASSWORD", "short")],
        None,
    );
    assert!(!weak.status.success());
}

#[test]
fn openapi_prints_the_document_without_a_database() {
    let output = Command::new(env!("CARGO_BIN_EXE_shopfleet"))
        .arg("openapi")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let spec: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert!(spec["paths"]["/v1/signup"]["post"].is_object());
}

#[test]
fn help_never_prints_the_database_password_or_other_secrets() {
    for args in [&["serve", "--help"][..], &["migrate", "--help"][..]] {
        let output = Command::new(env!("CARGO_BIN_EXE_shopfleet"))
            .args(args)
            .env("DATABASE_URL", "postgres://app:db-password-123@db.internal/shopfleet")
            .env("JWT_SECRET", "jwt-secret-value-jwt-secret-value-123")
            .env("MEILI_API_KEY", "meili-key-value")
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(help.contains("DATABASE_URL"), "the help names the variable: {help}");
        for secret in ["db-password-123", "jwt-secret-value", "meili-key-value"] {
            assert!(!help.contains(secret), "{args:?} --help printed {secret}");
        }
    }
}
