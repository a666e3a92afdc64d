//! Partner clients of the sign-in provider: who may ask for a sign-in, where the answer may be
//! sent (exact redirect URIs), and which web origins may frame the sign-in page, receive its
//! postMessage events and call the token endpoint from a browser.
//!
//! Confidential clients (a partner server) authenticate with a secret we generate; only its
//! SHA-256 is stored (the secret is 256 random bits, so a fast hash is enough). Public clients
//! (single-page apps) have no secret and must use PKCE.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use crate::store::{Db, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    /// `None` for a public client.
    #[serde(skip)]
    secret_hash: Option<Vec<u8>>,
    pub redirect_uris: Vec<String>,
    pub web_origins: Vec<String>,
    pub logo_uri: Option<String>,
    /// The partner-API scopes this client may ask for with client_credentials
    /// (`tokens::PARTNER_SCOPES`; `partner` means all of them).
    pub scopes: Vec<String>,
    /// What its ID and access tokens are signed with (`id_token_signed_response_alg`).
    pub token_alg: super::signing_keys::Alg,
}

/// What registering a client takes (from the CLI or the configuration file).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    pub client_id: String,
    pub name: String,
    /// `false` for a single-page app (no secret, PKCE required).
    #[serde(default = "yes")]
    pub confidential: bool,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub web_origins: Vec<String>,
    #[serde(default)]
    pub logo_uri: Option<String>,
    /// Hex SHA-256 of the client's secret, for clients declared in the configuration file
    /// (`joygate clients add` prints it); unset, registering generates a secret.
    #[serde(default)]
    pub secret_sha256: Option<String>,
    /// Partner-API scopes the client may be granted (`partner`, `user:read`, `user:write`,
    /// `point:read`, `point:earn`, `point:redeem`, `benefit:use`); empty means `partner`, i.e. all.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `RS256` (default), `ES256` or `EdDSA`: what its ID and access tokens are signed with
    /// (OpenID Connect Registration's `id_token_signed_response_alg`).
    #[serde(default)]
    pub id_token_signed_response_alg: super::signing_keys::Alg,
}

fn yes() -> bool {
    true
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("client_id must be 3 to 64 letters, digits, '-', '_' or '.'")]
    BadClientId,
    #[error("redirect URI {0:?} must be an absolute https URL without a fragment (http only on localhost)")]
    BadRedirectUri(String),
    #[error("web origin {0:?} must be scheme://host[:port] with nothing after it (http only on localhost)")]
    BadOrigin(String),
    #[error("unknown partner scope {0:?}; known: partner user:read user:write point:read point:earn point:redeem benefit:use")]
    BadScope(String),
    #[error("a client needs at least one redirect URI")]
    NoRedirectUri,
    #[error("name must not be empty")]
    NoName,
    #[error("secret_sha256 must be 64 hex digits, and only for a confidential client")]
    BadSecretHash,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ClientError {
    fn from(e: sqlx::Error) -> Self {
        ClientError::Store(e.into())
    }
}

fn is_loopback(url: &Url) -> bool {
    matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

fn check_redirect(uri: &str) -> Result<String, ClientError> {
    let bad = || ClientError::BadRedirectUri(uri.to_string());
    let url = Url::parse(uri).map_err(|_| bad())?;
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && is_loopback(&url));
    if !scheme_ok || url.fragment().is_some() || url.host_str().is_none() {
        return Err(bad());
    }
    Ok(uri.to_string()) // stored as given: matching is exact string comparison
}

fn check_origin(origin: &str) -> Result<String, ClientError> {
    let bad = || ClientError::BadOrigin(origin.to_string());
    let url = Url::parse(origin).map_err(|_| bad())?;
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && is_loopback(&url));
    let serialised = url.origin().ascii_serialization();
    if !scheme_ok || serialised != origin.trim_end_matches('/') || url.path() != "/" || url.query().is_some() {
        return Err(bad());
    }
    Ok(serialised)
}

fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// What a `[[clients]]` entry's `secret_sha256` holds for `secret`.
pub fn secret_sha256(secret: &str) -> String {
    hex::encode(hash_secret(secret))
}

