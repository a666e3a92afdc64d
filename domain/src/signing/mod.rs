//! Message signatures of the four counterparts, one file each, on shared primitives:
//! HMAC-SHA256 and RSA-SHA256 (PKCS#1 v1.5) sign + verify, constant-time comparison,
//! timestamp windows ([`TimestampWindow`]) and replay protection ([`replay::SeenNonces`]).
//!
//! Each scheme is tested against vectors made by independent implementations
//! (`domain/tests/fixtures/signing/make.sh`: openssl CLI and Python).

pub mod alipay_plus;
pub mod loyalty_task;
pub mod replay;
mod rsa;
pub mod skyjoy_webhook;
pub mod tikivip;

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use self::rsa::{RsaPrivateKey, RsaPublicKey};

/// Why a signed message was refused. Callers map these to their API's own error shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature is missing or malformed: {0}")]
    Malformed(&'static str),
    #[error("signature does not match")]
    Mismatch,
    #[error("timestamp is outside the accepted window")]
    Stale,
    #[error("message was already received")]
    Replayed,
    #[error("unsupported signature algorithm")]
    UnsupportedAlgorithm,
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
}

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of `msg` under `key`.
/// `n` random bytes from the OS-seeded CSPRNG, base64url without padding: bearer tokens, link
/// tokens, nonces.
pub fn random_token(n: usize) -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut raw = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// Byte equality whose time depends only on the lengths, for secrets and their hashes.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks `tag` against HMAC-SHA256(key, msg) in constant time.
pub fn verify_hmac_sha256(key: &[u8], msg: &[u8], tag: &[u8]) -> Result<(), SignatureError> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(msg);
    mac.verify_slice(tag).map_err(|_| SignatureError::Mismatch)
}

/// Decodes a hex signature (either case); anything else is malformed, not a mismatch.
pub(crate) fn decode_hex_tag(hex_tag: &str) -> Result<Vec<u8>, SignatureError> {
    hex::decode(hex_tag.trim()).map_err(|_| SignatureError::Malformed("signature is not hex"))
}

/// How far a signed timestamp may lie in the past or the future of our clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampWindow {
    pub max_age_ms: i64,
    pub max_future_ms: i64,
}

impl TimestampWindow {
    /// Tiki VIP: "must not be older than time_now − 5 minutes" (§4.3); we allow the same skew ahead.
    pub const FIVE_MINUTES: TimestampWindow = TimestampWindow { max_age_ms: 300_000, max_future_ms: 300_000 };

    pub fn check_ms(&self, timestamp_ms: i64, now_ms: i64) -> Result<(), SignatureError> {
        let age = now_ms.saturating_sub(timestamp_ms);
        if age > self.max_age_ms || -age > self.max_future_ms {
            return Err(SignatureError::Stale);
        }
        Ok(())
    }

    /// How long a replay record must be kept to cover every timestamp still accepted.
    pub fn retention_ms(&self) -> i64 {
        self.max_age_ms + self.max_future_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_accepts_inside_and_refuses_outside() {
        let w = TimestampWindow::FIVE_MINUTES;
        let now = 1_700_000_000_000;
        assert_eq!(w.check_ms(now, now), Ok(()));
        assert_eq!(w.check_ms(now - 300_000, now), Ok(()));
        assert_eq!(w.check_ms(now - 300_001, now), Err(SignatureError::Stale));
        assert_eq!(w.check_ms(now + 300_000, now), Ok(()));
        assert_eq!(w.check_ms(now + 300_001, now), Err(SignatureError::Stale));
        assert_eq!(w.check_ms(i64::MIN, now), Err(SignatureError::Stale));
        assert_eq!(w.check_ms(i64::MAX, now), Err(SignatureError::Stale));
    }

    #[test]
    fn hmac_verification_rejects_a_flipped_bit() {
        let tag = hmac_sha256(b"key", b"message");
        assert_eq!(verify_hmac_sha256(b"key", b"message", &tag), Ok(()));
        let mut bad = tag;
        bad[31] ^= 1;
        assert_eq!(verify_hmac_sha256(b"key", b"message", &bad), Err(SignatureError::Mismatch));
        assert_eq!(verify_hmac_sha256(b"key", b"message", &tag[..31]), Err(SignatureError::Mismatch));
    }
}
