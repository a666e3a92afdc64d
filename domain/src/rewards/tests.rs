//! Reward tasks against a real database: each action's rule, each refusal, idempotency under
//! concurrency, the streak across midnight, the stored draw, failures and replays. Tickets are
//! run by calling the worker's function directly (deterministic: run, then assert).

use serde_json::{json, Value};

use super::{
    process::{self, Outcome},
    rules::Prize,
    tickets::{self, NewTicket, Submitted, SubmitError, TicketState},
    *,
};
use crate::{
    identity::{members, CustomerId, FullName, PhoneNumber},
    ledger,
    outbox::{self, JobState},
    store::{testing::temp_db, Db},
};

/// 2024-04-30 10:00 in Jakarta.
const T0: i64 = 1_714_446_000_000;
const DAY: i64 = 86_400_000;
/// 2024-04-30 23:59:59 in Jakarta.
const LATE: i64 = 1_714_496_399_000;

fn client() -> RewardClient {
    RewardClient { client_id: "shop".into(), time_zone: TimeZone::default(), rules: Rules::default() }
}

fn message(action: &str, data: Value) -> Value {
    json!({"Subject":"loyalty","SubjectType":"reward","SubjectIdentifier":"task","Action":action,
           "ResourceType":"null","Resource":"null","ResourceId":"null","ScopeSource":"","Data":data})
}

fn new_ticket(c: &RewardClient, action: &str, data: Value, idempotency_key: Option<&str>, at: i64) -> NewTicket {
    let message = message(action, data);
    let envelope = Envelope::try_from(&message).unwrap();
    let command = Command::try_from(&envelope).unwrap();
    NewTicket::of(c, &command, message.to_string(), idempotency_key.map(str::to_string), true, at)
}

async fn send(db: &Db, c: &RewardClient, action: &str, data: Value, at: i64) -> Submitted {
    tickets::submit(db, &new_ticket(c, action, data, None, at), 5, at).await.unwrap()
}

async fn run(db: &Db, c: &RewardClient, ticket: &Submitted, at: i64) -> Outcome {
    process::run(db, Some(c), &ticket.ticket_id, at).await.unwrap()
}

async fn send_and_run(db: &Db, c: &RewardClient, action: &str, data: Value, at: i64) -> Outcome {
    let t = send(db, c, action, data, at).await;
    run(db, c, &t, at).await
}

/// A SkyJoy member linked to the client's Customer ID `customer`.
async fn linked_member(db: &Db, customer: &str, phone: &str) -> members::Member {
    let new = members::NewMember { phone: PhoneNumber::parse(phone).unwrap(), full_name: FullName::parse("Reward Test").unwrap(), date_of_birth: None, email: None };
    members::onboard(db, "shop", new, Some(&CustomerId::parse(customer).unwrap()), T0).await.unwrap().member
}

async fn balance(db: &Db, member: &members::Member) -> i64 {
    ledger::balance(db, &member.id).await.unwrap().0
}

async fn reward_entries(db: &Db) -> i64 {
    sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM ledger_entries WHERE kind = 'REWARD'").fetch_one(db.pool()).await.unwrap()
}

fn paid(outcome: &Outcome) -> &TicketResult {
    match outcome {
        Outcome::Paid(r) => r,
        other => panic!("expected a payment, got {other:?}"),
    }
}

async fn ledger_consistent(db: &Db) {
    assert!(ledger::inconsistent_accounts(db).await.unwrap().is_empty(), "balance == sum(entries)");
}

