//! [`Idp`]: everything the sign-in provider needs, in one cheap-to-clone handle shared by the
//! HTTP endpoints (server) and the sign-in pages' server functions (app).

use std::sync::{Arc, RwLock};

use super::{
    clients::{Client, ClientCache, ClientError},
    signer::Signer,
    flows::Services,
    grants::GrantPolicy,
    otp::OtpPolicy,
    signing_keys::KeyRing,
    sms::{DevInbox, SmsSender},
    tokens::TokenPolicy,
};
use crate::store::{Db, StoreError};

#[derive(Clone)]
pub struct Idp {
    pub db: Db,
    /// The issuer URL (`iss`), no trailing slash.
    pub issuer: String,
    pub otp: OtpPolicy,
    pub grants: GrantPolicy,
    pub tokens: TokenPolicy,
    /// The partner clients this instance has read ([`ClientCache`]: how stale they may be).
    pub clients: ClientCache,
    pub sms: Arc<dyn SmsSender>,
    /// Sandbox only: the codes "sent", for testers and browser tests.
    pub inbox: Option<DevInbox>,
    keys: Arc<RwLock<Arc<KeyRing>>>,
    /// When the keys were last reloaded for an unknown key ([`Idp::with_keys`]).
    last_reload_ms: Arc<std::sync::atomic::AtomicI64>,
    /// The token signatures' threads ([`Idp::sign`]).
    signer: Signer,
}

impl std::fmt::Debug for Idp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idp").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

impl Idp {
    /// Loads (or on first start creates) the signing keys.
    #[allow(clippy::too_many_arguments)]
    pub async fn new(
        db: Db,
        issuer: String,
        otp: OtpPolicy,
        grants: GrantPolicy,
        tokens: TokenPolicy,
        clients: ClientCache,
        sms: Arc<dyn SmsSender>,
        inbox: Option<DevInbox>,
        now_ms: i64,
    ) -> Result<Idp, StoreError> {
        let ring = KeyRing::load_or_create(&db, now_ms).await?;
        Ok(Idp { db, issuer, otp, grants, tokens, clients, sms, inbox, keys: Arc::new(RwLock::new(Arc::new(ring))), last_reload_ms: Arc::default(), signer: Signer::per_core() })
    }

    /// The current key ring (cheap: an `Arc` clone).
    pub fn keys(&self) -> Arc<KeyRing> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Re-reads the keys, so a `joygate keys rotate` reaches every server. Returns true when
    /// the published set changed.
    pub async fn reload_keys(&self, now_ms: i64) -> Result<bool, StoreError> {
        let ring = KeyRing::load_or_create(&self.db, now_ms).await?;
        let mut current = self.keys.write().unwrap_or_else(|e| e.into_inner());
        let changed = current.active_kids() != ring.active_kids() || current.jwks_json != ring.jwks_json;
        if changed {
            *current = Arc::new(ring);
        }
        Ok(changed)
    }

    /// Runs `check` (a token verification) with the keys; when it fails for a key this instance
    /// does not know yet — another instance rotated or created it since our last reload — reloads
    /// the keys once and tries again. Reloads at most once a second, so bad tokens cannot make
    /// us hit the database on every request.
    pub async fn with_keys<T, E>(&self, check: impl Fn(&KeyRing) -> Result<T, E>, unknown_key: impl Fn(&E) -> bool) -> Result<T, E> {
        let first = check(&self.keys());
        match first {
            Err(e) if unknown_key(&e) => {
                let now = crate::now_ms();
                let last = self.last_reload_ms.load(std::sync::atomic::Ordering::Relaxed);
                if now - last < 1_000 || self.last_reload_ms.compare_exchange(last, now, std::sync::atomic::Ordering::Relaxed, std::sync::atomic::Ordering::Relaxed).is_err() {
                    return Err(e);
                }
                if let Err(reload) = self.reload_keys(now).await {
                    tracing::warn!(error = %reload, "reloading the signing keys for an unknown key failed");
                    return Err(e);
                }
                check(&self.keys())
            }
            other => other,
        }
    }

    /// Runs `sign` (token signatures) on the signing threads ([`Signer`]: why not tokio's
    /// blocking pool). `Err`: `sign` panicked.
    pub async fn sign<T: Send + 'static>(&self, sign: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
        self.signer.run(sign).await
    }

    /// The partner client `client_id`, as [`ClientCache`] keeps it.
    pub async fn client(&self, client_id: &str) -> Result<Option<Client>, ClientError> {
        self.clients.find(&self.db, client_id).await
    }

    pub fn services(&self) -> Services<'_> {
        Services { db: &self.db, otp: &self.otp, grants: &self.grants, sms: self.sms.as_ref() }
    }
}
