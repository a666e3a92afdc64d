//! The provider's token signing keys, on aws-lc-rs, each with a `kid`: one active key per JWS
//! algorithm — RS256 (the default), ES256 and EdDSA (Ed25519), chosen per client
//! (`id_token_signed_response_alg`). The keys are made on first start
//! ([`KeyRing::load_or_create`]); [`rotate`] makes new active keys and keeps the old ones in the
//! JWKS until the tokens they signed have expired.

use std::{collections::HashMap, sync::Arc};

use aws_lc_rs::{
    rand::SystemRandom,
    rsa::PublicKeyComponents,
    signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, UnparsedPublicKey},
};
use openidconnect::{
    core::{CoreJsonCurveType, CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm},
    JsonWebKeyId, PrivateSigningKey, SigningError,
};
use serde::{Deserialize, Serialize};

use crate::{
    signing::{RsaPrivateKey, SignatureError},
    store::{Db, StoreError},
};

/// A JWS algorithm the provider signs tokens with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys: what every client can verify.
    #[default]
    RS256,
    /// ECDSA P-256 with SHA-256: about ten times cheaper to sign than RS256.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl Alg {
    pub const ALL: [Alg; 3] = [Alg::RS256, Alg::ES256, Alg::EdDSA];

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.as_str() == s)
    }

    pub fn jws(self) -> CoreJwsSigningAlgorithm {
        match self {
            Alg::RS256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            Alg::ES256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            Alg::EdDSA => CoreJwsSigningAlgorithm::EdDsa,
        }
    }
}

enum Material {
    Rsa(RsaPrivateKey),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// One signing key with its id and algorithm.
pub struct SigningKey {
    pub kid: String,
    pub alg: Alg,
    material: Material,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, {})", self.kid, self.alg.as_str())
    }
}

impl SigningKey {
    fn from_pkcs8(kid: String, alg: Alg, der: &[u8]) -> Result<SigningKey, String> {
        let material = match alg {
            Alg::RS256 => Material::Rsa(RsaPrivateKey::from_pkcs8_der(der).map_err(|e| e.to_string())?),
            Alg::ES256 => Material::Ec(EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(|e| e.to_string())?),
            Alg::EdDSA => Material::Ed(Ed25519KeyPair::from_pkcs8(der).map_err(|e| e.to_string())?),
        };
        Ok(SigningKey { kid, alg, material })
    }

    /// A new key's PKCS#8 DER (RSA-2048 takes a while: call off the async threads).
    fn generate_pkcs8(alg: Alg) -> Result<Vec<u8>, String> {
        let rng = SystemRandom::new();
        Ok(match alg {
            Alg::RS256 => RsaPrivateKey::generate_2048().and_then(|k| k.to_pkcs8_der()).map_err(|e| e.to_string())?,
            Alg::ES256 => EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(|e| e.to_string())?.as_ref().to_vec(),
            Alg::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| e.to_string())?.as_ref().to_vec(),
        })
    }

    /// The JWS signature of `msg` (ES256 in the fixed r‖s form JWS wants).
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match &self.material {
            Material::Rsa(k) => k.sign_sha256(msg),
            Material::Ec(k) => k.sign(&SystemRandom::new(), msg).map(|s| s.as_ref().to_vec()).unwrap_or_default(),
            Material::Ed(k) => k.sign(msg).as_ref().to_vec(),
        }
    }

    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
        let bad = |_| SignatureError::Mismatch;
        match &self.material {
            Material::Rsa(k) => k.public_key().verify_sha256(msg, sig),
            Material::Ec(k) => UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, k.public_key().as_ref()).verify(msg, sig).map_err(bad),
            Material::Ed(k) => UnparsedPublicKey::new(&signature::ED25519, k.public_key().as_ref()).verify(msg, sig).map_err(bad),
        }
    }

    pub fn jwk(&self) -> CoreJsonWebKey {
        let kid = Some(JsonWebKeyId::new(self.kid.clone()));
        match &self.material {
            Material::Rsa(k) => {
                let parts: PublicKeyComponents<Vec<u8>> = k.public_components();
                CoreJsonWebKey::new_rsa(parts.n, parts.e, kid)
            }
            Material::Ec(k) => {
                // an uncompressed point: 0x04 ‖ x ‖ y, 32 bytes each
                let point = k.public_key().as_ref();
                CoreJsonWebKey::new_ec(point[1..33].to_vec(), point[33..65].to_vec(), CoreJsonCurveType::P256, kid)
            }
            Material::Ed(k) => CoreJsonWebKey::new_okp(k.public_key().as_ref().to_vec(), CoreJsonCurveType::Ed25519, kid),
        }
    }
}