#[tokio::test]
async fn a_transaction_pays_the_earning_rule_once_as_one_reward_posting() {
    let (_d, db) = temp_db().await;
    let c = client();
    let m = linked_member(&db, "2784", "0912345678").await;
    let data = json!({"trxId": 501, "memberId": 2784, "data": [{"trxAmount": 150_000, "trxDate": "2024-04-30 10:30:00"}, {"trxAmount": "25000"}]});
    let t = send(&db, &c, "transaction", data.clone(), T0).await;
    assert!(!t.replayed);
    let result = paid(&run(&db, &c, &t, T0).await).clone();
    assert_eq!((result.points, result.rewards.len(), result.rewards[0].balance), (17, 1, 17), "175,000 VND at 10,000 a point");
    assert_eq!(result.rewards[0].member_id, "2784");
    assert_eq!(result.rewards[0].skyjoy_id, m.skyjoy_id.as_str());

    let entry = ledger::lookup(&db, "shop", &m.id, ledger::Reference::BitReference(&result.rewards[0].bit_reference)).await.unwrap().unwrap();
    assert_eq!((entry.kind.as_str(), entry.transaction_id.clone(), entry.amount), ("REWARD", format!("reward:{}:member", t.ticket_id), Some(175_000)));

    // the same command again (a string id this time): the first ticket, nothing new
    let again = send(&db, &c, "transaction", json!({"trxId": "501", "memberId": "2784", "data": [{"trxAmount": 150_000, "trxDate": "2024-04-30 10:30:00"}, {"trxAmount": "25000"}]}), T0 + 5).await;
    assert_eq!(again.ticket_id, t.ticket_id);
    assert!(matches!(run(&db, &c, &again, T0 + 5).await, Outcome::Settled(TicketState::Success)));
    assert_eq!((balance(&db, &m).await, reward_entries(&db).await), (17, 1));

    // the same trxId with other data is another command: refused, nothing stored
    let other = tickets::submit(&db, &new_ticket(&c, "transaction", json!({"trxId": 501, "memberId": 2784, "data": [{"trxAmount": 999_000}]}), None, T0), 5, T0).await;
    assert!(matches!(other, Err(SubmitError::Duplicate { ticket_id }) if ticket_id == t.ticket_id));

    // too small to earn anything: a final refusal
    let small = send_and_run(&db, &c, "transaction", json!({"trxId": 502, "memberId": 2784, "data": [{"trxAmount": 9_999}]}), T0).await;
    assert_eq!(small, Outcome::Refused(FailReason::NoPointsEarned));
    // a member the client never linked
    let unknown = send_and_run(&db, &c, "transaction", json!({"trxId": 503, "memberId": 999, "data": [{"trxAmount": 50_000}]}), T0).await;
    assert_eq!(unknown, Outcome::Refused(FailReason::MemberNotFound));
    let t = tickets::list(&db, &tickets::Filter { state: Some("failed".into()), ..Default::default() }, 10).await.unwrap();
    assert_eq!(t.len(), 2);
    assert!(t.iter().all(|t| t.finished_at_ms.is_some() && t.message.is_some()));
    ledger_consistent(&db).await;
}

#[tokio::test]
async fn fifty_identical_commands_at_once_make_one_ticket_and_one_posting() {
    let (_d, db) = temp_db().await;
    let c = client();
    let m = linked_member(&db, "2784", "0912345678").await;
    let new = new_ticket(&c, "transaction", json!({"trxId": 77, "memberId": 2784, "data": [{"trxAmount": 100_000}]}), Some("idem-77"), T0);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (db, new) = (db.clone(), new.clone());
            tokio::spawn(async move { tickets::submit(&db, &new, 5, T0).await.unwrap() })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    let mut fresh = 0;
    for t in tasks {
        let s = t.await.unwrap();
        fresh += usize::from(!s.replayed);
        ids.insert(s.ticket_id);
    }
    assert_eq!((ids.len(), fresh), (1, 1));
    let jobs = outbox::list(&db, None, 100).await.unwrap();
    assert_eq!(jobs.iter().filter(|j| j.kind == tickets::TASK).count(), 1, "one job");
    let id = ids.into_iter().next().unwrap();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let (db, c, id) = (db.clone(), c.clone(), id.clone());
            tokio::spawn(async move { process::run(&db, Some(&c), &id, T0).await.unwrap() })
        })
        .collect();
    let mut paid_runs = 0;
    for r in runs {
        paid_runs += usize::from(matches!(r.await.unwrap(), Outcome::Paid(_)));
    }
    assert_eq!((paid_runs, balance(&db, &m).await, reward_entries(&db).await), (1, 10, 1), "several workers on one ticket pay once");
    // the Idempotency-Key on another command is refused
    let reused = tickets::submit(&db, &new_ticket(&c, "transaction", json!({"trxId": 78, "memberId": 2784, "data": [{"trxAmount": 1}]}), Some("idem-77"), T0), 5, T0).await;
    assert!(matches!(reused, Err(SubmitError::IdempotencyKeyReused { .. })));
    ledger_consistent(&db).await;
}

