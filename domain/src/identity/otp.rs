//! Phone one-time codes: 6 digits, valid 5 minutes, 5 tries, a resend cool-down, and rate
//! limits per phone and per client IP. Every failure to verify looks the same to the member
//! ([`OtpError::Invalid`]); the reason is kept for logs and metrics.

use rand::Rng;
use sha2::{Digest, Sha256};

use super::PhoneNumber;
use crate::signing::constant_time_eq;
use crate::store::{Db, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtpPolicy {
    pub ttl_ms: i64,
    pub max_attempts: i64,
    pub resend_after_ms: i64,
    /// Codes per phone per hour.
    pub per_phone_per_hour: i64,
    /// Codes per client IP per hour.
    pub per_ip_per_hour: i64,
}

impl Default for OtpPolicy {
    fn default() -> Self {
        Self { ttl_ms: 300_000, max_attempts: 5, resend_after_ms: 60_000, per_phone_per_hour: 5, per_ip_per_hour: 20 }
    }
}

const HOUR_MS: i64 = 3_600_000;

/// A code that was just created; the caller hands `code` to the SMS sender and `challenge_id`
/// to the page (never the code).
#[derive(Debug, Clone)]
pub struct IssuedCode {
    pub challenge_id: String,
    pub code: String,
    pub expires_at_ms: i64,
    pub resend_after_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum OtpError {
    /// Too soon after the previous code, or over the hourly limit for this phone or address.
    #[error("too many codes requested; try again later")]
    RateLimited { retry_after_ms: i64 },
    /// Wrong, expired, used, unknown, or out of attempts: deliberately one answer.
    #[error("the code is not valid")]
    Invalid { reason: InvalidReason },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidReason {
    UnknownOrExpired,
    TooManyAttempts,
    WrongCode,
    AlreadyUsed,
}

fn hash(challenge_id: &str, code: &str) -> Vec<u8> {
    Sha256::new().chain_update(challenge_id.as_bytes()).chain_update(b".").chain_update(code.as_bytes()).finalize().to_vec()
}

/// Creates a code for `phone`, in one statement that also enforces the cool-down and limits.
pub async fn request_code(db: &Db, policy: &OtpPolicy, phone: &PhoneNumber, client_ip: &str, now_ms: i64) -> Result<IssuedCode, OtpError> {
    let challenge_id = uuid::Uuid::new_v4().simple().to_string();
    let code = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000));
    let inserted = sqlx::query(
        "INSERT INTO otp_challenges (id, phone, client_ip, code_hash, created_at, expires_at)
         SELECT $1, $2, $3, $4, $5, $6
         WHERE NOT EXISTS (SELECT 1 FROM otp_challenges WHERE phone = $2 AND created_at > $7)
           AND (SELECT COUNT(*) FROM otp_challenges WHERE phone = $2 AND created_at > $8) < $9
           AND (SELECT COUNT(*) FROM otp_challenges WHERE client_ip = $3 AND created_at > $8) < $10",
    )
    .bind(&challenge_id)
    .bind(phone.as_str())
    .bind(client_ip)
    .bind(hash(&challenge_id, &code))
    .bind(now_ms)
    .bind(now_ms + policy.ttl_ms)
    .bind(now_ms - policy.resend_after_ms)
    .bind(now_ms - HOUR_MS)
    .bind(policy.per_phone_per_hour)
    .bind(policy.per_ip_per_hour)
    .execute(db.pool())
    .await
    .map_err(StoreError::from)?;
    if inserted.rows_affected() == 0 {
        return Err(OtpError::RateLimited { retry_after_ms: retry_after(db, policy, phone, client_ip, now_ms).await? });
    }
    Ok(IssuedCode { challenge_id, code, expires_at_ms: now_ms + policy.ttl_ms, resend_after_ms: now_ms + policy.resend_after_ms })
}

/// When the next request for this phone and address could succeed.
async fn retry_after(db: &Db, policy: &OtpPolicy, phone: &PhoneNumber, client_ip: &str, now_ms: i64) -> Result<i64, StoreError> {
    let (last, phone_oldest, phone_count, ip_oldest, ip_count): (Option<i64>, Option<i64>, i64, Option<i64>, i64) = sqlx::query_as(
        "SELECT (SELECT MAX(created_at) FROM otp_challenges WHERE phone = $1),
                (SELECT MIN(created_at) FROM otp_challenges WHERE phone = $1 AND created_at > $3),
                (SELECT COUNT(*) FROM otp_challenges WHERE phone = $1 AND created_at > $3),
                (SELECT MIN(created_at) FROM otp_challenges WHERE client_ip = $2 AND created_at > $3),
                (SELECT COUNT(*) FROM otp_challenges WHERE client_ip = $2 AND created_at > $3)",
    )
    .bind(phone.as_str())
    .bind(client_ip)
    .bind(now_ms - HOUR_MS)
    .fetch_one(db.pool())
    .await?;
    let mut at = last.map_or(now_ms, |t| t + policy.resend_after_ms);
    if phone_count >= policy.per_phone_per_hour {
        at = at.max(phone_oldest.unwrap_or(now_ms) + HOUR_MS);
    }
    if ip_count >= policy.per_ip_per_hour {
        at = at.max(ip_oldest.unwrap_or(now_ms) + HOUR_MS);
    }
    Ok((at - now_ms).max(1_000))
}

/// Checks `code` for a challenge; on success the challenge is used up and its phone returned.
pub async fn verify_code(db: &Db, policy: &OtpPolicy, challenge_id: &str, code: &str, now_ms: i64) -> Result<PhoneNumber, OtpError> {
    let invalid = |reason| OtpError::Invalid { reason };
    // Count the attempt first, in the same statement that checks it is still allowed.
    let row: Option<(String, Vec<u8>)> = sqlx::query_as(
        "UPDATE otp_challenges SET attempts = attempts + 1
         WHERE id = $1 AND consumed_at IS NULL AND expires_at > $2 AND attempts < $3
         RETURNING phone, code_hash",
    )
    .bind(challenge_id)
    .bind(now_ms)
    .bind(policy.max_attempts)
    .fetch_optional(db.pool())
    .await
    .map_err(StoreError::from)?;
    let Some((phone, stored)) = row else {
        let state: Option<(i64, Option<i64>, i64)> = sqlx::query_as("SELECT attempts, consumed_at, expires_at FROM otp_challenges WHERE id = $1")
            .bind(challenge_id)
            .fetch_optional(db.pool())
            .await
            .map_err(StoreError::from)?;
        return Err(invalid(match state {
            Some((_, Some(_), _)) => InvalidReason::AlreadyUsed,
            Some((attempts, None, expires)) if expires > now_ms && attempts >= policy.max_attempts => InvalidReason::TooManyAttempts,
            _ => InvalidReason::UnknownOrExpired,
        }));
    };
    let given = code.trim();
    let well_formed = given.len() == 6 && given.bytes().all(|b| b.is_ascii_digit());
    if !well_formed || !constant_time_eq(&hash(challenge_id, given), &stored) {
        return Err(invalid(InvalidReason::WrongCode));
    }
    let used = sqlx::query("UPDATE otp_challenges SET consumed_at = $2 WHERE id = $1 AND consumed_at IS NULL")
        .bind(challenge_id)
        .bind(now_ms)
        .execute(db.pool())
        .await
        .map_err(StoreError::from)?;
    if used.rows_affected() != 1 {
        return Err(invalid(InvalidReason::AlreadyUsed));
    }
    PhoneNumber::parse(&phone).map_err(|_| invalid(InvalidReason::UnknownOrExpired))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_db;

    fn phone() -> PhoneNumber {
        PhoneNumber::parse("0912345678").unwrap()
    }

    const T0: i64 = 1_763_800_000_000;

    #[tokio::test]
    async fn the_right_code_signs_in_once() {
        let (_d, db) = temp_db().await;
        let p = OtpPolicy::default();
        let issued = request_code(&db, &p, &phone(), "10.0.0.1", T0).await.unwrap();
        assert_eq!(issued.code.len(), 6);
        assert_eq!(verify_code(&db, &p, &issued.challenge_id, &issued.code, T0 + 1_000).await.unwrap(), phone());
        let again = verify_code(&db, &p, &issued.challenge_id, &issued.code, T0 + 2_000).await;
        assert!(matches!(again, Err(OtpError::Invalid { reason: InvalidReason::AlreadyUsed })));
    }

    #[tokio::test]
    async fn codes_expire_after_five_minutes() {
        let (_d, db) = temp_db().await;
        let p = OtpPolicy::default();
        let issued = request_code(&db, &p, &phone(), "10.0.0.1", T0).await.unwrap();
        let late = verify_code(&db, &p, &issued.challenge_id, &issued.code, T0 + 300_000).await;
        assert!(matches!(late, Err(OtpError::Invalid { reason: InvalidReason::UnknownOrExpired })));
    }

    #[tokio::test]
    async fn five_wrong_tries_lock_the_code_even_for_the_right_one() {
        let (_d, db) = temp_db().await;
        let p = OtpPolicy::default();
        let issued = request_code(&db, &p, &phone(), "10.0.0.1", T0).await.unwrap();
        let wrong = if issued.code == "000000" { "111111" } else { "000000" };
        for i in 0..5 {
            let r = verify_code(&db, &p, &issued.challenge_id, wrong, T0 + i).await;
            assert!(matches!(r, Err(OtpError::Invalid { reason: InvalidReason::WrongCode })));
        }
        let r = verify_code(&db, &p, &issued.challenge_id, &issued.code, T0 + 10).await;
        assert!(matches!(r, Err(OtpError::Invalid { reason: InvalidReason::TooManyAttempts })));
        assert_eq!(r.unwrap_err().to_string(), "the code is not valid", "the member sees one message");
    }

    #[tokio::test]
    async fn resend_waits_for_the_cool_down_and_phones_and_ips_are_limited() {
        let (_d, db) = temp_db().await;
        let p = OtpPolicy::default();
        request_code(&db, &p, &phone(), "10.0.0.1", T0).await.unwrap();
        match request_code(&db, &p, &phone(), "10.0.0.1", T0 + 30_000).await {
            Err(OtpError::RateLimited { retry_after_ms }) => assert_eq!(retry_after_ms, 30_000),
            other => panic!("{other:?}"),
        }
        for i in 1..5 {
            request_code(&db, &p, &phone(), "10.0.0.1", T0 + i * 61_000).await.unwrap();
        }
        // sixth code within the hour for this phone
        assert!(matches!(request_code(&db, &p, &phone(), "10.0.0.2", T0 + 400_000).await, Err(OtpError::RateLimited { .. })));
        // an hour after the first, the phone may ask again
        request_code(&db, &p, &phone(), "10.0.0.2", T0 + HOUR_MS + 1).await.unwrap();

        // one address asking for many phones
        let tight = OtpPolicy { per_ip_per_hour: 3, ..p };
        for n in 0..3 {
            let other = PhoneNumber::parse(&format!("09000000{n:02}")).unwrap();
            request_code(&db, &tight, &other, "10.9.9.9", T0).await.unwrap();
        }
        let fourth = PhoneNumber::parse("0900000099").unwrap();
        assert!(matches!(request_code(&db, &tight, &fourth, "10.9.9.9", T0).await, Err(OtpError::RateLimited { .. })));
    }

    #[tokio::test]
    async fn unknown_challenges_and_malformed_codes_are_just_invalid() {
        let (_d, db) = temp_db().await;
        let p = OtpPolicy::default();
        let r = verify_code(&db, &p, "nope", "123456", T0).await;
        assert!(matches!(r, Err(OtpError::Invalid { reason: InvalidReason::UnknownOrExpired })));
        let issued = request_code(&db, &p, &phone(), "10.0.0.1", T0).await.unwrap();
        for bad in ["", "12345", "1234567", "abcdef"] {
            let r = verify_code(&db, &p, &issued.challenge_id, bad, T0).await;
            assert!(matches!(r, Err(OtpError::Invalid { reason: InvalidReason::WrongCode })));
        }
    }
}
