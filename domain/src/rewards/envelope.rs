//! The task message (counterparts.md §3.2, §3.3), parsed once at the edge into a [`Command`].
//!
//! ```json
//! {"Subject":"loyalty","SubjectType":"reward","SubjectIdentifier":"task","Action":"transaction",
//!  "ResourceType":"null","Resource":"null","ResourceId":"null","ScopeSource":"",
//!  "Data":{"trxId":0,"memberId":123,"memberName":"agung","refference":"ref123","userFromStatus":0,
//!          "userId":123,"userIdShare":456,"deviceType":"android","installId":"installId",
//!          "signature":"…","data":[{"trxAmount":10000,"trxDate":""}]}}
//! ```
//!
//! Where is each rule? Routing (Subject, SubjectType, SubjectIdentifier, Action): [`route`].
//! The envelope's own fields: [`Envelope::try_from`]. Data's fields and what each action needs:
//! [`Command::try_from`]. Ids come as JSON integers or strings and are kept as strings; `0` and
//! `""` mean "no value" (the published examples send `"trxId":0`, `"userIdShare":0`).
//! `trxDate` formats: [`parse_trx_date`]. Which key makes a retried command the same one:
//! [`Command::business_key`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::{macros::format_description, Date, PrimitiveDateTime};

use crate::identity::CustomerId;

pub const SUBJECT: &str = "loyalty";
pub const SUBJECT_TYPE: &str = "reward";
pub const SUBJECT_IDENTIFIER: &str = "task";

/// Most rows one command may carry, and the largest amount of one row and of all rows together
/// (VND; the ledger's largest amount).
pub const MAX_ROWS: usize = 100;
pub const MAX_AMOUNT: i64 = crate::ledger::request::MAX_AMOUNT;
/// Longest id or text field, in characters.
pub const MAX_ID_CHARS: usize = 64;
pub const MAX_TEXT_CHARS: usize = 200;

/// The six commands of the task service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Transaction,
    #[serde(rename = "luckydraw")]
    LuckyDraw,
    Register,
    #[serde(rename = "registerreferral")]
    RegisterReferral,
    #[serde(rename = "transactionreferral")]
    TransactionReferral,
    #[serde(rename = "dailycheckin")]
    DailyCheckIn,
}

impl Action {
    pub const ALL: [Action; 6] =
        [Action::Transaction, Action::LuckyDraw, Action::Register, Action::RegisterReferral, Action::TransactionReferral, Action::DailyCheckIn];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Transaction => "transaction",
            Action::LuckyDraw => "luckydraw",
            Action::Register => "register",
            Action::RegisterReferral => "registerreferral",
            Action::TransactionReferral => "transactionreferral",
            Action::DailyCheckIn => "dailycheckin",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a message is not a command we take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Subject, SubjectType, SubjectIdentifier or Action name no route of ours (the service's
    /// generic "Access route not found").
    #[error("Access route not found")]
    RouteNotFound,
    /// Ours, but a field is missing, of the wrong type or out of range.
    #[error("{field} {problem}")]
    Invalid { field: String, problem: String },
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> EnvelopeError {
    EnvelopeError::Invalid { field: field.into(), problem: problem.into() }
}

/// The route of a message: its action, when Subject, SubjectType and SubjectIdentifier are the
/// task service's and Action is one of the six. Anything else is [`EnvelopeError::RouteNotFound`].
pub fn route(message: &Value) -> Result<Action, EnvelopeError> {
    let message = message.as_object().ok_or_else(|| invalid("the body", "must be a JSON object (the message envelope)"))?;
    let text = |name: &str| message.get(name).and_then(Value::as_str);
    if text("Subject") != Some(SUBJECT) || text("SubjectType") != Some(SUBJECT_TYPE) || text("SubjectIdentifier") != Some(SUBJECT_IDENTIFIER) {
        return Err(EnvelopeError::RouteNotFound);
    }
    text("Action").and_then(Action::parse).ok_or(EnvelopeError::RouteNotFound)
}

/// The route of a Request Out (a ticket's result): Subject, SubjectType and SubjectIdentifier
/// of the task service; Action, when given, one of the six.
pub fn route_request_out(message: &Value) -> Result<(), EnvelopeError> {
    let message = message.as_object().ok_or_else(|| invalid("the body", "must be a JSON object"))?;
    let text = |name: &str| message.get(name).and_then(Value::as_str);
    if text("Subject") != Some(SUBJECT) || text("SubjectType") != Some(SUBJECT_TYPE) || text("SubjectIdentifier") != Some(SUBJECT_IDENTIFIER) {
        return Err(EnvelopeError::RouteNotFound);
    }
    match message.get("Action") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(a)) if a.is_empty() || Action::parse(a).is_some() => Ok(()),
        Some(_) => Err(EnvelopeError::RouteNotFound),
    }
}

