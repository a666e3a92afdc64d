//! What a member's sign-in at a client grants: single-use authorization codes (bound to the
//! redirect URI and the PKCE challenge) and rotating refresh tokens, all belonging to one
//! grant. A replayed code or a reused refresh token revokes the whole grant (RFC 9700 §2.1.1,
//! §4.14.2); access tokens carry the grant id (`gid`) so the resource side can see that too.
//!
//! Tokens are 256 random bits, base64url; only their SHA-256 is stored. Every redemption is one
//! conditional `UPDATE … RETURNING`, so two concurrent redemptions cannot both succeed.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use sha2::{Digest, Sha256};

use crate::store::{Db, StoreError, Tx};

/// How long codes and refresh tokens live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantPolicy {
    pub code_ttl_ms: i64,
    /// A confidential client's refresh tokens (its server keeps them).
    pub refresh_ttl_ms: i64,
    /// A public client's (a single-page app in a browser, where a stolen token is likelier):
    /// short, and each use rotates it (OAuth 2.0 for Browser-Based Apps).
    pub public_refresh_ttl_ms: i64,
}

impl GrantPolicy {
    /// The policy for tokens issued to a public (`true`) or confidential client.
    pub fn for_client(&self, public: bool) -> GrantPolicy {
        if public {
            GrantPolicy { refresh_ttl_ms: self.public_refresh_ttl_ms, ..*self }
        } else {
            *self
        }
    }
}

impl Default for GrantPolicy {
    fn default() -> Self {
        Self { code_ttl_ms: 60_000, refresh_ttl_ms: 30 * 24 * 3_600_000, public_refresh_ttl_ms: 24 * 3_600_000 }
    }
}

/// What a grant carries into the tokens issued under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    pub member_id: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub auth_time_ms: i64,
}

/// Why a code or refresh token was refused. The token endpoint answers `invalid_grant` for all
/// of them; the variants are for logs and tests.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("unknown or expired")]
    Invalid,
    #[error("already used; the grant has been revoked")]
    Replayed,
    #[error("issued to another client")]
    WrongClient,
    #[error("redirect_uri differs from the authorization request")]
    WrongRedirect,
    #[error("code_verifier does not match the code_challenge")]
    PkceMismatch,
    #[error("the grant was revoked")]
    Revoked,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for GrantError {
    fn from(e: sqlx::Error) -> Self {
        GrantError::Store(e.into())
    }
}

fn new_token() -> String {
    crate::signing::random_token(32)
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A fresh PKCE pair for a client of our own: `(verifier, S256 challenge)`.
pub fn pkce_pair() -> (String, String) {
    let verifier = new_token();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// `BASE64URL(SHA256(verifier)) == challenge` (PKCE S256, RFC 7636 §4.6), in constant time.
pub fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    well_formed && crate::signing::constant_time_eq(computed.as_bytes(), challenge.as_bytes())
}

/// A well-formed S256 code challenge: 43 base64url characters.
pub fn is_valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What [`issue_code`] needs to know about the sign-in.
#[derive(Debug, Clone)]
pub struct CodeRequest<'a> {
    pub client_id: &'a str,
    pub member_id: &'a str,
    pub scope: &'a str,
    pub nonce: Option<&'a str>,
    pub redirect_uri: &'a str,
    pub code_challenge: Option<&'a str>,
    pub auth_time_ms: i64,
}

/// Creates a grant and its authorization code; returns the code (shown once, in the redirect).
pub async fn issue_code(db: &Db, policy: &GrantPolicy, req: &CodeRequest<'_>, now_ms: i64) -> Result<String, GrantError> {
    let mut tx = db.begin().await?;
    let code = issue_code_in(&mut tx, policy, req, now_ms).await?;
    tx.commit().await?;
    Ok(code)
}

