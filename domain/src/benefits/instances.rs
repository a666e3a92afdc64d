//! Benefit instances: what a user collected. Where is each rule?
//! - the status machine: ACTIVATED → USED | REVERSED | EXPIRED, nothing else
//!   ([`Status::transition`]), applied only by [`transition`], one conditional `UPDATE` whose
//!   `WHERE status IN (…)` is derived from that rule, so two racing changes have one winner;
//! - credentials ([`Credentials::generate`]): a 12-character code in Crockford's base 32
//!   (60 bits) and a 6-digit PIN, from the operating system's CSPRNG; codes are unique across
//!   all templates (a unique index; a collision is drawn again);
//! - expiry ([`expire_due`]): ACTIVATED past expireTime becomes EXPIRED.

use serde::Serialize;

use super::{
    fields::{wire_time, Amount},
    templates::Credential,
    BenefitError,
};
use crate::store::{Db, Tx};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Activated,
    Used,
    Reversed,
    Expired,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Activated, Status::Used, Status::Reversed, Status::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Activated => "ACTIVATED",
            Status::Used => "USED",
            Status::Reversed => "REVERSED",
            Status::Expired => "EXPIRED",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "ACTIVATED" => Status::Activated,
            "USED" => Status::Used,
            "REVERSED" => Status::Reversed,
            "EXPIRED" => Status::Expired,
            _ => return None,
        })
    }

    /// The one rule: only an ACTIVATED benefit changes, and only to USED, REVERSED or EXPIRED.
    pub fn transition(self, to: Status) -> Option<Status> {
        (self == Status::Activated && to != Status::Activated).then_some(to)
    }

    /// The states from which `to` may be reached (for the conditional `UPDATE`).
    fn sources(to: Status) -> Vec<Status> {
        Status::ALL.into_iter().filter(|from| from.transition(to) == Some(to)).collect()
    }
}

/// Where the syncUsedBenefit of a USED benefit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum UseSync {
    /// Queued or being retried.
    Pending,
    /// The platform deactivated it.
    Success,
    /// The platform refused it for good (`F`, its code in `use_sync_code`).
    Fail,
}

impl UseSync {
    pub fn as_str(self) -> &'static str {
        match self {
            UseSync::Pending => "PENDING",
            UseSync::Success => "SUCCESS",
            UseSync::Fail => "FAIL",
        }
    }

    pub fn parse(s: &str) -> Option<UseSync> {
        Some(match s {
            "PENDING" => UseSync::Pending,
            "SUCCESS" => UseSync::Success,
            "FAIL" => UseSync::Fail,
            _ => return None,
        })
    }
}

/// A benefit as stored, with what the wire's ExternalBenefitDetail needs from its template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    pub instance_id: String,
    pub template_id: String,
    pub client_id: String,
    pub issue_request_id: String,
    pub user_id: String,
    pub client_code: String,
    pub code: String,
    pub pin: Option<String>,
    pub url: Option<String>,
    pub status: Status,
    pub activate_at_ms: i64,
    pub expire_at_ms: i64,
    pub status_at_ms: i64,
    pub amount: Amount,
    pub title: String,
    pub partner_client_id: String,
    pub used_by: Option<String>,
    pub partner_request_id: Option<String>,
    pub use_request_id: Option<String>,
    /// The syncUsedBenefit of a USED benefit.
    pub use_sync_status: Option<UseSync>,
    pub use_sync_code: Option<String>,
}

impl Instance {
    pub fn activate_time(&self) -> String {
        wire_time(self.activate_at_ms)
    }

    pub fn expire_time(&self) -> String {
        wire_time(self.expire_at_ms)
    }
}

#[derive(sqlx::FromRow)]
struct InstanceRow {
    instance_id: String,
    template_id: String,
    client_id: String,
    issue_request_id: String,
    user_id: String,
    client_code: String,
    code: String,
    pin: Option<String>,
    url: Option<String>,
    status: String,
    activate_at: i64,
    expire_at: i64,
    status_at: i64,
    currency: String,
    amount_value: i64,
    title: String,
    partner_client_id: String,
    used_by: Option<String>,
    partner_request_id: Option<String>,
    use_request_id: Option<String>,
    use_sync_status: Option<String>,
    use_sync_code: Option<String>,
}

