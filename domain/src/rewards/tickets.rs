//! Tickets: a command as stored, its state and its result.
//!
//! Where is each rule? A ticket's life is [`next`] (one pure transition function; every state
//! change below goes through it and is written with a conditional `UPDATE`). A command is stored
//! once per business key and once per Idempotency-Key, with its outbox job, in one transaction:
//! [`submit`]. An operator's replay of a dead (or failed) ticket: [`replay`].

use serde::{Deserialize, Serialize};
use time::Date;

use super::envelope::Action;
use crate::{
    outbox::{self, NewJob},
    store::{Db, Flag, StoreError, Tx},
};

/// The outbox job kind that processes a ticket (`server::workers` registers its handler).
pub const TASK: &str = "reward.task";

/// The outbox job's dedupe key for a ticket (one job per ticket).
pub fn job_key(ticket_id: &str) -> String {
    format!("reward:{ticket_id}")
}

/// Why a ticket ended without a reward: final, never retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailReason {
    /// The memberId is linked to no SkyJoy member at this client (and the command could not
    /// onboard one).
    MemberNotFound,
    /// The referrer (userIdShare) is linked to no SkyJoy member at this client.
    ReferrerNotFound,
    SelfReferral,
    /// This member (register) or this referral pair was rewarded already, or the member checked
    /// in on this day already.
    AlreadyRewarded,
    /// The member was referred by someone else already.
    AlreadyReferred,
    /// transactionreferral for a member nobody referred.
    NotReferred,
    /// transactionreferral naming another referrer than the one on record.
    ReferrerMismatch,
    /// The rule gives 0 points for this transaction.
    NoPointsEarned,
    DailyLimitReached,
    /// The client's rules switched the action off.
    ActionDisabled,
    /// The client is no longer configured for reward tasks.
    ClientNotConfigured,
    /// The phone's member is linked to another Customer ID of this client.
    AccountAlreadyLinked,
    /// This Customer ID is linked to another member.
    CustomerAlreadyLinked,
    /// A new member could not be onboarded: memberName is missing or not a name.
    InvalidMemberName,
    /// The Data signature did not verify with the client's key (checked by the worker when the
    /// key could not be fetched at receipt).
    BadSignature,
    /// The reward would take the member's balance above the ledger's largest balance.
    BalanceLimit,
}

impl FailReason {
    pub const ALL: [FailReason; 16] = [
        FailReason::MemberNotFound,
        FailReason::ReferrerNotFound,
        FailReason::SelfReferral,
        FailReason::AlreadyRewarded,
        FailReason::AlreadyReferred,
        FailReason::NotReferred,
        FailReason::ReferrerMismatch,
        FailReason::NoPointsEarned,
        FailReason::DailyLimitReached,
        FailReason::ActionDisabled,
        FailReason::ClientNotConfigured,
        FailReason::AccountAlreadyLinked,
        FailReason::CustomerAlreadyLinked,
        FailReason::InvalidMemberName,
        FailReason::BadSignature,
        FailReason::BalanceLimit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailReason::MemberNotFound => "MEMBER_NOT_FOUND",
            FailReason::ReferrerNotFound => "REFERRER_NOT_FOUND",
            FailReason::SelfReferral => "SELF_REFERRAL",
            FailReason::AlreadyRewarded => "ALREADY_REWARDED",
            FailReason::AlreadyReferred => "ALREADY_REFERRED",
            FailReason::NotReferred => "NOT_REFERRED",
            FailReason::ReferrerMismatch => "REFERRER_MISMATCH",
            FailReason::NoPointsEarned => "NO_POINTS_EARNED",
            FailReason::DailyLimitReached => "DAILY_LIMIT_REACHED",
            FailReason::ActionDisabled => "ACTION_DISABLED",
            FailReason::ClientNotConfigured => "CLIENT_NOT_CONFIGURED",
            FailReason::AccountAlreadyLinked => "ACCOUNT_ALREADY_LINKED",
            FailReason::CustomerAlreadyLinked => "CUSTOMER_ALREADY_LINKED",
            FailReason::InvalidMemberName => "INVALID_MEMBER_NAME",
            FailReason::BadSignature => "BAD_SIGNATURE",
            FailReason::BalanceLimit => "BALANCE_LIMIT",
        }
    }

    pub fn parse(s: &str) -> Option<FailReason> {
        FailReason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// What the client is told (English; the client shows its members its own text).
    pub fn message(self) -> &'static str {
        match self {
            FailReason::MemberNotFound => "No SkyJoy member is linked to this memberId at this client.",
            FailReason::ReferrerNotFound => "No SkyJoy member is linked to the referrer (userIdShare) at this client.",
            FailReason::SelfReferral => "A member cannot refer themselves.",
            FailReason::AlreadyRewarded => "This reward was given already.",
            FailReason::AlreadyReferred => "This member was referred by someone else already.",
            FailReason::NotReferred => "Nobody referred this member.",
            FailReason::ReferrerMismatch => "userIdShare is not the member's referrer.",
            FailReason::NoPointsEarned => "The rule gives no points for this transaction.",
            FailReason::DailyLimitReached => "The member has used today's draws.",
            FailReason::ActionDisabled => "This action is switched off for this client.",
            FailReason::ClientNotConfigured => "The client is not configured for reward tasks.",
            FailReason::AccountAlreadyLinked => "This account is already linked in the system.",
            FailReason::CustomerAlreadyLinked => "This Customer ID is already linked to another SkyJoy account.",
            FailReason::InvalidMemberName => "A new member needs memberName: 1 to 100 letters.",
            FailReason::BadSignature => "The Data signature does not verify with the client's public key.",
            FailReason::BalanceLimit => "The member's balance would exceed the largest balance.",
        }
    }
}

