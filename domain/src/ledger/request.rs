//! A point request, checked once: the SkyJoy point APIs, a batch file's rows, the member's
//! redemption page and the reward worker all turn what they were given into a
//! [`PointRequest`] here (`TryFrom<RawPointRequest>`), then into a [`Posting`] with
//! [`PointRequest::posting`]. A refusal is a [`PointRefusal`]: one typed code, the same for every
//! caller; each API family maps it to its own wire shape in one place (SkyJoy's in
//! `server::http::skyjoy`), a batch row writes its code in the result file.
//!
//! Where is each rule? Field formats and ranges: the newtypes below ([`TransactionId`],
//! [`Amount`], [`PointCount`], [`TransactionDate`]). Which fields an operation needs, in
//! SkyJoy's order: [`PointRequest::try_from`]. Points a purchase earns: `earning.rs`. Who may
//! take points away (the `point:redeem` scope): [`PointRequest::posting`]. Overdraft, replays and
//! the balance ceiling: `ledger::post` (they need the database).

use serde_json::Value;

use super::{EarningRule, Kind, LedgerError, Posting};
use crate::identity::{InvalidInput, SkyJoyId};

/// The largest purchase or redemption amount, in minor units (VND): 10^15.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;
/// The most points one posting may move: 10^12.
pub const MAX_POINTS: i64 = 1_000_000_000_000;
/// The largest balance a member may hold: 10^15 points (a credit beyond it is refused).
pub const MAX_BALANCE: i64 = 1_000_000_000_000_000;
/// A transactionId's most characters (after trimming; printable, no control characters).
pub const MAX_TRANSACTION_ID_CHARS: usize = 64;
/// An `itemId`'s most characters (the partner's own record: checked, not stored).
pub const MAX_ITEM_ID_CHARS: usize = 255;
/// A `transactionDes` text's most characters (the partner's own record: checked, not stored).
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
/// Transaction dates are accepted from 2000-01-01T00:00:00Z …
pub const MIN_DATE_MS: i64 = 946_684_800_000;
/// … to before 2100-01-01T00:00:00Z.
pub const MAX_DATE_MS: i64 = 4_102_444_800_000;

/// Why a point request was refused. The UPPERCASE code ([`PointRefusal::code`]) is what partners
/// see, in the API's error body and in a batch file's result line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointRefusal {
    /// A batch row's `type` is not ACCRUAL, REDEMPTION or ADJUSTMENT.
    InvalidType,
    InvalidSkyjoyId,
    MemberNotFound,
    InvalidTransactionId,
    InvalidTransactionDate,
    InvalidTransactionAmount,
    InvalidUsedPoint,
    /// An ADJUSTMENT's `point` (or `point` given where it does not belong).
    InvalidPoint,
    InvalidCurrency,
    /// The purchase earns no point under the partner's earning rule.
    NoPointsEarned,
    /// A debit without the `point:redeem` scope.
    Forbidden,
    InsufficientBalance,
    /// The transactionId was already used for a different request.
    DuplicateTransaction,
    /// The credit would take the balance past [`MAX_BALANCE`].
    BalanceLimit,
    LockNotFound,
    /// The lock was already released, captured or expired (where it is now).
    LockNotActive(super::holds::HoldState),
    /// A lock's points are missing or outside 1 to [`MAX_POINTS`].
    InvalidLockPoint,
    /// A lock's time is outside 1 second to 7 days.
    InvalidLockTime,
    /// `itemId` is not text of at most [`MAX_ITEM_ID_CHARS`] without control characters.
    InvalidItemId,
    /// `transactionDes` is neither text of at most [`MAX_DESCRIPTION_CHARS`] nor an object.
    InvalidTransactionDes,
}