impl ClientSpec {
    fn validated(&self) -> Result<(Vec<String>, Vec<String>), ClientError> {
        let id_ok = (3..=64).contains(&self.client_id.len())
            && self.client_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !id_ok {
            return Err(ClientError::BadClientId);
        }
        if self.name.trim().is_empty() {
            return Err(ClientError::NoName);
        }
        if self.redirect_uris.is_empty() {
            return Err(ClientError::NoRedirectUri);
        }
        let redirects = self.redirect_uris.iter().map(|u| check_redirect(u)).collect::<Result<Vec<_>, _>>()?;
        let origins = self.web_origins.iter().map(|o| check_origin(o)).collect::<Result<Vec<_>, _>>()?;
        if let Some(bad) = self.scopes.iter().find(|s| !super::tokens::PARTNER_SCOPES.contains(&s.as_str())) {
            return Err(ClientError::BadScope(bad.clone()));
        }
        Ok((redirects, origins))
    }

    /// The scopes as stored: space-separated, `partner` when none were given.
    fn scope_list(&self) -> String {
        if self.scopes.is_empty() {
            super::tokens::PARTNER_SCOPE.to_string()
        } else {
            self.scopes.join(" ")
        }
    }
}

/// Creates or replaces a client. For a confidential client a fresh secret is generated and
/// returned (shown once); `keep_secret` keeps the existing one when the client exists.
pub async fn register(db: &Db, spec: &ClientSpec, keep_secret: bool, now_ms: i64) -> Result<(Client, Option<String>), ClientError> {
    let (redirects, origins) = spec.validated()?;
    let existing = find(db, &spec.client_id).await?;
    let given_hash = match (&spec.secret_sha256, spec.confidential) {
        (None, _) => None,
        (Some(h), true) => Some(hex::decode(h).ok().filter(|h| h.len() == 32).ok_or(ClientError::BadSecretHash)?),
        (Some(_), false) => return Err(ClientError::BadSecretHash),
    };
    let (secret, secret_hash) = match (spec.confidential, existing.as_ref().and_then(|c| c.secret_hash.clone())) {
        (false, _) => (None, None),
        (true, _) if given_hash.is_some() => (None, given_hash),
        (true, Some(hash)) if keep_secret => (None, Some(hash)),
        (true, _) => {
            let mut raw = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut raw);
            let secret = hex::encode(raw);
            let hash = hash_secret(&secret);
            (Some(secret), Some(hash))
        }
    };
    sqlx::query(
        "INSERT INTO oidc_clients (client_id, secret_hash, name, redirect_uris, web_origins, logo_uri, partner_scopes, token_alg, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $8, $9, $7, $7)
         ON CONFLICT (client_id) DO UPDATE SET secret_hash = excluded.secret_hash, name = excluded.name,
             redirect_uris = excluded.redirect_uris, web_origins = excluded.web_origins, logo_uri = excluded.logo_uri,
             partner_scopes = excluded.partner_scopes, token_alg = excluded.token_alg, updated_at = excluded.updated_at",
    )
    .bind(&spec.client_id)
    .bind(&secret_hash)
    .bind(spec.name.trim())
    .bind(serde_json::to_string(&redirects).expect("strings serialise"))
    .bind(serde_json::to_string(&origins).expect("strings serialise"))
    .bind(&spec.logo_uri)
    .bind(now_ms)
    .bind(spec.scope_list())
    .bind(spec.id_token_signed_response_alg.as_str())
    .execute(db.pool())
    .await?;
    let client = find(db, &spec.client_id).await?.ok_or(ClientError::BadClientId)?;
    Ok((client, secret))
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    client_id: String,
    secret_hash: Option<Vec<u8>>,
    name: String,
    redirect_uris: String,
    web_origins: String,
    logo_uri: Option<String>,
    partner_scopes: String,
    token_alg: String,
}