/// Where a ticket is: `queued → processing → success | failed(reason) | dead`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TicketState {
    Queued,
    Processing,
    Success,
    Failed(FailReason),
    /// Retries ran out; waits for an operator's replay.
    Dead,
}

impl TicketState {
    pub const NAMES: [&'static str; 5] = ["queued", "processing", "success", "failed", "dead"];

    /// The `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketState::Queued => "queued",
            TicketState::Processing => "processing",
            TicketState::Success => "success",
            TicketState::Failed(_) => "failed",
            TicketState::Dead => "dead",
        }
    }

    pub fn reason(self) -> Option<FailReason> {
        match self {
            TicketState::Failed(r) => Some(r),
            _ => None,
        }
    }

    /// Success and failed never change (failed only by an operator's replay).
    pub fn is_final(self) -> bool {
        matches!(self, TicketState::Success | TicketState::Failed(_))
    }

    fn from_columns(state: &str, reason: Option<&str>) -> Result<TicketState, StoreError> {
        let corrupt = || StoreError::corrupt("reward_tickets", format!("state {state:?} with reason {reason:?}"));
        Ok(match (state, reason) {
            ("queued", None) => TicketState::Queued,
            ("processing", None) => TicketState::Processing,
            ("success", None) => TicketState::Success,
            ("failed", Some(r)) => TicketState::Failed(FailReason::parse(r).ok_or_else(corrupt)?),
            ("dead", None) => TicketState::Dead,
            _ => return Err(corrupt()),
        })
    }
}

/// What happens to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// A worker takes it (again, after a crash; or a dead ticket whose job was replayed).
    Claim,
    Succeed,
    Refuse(FailReason),
    /// A passing failure: back in the queue until the job's next attempt.
    RetryLater,
    /// The last attempt failed.
    GiveUp,
    /// An operator puts a dead or failed ticket back in the queue.
    Replay,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from} ticket cannot {what:?}")]
pub struct IllegalMove {
    pub from: &'static str,
    pub what: Move,
}

/// The one transition function of a ticket; a move it refuses changes nothing.
pub fn next(state: TicketState, what: Move) -> Result<TicketState, IllegalMove> {
    use TicketState::*;
    let to = match (state, what) {
        (Queued | Processing | Dead, Move::Claim) => Processing,
        (Processing, Move::Succeed) => Success,
        (Processing, Move::Refuse(r)) => Failed(r),
        (Queued | Processing, Move::RetryLater) => Queued,
        (Queued | Processing, Move::GiveUp) => Dead,
        (Dead | Failed(_), Move::Replay) => Queued,
        _ => return Err(IllegalMove { from: state.as_str(), what }),
    };
    Ok(to)
}