impl PointRefusal {
    pub fn code(self) -> &'static str {
        match self {
            PointRefusal::InvalidType => "INVALID_TYPE",
            PointRefusal::InvalidSkyjoyId => "INVALID_SKYJOY_ID",
            PointRefusal::MemberNotFound => "MEMBER_NOT_FOUND",
            PointRefusal::InvalidTransactionId => "INVALID_TRANSACTION_ID",
            PointRefusal::InvalidTransactionDate => "INVALID_TRANSACTION_DATE",
            PointRefusal::InvalidTransactionAmount => "INVALID_TRANSACTION_AMOUNT",
            PointRefusal::InvalidUsedPoint => "INVALID_USED_POINT",
            PointRefusal::InvalidPoint => "INVALID_POINT",
            PointRefusal::InvalidCurrency => "INVALID_CURRENCY",
            PointRefusal::NoPointsEarned => "NO_POINTS_EARNED",
            PointRefusal::Forbidden => "FORBIDDEN",
            PointRefusal::InsufficientBalance => "INSUFFICIENT_BALANCE",
            PointRefusal::DuplicateTransaction => "DUPLICATE_TRANSACTION",
            PointRefusal::BalanceLimit => "BALANCE_LIMIT_EXCEEDED",
            PointRefusal::LockNotFound => "LOCK_NOT_FOUND",
            PointRefusal::LockNotActive(_) => "LOCK_NOT_ACTIVE",
            PointRefusal::InvalidLockPoint => "INVALID_LOCK_POINT",
            PointRefusal::InvalidLockTime => "INVALID_EXPIRES_IN",
            PointRefusal::InvalidItemId => "INVALID_ITEM_ID",
            PointRefusal::InvalidTransactionDes => "INVALID_TRANSACTION_DES",
        }
    }

    /// The English message partners see.
    pub fn message(self) -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed(match self {
            PointRefusal::InvalidType => "type is required: ACCRUAL, REDEMPTION or ADJUSTMENT",
            PointRefusal::InvalidSkyjoyId => "skyjoyId is required: SJ followed by 10 digits",
            PointRefusal::MemberNotFound => "No member has this SkyJoy ID.",
            PointRefusal::InvalidTransactionId => "transactionId is required (1 to 64 printable characters, no control characters)",
            PointRefusal::InvalidTransactionDate => {
                "transactionDate is required: Unix milliseconds or RFC 3339, from 2000-01-01 to before 2100-01-01"
            }
            PointRefusal::InvalidTransactionAmount => {
                "transactionAmount is required and must be a whole number from 0 to 1000000000000000"
            }
            PointRefusal::InvalidUsedPoint => "usedPoint is required and must be a whole number from 1 to 1000000000000",
            PointRefusal::InvalidPoint => {
                "point is for ADJUSTMENT rows only, where it is required: a whole number, not 0, at most 1000000000000 either way"
            }
            PointRefusal::InvalidCurrency => "transactionCurrency must be VND",
            PointRefusal::NoPointsEarned => "transactionAmount is below what earns one point",
            PointRefusal::Forbidden => "taking points away needs the point:redeem scope",
            PointRefusal::InsufficientBalance => "the available balance is lower than the points requested",
            PointRefusal::DuplicateTransaction => "this transactionId was already used for a different request",
            PointRefusal::BalanceLimit => "the balance would exceed 1000000000000000 points",
            PointRefusal::LockNotFound => "no lock of yours has this transactionId for this member",
            PointRefusal::LockNotActive(state) => return format!("the lock is {}, not HELD", state.as_str()).into(),
            PointRefusal::InvalidLockPoint => "lockPoint is required and must be a whole number from 1 to 1000000000000",
            PointRefusal::InvalidLockTime => "expiresIn is in seconds, from 1 to 604800 (7 days)",
            PointRefusal::InvalidItemId => "itemId is text: at most 255 characters, no control characters",
            PointRefusal::InvalidTransactionDes => "transactionDes is text of at most 1000 characters, or an object (the product)",
        })
    }
}

impl From<InvalidInput> for PointRefusal {
    fn from(_: InvalidInput) -> Self {
        PointRefusal::InvalidSkyjoyId
    }
}

/// What became of a point request that reached the ledger: a refusal, or a failure of ours.
#[derive(Debug, thiserror::Error)]
pub enum PointError {
    #[error("{}", .0.message())]
    Refused(PointRefusal),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl From<PointRefusal> for PointError {
    fn from(r: PointRefusal) -> Self {
        PointError::Refused(r)
    }
}

impl From<LedgerError> for PointError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Refused(r) => PointError::Refused(r),
            LedgerError::Store(s) => PointError::Store(s),
        }
    }
}

/// A partner's id for one of its transactions: 1 to 64 characters after trimming, none of them
/// a control character (no NUL, no newline).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransactionId(String);

impl TransactionId {
    pub fn parse(s: &str) -> Result<TransactionId, PointRefusal> {
        let s = s.trim();
        if s.is_empty() || s.chars().count() > MAX_TRANSACTION_ID_CHARS || s.chars().any(char::is_control) {
            return Err(PointRefusal::InvalidTransactionId);
        }
        Ok(TransactionId(s.to_string()))
    }

