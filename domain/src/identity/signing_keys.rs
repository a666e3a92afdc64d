//! The provider's token signing keys: RS256 on aws-lc-rs, each with a `kid`.
//! A key is generated on first start ([`KeyRing::load_or_create`]); [`rotate`] makes a new one
//! active and keeps the old one in the JWKS until the tokens it signed have expired.

use std::sync::Arc;

use aws_lc_rs::rsa::PublicKeyComponents;
use openidconnect::{
    core::{CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm},
    JsonWebKeyId, PrivateSigningKey, SigningError,
};

use crate::{
    signing::RsaPrivateKey,
    store::{Db, StoreError},
};

/// One signing key with its id.
pub struct SigningKey {
    pub kid: String,
    key: RsaPrivateKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.kid)
    }
}

impl SigningKey {
    /// SHA256withRSA (RS256) over `msg`.
    pub fn sign_sha256(&self, msg: &[u8]) -> Vec<u8> {
        self.key.sign_sha256(msg)
    }

    pub fn verify_sha256(&self, msg: &[u8], sig: &[u8]) -> Result<(), crate::signing::SignatureError> {
        self.key.public_key().verify_sha256(msg, sig)
    }

    fn jwk(&self) -> CoreJsonWebKey {
        let parts: PublicKeyComponents<Vec<u8>> = self.key.public_components();
        CoreJsonWebKey::new_rsa(parts.n, parts.e, Some(JsonWebKeyId::new(self.kid.clone())))
    }
}

impl PrivateSigningKey for SigningKey {
    type VerificationKey = CoreJsonWebKey;

    fn sign(&self, alg: &CoreJwsSigningAlgorithm, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        match alg {
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256 => Ok(self.key.sign_sha256(message)),
            other => Err(SigningError::UnsupportedAlg(format!("{other:?}"))),
        }
    }

    fn as_verification_key(&self) -> CoreJsonWebKey {
        self.jwk()
    }
}

/// The active key and the published set, as loaded from the database.
#[derive(Debug, Clone)]
pub struct KeyRing {
    pub active: Arc<SigningKey>,
    /// Every published key (the active one first), for verifying what we signed.
    pub published: Vec<Arc<SigningKey>>,
    pub jwks: CoreJsonWebKeySet,
    /// `jwks` serialised once, as the JWKS endpoint serves it.
    pub jwks_json: String,
}

type KeyRow = (String, Vec<u8>);