/// What a ticket paid: one line per member rewarded (one ledger posting each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketResult {
    /// All the points paid by this ticket.
    pub points: i64,
    pub rewards: Vec<Payout>,
    /// luckydraw: the line of the prize table drawn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prize: Option<PrizeWon>,
    /// dailycheckin: the day of the streak this check-in made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streak: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The memberId of the command.
    Member,
    /// The member who referred them (userIdShare).
    Referrer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Referrer => "referrer",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payout {
    pub role: Role,
    /// The client's Customer ID of the member.
    pub member_id: String,
    pub skyjoy_id: String,
    pub points: i64,
    /// The ledger entry.
    pub bit_reference: String,
    /// The member's SkyPoint balance after it.
    pub balance: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrizeWon {
    /// 0-based line of the prize table.
    pub line: i64,
    /// 0 is "no prize".
    pub points: i64,
}

/// A ticket as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ticket {
    pub ticket_id: String,
    pub client_id: String,
    pub action: Action,
    pub business_key: String,
    pub idempotency_key: Option<String>,
    pub member_ref: String,
    /// `YYYY-MM-DD` in the client's zone when it arrived.
    pub local_day: String,
    /// The message as received.
    pub envelope: String,
    pub verified: bool,
    #[serde(serialize_with = "state_name")]
    pub state: TicketState,
    pub reason: Option<FailReason>,
    pub message: Option<String>,
    pub result: Option<TicketResult>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub finished_at_ms: Option<i64>,
}

fn state_name<S: serde::Serializer>(state: &TicketState, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(state.as_str())
}

#[derive(sqlx::FromRow)]
struct TicketRow {
    ticket_id: String,
    client_id: String,
    action: String,
    business_key: String,
    idempotency_key: Option<String>,
    member_ref: String,
    local_day: String,
    envelope: String,
    verified: Flag,
    state: String,
    reason: Option<String>,
    message: Option<String>,
    result: Option<String>,
    attempts: i64,
    last_error: Option<String>,
    created_at: i64,
    updated_at: i64,
    finished_at: Option<i64>,
}

const COLUMNS: &str = "ticket_id, client_id, action, business_key, idempotency_key, member_ref, local_day, envelope, verified, state, reason, \
                       message, result, attempts, last_error, created_at, updated_at, finished_at";

impl TryFrom<TicketRow> for Ticket {
    type Error = StoreError;

    fn try_from(r: TicketRow) -> Result<Ticket, StoreError> {
        let corrupt = |what: &str| StoreError::corrupt("reward_tickets", format!("ticket {}: {what}", r.ticket_id));
        let action = Action::parse(&r.action).ok_or_else(|| corrupt("unknown action"))?;
        let state = TicketState::from_columns(&r.state, r.reason.as_deref())?;
        let result = r.result.as_deref().map(serde_json::from_str::<TicketResult>).transpose().map_err(|e| corrupt(&format!("result: {e}")))?;
        if state == TicketState::Success && result.is_none() {
            return Err(corrupt("success without a result"));
        }
        Ok(Ticket {
            action,
            reason: state.reason(),
            state,
            result,
            ticket_id: r.ticket_id,
            client_id: r.client_id,
            business_key: r.business_key,
            idempotency_key: r.idempotency_key,
            member_ref: r.member_ref,
            local_day: r.local_day,
            envelope: r.envelope,
            verified: r.verified.into(),
            message: r.message,
            attempts: r.attempts,
            last_error: r.last_error,
            created_at_ms: r.created_at,
            updated_at_ms: r.updated_at,
            finished_at_ms: r.finished_at,
        })
    }
}

/// A command to store.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub client_id: String,
    pub action: Action,
    pub business_key: String,
    pub idempotency_key: Option<String>,
    pub request_hash: Vec<u8>,
    pub member_ref: String,
    pub local_day: Date,
    pub envelope: String,
    pub verified: bool,
}

impl NewTicket {
    /// The ticket of a command `client` sent at `now_ms` (`raw` is the message as received):
    /// its business key and its day in the client's calendar.
    pub fn of(client: &super::RewardClient, command: &super::Command, raw: String, idempotency_key: Option<String>, verified: bool, now_ms: i64) -> NewTicket {
        let local_day = client.time_zone.day_of(now_ms);
        NewTicket {
            client_id: client.client_id.clone(),
            action: command.action,
            business_key: command.business_key(local_day),
            idempotency_key,
            request_hash: command.request_hash(),
            member_ref: command.member.to_string(),
            local_day,
            envelope: raw,
            verified,
        }
    }
}