impl InstanceRow {
    fn into_instance(self) -> Result<Instance, BenefitError> {
        let corrupt = |what: String| crate::StoreError::corrupt("benefit_instances", format!("{}: {what}", self.instance_id));
        let status = Status::parse(&self.status).ok_or_else(|| corrupt(format!("status {:?}", self.status)))?;
        let use_sync_status = match &self.use_sync_status {
            None => None,
            Some(s) => Some(UseSync::parse(s).ok_or_else(|| corrupt(format!("use_sync_status {s:?}")))?),
        };
        Ok(Instance {
            instance_id: self.instance_id,
            template_id: self.template_id,
            client_id: self.client_id,
            issue_request_id: self.issue_request_id,
            user_id: self.user_id,
            client_code: self.client_code,
            code: self.code,
            pin: self.pin,
            url: self.url,
            status,
            activate_at_ms: self.activate_at,
            expire_at_ms: self.expire_at,
            status_at_ms: self.status_at,
            amount: Amount { currency: self.currency, value: self.amount_value },
            title: self.title,
            partner_client_id: self.partner_client_id,
            used_by: self.used_by,
            partner_request_id: self.partner_request_id,
            use_request_id: self.use_request_id,
            use_sync_status,
            use_sync_code: self.use_sync_code,
        })
    }
}

const SELECT_INSTANCE: &str = "SELECT i.instance_id, i.template_id, i.client_id, i.issue_request_id, i.user_id, i.client_code, i.code, i.pin,
        i.url, i.status, i.activate_at, i.expire_at, i.status_at, t.currency, t.amount_value, t.title, t.partner_client_id,
        i.used_by, i.partner_request_id, i.use_request_id, i.use_sync_status, i.use_sync_code
    FROM benefit_instances i JOIN benefit_templates t ON t.template_id = i.template_id";

fn collect(rows: Vec<InstanceRow>) -> Result<Vec<Instance>, BenefitError> {
    rows.into_iter().map(InstanceRow::into_instance).collect()
}

/// The benefits of one issue, in the order they were issued.
pub(crate) async fn of_issue_in(tx: &mut Tx<'_>, client_id: &str, issue_request_id: &str) -> Result<Vec<Instance>, BenefitError> {
    let rows: Vec<InstanceRow> = sqlx::query_as(&format!("{SELECT_INSTANCE} WHERE i.client_id = $1 AND i.issue_request_id = $2 ORDER BY i.seq"))
        .bind(client_id)
        .bind(issue_request_id)
        .fetch_all(&mut **tx)
        .await?;
    collect(rows)
}

pub async fn of_issue(db: &Db, client_id: &str, issue_request_id: &str) -> Result<Vec<Instance>, BenefitError> {
    let rows: Vec<InstanceRow> = sqlx::query_as(&format!("{SELECT_INSTANCE} WHERE i.client_id = $1 AND i.issue_request_id = $2 ORDER BY i.seq"))
        .bind(client_id)
        .bind(issue_request_id)
        .fetch_all(db.pool())
        .await?;
    collect(rows)
}

pub async fn find(db: &Db, instance_id: &str) -> Result<Option<Instance>, BenefitError> {
    let row: Option<InstanceRow> = sqlx::query_as(&format!("{SELECT_INSTANCE} WHERE i.instance_id = $1")).bind(instance_id).fetch_optional(db.pool()).await?;
    row.map(InstanceRow::into_instance).transpose()
}

/// How a benefit is named when it is used: by its code (what the user shows) or its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Code(String),
    InstanceId(String),
}

/// Codes are typed at a cashier or pasted: spaces and dashes are ignored, lower case is read as
/// upper case, and the letters Crockford's base 32 leaves out are read as the digits they look like.
pub fn normalize_code(input: &str) -> String {
    input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect()
}

impl Lookup {
    fn column_value(&self) -> (&'static str, &str) {
        match self {
            Lookup::Code(c) => ("code", c.as_str()),
            Lookup::InstanceId(id) => ("instance_id", id.as_str()),
        }
    }
}

