//! Payment partners: the credentials Tiki gives each super app (`partnerCode`, `clientId` UUID,
//! `client_secret` for the X-Tikivip signatures both ways), where its side of the contract
//! lives, and how its payment screen opens. Declared in the configuration
//! (`[[tikivip.partners]]`) or, in sandbox mode, the built-in sandbox partner.

use serde::{Deserialize, Serialize};

use super::TikiError;
use crate::store::{Db, StoreError};

/// How the webview hands the customer to the partner's payment screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OpenMode {
    /// The payment screen is a web page: the webview navigates to it.
    #[default]
    Url,
    /// The super app opens its payment screen from an app link (`deeplink`).
    Deeplink,
}

impl OpenMode {
    fn as_str(self) -> &'static str {
        match self {
            OpenMode::Url => "url",
            OpenMode::Deeplink => "deeplink",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partner {
    pub partner_code: String,
    pub name: String,
    pub client_id: String,
    /// Never logged or printed.
    #[serde(skip_serializing)]
    pub client_secret: String,
    /// Its side of the contract: `{api_base_url}/transactions`, `/refunds`.
    pub api_base_url: String,
    #[serde(default)]
    pub open_mode: OpenMode,
}

impl Partner {
    fn check(&self) -> Result<(), TikiError> {
        let code_ok = (2..=32).contains(&self.partner_code.len()) && self.partner_code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !code_ok {
            return Err(TikiError::Invalid("partner_code must be 2 to 32 letters, digits or '_'".into()));
        }
        if self.client_id.trim().is_empty() || self.client_secret.len() < 16 {
            return Err(TikiError::Invalid("client_id is required and client_secret must be at least 16 characters".into()));
        }
        if !(self.api_base_url.starts_with("https://") || self.api_base_url.starts_with("http://")) {
            return Err(TikiError::Invalid("api_base_url must be an http(s) URL".into()));
        }
        Ok(())
    }
}

/// Creates or updates a partner.
pub async fn register(db: &Db, p: &Partner, now_ms: i64) -> Result<(), TikiError> {
    p.check()?;
    sqlx::query(
        "INSERT INTO tikivip_partners (partner_code, name, client_id, client_secret, api_base_url, open_mode, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
         ON CONFLICT (partner_code) DO UPDATE SET name = excluded.name, client_id = excluded.client_id,
             client_secret = excluded.client_secret, api_base_url = excluded.api_base_url, open_mode = excluded.open_mode,
             updated_at = excluded.updated_at",
    )
    .bind(&p.partner_code)
    .bind(&p.name)
    .bind(&p.client_id)
    .bind(&p.client_secret)
    .bind(p.api_base_url.trim_end_matches('/'))
    .bind(p.open_mode.as_str())
    .bind(now_ms)
    .execute(db.pool())
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Row {
    partner_code: String,
    name: String,
    client_id: String,
    client_secret: String,
    api_base_url: String,
    open_mode: String,
}

fn from_row(r: Row) -> Result<Partner, StoreError> {
    let open_mode = match r.open_mode.as_str() {
        "url" => OpenMode::Url,
        "deeplink" => OpenMode::Deeplink,
        other => return Err(StoreError::corrupt("tikivip_partners", format!("{}: unknown open_mode {other:?}", r.partner_code))),
    };
    Ok(Partner { partner_code: r.partner_code, name: r.name, client_id: r.client_id, client_secret: r.client_secret, api_base_url: r.api_base_url, open_mode })
}

const COLUMNS: &str = "partner_code, name, client_id, client_secret, api_base_url, open_mode";

/// The partner whose `X-Tikivip-Client-Id` this is.
pub async fn by_client_id(db: &Db, client_id: &str) -> Result<Option<Partner>, TikiError> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM tikivip_partners WHERE client_id = $1")).bind(client_id).fetch_optional(db.pool()).await?;
    Ok(row.map(from_row).transpose()?)
}

pub async fn by_code(db: &Db, partner_code: &str) -> Result<Option<Partner>, TikiError> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM tikivip_partners WHERE partner_code = $1")).bind(partner_code).fetch_optional(db.pool()).await?;
    Ok(row.map(from_row).transpose()?)
}

pub async fn list(db: &Db) -> Result<Vec<Partner>, TikiError> {
    let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM tikivip_partners ORDER BY partner_code")).fetch_all(db.pool()).await?;
    Ok(rows.into_iter().map(from_row).collect::<Result<_, _>>()?)
}