/// What [`submit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub ticket_id: String,
    /// A retry: the ticket existed, nothing was stored now.
    pub replayed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The business key names an earlier, different command (same trxId with other data).
    #[error("this trxId/refference was used for another command (ticket {ticket_id})")]
    Duplicate { ticket_id: String },
    /// The Idempotency-Key was used for another command.
    #[error("this Idempotency-Key was used for another command (ticket {ticket_id})")]
    IdempotencyKeyReused { ticket_id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for SubmitError {
    fn from(e: sqlx::Error) -> Self {
        SubmitError::Store(e.into())
    }
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    ticket_id: String,
    action: String,
    business_key: String,
    request_hash: Vec<u8>,
}

/// The ticket an earlier identical command made, if any: by Idempotency-Key, then by business
/// key (reads only, so a retry never waits for the write lock). A check-in is the same command
/// for its member and day whatever its other fields; any other command must carry the same data.
pub async fn find_earlier(db: &Db, new: &NewTicket) -> Result<Option<Submitted>, SubmitError> {
    if let Some(key) = &new.idempotency_key {
        let row: Option<KeyRow> =
            sqlx::query_as("SELECT ticket_id, action, business_key, request_hash FROM reward_tickets WHERE client_id = $1 AND idempotency_key = $2")
                .bind(&new.client_id)
                .bind(key)
                .fetch_optional(db.pool())
                .await?;
        if let Some(row) = row {
            return if row.business_key == new.business_key && row.action == new.action.as_str() && same_command(&row, new) {
                Ok(Some(Submitted { ticket_id: row.ticket_id, replayed: true }))
            } else {
                Err(SubmitError::IdempotencyKeyReused { ticket_id: row.ticket_id })
            };
        }
    }
    let row: Option<KeyRow> =
        sqlx::query_as("SELECT ticket_id, action, business_key, request_hash FROM reward_tickets WHERE client_id = $1 AND business_key = $2")
            .bind(&new.client_id)
            .bind(&new.business_key)
            .fetch_optional(db.pool())
            .await?;
    match row {
        Some(row) if same_command(&row, new) => Ok(Some(Submitted { ticket_id: row.ticket_id, replayed: true })),
        Some(row) => Err(SubmitError::Duplicate { ticket_id: row.ticket_id }),
        None => Ok(None),
    }
}

fn same_command(row: &KeyRow, new: &NewTicket) -> bool {
    new.action == Action::DailyCheckIn || row.request_hash == new.request_hash
}

/// Stores a command as a new `queued` ticket with its outbox job (at most `max_attempts` runs),
/// in one transaction; or, for a retried command, returns the first ticket and stores nothing.
pub async fn submit(db: &Db, new: &NewTicket, max_attempts: u32, now_ms: i64) -> Result<Submitted, SubmitError> {
    if let Some(earlier) = find_earlier(db, new).await? {
        return Ok(earlier);
    }
    let ticket_id = uuid::Uuid::new_v4().to_string();
    let mut tx = db.begin().await?;
    // Both keys are unique: a concurrent identical command loses here and finds the winner below.
    let inserted = sqlx::query(
        "INSERT INTO reward_tickets (ticket_id, client_id, action, business_key, idempotency_key, request_hash, member_ref, local_day,
             envelope, verified, state, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'queued', $11, $11)
         ON CONFLICT DO NOTHING",
    )
    .bind(&ticket_id)
    .bind(&new.client_id)
    .bind(new.action.as_str())
    .bind(&new.business_key)
    .bind(&new.idempotency_key)
    .bind(&new.request_hash)
    .bind(&new.member_ref)
    .bind(new.local_day.to_string())
    .bind(&new.envelope)
    .bind(new.verified)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        tx.rollback().await?;
        return find_earlier(db, new).await?.ok_or_else(|| SubmitError::Store(StoreError::corrupt("reward_tickets", "a key conflicted but no ticket holds it")));
    }
    let job = NewJob::new(TASK, serde_json::json!({ "ticket_id": ticket_id })).dedupe_key(job_key(&ticket_id)).max_attempts(max_attempts);
    // The outbox keeps the system's time (`now_ms` may be a test's clock for the calendar rules).
    outbox::enqueue(&mut tx, job, crate::clock::now_ms()).await?;
    tx.commit().await?;
    Ok(Submitted { ticket_id, replayed: false })
}

pub async fn find(db: &Db, ticket_id: &str) -> Result<Option<Ticket>, StoreError> {
    let row: Option<TicketRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM reward_tickets WHERE ticket_id = $1"))
        .bind(ticket_id)
        .fetch_optional(db.pool())
        .await?;
    row.map(Ticket::try_from).transpose()
}

/// A client's own ticket (another client's is not found).
pub async fn find_for_client(db: &Db, client_id: &str, ticket_id: &str) -> Result<Option<Ticket>, StoreError> {
    Ok(find(db, ticket_id).await?.filter(|t| t.client_id == client_id))
}

