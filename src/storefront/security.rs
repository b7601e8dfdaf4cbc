//! The storefront's defences: CSRF tokens bound to the shop, and the response headers every
//! page carries.
//!
//! CSRF: the `sf_csrf` cookie holds a random value; forms carry
//! `HMAC-SHA256(key, shop id ":" value)` with a key derived once from the JWT secret
//! ([`CsrfKey`]). A POST whose `csrf` field is not the token of its cookie is refused before
//! any handler runs (`mod.rs`). Tying
//! the token to the shop means a value obtained on one shop's pages is useless on another's.

use hmac::{Hmac, Mac};
use poem::Response;
use poem::http::HeaderValue;
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::tenancy::ShopId;

/// 32 random bytes, hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Whether a cookie value has the shape of [`random_token`].
pub fn well_formed(value: &str) -> bool {
    value.len() == 64 && value.chars().all(|c| c.is_ascii_hexdigit())
}

/// The key of the storefront's CSRF tokens, derived from the JWT secret once at start-up.
pub struct CsrfKey(Vec<u8>);

impl CsrfKey {
    pub fn derive(secret: &str) -> Self {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
        mac.update(b"shopfleet storefront csrf");
        Self(mac.finalize().into_bytes().to_vec())
    }

    /// The token a form of this shop carries for the `sf_csrf` cookie `value`.
    pub fn token(&self, shop: ShopId, value: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(shop.0.as_bytes());
        mac.update(b":");
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Whether a form sent the `expected` token (constant time).
pub fn same_token(expected: &str, sent: &str) -> bool {
    expected.as_bytes().ct_eq(sent.as_bytes()).into()
}

/// Headers of every page: a Content-Security-Policy that allows no inline script and only this
/// response's one `<style>` (by nonce), no framing, no MIME sniffing, and no full URLs in the
/// `Referer` sent to other sites.
pub fn add_headers(response: &mut Response, nonce: &str) {
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'nonce-{nonce}'; \
         img-src * data:; connect-src 'self'; font-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
    );
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", csp.as_str()),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        ("x-frame-options", "DENY"),
        ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csrf_token_is_valid_for_its_cookie_and_shop_only() {
        let (a, b) = (ShopId(uuid::Uuid::now_v7()), ShopId(uuid::Uuid::now_v7()));
        let (key, other) = (CsrfKey::derive("secret"), CsrfKey::derive("other"));
        let cookie = random_token();
        let token = key.token(a, &cookie);
        assert!(same_token(&key.token(a, &cookie), &token));
        assert!(!same_token(&key.token(b, &cookie), &token), "another shop");
        assert!(!same_token(&key.token(a, &random_token()), &token), "another cookie");
        assert!(!same_token(&other.token(a, &cookie), &token), "another key");
        assert!(!same_token(&key.token(a, &cookie), ""));
    }
}