#[tokio::test]
async fn register_onboards_the_member_by_phone_and_welcomes_them_once() {
    let (_d, db) = temp_db().await;
    let c = client();
    let first = send_and_run(&db, &c, "register", json!({"trxId": 1, "memberId": "C-10", "memberName": "Nguyễn Thị Ánh", "memberQtagPhone": "0987 654 321"}), T0).await;
    let r = paid(&first);
    assert_eq!(r.points, 50);
    let m = members::find_by_phone(&db, &PhoneNumber::parse("0987654321").unwrap()).await.unwrap().expect("onboarded");
    assert_eq!((m.full_name.as_str(), r.rewards[0].skyjoy_id.as_str()), ("Nguyễn Thị Ánh", m.skyjoy_id.as_str()));
    assert_eq!(members::customer_id_of(&db, "shop", &m.id).await.unwrap().unwrap().as_str(), "C-10");

    let second = send_and_run(&db, &c, "register", json!({"trxId": 2, "memberId": "C-10", "memberQtagPhone": "0987654321"}), T0).await;
    assert_eq!(second, Outcome::Refused(FailReason::AlreadyRewarded), "once per member");
    // the seed's memberQtagPhone is no phone number: a member not linked yet is not found
    let qtag = send_and_run(&db, &c, "register", json!({"trxId": 3, "memberId": 2784, "memberName": "Fares", "memberQtagPhone": "Q12345"}), T0).await;
    assert_eq!(qtag, Outcome::Refused(FailReason::MemberNotFound));
    let nameless = send_and_run(&db, &c, "register", json!({"trxId": 4, "memberId": "C-11", "memberQtagPhone": "0911111111"}), T0).await;
    assert_eq!(nameless, Outcome::Refused(FailReason::InvalidMemberName));
    // the phone's member is linked to another Customer ID of this client
    let taken = send_and_run(&db, &c, "register", json!({"trxId": 5, "memberId": "C-12", "memberName": "X Y", "memberQtagPhone": "0987654321"}), T0).await;
    assert_eq!(taken, Outcome::Refused(FailReason::AccountAlreadyLinked));
    assert_eq!((balance(&db, &m).await, reward_entries(&db).await), (50, 1));
    ledger_consistent(&db).await;
}

