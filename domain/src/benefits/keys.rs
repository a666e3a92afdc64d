//! RSA-2048 keys of the benefit APIs (§2.5), per platform and owner, with versions
//! (`keyVersion` in the `Signature` header) and rotation. Stored as Alipay+ publishes them:
//! PKCS#8 private and X.509 SubjectPublicKeyInfo public, DER (base64 without PEM armour on the
//! command line).
//!
//! Where is each rule?
//! - ours ([`Owner::Isv`]): [`generate`] makes a new version (active at once, or later with
//!   [`activate`]); the newest activated, unretired one signs our requests and responses; the
//!   private key is read back only by [`private_key_base64`] (an explicit CLI command), never
//!   printed or logged otherwise (its `Debug` is redacted);
//! - the platform's ([`Owner::Platform`]): [`register_platform_key`] stores a public key under a
//!   new (or given) version; any unretired version verifies, chosen by the header's
//!   `keyVersion` (the newest when the header has none);
//! - [`retire`] stops a version from signing or verifying; versions are never reused, so a
//!   parsed key can be cached by version for the life of the process ([`KeyStore`]).

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use base64::{engine::general_purpose::STANDARD, Engine};
use serde::Serialize;

use super::BenefitError;
use crate::{
    signing::{RsaPrivateKey, RsaPublicKey},
    store::Db,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Owner {
    /// Ours: we sign with it; the platform verifies with its public half.
    Isv,
    /// The platform's: we verify its requests and responses with it.
    Platform,
}

impl Owner {
    pub fn as_str(self) -> &'static str {
        match self {
            Owner::Isv => "ISV",
            Owner::Platform => "PLATFORM",
        }
    }

    pub fn parse(s: &str) -> Option<Owner> {
        match s.to_ascii_uppercase().as_str() {
            "ISV" => Some(Owner::Isv),
            "PLATFORM" => Some(Owner::Platform),
            _ => None,
        }
    }
}

/// What operators see of a key: never the private half.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    pub client_id: String,
    pub owner: Owner,
    pub key_version: i64,
    pub public_key: String,
    pub activated_at_ms: Option<i64>,
    pub retired_at_ms: Option<i64>,
    pub created_at_ms: i64,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    client_id: String,
    owner: String,
    key_version: i64,
    public_spki: Vec<u8>,
    activated_at: Option<i64>,
    retired_at: Option<i64>,
    created_at: i64,
}

impl KeyRow {
    fn info(self) -> Result<KeyInfo, BenefitError> {
        let owner = Owner::parse(&self.owner).ok_or_else(|| crate::StoreError::corrupt("benefit_keys", format!("owner {:?}", self.owner)))?;
        Ok(KeyInfo {
            client_id: self.client_id,
            owner,
            key_version: self.key_version,
            public_key: STANDARD.encode(&self.public_spki),
            activated_at_ms: self.activated_at,
            retired_at_ms: self.retired_at,
            created_at_ms: self.created_at,
        })
    }
}

const KEY_COLUMNS: &str = "client_id, owner, key_version, public_spki, activated_at, retired_at, created_at";

/// Every key of a platform, ours first, newest version first.
pub async fn list(db: &Db, client_id: &str) -> Result<Vec<KeyInfo>, BenefitError> {
    let rows: Vec<KeyRow> = sqlx::query_as(&format!("SELECT {KEY_COLUMNS} FROM benefit_keys WHERE client_id = $1 ORDER BY owner, key_version DESC"))
        .bind(client_id)
        .fetch_all(db.pool())
        .await?;
    rows.into_iter().map(KeyRow::info).collect()
}

async fn require_platform(db: &Db, client_id: &str) -> Result<(), BenefitError> {
    let known: Option<i32> = sqlx::query_scalar("SELECT 1 FROM benefit_platforms WHERE client_id = $1").bind(client_id).fetch_optional(db.pool()).await?;
    known.map(|_| ()).ok_or(BenefitError::UnknownPlatform)
}

