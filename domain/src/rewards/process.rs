//! The reward worker's work on one ticket: find the member(s), apply the action's rule, and
//! pay — every posting and the ticket's result in one transaction.
//!
//! Where is each rule? Which member a memberId is, and when a command onboards one:
//! [`member_for`]. Each action: [`run`] (the arms of its `match`), with the arithmetic in
//! [`super::rules`]. A lucky draw's prize is drawn and stored before it is paid:
//! [`stored_draw`]. A check-in's streak: [`check_in`].
//!
//! Once a ticket is claimed, [`run`] ends in one of three ways: paid (`success`), refused by a
//! rule (`failed`, final: never retried), or an error worth retrying (the job retries with
//! backoff, then dead-letters). The ledger's transactionId of a reward is
//! `reward:{ticket}:{member|referrer}`, so running a ticket twice never pays twice; and its
//! result is written in the transaction of its postings, so a run that dies before committing
//! leaves nothing behind.

use rand::rngs::OsRng;
use serde_json::Value;
use time::{macros::format_description, Date};

use super::{
    envelope::{Action, Command, Envelope},
    rules::Rules,
    tickets::{self, FailReason, Move, Payout, PrizeWon, Role, Ticket, TicketResult, TicketState},
    RewardClient, RewardError,
};
use crate::{
    identity::{
        members::{self, Member, MemberError, NewMember},
        CustomerId, FullName, PhoneNumber,
    },
    ledger::{self, Kind, LedgerError, PointRefusal, Posting},
    store::{Db, StoreError, Tx},
};

/// How a run of a ticket ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Paid(TicketResult),
    Refused(FailReason),
    /// Nothing to do: the ticket was settled already (an earlier run, or another worker).
    Settled(TicketState),
}