impl PrivateSigningKey for SigningKey {
    type VerificationKey = CoreJsonWebKey;

    fn sign(&self, alg: &CoreJwsSigningAlgorithm, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        if *alg != self.alg.jws() {
            return Err(SigningError::UnsupportedAlg(format!("{alg:?}")));
        }
        Ok(SigningKey::sign(self, message))
    }

    fn as_verification_key(&self) -> CoreJsonWebKey {
        self.jwk()
    }
}

/// The active keys (one per algorithm) and the published set, as loaded from the database.
#[derive(Debug, Clone)]
pub struct KeyRing {
    active: HashMap<Alg, Arc<SigningKey>>,
    /// Every published key (the active ones first), for verifying what we signed.
    pub published: Vec<Arc<SigningKey>>,
    pub jwks: CoreJsonWebKeySet,
    /// `jwks` serialised once, as the JWKS endpoint serves it.
    pub jwks_json: String,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    alg: String,
    private_pkcs8: Vec<u8>,
    retired_at: Option<i64>,
}

impl KeyRing {
    /// Loads the keys; makes the missing active ones (every algorithm, on first start). Instances
    /// starting together agree on one key per algorithm: only the holder of the lease
    /// `signing-key-init` makes keys, the others wait for them (at most a minute).
    pub async fn load_or_create(db: &Db, now_ms: i64) -> Result<KeyRing, StoreError> {
        let owner = format!("key-init-{}", uuid::Uuid::new_v4().simple());
        for _ in 0..600 {
            if let Some(ring) = Self::load(db, now_ms).await? {
                return Ok(ring);
            }
            if crate::store::lease::acquire(db, "signing-key-init", &owner, 60_000, crate::now_ms()).await? {
                let missing: Vec<Alg> = match Self::load_rows(db, now_ms).await {
                    Ok(rows) => Alg::ALL.into_iter().filter(|a| !rows.iter().any(|r| r.retired_at.is_none() && r.alg == a.as_str())).collect(),
                    Err(e) => return Err(e),
                };
                for alg in missing {
                    insert_new_key(db, alg, now_ms).await?;
                }
                crate::store::lease::release(db, "signing-key-init", &owner).await?;
            } else {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        Err(StoreError::NotFound("the first signing keys (another instance holds the lease to create them)".into()))
    }

    async fn load_rows(db: &Db, now_ms: i64) -> Result<Vec<KeyRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT kid, alg, private_pkcs8, retired_at FROM oidc_signing_keys
             WHERE retired_at IS NULL OR publish_until > $1 ORDER BY created_at DESC, kid",
        )
        .bind(now_ms)
        .fetch_all(db.pool())
        .await?)
    }

    /// The ring, unless an algorithm has no active key yet.
    async fn load(db: &Db, now_ms: i64) -> Result<Option<KeyRing>, StoreError> {
        let rows = Self::load_rows(db, now_ms).await?;
        let mut active = HashMap::new();
        let mut published = Vec::with_capacity(rows.len());
        for r in rows {
            let corrupt = |e: String| StoreError::corrupt("oidc_signing_keys", format!("signing key {}: {e}", r.kid));
            let alg = Alg::parse(&r.alg).ok_or_else(|| corrupt(format!("unknown alg {:?}", r.alg)))?;
            let retired = r.retired_at.is_some();
            let key = Arc::new(SigningKey::from_pkcs8(r.kid.clone(), alg, &r.private_pkcs8).map_err(corrupt)?);
            if !retired {
                active.entry(alg).or_insert_with(|| key.clone()); // the newest unretired one
            }
            published.push(key);
        }
        if Alg::ALL.iter().any(|a| !active.contains_key(a)) {
            return Ok(None);
        }
        // the active keys first, RS256 first (a client that takes the first key gets the default)
        published.sort_by_key(|k| (!active.get(&k.alg).is_some_and(|a| Arc::ptr_eq(a, k)), Alg::ALL.iter().position(|a| *a == k.alg)));
        let jwks = CoreJsonWebKeySet::new(published.iter().map(|k| k.jwk()).collect());
        let jwks_json = serde_json::to_string(&jwks).map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(Some(KeyRing { active, published, jwks, jwks_json }))
    }

    /// The key that signs `alg` tokens now.
    pub fn active(&self, alg: Alg) -> &SigningKey {
        self.active.get(&alg).map(Arc::as_ref).expect("a loaded ring has every algorithm's key")
    }

    /// The published key with this `kid`.
    pub fn published_key(&self, kid: &str) -> Option<&SigningKey> {
        self.published.iter().find(|k| k.kid == kid).map(|k| k.as_ref())
    }

    /// The active keys' ids, for logs and the CLI: `RS256 kid, ES256 kid, EdDSA kid`.
    pub fn active_kids(&self) -> String {
        Alg::ALL.iter().map(|a| format!("{} {}", a.as_str(), self.active(*a).kid)).collect::<Vec<_>>().join(", ")
    }
}

