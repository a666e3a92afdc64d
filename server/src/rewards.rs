//! Reward task clients as the server knows them: who they are (a registered partner's
//! `client_id`), the SHA-256 of their API key, the RSA public key their Data signatures verify
//! with (configured as PEM, or fetched from the client's key URL and cached), their calendar
//! and their rules. Shared by the gateway (`http::rewards`) and the worker
//! (`workers::reward_tasks`), with the clock both read.
//!
//! Where is each rule? The API key check: [`RewardClientEntry::api_key_matches`]. Which key a
//! signature is checked with, and when a key URL is fetched again: [`RewardClientEntry::verify`]
//! (the signed string itself is `domain::signing::loyalty_task`).

use std::{collections::BTreeMap, sync::Arc, time::Duration};


use anyhow::Context;
use domain::{
    clock::Clock,
    rewards::RewardClient,
    signing::{constant_time_eq, loyalty_task, RsaPublicKey, SignatureError},
};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::config::{RewardClientSettings, RewardsSettings};

const KEY_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_KEY_BYTES: usize = 16 * 1024;

/// Why a Data signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the Data signature does not verify with the client's public key")]
    Mismatch,
    #[error("{0}")]
    Malformed(&'static str),
    /// The client's key itself is refused (below 1024 bits, not an RSA key).
    #[error("the client's public key is refused: {0}")]
    KeyRefused(&'static str),
    /// The key URL did not answer with a key: worth trying again later.
    #[error("the client's public key could not be fetched: {0}")]
    Unavailable(String),
}

impl From<SignatureError> for KeyError {
    fn from(e: SignatureError) -> Self {
        match e {
            SignatureError::Malformed(m) => KeyError::Malformed(m),
            SignatureError::InvalidKey(m) => KeyError::KeyRefused(m),
            _ => KeyError::Mismatch,
        }
    }
}

enum KeySource {
    Pem(RsaPublicKey),
    Url { url: url::Url, cached: Mutex<Option<RsaPublicKey>> },
}

/// One client's settings, ready to check requests.
pub struct RewardClientEntry {
    pub client: RewardClient,
    api_key_sha256: [u8; 32],
    key: KeySource,
}

impl std::fmt::Debug for RewardClientEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RewardClientEntry").field("client", &self.client).field("key", &self.key_description()).finish()
    }
}

impl RewardClientEntry {
    /// Reads and checks one client's settings (a bad key, hash, URL or rule is an error now).
    pub fn new(client_id: &str, settings: &RewardClientSettings) -> anyhow::Result<RewardClientEntry> {
        let hash = hex::decode(settings.api_key_sha256.trim()).ok().and_then(|h| <[u8; 32]>::try_from(h).ok());
        let api_key_sha256 = hash.context("api_key_sha256 must be 64 hex digits (joygate rewards api-key prints one)")?;
        let key = match (&settings.public_key_pem, &settings.public_key_url) {
            (Some(pem), None) => KeySource::Pem(RsaPublicKey::from_pem(pem).map_err(|e| anyhow::anyhow!("public_key_pem: {e}"))?),
            (None, Some(url)) => {
                let url = url::Url::parse(url).ok().filter(|u| matches!(u.scheme(), "https" | "http")).context("public_key_url must be an http(s) URL")?;
                KeySource::Url { url, cached: Mutex::new(None) }
            }
            _ => anyhow::bail!("give exactly one of public_key_pem and public_key_url"),
        };
        settings.rules.validate().map_err(|e| anyhow::anyhow!("rules: {e}"))?;
        let client = RewardClient { client_id: client_id.to_string(), time_zone: settings.time_zone.clone(), rules: settings.rules.clone() };
        Ok(RewardClientEntry { client, api_key_sha256, key })
    }

    /// The presented API key hashes to the configured SHA-256 (compared in constant time).
    pub fn api_key_matches(&self, presented: &str) -> bool {
        constant_time_eq(&Sha256::digest(presented.as_bytes()), &self.api_key_sha256)
    }

    /// For operators: where the key comes from, and which key it is.
    pub fn key_description(&self) -> String {
        match &self.key {
            KeySource::Pem(k) => format!("PEM, {} bits, SHA-256 {}", k.bits(), &k.fingerprint()[..16]),
            KeySource::Url { url, .. } => format!("fetched from {url}"),
        }
    }

    /// Checks `data`'s signature with the client's key. A key from a URL is fetched when none
    /// is cached, and once more when the cached one does not verify (the client may have
    /// rotated it); requests failing together share that one fetch.
    pub async fn verify(&self, http: &reqwest::Client, data: &Map<String, Value>) -> Result<(), KeyError> {
        let (url, cached) = match &self.key {
            KeySource::Pem(key) => return Ok(loyalty_task::verify_data(key, data)?),
            KeySource::Url { url, cached } => (url, cached),
        };
        let tried = {
            let mut slot = cached.lock().await;
            match &*slot {
                Some(key) => key.clone(),
                None => slot.insert(fetch(http, url).await?).clone(),
            }
        };
        match loyalty_task::verify_data(&tried, data) {
            Ok(()) => return Ok(()),
            Err(SignatureError::Mismatch) => {}
            Err(e) => return Err(e.into()),
        }
        let fresh = {
            let mut slot = cached.lock().await;
            match &*slot {
                // another request fetched a new key while this one waited: use it
                Some(key) if *key != tried => key.clone(),
                _ => slot.insert(fetch(http, url).await?).clone(),
            }
        };
        if fresh == tried {
            return Err(KeyError::Mismatch);
        }
        tracing::info!(client = %self.client.client_id, %url, "reward client: a new public key was fetched");
        Ok(loyalty_task::verify_data(&fresh, data)?)
    }
}

