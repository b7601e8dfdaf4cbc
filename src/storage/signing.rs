//! Signed, expiring URLs of the local store, served by the application itself under
//! `/v1/objects/<key>` so that the direct-upload flow works without S3.
//!
//! A URL carries `x-expires` (Unix seconds) and `x-signature`, an HMAC-SHA256 over the method,
//! the exact key, the expiry and, for a PUT, the exact content type and length
//! (`x-type`, `x-length`). Changing any of them — another key, another shop's prefix, a longer
//! body — breaks the signature.
//!
//! Rule: the signing key is derived from the server's secret with its own label, so an object
//! URL can never be mistaken for a token, nor a token for an object URL.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::ObjectKey;

type HmacSha256 = Hmac<Sha256>;

/// What a signed URL allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    Get,
    Put { content_type: String, content_length: u64 },
}

#[derive(Clone)]
pub struct UrlSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlSigner(<redacted>)")
    }
}

impl UrlSigner {
    /// Derives the object-URL key from the server's secret.
    pub fn new(secret: &[u8]) -> Self {
        let mut mac = hmac(secret);
        mac.update(b"shopfleet object urls v1");
        Self { key: mac.finalize().into_bytes().into() }
    }

    fn mac(&self, key: &ObjectKey, grant: &Grant, expires: u64) -> HmacSha256 {
        let mut mac = hmac(&self.key);
        let payload = match grant {
            Grant::Get => format!("GET\n{key}\n{expires}"),
            Grant::Put { content_type, content_length } => {
                format!(
                    "PUT\n{key}\n{expires}\n{}\n{content_length}",
                    content_type.to_ascii_lowercase()
                )
            }
        };
        mac.update(payload.as_bytes());
        mac
    }

    /// The query string (without `?`) of a URL granting `grant` on `key` until `expires`.
    pub fn query(&self, key: &ObjectKey, grant: &Grant, expires: u64) -> String {
        let signature = hex::encode(self.mac(key, grant, expires).finalize().into_bytes());
        match grant {
            Grant::Get => format!("x-expires={expires}&x-signature={signature}"),
            Grant::Put { content_type, content_length } => format!(
                "x-type={}&x-length={content_length}&x-expires={expires}&x-signature={signature}",
                encode_component(content_type)
            ),
        }
    }

    /// Checks a signature in constant time; `false` for a bad or expired one.
    pub fn verify(
        &self,
        key: &ObjectKey,
        grant: &Grant,
        expires: u64,
        signature_hex: &str,
    ) -> bool {
        let Ok(signature) = hex::decode(signature_hex) else {
            return false;
        };
        self.mac(key, grant, expires).verify_slice(&signature).is_ok()
    }
}

fn hmac(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC-SHA256 takes keys of any length")
}

pub fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::tenancy::ShopId;

    #[test]
    fn a_signature_binds_key_method_type_length_and_expiry() {
        let signer = UrlSigner::new(b"a secret of the server, long enough");
        let (a, b) = (ShopId(Uuid::now_v7()), ShopId(Uuid::now_v7()));
        let key = ObjectKey::new(a, "products/p/m.png").unwrap();
        let put = Grant::Put { content_type: "image/png".into(), content_length: 10 };
        let query = signer.query(&key, &put, 1000);
        let signature = query.rsplit_once("x-signature=").unwrap().1;
        assert!(signer.verify(&key, &put, 1000, signature));
        assert!(!signer.verify(&key, &put, 1001, signature), "expiry is signed");
        assert!(!signer.verify(&key, &Grant::Get, 1000, signature), "method is signed");
        let longer = Grant::Put { content_type: "image/png".into(), content_length: 11 };
        assert!(!signer.verify(&key, &longer, 1000, signature), "length is signed");
        let other_type = Grant::Put { content_type: "text/html".into(), content_length: 10 };
        assert!(!signer.verify(&key, &other_type, 1000, signature), "type is signed");
        let other_shop = ObjectKey::new(b, "products/p/m.png").unwrap();
        assert!(!signer.verify(&other_shop, &put, 1000, signature), "key is signed");
        let other_secret = UrlSigner::new(b"another secret, just as long as that");
        assert!(!other_secret.verify(&key, &put, 1000, signature));
        assert!(!signer.verify(&key, &put, 1000, "zz"));
    }

    #[test]
    fn components_are_percent_encoded() {
        assert_eq!(encode_component("image/png; x=1"), "image%2Fpng%3B%20x%3D1");
    }
}
