//! Alipay+ OpenAPI message signature (counterparts.md §2.5), used by the benefit APIs.
//!
//! ```text
//! content   = "<METHOD> <Request-URI>\n<Client-Id>.<Request-Time or Response-Time>.<raw body>"
//! signature = url_encode(base64(SHA256withRSA(private_key, content)))
//! header    = "Signature: algorithm=RSA256,keyVersion=<n>,signature=<signature>"
//! ```
//! URL encoding follows Java's `URLEncoder` (the official SDK): `A-Z a-z 0-9 . - * _` stay,
//! space becomes `+`, every other byte `%XX`. Responses are signed the same way with the
//! request's URI and the `Response-Time` header.

use base64::{engine::general_purpose::STANDARD, Engine};
use percent_encoding::{percent_decode_str, AsciiSet, NON_ALPHANUMERIC};

use super::{RsaPrivateKey, RsaPublicKey, SignatureError, TimestampWindow};

pub const HEADER_SIGNATURE: &str = "signature";
pub const HEADER_CLIENT_ID: &str = "client-id";
pub const HEADER_REQUEST_TIME: &str = "request-time";
pub const HEADER_RESPONSE_TIME: &str = "response-time";

/// Java URLEncoder's unreserved set.
const JAVA_URL_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'.').remove(b'-').remove(b'*').remove(b'_');

/// The exact bytes that are signed.
pub fn content_to_sign(method: &str, uri: &str, client_id: &str, time: &str, body: &[u8]) -> Vec<u8> {
    let mut c = Vec::with_capacity(method.len() + uri.len() + client_id.len() + time.len() + body.len() + 4);
    c.extend_from_slice(method.to_ascii_uppercase().as_bytes());
    c.push(b' ');
    c.extend_from_slice(uri.as_bytes());
    c.push(b'\n');
    c.extend_from_slice(client_id.as_bytes());
    c.push(b'.');
    c.extend_from_slice(time.as_bytes());
    c.push(b'.');
    c.extend_from_slice(body);
    c
}

/// The parsed `Signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    pub algorithm: String,
    pub key_version: Option<String>,
    /// Raw signature bytes (after URL- and base64-decoding).
    pub signature: Vec<u8>,
}

/// Signs a message and returns the whole `Signature` header value.
pub fn sign_header(key: &RsaPrivateKey, key_version: u32, method: &str, uri: &str, client_id: &str, time: &str, body: &[u8]) -> String {
    let sig = STANDARD.encode(key.sign_sha256(&content_to_sign(method, uri, client_id, time, body)));
    let encoded: String = percent_encoding::utf8_percent_encode(&sig, JAVA_URL_ENCODE).to_string().replace("%20", "+");
    format!("algorithm=RSA256,keyVersion={key_version},signature={encoded}")
}

/// Parses `algorithm=RSA256, keyVersion=1, signature=…` (keys case-insensitive, spaces allowed).
pub fn parse_header(value: &str) -> Result<SignatureHeader, SignatureError> {
    let mut algorithm = None;
    let mut key_version = None;
    let mut signature = None;
    for part in value.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or(SignatureError::Malformed("Signature part without '='"))?;
        match k.trim().to_ascii_lowercase().as_str() {
            "algorithm" => algorithm = Some(v.trim().to_string()),
            "keyversion" => key_version = Some(v.trim().to_string()),
            "signature" => signature = Some(v.trim()),
            _ => {}
        }
    }
    let algorithm = algorithm.unwrap_or_else(|| "RSA256".to_string()); // RSA256 is the default (§2.5)
    if !algorithm.eq_ignore_ascii_case("RSA256") {
        return Err(SignatureError::UnsupportedAlgorithm);
    }
    let encoded = signature.ok_or(SignatureError::Malformed("signature= is missing"))?;
    // '+' is never produced by the encoder for a base64 '+' (it becomes %2B), and base64 has no
    // spaces, so a literal '+' can only be an unencoded base64 '+': keep it.
    let b64 = percent_decode_str(encoded)
        .decode_utf8()
        .map_err(|_| SignatureError::Malformed("signature is not URL-encoded UTF-8"))?;
    let signature = STANDARD.decode(b64.as_bytes()).map_err(|_| SignatureError::Malformed("signature is not base64"))?;
    Ok(SignatureHeader { algorithm, key_version, signature })
}

/// Verifies a request (with `Request-Time`) or a response (with `Response-Time` and the request's URI).
pub fn verify(key: &RsaPublicKey, header: &str, method: &str, uri: &str, client_id: &str, time: &str, body: &[u8]) -> Result<SignatureHeader, SignatureError> {
    let parsed = parse_header(header)?;
    key.verify_sha256(&content_to_sign(method, uri, client_id, time, body), &parsed.signature)?;
    Ok(parsed)
}

