//! Benefit templates: one type of benefit (a partner shop's voucher), synced to one platform for
//! some super apps (client codes). Where is each rule?
//! - what a template must be ([`NewTemplate::check`]): title ≤ 128, begin before end, a positive
//!   budget and amount, the kind of credential (code, code + PIN, or URL built from a base), the
//!   validity of a collected benefit (days after collect, or a fixed end);
//! - [`update`]: clientCode, benefitContent and benefitBudget are immutable once the template was
//!   first synced (the seed); title and times may change (a new sync carries them);
//! - the budget left moves only in the issue and reverse transactions ([`super::issue`]).

use serde::Serialize;

use super::{
    fields::{wire_time, Amount, ClientCode, TemplateId, Title},
    platforms,
    sync::{SyncStatus, SyncView},
    BenefitError, PRODUCT_CODE,
};
use crate::store::{Db, Tx};

/// What the user gets to present at the shop (the response carries one of benefitCode,
/// benefitCode + benefitPin, benefitUrl: §2.2 issueBenefit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Credential {
    Code,
    CodePin,
    Url,
}

impl Credential {
    pub fn as_str(self) -> &'static str {
        match self {
            Credential::Code => "CODE",
            Credential::CodePin => "CODE_PIN",
            Credential::Url => "URL",
        }
    }

    pub fn parse(s: &str) -> Option<Credential> {
        match s.trim().to_ascii_uppercase().replace(['-', ' ', '+'], "_").as_str() {
            "CODE" => Some(Credential::Code),
            "CODE_PIN" => Some(Credential::CodePin),
            "URL" => Some(Credential::Url),
            _ => None,
        }
    }
}

/// How long a collected benefit stays usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Validity {
    /// This many days after it was collected.
    Days(i64),
    /// Until this moment (Unix ms), whenever it was collected.
    Until(i64),
}

impl Validity {
    /// The expireTime of a benefit collected at `activate_ms`.
    pub fn expire_at(self, activate_ms: i64) -> i64 {
        match self {
            Validity::Days(d) => activate_ms.saturating_add(d.saturating_mul(86_400_000)),
            Validity::Until(at) => at,
        }
    }
}

/// The longest benefitContent we keep (the platform's limit is not published).
pub const MAX_CONTENT: usize = 2_000;
/// The largest budget of one template.
pub const MAX_BUDGET: i64 = 10_000_000;
/// The longest validity in days (ten years).
pub const MAX_VALID_DAYS: i64 = 3_650;

/// A template to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTemplate {
    pub template_id: TemplateId,
    /// The platform it is synced to.
    pub client_id: String,
    /// The partner shop (a client of our provider) whose cashier may use its benefits.
    pub partner_client_id: String,
    pub title: Title,
    pub content: String,
    pub client_codes: Vec<ClientCode>,
    pub begin_at_ms: i64,
    pub end_at_ms: i64,
    /// Total quantity (benefitBudget).
    pub budget: i64,
    pub amount: Amount,
    pub credential: Credential,
    /// For [`Credential::Url`]: the benefit's URL is this base followed by its code.
    pub url_base: Option<String>,
    pub validity: Validity,
}

fn check_content(content: &str) -> Result<(), BenefitError> {
    if content.trim().is_empty() || content.chars().count() > MAX_CONTENT {
        return Err(BenefitError::Invalid(format!("benefitContent must be 1 to {MAX_CONTENT} characters")));
    }
    Ok(())
}

fn check_budget(budget: i64) -> Result<(), BenefitError> {
    if !(1..=MAX_BUDGET).contains(&budget) {
        return Err(BenefitError::Invalid(format!("the budget (total quantity) must be 1 to {MAX_BUDGET}")));
    }
    Ok(())
}

fn check_client_codes(codes: &[ClientCode]) -> Result<(), BenefitError> {
    if codes.is_empty() || codes.len() > 20 {
        return Err(BenefitError::Invalid("a template needs 1 to 20 client codes (super apps)".into()));
    }
    Ok(())
}

fn check_times(begin: i64, end: i64) -> Result<(), BenefitError> {
    if begin <= 0 || end <= begin {
        return Err(BenefitError::Invalid("the end time must be after the begin time".into()));
    }
    Ok(())
}