/// A routed message with its envelope fields checked (§3.2: all required strings; the
/// examples send the literal `"null"` for ResourceType, Resource and ResourceId).
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub action: Action,
    pub resource_type: String,
    pub resource: String,
    pub resource_id: String,
    pub scope_source: Option<String>,
    /// The payload as sent, member order kept (it is what the signature covers).
    pub data: Map<String, Value>,
}

impl TryFrom<&Value> for Envelope {
    type Error = EnvelopeError;

    fn try_from(message: &Value) -> Result<Envelope, EnvelopeError> {
        let action = route(message)?;
        let message = message.as_object().ok_or_else(|| invalid("the body", "must be a JSON object"))?;
        let required = |name: &str| match message.get(name) {
            Some(Value::String(s)) if s.chars().count() <= MAX_TEXT_CHARS => Ok(s.clone()),
            Some(Value::String(_)) => Err(invalid(name, format!("must be at most {MAX_TEXT_CHARS} characters"))),
            Some(_) => Err(invalid(name, "must be a string")),
            None => Err(invalid(name, "is required (a string; the examples send \"null\")")),
        };
        let scope_source = match message.get("ScopeSource") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.chars().count() <= MAX_TEXT_CHARS => Some(s.clone()).filter(|s| !s.is_empty()),
            Some(_) => return Err(invalid("ScopeSource", format!("must be a string of at most {MAX_TEXT_CHARS} characters"))),
        };
        let data = match message.get("Data") {
            Some(Value::Object(data)) => data.clone(),
            Some(_) => return Err(invalid("Data", "must be a JSON object")),
            None => return Err(invalid("Data", "is required")),
        };
        Ok(Envelope {
            action,
            resource_type: required("ResourceType")?,
            resource: required("Resource")?,
            resource_id: required("ResourceId")?,
            scope_source,
            data,
        })
    }
}

/// What names a command for idempotency: its `trxId`, else its `refference`; a check-in is named
/// by its member and day instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskKey {
    TrxId(String),
    Refference(String),
    MemberDay,
}

/// One `data[]` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// VND, 0 ..= [`MAX_AMOUNT`].
    pub amount: Option<i64>,
    /// The wall-clock time the client wrote, read in the client's zone.
    pub date: Option<PrimitiveDateTime>,
    pub product_id: Option<String>,
}

/// A reward task command, valid for its action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub action: Action,
    pub key: TaskKey,
    /// The member: the client's Customer ID.
    pub member: CustomerId,
    pub trx_id: Option<String>,
    pub refference: Option<String>,
    pub member_name: Option<String>,
    /// A phone number (a new member is onboarded with it when it is a Vietnamese number).
    pub member_qtag_phone: Option<String>,
    pub user_id: Option<String>,
    /// The referrer: the client's Customer ID of the member who shared.
    pub user_id_share: Option<CustomerId>,
    pub user_from_status: Option<String>,
    pub device_type: Option<String>,
    pub install_id: Option<String>,
    pub rows: Vec<Row>,
    /// The rows' amounts added up (VND).
    pub total_amount: i64,
}

impl Command {
    /// SHA-256 of what the command says, fields as parsed (an id sent as `501` or `"501"`, the
    /// members in any order, the signature: all the same): two commands with the same business
    /// key and the same hash are one command sent twice.
    pub fn request_hash(&self) -> Vec<u8> {
        let rows: Vec<Value> = self.rows.iter().map(|r| serde_json::json!([r.amount, r.date.map(|d| d.to_string()), r.product_id])).collect();
        let fields = serde_json::json!([
            self.action.as_str(),
            self.member.as_str(),
            self.trx_id,
            self.refference,
            self.member_name,
            self.member_qtag_phone,
            self.user_id,
            self.user_id_share.as_ref().map(CustomerId::as_str),
            self.user_from_status,
            self.device_type,
            self.install_id,
            rows,
        ]);
        Sha256::digest(fields.to_string().as_bytes()).to_vec()
    }