#[tokio::test]
async fn a_referral_pair_is_rewarded_once_and_pays_the_referrer_on_purchases() {
    let (_d, db) = temp_db().await;
    let mut c = client();
    c.rules.transactionreferral.products.insert("10".into(), 50);
    let referrer = linked_member(&db, "A-1", "0911000001").await;
    let outsider = linked_member(&db, "A-2", "0911000002").await;

    // B registers through A's link: B is onboarded by the command itself
    let r = send_and_run(&db, &c, "registerreferral", json!({"trxId": 10, "memberId": "B-1", "memberName": "Be Ba", "memberQtagPhone": "0911000003", "userIdShare": "A-1"}), T0).await;
    let r = paid(&r).clone();
    assert_eq!(r.rewards.iter().map(|p| (p.role, p.member_id.as_str(), p.points)).collect::<Vec<_>>(), vec![(tickets::Role::Referrer, "A-1", 100), (tickets::Role::Member, "B-1", 50)]);
    let b = members::find_by_phone(&db, &PhoneNumber::parse("0911000003").unwrap()).await.unwrap().unwrap();

    // the same pair again, another referrer, the member's own code, an unknown referrer
    let again = send_and_run(&db, &c, "registerreferral", json!({"trxId": 11, "memberId": "B-1", "userIdShare": "A-1"}), T0).await;
    assert_eq!(again, Outcome::Refused(FailReason::AlreadyRewarded));
    let second = send_and_run(&db, &c, "registerreferral", json!({"trxId": 12, "memberId": "B-1", "userIdShare": "A-2"}), T0).await;
    assert_eq!(second, Outcome::Refused(FailReason::AlreadyReferred));
    let own = send_and_run(&db, &c, "registerreferral", json!({"trxId": 13, "memberId": "A-2", "userIdShare": "A-2"}), T0).await;
    assert_eq!(own, Outcome::Refused(FailReason::SelfReferral));
    let nobody = send_and_run(&db, &c, "registerreferral", json!({"trxId": 14, "memberId": "A-2", "userIdShare": "Z-9"}), T0).await;
    assert_eq!(nobody, Outcome::Refused(FailReason::ReferrerNotFound));

    // B buys: A earns 10 % (50 % on product 10) of the amount, by the transaction rule
    let buy = json!({"trxId": 20, "memberId": "B-1", "data": [{"trxAmount": 100_000}, {"trxAmount": 200_000, "product_id": 10}]});
    let share = send_and_run(&db, &c, "transactionreferral", buy, T0).await;
    let share = paid(&share);
    assert_eq!((share.points, share.rewards[0].role, share.rewards[0].member_id.as_str()), (11, tickets::Role::Referrer, "A-1"), "(10,000 + 100,000) / 10,000");
    let not_referred = send_and_run(&db, &c, "transactionreferral", json!({"trxId": 21, "memberId": "A-2", "data": [{"trxAmount": 500_000}]}), T0).await;
    assert_eq!(not_referred, Outcome::Refused(FailReason::NotReferred));
    let mismatch = send_and_run(&db, &c, "transactionreferral", json!({"trxId": 22, "memberId": "B-1", "userIdShare": "A-2", "data": [{"trxAmount": 500_000}]}), T0).await;
    assert_eq!(mismatch, Outcome::Refused(FailReason::ReferrerMismatch));

    assert_eq!((balance(&db, &referrer).await, balance(&db, &b).await, balance(&db, &outsider).await), (111, 50, 0));
    ledger_consistent(&db).await;
}

#[tokio::test]
async fn check_ins_once_a_day_make_a_streak_across_midnight_and_break_on_a_missed_day() {
    let (_d, db) = temp_db().await;
    let c = client();
    let m = linked_member(&db, "2784", "0912345678").await;
    let checkin = |n: i64| json!({"memberId": 2784, "trxId": n, "data": [{"trxAmount": 0, "trxDate": ""}]});

    // 23:59:59 on 30 April in Jakarta, then again the same minute: one ticket, one reward
    let first = send(&db, &c, "dailycheckin", checkin(1), LATE).await;
    assert_eq!(paid(&run(&db, &c, &first, LATE).await).streak, Some(1));
    let twice = send(&db, &c, "dailycheckin", checkin(2), LATE + 500).await;
    assert_eq!((twice.ticket_id.as_str(), twice.replayed), (first.ticket_id.as_str(), true));
    // two seconds later it is 1 May there: day 2 of the streak
    let next = send(&db, &c, "dailycheckin", checkin(3), LATE + 2_000).await;
    assert_ne!(next.ticket_id, first.ticket_id);
    let r = paid(&run(&db, &c, &next, LATE + 2_000).await).clone();
    assert_eq!((r.streak, r.points), (Some(2), 5));
    // 2 May: day 3 (10 points); then 3 May is missed and 4 May starts again at day 1
    let d3 = paid(&send_and_run(&db, &c, "dailycheckin", checkin(4), LATE + 2_000 + DAY).await).clone();
    assert_eq!((d3.streak, d3.points), (Some(3), 10));
    let after_gap = paid(&send_and_run(&db, &c, "dailycheckin", checkin(5), LATE + 2_000 + 3 * DAY).await).clone();
    assert_eq!((after_gap.streak, after_gap.points), (Some(1), 5));
    assert_eq!((balance(&db, &m).await, reward_entries(&db).await), (5 + 5 + 10 + 5, 4));
    // in UTC, 23:59:59 Jakarta and two seconds later are the same day
    let utc = RewardClient { client_id: "shop".into(), time_zone: TimeZone::parse("UTC").unwrap(), rules: Rules::default() };
    assert_eq!(new_ticket(&utc, "dailycheckin", checkin(6), None, LATE).business_key, new_ticket(&utc, "dailycheckin", checkin(7), None, LATE + 2_000).business_key);
    ledger_consistent(&db).await;
}