/// Runs ticket `ticket_id` for `client` (`None`: the client is no longer configured).
pub async fn run(db: &Db, client: Option<&RewardClient>, ticket_id: &str, now_ms: i64) -> Result<Outcome, RewardError> {
    let ticket = tickets::find(db, ticket_id).await?.ok_or_else(|| StoreError::corrupt("reward_tickets", format!("no ticket {ticket_id}")))?;
    if ticket.state.is_final() {
        return Ok(Outcome::Settled(ticket.state));
    }
    if tickets::move_ticket(db, ticket_id, Move::Claim, None, now_ms).await?.is_none() {
        // settled by another worker between the read and the claim
        let state = tickets::find(db, ticket_id).await?.map(|t| t.state).unwrap_or(TicketState::Dead);
        return Ok(Outcome::Settled(state));
    }
    let Some(client) = client else {
        return refuse(db, ticket_id, FailReason::ClientNotConfigured, now_ms).await;
    };
    if !client.rules.enabled(ticket.action) {
        return refuse(db, ticket_id, FailReason::ActionDisabled, now_ms).await;
    }
    let command = stored_command(&ticket)?;
    let day = Date::parse(&ticket.local_day, format_description!("[year]-[month]-[day]"))
        .map_err(|_| StoreError::corrupt("reward_tickets", format!("ticket {ticket_id}: local_day {:?}", ticket.local_day)))?;
    let rules = &client.rules;
    let cid = client.client_id.as_str();

    // Decisions that need no lock: the members, the referral on record, the draw. A member or
    // a referral that an earlier command of theirs is still creating is waited for (retried),
    // not refused: a client may send a registration and a purchase moments apart, and workers
    // run them side by side.
    let member = match ticket.action {
        Action::TransactionReferral => None,
        _ => match member_for(db, cid, &command, now_ms).await? {
            Ok(m) => Some(m),
            Err(FailReason::MemberNotFound) if waits_for_onboarding(ticket.action) && pending(db, &ticket, &command.member, ONBOARDING).await? => {
                return Err(RewardError::Waiting(format!("member {} is still being registered by an earlier ticket", command.member)));
            }
            Err(reason) => return refuse(db, ticket_id, reason, now_ms).await,
        },
    };
    let mut referrer = None;
    let mut draw = None;
    match ticket.action {
        Action::RegisterReferral => {
            let share = command.user_id_share.as_ref().ok_or_else(|| corrupt_command(&ticket))?;
            let Some(found) = linked(db, cid, share).await? else {
                if pending(db, &ticket, share, ONBOARDING).await? {
                    return Err(RewardError::Waiting(format!("the referrer {share} is still being registered by an earlier ticket")));
                }
                return refuse(db, ticket_id, FailReason::ReferrerNotFound, now_ms).await;
            };
            if *share == command.member || member.as_ref().is_some_and(|m| m.id == found.id) {
                return refuse(db, ticket_id, FailReason::SelfReferral, now_ms).await;
            }
            referrer = Some((share.clone(), found));
        }
        Action::TransactionReferral => {
            let on_record: Option<String> = sqlx::query_scalar("SELECT referrer_ref FROM reward_referrals WHERE client_id = $1 AND member_ref = $2")
                .bind(cid)
                .bind(command.member.as_str())
                .fetch_optional(db.pool())
                .await
                .map_err(StoreError::from)?;
            let Some(on_record) = on_record else {
                if pending(db, &ticket, &command.member, &[Action::RegisterReferral]).await? {
                    return Err(RewardError::Waiting(format!("the referral of member {} is still being processed", command.member)));
                }
                return refuse(db, ticket_id, FailReason::NotReferred, now_ms).await;
            };
            if command.user_id_share.as_ref().is_some_and(|s| s.as_str() != on_record) {
                return refuse(db, ticket_id, FailReason::ReferrerMismatch, now_ms).await;
            }
            let share = CustomerId::parse(&on_record).map_err(|_| StoreError::corrupt("reward_referrals", format!("referrer {on_record:?}")))?;
            let Some(found) = linked(db, cid, &share).await? else {
                return refuse(db, ticket_id, FailReason::ReferrerNotFound, now_ms).await;
            };
            referrer = Some((share, found));
        }
        Action::LuckyDraw => match stored_draw(db, &ticket, &command, rules, now_ms).await? {
            Ok(won) => draw = Some(won),
            Err(reason) => return refuse(db, ticket_id, reason, now_ms).await,
        },
        _ => {}
    }

    let mut tx = db.begin().await?;
    let from = tickets::lock_state(&mut tx, db, ticket_id).await?;
    if from != TicketState::Processing {
        tx.rollback().await?;
        return Ok(Outcome::Settled(from));
    }
    // Every refusal below comes before the transaction's first write, so a refused ticket
    // commits its refusal and nothing else.
    let mut pays: Vec<(Role, &CustomerId, &Member, i64)> = Vec::new();
    let mut streak = None;
    let refused = match ticket.action {
        Action::Transaction => {
            let points = rules.transaction.points_for(command.total_amount);
            let m = member.as_ref().ok_or_else(|| corrupt_command(&ticket))?;
            pays.push((Role::Member, &command.member, m, points));
            (points == 0).then_some(FailReason::NoPointsEarned)
        }
        Action::Register => {
            let key = format!("register:{}", command.member);
            let m = member.as_ref().ok_or_else(|| corrupt_command(&ticket))?;
            pays.push((Role::Member, &command.member, m, rules.register.points));
            (!take_grant(&mut tx, cid, &key, ticket_id, now_ms).await?).then_some(FailReason::AlreadyRewarded)
        }
        Action::RegisterReferral => {
            let (share, found) = referrer.as_ref().ok_or_else(|| corrupt_command(&ticket))?;
            let m = member.as_ref().ok_or_else(|| corrupt_command(&ticket))?;
            pays.push((Role::Referrer, share, found, rules.registerreferral.referrer_points));
            pays.push((Role::Member, &command.member, m, rules.registerreferral.member_points));
            record_referral(&mut tx, cid, &command.member, share, ticket_id, now_ms).await?
        }
        Action::TransactionReferral => {
            let (share, found) = referrer.as_ref().ok_or_else(|| corrupt_command(&ticket))?;
            let points = rules.transaction.points_for(rules.transactionreferral.shared_amount(&command.rows));
            pays.push((Role::Referrer, share, found, points));
            (points == 0).then_some(FailReason::NoPointsEarned)
        }
        Action::LuckyDraw => {
            let won = draw.ok_or_else(|| corrupt_command(&ticket))?;
            let m = member.as_ref().ok_or_else(|| corrupt_command(&ticket))?;
            pays.push((Role::Member, &command.member, m, won.points));
            None
        }
        Action::DailyCheckIn => {
            let m = member.as_ref().ok_or_else(|| corrupt_command(&ticket))?;
            match check_in(&mut tx, rules, cid, &command.member, day, ticket_id, now_ms).await? {
                Some((n, points)) => {
                    streak = Some(n);
                    pays.push((Role::Member, &command.member, m, points));
                    None
                }
                None => Some(FailReason::AlreadyRewarded),
            }
        }
    };
    if let Some(reason) = refused {
        let moved = tickets::apply(&mut tx, ticket_id, from, Move::Refuse(reason), None, None, now_ms).await?;
        tx.commit().await?;
        return Ok(if moved.is_some() { Outcome::Refused(reason) } else { Outcome::Settled(from) });
    }

    let amount = matches!(ticket.action, Action::Transaction | Action::TransactionReferral).then_some(command.total_amount);
    let mut rewards = Vec::new();
    for (role, member_ref, member, points) in pays {
        if points > 0 {
            match pay(&mut tx, cid, ticket_id, role, member_ref, member, points, amount, now_ms).await {
                Ok(payout) => rewards.push(payout),
                Err(RewardError::Ledger(LedgerError::Refused(PointRefusal::BalanceLimit))) => {
                    tx.rollback().await?;
                    return refuse(db, ticket_id, FailReason::BalanceLimit, now_ms).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
    let points = rewards.iter().try_fold(0i64, |sum, r| sum.checked_add(r.points)).ok_or(RewardError::Overflow)?;
    let result = TicketResult { points, rewards, prize: draw, streak };
    if tickets::apply(&mut tx, ticket_id, from, Move::Succeed, Some(&result), None, now_ms).await?.is_none() {
        tx.rollback().await?;
        return Ok(Outcome::Settled(from));
    }
    tx.commit().await?;
    Ok(Outcome::Paid(result))
}

/// The actions that can make a member (onboard and link).
const ONBOARDING: &[Action] = &[Action::Register, Action::RegisterReferral];

/// Actions that pay an existing member; they wait for a registration of that member in flight.
fn waits_for_onboarding(action: Action) -> bool {
    matches!(action, Action::Transaction | Action::LuckyDraw | Action::DailyCheckIn)
}

/// Whether another ticket of this client, for `member` and of one of `actions`, has yet to run
/// (queued, processing, or dead and waiting for a replay).
async fn pending(db: &Db, ticket: &Ticket, member: &CustomerId, actions: &[Action]) -> Result<bool, RewardError> {
    let names: Vec<&str> = actions.iter().map(|a| a.as_str()).collect();
    let found: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM reward_tickets WHERE client_id = $1 AND member_ref = $2 AND ticket_id <> $3
           AND state IN ('queued', 'processing', 'dead') AND (action = $4 OR action = $5) LIMIT 1",
    )
    .bind(&ticket.client_id)
    .bind(member.as_str())
    .bind(&ticket.ticket_id)
    .bind(names.first().copied().unwrap_or(""))
    .bind(names.get(1).copied().unwrap_or(""))
    .fetch_optional(db.pool())
    .await?;
    Ok(found.is_some())
}

/// Ends a claimed ticket as refused (final), in its own transaction.
pub async fn refuse(db: &Db, ticket_id: &str, reason: FailReason, now_ms: i64) -> Result<Outcome, RewardError> {
    Ok(match tickets::move_ticket(db, ticket_id, Move::Refuse(reason), None, now_ms).await? {
        Some(_) => Outcome::Refused(reason),
        None => Outcome::Settled(tickets::find(db, ticket_id).await?.map(|t| t.state).unwrap_or(TicketState::Dead)),
    })
}

/// Claims a ticket and ends it as refused: a refusal decided before [`run`] (the worker found
/// the Data signature wrong).
pub async fn claim_and_refuse(db: &Db, ticket_id: &str, reason: FailReason, now_ms: i64) -> Result<Outcome, RewardError> {
    if tickets::move_ticket(db, ticket_id, Move::Claim, None, now_ms).await?.is_none() {
        return Ok(Outcome::Settled(tickets::find(db, ticket_id).await?.map(|t| t.state).unwrap_or(TicketState::Dead)));
    }
    refuse(db, ticket_id, reason, now_ms).await
}

fn corrupt_command(ticket: &Ticket) -> RewardError {
    StoreError::corrupt("reward_tickets", format!("ticket {}: its command does not fit its action", ticket.ticket_id)).into()
}

/// The command as the gateway accepted it (it parsed then, so a failure now is corruption).
fn stored_command(ticket: &Ticket) -> Result<Command, RewardError> {
    let corrupt = |e: String| RewardError::from(StoreError::corrupt("reward_tickets", format!("ticket {}: envelope: {e}", ticket.ticket_id)));
    let message: Value = serde_json::from_str(&ticket.envelope).map_err(|e| corrupt(e.to_string()))?;
    let envelope = Envelope::try_from(&message).map_err(|e| corrupt(e.to_string()))?;
    Command::try_from(&envelope).map_err(|e| corrupt(e.to_string()))
}

/// The member a client's Customer ID is linked to.
async fn linked(db: &Db, client_id: &str, customer: &CustomerId) -> Result<Option<Member>, RewardError> {
    let Some(id) = members::member_of_customer(db, client_id, customer).await? else { return Ok(None) };
    Ok(members::find_by_id(db, &id).await?)
}

/// The command's member: the one its memberId is linked to at this client. A register or
/// registerreferral for a memberId not linked yet onboards the member when `memberQtagPhone`
/// is a Vietnamese phone number — finds the SkyJoy member with that phone or creates one
/// (named by `memberName`) — and links the memberId to it, by the linking rules of
/// `identity::members`. Anything else is [`FailReason::MemberNotFound`].
pub async fn member_for(db: &Db, client_id: &str, command: &Command, now_ms: i64) -> Result<Result<Member, FailReason>, RewardError> {
    if let Some(m) = linked(db, client_id, &command.member).await? {
        return Ok(Ok(m));
    }
    let may_onboard = matches!(command.action, Action::Register | Action::RegisterReferral);
    let phone = command.member_qtag_phone.as_deref().and_then(|p| PhoneNumber::parse(p).ok());
    let (true, Some(phone)) = (may_onboard, phone) else {
        return Ok(Err(FailReason::MemberNotFound));
    };
    let full_name = match command.member_name.as_deref().and_then(|n| FullName::parse(n).ok()) {
        Some(name) => name,
        None => match members::find_by_phone(db, &phone).await? {
            Some(existing) => existing.full_name,
            None => return Ok(Err(FailReason::InvalidMemberName)),
        },
    };
    let new = NewMember { phone, full_name, date_of_birth: None, email: None };
    match members::onboard(db, client_id, new, Some(&command.member), now_ms).await {
        Ok(onboarded) => Ok(Ok(onboarded.member)),
        Err(MemberError::AccountAlreadyLinked) => Ok(Err(FailReason::AccountAlreadyLinked)),
        Err(MemberError::CustomerAlreadyLinked) => Ok(Err(FailReason::CustomerAlreadyLinked)),
        Err(e) => Err(e.into()),
    }
}

/// Takes a once-per-member reward; false when it was taken already.
async fn take_grant(tx: &mut Tx<'_>, client_id: &str, key: &str, ticket_id: &str, now_ms: i64) -> Result<bool, StoreError> {
    let taken = sqlx::query("INSERT INTO reward_grants (client_id, grant_key, ticket_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
        .bind(client_id)
        .bind(key)
        .bind(ticket_id)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    Ok(taken.rows_affected() == 1)
}

/// Records who referred `member`: one referrer per member. `Some(refusal)` when the member has
/// a referrer already (this one: the pair was rewarded; another: a second referrer).
async fn record_referral(
    tx: &mut Tx<'_>,
    client_id: &str,
    member: &CustomerId,
    referrer: &CustomerId,
    ticket_id: &str,
    now_ms: i64,
) -> Result<Option<FailReason>, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO reward_referrals (client_id, member_ref, referrer_ref, ticket_id, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(client_id)
    .bind(member.as_str())
    .bind(referrer.as_str())
    .bind(ticket_id)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(None);
    }
    let on_record: String = sqlx::query_scalar("SELECT referrer_ref FROM reward_referrals WHERE client_id = $1 AND member_ref = $2")
        .bind(client_id)
        .bind(member.as_str())
        .fetch_one(&mut **tx)
        .await?;
    Ok(Some(if on_record == referrer.as_str() { FailReason::AlreadyRewarded } else { FailReason::AlreadyReferred }))
}

/// Records `member`'s check-in on `day` and the streak it makes: the day after their last
/// check-in continues the streak, any other day starts a new one. `None` when they checked in
/// on that day already.
async fn check_in(
    tx: &mut Tx<'_>,
    rules: &Rules,
    client_id: &str,
    member: &CustomerId,
    day: Date,
    ticket_id: &str,
    now_ms: i64,
) -> Result<Option<(i64, i64)>, StoreError> {
    let last: Option<(String, i64)> = sqlx::query_as(
        "SELECT day, streak FROM reward_checkins WHERE client_id = $1 AND member_ref = $2 AND day < $3 ORDER BY day DESC LIMIT 1",
    )
    .bind(client_id)
    .bind(member.as_str())
    .bind(day.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    let yesterday = day.previous_day().map(|d| d.to_string());
    let streak = match last {
        Some((last_day, n)) if Some(&last_day) == yesterday.as_ref() => n.saturating_add(1),
        _ => 1,
    };
    let points = rules.dailycheckin.points_for(streak);
    let inserted = sqlx::query(
        "INSERT INTO reward_checkins (client_id, member_ref, day, streak, points, ticket_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT DO NOTHING",
    )
    .bind(client_id)
    .bind(member.as_str())
    .bind(day.to_string())
    .bind(streak)
    .bind(points)
    .bind(ticket_id)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok((inserted.rows_affected() == 1).then_some((streak, points)))
}

/// The prize of a lucky-draw ticket: drawn once (the operating system's CSPRNG) and stored, in
/// its own transaction, before anything is paid — a retry, a replay or a run that died after
/// the draw pays the prize drawn first. The draw counts towards the member's daily limit; a
/// draw beyond it is refused.
pub async fn stored_draw(db: &Db, ticket: &Ticket, command: &Command, rules: &Rules, now_ms: i64) -> Result<Result<PrizeWon, FailReason>, RewardError> {
    let find = "SELECT prize, points FROM reward_draws WHERE ticket_id = $1";
    let earlier: Option<(i64, i64)> = sqlx::query_as(find).bind(&ticket.ticket_id).fetch_optional(db.pool()).await.map_err(StoreError::from)?;
    if let Some((line, points)) = earlier {
        return Ok(Ok(PrizeWon { line, points }));
    }
    let mut tx = db.begin().await?;
    let earlier: Option<(i64, i64)> =
        sqlx::query_as(&format!("{find}{}", db.for_update())).bind(&ticket.ticket_id).fetch_optional(&mut *tx).await.map_err(StoreError::from)?;
    if let Some((line, points)) = earlier {
        tx.rollback().await.map_err(StoreError::from)?;
        return Ok(Ok(PrizeWon { line, points }));
    }
    // One conditional upsert counts the draw: no row yet → 1; below the limit → +1; else nothing.
    let counted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO reward_draw_days (client_id, member_ref, day, draws) VALUES ($1, $2, $3, 1)
         ON CONFLICT (client_id, member_ref, day) DO UPDATE SET draws = reward_draw_days.draws + 1
         WHERE reward_draw_days.draws < $4
         RETURNING draws",
    )
    .bind(&ticket.client_id)
    .bind(command.member.as_str())
    .bind(&ticket.local_day)
    .bind(rules.luckydraw.daily_limit)
    .fetch_optional(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    if counted.is_none() {
        tx.rollback().await.map_err(StoreError::from)?;
        return Ok(Err(FailReason::DailyLimitReached));
    }
    let line = rules.luckydraw.draw(&mut OsRng);
    let points = rules.luckydraw.prizes[line].points;
    sqlx::query("INSERT INTO reward_draws (ticket_id, client_id, member_ref, day, prize, points, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(&ticket.ticket_id)
        .bind(&ticket.client_id)
        .bind(command.member.as_str())
        .bind(&ticket.local_day)
        .bind(line as i64)
        .bind(points)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Ok(PrizeWon { line: line as i64, points }))
}

/// One reward: one REWARD posting, idempotent by `reward:{ticket}:{role}`.
#[allow(clippy::too_many_arguments)]
async fn pay(
    tx: &mut Tx<'_>,
    client_id: &str,
    ticket_id: &str,
    role: Role,
    member_ref: &CustomerId,
    member: &Member,
    points: i64,
    amount: Option<i64>,
    now_ms: i64,
) -> Result<Payout, RewardError> {
    let posting = Posting {
        client_id: client_id.to_string(),
        transaction_id: reward_transaction_id(ticket_id, role),
        member_id: member.id.clone(),
        kind: Kind::Reward,
        points,
        amount,
        currency: amount.map(|_| "VND".to_string()),
    };
    let posted = ledger::post_in(tx, &posting, now_ms).await?;
    Ok(Payout {
        role,
        member_id: member_ref.to_string(),
        skyjoy_id: member.skyjoy_id.to_string(),
        points,
        bit_reference: posted.entry.bit_reference,
        balance: posted.entry.balance_after,
    })
}

/// The ledger transactionId of a ticket's reward to one member.
pub fn reward_transaction_id(ticket_id: &str, role: Role) -> String {
    format!("reward:{ticket_id}:{}", role.as_str())
}