    /// A number (`"transactionId": 12345`) is taken as its digits.
    fn from_value(v: Option<&Value>) -> Result<TransactionId, PointRefusal> {
        match v {
            Some(Value::String(s)) => TransactionId::parse(s),
            Some(Value::Number(n)) if n.is_u64() || n.is_i64() => TransactionId::parse(&n.to_string()),
            _ => Err(PointRefusal::InvalidTransactionId),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An amount in minor units (VND has none): `0..=MAX_AMOUNT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Amount(i64);

impl Amount {
    pub fn new(v: i64) -> Option<Amount> {
        (0..=MAX_AMOUNT).contains(&v).then_some(Amount(v))
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

/// A positive number of points: `1..=MAX_POINTS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PointCount(i64);

impl PointCount {
    pub fn new(v: i64) -> Option<PointCount> {
        (1..=MAX_POINTS).contains(&v).then_some(PointCount(v))
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

/// When the partner says the transaction happened: Unix ms within
/// `MIN_DATE_MS..MAX_DATE_MS`. Keeps the value as sent (a number or RFC 3339 text), because a
/// signed redemption (`sign`) must repeat it exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionDate {
    pub ms: i64,
    pub as_sent: Value,
}

impl TransactionDate {
    pub fn from_value(v: Option<&Value>) -> Result<TransactionDate, PointRefusal> {
        let ms = match v {
            // A CSV cell or a query parameter is text: digits are Unix milliseconds.
            Some(Value::String(s)) if !s.trim().is_empty() && s.trim().bytes().all(|b| b.is_ascii_digit()) => s.trim().parse::<i64>().ok(),
            Some(v) => crate::clock::parse_wire_time(v),
            None => None,
        };
        match (ms, v) {
            (Some(ms), Some(v)) if (MIN_DATE_MS..MAX_DATE_MS).contains(&ms) => Ok(TransactionDate { ms, as_sent: v.clone() }),
            _ => Err(PointRefusal::InvalidTransactionDate),
        }
    }
}

/// A whole number given as a JSON number or as digits in text (a CSV cell, a query parameter);
/// `None` when it is neither (a fraction, a word, out of i64).
fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Present and not empty (an empty CSV cell, a JSON `null` or `""` is absent).
fn given(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null() && v.as_str().is_none_or(|s| !s.trim().is_empty()))
}

/// What the request asks for. The API's path says it; a batch row's `type` column does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Accrual,
    Redemption,
    Adjustment,
}

impl Operation {
    /// A batch row's `type`, any case.
    pub fn parse(v: Option<&Value>) -> Result<Operation, PointRefusal> {
        match v.and_then(Value::as_str).map(str::trim) {
            Some(t) if t.eq_ignore_ascii_case("ACCRUAL") => Ok(Operation::Accrual),
            Some(t) if t.eq_ignore_ascii_case("REDEMPTION") => Ok(Operation::Redemption),
            Some(t) if t.eq_ignore_ascii_case("ADJUSTMENT") => Ok(Operation::Adjustment),
            _ => Err(PointRefusal::InvalidType),
        }
    }
}

/// The fields as they arrive, none checked yet: JSON values, which the API's body, a JSON Lines
/// row, a CSV cell (as text) and a page's query parameter (as text) all are.
#[derive(Debug, Clone, Copy)]
pub struct RawPointRequest<'a> {
    pub operation: Operation,
    pub skyjoy_id: Option<&'a Value>,
    pub transaction_id: Option<&'a Value>,
    pub transaction_date: Option<&'a Value>,
    pub transaction_amount: Option<&'a Value>,
    pub used_point: Option<&'a Value>,
    /// An ADJUSTMENT's signed points.
    pub point: Option<&'a Value>,
    pub transaction_currency: Option<&'a Value>,
    /// The partner's own records, checked for shape and kept nowhere.
    pub item_id: Option<&'a Value>,
    pub transaction_des: Option<&'a Value>,
}

impl<'a> RawPointRequest<'a> {
    /// The fields of a JSON object (an API body, a batch row) under SkyJoy's names.
    pub fn from_object(operation: Operation, o: &'a serde_json::Map<String, Value>) -> Self {
        RawPointRequest {
            operation,
            skyjoy_id: o.get("skyjoyId"),
            transaction_id: o.get("transactionId"),
            transaction_date: o.get("transactionDate"),
            transaction_amount: o.get("transactionAmount"),
            used_point: o.get("usedPoint"),
            point: o.get("point"),
            transaction_currency: o.get("transactionCurrency"),
            item_id: o.get("itemId"),
            transaction_des: o.get("transactionDes"),
        }
    }
}

/// The change a checked request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Earn what the partner's earning rule gives for the purchase amount.
    Accrual { amount: Amount },
    /// Spend `used` points on an order of `amount`.
    Redemption { amount: Amount, used: PointCount },
    /// Correct the balance by `points` (either sign); the amount may be absent.
    Adjustment { amount: Option<Amount>, points: i64 },
}