#[tokio::test]
async fn a_lucky_draw_is_stored_before_it_is_paid_and_a_replay_pays_the_same_prize() {
    let (_d, db) = temp_db().await;
    super::testing::install_posting_failure(&db).await.unwrap();
    let mut c = client();
    // every line pays something, so a failed payment is visible; three lines, one drawn
    c.rules.luckydraw.prizes = vec![Prize { points: 10, weight: 1 }, Prize { points: 20, weight: 1 }, Prize { points: 30, weight: 1 }];
    c.rules.luckydraw.daily_limit = 2;
    let m = linked_member(&db, "2784", "0912345678").await;
    let t = send(&db, &c, "luckydraw", json!({"trxId": 1, "memberId": 2784}), T0).await;

    super::testing::fail_postings(&db, true).await.unwrap();
    assert!(process::run(&db, Some(&c), &t.ticket_id, T0).await.is_err(), "the payment failed");
    let (line, points): (i64, i64) = sqlx::query_as("SELECT prize, points FROM reward_draws WHERE ticket_id = $1").bind(&t.ticket_id).fetch_one(db.pool()).await.unwrap();
    assert_eq!(balance(&db, &m).await, 0, "nothing paid");
    // retried several times while failing: the prize drawn first stays
    for _ in 0..3 {
        assert!(process::run(&db, Some(&c), &t.ticket_id, T0).await.is_err());
    }
    super::testing::fail_postings(&db, false).await.unwrap();
    let r = paid(&run(&db, &c, &t, T0).await).clone();
    assert_eq!(r.prize, Some(tickets::PrizeWon { line, points }));
    assert_eq!((r.points, balance(&db, &m).await), (points, points));
    let stored = tickets::find(&db, &t.ticket_id).await.unwrap().unwrap();
    assert_eq!((stored.attempts, stored.result.unwrap().prize), (5, Some(tickets::PrizeWon { line, points })));

    // the limit: two draws a day, the third refused, the next day fine
    paid(&send_and_run(&db, &c, "luckydraw", json!({"trxId": 2, "memberId": 2784}), T0).await);
    assert_eq!(send_and_run(&db, &c, "luckydraw", json!({"trxId": 3, "memberId": 2784}), T0).await, Outcome::Refused(FailReason::DailyLimitReached));
    paid(&send_and_run(&db, &c, "luckydraw", json!({"trxId": 4, "memberId": 2784}), T0 + DAY).await);
    assert_eq!(reward_entries(&db).await, 3);
    ledger_consistent(&db).await;
}

#[tokio::test]
async fn a_draw_can_win_nothing_and_that_is_a_success_without_a_posting() {
    let (_d, db) = temp_db().await;
    let mut c = client();
    c.rules.luckydraw.prizes = vec![Prize { points: 0, weight: 1 }, Prize { points: 500, weight: 0 }];
    let m = linked_member(&db, "2784", "0912345678").await;
    let r = paid(&send_and_run(&db, &c, "luckydraw", json!({"trxId": 1, "memberId": 2784}), T0).await).clone();
    assert_eq!((r.points, r.rewards.len(), r.prize), (0, 0, Some(tickets::PrizeWon { line: 0, points: 0 })));
    assert_eq!(balance(&db, &m).await, 0);
}