/// Parses an ISO 8601 / RFC 3339 `Request-Time` into Unix milliseconds, for window checks.
pub fn parse_time_ms(value: &str) -> Result<i64, SignatureError> {
    let t = time::OffsetDateTime::parse(value.trim(), &time::format_description::well_known::Rfc3339)
        .map_err(|_| SignatureError::Malformed("time is not ISO 8601 with an offset"))?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).map_err(|_| SignatureError::Malformed("time is out of range"))
}

/// A `Request-Time` / `Response-Time` for `ms`: ISO 8601 with milliseconds and an offset, in
/// Vietnam time (`2026-11-24T09:59:33.123+07:00`, the form of §2.5's example).
pub fn format_time(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let local = at.to_offset(time::UtcOffset::from_hms(7, 0, 0).expect("a valid offset"));
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+07:00");
    local.format(f).unwrap_or_default()
}

/// Parses a `Request-Time` / `Response-Time` and checks it against the window around `now_ms`.
pub fn check_time(value: &str, window: TimestampWindow, now_ms: i64) -> Result<i64, SignatureError> {
    let at = parse_time_ms(value)?;
    window.check_ms(at, now_ms)?;
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Fixture {
        method: String,
        uri: String,
        client_id: String,
        time: String,
        body: String,
        private_key_pkcs8_b64: String,
        public_key_spki_b64: String,
        signature_b64: String,
        header: String,
    }

    fn fixture() -> Fixture {
        serde_json::from_str(include_str!("../../tests/fixtures/signing/alipay_plus.json")).unwrap()
    }

    /// openssl signed the content; PKCS#1 v1.5 is deterministic, so we must match byte for byte.
    #[test]
    fn openssl_vector_sign_and_verify() {
        let f = fixture();
        let key = RsaPrivateKey::from_pkcs8_base64(&f.private_key_pkcs8_b64).unwrap();
        let header = sign_header(&key, 1, &f.method, &f.uri, &f.client_id, &f.time, f.body.as_bytes());
        assert_eq!(header, f.header);
        let public = RsaPublicKey::from_spki_base64(&f.public_key_spki_b64).unwrap();
        let parsed = verify(&public, &f.header, &f.method, &f.uri, &f.client_id, &f.time, f.body.as_bytes()).unwrap();
        assert_eq!(parsed.key_version.as_deref(), Some("1"));
        assert_eq!(STANDARD.encode(parsed.signature), f.signature_b64);
    }

    #[test]
    fn header_variants_from_other_senders_parse() {
        let f = fixture();
        let public = RsaPublicKey::from_spki_base64(&f.public_key_spki_b64).unwrap();
        let spaced = format!("algorithm=rsa256, keyVersion=2, signature={}", f.header.split("signature=").nth(1).unwrap());
        let unencoded = format!("keyVersion=1,signature={}", f.signature_b64);
        for header in [spaced, unencoded] {
            verify(&public, &header, "post", &f.uri, &f.client_id, &f.time, f.body.as_bytes()).unwrap();
        }
    }

    #[test]
    fn refuses_tampering_and_other_algorithms() {
        let f = fixture();
        let public = RsaPublicKey::from_spki_base64(&f.public_key_spki_b64).unwrap();
        let b = f.body.as_bytes();
        let check = |uri: &str, client: &str, time: &str, body: &[u8]| verify(&public, &f.header, &f.method, uri, client, time, body);
        assert_eq!(check("/other", &f.client_id, &f.time, b), Err(SignatureError::Mismatch));
        assert_eq!(check(&f.uri, "OTHER", &f.time, b), Err(SignatureError::Mismatch));
        assert_eq!(check(&f.uri, &f.client_id, "2026-11-22T10:15:31.123+07:00", b), Err(SignatureError::Mismatch));
        assert_eq!(check(&f.uri, &f.client_id, &f.time, b"{}"), Err(SignatureError::Mismatch));
        let ecc = f.header.replace("RSA256", "ECC224");
        assert_eq!(verify(&public, &ecc, "POST", &f.uri, &f.client_id, &f.time, b), Err(SignatureError::UnsupportedAlgorithm));
        assert!(matches!(parse_header("algorithm=RSA256"), Err(SignatureError::Malformed(_))));
        assert!(matches!(parse_header("signature=%%%"), Err(SignatureError::Malformed(_))));
    }

    #[derive(serde::Deserialize)]
    struct Message {
        time: String,
        body: String,
        signature_b64: String,
        signature_urlencoded: String,
        header: String,
    }

    #[derive(serde::Deserialize)]
    struct Keys {
        #[serde(default)]
        private_key_pkcs8_b64: Option<String>,
        public_key_spki_b64: String,
    }

    /// One issueBenefit exchange signed by Python's `cryptography` (make.sh, section 5).
    #[derive(serde::Deserialize)]
    struct Exchange {
        method: String,
        uri: String,
        client_id: String,
        request: Message,
        response: Message,
        platform: Keys,
        isv: Keys,
    }

    fn exchange() -> Exchange {
        serde_json::from_str(include_str!("../../tests/fixtures/signing/alipay_plus_exchange.json")).unwrap()
    }

    /// The platform's request verifies with its key; our response, signed over the request's
    /// URI with Response-Time and a UTF-8 body, matches Python's byte for byte (header included:
    /// keyVersion and the URL-encoded value), and verifies with our public key.
    #[test]
    fn python_vectors_for_a_request_and_its_response() {
        let x = exchange();
        let platform = RsaPublicKey::from_spki_base64(&x.platform.public_key_spki_b64).unwrap();
        let req = verify(&platform, &x.request.header, &x.method, &x.uri, &x.client_id, &x.request.time, x.request.body.as_bytes()).unwrap();
        assert_eq!(req.key_version.as_deref(), Some("1"));
        assert_eq!(STANDARD.encode(&req.signature), x.request.signature_b64);
        assert!(x.request.header.ends_with(&x.request.signature_urlencoded));

        let ours = RsaPrivateKey::from_pkcs8_base64(x.isv.private_key_pkcs8_b64.as_deref().unwrap()).unwrap();
        let header = sign_header(&ours, 2, &x.method, &x.uri, &x.client_id, &x.response.time, x.response.body.as_bytes());
        assert_eq!(header, x.response.header);
        assert_eq!(header.split("signature=").nth(1), Some(x.response.signature_urlencoded.as_str()));
        assert!(x.response.signature_urlencoded.contains("%2B") || x.response.signature_urlencoded.contains("%2F"), "the vector exercises the encoding");
        let public = RsaPublicKey::from_spki_base64(&x.isv.public_key_spki_b64).unwrap();
        let parsed = verify(&public, &header, &x.method, &x.uri, &x.client_id, &x.response.time, x.response.body.as_bytes()).unwrap();
        assert_eq!(STANDARD.encode(parsed.signature), x.response.signature_b64);

        // The response is bound to its own time and body, and to the request's URI.
        let check = |uri: &str, time: &str, body: &str| verify(&public, &header, &x.method, uri, &x.client_id, time, body.as_bytes());
        assert_eq!(check(&x.uri, &x.request.time, &x.response.body), Err(SignatureError::Mismatch));
        assert_eq!(check("/isv/benefit/query", &x.response.time, &x.response.body), Err(SignatureError::Mismatch));
        assert_eq!(check(&x.uri, &x.response.time, &x.response.body.replace("0", "1")), Err(SignatureError::Mismatch));
        // and a request signed with the platform's key does not pass as ours
        assert_eq!(verify(&public, &x.request.header, &x.method, &x.uri, &x.client_id, &x.request.time, x.request.body.as_bytes()), Err(SignatureError::Mismatch));
    }

    #[test]
    fn times_are_written_in_vietnam_time_and_checked_against_a_window() {
        assert_eq!(format_time(1_795_489_173_123), "2026-11-24T09:59:33.123+07:00");
        assert_eq!(parse_time_ms(&format_time(1_795_489_173_123)), Ok(1_795_489_173_123));
        let w = TimestampWindow::FIVE_MINUTES;
        let now = 1_795_489_173_123;
        assert_eq!(check_time("2026-11-24T09:59:33.123+07:00", w, now + 300_000), Ok(now));
        assert_eq!(check_time("2026-11-24T09:59:33.123+07:00", w, now + 300_001), Err(SignatureError::Stale));
        assert_eq!(check_time("2026-11-24T02:59:33.123Z", w, now - 300_001), Err(SignatureError::Stale));
        assert!(matches!(check_time("yesterday", w, now), Err(SignatureError::Malformed(_))));
    }

    #[test]
    fn request_time_parses_with_offsets() {
        assert_eq!(parse_time_ms("2019-04-04T12:08:56Z"), Ok(1_554_379_736_000));
        assert_eq!(parse_time_ms("2019-04-04T12:08:56.253+05:30"), Ok(1_554_379_736_253 - 19_800_000));
        assert!(parse_time_ms("04/04/2019").is_err());
    }
}