    /// Unique per client: a second command with the same key is a retry of the first.
    /// `{action}:trx:{trxId}`, `{action}:ref:{refference}`, or `dailycheckin:{memberId}:{day}`.
    pub fn business_key(&self, local_day: Date) -> String {
        match &self.key {
            TaskKey::TrxId(t) => format!("{}:trx:{t}", self.action),
            TaskKey::Refference(r) => format!("{}:ref:{r}", self.action),
            TaskKey::MemberDay => format!("{}:{}:{local_day}", self.action, self.member),
        }
    }
}

/// A scalar field as text: a string (trimmed; empty is no value) or a whole number.
fn scalar(data: &Map<String, Value>, field: &str, max_chars: usize) -> Result<Option<String>, EnvelopeError> {
    let text = match data.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(u)) => u.to_string(),
            _ => return Err(invalid(format!("Data.{field}"), "must be a string or a whole number")),
        },
        Some(_) => return Err(invalid(format!("Data.{field}"), "must be a string or a whole number")),
    };
    if text.chars().count() > max_chars || text.chars().any(char::is_control) {
        return Err(invalid(format!("Data.{field}"), format!("must be at most {max_chars} visible characters")));
    }
    Ok(Some(text).filter(|t| !t.is_empty()))
}

/// An id: as [`scalar`], and `0` is no value too.
fn id(data: &Map<String, Value>, field: &str) -> Result<Option<String>, EnvelopeError> {
    Ok(scalar(data, field, MAX_ID_CHARS)?.filter(|t| t != "0"))
}

fn customer_id(data: &Map<String, Value>, field: &str) -> Result<Option<CustomerId>, EnvelopeError> {
    id(data, field)?
        .map(|s| CustomerId::parse(&s).map_err(|_| invalid(format!("Data.{field}"), "must be 1 to 64 visible characters")))
        .transpose()
}

/// `2024-04-28 10-30-00` and `2024-04-30 10:30:00` (the examples), `2024-04-30T10:30:00` (the
/// reward processor's), a day alone `2024-04-30`, or empty (no date).
pub fn parse_trx_date(s: &str) -> Result<Option<PrimitiveDateTime>, ()> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let with_dashes = format_description!("[year]-[month]-[day] [hour]-[minute]-[second]");
    let with_colons = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let iso = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let day = format_description!("[year]-[month]-[day]");
    PrimitiveDateTime::parse(s, with_dashes)
        .or_else(|_| PrimitiveDateTime::parse(s, with_colons))
        .or_else(|_| PrimitiveDateTime::parse(s, iso))
        .or_else(|_| Date::parse(s, day).map(|d| d.midnight()))
        .map(Some)
        .map_err(|_| ())
}

fn amount(row: &Map<String, Value>, field: &str) -> Result<Option<i64>, EnvelopeError> {
    let bad = || invalid(field, format!("must be a whole number of VND from 0 to {MAX_AMOUNT}, as a number or a string of digits"));
    let value = match row.get("trxAmount") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_i64().ok_or_else(bad)?,
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::String(s)) if s.trim().bytes().all(|b| b.is_ascii_digit()) => s.trim().parse::<i64>().map_err(|_| bad())?,
        Some(_) => return Err(bad()),
    };
    if !(0..=MAX_AMOUNT).contains(&value) {
        return Err(bad());
    }
    Ok(Some(value))
}

