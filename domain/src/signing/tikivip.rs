//! Tiki VIP API signature (counterparts.md §4.3), used in both directions:
//! partner → Tiki (webview URL, IPN, transaction check) and Tiki → partner (create, refund).
//!
//! ```text
//! payload         = timestamp + "." + client_key + "." + raw_body
//! encoded_payload = base64url_no_padding(payload)
//! signature       = lowercase_hex(HMAC_SHA256(client_secret, encoded_payload))
//! ```
//! sent as `X-Tikivip-Timestamp` (ms), `X-Tikivip-Client-Id`, `X-Tikivip-Signature`.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

use super::{decode_hex_tag, hmac_sha256, verify_hmac_sha256, SignatureError, TimestampWindow};

pub const HEADER_TIMESTAMP: &str = "x-tikivip-timestamp";
pub const HEADER_SIGNATURE: &str = "x-tikivip-signature";
pub const HEADER_CLIENT_ID: &str = "x-tikivip-client-id";

/// The string that is HMAC'd: base64url (no padding) of `timestamp.client_key.body`.
pub fn encoded_payload(timestamp_ms: i64, client_key: &str, body: &[u8]) -> String {
    let mut payload = Vec::with_capacity(body.len() + client_key.len() + 24);
    payload.extend_from_slice(timestamp_ms.to_string().as_bytes());
    payload.push(b'.');
    payload.extend_from_slice(client_key.as_bytes());
    payload.push(b'.');
    payload.extend_from_slice(body);
    URL_SAFE_NO_PAD.encode(payload)
}

/// The `X-Tikivip-Signature` value for a request or callback body.
pub fn sign(client_secret: &[u8], timestamp_ms: i64, client_key: &str, body: &[u8]) -> String {
    hex::encode(hmac_sha256(client_secret, encoded_payload(timestamp_ms, client_key, body).as_bytes()))
}

/// The three headers of a signed call (names lower-case), timestamped `now_ms`: every caller
/// (our partner calls, the sandbox partner's IPNs and webview requests) sends exactly these.
pub fn headers(client_id: &str, client_secret: &str, body: &[u8], now_ms: i64) -> [(&'static str, String); 3] {
    [
        (HEADER_TIMESTAMP, now_ms.to_string()),
        (HEADER_CLIENT_ID, client_id.to_string()),
        (HEADER_SIGNATURE, sign(client_secret.as_bytes(), now_ms, client_id, body)),
    ]
}

/// Checks the timestamp window first (cheap), then the signature in constant time.
pub fn verify(
    client_secret: &[u8],
    timestamp_ms: i64,
    client_key: &str,
    body: &[u8],
    signature_hex: &str,
    window: TimestampWindow,
    now_ms: i64,
) -> Result<(), SignatureError> {
    window.check_ms(timestamp_ms, now_ms)?;
    let tag = decode_hex_tag(signature_hex)?;
    verify_hmac_sha256(client_secret, encoded_payload(timestamp_ms, client_key, body).as_bytes(), &tag)
}

/// Parses the `X-Tikivip-Timestamp` header value.
pub fn parse_timestamp(value: &str) -> Result<i64, SignatureError> {
    value.trim().parse().map_err(|_| SignatureError::Malformed("X-Tikivip-Timestamp is not a number of milliseconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: TimestampWindow = TimestampWindow::FIVE_MINUTES;

    /// The official vector published by Tiki (api_signature.md; counterparts.md §4.3 and §8).
    #[test]
    fn official_tiki_vector() {
        let secret = b"EhjGcsUUuRSJTHiYPbW5fxzyaKEx0JuAZIKRQ4HnIfNFidB2kMg6locQbTIEz3Vf";
        let key = "RLCKb7Ae9kx4DXtXsCWjnDXtggFnM43W";
        let ts = 1620621619569;
        let body = br#"{"id":123}"#;
        assert_eq!(
            encoded_payload(ts, key, body),
            "MTYyMDYyMTYxOTU2OS5STENLYjdBZTlreDREWHRYc0NXam5EWHRnZ0ZuTTQzVy57ImlkIjoxMjN9"
        );
        let expected = "8ebd092b9df2cf90e8ccbcab2ba87ee14f2abb25eb8f18b4d7286d42adcd45c2";
        assert_eq!(sign(secret, ts, key, body), expected);
        assert_eq!(verify(secret, ts, key, body, expected, WINDOW, ts + 1_000), Ok(()));
    }

    #[derive(serde::Deserialize)]
    struct Fixture {
        timestamp: i64,
        client_key: String,
        client_secret: String,
        body: String,
        encoded_payload: String,
        signature: String,
    }

    /// A vector made by openssl over a non-ASCII body (fixtures/signing/make.sh).
    #[test]
    fn openssl_vector_with_unicode_body() {
        let f: Fixture = serde_json::from_str(include_str!("../../tests/fixtures/signing/tikivip.json")).unwrap();
        let body = f.body.as_bytes();
        assert_eq!(encoded_payload(f.timestamp, &f.client_key, body), f.encoded_payload);
        assert_eq!(sign(f.client_secret.as_bytes(), f.timestamp, &f.client_key, body), f.signature);
        let upper = f.signature.to_uppercase();
        assert_eq!(verify(f.client_secret.as_bytes(), f.timestamp, &f.client_key, body, &upper, WINDOW, f.timestamp), Ok(()));
    }

    #[test]
    fn refuses_tampering_stale_and_garbage() {
        let (secret, key, ts, body) = (b"secret".as_slice(), "client", 1_700_000_000_000, br#"{"a":1}"#.as_slice());
        let sig = sign(secret, ts, key, body);
        assert_eq!(verify(secret, ts, key, br#"{"a":2}"#, &sig, WINDOW, ts), Err(SignatureError::Mismatch));
        assert_eq!(verify(secret, ts, "other", body, &sig, WINDOW, ts), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"secreT", ts, key, body, &sig, WINDOW, ts), Err(SignatureError::Mismatch));
        assert_eq!(verify(secret, ts + 1, key, body, &sig, WINDOW, ts), Err(SignatureError::Mismatch));
        assert_eq!(verify(secret, ts, key, body, &sig, WINDOW, ts + 300_001), Err(SignatureError::Stale));
        assert!(matches!(verify(secret, ts, key, body, "zz", WINDOW, ts), Err(SignatureError::Malformed(_))));
        assert!(parse_timestamp("16206216x").is_err());
        assert_eq!(parse_timestamp(" 1620621619569 "), Ok(1620621619569));
    }
}