impl NewTemplate {
    pub fn check(&self) -> Result<(), BenefitError> {
        platforms::check_client_id(&self.client_id)?;
        check_content(&self.content)?;
        check_budget(self.budget)?;
        check_client_codes(&self.client_codes)?;
        check_times(self.begin_at_ms, self.end_at_ms)?;
        match (self.credential, &self.url_base) {
            (Credential::Url, Some(base)) => {
                let ok = url::Url::parse(base).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.fragment().is_none());
                if !ok || base.len() > 200 {
                    return Err(BenefitError::Invalid("the URL base must be an absolute http(s) URL of at most 200 characters".into()));
                }
            }
            (Credential::Url, None) => return Err(BenefitError::Invalid("a URL benefit needs a URL base (the code is appended to it)".into())),
            (_, Some(_)) => return Err(BenefitError::Invalid("only a URL benefit has a URL base".into())),
            (_, None) => {}
        }
        match self.validity {
            Validity::Days(d) if !(1..=MAX_VALID_DAYS).contains(&d) => {
                return Err(BenefitError::Invalid(format!("the validity must be 1 to {MAX_VALID_DAYS} days")));
            }
            Validity::Until(at) if at <= self.begin_at_ms => {
                return Err(BenefitError::Invalid("the fixed end of validity must be after the begin time".into()));
            }
            _ => {}
        }
        Ok(())
    }
}

/// A template as stored, with its latest sync and its budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Template {
    pub template_id: String,
    pub client_id: String,
    pub partner_client_id: String,
    pub product_code: String,
    pub title: String,
    pub content: String,
    pub client_codes: Vec<String>,
    pub begin_at_ms: i64,
    pub end_at_ms: i64,
    pub budget_total: i64,
    pub budget_left: i64,
    pub amount: Amount,
    pub credential: Credential,
    pub url_base: Option<String>,
    pub validity: Validity,
    pub first_sync_at_ms: Option<i64>,
    /// The latest sync, if any.
    pub sync: Option<SyncView>,
    pub created_at_ms: i64,
}

impl Template {
    /// Issued and not reversed.
    pub fn budget_used(&self) -> i64 {
        self.budget_total - self.budget_left
    }

    /// Whether the platform has it (its latest sync is accepted or done): only then may it be issued.
    pub fn collectable(&self) -> bool {
        matches!(self.sync.as_ref().map(|s| s.status), Some(SyncStatus::Processing | SyncStatus::Success))
    }

    pub fn begin_time(&self) -> String {
        wire_time(self.begin_at_ms)
    }

