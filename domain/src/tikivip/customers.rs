//! A partner's customers and the webview's entry links.
//!
//! `POST …/webview` registers (or updates) the customer the partner names by `identify_code`
//! and returns `url_open`: a link with a random single-use token, valid a few minutes, that
//! opens the webview signed in as that customer. It never carries the partner's secret; only
//! the token's SHA-256 is stored.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::TikiError;
use crate::{identity::PhoneNumber, store::Db};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Customer {
    pub id: String,
    pub partner_code: String,
    pub identify_code: String,
    pub phone: String,
    pub full_name: Option<String>,
    pub vip_plan: Option<String>,
    /// Unix ms; VIP while in the future.
    pub vip_until_ms: Option<i64>,
}

impl Customer {
    pub fn is_vip(&self, now_ms: i64) -> bool {
        self.vip_until_ms.is_some_and(|until| until > now_ms)
    }
}

/// What the partner says about its customer.
#[derive(Debug, Clone)]
pub struct CustomerRequest {
    pub identify_code: String,
    pub phone: String,
    pub full_name: Option<String>,
}

/// A new entry link: the token for `url_open` and the request id to answer with.
#[derive(Debug, Clone)]
pub struct OpenLink {
    pub token: String,
    pub request_id: String,
    pub customer: Customer,
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    partner_code: String,
    identify_code: String,
    phone: String,
    full_name: Option<String>,
    vip_plan: Option<String>,
    vip_until: Option<i64>,
}
const COLUMNS: &str = "id, partner_code, identify_code, phone, full_name, vip_plan, vip_until";

fn from_row(r: Row) -> Customer {
    Customer {
        id: r.id,
        partner_code: r.partner_code,
        identify_code: r.identify_code,
        phone: r.phone,
        full_name: r.full_name,
        vip_plan: r.vip_plan,
        vip_until_ms: r.vip_until,
    }
}

pub async fn find(db: &Db, id: &str) -> Result<Option<Customer>, TikiError> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM tikivip_customers WHERE id = $1")).bind(id).fetch_optional(db.pool()).await?;
    Ok(row.map(from_row))
}

/// The longest `identify_fullname` we keep (longer is refused, never cut).
pub const MAX_FULL_NAME: usize = 100;
/// The most characters of an `identify_code` (no control characters).
pub const MAX_IDENTIFY_CODE: usize = 64;

/// Registers the customer and issues a link valid `ttl_ms`.
pub async fn open_link(db: &Db, partner_code: &str, req: &CustomerRequest, ttl_ms: i64, now_ms: i64) -> Result<OpenLink, TikiError> {
    let identify_code = req.identify_code.trim();
    if identify_code.is_empty() || identify_code.chars().count() > MAX_IDENTIFY_CODE || identify_code.chars().any(char::is_control) {
        return Err(TikiError::Invalid("identify_code is required (1 to 64 characters, no control characters)".into()));
    }
    let phone = PhoneNumber::parse(&req.phone).map_err(|_| TikiError::Invalid("identify_phone is not a valid Vietnamese phone number".into()))?;
    let full_name = req.full_name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if full_name.is_some_and(|n| n.chars().count() > MAX_FULL_NAME || n.chars().any(char::is_control)) {
        return Err(TikiError::Invalid(format!("identify_fullname is at most {MAX_FULL_NAME} characters, no control characters")));
    }
    let mut tx = db.begin().await?;
    let id: String = sqlx::query_scalar(
        "INSERT INTO tikivip_customers (id, partner_code, identify_code, phone, full_name, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (partner_code, identify_code) DO UPDATE SET phone = excluded.phone,
             full_name = COALESCE(excluded.full_name, tikivip_customers.full_name), updated_at = excluded.updated_at
         RETURNING id",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(partner_code)
    .bind(identify_code)
    .bind(phone.as_str())
    .bind(&full_name)
    .bind(now_ms)
    .fetch_one(&mut *tx)
    .await?;
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let token = URL_SAFE_NO_PAD.encode(raw);
    let request_id = uuid::Uuid::new_v4().to_string().to_uppercase();
    sqlx::query("INSERT INTO tikivip_open_links (token_hash, customer_id, request_id, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(hash(&token))
        .bind(&id)
        .bind(&request_id)
        .bind(now_ms + ttl_ms)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let customer = find(db, &id).await?.ok_or(TikiError::NotFound)?;
    Ok(OpenLink { token, request_id, customer })
}

/// Spends an entry link: the customer it opens, once, before it expires.
pub async fn open(db: &Db, token: &str, now_ms: i64) -> Result<Option<Customer>, TikiError> {
    let id: Option<String> = sqlx::query_scalar(
        "UPDATE tikivip_open_links SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING customer_id",
    )
    .bind(hash(token))
    .bind(now_ms)
    .fetch_optional(db.pool())
    .await?;
    match id {
        Some(id) => find(db, &id).await,
        None => Ok(None),
    }
}

/// Deletes entry links past their expiry (housekeeping).
pub async fn purge_expired_links(db: &Db, now_ms: i64) -> Result<u64, TikiError> {
    Ok(sqlx::query("DELETE FROM tikivip_open_links WHERE expires_at < $1").bind(now_ms - 86_400_000).execute(db.pool()).await?.rows_affected())
}