async fn insert_new_key(db: &Db, alg: Alg, now_ms: i64) -> Result<String, StoreError> {
    let der = tokio::task::spawn_blocking(move || SigningKey::generate_pkcs8(alg))
        .await
        .map_err(|e| StoreError::Internal(format!("key generation task: {e}")))?
        .map_err(StoreError::Internal)?;
    let kid = format!("{}-{}-{}", time_tag(now_ms), alg.as_str().to_ascii_lowercase(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
    sqlx::query("INSERT INTO oidc_signing_keys (kid, alg, private_pkcs8, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&kid)
        .bind(alg.as_str())
        .bind(der)
        .bind(now_ms)
        .execute(db.pool())
        .await?;
    Ok(kid)
}

fn time_tag(now_ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(now_ms / 1000)
        .map(|t| format!("{:04}{:02}{:02}", t.year(), t.month() as u8, t.day()))
        .unwrap_or_else(|_| "key".into())
}

/// Makes a new active key for every algorithm. The older active keys are retired and stay
/// published for `publish_for_ms` (at least the longest token lifetime). Returns the new kids
/// (RS256 first).
pub async fn rotate(db: &Db, publish_for_ms: i64, now_ms: i64) -> Result<Vec<String>, StoreError> {
    let mut kids = Vec::new();
    for alg in Alg::ALL {
        kids.push(insert_new_key(db, alg, now_ms).await?);
    }
    let mut tx = db.begin().await?;
    for (alg, kid) in Alg::ALL.iter().zip(&kids) {
        sqlx::query("UPDATE oidc_signing_keys SET retired_at = $1, publish_until = $2 WHERE retired_at IS NULL AND alg = $3 AND kid <> $4")
            .bind(now_ms)
            .bind(now_ms + publish_for_ms)
            .bind(alg.as_str())
            .bind(kid)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(kids)
}

#[cfg(test)]
mod tests {
    use openidconnect::{
        core::{CoreIdToken, CoreIdTokenClaims, CoreIdTokenVerifier},
        Audience, ClientId, EmptyAdditionalClaims, IssuerUrl, Nonce, StandardClaims, SubjectIdentifier,
    };

    use super::*;
    use crate::store::testing::temp_db;

    const T0: i64 = 1_763_800_000_000;

    fn id_token(ring: &KeyRing) -> CoreIdToken {
        let now = chrono::Utc::now();
        let claims = CoreIdTokenClaims::new(
            IssuerUrl::new("http://127.0.0.1:3000".into()).unwrap(),
            vec![Audience::new("demo".into())],
            now + chrono::Duration::minutes(5),
            now,
            StandardClaims::new(SubjectIdentifier::new("member-1".into())),
            EmptyAdditionalClaims {},
        )
        .set_nonce(Some(Nonce::new("n-1".into())));
        CoreIdToken::new(claims, ring.active(Alg::RS256), CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, None, None).unwrap()
    }

    fn verify(token: &CoreIdToken, jwks: CoreJsonWebKeySet) -> bool {
        let verifier = CoreIdTokenVerifier::new_public_client(
            ClientId::new("demo".into()),
            IssuerUrl::new("http://127.0.0.1:3000".into()).unwrap(),
            jwks,
        )
        .set_allowed_algs(Alg::ALL.iter().map(|a| a.jws()));
        token.claims(&verifier, &Nonce::new("n-1".into())).is_ok()
    }

    /// Every algorithm's ID tokens verify with the `openidconnect` crate's own verifier (an
    /// implementation independent of our aws-lc-rs signing) against the published JWKS, and a
    /// token signed by one key does not pass as another's.
    #[tokio::test]
    async fn each_algorithm_signs_tokens_an_independent_verifier_accepts() {
        let (_d, db) = temp_db().await;
        let ring = KeyRing::load_or_create(&db, T0).await.unwrap();
        for alg in Alg::ALL {
            let now = chrono::Utc::now();
            let claims = CoreIdTokenClaims::new(
                IssuerUrl::new("http://127.0.0.1:3000".into()).unwrap(),
                vec![Audience::new("demo".into())],
                now + chrono::Duration::minutes(5),
                now,
                StandardClaims::new(SubjectIdentifier::new("member-1".into())),
                EmptyAdditionalClaims {},
            )
            .set_nonce(Some(Nonce::new("n-1".into())));
            let token = CoreIdToken::new(claims, ring.active(alg), alg.jws(), None, None).unwrap();
            assert!(verify(&token, ring.jwks.clone()), "{alg:?}");
            let msg = b"payload";
            let sig = ring.active(alg).sign(msg);
            assert!(ring.active(alg).verify(msg, &sig).is_ok());
            let other = Alg::ALL.into_iter().find(|a| *a != alg).unwrap();
            assert!(ring.active(other).verify(msg, &sig).is_err(), "{alg:?}'s signature is not {other:?}'s");
        }
        let kinds: Vec<String> = serde_json::from_str::<serde_json::Value>(&ring.jwks_json).unwrap()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| format!("{}/{}", k["kty"].as_str().unwrap(), k["crv"].as_str().unwrap_or("-")))
            .collect();
        assert_eq!(kinds, ["RSA/-", "EC/P-256", "OKP/Ed25519"]);
    }

    #[tokio::test]
    async fn first_start_creates_a_key_and_later_starts_reuse_it() {
        let (_d, db) = temp_db().await;
        let first = KeyRing::load_or_create(&db, T0).await.unwrap();
        let again = KeyRing::load_or_create(&db, T0 + 1).await.unwrap();
        assert_eq!(first.active_kids(), again.active_kids());
        assert_eq!(first.jwks.keys().len(), 3, "one key per algorithm");
        let token = id_token(&first);
        assert!(verify(&token, again.jwks.clone()), "an ID token verifies against the published JWKS");
    }

    #[tokio::test]
    async fn rotation_keeps_the_old_key_published_until_its_tokens_expire() {
        let (_d, db) = temp_db().await;
        let old = KeyRing::load_or_create(&db, T0).await.unwrap();
        let old_token = id_token(&old);
        let new_kids = rotate(&db, 3_600_000, T0 + 10).await.unwrap();
        let ring = KeyRing::load_or_create(&db, T0 + 20).await.unwrap();
        assert_eq!(ring.active(Alg::RS256).kid, new_kids[0]);
        assert_eq!(ring.jwks.keys().len(), 6);
        assert!(verify(&old_token, ring.jwks.clone()), "tokens signed before the rotation still verify");
        assert!(verify(&id_token(&ring), ring.jwks.clone()));

        let later = KeyRing::load_or_create(&db, T0 + 10 + 3_600_000).await.unwrap();
        assert_eq!(later.jwks.keys().len(), 3, "the old keys are gone once their tokens have expired");
        assert!(!verify(&old_token, later.jwks));
    }
}