    pub fn end_time(&self) -> String {
        wire_time(self.end_at_ms)
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TemplateRow {
    template_id: String,
    client_id: String,
    partner_client_id: String,
    product_code: String,
    title: String,
    content: String,
    client_codes: String,
    begin_at: i64,
    end_at: i64,
    budget_total: i64,
    budget_left: i64,
    currency: String,
    amount_value: i64,
    credential: String,
    url_base: Option<String>,
    valid_days: Option<i64>,
    valid_until: Option<i64>,
    first_sync_at: Option<i64>,
    created_at: i64,
    sync_request_id: Option<String>,
    sync_status: Option<String>,
    sync_fail_code: Option<String>,
    sync_fail_reason: Option<String>,
    sync_updated_at: Option<i64>,
}

/// The template columns joined with its latest sync (`t` and `s`).
pub(crate) const SELECT_TEMPLATE: &str = "SELECT t.template_id, t.client_id, t.partner_client_id, t.product_code, t.title, t.content,
        t.client_codes, t.begin_at, t.end_at, t.budget_total, t.budget_left, t.currency, t.amount_value, t.credential,
        t.url_base, t.valid_days, t.valid_until, t.first_sync_at, t.created_at,
        s.sync_request_id, s.status AS sync_status, s.fail_code AS sync_fail_code, s.fail_reason AS sync_fail_reason,
        s.updated_at AS sync_updated_at
    FROM benefit_templates t LEFT JOIN benefit_syncs s ON s.sync_request_id = t.sync_request_id";

impl TemplateRow {
    pub(crate) fn into_template(self) -> Result<Template, BenefitError> {
        let corrupt = |what: String| BenefitError::Store(crate::StoreError::corrupt("benefit_templates", format!("{}: {what}", self.template_id)));
        let credential = Credential::parse(&self.credential).ok_or_else(|| corrupt(format!("credential {:?}", self.credential)))?;
        let validity = match (self.valid_days, self.valid_until) {
            (Some(d), None) => Validity::Days(d),
            (None, Some(at)) => Validity::Until(at),
            _ => return Err(corrupt("validity".into())),
        };
        let sync = match (&self.sync_request_id, &self.sync_status) {
            (Some(id), Some(status)) => Some(SyncView {
                sync_request_id: id.clone(),
                status: SyncStatus::parse(status).ok_or_else(|| corrupt(format!("sync status {status:?}")))?,
                fail_code: self.sync_fail_code.clone(),
                fail_reason: self.sync_fail_reason.clone(),
                updated_at_ms: self.sync_updated_at.unwrap_or(0),
            }),
            _ => None,
        };
        Ok(Template {
            template_id: self.template_id,
            client_id: self.client_id,
            partner_client_id: self.partner_client_id,
            product_code: self.product_code,
            title: self.title,
            content: self.content,
            client_codes: self.client_codes.split_whitespace().map(str::to_string).collect(),
            begin_at_ms: self.begin_at,
            end_at_ms: self.end_at,
            budget_total: self.budget_total,
            budget_left: self.budget_left,
            amount: Amount { currency: self.currency, value: self.amount_value },
            credential,
            url_base: self.url_base,
            validity,
            first_sync_at_ms: self.first_sync_at,
            sync,
            created_at_ms: self.created_at,
        })
    }
}

fn codes_text(codes: &[ClientCode]) -> String {
    let mut list: Vec<&str> = codes.iter().map(ClientCode::as_str).collect();
    list.sort_unstable();
    list.dedup();
    list.join(" ")
}

/// Creates a template (not yet synced).
pub async fn create(db: &Db, t: &NewTemplate, now_ms: i64) -> Result<Template, BenefitError> {
    t.check()?;
    platforms::find(db, &t.client_id).await?.ok_or(BenefitError::UnknownPlatform)?;
    let partner = crate::identity::clients::find(db, &t.partner_client_id).await.map_err(|e| BenefitError::Invalid(e.to_string()))?;
    if partner.is_none() {
        return Err(BenefitError::Invalid(format!("no partner client {:?} (register it with `joygate clients add`)", t.partner_client_id)));
    }
    let (days, until) = match t.validity {
        Validity::Days(d) => (Some(d), None),
        Validity::Until(at) => (None, Some(at)),
    };
    let inserted = sqlx::query(
        "INSERT INTO benefit_templates (template_id, client_id, partner_client_id, product_code, title, content, client_codes,
             begin_at, end_at, budget_total, budget_left, currency, amount_value, credential, url_base, valid_days, valid_until,
             created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13, $14, $15, $16, $17, $17)
         ON CONFLICT (template_id) DO NOTHING",
    )
    .bind(t.template_id.as_str())
    .bind(&t.client_id)
    .bind(&t.partner_client_id)
    .bind(PRODUCT_CODE)
    .bind(t.title.as_str())
    .bind(t.content.trim())
    .bind(codes_text(&t.client_codes))
    .bind(t.begin_at_ms)
    .bind(t.end_at_ms)
    .bind(t.budget)
    .bind(&t.amount.currency)
    .bind(t.amount.value)
    .bind(t.credential.as_str())
    .bind(&t.url_base)
    .bind(days)
    .bind(until)
    .bind(now_ms)
    .execute(db.pool())
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(BenefitError::TemplateExists);
    }
    find(db, t.template_id.as_str()).await?.ok_or(BenefitError::UnknownTemplate)
}

/// Changes an operator may ask for; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateChange {
    pub title: Option<Title>,
    pub begin_at_ms: Option<i64>,
    pub end_at_ms: Option<i64>,
    /// Immutable after the first sync.
    pub content: Option<String>,
    /// Immutable after the first sync.
    pub client_codes: Option<Vec<ClientCode>>,
    /// Immutable after the first sync.
    pub budget: Option<i64>,
}

