//! Custom domains in tests: the records of the loopback DNS server that `scripts/test.sh`
//! starts (`TEST_DNS_RECORDS_DIR`: one file per name, one TXT value per line; the servers under
//! test ask it through `DNS_RESOLVER`), unique hostnames (tests run in parallel processes and
//! share the server), and a verified domain in one step.

use std::path::PathBuf;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{TestApp, TestShop};

fn records_dir() -> PathBuf {
    std::env::var_os("TEST_DNS_RECORDS_DIR")
        .map(PathBuf::from)
        .expect("TEST_DNS_RECORDS_DIR is not set: run the tests through scripts/test.sh")
}

/// A hostname no other test uses, e.g. `www.dom-3f2a9c0b1d.test`.
pub fn unique_hostname(prefix: &str) -> String {
    format!("www.{}.test", super::random_slug(prefix))
}

/// Makes `values` the TXT records of `name` (replacing any), atomically for the server.
pub fn set_txt(name: &str, values: &[&str]) {
    let dir = records_dir();
    let temporary = dir.join(format!(".{name}.{}", uuid::Uuid::new_v4().simple()));
    let mut text = values.join("\n");
    text.push('\n');
    std::fs::write(&temporary, text).expect("write the TXT record file");
    std::fs::rename(&temporary, dir.join(name)).expect("move the TXT record file in place");
}

/// Makes the server answer SERVFAIL for `name`.
pub fn set_servfail(name: &str) {
    set_txt(name, &["!servfail"]);
}

/// Removes every record of `name`: the name no longer exists (NXDOMAIN).
pub fn remove_txt(name: &str) {
    let _ = std::fs::remove_file(records_dir().join(name));
}

/// The record name and value a domain of the API asks for.
pub fn record_of(domain: &Value) -> (String, String) {
    let record = &domain["dns_record"];
    assert_eq!(record["type"], "TXT", "{domain}");
    (
        record["name"].as_str().expect("dns_record.name").to_owned(),
        record["value"].as_str().expect("dns_record.value").to_owned(),
    )
}

impl TestApp {
    /// Claims `hostname` for `shop` (201) and returns the domain.
    pub async fn claim_domain(&self, shop: &TestShop, hostname: &str) -> Value {
        let (status, body) = self
            .owner(shop, Method::POST, "/v1/admin/domains", Some(json!({ "hostname": hostname })))
            .await;
        assert_eq!(status, StatusCode::CREATED, "claiming {hostname}: {body}");
        body
    }

    /// `POST /v1/admin/domains/{id}/verify` as the shop's owner.
    pub async fn verify_domain(&self, shop: &TestShop, domain: &Value) -> (StatusCode, Value) {
        let id = domain["id"].as_str().expect("domain id");
        self.owner(shop, Method::POST, &format!("/v1/admin/domains/{id}/verify"), None).await
    }

    /// Claims `hostname`, publishes its TXT record and verifies it; returns the verified domain.
    pub async fn verified_domain(&self, shop: &TestShop, hostname: &str) -> Value {
        let claim = self.claim_domain(shop, hostname).await;
        let (name, value) = record_of(&claim);
        set_txt(&name, &[&value]);
        let (status, body) = self.verify_domain(shop, &claim).await;
        assert_eq!(status, StatusCode::OK, "verifying {hostname}: {body}");
        assert_eq!(body["verified"], true, "{body}");
        body
    }
}