/// Inserts a key under the next free version of (platform, owner), or under `version`.
async fn insert(db: &Db, client_id: &str, owner: Owner, version: Option<i64>, public: &[u8], private: Option<&[u8]>, activate: bool, now_ms: i64) -> Result<i64, BenefitError> {
    require_platform(db, client_id).await?;
    if let Some(v) = version {
        if v < 1 {
            return Err(BenefitError::Invalid("a key version is a whole number from 1".into()));
        }
    }
    // Two operators at once may pick the same next version: the primary key refuses one, which tries again.
    for _ in 0..5 {
        let next = match version {
            Some(v) => v,
            None => {
                let max: Option<i64> = sqlx::query_scalar("SELECT MAX(key_version) FROM benefit_keys WHERE client_id = $1 AND owner = $2")
                    .bind(client_id)
                    .bind(owner.as_str())
                    .fetch_one(db.pool())
                    .await?;
                max.unwrap_or(0).checked_add(1).ok_or_else(|| BenefitError::Invalid("no key version left".into()))?
            }
        };
        let done = sqlx::query(
            "INSERT INTO benefit_keys (client_id, owner, key_version, public_spki, private_pkcs8, activated_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(client_id)
        .bind(owner.as_str())
        .bind(next)
        .bind(public)
        .bind(private)
        .bind(activate.then_some(now_ms))
        .bind(now_ms)
        .execute(db.pool())
        .await?;
        if done.rows_affected() == 1 {
            return Ok(next);
        }
        if version.is_some() {
            return Err(BenefitError::Invalid(format!("{} key version {next} already exists; versions are never reused", owner.as_str())));
        }
    }
    Err(BenefitError::Invalid("could not allocate a key version; try again".into()))
}

/// Makes a new RSA-2048 key of ours for `client_id`; with `activate` it signs from now on.
/// Returns its version.
pub async fn generate(db: &Db, client_id: &str, activate: bool, now_ms: i64) -> Result<i64, BenefitError> {
    let key = tokio::task::spawn_blocking(RsaPrivateKey::generate_2048)
        .await
        .map_err(|e| BenefitError::Invalid(format!("key generation: {e}")))?
        .map_err(|e| BenefitError::Invalid(e.to_string()))?;
    let private = key.to_pkcs8_der().map_err(|e| BenefitError::Invalid(e.to_string()))?;
    insert(db, client_id, Owner::Isv, None, key.public_key().spki_der(), Some(&private), activate, now_ms).await
}

/// Makes our key `version` the one that signs (it must exist and not be retired).
pub async fn activate(db: &Db, client_id: &str, version: i64, now_ms: i64) -> Result<(), BenefitError> {
    let done = sqlx::query("UPDATE benefit_keys SET activated_at = $4 WHERE client_id = $1 AND owner = $2 AND key_version = $3 AND retired_at IS NULL")
        .bind(client_id)
        .bind(Owner::Isv.as_str())
        .bind(version)
        .bind(now_ms)
        .execute(db.pool())
        .await?;
    if done.rows_affected() == 0 {
        return Err(BenefitError::Invalid(format!("no unretired key of ours with version {version} for {client_id}")));
    }
    Ok(())
}

/// Stores a platform's public key (base64 X.509 DER, as Alipay+ publishes it) under `version`
/// or the next one. Returns the version.
pub async fn register_platform_key(db: &Db, client_id: &str, version: Option<i64>, public_b64: &str, now_ms: i64) -> Result<i64, BenefitError> {
    let public = RsaPublicKey::from_spki_base64(public_b64).map_err(|e| BenefitError::Invalid(format!("the platform's public key: {e}")))?;
    insert(db, client_id, Owner::Platform, version, public.spki_der(), None, true, now_ms).await
}

/// Retires a version: it neither signs nor verifies any more.
pub async fn retire(db: &Db, client_id: &str, owner: Owner, version: i64, now_ms: i64) -> Result<(), BenefitError> {
    let done = sqlx::query("UPDATE benefit_keys SET retired_at = $4 WHERE client_id = $1 AND owner = $2 AND key_version = $3 AND retired_at IS NULL")
        .bind(client_id)
        .bind(owner.as_str())
        .bind(version)
        .bind(now_ms)
        .execute(db.pool())
        .await?;
    if done.rows_affected() == 0 {
        return Err(BenefitError::Invalid(format!("no unretired {} key version {version} for {client_id}", owner.as_str())));
    }
    Ok(())
}

/// Our private key `version`, base64 PKCS#8 DER: for the explicit export command only.
pub async fn private_key_base64(db: &Db, client_id: &str, version: i64) -> Result<String, BenefitError> {
    let der: Option<Option<Vec<u8>>> = sqlx::query_scalar("SELECT private_pkcs8 FROM benefit_keys WHERE client_id = $1 AND owner = 'ISV' AND key_version = $2")
        .bind(client_id)
        .bind(version)
        .fetch_optional(db.pool())
        .await?;
    let der = der.flatten().ok_or_else(|| BenefitError::Invalid(format!("no key of ours with version {version} for {client_id}")))?;
    Ok(STANDARD.encode(der))
}

/// A key ready to sign with, and its version.
#[derive(Clone)]
pub struct SigningKey {
    pub version: i64,
    pub key: Arc<RsaPrivateKey>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(v{}, ..)", self.version)
    }
}