/// [`issue_code`] inside the caller's transaction (a sign-in flow ends in the same one).
pub async fn issue_code_in(tx: &mut Tx<'_>, policy: &GrantPolicy, req: &CodeRequest<'_>, now_ms: i64) -> Result<String, GrantError> {
    let grant_id = uuid::Uuid::new_v4().simple().to_string();
    let code = new_token();
    sqlx::query(
        "INSERT INTO oidc_grants (id, client_id, member_id, scope, nonce, auth_time, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&grant_id)
    .bind(req.client_id)
    .bind(req.member_id)
    .bind(req.scope)
    .bind(req.nonce)
    .bind(req.auth_time_ms)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    sqlx::query("INSERT INTO oidc_codes (code_hash, grant_id, redirect_uri, code_challenge, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(token_hash(&code))
        .bind(&grant_id)
        .bind(req.redirect_uri)
        .bind(req.code_challenge)
        .bind(now_ms + policy.code_ttl_ms)
        .execute(&mut **tx)
        .await?;
    Ok(code)
}

#[derive(sqlx::FromRow)]
struct GrantRow {
    id: String,
    client_id: String,
    member_id: String,
    scope: String,
    nonce: Option<String>,
    auth_time: i64,
    revoked_at: Option<i64>,
}

async fn load_grant(conn: &mut sqlx::AnyConnection, grant_id: &str) -> Result<(Grant, Option<i64>), GrantError> {
    let row: Option<GrantRow> =
        sqlx::query_as("SELECT id, client_id, member_id, scope, nonce, auth_time, revoked_at FROM oidc_grants WHERE id = $1")
            .bind(grant_id)
            .fetch_optional(conn)
            .await?;
    let r = row.ok_or(GrantError::Invalid)?;
    Ok((Grant { id: r.id, client_id: r.client_id, member_id: r.member_id, scope: r.scope, nonce: r.nonce, auth_time_ms: r.auth_time }, r.revoked_at))
}

async fn revoke_in(conn: &mut sqlx::AnyConnection, grant_id: &str, now_ms: i64) -> Result<(), GrantError> {
    sqlx::query("UPDATE oidc_grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
        .bind(grant_id)
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(())
}

/// Revokes a grant: its refresh tokens stop working and [`is_active`] turns false.
pub async fn revoke(db: &Db, grant_id: &str, now_ms: i64) -> Result<(), GrantError> {
    let grant_id = grant_id.to_string();
    db.write(move |tx| Box::pin(async move { revoke_in(tx, &grant_id, now_ms).await })).await
}

/// Revokes every grant of a member at a client (RP-initiated logout).
pub async fn revoke_member_at_client(db: &Db, member_id: &str, client_id: &str, now_ms: i64) -> Result<u64, GrantError> {
    let done = sqlx::query("UPDATE oidc_grants SET revoked_at = $3 WHERE member_id = $1 AND client_id = $2 AND revoked_at IS NULL")
        .bind(member_id)
        .bind(client_id)
        .bind(now_ms)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}

/// Whether the member has ever signed in at this client (the consent a partner's server-side
/// link call relies on).
pub async fn has_authorized(db: &Db, client_id: &str, member_id: &str) -> Result<bool, GrantError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oidc_grants WHERE client_id = $1 AND member_id = $2")
        .bind(client_id)
        .bind(member_id)
        .fetch_one(db.pool())
        .await?;
    Ok(n > 0)
}

/// True while the grant exists and has not been revoked.
pub async fn is_active(db: &Db, grant_id: &str) -> Result<bool, GrantError> {
    let revoked: Option<Option<i64>> =
        sqlx::query_scalar("SELECT revoked_at FROM oidc_grants WHERE id = $1").bind(grant_id).fetch_optional(db.pool()).await?;
    Ok(matches!(revoked, Some(None)))
}

/// Why a code or refresh token could not be claimed: unknown or expired ([`GrantError::Invalid`]),
/// or already used — then whoever presents it is replaying it, and the whole grant is revoked
/// (in the caller's transaction, which commits: the refusal keeps the revocation).
/// `used_query` selects `(grant_id, used_at)` by the token's hash.
async fn unclaimed(tx: &mut Tx<'_>, used_query: &str, hash: &[u8], what: &str, now_ms: i64) -> Result<GrantError, GrantError> {
    let used: Option<(String, Option<i64>)> = sqlx::query_as(used_query).bind(hash).fetch_optional(&mut **tx).await?;
    match used {
        Some((grant_id, Some(_))) => {
            revoke_in(tx, &grant_id, now_ms).await?;
            tracing::warn!(grant = %grant_id, "{what} used again; grant revoked");
            Ok(GrantError::Replayed)
        }
        _ => Ok(GrantError::Invalid),
    }
}

/// Redeems an authorization code (once). A second redemption revokes the grant. One write
/// transaction (on SQLite's writer, not an autocommit write from a reader connection that
/// would wait in SQLite's busy handler); a refusal after the claim leaves the code used.
pub async fn redeem_code(
    db: &Db,
    client_id: &str,
    code: &str,
    redirect_uri: &str,
    code_verifier: Option<&str>,
    now_ms: i64,
) -> Result<Grant, GrantError> {
    Ok(claim_code(db, client_id, code, redirect_uri, code_verifier, None, now_ms).await?.0)
}

/// [`redeem_code`] and the grant's first refresh token, written in the claim's transaction
/// (`POST /token`'s `authorization_code`).
pub async fn exchange_code(
    db: &Db,
    policy: &GrantPolicy,
    client_id: &str,
    code: &str,
    redirect_uri: &str,
    code_verifier: Option<&str>,
    now_ms: i64,
) -> Result<(Grant, String), GrantError> {
    match claim_code(db, client_id, code, redirect_uri, code_verifier, Some(*policy), now_ms).await? {
        (grant, Some(refresh)) => Ok((grant, refresh)),
        (_, None) => Err(GrantError::Store(crate::store::StoreError::Internal("a code exchange issued no refresh token".into()))),
    }
}

/// The claim of [`redeem_code`], with the checks that refuse it after the claim (which keep the
/// code used), and — given a policy — the grant's first refresh token.
async fn claim_code(
    db: &Db,
    client_id: &str,
    code: &str,
    redirect_uri: &str,
    code_verifier: Option<&str>,
    refresh: Option<GrantPolicy>,
    now_ms: i64,
) -> Result<(Grant, Option<String>), GrantError> {
    let hash = token_hash(code);
    let (client_id, redirect_uri, code_verifier) = (client_id.to_string(), redirect_uri.to_string(), code_verifier.map(str::to_string));
    db.write::<_, GrantError, _>(move |tx| {
        Box::pin(async move {
            let claimed: Option<(String, String, Option<String>)> = sqlx::query_as(
                "UPDATE oidc_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2
                 RETURNING grant_id, redirect_uri, code_challenge",
            )
            .bind(&hash)
            .bind(now_ms)
            .fetch_optional(&mut **tx)
            .await?;
            let Some((grant_id, expected_redirect, challenge)) = claimed else {
                let used = "SELECT grant_id, used_at FROM oidc_codes WHERE code_hash = $1";
                return Ok(Err(unclaimed(tx, used, &hash, "authorization code", now_ms).await?));
            };
            let (grant, revoked_at) = load_grant(tx, &grant_id).await?;
            let refused = if grant.client_id != client_id {
                Some(GrantError::WrongClient)
            } else if revoked_at.is_some() {
                Some(GrantError::Revoked)
            } else if expected_redirect != redirect_uri {
                Some(GrantError::WrongRedirect)
            } else {
                match (challenge.as_deref(), code_verifier.as_deref()) {
                    (None, None) => None,
                    (Some(challenge), Some(verifier)) if pkce_s256_matches(verifier, challenge) => None,
                    _ => Some(GrantError::PkceMismatch),
                }
            };
            if let Some(refused) = refused {
                return Ok(Err(refused));
            }
            let token = match refresh {
                Some(policy) => Some(issue_refresh_token_in(tx, &policy, &grant_id, now_ms).await?),
                None => None,
            };
            Ok(Ok((grant, token)))
        })
    })
    .await?
}

async fn issue_refresh_token_in(tx: &mut Tx<'_>, policy: &GrantPolicy, grant_id: &str, now_ms: i64) -> Result<String, GrantError> {
    let token = new_token();
    sqlx::query("INSERT INTO oidc_refresh_tokens (token_hash, grant_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(token_hash(&token))
        .bind(grant_id)
        .bind(now_ms)
        .bind(now_ms + policy.refresh_ttl_ms)
        .execute(&mut **tx)
        .await?;
    Ok(token)
}

/// Uses a refresh token (once) and returns its grant with the next refresh token, in one write
/// transaction. Presenting a token that was already used revokes the grant: either the client
/// or a thief is replaying; so does another client presenting it (it leaked).
pub async fn rotate_refresh_token(
    db: &Db,
    policy: &GrantPolicy,
    client_id: &str,
    token: &str,
    now_ms: i64,
) -> Result<(Grant, String), GrantError> {
    let (hash, policy, client_id) = (token_hash(token), *policy, client_id.to_string());
    db.write::<_, GrantError, _>(move |tx| {
        Box::pin(async move {
            let claimed: Option<String> = sqlx::query_scalar(
                "UPDATE oidc_refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING grant_id",
            )
            .bind(&hash)
            .bind(now_ms)
            .fetch_optional(&mut **tx)
            .await?;
            let Some(grant_id) = claimed else {
                let used = "SELECT grant_id, used_at FROM oidc_refresh_tokens WHERE token_hash = $1";
                return Ok(Err(unclaimed(tx, used, &hash, "refresh token", now_ms).await?));
            };
            let (grant, revoked_at) = load_grant(tx, &grant_id).await?;
            if grant.client_id != client_id {
                revoke_in(tx, &grant_id, now_ms).await?;
                return Ok(Err(GrantError::WrongClient));
            }
            if revoked_at.is_some() {
                return Ok(Err(GrantError::Revoked));
            }
            let next = issue_refresh_token_in(tx, &policy, &grant_id, now_ms).await?;
            Ok(Ok((grant, next)))
        })
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        identity::{clients, members, FullName, PhoneNumber},
        store::testing::temp_db,
    };

    /// A further refresh token for `grant_id` (the server issues them only in [`exchange_code`]
    /// and [`rotate_refresh_token`]).
    async fn issue_refresh_token(db: &Db, policy: &GrantPolicy, grant_id: &str, now_ms: i64) -> Result<String, GrantError> {
        let (policy, grant_id) = (*policy, grant_id.to_string());
        db.write(move |tx| Box::pin(async move { issue_refresh_token_in(tx, &policy, &grant_id, now_ms).await })).await
    }

    const T0: i64 = 1_763_800_000_000;
    // The challenge computed independently: python3 -c "import hashlib, base64; print(base64.urlsafe_b64encode(
    // hashlib.sha256(b'dBjftJeZ4CVP-mJ92K9BuqNA4QYOx5fB4dJvUhSY3LI').digest()).rstrip(b'='))"
    const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K9BuqNA4QYOx5fB4dJvUhSY3LI";
    const CHALLENGE: &str = "Lwx_yackzt-ZbubzOC00wj4w4esJ07lfGHCrOJVfE6Q";

    async fn setup() -> (crate::store::testing::TestDb, Db, String) {
        let (dir, db) = temp_db().await;
        let spec = clients::ClientSpec {
            client_id: "shop".into(),
            name: "Shop".into(),
            confidential: true,
            redirect_uris: vec!["https://shop.example/cb".into()],
            ..Default::default()
        };
        clients::register(&db, &spec, true, T0).await.unwrap();
        let new = members::NewMember {
            phone: PhoneNumber::parse("0912345678").unwrap(),
            full_name: FullName::parse("Nguyen Van A").unwrap(),
            date_of_birth: None,
            email: None,
        };
        let member = members::create(&db, new, None, T0).await.unwrap();
        (dir, db, member.id)
    }

    fn request<'a>(member_id: &'a str, challenge: Option<&'a str>) -> CodeRequest<'a> {
        CodeRequest {
            client_id: "shop",
            member_id,
            scope: "openid phone",
            nonce: Some("n-1"),
            redirect_uri: "https://shop.example/cb",
            code_challenge: challenge,
            auth_time_ms: T0,
        }
    }

    #[test]
    fn pkce_matches_an_independent_computation() {
        assert!(pkce_s256_matches(VERIFIER, CHALLENGE));
        assert!(!pkce_s256_matches(&VERIFIER.replace('d', "e"), CHALLENGE));
        assert!(!pkce_s256_matches("short", CHALLENGE));
        assert!(is_valid_challenge(CHALLENGE) && !is_valid_challenge("plain-text") && !is_valid_challenge(&format!("{CHALLENGE}=")));
    }

    #[tokio::test]
    async fn a_code_is_redeemed_once_and_a_replay_revokes_the_grant() {
        let (_d, db, member) = setup().await;
        let p = GrantPolicy::default();
        let code = issue_code(&db, &p, &request(&member, Some(CHALLENGE)), T0).await.unwrap();
        let grant = redeem_code(&db, "shop", &code, "https://shop.example/cb", Some(VERIFIER), T0 + 1).await.unwrap();
        assert_eq!((grant.member_id.as_str(), grant.nonce.as_deref()), (member.as_str(), Some("n-1")));
        let refresh = issue_refresh_token(&db, &p, &grant.id, T0 + 1).await.unwrap();
        assert!(is_active(&db, &grant.id).await.unwrap());

        let again = redeem_code(&db, "shop", &code, "https://shop.example/cb", Some(VERIFIER), T0 + 2).await;
        assert!(matches!(again, Err(GrantError::Replayed)), "{again:?}");
        assert!(!is_active(&db, &grant.id).await.unwrap(), "the replay revoked what the code issued");
        let refreshed = rotate_refresh_token(&db, &p, "shop", &refresh, T0 + 3).await;
        assert!(matches!(refreshed, Err(GrantError::Revoked)), "{refreshed:?}");
    }

    #[tokio::test]
    async fn a_code_exchange_writes_its_refresh_token_only_when_it_succeeds() {
        let (_d, db, member) = setup().await;
        let p = GrantPolicy::default();
        let tokens = || async { sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM oidc_refresh_tokens").fetch_one(db.pool()).await.unwrap() };
        // refused after the claim (wrong redirect): no refresh token, and the code stays used
        let code = issue_code(&db, &p, &request(&member, Some(CHALLENGE)), T0).await.unwrap();
        let err = exchange_code(&db, &p, "shop", &code, "https://shop.example/other", Some(VERIFIER), T0 + 1).await.unwrap_err();
        assert!(matches!(err, GrantError::WrongRedirect), "{err:?}");
        assert_eq!(tokens().await, 0);
        let again = exchange_code(&db, &p, "shop", &code, "https://shop.example/cb", Some(VERIFIER), T0 + 2).await.unwrap_err();
        assert!(matches!(again, GrantError::Replayed), "{again:?}");
        // the control: a good exchange writes one, and it rotates
        let code = issue_code(&db, &p, &request(&member, Some(CHALLENGE)), T0).await.unwrap();
        let (grant, refresh) = exchange_code(&db, &p, "shop", &code, "https://shop.example/cb", Some(VERIFIER), T0 + 1).await.unwrap();
        assert_eq!(tokens().await, 1);
        let (rotated, _) = rotate_refresh_token(&db, &p, "shop", &refresh, T0 + 2).await.unwrap();
        assert_eq!(rotated.id, grant.id);
    }

    #[tokio::test]
    async fn codes_check_client_redirect_pkce_and_expiry() {
        let (_d, db, member) = setup().await;
        let p = GrantPolicy::default();
        let cases: [(&str, &str, Option<&str>, i64, fn(&GrantError) -> bool); 5] = [
            ("other", "https://shop.example/cb", Some(VERIFIER), 1, |e| matches!(e, GrantError::WrongClient)),
            ("shop", "https://shop.example/cb2", Some(VERIFIER), 1, |e| matches!(e, GrantError::WrongRedirect)),
            ("shop", "https://shop.example/cb", None, 1, |e| matches!(e, GrantError::PkceMismatch)),
            ("shop", "https://shop.example/cb", Some("x".repeat(43).leak()), 1, |e| matches!(e, GrantError::PkceMismatch)),
            ("shop", "https://shop.example/cb", Some(VERIFIER), 60_001, |e| matches!(e, GrantError::Invalid)),
        ];
        for (client, redirect, verifier, later, expected) in cases {
            let code = issue_code(&db, &p, &request(&member, Some(CHALLENGE)), T0).await.unwrap();
            let err = redeem_code(&db, client, &code, redirect, verifier, T0 + later).await.unwrap_err();
            assert!(expected(&err), "{client} {redirect} {verifier:?}: {err:?}");
        }
        let unknown = redeem_code(&db, "shop", "no-such-code", "https://shop.example/cb", None, T0).await;
        assert!(matches!(unknown, Err(GrantError::Invalid)));
        // a verifier for a code issued without a challenge is refused too (RFC 9700 §2.1.1)
        let code = issue_code(&db, &p, &request(&member, None), T0).await.unwrap();
        let err = redeem_code(&db, "shop", &code, "https://shop.example/cb", Some(VERIFIER), T0 + 1).await.unwrap_err();
        assert!(matches!(err, GrantError::PkceMismatch));
    }

    #[tokio::test]
    async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
        let (_d, db, member) = setup().await;
        let p = GrantPolicy::default();
        let code = issue_code(&db, &p, &request(&member, None), T0).await.unwrap();
        let grant = redeem_code(&db, "shop", &code, "https://shop.example/cb", None, T0).await.unwrap();
        let first = issue_refresh_token(&db, &p, &grant.id, T0).await.unwrap();
        let (g, second) = rotate_refresh_token(&db, &p, "shop", &first, T0 + 1).await.unwrap();
        assert_eq!(g.id, grant.id);
        let reuse = rotate_refresh_token(&db, &p, "shop", &first, T0 + 3).await;
        assert!(matches!(reuse, Err(GrantError::Replayed)), "{reuse:?}");
        assert!(!is_active(&db, &grant.id).await.unwrap());
        assert!(matches!(rotate_refresh_token(&db, &p, "shop", &second, T0 + 4).await, Err(GrantError::Revoked)));
        let expired_grant_code = issue_code(&db, &p, &request(&member, None), T0).await.unwrap();
        let g2 = redeem_code(&db, "shop", &expired_grant_code, "https://shop.example/cb", None, T0).await.unwrap();
        let old = issue_refresh_token(&db, &p, &g2.id, T0).await.unwrap();
        let late = rotate_refresh_token(&db, &p, "shop", &old, T0 + p.refresh_ttl_ms + 1).await;
        assert!(matches!(late, Err(GrantError::Invalid)));

        // a public client's tokens live a day, not a month
        let public = p.for_client(true);
        assert_eq!((public.refresh_ttl_ms, p.for_client(false).refresh_ttl_ms), (24 * 3_600_000, p.refresh_ttl_ms));
        let short = issue_refresh_token(&db, &public, &g2.id, T0).await.unwrap();
        let expired = rotate_refresh_token(&db, &public, "shop", &short, T0 + public.refresh_ttl_ms + 1).await;
        assert!(matches!(expired, Err(GrantError::Invalid)), "expired after a day");
    }
}