pub async fn find(db: &Db, client_id: &str) -> Result<Option<Client>, ClientError> {
    let row: Option<ClientRow> =
        sqlx::query_as("SELECT client_id, secret_hash, name, redirect_uris, web_origins, logo_uri, partner_scopes, token_alg FROM oidc_clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(db.pool())
            .await?;
    let Some(r) = row else { return Ok(None) };
    let list = |what: &str, json: &str| -> Result<Vec<String>, StoreError> {
        serde_json::from_str(json).map_err(|e| StoreError::corrupt("oidc_clients", format!("{}: {what}: {e}", r.client_id)))
    };
    Ok(Some(Client {
        redirect_uris: list("redirect_uris", &r.redirect_uris)?,
        web_origins: list("web_origins", &r.web_origins)?,
        scopes: r.partner_scopes.split_whitespace().map(str::to_string).collect(),
        token_alg: super::signing_keys::Alg::parse(&r.token_alg)
            .ok_or_else(|| StoreError::corrupt("oidc_clients", format!("{}: unknown token_alg {:?}", r.client_id, r.token_alg)))?,
        client_id: r.client_id,
        secret_hash: r.secret_hash,
        name: r.name,
        logo_uri: r.logo_uri,
    }))
}

pub async fn list(db: &Db) -> Result<Vec<Client>, ClientError> {
    let ids: Vec<String> = sqlx::query_scalar("SELECT client_id FROM oidc_clients ORDER BY client_id").fetch_all(db.pool()).await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.extend(find(db, &id).await?);
    }
    Ok(out)
}

/// The clients an instance has read, each used for at most `ttl` before it is read again: the
/// token endpoint and the sign-in page read a client per request, and that read (a database
/// round trip and its thread hand-offs) was the largest cost of a client_credentials token after
/// the signature (README "Benchmarks"). What it means for a change made elsewhere (the CLI,
/// another instance): a new client and a new secret are seen at once (an unknown client is
/// never kept; a presented secret that does not match the kept copy reads the client again,
/// [`ClientCache::authenticate`]); anything else — scopes, redirect URIs, web origins, the token
/// algorithm, an old secret that stops working — within `ttl` on every instance.
#[derive(Clone, Debug)]
pub struct ClientCache {
    ttl: std::time::Duration,
    kept: std::sync::Arc<std::sync::RwLock<std::collections::HashMap<String, (std::time::Instant, Client)>>>,
}

/// How many clients an instance keeps at most (a full cache is emptied, then filled again).
const CACHE_CAPACITY: usize = 1_024;

impl ClientCache {
    /// `ttl_ms` 0: every lookup reads the database.
    pub fn new(ttl_ms: u64) -> ClientCache {
        ClientCache { ttl: std::time::Duration::from_millis(ttl_ms), kept: Default::default() }
    }

    /// The client `client_id`: the kept copy while it is younger than the TTL, else the database's.
    pub async fn find(&self, db: &Db, client_id: &str) -> Result<Option<Client>, ClientError> {
        if let Some(client) = self.kept(client_id) {
            return Ok(Some(client));
        }
        self.read(db, client_id).await
    }

    /// The client whose credentials are `secret` (`None`: a public client's `none`), checked
    /// against the kept copy and, when that refuses them, against the database's (a secret
    /// rotated elsewhere counts at once). `Ok(None)`: unknown client or wrong credentials.
    pub async fn authenticate(&self, db: &Db, client_id: &str, secret: Option<&str>) -> Result<Option<Client>, ClientError> {
        let accepts = |c: &Client| match (secret, c.is_public()) {
            (Some(s), false) => c.secret_matches(s),
            (None, true) => true, // `none`: the code's PKCE verifier is the proof
            _ => false,
        };
        if let Some(client) = self.kept(client_id).filter(|c| accepts(c)) {
            return Ok(Some(client));
        }
        Ok(self.read(db, client_id).await?.filter(|c| accepts(c)))
    }