/// Applies `change`; after the first sync, a change of clientCode, benefitContent or
/// benefitBudget is refused ([`BenefitError::Immutable`]) and nothing is changed.
pub async fn update(db: &Db, template_id: &str, change: &TemplateChange, now_ms: i64) -> Result<Template, BenefitError> {
    let mut tx = db.begin().await?;
    let locked: Option<i32> = sqlx::query_scalar(&format!("SELECT 1 FROM benefit_templates WHERE template_id = $1{}", db.for_update()))
        .bind(template_id)
        .fetch_optional(&mut *tx)
        .await?;
    locked.ok_or(BenefitError::UnknownTemplate)?;
    let t = find_in(&mut tx, template_id).await?.ok_or(BenefitError::UnknownTemplate)?;
    if t.first_sync_at_ms.is_some() {
        if change.client_codes.as_ref().is_some_and(|c| codes_text(c) != t.client_codes.join(" ")) {
            return Err(BenefitError::Immutable("clientCode"));
        }
        if change.content.as_deref().is_some_and(|c| c.trim() != t.content) {
            return Err(BenefitError::Immutable("benefitContent"));
        }
        if change.budget.is_some_and(|b| b != t.budget_total) {
            return Err(BenefitError::Immutable("benefitBudget"));
        }
    }
    let begin = change.begin_at_ms.unwrap_or(t.begin_at_ms);
    let end = change.end_at_ms.unwrap_or(t.end_at_ms);
    check_times(begin, end)?;
    if let Validity::Until(at) = t.validity {
        if at <= begin {
            return Err(BenefitError::Invalid("the fixed end of validity must be after the begin time".into()));
        }
    }
    if let Some(c) = &change.content {
        check_content(c)?;
    }
    if let Some(codes) = &change.client_codes {
        check_client_codes(codes)?;
    }
    let budget = change.budget.unwrap_or(t.budget_total);
    check_budget(budget)?;
    let title = change.title.as_ref().map(|t| t.as_str().to_string()).unwrap_or(t.title.clone());
    let content = change.content.as_deref().map(str::trim).unwrap_or(&t.content).to_string();
    let codes = change.client_codes.as_deref().map(codes_text).unwrap_or(t.client_codes.join(" "));
    // Before the first sync nothing was issued, so the budget left is the whole budget.
    let left = if t.first_sync_at_ms.is_some() { t.budget_left } else { budget };
    sqlx::query(
        "UPDATE benefit_templates SET title = $2, begin_at = $3, end_at = $4, content = $5, client_codes = $6,
             budget_total = $7, budget_left = $8, updated_at = $9
         WHERE template_id = $1",
    )
    .bind(template_id)
    .bind(&title)
    .bind(begin)
    .bind(end)
    .bind(&content)
    .bind(&codes)
    .bind(budget)
    .bind(left)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    find(db, template_id).await?.ok_or(BenefitError::UnknownTemplate)
}

pub async fn find(db: &Db, template_id: &str) -> Result<Option<Template>, BenefitError> {
    let row: Option<TemplateRow> = sqlx::query_as(&format!("{SELECT_TEMPLATE} WHERE t.template_id = $1")).bind(template_id).fetch_optional(db.pool()).await?;
    row.map(TemplateRow::into_template).transpose()
}

pub(crate) async fn find_in(tx: &mut Tx<'_>, template_id: &str) -> Result<Option<Template>, BenefitError> {
    let row: Option<TemplateRow> = sqlx::query_as(&format!("{SELECT_TEMPLATE} WHERE t.template_id = $1")).bind(template_id).fetch_optional(&mut **tx).await?;
    row.map(TemplateRow::into_template).transpose()
}

/// Every template, newest first.
pub async fn list(db: &Db) -> Result<Vec<Template>, BenefitError> {
    let rows: Vec<TemplateRow> = sqlx::query_as(&format!("{SELECT_TEMPLATE} ORDER BY t.created_at DESC, t.template_id")).fetch_all(db.pool()).await?;
    rows.into_iter().map(TemplateRow::into_template).collect()
}

/// How many of a template's instances are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct InstanceCounts {
    pub activated: i64,
    pub used: i64,
    pub reversed: i64,
    pub expired: i64,
}

pub async fn instance_counts(db: &Db, template_id: &str) -> Result<InstanceCounts, BenefitError> {
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT status, COUNT(*) FROM benefit_instances WHERE template_id = $1 GROUP BY status")
        .bind(template_id)
        .fetch_all(db.pool())
        .await?;
    let mut c = InstanceCounts::default();
    for (status, n) in rows {
        match status.as_str() {
            "ACTIVATED" => c.activated = n,
            "USED" => c.used = n,
            "REVERSED" => c.reversed = n,
            "EXPIRED" => c.expired = n,
            other => return Err(crate::StoreError::corrupt("benefit_instances", format!("status {other:?}")).into()),
        }
    }
    Ok(c)
}