fn rows(data: &Map<String, Value>) -> Result<Vec<Row>, EnvelopeError> {
    let list = match data.get("data") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(invalid("Data.data", "must be an array of {trxAmount, trxDate} rows")),
    };
    if list.len() > MAX_ROWS {
        return Err(invalid("Data.data", format!("must have at most {MAX_ROWS} rows")));
    }
    list.iter()
        .enumerate()
        .map(|(i, row)| {
            let field = |name: &str| format!("Data.data[{i}].{name}");
            let row = row.as_object().ok_or_else(|| invalid(format!("Data.data[{i}]"), "must be an object"))?;
            let date = match row.get("trxDate") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => parse_trx_date(s).map_err(|_| {
                    invalid(field("trxDate"), "must be YYYY-MM-DD HH:MM:SS, YYYY-MM-DD HH-MM-SS, YYYY-MM-DDTHH:MM:SS, YYYY-MM-DD or empty")
                })?,
                Some(_) => return Err(invalid(field("trxDate"), "must be a string")),
            };
            let product_id = match (row.contains_key("product_id"), row.contains_key("productID")) {
                (true, _) => id(row, "product_id"),
                (false, true) => id(row, "productID"),
                (false, false) => Ok(None),
            }
            .map_err(|_| invalid(field("product_id"), "must be a string or a whole number"))?;
            Ok(Row { amount: amount(row, &field("trxAmount"))?, date, product_id })
        })
        .collect()
}

impl TryFrom<&Envelope> for Command {
    type Error = EnvelopeError;