    fn kept(&self, client_id: &str) -> Option<Client> {
        let kept = self.kept.read().unwrap_or_else(|e| e.into_inner());
        kept.get(client_id).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, c)| c.clone())
    }

    async fn read(&self, db: &Db, client_id: &str) -> Result<Option<Client>, ClientError> {
        let found = find(db, client_id).await?;
        if self.ttl.is_zero() {
            return Ok(found);
        }
        let mut kept = self.kept.write().unwrap_or_else(|e| e.into_inner());
        match &found {
            Some(c) => {
                if kept.len() >= CACHE_CAPACITY && !kept.contains_key(client_id) {
                    kept.clear();
                }
                kept.insert(client_id.to_string(), (std::time::Instant::now(), c.clone()));
            }
            None => {
                kept.remove(client_id);
            }
        }
        Ok(found)
    }
}

impl Client {
    /// Whether this client may be granted partner-API `scope`.
    pub fn may_request(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope || s == super::tokens::PARTNER_SCOPE)
    }

    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    /// Exact match against the registered list (no prefix or wildcard matching).
    pub fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
    }

    /// `origin` is exactly one of the registered web origins.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.web_origins.iter().any(|o| o == origin)
    }

    /// Constant-time check of a presented secret; public clients have none to check.
    pub fn secret_matches(&self, presented: &str) -> bool {
        match &self.secret_hash {
            None => false,
            Some(stored) => crate::signing::constant_time_eq(&hash_secret(presented), stored),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_db;

    fn demo() -> ClientSpec {
        ClientSpec {
            client_id: "demo-partner".into(),
            name: "Demo partner".into(),
            confidential: true,
            redirect_uris: vec!["http://localhost:3100/callback".into()],
            web_origins: vec!["http://localhost:3100".into()],
            logo_uri: None,
            secret_sha256: None,
            scopes: Vec::new(),
            id_token_signed_response_alg: Default::default(),
        }
    }

    #[tokio::test]
    async fn the_client_cache_sees_a_new_client_and_a_new_secret_at_once_and_the_rest_after_its_ttl() {
        let (_d, db) = temp_db().await;
        // an hour: nothing expires during the test, so what is seen at once is proven
        let cache = ClientCache::new(3_600_000);
        assert!(cache.find(&db, "demo-partner").await.unwrap().is_none());
        let (_, first) = register(&db, &demo(), true, 1).await.unwrap();
        let first = first.unwrap();
        assert!(cache.find(&db, "demo-partner").await.unwrap().is_some(), "an unknown client is not kept");
        assert!(cache.authenticate(&db, "demo-partner", Some(&first)).await.unwrap().is_some());

        // rotated and narrowed elsewhere (the CLI, another instance)
        let narrowed = ClientSpec { web_origins: Vec::new(), ..demo() };
        let (_, second) = register(&db, &narrowed, false, 2).await.unwrap();
        let second = second.unwrap();
        let kept = cache.find(&db, "demo-partner").await.unwrap().unwrap();
        assert_eq!(kept.web_origins, demo().web_origins, "within the TTL the kept copy is used");
        assert!(cache.authenticate(&db, "demo-partner", Some(&first)).await.unwrap().is_some(), "the old secret, within the TTL");
        let fresh = cache.authenticate(&db, "demo-partner", Some(&second)).await.unwrap().expect("a new secret counts at once");
        assert!(fresh.web_origins.is_empty(), "and brings the client's other changes");
        assert!(cache.authenticate(&db, "demo-partner", Some(&first)).await.unwrap().is_none(), "the old one is refused from then on");
        assert!(cache.authenticate(&db, "demo-partner", Some("guess")).await.unwrap().is_none());
        assert!(cache.authenticate(&db, "demo-partner", None).await.unwrap().is_none(), "a confidential client needs its secret");
        assert!(cache.authenticate(&db, "nobody", None).await.unwrap().is_none());

        // the control: without a TTL every lookup reads the database
        let uncached = ClientCache::new(0);
        assert!(uncached.find(&db, "demo-partner").await.unwrap().unwrap().web_origins.is_empty());
        register(&db, &demo(), true, 3).await.unwrap();
        assert_eq!(uncached.find(&db, "demo-partner").await.unwrap().unwrap().web_origins, demo().web_origins);
        assert!(cache.find(&db, "demo-partner").await.unwrap().unwrap().web_origins.is_empty(), "while the cache keeps its copy");

        // after the TTL the kept copy is read again (a 1 ms TTL, waited out)
        let short = ClientCache::new(1);
        assert_eq!(short.find(&db, "demo-partner").await.unwrap().unwrap().web_origins, demo().web_origins);
        register(&db, &narrowed, true, 4).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        assert!(short.find(&db, "demo-partner").await.unwrap().unwrap().web_origins.is_empty(), "read again after its TTL");
    }

    #[tokio::test]
    async fn a_client_from_the_configuration_file_brings_its_secret_hash() {
        let (_d, db) = temp_db().await;
        let spec = ClientSpec { secret_sha256: Some(secret_sha256("s3cret")), ..demo() };
        let (client, shown) = register(&db, &spec, true, 1).await.unwrap();
        assert!(shown.is_none() && client.secret_matches("s3cret") && !client.secret_matches("other"));
        let (again, _) = register(&db, &spec, false, 2).await.unwrap();
        assert!(again.secret_matches("s3cret"), "the configured hash wins over rotation");
        for bad in [ClientSpec { secret_sha256: Some("abc".into()), ..demo() }, ClientSpec { confidential: false, ..spec.clone() }] {
            assert!(matches!(register(&db, &bad, true, 3).await, Err(ClientError::BadSecretHash)));
        }
    }

    #[tokio::test]
    async fn a_confidential_client_gets_a_secret_shown_once() {
        let (_d, db) = temp_db().await;
        let (client, secret) = register(&db, &demo(), true, 1).await.unwrap();
        let secret = secret.expect("a new confidential client gets a secret");
        assert_eq!(secret.len(), 64);
        assert!(client.secret_matches(&secret) && !client.secret_matches("guess") && !client.is_public());
        let (again, none) = register(&db, &demo(), true, 2).await.unwrap();
        assert!(none.is_none() && again.secret_matches(&secret), "re-registering keeps the secret when asked");
        let (rotated, new_secret) = register(&db, &demo(), false, 3).await.unwrap();
        assert!(rotated.secret_matches(&new_secret.unwrap()) && !rotated.secret_matches(&secret));
    }

    #[tokio::test]
    async fn redirects_and_origins_match_exactly() {
        let (_d, db) = temp_db().await;
        let (c, _) = register(&db, &demo(), true, 1).await.unwrap();
        assert!(c.allows_redirect("http://localhost:3100/callback"));
        for near in ["http://localhost:3100/callback/", "http://localhost:3100/callback?x=1", "http://localhost:3100/Callback", "http://localhost:3101/callback"] {
            assert!(!c.allows_redirect(near), "{near}");
        }
        assert!(c.allows_origin("http://localhost:3100"));
        assert!(!c.allows_origin("http://localhost:3100/") && !c.allows_origin("http://127.0.0.1:3100") && !c.allows_origin("null"));
        let spa = ClientSpec { client_id: "demo-spa".into(), confidential: false, ..demo() };
        assert!(register(&db, &spa, true, 1).await.unwrap().0.is_public());
    }

    #[tokio::test]
    async fn unsafe_registrations_are_refused() {
        let (_d, db) = temp_db().await;
        let with = |f: &dyn Fn(&mut ClientSpec)| {
            let mut s = demo();
            f(&mut s);
            s
        };
        let cases = [
            with(&|s| s.client_id = "x".into()),
            with(&|s| s.client_id = "has space".into()),
            with(&|s| s.name = " ".into()),
            with(&|s| s.redirect_uris = vec![]),
            with(&|s| s.redirect_uris = vec!["http://partner.example/cb".into()]),
            with(&|s| s.redirect_uris = vec!["https://partner.example/cb#frag".into()]),
            with(&|s| s.redirect_uris = vec!["/relative".into()]),
            with(&|s| s.web_origins = vec!["https://partner.example/path".into()]),
            with(&|s| s.web_origins = vec!["*".into()]),
            with(&|s| s.web_origins = vec!["http://partner.example".into()]),
        ];
        for spec in cases {
            assert!(register(&db, &spec, true, 1).await.is_err(), "{spec:?}");
        }
        assert!(list(&db).await.unwrap().is_empty(), "nothing half-registered");
    }
}
