//! A partner's customer handed to a sign-in: before sending its customer to `/authorize` or
//! `/embed`, the partner's server registers who that customer is (Customer ID, and what it knows:
//! phone, name, date of birth, e-mail) with a client_credentials call and gets a short-lived
//! `link_token`. The sign-in then pre-fills what it can and, once the member has proved the
//! phone, links the Customer ID to the member's SkyJoy ID ([`super::flows`] calls
//! [`super::members::link`]). Only SHA-256 of the token is stored.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{CustomerId, DateOfBirth, Email, FullName, PhoneNumber};
use crate::store::{Db, StoreError};

/// As long as a sign-in flow lives (`flows::FLOW_TTL_MS`, checked by a test): the member may
/// take that long to finish.
pub const LINK_TOKEN_TTL_MS: i64 = 30 * 60_000;

/// Who the partner says its customer is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkHint {
    pub customer_id: CustomerId,
    pub phone: Option<PhoneNumber>,
    pub full_name: Option<FullName>,
    pub date_of_birth: Option<DateOfBirth>,
    pub email: Option<Email>,
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Registers `hint` for `client_id`; returns the token to pass as `link_token`.
pub async fn create(db: &Db, client_id: &str, hint: &LinkHint, now_ms: i64) -> Result<String, StoreError> {
    let token = crate::signing::random_token(32);
    let hint_json = serde_json::to_string(hint).map_err(|e| StoreError::Internal(e.to_string()))?;
    sqlx::query("INSERT INTO link_requests (token_hash, client_id, hint, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(token_hash(&token))
        .bind(client_id)
        .bind(hint_json)
        .bind(now_ms)
        .bind(now_ms + LINK_TOKEN_TTL_MS)
        .execute(db.pool())
        .await?;
    Ok(token)
}

/// The hint behind `token`, if it was issued to `client_id` and has not expired.
pub async fn resolve(db: &Db, client_id: &str, token: &str, now_ms: i64) -> Result<Option<LinkHint>, StoreError> {
    let hint: Option<String> =
        sqlx::query_scalar("SELECT hint FROM link_requests WHERE token_hash = $1 AND client_id = $2 AND expires_at > $3")
            .bind(token_hash(token))
            .bind(client_id)
            .bind(now_ms)
            .fetch_optional(db.pool())
            .await?;
    Ok(hint.and_then(|h| serde_json::from_str(&h).ok()))
}

/// Removes expired requests (the workers call it with the flow purge).
pub async fn purge_expired(db: &Db, now_ms: i64) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM link_requests WHERE expires_at <= $1").bind(now_ms).execute(db.pool()).await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{identity::clients, store::testing::temp_db};

    #[test]
    fn a_link_token_lives_as_long_as_a_flow() {
        assert_eq!(LINK_TOKEN_TTL_MS, crate::identity::flows::FLOW_TTL_MS);
    }

    const T0: i64 = 1_763_800_000_000;

    #[tokio::test]
    async fn a_token_resolves_only_for_its_client_and_until_it_expires() {
        let (_dir, db) = temp_db().await;
        for id in ["shop", "other"] {
            let spec = clients::ClientSpec {
                client_id: id.into(),
                name: id.into(),
                redirect_uris: vec![format!("https://{id}.example/cb")],
                ..Default::default()
            };
            clients::register(&db, &spec, true, T0).await.unwrap();
        }
        let hint = LinkHint {
            customer_id: CustomerId::parse("C-1").unwrap(),
            phone: Some(PhoneNumber::parse("0912345678").unwrap()),
            full_name: Some(FullName::parse("Nguyen Van A").unwrap()),
            date_of_birth: None,
            email: None,
        };
        let token = create(&db, "shop", &hint, T0).await.unwrap();
        assert_eq!(resolve(&db, "shop", &token, T0 + 1).await.unwrap(), Some(hint));
        assert_eq!(resolve(&db, "other", &token, T0 + 1).await.unwrap(), None);
        assert_eq!(resolve(&db, "shop", "not-a-token", T0 + 1).await.unwrap(), None);
        assert_eq!(resolve(&db, "shop", &token, T0 + LINK_TOKEN_TTL_MS).await.unwrap(), None);
        assert_eq!(purge_expired(&db, T0 + LINK_TOKEN_TTL_MS).await.unwrap(), 1);
    }
}