/// Which tickets to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// One of [`TicketState::NAMES`].
    pub state: Option<String>,
    pub action: Option<Action>,
    pub client_id: Option<String>,
    pub member_ref: Option<String>,
}

/// Tickets, newest first.
pub async fn list(db: &Db, filter: &Filter, limit: i64) -> Result<Vec<Ticket>, StoreError> {
    let rows: Vec<TicketRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM reward_tickets
         WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR action = $2) AND ($3 IS NULL OR client_id = $3) AND ($4 IS NULL OR member_ref = $4)
         ORDER BY created_at DESC, ticket_id DESC LIMIT $5"
    ))
    .bind(&filter.state)
    .bind(filter.action.map(Action::as_str))
    .bind(&filter.client_id)
    .bind(&filter.member_ref)
    .bind(limit.clamp(1, 1000))
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(Ticket::try_from).collect()
}

/// How many tickets are in each state, per action: `(state, action, count)`.
pub async fn counts(db: &Db) -> Result<Vec<(String, String, i64)>, StoreError> {
    Ok(sqlx::query_as("SELECT state, action, CAST(COUNT(*) AS BIGINT) FROM reward_tickets GROUP BY state, action ORDER BY state, action")
        .fetch_all(db.pool())
        .await?)
}

/// The ticket's state, locked for the rest of `tx`.
pub(super) async fn lock_state(tx: &mut Tx<'_>, db: &Db, ticket_id: &str) -> Result<TicketState, StoreError> {
    let row: Option<(String, Option<String>)> =
        sqlx::query_as(&format!("SELECT state, reason FROM reward_tickets WHERE ticket_id = $1{}", db.for_update()))
            .bind(ticket_id)
            .fetch_optional(&mut **tx)
            .await?;
    let (state, reason) = row.ok_or_else(|| StoreError::corrupt("reward_tickets", format!("ticket {ticket_id} vanished")))?;
    TicketState::from_columns(&state, reason.as_deref())
}

/// Inside `tx`, after [`lock_state`] read `from`: moves the ticket. `Ok(None)` when the move is
/// illegal from there (nothing written).
pub(super) async fn apply(
    tx: &mut Tx<'_>,
    ticket_id: &str,
    from: TicketState,
    what: Move,
    result: Option<&TicketResult>,
    note: Option<&str>,
    now_ms: i64,
) -> Result<Option<TicketState>, StoreError> {
    let Ok(to) = next(from, what) else { return Ok(None) };
    let result = result.map(|r| serde_json::to_string(r).expect("a result serialises"));
    let finished = to.is_final().then_some(now_ms);
    let (message, last_error) = match what {
        Move::Refuse(r) => (Some(note.unwrap_or(r.message()).to_string()), None),
        Move::RetryLater | Move::GiveUp => (None, note.map(str::to_string)),
        _ => (None, None),
    };
    let moved = sqlx::query(
        "UPDATE reward_tickets
         SET state = $1, reason = $2, message = $3, result = COALESCE($4, result), last_error = COALESCE($5, last_error),
             attempts = attempts + $6, finished_at = $7, updated_at = $8
         WHERE ticket_id = $9 AND state = $10",
    )
    .bind(to.as_str())
    .bind(to.reason().map(FailReason::as_str))
    .bind(message)
    .bind(result)
    .bind(last_error)
    .bind(i64::from(what == Move::Claim))
    .bind(finished)
    .bind(now_ms)
    .bind(ticket_id)
    .bind(from.as_str())
    .execute(&mut **tx)
    .await?;
    Ok((moved.rows_affected() == 1).then_some(to))
}

