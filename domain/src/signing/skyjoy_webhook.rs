//! SkyJoy ("GalaxyJoy") webhook signature (counterparts.md §1.9).
//!
//! Header `gj-signature: t=<unix ms>,v1=<hex>` where
//! `v1 = lowercase_hex(HMAC_SHA256(endpoint_secret, t + "." + raw_body))`.
//! The signed string is the decimal `t` exactly as in the header, one dot, then the request
//! body bytes exactly as sent. Receivers accept any of several `v1` entries (secret rotation)
//! and refuse a `t` outside their tolerance window.

use super::{decode_hex_tag, hmac_sha256, verify_hmac_sha256, SignatureError, TimestampWindow};

pub const HEADER: &str = "gj-signature";

fn signed_string(t_ms: i64, body: &[u8]) -> Vec<u8> {
    let mut s = Vec::with_capacity(body.len() + 16);
    s.extend_from_slice(t_ms.to_string().as_bytes());
    s.push(b'.');
    s.extend_from_slice(body);
    s
}

/// The `gj-signature` header value for a delivery of `body` at `t_ms`.
pub fn sign(secret: &[u8], t_ms: i64, body: &[u8]) -> String {
    format!("t={t_ms},v1={}", hex::encode(hmac_sha256(secret, &signed_string(t_ms, body))))
}

/// Verifies a `gj-signature` header; returns the signed timestamp (ms) on success.
pub fn verify(secret: &[u8], header: &str, body: &[u8], window: TimestampWindow, now_ms: i64) -> Result<i64, SignatureError> {
    let mut t = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or(SignatureError::Malformed("gj-signature part without '='"))?;
        match k.trim() {
            "t" if t.is_none() => {
                t = Some(v.trim().parse::<i64>().map_err(|_| SignatureError::Malformed("t is not a number"))?)
            }
            "t" => return Err(SignatureError::Malformed("t given twice")),
            "v1" => candidates.push(v.trim()),
            _ => {} // other schemes (v0, future versions) are ignored, as Stripe-style receivers do
        }
    }
    let t = t.ok_or(SignatureError::Malformed("t is missing"))?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed("no v1 signature"));
    }
    window.check_ms(t, now_ms)?;
    let msg = signed_string(t, body);
    for candidate in candidates {
        let tag = decode_hex_tag(candidate)?;
        if verify_hmac_sha256(secret, &msg, &tag).is_ok() {
            return Ok(t);
        }
    }
    Err(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Fixture {
        t: i64,
        secret: String,
        body: String,
        header: String,
    }

    fn fixture() -> Fixture {
        serde_json::from_str(include_str!("../../tests/fixtures/signing/skyjoy_webhook.json")).unwrap()
    }

    const WINDOW: TimestampWindow = TimestampWindow::FIVE_MINUTES;

    #[test]
    fn openssl_vector() {
        let f = fixture();
        assert_eq!(sign(f.secret.as_bytes(), f.t, f.body.as_bytes()), f.header);
        assert_eq!(verify(f.secret.as_bytes(), &f.header, f.body.as_bytes(), WINDOW, f.t + 10), Ok(f.t));
    }

    #[test]
    fn any_of_several_v1_entries_and_spaces_are_accepted() {
        let f = fixture();
        let v1 = f.header.split("v1=").nth(1).unwrap();
        let header = format!("t={}, v1={}, v0=abc, v1={v1}", f.t, "00".repeat(32));
        assert_eq!(verify(f.secret.as_bytes(), &header, f.body.as_bytes(), WINDOW, f.t), Ok(f.t));
    }

    #[test]
    fn refuses_tampering_stale_and_malformed() {
        let f = fixture();
        let (s, b) = (f.secret.as_bytes(), f.body.as_bytes());
        assert_eq!(verify(s, &f.header, b" ", WINDOW, f.t), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"other", &f.header, b, WINDOW, f.t), Err(SignatureError::Mismatch));
        assert_eq!(verify(s, &f.header, b, WINDOW, f.t + 300_001), Err(SignatureError::Stale));
        let moved_t = f.header.replacen(&f.t.to_string(), &(f.t + 1).to_string(), 1);
        assert_eq!(verify(s, &moved_t, b, WINDOW, f.t), Err(SignatureError::Mismatch));
        for bad in ["", "t=1", "v1=ab", "t=x,v1=ab", "t=1,t=1,v1=ab", "garbage"] {
            assert!(matches!(verify(s, bad, b, WINDOW, 1), Err(SignatureError::Malformed(_))), "{bad}");
        }
    }
}