pub async fn find_by(db: &Db, by: &Lookup) -> Result<Option<Instance>, BenefitError> {
    let (column, value) = by.column_value();
    let row: Option<InstanceRow> = sqlx::query_as(&format!("{SELECT_INSTANCE} WHERE i.{column} = $1")).bind(value).fetch_optional(db.pool()).await?;
    row.map(InstanceRow::into_instance).transpose()
}

pub(crate) async fn find_for_update(tx: &mut Tx<'_>, db: &Db, by: &Lookup) -> Result<Option<Instance>, BenefitError> {
    let (column, value) = by.column_value();
    // FOR UPDATE OF the instance only: the template row is shared by every use.
    let lock = if db.for_update().is_empty() { "" } else { " FOR UPDATE OF i" };
    let row: Option<InstanceRow> = sqlx::query_as(&format!("{SELECT_INSTANCE} WHERE i.{column} = $1{lock}")).bind(value).fetch_optional(&mut **tx).await?;
    row.map(InstanceRow::into_instance).transpose()
}

/// The newest benefits of a template (operators), at most `limit`.
pub async fn of_template(db: &Db, template_id: &str, limit: i64) -> Result<Vec<Instance>, BenefitError> {
    let rows: Vec<InstanceRow> = sqlx::query_as(&format!("{SELECT_INSTANCE} WHERE i.template_id = $1 ORDER BY i.activate_at DESC, i.instance_id LIMIT $2"))
        .bind(template_id)
        .bind(limit.clamp(1, 1_000))
        .fetch_all(db.pool())
        .await?;
    collect(rows)
}

/// Which rows a transition applies to.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    One(&'a str),
    /// Every benefit of one issue (a reversal is all or nothing).
    Issue { client_id: &'a str, issue_request_id: &'a str },
    /// Every ACTIVATED benefit whose expireTime has passed.
    DueForExpiry,
}

/// What a use records beside the status.
#[derive(Debug, Clone, Default)]
pub struct UseRecord<'a> {
    pub used_by: Option<&'a str>,
    pub partner_request_id: Option<&'a str>,
    pub use_request_id: Option<&'a str>,
}

/// The only writer of a benefit's status: moves the targeted rows to `to` where the rule allows
/// it, in one conditional `UPDATE`. Returns how many rows moved (the caller checks the count it
/// needs: one for a use, the issue's quantity for a reversal).
pub async fn transition(tx: &mut Tx<'_>, target: Target<'_>, to: Status, record: &UseRecord<'_>, now_ms: i64) -> Result<u64, BenefitError> {
    let sources = Status::sources(to);
    if sources.is_empty() {
        return Ok(0);
    }
    let from = sources.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ");
    let (filter, a, b) = match target {
        Target::One(id) => ("instance_id = $7", Some(id), None),
        Target::Issue { client_id, issue_request_id } => ("client_id = $7 AND issue_request_id = $8", Some(client_id), Some(issue_request_id)),
        Target::DueForExpiry => ("expire_at <= $2", None, None),
    };
    let use_sync = (to == Status::Used).then_some(UseSync::Pending.as_str());
    let sql = format!(
        "UPDATE benefit_instances SET status = $1, status_at = $2, used_by = COALESCE($3, used_by),
             partner_request_id = COALESCE($4, partner_request_id), use_request_id = COALESCE($5, use_request_id),
             use_sync_status = COALESCE($6, use_sync_status)
         WHERE status IN ({from}) AND {filter}"
    );
    let mut q = sqlx::query(&sql)
        .bind(to.as_str())
        .bind(now_ms)
        .bind(record.used_by)
        .bind(record.partner_request_id)
        .bind(record.use_request_id)
        .bind(use_sync);
    if let Some(a) = a {
        q = q.bind(a);
    }
    if let Some(b) = b {
        q = q.bind(b);
    }
    Ok(q.execute(&mut **tx).await?.rows_affected())
}

/// The expiry job: every ACTIVATED benefit past its expireTime becomes EXPIRED. Returns how many.
pub async fn expire_due(db: &Db, now_ms: i64) -> Result<u64, BenefitError> {
    let mut tx = db.begin().await?;
    let n = transition(&mut tx, Target::DueForExpiry, Status::Expired, &UseRecord::default(), now_ms).await?;
    tx.commit().await?;
    Ok(n)
}