/// GETs a PEM public key.
async fn fetch(http: &reqwest::Client, url: &url::Url) -> Result<RsaPublicKey, KeyError> {
    let unavailable = |e: String| KeyError::Unavailable(format!("{url}: {e}"));
    let res = http.get(url.clone()).timeout(KEY_FETCH_TIMEOUT).send().await.map_err(|e| unavailable(e.to_string()))?;
    if !res.status().is_success() {
        return Err(unavailable(format!("HTTP {}", res.status())));
    }
    if res.content_length().is_some_and(|n| n > MAX_KEY_BYTES as u64) {
        return Err(unavailable("the key is larger than 16 KiB".into()));
    }
    let body = res.bytes().await.map_err(|e| unavailable(e.to_string()))?;
    if body.len() > MAX_KEY_BYTES {
        return Err(unavailable("the key is larger than 16 KiB".into()));
    }
    let pem = std::str::from_utf8(&body).map_err(|_| KeyError::KeyRefused("the key URL's answer is not a PEM text"))?;
    Ok(RsaPublicKey::from_pem(pem)?)
}

/// The reward clients, the HTTP client that fetches their keys, the clock, and the worker's
/// retry settings.
pub struct Rewards {
    clients: BTreeMap<String, Arc<RewardClientEntry>>,
    pub http: reqwest::Client,
    pub clock: Arc<dyn Clock>,
    pub max_attempts: u32,
    pub retry: domain::outbox::RetryPolicy,
}

impl std::fmt::Debug for Rewards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rewards").field("clients", &self.clients.keys().collect::<Vec<_>>()).finish()
    }
}

impl Rewards {
    /// From `[rewards]`; every client must be a registered partner.
    pub async fn from_settings(settings: &RewardsSettings, db: &domain::Db, clock: Arc<dyn Clock>) -> anyhow::Result<Rewards> {
        let mut rewards = Rewards {
            clients: BTreeMap::new(),
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::limited(3)).build()?,
            clock,
            max_attempts: settings.max_attempts.clamp(1, 100),
            retry: domain::outbox::RetryPolicy { base_ms: settings.first_retry_ms.max(1), max_delay_ms: settings.max_retry_delay_ms.max(1) },
        };
        for (client_id, client) in &settings.clients {
            anyhow::ensure!(
                domain::identity::clients::find(db, client_id).await?.is_some(),
                "[rewards.clients.{client_id}]: no registered client {client_id} (add it with [[clients]] or joygate clients add)"
            );
            let entry = RewardClientEntry::new(client_id, client).with_context(|| format!("[rewards.clients.{client_id}]"))?;
            rewards.clients.insert(client_id.clone(), Arc::new(entry));
        }
        Ok(rewards)
    }

    /// Adds (or replaces) a client: the sandbox membership app registers itself at start.
    pub fn insert(&mut self, entry: RewardClientEntry) {
        self.clients.insert(entry.client.client_id.clone(), Arc::new(entry));
    }

    pub fn get(&self, client_id: &str) -> Option<&Arc<RewardClientEntry>> {
        self.clients.get(client_id)
    }

    pub fn entries(&self) -> impl Iterator<Item = &Arc<RewardClientEntry>> {
        self.clients.values()
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}

/// A new API key and the `api_key_sha256` to configure for it.
pub fn new_api_key() -> (String, String) {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let key = hex::encode(bytes);
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    (key, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pem: Option<String>, url: Option<String>) -> RewardClientSettings {
        RewardClientSettings {
            api_key_sha256: hex::encode(Sha256::digest(b"the-key")),
            public_key_pem: pem,
            public_key_url: url,
            time_zone: Default::default(),
            rules: Default::default(),
        }
    }

    #[test]
    fn settings_are_checked_when_read() {
        let key = domain::signing::RsaPrivateKey::generate_2048().unwrap();
        let ok = RewardClientEntry::new("shop", &settings(Some(key.public_key().to_pem()), None)).unwrap();
        assert!(ok.api_key_matches("the-key") && !ok.api_key_matches("the-key ") && !ok.api_key_matches(""));
        assert!(ok.key_description().starts_with("PEM, 2048 bits"));
        assert!(RewardClientEntry::new("shop", &settings(None, None)).is_err());
        assert!(RewardClientEntry::new("shop", &settings(Some(key.public_key().to_pem()), Some("https://x.example/k".into()))).is_err());
        assert!(RewardClientEntry::new("shop", &settings(None, Some("ftp://x.example/k".into()))).is_err());
        let small = include_str!("../../domain/tests/fixtures/signing/loyalty_task_python.json");
        let small: Value = serde_json::from_str(small).unwrap();
        let err = RewardClientEntry::new("shop", &settings(small["rsa512_public_key_pem"].as_str().map(str::to_string), None)).unwrap_err();
        assert!(format!("{err:#}").contains("below 1024 bits"), "{err:#}");
        let mut bad_hash = settings(Some(key.public_key().to_pem()), None);
        bad_hash.api_key_sha256 = "abc".into();
        assert!(RewardClientEntry::new("shop", &bad_hash).is_err());
        let (api_key, hash) = new_api_key();
        let mut fresh = settings(Some(key.public_key().to_pem()), None);
        fresh.api_key_sha256 = hash;
        assert!(RewardClientEntry::new("shop", &fresh).unwrap().api_key_matches(&api_key));
    }
}