impl KeyRing {
    /// Loads the keys; creates the first one when there is none. Instances starting together on
    /// an empty database agree on one first key: only the holder of the lease `signing-key-init`
    /// creates it, the others wait for it (at most a minute).
    pub async fn load_or_create(db: &Db, now_ms: i64) -> Result<KeyRing, StoreError> {
        let owner = format!("key-init-{}", uuid::Uuid::new_v4().simple());
        for _ in 0..600 {
            if let Some(ring) = Self::load(db, now_ms).await? {
                return Ok(ring);
            }
            if crate::store::lease::acquire(db, "signing-key-init", &owner, 60_000, crate::now_ms()).await? {
                if Self::load(db, now_ms).await?.is_none() {
                    insert_new_key(db, now_ms).await?;
                }
                crate::store::lease::release(db, "signing-key-init", &owner).await?;
            } else {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        Err(StoreError::NotFound("a first signing key (another instance holds the lease to create it)".into()))
    }

    async fn load(db: &Db, now_ms: i64) -> Result<Option<KeyRing>, StoreError> {
        let active: Option<KeyRow> = sqlx::query_as(
            "SELECT kid, private_pkcs8 FROM oidc_signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC, kid LIMIT 1",
        )
        .fetch_optional(db.pool())
        .await?;
        let Some(active) = active else { return Ok(None) };
        let published: Vec<KeyRow> = sqlx::query_as(
            "SELECT kid, private_pkcs8 FROM oidc_signing_keys
             WHERE retired_at IS NULL OR publish_until > $1 ORDER BY created_at DESC, kid",
        )
        .bind(now_ms)
        .fetch_all(db.pool())
        .await?;
        let active = Arc::new(parse(active)?);
        let published: Vec<Arc<SigningKey>> = published.into_iter().map(|row| parse(row).map(Arc::new)).collect::<Result<_, _>>()?;
        let jwks = CoreJsonWebKeySet::new(published.iter().map(|k| k.jwk()).collect());
        let jwks_json = serde_json::to_string(&jwks).map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(Some(KeyRing { active, published, jwks, jwks_json }))
    }

    /// The published key with this `kid`.
    pub fn published_key(&self, kid: &str) -> Option<&SigningKey> {
        self.published.iter().find(|k| k.kid == kid).map(|k| k.as_ref())
    }
}

fn parse((kid, der): KeyRow) -> Result<SigningKey, StoreError> {
    let key = RsaPrivateKey::from_pkcs8_der(&der).map_err(|e| StoreError::corrupt("oidc_signing_keys", format!("signing key {kid}: {e}")))?;
    Ok(SigningKey { kid, key })
}

async fn insert_new_key(db: &Db, now_ms: i64) -> Result<String, StoreError> {
    let key = tokio::task::spawn_blocking(RsaPrivateKey::generate_2048)
        .await
        .map_err(|e| StoreError::Internal(format!("key generation task: {e}")))?
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    let der = key.to_pkcs8_der().map_err(|e| StoreError::Internal(e.to_string()))?;
    let kid = format!("{}-{}", time_tag(now_ms), &uuid::Uuid::new_v4().simple().to_string()[..8]);
    sqlx::query("INSERT INTO oidc_signing_keys (kid, private_pkcs8, created_at) VALUES ($1, $2, $3)")
        .bind(&kid)
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

/// Makes a new key active. Older active keys are retired and stay published for
/// `publish_for_ms` (at least the longest token lifetime). Returns the new `kid`.
pub async fn rotate(db: &Db, publish_for_ms: i64, now_ms: i64) -> Result<String, StoreError> {
    let kid = insert_new_key(db, now_ms).await?;
    sqlx::query("UPDATE oidc_signing_keys SET retired_at = $1, publish_until = $2 WHERE retired_at IS NULL AND kid <> $3")
        .bind(now_ms)
        .bind(now_ms + publish_for_ms)
        .bind(&kid)
        .execute(db.pool())
        .await?;
    Ok(kid)
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
        CoreIdToken::new(claims, ring.active.as_ref(), CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, None, None).unwrap()
    }

    fn verify(token: &CoreIdToken, jwks: CoreJsonWebKeySet) -> bool {
        let verifier = CoreIdTokenVerifier::new_public_client(
            ClientId::new("demo".into()),
            IssuerUrl::new("http://127.0.0.1:3000".into()).unwrap(),
            jwks,
        );
        token.claims(&verifier, &Nonce::new("n-1".into())).is_ok()
    }

    #[tokio::test]
    async fn first_start_creates_a_key_and_later_starts_reuse_it() {
        let (_d, db) = temp_db().await;
        let first = KeyRing::load_or_create(&db, T0).await.unwrap();
        let again = KeyRing::load_or_create(&db, T0 + 1).await.unwrap();
        assert_eq!(first.active.kid, again.active.kid);
        assert_eq!(first.jwks.keys().len(), 1);
        let token = id_token(&first);
        assert!(verify(&token, again.jwks.clone()), "an ID token verifies against the published JWKS");
    }

    #[tokio::test]
    async fn rotation_keeps_the_old_key_published_until_its_tokens_expire() {
        let (_d, db) = temp_db().await;
        let old = KeyRing::load_or_create(&db, T0).await.unwrap();
        let old_token = id_token(&old);
        let new_kid = rotate(&db, 3_600_000, T0 + 10).await.unwrap();
        let ring = KeyRing::load_or_create(&db, T0 + 20).await.unwrap();
        assert_eq!(ring.active.kid, new_kid);
        assert_eq!(ring.jwks.keys().len(), 2);
        assert!(verify(&old_token, ring.jwks.clone()), "tokens signed before the rotation still verify");
        assert!(verify(&id_token(&ring), ring.jwks.clone()));

        let later = KeyRing::load_or_create(&db, T0 + 10 + 3_600_000).await.unwrap();
        assert_eq!(later.jwks.keys().len(), 1, "the old key is gone once its tokens have expired");
        assert!(!verify(&old_token, later.jwks));
    }
}
