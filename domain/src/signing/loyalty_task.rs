//! Loyalty reward task message signature (counterparts.md §3.3).
//!
//! `Data.signature = base64(SHA256withRSA(private_key, canonical(Data)))`, RSA keys of 1024 bits
//! and up (the task service documents 1024).
//!
//! **Canonical form (our choice; the source shows only an example):** the `Data` object with
//! its `signature` member removed, serialised as compact JSON (no whitespace) with members in
//! the order the sender wrote them, strings as UTF-8 with JSON's mandatory escapes only, and
//! numbers as written for integers. This is exactly `JSON.stringify(data)` of the object the
//! sender built, i.e. what the published example signs. Re-ordering members, or sending `1.0`
//! for `1`, changes the canonical form and fails verification. In Python:
//! `json.dumps(data_without_signature, separators=(",", ":"), ensure_ascii=False)` (the README's
//! "Reward tasks" section has the whole signer; `tests/fixtures/signing/loyalty_task_python.json`
//! is its output). Keys below 1024 bits are refused when they are read
//! ([`RsaPublicKey::from_pem`]).

use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{Map, Value};

use super::{RsaPrivateKey, RsaPublicKey, SignatureError};

pub const SIGNATURE_FIELD: &str = "signature";

/// The bytes that are signed for a `Data` object.
pub fn canonical_data(data: &Map<String, Value>) -> String {
    let mut without = data.clone();
    without.shift_remove(SIGNATURE_FIELD);
    serde_json::to_string(&without).expect("a JSON map always serialises")
}

/// Signs `data` and stores the signature in its `signature` member (after the other members).
pub fn sign_data(key: &RsaPrivateKey, data: &mut Map<String, Value>) {
    let sig = STANDARD.encode(key.sign_sha256(canonical_data(data).as_bytes()));
    data.insert(SIGNATURE_FIELD.to_string(), Value::String(sig));
}

/// Verifies the `signature` member of `data` with the sender's public key.
pub fn verify_data(key: &RsaPublicKey, data: &Map<String, Value>) -> Result<(), SignatureError> {
    let sig = data
        .get(SIGNATURE_FIELD)
        .and_then(Value::as_str)
        .ok_or(SignatureError::Malformed("Data.signature is missing"))?;
    let sig = STANDARD.decode(sig.trim()).map_err(|_| SignatureError::Malformed("Data.signature is not base64"))?;
    key.verify_sha256(canonical_data(data).as_bytes(), &sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct KeyFixture {
        public_key_spki_b64: String,
        signature_b64: String,
        private_key_pkcs8_b64: Option<String>,
    }

    #[derive(serde::Deserialize)]
    struct Fixture {
        canonical_data: String,
        rsa1024: KeyFixture,
        rsa2048: KeyFixture,
        message_signed_with_rsa1024: String,
    }

    fn fixture() -> Fixture {
        serde_json::from_str(include_str!("../../tests/fixtures/signing/loyalty_task.json")).unwrap()
    }

    fn data_of(message: &str) -> Map<String, Value> {
        let v: Value = serde_json::from_str(message).unwrap();
        v["Data"].as_object().unwrap().clone()
    }

    /// A whole message as a client sends it (pretty-printed, signature in the middle of Data),
    /// signed by openssl with a 1024-bit key.
    #[test]
    fn verifies_an_openssl_signed_message_with_a_1024_bit_key() {
        let f = fixture();
        let data = data_of(&f.message_signed_with_rsa1024);
        assert_eq!(canonical_data(&data), f.canonical_data);
        let key = RsaPublicKey::from_spki_base64(&f.rsa1024.public_key_spki_b64).unwrap();
        verify_data(&key, &data).unwrap();
        assert_eq!(data["signature"], f.rsa1024.signature_b64.as_str());
    }

    #[test]
    fn signs_exactly_like_openssl_with_a_2048_bit_key() {
        let f = fixture();
        let key = RsaPrivateKey::from_pkcs8_base64(f.rsa2048.private_key_pkcs8_b64.as_deref().unwrap()).unwrap();
        let mut data: Map<String, Value> = serde_json::from_str(&f.canonical_data).unwrap();
        sign_data(&key, &mut data);
        assert_eq!(data["signature"], f.rsa2048.signature_b64.as_str());
        let public = RsaPublicKey::from_spki_base64(&f.rsa2048.public_key_spki_b64).unwrap();
        verify_data(&public, &data).unwrap();
        assert_eq!(public, key.public_key());
    }

    #[derive(serde::Deserialize)]
    struct PemFixture {
        public_key_pem: String,
        signature_b64: String,
    }

    #[derive(serde::Deserialize)]
    struct PythonFixture {
        canonical_data: String,
        rsa1024: PemFixture,
        rsa2048: PemFixture,
        message_signed_with_rsa2048: String,
        rsa512_public_key_pem: String,
    }

    fn python_fixture() -> PythonFixture {
        serde_json::from_str(include_str!("../../tests/fixtures/signing/loyalty_task_python.json")).unwrap()
    }

    /// The README's Python signer (`cryptography`): string and numeric ids, Vietnamese text kept
    /// as UTF-8, `/` unescaped, the signature as Data's first member.
    #[test]
    fn verifies_the_python_cryptography_vector() {
        let f = python_fixture();
        let data = data_of(&f.message_signed_with_rsa2048);
        assert_eq!(canonical_data(&data), f.canonical_data);
        assert!(f.canonical_data.contains("Nguyễn Thị Ánh") && f.canonical_data.contains("ref-é/1"));
        let key = RsaPublicKey::from_pem(&f.rsa2048.public_key_pem).unwrap();
        verify_data(&key, &data).unwrap();
        let mut with_1024 = data.clone();
        with_1024.insert(SIGNATURE_FIELD.into(), Value::String(f.rsa1024.signature_b64.clone()));
        let key1024 = RsaPublicKey::from_pem(&f.rsa1024.public_key_pem).unwrap();
        assert_eq!(key1024.bits(), 1024);
        verify_data(&key1024, &with_1024).unwrap();
        assert_eq!(verify_data(&key, &with_1024), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_key_below_1024_bits_is_refused() {
        let f = python_fixture();
        assert_eq!(RsaPublicKey::from_pem(&f.rsa512_public_key_pem), Err(SignatureError::InvalidKey("RSA keys below 1024 bits are refused")));
    }

    #[test]
    fn refuses_changed_reordered_or_unsigned_data() {
        let f = fixture();
        let key = RsaPublicKey::from_spki_base64(&f.rsa1024.public_key_spki_b64).unwrap();
        let data = data_of(&f.message_signed_with_rsa1024);

        let mut changed = data.clone();
        changed["data"][0]["trxAmount"] = Value::from(2001);
        assert_eq!(verify_data(&key, &changed), Err(SignatureError::Mismatch));

        let mut reordered = Map::new();
        for (k, v) in data.iter().rev() {
            reordered.insert(k.clone(), v.clone());
        }
        assert_eq!(verify_data(&key, &reordered), Err(SignatureError::Mismatch));

        let mut unsigned = data.clone();
        unsigned.shift_remove("signature");
        assert!(matches!(verify_data(&key, &unsigned), Err(SignatureError::Malformed(_))));

        let other = RsaPublicKey::from_spki_base64(&f.rsa2048.public_key_spki_b64).unwrap();
        assert_eq!(verify_data(&other, &data), Err(SignatureError::Mismatch));
    }
}