#[tokio::test]
async fn a_failing_task_is_retried_then_dead_and_a_replay_pays_it_once() {
    let (_d, db) = temp_db().await;
    super::testing::install_posting_failure(&db).await.unwrap();
    let c = client();
    let m = linked_member(&db, "2784", "0912345678").await;
    let t = send(&db, &c, "transaction", json!({"trxId": 9, "memberId": 2784, "data": [{"trxAmount": 300_000}]}), T0).await;

    super::testing::fail_postings(&db, true).await.unwrap();
    let err = process::run(&db, Some(&c), &t.ticket_id, T0).await.unwrap_err();
    assert!(!err.is_permanent(), "a database failure is worth retrying");
    tickets::retry_later(&db, &t.ticket_id, &err.to_string(), T0).await.unwrap();
    let waiting = tickets::find(&db, &t.ticket_id).await.unwrap().unwrap();
    assert_eq!((waiting.state, waiting.attempts), (TicketState::Queued, 1));
    assert!(waiting.last_error.unwrap().contains("forced failure"));
    tickets::give_up(&db, &t.ticket_id, "still failing", T0).await.unwrap();
    assert_eq!(tickets::find(&db, &t.ticket_id).await.unwrap().unwrap().state, TicketState::Dead);
    assert_eq!(reward_entries(&db).await, 0);

    // a paid ticket cannot be replayed; the dead one can, with its job
    sqlx::query("UPDATE outbox_jobs SET state = 'dead' WHERE dedupe_key = $1").bind(tickets::job_key(&t.ticket_id)).execute(db.pool()).await.unwrap();
    super::testing::fail_postings(&db, false).await.unwrap();
    tickets::replay(&db, &t.ticket_id, 3, T0).await.unwrap();
    assert_eq!(tickets::find(&db, &t.ticket_id).await.unwrap().unwrap().state, TicketState::Queued);
    let jobs = outbox::list(&db, Some(JobState::Pending), 10).await.unwrap();
    assert_eq!(jobs.iter().filter(|j| j.kind == tickets::TASK).count(), 1);
    assert_eq!(paid(&run(&db, &c, &t, T0).await).points, 30);
    assert!(matches!(tickets::replay(&db, &t.ticket_id, 3, T0).await, Err(tickets::ReplayError::NotReplayable { state: "success", .. })));
    assert!(matches!(tickets::replay(&db, "nope", 3, T0).await, Err(tickets::ReplayError::NotFound(_))));
    // a worker that died after paying (the ticket settled, its job still running): nothing more
    assert!(matches!(run(&db, &c, &t, T0).await, Outcome::Settled(TicketState::Success)));
    assert_eq!((balance(&db, &m).await, reward_entries(&db).await), (30, 1));
    ledger_consistent(&db).await;
}

#[tokio::test]
async fn a_worker_that_died_mid_task_leaves_nothing_and_the_next_run_pays() {
    let (_d, db) = temp_db().await;
    let c = client();
    let m = linked_member(&db, "2784", "0912345678").await;
    let t = send(&db, &c, "register", json!({"trxId": 1, "memberId": 2784}), T0).await;
    // the dead worker had claimed the ticket and written part of the payment, uncommitted
    tickets::move_ticket(&db, &t.ticket_id, tickets::Move::Claim, None, T0).await.unwrap();
    {
        let mut tx = db.begin().await.unwrap();
        sqlx::query("INSERT INTO reward_grants (client_id, grant_key, ticket_id, created_at) VALUES ('shop', 'register:2784', $1, 0)")
            .bind(&t.ticket_id)
            .execute(&mut *tx)
            .await
            .unwrap();
        drop(tx); // the process died: rolled back
    }
    assert_eq!(tickets::find(&db, &t.ticket_id).await.unwrap().unwrap().state, TicketState::Processing);
    assert_eq!(paid(&run(&db, &c, &t, T0).await).points, 50);
    let settled = tickets::find(&db, &t.ticket_id).await.unwrap().unwrap();
    assert_eq!((settled.state, settled.attempts), (TicketState::Success, 2));
    assert_eq!(balance(&db, &m).await, 50);
}

