//! The `sign` of `point-redemption-with-token` (counterparts.md §1.6): after the member confirms
//! a partner's redemption on our page, we issue an RS256 JWT, valid 30 minutes, whose
//! `txn_data` is the JSON text of the transaction the member agreed to
//! (`transactionAmount`, `transactionDate`, `transactionId`, `usedPoint`, `skyjoyId`). The
//! partner sends it with the redemption; [`verify`] accepts it only for that partner (`azp`),
//! before `exp`, and only if every field of the request equals what the member confirmed.
//! Spending it twice is prevented by the ledger's idempotency on `transactionId`.

use serde::{Deserialize, Serialize};

use crate::identity::{signing_keys::KeyRing, tokens};

/// How long a `sign` is valid (SkyJoy: `exp = iat + 1800`).
pub const VALIDITY_S: i64 = 1800;

/// What the member confirmed, in SkyJoy's `txn_data` field order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TxnData {
    pub transaction_amount: i64,
    /// As the partner wrote it (Unix ms or RFC 3339); compared as an instant.
    pub transaction_date: serde_json::Value,
    pub transaction_id: String,
    pub used_point: i64,
    pub skyjoy_id: String,
}

impl TxnData {
    /// What a checked redemption request says (`None` for anything but a redemption).
    pub fn of(request: &super::PointRequest, skyjoy_id: &crate::identity::SkyJoyId) -> Option<TxnData> {
        let super::request::Change::Redemption { amount, used } = request.change else { return None };
        Some(TxnData {
            transaction_amount: amount.get(),
            transaction_date: request.transaction_date.as_sent.clone(),
            transaction_id: request.transaction_id.as_str().to_string(),
            used_point: used.get(),
            skyjoy_id: skyjoy_id.as_str().to_string(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignClaims {
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    /// The member (our subject id), also as `user_id` like SkyJoy's.
    pub sub: String,
    pub user_id: String,
    /// The partner the member confirmed the redemption for.
    pub azp: String,
    /// JSON text of [`TxnData`].
    pub txn_data: String,
    /// Unix ms.
    pub signed_time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("sign is not a valid token of ours")]
    Invalid,
    #[error("sign has expired; ask the member to confirm again")]
    Expired,
    #[error("sign was issued for another partner")]
    OtherPartner,
    #[error("the request differs from what the member confirmed ({0})")]
    Mismatch(&'static str),
}

/// Issues the `sign` for `client_id` after member `member_id` confirmed `data`.
pub fn issue(ring: &KeyRing, issuer: &str, client_id: &str, member_id: &str, data: &TxnData, now_ms: i64) -> String {
    let iat = now_ms / 1000;
    let claims = SignClaims {
        iss: issuer.to_string(),
        iat,
        exp: iat + VALIDITY_S,
        sub: member_id.to_string(),
        user_id: member_id.to_string(),
        azp: client_id.to_string(),
        txn_data: serde_json::to_string(data).expect("txn_data serialises"),
        signed_time: now_ms,
    };
    // SkyJoy's `sign` is RS256 whatever the partner's token algorithm (counterparts.md §1.6)
    tokens::sign_jwt(ring, crate::identity::signing_keys::Alg::RS256, "JWT", &claims)
}

/// Checks `sign` against the partner calling and the request it came with.
pub fn verify(ring: &KeyRing, issuer: &str, client_id: &str, sign: &str, request: &TxnData, now_ms: i64) -> Result<SignClaims, SignError> {
    let claims: SignClaims = tokens::verify_jwt(ring, sign).map_err(|_| SignError::Invalid)?;
    if claims.iss != issuer {
        return Err(SignError::Invalid);
    }
    if claims.exp * 1000 <= now_ms {
        return Err(SignError::Expired);
    }
    if claims.azp != client_id {
        return Err(SignError::OtherPartner);
    }
    let signed: TxnData = serde_json::from_str(&claims.txn_data).map_err(|_| SignError::Invalid)?;
    let same_date = crate::clock::parse_wire_time(&signed.transaction_date).is_some()
        && crate::clock::parse_wire_time(&signed.transaction_date) == crate::clock::parse_wire_time(&request.transaction_date);
    let mismatch = if signed.transaction_id != request.transaction_id {
        Some("transactionId")
    } else if signed.used_point != request.used_point {
        Some("usedPoint")
    } else if signed.transaction_amount != request.transaction_amount {
        Some("transactionAmount")
    } else if signed.skyjoy_id != request.skyjoy_id {
        Some("skyjoyId")
    } else if !same_date {
        Some("transactionDate")
    } else {
        None
    };
    match mismatch {
        Some(field) => Err(SignError::Mismatch(field)),
        None => Ok(claims),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> TxnData {
        TxnData {
            transaction_amount: 55_000,
            transaction_date: serde_json::json!("2024-10-09T07:25:37.784Z"),
            transaction_id: "85e187d1".into(),
            used_point: 33,
            skyjoy_id: "SJ5658649698".into(),
        }
    }

    #[tokio::test]
    async fn a_sign_is_for_one_partner_one_transaction_for_thirty_minutes() {
        let (_d, db) = crate::store::testing::temp_db().await;
        let ring = KeyRing::load_or_create(&db, 0).await.unwrap();
        let now = 1_728_458_748_949;
        let sign = issue(&ring, "https://id.test", "shop", "member-1", &data(), now);
        let claims = verify(&ring, "https://id.test", "shop", &sign, &data(), now + 1_799_000).unwrap();
        assert_eq!((claims.exp - claims.iat, claims.signed_time, claims.user_id.as_str()), (1800, now, "member-1"));
        assert!(claims.txn_data.starts_with(r#"{"transactionAmount":55000,"transactionDate":"2024-10-09T07:25:37.784Z","transactionId""#), "{}", claims.txn_data);
        // the same instant written as Unix ms is the same date
        let mut ms = data();
        ms.transaction_date = serde_json::json!(1_728_458_737_784i64);
        assert!(verify(&ring, "https://id.test", "shop", &sign, &ms, now).is_ok());

        assert_eq!(verify(&ring, "https://id.test", "shop", &sign, &data(), now + 1_800_000), Err(SignError::Expired));
        assert_eq!(verify(&ring, "https://id.test", "other", &sign, &data(), now), Err(SignError::OtherPartner));
        assert_eq!(verify(&ring, "https://other", "shop", &sign, &data(), now), Err(SignError::Invalid));
        for (field, change) in [
            ("usedPoint", Box::new(|d: &mut TxnData| d.used_point = 34) as Box<dyn Fn(&mut TxnData)>),
            ("transactionAmount", Box::new(|d: &mut TxnData| d.transaction_amount = 1)),
            ("transactionId", Box::new(|d: &mut TxnData| d.transaction_id = "x".into())),
            ("skyjoyId", Box::new(|d: &mut TxnData| d.skyjoy_id = "SJ0000000000".into())),
            ("transactionDate", Box::new(|d: &mut TxnData| d.transaction_date = serde_json::json!(1))),
        ] {
            let mut d = data();
            change(&mut d);
            assert_eq!(verify(&ring, "https://id.test", "shop", &sign, &d, now), Err(SignError::Mismatch(field)));
        }
        let mut tampered: Vec<&str> = sign.split('.').collect();
        tampered[2] = "AAAA";
        assert_eq!(verify(&ring, "https://id.test", "shop", &tampered.join("."), &data(), now), Err(SignError::Invalid));
    }
}
