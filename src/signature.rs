//! The one signature scheme of HTTP callbacks, in both directions: payment provider callbacks
//! received by the shop, and the shop's outgoing webhooks (`Shopfleet-Signature`).
//!
//! Header value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under a per-shop
//! secret. A receiver recomputes the MAC over the exact bytes it got, compares in constant time
//! and refuses timestamps further than [`TOLERANCE_SECS`] from its clock (replays). Several
//! `v1=` entries may appear (secret rotation); any match is accepted.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// How far a signature's timestamp may be from the receiver's clock.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is missing or malformed")]
    Malformed,
    #[error("the signature's timestamp is outside the 5-minute tolerance")]
    Expired,
    #[error("the signature does not match the body")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length.
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC-SHA256 takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value signing `body` at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// Checks `header` against `body` at time `now` (unix seconds).
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => {
                timestamp = Some(value.parse::<i64>().map_err(|_| SignatureError::Malformed)?)
            }
            Some(("v1", value)) => {
                candidates.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?)
            }
            _ => {}
        }
    }
    let (Some(timestamp), false) = (timestamp, candidates.is_empty()) else {
        return Err(SignatureError::Malformed);
    };
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Expired);
    }
    let expected = mac(secret, timestamp, body).finalize().into_bytes();
    let matched = candidates
        .iter()
        .fold(0u8, |any, candidate| any | expected.as_slice().ct_eq(candidate).unwrap_u8());
    if matched == 1 { Ok(()) } else { Err(SignatureError::Mismatch) }
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";

    #[test]
    fn a_signature_verifies_over_the_same_body_and_time() {
        let header = sign(SECRET, 1_700_000_000, br#"{"a":1}"#);
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(verify(SECRET, &header, br#"{"a":1}"#, 1_700_000_100), Ok(()));
    }

    #[test]
    fn the_mac_is_hmac_sha256_of_timestamp_dot_body() {
        // python3 -c "import hmac,hashlib;print(hmac.new(b'key',b'1.x',hashlib.sha256).hexdigest())"
        assert_eq!(
            sign(b"key", 1, b"x"),
            "t=1,v1=fc4913c41a7bf793267e2a384f3261c9436ec2cd097bd745e7b0d99113f510ec"
        );
    }

    #[test]
    fn another_body_secret_or_time_is_refused() {
        let header = sign(SECRET, 1_700_000_000, b"body");
        assert_eq!(verify(SECRET, &header, b"bodz", 1_700_000_000), Err(SignatureError::Mismatch));
        assert_eq!(
            verify(b"other", &header, b"body", 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(SECRET, &header, b"body", 1_700_000_301), Err(SignatureError::Expired));
        assert_eq!(verify(SECRET, &header, b"body", 1_699_999_699), Err(SignatureError::Expired));
        assert_eq!(verify(SECRET, "t=abc,v1=00", b"body", 0), Err(SignatureError::Malformed));
        assert_eq!(verify(SECRET, "v1=00", b"body", 0), Err(SignatureError::Malformed));
        assert_eq!(verify(SECRET, "t=5", b"body", 5), Err(SignatureError::Malformed));
    }

    #[test]
    fn any_of_several_v1_entries_may_match() {
        let good = sign(SECRET, 10, b"b");
        let header = format!("t=10,v1={},{}", "00".repeat(32), &good[5..]);
        assert_eq!(verify(SECRET, &header, b"b", 10), Ok(()));
    }
}