#[tokio::test]
async fn a_switched_off_action_or_a_client_gone_from_the_configuration_refuses() {
    let (_d, db) = temp_db().await;
    let mut c = client();
    linked_member(&db, "2784", "0912345678").await;
    c.rules.luckydraw.enabled = false;
    assert_eq!(send_and_run(&db, &c, "luckydraw", json!({"trxId": 1, "memberId": 2784}), T0).await, Outcome::Refused(FailReason::ActionDisabled));
    let t = send(&db, &c, "register", json!({"trxId": 2, "memberId": 2784}), T0).await;
    assert_eq!(process::run(&db, None, &t.ticket_id, T0).await.unwrap(), Outcome::Refused(FailReason::ClientNotConfigured));
    // a failed ticket can be replayed by an operator (after fixing the configuration)
    sqlx::query("UPDATE outbox_jobs SET state = 'done' WHERE dedupe_key = $1").bind(tickets::job_key(&t.ticket_id)).execute(db.pool()).await.unwrap();
    tickets::replay(&db, &t.ticket_id, 1, T0).await.unwrap();
    assert_eq!(paid(&run(&db, &c, &t, T0).await).points, 50);
}

#[tokio::test]
async fn tickets_are_counted_and_listed_by_state_and_action() {
    let (_d, db) = temp_db().await;
    let c = client();
    linked_member(&db, "2784", "0912345678").await;
    send_and_run(&db, &c, "register", json!({"trxId": 1, "memberId": 2784}), T0).await;
    send_and_run(&db, &c, "register", json!({"trxId": 2, "memberId": 2784}), T0 + 1).await;
    send(&db, &c, "luckydraw", json!({"trxId": 3, "memberId": 2784}), T0 + 2).await;
    let counts = tickets::counts(&db).await.unwrap();
    assert_eq!(
        counts,
        vec![("failed".into(), "register".into(), 1), ("queued".into(), "luckydraw".into(), 1), ("success".into(), "register".into(), 1)]
    );
    let registers = tickets::list(&db, &tickets::Filter { action: Some(Action::Register), ..Default::default() }, 10).await.unwrap();
    assert_eq!(registers.iter().map(|t| t.state.as_str()).collect::<Vec<_>>(), vec!["failed", "success"], "newest first");
    let mine = tickets::list(&db, &tickets::Filter { member_ref: Some("2784".into()), client_id: Some("shop".into()), ..Default::default() }, 10).await.unwrap();
    assert_eq!(mine.len(), 3);
    assert!(tickets::find_for_client(&db, "other", &mine[0].ticket_id).await.unwrap().is_none());
}

