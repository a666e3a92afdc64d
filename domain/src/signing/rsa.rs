//! RSA-SHA256 (RSASSA-PKCS1-v1_5) on aws-lc-rs: constant-time, and fast enough that token
//! endpoints are bound by the hardware, not the library (../shared/BENCHMARKS.md).
//! Keys travel as base64 DER: PKCS#8 private, X.509 SubjectPublicKeyInfo public (Alipay+ §2.5).

use aws_lc_rs::{
    encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der},
    rand::SystemRandom,
    rsa::{KeyPair, KeySize},
    signature::{self, KeyPair as _, UnparsedPublicKey},
};
use base64::{engine::general_purpose::STANDARD, Engine};

use super::SignatureError;

/// A private key for signing (2048 to 8192 bits).
pub struct RsaPrivateKey {
    pair: KeyPair,
}

impl std::fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaPrivateKey(..)")
    }
}

impl RsaPrivateKey {
    pub fn generate_2048() -> Result<Self, SignatureError> {
        let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| SignatureError::InvalidKey("key generation failed"))?;
        Ok(Self { pair })
    }

    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, SignatureError> {
        let pair = KeyPair::from_pkcs8(der).map_err(|_| SignatureError::InvalidKey("not a PKCS#8 RSA key of 2048-8192 bits"))?;
        Ok(Self { pair })
    }

    pub fn from_pkcs8_base64(b64: &str) -> Result<Self, SignatureError> {
        let der = STANDARD.decode(b64.trim()).map_err(|_| SignatureError::InvalidKey("private key is not base64"))?;
        Self::from_pkcs8_der(&der)
    }

    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, SignatureError> {
        let der: Pkcs8V1Der = self.pair.as_der().map_err(|_| SignatureError::InvalidKey("cannot encode key"))?;
        Ok(der.as_ref().to_vec())
    }

    pub fn public_key(&self) -> RsaPublicKey {
        let der: PublicKeyX509Der = self.pair.public_key().as_der().expect("an RSA public key always encodes");
        RsaPublicKey { spki_der: der.as_ref().to_vec(), bits: self.bits() }
    }

    /// The modulus `n` and exponent `e`, big-endian (for a JSON Web Key).
    pub fn public_components(&self) -> aws_lc_rs::rsa::PublicKeyComponents<Vec<u8>> {
        self.pair.public_key().into()
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.pair.public_modulus_len() * 8
    }

    /// SHA256withRSA over `msg`.
    pub fn sign_sha256(&self, msg: &[u8]) -> Vec<u8> {
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig)
            .expect("signing into a modulus-sized buffer cannot fail");
        sig
    }
}

/// A public key for verification, 1024 to 8192 bits: the loyalty reward task documents 1024-bit
/// keys (§3.3), so those are accepted; anything smaller is refused when the key is read (it could
/// never verify a signature). Signing keys we create are 2048 bits or more.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    spki_der: Vec<u8>,
    bits: usize,
}

impl std::fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaPublicKey({} bits)", self.bits)
    }
}

/// The smallest and largest RSA moduli accepted for verification.
pub const MIN_PUBLIC_KEY_BITS: usize = 1024;
pub const MAX_PUBLIC_KEY_BITS: usize = 8192;

const PEM_BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
const PEM_END: &str = "-----END PUBLIC KEY-----";

/// One DER element with tag `tag` at the start of `input`: `(contents, rest)`.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// The modulus size in bits of an RSA SubjectPublicKeyInfo:
/// `SEQUENCE { SEQUENCE { OID, NULL }, BIT STRING { 0, SEQUENCE { INTEGER n, INTEGER e } } }`.
fn modulus_bits(spki: &[u8]) -> Option<usize> {
    let (spki, _) = der_element(spki, 0x30)?;
    let (_algorithm, rest) = der_element(spki, 0x30)?;
    let (bit_string, _) = der_element(rest, 0x03)?;
    let (&unused_bits, rsa_key) = bit_string.split_first()?;
    if unused_bits != 0 {
        return None;
    }
    let (rsa_key, _) = der_element(rsa_key, 0x30)?;
    let (modulus, rest) = der_element(rsa_key, 0x02)?;
    der_element(rest, 0x02)?;
    let significant = &modulus[modulus.iter().position(|b| *b != 0)?..];
    Some(significant.len() * 8 - significant[0].leading_zeros() as usize)
}