/// A point request whose every field is valid.
#[derive(Debug, Clone, PartialEq)]
pub struct PointRequest {
    pub skyjoy_id: SkyJoyId,
    pub transaction_id: TransactionId,
    pub transaction_date: TransactionDate,
    pub change: Change,
}

impl TryFrom<RawPointRequest<'_>> for PointRequest {
    type Error = PointRefusal;

    /// Checks the fields in SkyJoy's order (the first refusal is the answer).
    fn try_from(r: RawPointRequest<'_>) -> Result<Self, PointRefusal> {
        let skyjoy_id = match given(r.skyjoy_id).and_then(Value::as_str) {
            Some(s) => SkyJoyId::parse(s)?,
            None => return Err(PointRefusal::InvalidSkyjoyId),
        };
        let transaction_id = TransactionId::from_value(r.transaction_id)?;
        let transaction_date = TransactionDate::from_value(r.transaction_date)?;
        let amount = match given(r.transaction_amount) {
            Some(v) => Some(integer(v).and_then(Amount::new).ok_or(PointRefusal::InvalidTransactionAmount)?),
            None => None,
        };
        if let Some(c) = given(r.transaction_currency) {
            if c.as_str().map(str::trim) != Some("VND") {
                return Err(PointRefusal::InvalidCurrency);
            }
        }
        match given(r.item_id) {
            Some(Value::String(s)) if s.chars().count() <= MAX_ITEM_ID_CHARS && !s.chars().any(char::is_control) => {}
            None => {}
            Some(_) => return Err(PointRefusal::InvalidItemId),
        }
        match given(r.transaction_des) {
            Some(Value::String(s)) if s.chars().count() <= MAX_DESCRIPTION_CHARS => {}
            Some(Value::Object(_)) | None => {}
            Some(_) => return Err(PointRefusal::InvalidTransactionDes),
        }
        let used = given(r.used_point);
        let point = given(r.point);
        let change = match r.operation {
            Operation::Accrual | Operation::Redemption if point.is_some() => return Err(PointRefusal::InvalidPoint),
            Operation::Accrual | Operation::Adjustment if used.is_some() => return Err(PointRefusal::InvalidUsedPoint),
            Operation::Accrual => Change::Accrual { amount: amount.ok_or(PointRefusal::InvalidTransactionAmount)? },
            Operation::Redemption => Change::Redemption {
                amount: amount.ok_or(PointRefusal::InvalidTransactionAmount)?,
                used: used.and_then(integer).and_then(PointCount::new).ok_or(PointRefusal::InvalidUsedPoint)?,
            },
            Operation::Adjustment => {
                let points = point
                    .and_then(integer)
                    .filter(|p| *p != 0 && p.unsigned_abs() <= MAX_POINTS as u64)
                    .ok_or(PointRefusal::InvalidPoint)?;
                Change::Adjustment { amount, points }
            }
        };
        Ok(PointRequest { skyjoy_id, transaction_id, transaction_date, change })
    }
}