    fn try_from(envelope: &Envelope) -> Result<Command, EnvelopeError> {
        let data = &envelope.data;
        let action = envelope.action;
        let member = customer_id(data, "memberId")?.ok_or_else(|| invalid("Data.memberId", "is required (the member's Customer ID at the client)"))?;
        let trx_id = id(data, "trxId")?;
        let refference = scalar(data, "refference", MAX_ID_CHARS)?;
        let key = match (action, &trx_id, &refference) {
            (Action::DailyCheckIn, _, _) => TaskKey::MemberDay,
            (_, Some(t), _) => TaskKey::TrxId(t.clone()),
            (_, None, Some(r)) => TaskKey::Refference(r.clone()),
            (_, None, None) => return Err(invalid("Data.trxId", "or Data.refference is required: it makes a retried command the same one")),
        };
        let rows = rows(data)?;
        if matches!(action, Action::Transaction | Action::TransactionReferral) {
            if rows.is_empty() {
                return Err(invalid("Data.data", "needs at least one row with trxAmount"));
            }
            if let Some(i) = rows.iter().position(|r| r.amount.is_none()) {
                return Err(invalid(format!("Data.data[{i}].trxAmount"), "is required"));
            }
        }
        let total_amount = rows
            .iter()
            .filter_map(|r| r.amount)
            .try_fold(0i64, i64::checked_add)
            .filter(|total| *total <= MAX_AMOUNT)
            .ok_or_else(|| invalid("Data.data", format!("amounts must add up to at most {MAX_AMOUNT} VND")))?;
        let user_id_share = customer_id(data, "userIdShare")?;
        if action == Action::RegisterReferral && user_id_share.is_none() {
            return Err(invalid("Data.userIdShare", "is required: the referrer's Customer ID"));
        }
        Ok(Command {
            action,
            key,
            member,
            trx_id,
            refference,
            member_name: scalar(data, "memberName", 100)?,
            member_qtag_phone: scalar(data, "memberQtagPhone", MAX_ID_CHARS)?,
            user_id: id(data, "userId")?,
            user_id_share,
            user_from_status: scalar(data, "userFromStatus", MAX_ID_CHARS)?,
            device_type: scalar(data, "deviceType", MAX_ID_CHARS)?,
            install_id: scalar(data, "installId", MAX_ID_CHARS)?,
            rows,
            total_amount,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(action: &str, data: Value) -> Value {
        json!({"Subject":"loyalty","SubjectType":"reward","SubjectIdentifier":"task","Action":action,
               "ResourceType":"null","Resource":"null","ResourceId":"null","ScopeSource":"","Data":data})
    }

    fn command(action: &str, data: Value) -> Result<Command, EnvelopeError> {
        Command::try_from(&Envelope::try_from(&message(action, data))?)
    }

    #[test]
    fn the_published_examples_parse() {
        // counterparts.md §3.3, Action transaction, as published
        let c = command(
            "transaction",
            json!({"trxId":0,"memberId":123,"memberName":"agung","refference":"ref123","userFromStatus":0,"userId":123,"userIdShare":456,
                   "deviceType":"android","installId":"installId","signature":"sssss","data":[{"trxAmount":10000,"trxDate":""}]}),
        )
        .unwrap();
        assert_eq!((c.member.as_str(), c.trx_id.as_deref(), c.key.clone()), ("123", None, TaskKey::Refference("ref123".into())));
        assert_eq!((c.total_amount, c.rows[0].date, c.user_id_share.as_ref().map(CustomerId::as_str)), (10000, None, Some("456")));
        // the seed's check-in: a date with dashes in its time; keyed by member and day
        let c = command(
            "dailycheckin",
            json!({"data":[{"trxAmount":0,"trxDate":"2024-04-30 10-30-00"}],"deviceType":"android","installId":"S21+","memberId":2784,
                   "memberName":"Fares","refference":"ref123","signature":"x","trxId":0,"userFromStatus":0,"userId":92479,"userIdShare":0}),
        )
        .unwrap();
        assert_eq!(c.key, TaskKey::MemberDay);
        assert_eq!(c.business_key(time::macros::date!(2024 - 04 - 30)), "dailycheckin:2784:2024-04-30");
        assert_eq!(c.rows[0].date.unwrap().to_string(), "2024-04-30 10:30:00.0");
        assert_eq!(c.user_id_share, None, "0 is no referrer");
    }

    #[test]
    fn ids_come_as_numbers_or_strings_and_stay_strings() {
        let by_number = command("register", json!({"trxId": 90001, "memberId": 2784})).unwrap();
        let by_string = command("register", json!({"trxId": "90001", "memberId": " 2784 "})).unwrap();
        assert_eq!(by_number.business_key(time::macros::date!(2024 - 01 - 01)), "register:trx:90001");
        assert_eq!((by_number.member.clone(), by_number.key.clone()), (by_string.member, by_string.key));
        let c = command("register", json!({"trxId": "A-1", "memberId": "C-1"})).unwrap();
        assert_eq!(c.business_key(time::macros::date!(2024 - 01 - 01)), "register:trx:A-1");
    }

    #[test]
    fn routes_other_than_the_six_are_not_found() {
        for action in ["transaction", "luckydraw", "register", "registerreferral", "transactionreferral", "dailycheckin"] {
            assert_eq!(route(&message(action, json!({}))).unwrap().as_str(), action);
        }
        assert_eq!(route(&message("refferal", json!({}))), Err(EnvelopeError::RouteNotFound));
        assert_eq!(route(&message("Transaction", json!({}))), Err(EnvelopeError::RouteNotFound));
        let mut other = message("transaction", json!({}));
        other["SubjectIdentifier"] = json!("processor");
        assert_eq!(route(&other), Err(EnvelopeError::RouteNotFound));
        other["SubjectIdentifier"] = json!(1);
        assert_eq!(route(&other), Err(EnvelopeError::RouteNotFound));
        assert!(matches!(route(&json!([1, 2])), Err(EnvelopeError::Invalid { .. })));
    }

    #[test]
    fn wrong_types_and_missing_fields_name_the_field() {
        let field = |r: Result<Command, EnvelopeError>| match r {
            Err(EnvelopeError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(command("register", json!({"trxId": 1, "memberId": 1.5}))), "Data.memberId");
        assert_eq!(field(command("register", json!({"trxId": 1, "memberId": true}))), "Data.memberId");
        assert_eq!(field(command("register", json!({"trxId": 1}))), "Data.memberId");
        assert_eq!(field(command("register", json!({"trxId": 1, "memberId": 0}))), "Data.memberId");
        assert_eq!(field(command("register", json!({"trxId": 0, "memberId": 1}))), "Data.trxId");
        assert_eq!(field(command("register", json!({"trxId": [1], "memberId": 1}))), "Data.trxId");
        assert_eq!(field(command("transaction", json!({"trxId": 1, "memberId": 1}))), "Data.data");
        assert_eq!(field(command("transaction", json!({"trxId": 1, "memberId": 1, "data": [{"trxDate": ""}]}))), "Data.data[0].trxAmount");
        assert_eq!(field(command("transaction", json!({"trxId": 1, "memberId": 1, "data": [{"trxAmount": -1}]}))), "Data.data[0].trxAmount");
        assert_eq!(field(command("transaction", json!({"trxId": 1, "memberId": 1, "data": [{"trxAmount": "12.5"}]}))), "Data.data[0].trxAmount");
        assert_eq!(field(command("transaction", json!({"trxId": 1, "memberId": 1, "data": [{"trxAmount": 1, "trxDate": "30/04/2024"}]}))), "Data.data[0].trxDate");
        assert_eq!(field(command("transaction", json!({"trxId": 1, "memberId": 1, "data": {"trxAmount": 1}}))), "Data.data");
        assert_eq!(field(command("registerreferral", json!({"trxId": 1, "memberId": 1, "userIdShare": 0}))), "Data.userIdShare");
        let mut no_resource = message("register", json!({"trxId": 1, "memberId": 1}));
        no_resource.as_object_mut().unwrap().remove("ResourceId");
        assert!(matches!(Envelope::try_from(&no_resource), Err(EnvelopeError::Invalid { field, .. }) if field == "ResourceId"));
        let mut no_data = message("register", json!({}));
        no_data["Data"] = json!("x");
        assert!(matches!(Envelope::try_from(&no_data), Err(EnvelopeError::Invalid { field, .. }) if field == "Data"));
    }

    #[test]
    fn amounts_add_up_checked() {
        let c = command("transaction", json!({"trxId": 1, "memberId": 1, "data": [{"trxAmount": "150000"}, {"trxAmount": 25000, "product_id": 10}]})).unwrap();
        assert_eq!((c.total_amount, c.rows[1].product_id.as_deref()), (175_000, Some("10")));
        let max = MAX_AMOUNT;
        let rows: Vec<Value> = (0..MAX_ROWS).map(|_| json!({"trxAmount": max / MAX_ROWS as i64})).collect();
        assert_eq!(command("transaction", json!({"trxId": 1, "memberId": 1, "data": rows})).unwrap().total_amount, max);
        assert!(command("transaction", json!({"trxId": 1, "memberId": 1, "data": [{"trxAmount": max}, {"trxAmount": 1}]})).is_err(), "the total too");
        let too_many: Vec<Value> = (0..=MAX_ROWS).map(|_| json!({"trxAmount": 1})).collect();
        assert!(command("transaction", json!({"trxId": 1, "memberId": 1, "data": too_many})).is_err());
        assert!(command("transaction", json!({"trxId": 1, "memberId": 1, "data": [{"trxAmount": max + 1}]})).is_err());
        assert!(command("transaction", json!({"trxId": 1, "memberId": 1, "data": [{"trxAmount": u64::MAX}]})).is_err());
    }

    #[test]
    fn trx_dates_of_the_seed_parse_or_are_refused() {
        for (s, expected) in [
            ("2024-04-28 10-30-00", Some("2024-04-28 10:30:00.0")),
            ("2024-04-30 10:30:00", Some("2024-04-30 10:30:00.0")),
            ("2025-03-31T11:22:06", Some("2025-03-31 11:22:06.0")),
            ("2024-04-30", Some("2024-04-30 0:00:00.0")),
            ("", None),
            ("  ", None),
        ] {
            assert_eq!(parse_trx_date(s).unwrap().map(|d| d.to_string()).as_deref(), expected, "{s}");
        }
        for bad in ["2024-04-31 10:30:00", "2024-04-30 25:00:00", "30-04-2024", "yesterday", "2024-04-30 10:30"] {
            assert!(parse_trx_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_request_hash_is_what_the_command_says() {
        let hash = |data: Value| command("transaction", data).unwrap().request_hash();
        let a = hash(json!({"trxId": 1, "memberId": 1, "signature": "a", "data": [{"trxAmount": 5, "trxDate": "2024-04-30 10-30-00"}]}));
        assert_eq!(a, hash(json!({"memberId": "1", "trxId": "1", "data": [{"trxDate": "2024-04-30 10:30:00", "trxAmount": "5"}], "signature": "b"})));
        assert_ne!(a, hash(json!({"trxId": 1, "memberId": 1, "data": [{"trxAmount": 6, "trxDate": "2024-04-30 10-30-00"}]})));
        assert_ne!(a, hash(json!({"trxId": 1, "memberId": 2, "data": [{"trxAmount": 5, "trxDate": "2024-04-30 10-30-00"}]})));
        assert_ne!(a, hash(json!({"trxId": 1, "memberId": 1, "data": [{"trxAmount": 5}]})));
    }
}