impl RsaPublicKey {
    pub fn from_spki_der(der: &[u8]) -> Result<Self, SignatureError> {
        // Refuse what is plainly not an RSA SubjectPublicKeyInfo now, so a bad key is a
        // configuration error rather than a verification failure later. (aws-lc-rs's own parser
        // for RSA public keys only takes the 2048-bit-and-up encryption profile.)
        const RSA_ENCRYPTION_OID: [u8; 11] = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
        let head = &der[..der.len().min(24)];
        if der.first() != Some(&0x30) || !head.windows(RSA_ENCRYPTION_OID.len()).any(|w| w == RSA_ENCRYPTION_OID) {
            return Err(SignatureError::InvalidKey("not an X.509 SubjectPublicKeyInfo RSA key"));
        }
        let bits = modulus_bits(der).ok_or(SignatureError::InvalidKey("not an X.509 SubjectPublicKeyInfo RSA key"))?;
        if bits < MIN_PUBLIC_KEY_BITS {
            return Err(SignatureError::InvalidKey("RSA keys below 1024 bits are refused"));
        }
        if bits > MAX_PUBLIC_KEY_BITS {
            return Err(SignatureError::InvalidKey("RSA keys above 8192 bits are refused"));
        }
        Ok(Self { spki_der: der.to_vec(), bits })
    }

    pub fn from_spki_base64(b64: &str) -> Result<Self, SignatureError> {
        let der = STANDARD.decode(b64.trim()).map_err(|_| SignatureError::InvalidKey("public key is not base64"))?;
        Self::from_spki_der(&der)
    }

    /// A PEM `-----BEGIN PUBLIC KEY-----` block (X.509 SubjectPublicKeyInfo, what
    /// `openssl rsa -pubout` and Python's `cryptography` write).
    pub fn from_pem(pem: &str) -> Result<Self, SignatureError> {
        let inner = pem
            .trim()
            .strip_prefix(PEM_BEGIN)
            .and_then(|rest| rest.trim_end().strip_suffix(PEM_END))
            .ok_or(SignatureError::InvalidKey("expected one PEM block -----BEGIN PUBLIC KEY----- … -----END PUBLIC KEY-----"))?;
        let b64: String = inner.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = STANDARD.decode(b64).map_err(|_| SignatureError::InvalidKey("the PEM block is not base64"))?;
        Self::from_spki_der(&der)
    }

    /// The key as a PEM block, 64 characters a line.
    pub fn to_pem(&self) -> String {
        let b64 = STANDARD.encode(&self.spki_der);
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).expect("base64 is ASCII")).collect();
        format!("{PEM_BEGIN}\n{}\n{PEM_END}\n", lines.join("\n"))
    }

    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    pub fn to_spki_base64(&self) -> String {
        STANDARD.encode(&self.spki_der)
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// SHA-256 of the DER key, hex: how operators tell keys apart.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&self.spki_der))
    }

    pub fn verify_sha256(&self, msg: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
        UnparsedPublicKey::new(&signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY, &self.spki_der)
            .verify(msg, sig)
            .map_err(|_| SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_round_trip_through_der() {
        let key = RsaPrivateKey::generate_2048().unwrap();
        assert_eq!(key.bits(), 2048);
        let again = RsaPrivateKey::from_pkcs8_der(&key.to_pkcs8_der().unwrap()).unwrap();
        let sig = again.sign_sha256(b"hello");
        key.public_key().verify_sha256(b"hello", &sig).unwrap();
        assert_eq!(key.public_key().verify_sha256(b"hellO", &sig), Err(SignatureError::Mismatch));
        let public = RsaPublicKey::from_spki_base64(&key.public_key().to_spki_base64()).unwrap();
        assert_eq!(public, key.public_key());
    }

    #[test]
    fn public_keys_read_from_pem_with_their_size() {
        let key = RsaPrivateKey::generate_2048().unwrap();
        let pem = key.public_key().to_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n") && pem.lines().all(|l| l.len() <= 64));
        let read = RsaPublicKey::from_pem(&format!("\n  {pem}  \n")).unwrap();
        assert_eq!((read.bits(), &read), (2048, &key.public_key()));
        assert!(RsaPublicKey::from_pem("-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----").is_err());
        assert!(RsaPublicKey::from_pem(&pem.replace('M', "%")).is_err());
    }

    #[test]
    fn garbage_keys_are_refused() {
        assert!(RsaPrivateKey::from_pkcs8_base64("bm90IGEga2V5").is_err());
        assert!(RsaPublicKey::from_spki_base64("bm90IGEga2V5").is_err());
        assert!(RsaPublicKey::from_spki_base64("%%%").is_err());
    }
}