impl PointRequest {
    /// The posting for `member_id` at partner `client_id`: the points of an accrual by the
    /// partner's earning rule; a debit only with `may_debit` (the `point:redeem` scope).
    pub fn posting(&self, client_id: &str, member_id: &str, rule: &EarningRule, may_debit: bool) -> Result<Posting, PointRefusal> {
        let (kind, points, amount) = match self.change {
            Change::Accrual { amount } => {
                let points = rule.points_for(amount.get());
                if points == 0 {
                    return Err(PointRefusal::NoPointsEarned);
                }
                (Kind::Accrual, points, Some(amount))
            }
            Change::Redemption { amount, used } => (Kind::Redemption, -used.get(), Some(amount)),
            Change::Adjustment { amount, points } => (Kind::Adjustment, points, amount),
        };
        if points < 0 && !may_debit {
            return Err(PointRefusal::Forbidden);
        }
        Ok(Posting {
            client_id: client_id.to_string(),
            transaction_id: self.transaction_id.as_str().to_string(),
            member_id: member_id.to_string(),
            kind,
            points,
            amount: amount.map(Amount::get),
            currency: amount.map(|_| "VND".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn raw<'a>(op: Operation, o: &'a serde_json::Map<String, Value>) -> Result<PointRequest, PointRefusal> {
        PointRequest::try_from(RawPointRequest::from_object(op, o))
    }

    fn obj(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    const DATE: i64 = 1_700_000_000_000;

    #[test]
    fn each_field_has_its_own_code_in_skyjoys_order() {
        let ok = obj(json!({"skyjoyId": "SJ1234567890", "transactionId": "T-1", "transactionDate": DATE, "transactionAmount": 150_000}));
        let r = raw(Operation::Accrual, &ok).unwrap();
        assert_eq!(r.change, Change::Accrual { amount: Amount(150_000) });
        let with = |k: &str, v: Value| {
            let mut o = ok.clone();
            o.insert(k.into(), v);
            raw(Operation::Accrual, &o)
        };
        assert_eq!(with("skyjoyId", json!("SJ12")), Err(PointRefusal::InvalidSkyjoyId));
        assert_eq!(with("skyjoyId", json!("SJ12")).unwrap_err(), with("skyjoyId", Value::Null).unwrap_err());
        assert_eq!(with("transactionId", json!("")), Err(PointRefusal::InvalidTransactionId));
        assert_eq!(with("transactionId", json!("a".repeat(65))), Err(PointRefusal::InvalidTransactionId));
        assert_eq!(with("transactionId", json!("T\u{0}1")), Err(PointRefusal::InvalidTransactionId));
        assert_eq!(with("transactionId", json!("T\n1")), Err(PointRefusal::InvalidTransactionId));
        assert!(with("transactionId", json!(12345)).is_ok(), "a number is its digits");
        assert!(with("transactionId", json!("Đơn-1")).is_ok(), "any printable text");
        assert_eq!(with("transactionDate", json!("yesterday")), Err(PointRefusal::InvalidTransactionDate));
        assert_eq!(with("transactionDate", json!("0000-01-01T00:00:00Z")), Err(PointRefusal::InvalidTransactionDate));
        assert_eq!(with("transactionDate", json!("9999-01-01T00:00:00Z")), Err(PointRefusal::InvalidTransactionDate));
        assert_eq!(with("transactionDate", json!(i64::MAX)), Err(PointRefusal::InvalidTransactionDate));
        assert!(with("transactionDate", json!("2024-10-09T07:25:37.784Z")).is_ok());
        assert!(with("transactionDate", json!(DATE.to_string())).is_ok(), "digits in text are ms");
        assert_eq!(with("transactionAmount", json!(-1)), Err(PointRefusal::InvalidTransactionAmount));
        assert_eq!(with("transactionAmount", json!(1.5)), Err(PointRefusal::InvalidTransactionAmount));
        assert_eq!(with("transactionAmount", json!(MAX_AMOUNT + 1)), Err(PointRefusal::InvalidTransactionAmount));
        assert_eq!(with("transactionAmount", json!(i64::MAX)), Err(PointRefusal::InvalidTransactionAmount));
        assert_eq!(with("transactionCurrency", json!("USD")), Err(PointRefusal::InvalidCurrency));
        // the partner's own records: any text within bounds (an object for the description), nothing else
        assert!(with("itemId", json!("SKU-1 Áo thun")).is_ok());
        assert!(with("itemId", json!("i".repeat(MAX_ITEM_ID_CHARS))).is_ok());
        assert_eq!(with("itemId", json!("i".repeat(MAX_ITEM_ID_CHARS + 1))), Err(PointRefusal::InvalidItemId));
        assert_eq!(with("itemId", json!("a\u{7}b")), Err(PointRefusal::InvalidItemId));
        assert_eq!(with("itemId", json!([])), Err(PointRefusal::InvalidItemId));
        assert_eq!(with("itemId", json!(42)), Err(PointRefusal::InvalidItemId));
        assert!(with("itemId", Value::Null).is_ok(), "null is left out");
        assert!(with("transactionDes", json!({"product": "Áo thun", "qty": 2})).is_ok());
        assert!(with("transactionDes", json!("d".repeat(MAX_DESCRIPTION_CHARS))).is_ok());
        assert!(with("transactionDes", json!("line 1\nline 2")).is_ok());
        assert_eq!(with("transactionDes", json!("d".repeat(MAX_DESCRIPTION_CHARS + 1))), Err(PointRefusal::InvalidTransactionDes));
        assert_eq!(with("transactionDes", json!(["x"])), Err(PointRefusal::InvalidTransactionDes));
        assert_eq!(with("transactionDes", json!(true)), Err(PointRefusal::InvalidTransactionDes));
        assert_eq!(with("usedPoint", json!(5)), Err(PointRefusal::InvalidUsedPoint), "an accrual spends nothing");
        assert_eq!(with("point", json!(5)), Err(PointRefusal::InvalidPoint));
        // the first failing field is the answer
        let mut two = ok.clone();
        two.insert("transactionId".into(), json!(""));
        two.insert("transactionAmount".into(), json!(-1));
        assert_eq!(raw(Operation::Accrual, &two), Err(PointRefusal::InvalidTransactionId));
    }

    #[test]
    fn redemptions_and_adjustments() {
        let base = json!({"skyjoyId": "SJ1234567890", "transactionId": "T", "transactionDate": DATE, "transactionAmount": 0});
        let mut r = obj(base.clone());
        assert_eq!(raw(Operation::Redemption, &r), Err(PointRefusal::InvalidUsedPoint));
        for bad in [json!(0), json!(-3), json!(MAX_POINTS + 1), json!("x")] {
            r.insert("usedPoint".into(), bad);
            assert_eq!(raw(Operation::Redemption, &r), Err(PointRefusal::InvalidUsedPoint));
        }
        r.insert("usedPoint".into(), json!("20"));
        assert_eq!(raw(Operation::Redemption, &r).unwrap().change, Change::Redemption { amount: Amount(0), used: PointCount(20) });

        let mut a = obj(json!({"skyjoyId": "SJ1234567890", "transactionId": "T", "transactionDate": DATE}));
        assert_eq!(raw(Operation::Adjustment, &a), Err(PointRefusal::InvalidPoint));
        a.insert("point".into(), json!(-7));
        assert_eq!(raw(Operation::Adjustment, &a).unwrap().change, Change::Adjustment { amount: None, points: -7 });
        a.insert("point".into(), json!(i64::MIN));
        assert_eq!(raw(Operation::Adjustment, &a), Err(PointRefusal::InvalidPoint));
    }

    #[test]
    fn postings_follow_the_rule_and_the_scope() {
        let o = obj(json!({"skyjoyId": "SJ1234567890", "transactionId": "T", "transactionDate": DATE, "transactionAmount": 9_999}));
        let rule = EarningRule::default();
        assert_eq!(raw(Operation::Accrual, &o).unwrap().posting("shop", "m", &rule, false), Err(PointRefusal::NoPointsEarned));
        let mut o = o;
        o.insert("usedPoint".into(), json!(3));
        let redeem = raw(Operation::Redemption, &o).unwrap();
        assert_eq!(redeem.posting("shop", "m", &rule, false), Err(PointRefusal::Forbidden));
        let p = redeem.posting("shop", "m", &rule, true).unwrap();
        assert_eq!((p.kind, p.points, p.amount, p.currency.as_deref()), (Kind::Redemption, -3, Some(9_999), Some("VND")));
    }

    proptest! {
        /// Whatever the input, checking never panics, and what passes is within its range.
        #[test]
        fn any_input_is_refused_or_in_range(id in ".{0,80}", amount in any::<i64>(), used in any::<i64>(), date in any::<i64>()) {
            let o = obj(json!({"skyjoyId": "SJ1234567890", "transactionId": id, "transactionDate": date,
                               "transactionAmount": amount, "usedPoint": used}));
            if let Ok(r) = raw(Operation::Redemption, &o) {
                let Change::Redemption { amount, used } = r.change else { panic!("a redemption") };
                prop_assert!((0..=MAX_AMOUNT).contains(&amount.get()));
                prop_assert!((1..=MAX_POINTS).contains(&used.get()));
                prop_assert!((MIN_DATE_MS..MAX_DATE_MS).contains(&r.transaction_date.ms));
                prop_assert!(!r.transaction_id.as_str().chars().any(char::is_control));
            }
        }
    }
}