/// A benefit's credentials, drawn from the operating system's CSPRNG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub code: String,
    pub pin: Option<String>,
    pub url: Option<String>,
}

impl Credentials {
    pub const CODE_LEN: usize = 12;

    pub fn generate(credential: Credential, url_base: Option<&str>) -> Credentials {
        use rand::Rng;
        let code = super::random_base32(Self::CODE_LEN);
        let pin = (credential == Credential::CodePin).then(|| format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32)));
        let url = match (credential, url_base) {
            (Credential::Url, Some(base)) => Some(format!("{base}{code}")),
            _ => None,
        };
        Credentials { code, pin, url }
    }
}

/// A new benefit's id: `BI` and 24 characters of Crockford's base 32.
pub(crate) fn new_instance_id() -> String {
    format!("BI{}", super::random_base32(24))
}

/// Inserts one benefit; `false` when its code was already taken (draw another).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert(
    tx: &mut Tx<'_>,
    instance_id: &str,
    client_id: &str,
    issue_request_id: &str,
    seq: i64,
    template_id: &str,
    user_id: &str,
    client_code: &str,
    credentials: &Credentials,
    activate_at: i64,
    expire_at: i64,
) -> Result<bool, BenefitError> {
    let done = sqlx::query(
        "INSERT INTO benefit_instances (instance_id, client_id, issue_request_id, seq, template_id, user_id, client_code, code, pin, url,
             status, activate_at, expire_at, status_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'ACTIVATED', $11, $12, $11)
         ON CONFLICT (code) DO NOTHING",
    )
    .bind(instance_id)
    .bind(client_id)
    .bind(issue_request_id)
    .bind(seq)
    .bind(template_id)
    .bind(user_id)
    .bind(client_code)
    .bind(&credentials.code)
    .bind(&credentials.pin)
    .bind(&credentials.url)
    .bind(activate_at)
    .bind(expire_at)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the platform's final answer to a syncUsedBenefit: SUCCESS, or FAIL with its code.
pub async fn settle_use_sync(db: &Db, instance_id: &str, ok: bool, code: Option<&str>) -> Result<(), BenefitError> {
    sqlx::query("UPDATE benefit_instances SET use_sync_status = $2, use_sync_code = $3 WHERE instance_id = $1 AND use_sync_status = 'PENDING'")
        .bind(instance_id)
        .bind(if ok { UseSync::Success } else { UseSync::Fail }.as_str())
        .bind(code)
        .execute(db.pool())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_activated_benefit_changes_and_only_once() {
        for from in Status::ALL {
            for to in Status::ALL {
                let allowed = from == Status::Activated && to != Status::Activated;
                assert_eq!(from.transition(to).is_some(), allowed, "{from:?} → {to:?}");
            }
        }
        assert_eq!(Status::sources(Status::Used), vec![Status::Activated]);
        assert!(Status::sources(Status::Activated).is_empty());
    }

    #[test]
    fn credentials_have_the_promised_shape_and_do_not_repeat() {
        let c = Credentials::generate(Credential::CodePin, None);
        assert_eq!(c.code.len(), 12);
        assert!(c.code.bytes().all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b)));
        let pin = c.pin.unwrap();
        assert!(pin.len() == 6 && pin.bytes().all(|b| b.is_ascii_digit()));
        let u = Credentials::generate(Credential::Url, Some("https://shop.example/v?c="));
        assert_eq!(u.url.as_deref(), Some(format!("https://shop.example/v?c={}", u.code).as_str()));
        assert_eq!(Credentials::generate(Credential::Code, None).pin, None);
        let many: std::collections::HashSet<String> = (0..10_000).map(|_| Credentials::generate(Credential::Code, None).code).collect();
        assert_eq!(many.len(), 10_000);
    }

    #[test]
    fn typed_codes_are_normalised() {
        assert_eq!(normalize_code(" abcd-efgh ijk0 "), "ABCDEFGH1JK0");
        assert_eq!(normalize_code("o0Il"), "0011");
    }
}