/// A platform's public key and its version.
#[derive(Debug, Clone)]
pub struct VerifyingKey {
    pub version: i64,
    pub key: Arc<RsaPublicKey>,
}

/// What a message exchange with one platform needs: our signing key and the platform's
/// verifying keys (unretired versions).
#[derive(Debug, Clone)]
pub struct PlatformKeys {
    pub signing: Option<SigningKey>,
    pub verifying: Vec<VerifyingKey>,
}

impl PlatformKeys {
    /// The platform key for a header's `keyVersion` (none: the newest).
    pub fn verifying(&self, key_version: Option<&str>) -> Option<&VerifyingKey> {
        match key_version {
            None => self.verifying.iter().max_by_key(|k| k.version),
            Some(v) => {
                let v: i64 = v.trim().parse().ok()?;
                self.verifying.iter().find(|k| k.version == v)
            }
        }
    }
}

enum Parsed {
    Private(Arc<RsaPrivateKey>),
    Public(Arc<RsaPublicKey>),
}

#[derive(sqlx::FromRow)]
struct LiveKeyRow {
    owner: String,
    key_version: i64,
    public_spki: Vec<u8>,
    private_pkcs8: Option<Vec<u8>>,
    activated_at: Option<i64>,
}

/// Loads a platform's live keys with one query per message; parsing (the costly part) happens
/// once per version per process, because versions are immutable.
#[derive(Clone)]
pub struct KeyStore {
    db: Db,
    parsed: Arc<RwLock<HashMap<(String, Owner, i64), Arc<Parsed>>>>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyStore(..)")
    }
}

impl KeyStore {
    pub fn new(db: Db) -> Self {
        Self { db, parsed: Arc::default() }
    }

    /// `None` when no platform has this `Client-Id` (no key of any kind is registered for it).
    pub async fn for_platform(&self, client_id: &str) -> Result<Option<PlatformKeys>, BenefitError> {
        let rows: Vec<LiveKeyRow> = sqlx::query_as(
            "SELECT owner, key_version, public_spki, private_pkcs8, activated_at FROM benefit_keys
             WHERE client_id = $1 AND retired_at IS NULL",
        )
        .bind(client_id)
        .fetch_all(self.db.pool())
        .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut keys = PlatformKeys { signing: None, verifying: Vec::new() };
        let mut newest_active = i64::MIN;
        for row in rows {
            let owner = Owner::parse(&row.owner).ok_or_else(|| crate::StoreError::corrupt("benefit_keys", format!("owner {:?}", row.owner)))?;
            match owner {
                Owner::Platform => {
                    if let Parsed::Public(key) = &*self.parsed(client_id, owner, &row)? {
                        keys.verifying.push(VerifyingKey { version: row.key_version, key: key.clone() });
                    }
                }
                Owner::Isv => {
                    let Some(at) = row.activated_at else { continue };
                    if (at, row.key_version) > (newest_active, keys.signing.as_ref().map_or(0, |k| k.version)) {
                        if let Parsed::Private(key) = &*self.parsed(client_id, owner, &row)? {
                            newest_active = at;
                            keys.signing = Some(SigningKey { version: row.key_version, key: key.clone() });
                        }
                    }
                }
            }
        }
        Ok(Some(keys))
    }

    fn parsed(&self, client_id: &str, owner: Owner, row: &LiveKeyRow) -> Result<Arc<Parsed>, BenefitError> {
        let id = (client_id.to_string(), owner, row.key_version);
        if let Some(p) = self.parsed.read().unwrap_or_else(|e| e.into_inner()).get(&id) {
            return Ok(p.clone());
        }
        let corrupt = |e: crate::signing::SignatureError| crate::StoreError::corrupt("benefit_keys", format!("{client_id} {} v{}: {e}", owner.as_str(), row.key_version));
        let parsed = Arc::new(match (owner, &row.private_pkcs8) {
            (Owner::Isv, Some(der)) => Parsed::Private(Arc::new(RsaPrivateKey::from_pkcs8_der(der).map_err(corrupt)?)),
            (Owner::Isv, None) => return Err(crate::StoreError::corrupt("benefit_keys", "an ISV key without its private half").into()),
            (Owner::Platform, _) => Parsed::Public(Arc::new(RsaPublicKey::from_spki_der(&row.public_spki).map_err(corrupt)?)),
        });
        self.parsed.write().unwrap_or_else(|e| e.into_inner()).insert(id, parsed.clone());
        Ok(parsed)
    }
}