#[tokio::test]
async fn a_purchase_waits_for_the_registration_and_the_referral_still_in_flight() {
    let (_d, db) = temp_db().await;
    let c = client();
    linked_member(&db, "A-1", "0911000001").await;
    // sent moments apart; the purchase and its referral share are run first
    let register = send(&db, &c, "register", json!({"trxId": 1, "memberId": "B-1", "memberName": "Be Ba", "memberQtagPhone": "0911000003"}), T0).await;
    let referral = send(&db, &c, "registerreferral", json!({"trxId": 2, "memberId": "B-1", "memberQtagPhone": "0911000003", "userIdShare": "A-1"}), T0).await;
    let buy = json!({"trxId": 3, "memberId": "B-1", "data": [{"trxAmount": 100_000}]});
    let purchase = send(&db, &c, "transaction", buy.clone(), T0).await;
    let share = send(&db, &c, "transactionreferral", buy, T0).await;
    for t in [&purchase, &share] {
        let err = process::run(&db, Some(&c), &t.ticket_id, T0).await.unwrap_err();
        assert!(matches!(err, RewardError::Waiting(_)) && !err.is_permanent(), "{err}");
        tickets::retry_later(&db, &t.ticket_id, &err.to_string(), T0).await.unwrap();
    }
    assert_eq!(paid(&run(&db, &c, &register, T0).await).points, 50);
    assert!(matches!(process::run(&db, Some(&c), &share.ticket_id, T0).await, Err(RewardError::Waiting(_))), "the referral is still queued");
    assert_eq!(paid(&run(&db, &c, &purchase, T0).await).points, 10);
    assert_eq!(paid(&run(&db, &c, &referral, T0).await).points, 150);
    assert_eq!(paid(&run(&db, &c, &share, T0).await).points, 1);
    // with nothing in flight, the same situations are final refusals
    let stranger = send_and_run(&db, &c, "transaction", json!({"trxId": 4, "memberId": "C-1", "data": [{"trxAmount": 100_000}]}), T0).await;
    assert_eq!(stranger, Outcome::Refused(FailReason::MemberNotFound));
    ledger_consistent(&db).await;
}

/// Migration 0012 on a ledger that has entries and lots already (on SQLite it rebuilds
/// `ledger_entries` and `ledger_lots`): every row kept, the ledger consistent, rewards postable.
#[tokio::test]
async fn the_reward_migration_keeps_an_existing_ledger_whole() {
    use std::borrow::Cow;

    use sqlx::migrate::Migrator;

    let dir = tempfile::tempdir().unwrap();
    let (url, _guard) = crate::store::testing::fresh_url(dir.path()).await;
    let db = Db::connect(&url).await.unwrap();
    let all = match db.backend() {
        crate::store::Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
        crate::store::Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
    };
    let before = Migrator { migrations: Cow::Owned(all.migrations.iter().filter(|m| m.version < 12).cloned().collect()), ..Migrator::DEFAULT };
    before.run(db.pool()).await.unwrap();
    let new = members::NewMember { phone: PhoneNumber::parse("0912345678").unwrap(), full_name: FullName::parse("Before Rewards").unwrap(), date_of_birth: None, email: None };
    let m = members::create(&db, new, None, T0).await.unwrap();
    let posting = |txn: &str, kind, points| ledger::Posting {
        client_id: "shop".into(),
        transaction_id: txn.into(),
        member_id: m.id.clone(),
        kind,
        points,
        amount: None,
        currency: None,
    };
    ledger::post(&db, &posting("A1", ledger::Kind::Accrual, 500), T0).await.unwrap();
    ledger::post(&db, &posting("R1", ledger::Kind::Redemption, -200), T0 + 1).await.unwrap();
    ledger::post(&db, &posting("A2", ledger::Kind::Accrual, 70), T0 + 2).await.unwrap();

    all.run(db.pool()).await.unwrap();
    let (entries, lots, remaining): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT CAST(COUNT(*) AS BIGINT) FROM ledger_entries), (SELECT CAST(COUNT(*) AS BIGINT) FROM ledger_lots),
                (SELECT CAST(SUM(remaining) AS BIGINT) FROM ledger_lots)",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!((entries, lots, remaining), (3, 2, 370));
    ledger_consistent(&db).await;
    let reward = ledger::post(&db, &posting("reward:t:member", ledger::Kind::Reward, 30), T0 + 3).await.unwrap();
    assert_eq!((reward.entry.kind, reward.entry.balance_after), (ledger::Kind::Reward, 400));
    assert!(ledger::post(&db, &posting("reward:t2:member", ledger::Kind::Reward, -1), T0 + 4).await.is_err(), "a reward is a credit");
    // the foreign key from the lots to the entries holds again
    let orphan = sqlx::query("INSERT INTO ledger_lots (bit_reference, member_id, earned_at, points, remaining) VALUES ('nope', $1, 0, 1, 1)").bind(&m.id).execute(db.pool()).await;
    assert!(orphan.is_err());
    ledger_consistent(&db).await;
}