/// Moves a ticket in its own transaction; the state it ended in, or `None` when the move was
/// illegal from its current state.
pub(super) async fn move_ticket(db: &Db, ticket_id: &str, what: Move, note: Option<&str>, now_ms: i64) -> Result<Option<TicketState>, StoreError> {
    let mut tx = db.begin().await?;
    let from = lock_state(&mut tx, db, ticket_id).await?;
    let to = apply(&mut tx, ticket_id, from, what, None, note, now_ms).await?;
    if to.is_some() {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(to)
}

/// The signature was verified by the worker (its key could not be fetched at receipt).
pub async fn mark_verified(db: &Db, ticket_id: &str, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE reward_tickets SET verified = TRUE, updated_at = $2 WHERE ticket_id = $1")
        .bind(ticket_id)
        .bind(now_ms)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// A passing failure: the ticket waits in the queue for its job's next attempt.
pub async fn retry_later(db: &Db, ticket_id: &str, error: &str, now_ms: i64) -> Result<(), StoreError> {
    move_ticket(db, ticket_id, Move::RetryLater, Some(error), now_ms).await.map(|_| ())
}

/// The last attempt failed: the ticket is dead until an operator replays it.
pub async fn give_up(db: &Db, ticket_id: &str, error: &str, now_ms: i64) -> Result<(), StoreError> {
    move_ticket(db, ticket_id, Move::GiveUp, Some(error), now_ms).await.map(|_| ())
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no ticket {0}")]
    NotFound(String),
    #[error("ticket {ticket_id} is {state}: only dead and failed tickets are replayed")]
    NotReplayable { ticket_id: String, state: &'static str },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ReplayError {
    fn from(e: sqlx::Error) -> Self {
        ReplayError::Store(e.into())
    }
}

/// An operator puts a dead or failed ticket back in the queue with `extra_attempts` more runs
/// of its job, in one transaction. A paid ticket is never replayed; a retried posting would be
/// refused by the ledger anyway (its transactionId is the ticket's).
pub async fn replay(db: &Db, ticket_id: &str, extra_attempts: u32, now_ms: i64) -> Result<(), ReplayError> {
    let mut tx = db.begin().await?;
    let exists: Option<String> = sqlx::query_scalar("SELECT ticket_id FROM reward_tickets WHERE ticket_id = $1")
        .bind(ticket_id)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        return Err(ReplayError::NotFound(ticket_id.to_string()));
    }
    let from = lock_state(&mut tx, db, ticket_id).await?;
    if apply(&mut tx, ticket_id, from, Move::Replay, None, None, now_ms).await?.is_none() {
        return Err(ReplayError::NotReplayable { ticket_id: ticket_id.to_string(), state: from.as_str() });
    }
    let job: Option<i64> = sqlx::query_scalar("SELECT id FROM outbox_jobs WHERE dedupe_key = $1")
        .bind(job_key(ticket_id))
        .fetch_optional(&mut *tx)
        .await?;
    let job = job.ok_or_else(|| StoreError::corrupt("outbox_jobs", format!("ticket {ticket_id} has no job")))?;
    if !outbox::replay_in(&mut tx, job, extra_attempts, crate::clock::now_ms()).await? {
        return Err(StoreError::corrupt("outbox_jobs", format!("job {job} of ticket {ticket_id} is still pending or running")).into());
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_moves_only_along_its_arrows() {
        use TicketState::*;
        let all = [Queued, Processing, Success, Failed(FailReason::NoPointsEarned), Dead];
        let moves = [Move::Claim, Move::Succeed, Move::Refuse(FailReason::MemberNotFound), Move::RetryLater, Move::GiveUp, Move::Replay];
        let mut legal = Vec::new();
        for from in all {
            for what in moves {
                if let Ok(to) = next(from, what) {
                    legal.push((from.as_str(), what, to.as_str()));
                }
            }
        }
        assert_eq!(
            legal,
            vec![
                ("queued", Move::Claim, "processing"),
                ("queued", Move::RetryLater, "queued"),
                ("queued", Move::GiveUp, "dead"),
                ("processing", Move::Claim, "processing"),
                ("processing", Move::Succeed, "success"),
                ("processing", Move::Refuse(FailReason::MemberNotFound), "failed"),
                ("processing", Move::RetryLater, "queued"),
                ("processing", Move::GiveUp, "dead"),
                ("failed", Move::Replay, "queued"),
                ("dead", Move::Claim, "processing"),
                ("dead", Move::Replay, "queued"),
            ]
        );
        assert!(Success.is_final() && Failed(FailReason::SelfReferral).is_final() && !Dead.is_final());
    }

    #[test]
    fn stored_states_parse_or_are_corrupt() {
        assert_eq!(TicketState::from_columns("failed", Some("SELF_REFERRAL")).unwrap(), TicketState::Failed(FailReason::SelfReferral));
        for (state, reason) in [("failed", None), ("queued", Some("SELF_REFERRAL")), ("failed", Some("NOPE")), ("paid", None)] {
            assert!(matches!(TicketState::from_columns(state, reason), Err(StoreError::Corrupt { .. })), "{state} {reason:?}");
        }
        for r in FailReason::ALL {
            assert_eq!(FailReason::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }
}
