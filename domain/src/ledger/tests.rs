//! The ledger's invariants: idempotency, no overdraft (also under concurrency), and
//! balance == sum(entries) after any sequence of postings.

use proptest::prelude::*;

use super::*;
use crate::{
    identity::{members, FullName, PhoneNumber},
    store::testing::temp_db,
};

const T0: i64 = 1_763_800_000_000;

async fn member(db: &Db, phone: &str) -> String {
    let new = members::NewMember { phone: PhoneNumber::parse(phone).unwrap(), full_name: FullName::parse("Ledger Test").unwrap(), date_of_birth: None, email: None };
    members::create(db, new, None, T0).await.unwrap().id
}

fn posting(member: &str, txn: &str, kind: Kind, points: i64) -> Posting {
    Posting {
        client_id: "shop".into(),
        transaction_id: txn.into(),
        member_id: member.into(),
        kind,
        points,
        amount: Some(100_000),
        currency: Some("VND".into()),
    }
}

#[tokio::test]
async fn postings_are_idempotent_and_never_overdraw() {
    let (_d, db) = temp_db().await;
    let m = member(&db, "0912345678").await;
    let first = post(&db, &posting(&m, "T1", Kind::Accrual, 500), T0).await.unwrap();
    assert_eq!((first.entry.points, first.entry.balance_after, first.replayed), (500, 500, false));
    assert_eq!(first.entry.bit_reference.len(), 26);
    let again = post(&db, &posting(&m, "T1", Kind::Accrual, 500), T0 + 1).await.unwrap();
    assert_eq!((again.entry.bit_reference.as_str(), again.replayed), (first.entry.bit_reference.as_str(), true), "a retry returns the original");
    assert!(matches!(post(&db, &posting(&m, "T1", Kind::Accrual, 501), T0 + 2).await, Err(LedgerError::Refused(PointRefusal::DuplicateTransaction))));
    assert!(matches!(post(&db, &posting(&m, "T2", Kind::Redemption, -501), T0 + 3).await, Err(LedgerError::Refused(PointRefusal::InsufficientBalance))));
    assert!(find(&db, "shop", "T2").await.unwrap().is_none(), "a refused debit leaves no entry");
    let spent = post(&db, &posting(&m, "T3", Kind::Redemption, -200), T0 + 4).await.unwrap();
    assert_eq!(spent.entry.balance_after, 300);
    assert!(matches!(post(&db, &posting(&m, "T4", Kind::Accrual, -1), T0).await, Err(LedgerError::Refused(PointRefusal::InvalidPoint))));
    assert!(matches!(post(&db, &posting(&m, "T5", Kind::Redemption, 0), T0).await, Err(LedgerError::Refused(PointRefusal::InvalidPoint))));
    assert_eq!(balance(&db, &m).await.unwrap(), (300, 0));
    assert!(inconsistent_accounts(&db).await.unwrap().is_empty());
}

#[tokio::test]
async fn concurrent_redemptions_and_retried_accruals_never_overdraw_or_double_credit() {
    let (_d, db) = temp_db().await;
    let m = member(&db, "0987654321").await;
    post(&db, &posting(&m, "SEED", Kind::Accrual, 1_000), T0).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (db, m) = (db.clone(), m.clone());
        tasks.push(tokio::spawn(async move {
            // 40 redemptions of 100 against 1,000 (+ 10 × 50 retried accruals): at most 15 can pass
            let r = post(&db, &posting(&m, &format!("R{i}"), Kind::Redemption, -100), T0 + 1).await;
            let a = post(&db, &posting(&m, &format!("A{}", i % 10), Kind::Accrual, 50), T0 + 1).await;
            (r.is_ok(), a.map(|p| p.replayed))
        }));
    }
    let mut redeemed = 0;
    let mut credited = 0;
    for t in tasks {
        let (r, a) = t.await.unwrap();
        redeemed += i64::from(r);
        credited += i64::from(!a.expect("accruals succeed"));
    }
    assert_eq!(credited, 10, "each accrual once, however often retried");
    let (bal, _) = balance(&db, &m).await.unwrap();
    assert_eq!(bal, 1_000 + 500 - 100 * redeemed);
    assert!(bal >= 0 && redeemed <= 15);
    assert!(inconsistent_accounts(&db).await.unwrap().is_empty());
    assert_balances_chain(&db, &m, bal).await;
}

#[tokio::test]
async fn concurrent_first_accruals_of_a_new_member_all_credit() {
    let (_d, db) = temp_db().await;
    let m = member(&db, "0911222333").await;
    let tasks: Vec<_> = (1..=8)
        .map(|i| {
            let (db, m) = (db.clone(), m.clone());
            // no account yet: each posting may find none and open it (PostgreSQL: at the same time)
            tokio::spawn(async move { post(&db, &posting(&m, &format!("F{i}"), Kind::Accrual, i * 10), T0).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().expect("a first accrual is never refused");
    }
    assert_eq!(balance(&db, &m).await.unwrap(), (360, 0));
    assert!(inconsistent_accounts(&db).await.unwrap().is_empty());
    assert_balances_chain(&db, &m, 360).await;
    // the control: one stale balance_after is seen
    sqlx::query("UPDATE ledger_entries SET balance_after = balance_after + 1 WHERE transaction_id = 'F3'").execute(db.pool()).await.unwrap();
    assert!(!chain_gaps(&db, &m, 360).await.is_empty(), "a stale balance_after breaks the chain");
}

/// Each entry's `balance_after` is the balance its posting left: the entries, read as steps
/// from `balance_after - points` to `balance_after`, chain from 0 to `last` — every balance in
/// between is reached as often as it is left (a stale `balance_after` breaks the count).
async fn assert_balances_chain(db: &Db, member_id: &str, last: i64) {
    let gaps = chain_gaps(db, member_id, last).await;
    assert!(gaps.is_empty(), "balances reached and left unequally: {gaps:?}");
}

/// The balances the entries reach a different number of times than they leave, beyond the
/// chain's start (0) and end (`last`).
async fn chain_gaps(db: &Db, member_id: &str, last: i64) -> std::collections::HashMap<i64, i64> {
    let steps: Vec<(i64, i64)> = sqlx::query_as("SELECT points, balance_after FROM ledger_entries WHERE member_id = $1")
        .bind(member_id)
        .fetch_all(db.pool())
        .await
        .unwrap();
    let mut net = std::collections::HashMap::<i64, i64>::new();
    *net.entry(0).or_default() -= 1;
    *net.entry(last).or_default() += 1;
    for (points, after) in &steps {
        *net.entry(after - points).or_default() += 1;
        *net.entry(*after).or_default() -= 1;
    }
    net.retain(|_, n| *n != 0);
    net
}

#[tokio::test]
async fn holds_lock_release_capture_and_expire() {
    let (_d, db) = temp_db().await;
    let m = member(&db, "0933333333").await;
    post(&db, &posting(&m, "SEED", Kind::Accrual, 500), T0).await.unwrap();
    let lock = |txn: &str, points: i64, ttl_ms: i64| holds::NewHold { client_id: "shop".into(), transaction_id: txn.into(), member_id: m.clone(), points, ttl_ms };

    let h = holds::lock(&db, &lock("H1", 300, 60_000), T0).await.unwrap();
    assert_eq!((h.balance, h.locked, h.hold.state.as_str(), h.replayed), (500, 300, "HELD", false));
    assert!(holds::lock(&db, &lock("H1", 300, 60_000), T0 + 1).await.unwrap().replayed, "a retried lock is the same hold");
    assert!(matches!(holds::lock(&db, &lock("H1", 301, 60_000), T0).await, Err(LedgerError::Refused(PointRefusal::DuplicateTransaction))));
    assert!(matches!(holds::lock(&db, &lock("H2", 201, 60_000), T0).await, Err(LedgerError::Refused(PointRefusal::InsufficientBalance))), "only 200 are available");
    assert!(matches!(post(&db, &posting(&m, "R1", Kind::Redemption, -201), T0).await, Err(LedgerError::Refused(PointRefusal::InsufficientBalance))), "locked points cannot be spent");

    let r = holds::release(&db, "shop", &m, "H1", T0 + 2).await.unwrap();
    assert_eq!((r.balance, r.locked, r.hold.state.as_str()), (500, 0, "RELEASED"));
    assert!(holds::release(&db, "shop", &m, "H1", T0 + 3).await.unwrap().replayed);
    assert!(matches!(holds::capture(&db, "shop", &m, "H1", None, None, T0 + 3).await, Err(LedgerError::Refused(PointRefusal::LockNotActive(s))) if s.as_str() == "RELEASED"));

    holds::lock(&db, &lock("H3", 300, 60_000), T0 + 4).await.unwrap();
    let (entry, replayed) = holds::capture(&db, "shop", &m, "H3", Some(100), Some(20_000), T0 + 5).await.unwrap();
    assert_eq!((entry.points, entry.balance_after, entry.kind.as_str(), replayed), (-100, 400, "REDEMPTION", false));
    assert_eq!(balance(&db, &m).await.unwrap(), (400, 0), "the uncaptured 200 are released");
    let (again, replayed) = holds::capture(&db, "shop", &m, "H3", None, None, T0 + 6).await.unwrap();
    assert_eq!((again.bit_reference, replayed), (entry.bit_reference, true));
    assert!(matches!(holds::release(&db, "shop", &m, "H3", T0 + 6).await, Err(LedgerError::Refused(PointRefusal::LockNotActive(s))) if s.as_str() == "CAPTURED"));
    assert!(matches!(holds::release(&db, "other", &m, "H3", T0 + 6).await, Err(LedgerError::Refused(PointRefusal::LockNotFound))), "a partner sees only its holds");

    holds::lock(&db, &lock("H4", 50, 1_000), T0 + 10).await.unwrap();
    assert!(matches!(holds::capture(&db, "shop", &m, "H4", None, None, T0 + 2_000).await, Err(LedgerError::Refused(PointRefusal::LockNotActive(s))) if s.as_str() == "EXPIRED"));
    assert_eq!(holds::expire_due(&db, T0 + 2_000).await.unwrap(), 1);
    assert_eq!(holds::expire_due(&db, T0 + 3_000).await.unwrap(), 0);
    assert_eq!(balance(&db, &m).await.unwrap(), (400, 0));
    assert!(inconsistent_accounts(&db).await.unwrap().is_empty() && holds::inconsistent_locks(&db).await.unwrap().is_empty());
}

#[tokio::test]
async fn points_expire_fifo_after_n_months_once() {
    let (_d, db) = temp_db().await;
    let m = member(&db, "0944444444").await;
    let day = 86_400_000;
    post(&db, &posting(&m, "OLD", Kind::Accrual, 100), T0).await.unwrap();
    post(&db, &posting(&m, "NEW", Kind::Accrual, 50), T0 + 40 * day).await.unwrap();
    post(&db, &posting(&m, "SPENT", Kind::Redemption, -30), T0 + 42 * day).await.unwrap();
    assert!(expiry::run(&db, 0, T0 + 45 * day).await.unwrap().is_empty(), "0 months: expiry is off");
    // one month before T0+45d is ~T0+15d: the 100 are old, 30 of them were spent first
    let expired = expiry::run(&db, 1, T0 + 45 * day).await.unwrap();
    assert_eq!(expired.iter().map(|e| (e.points, e.balance_after)).collect::<Vec<_>>(), vec![(-70, 50)]);
    assert!(expiry::run(&db, 1, T0 + 45 * day + 1).await.unwrap().is_empty(), "a second run the same day changes nothing");
    assert!(expiry::run(&db, 1, T0 + 60 * day).await.unwrap().is_empty(), "the 50 are not a month old yet");
    assert_eq!(expiry::run(&db, 1, T0 + 75 * day).await.unwrap()[0].points, -50);
    assert_eq!(balance(&db, &m).await.unwrap(), (0, 0));
    assert!(inconsistent_accounts(&db).await.unwrap().is_empty());
}

#[tokio::test]
async fn only_committed_changes_notify_the_member_and_the_partners() {
    let (_d, db) = temp_db().await;
    let m = member(&db, "0955555555").await;
    let (shop_endpoint, _) = crate::events::webhooks::register(&db, "shop", "http://127.0.0.1:9/hook", &[], false, T0).await.unwrap();
    crate::events::webhooks::register(&db, "stranger", "http://127.0.0.1:9/other", &[], false, T0).await.unwrap();
    let deliveries = |db: Db| async move {
        let jobs = crate::outbox::list(&db, None, 100).await.unwrap();
        (jobs.iter().filter(|j| j.kind == crate::events::webhooks::DELIVER).count(), jobs.iter().filter(|j| j.kind == crate::events::push::SEND).count())
    };
    post(&db, &posting(&m, "A1", Kind::Accrual, 100), T0 + 1).await.unwrap();
    assert_eq!(deliveries(db.clone()).await, (1, 1), "one webhook to the acting partner (not to an unlinked one), one push");
    post(&db, &posting(&m, "A1", Kind::Accrual, 100), T0).await.unwrap();
    assert!(post(&db, &posting(&m, "R1", Kind::Redemption, -101), T0).await.is_err());
    assert_eq!(deliveries(db.clone()).await, (1, 1), "a retry and a refused debit tell nobody");
    holds::lock(&db, &holds::NewHold { client_id: "shop".into(), transaction_id: "H".into(), member_id: m.clone(), points: 10, ttl_ms: 60_000 }, T0 + 2).await.unwrap();
    assert_eq!(deliveries(db.clone()).await, (2, 1), "a lock changes the available balance (webhook) but is no transaction (no push)");
    let notes = crate::events::push::of_member(&db, &m, 10).await.unwrap();
    assert_eq!((notes.len(), notes[0].kind.as_str()), (1, "points.accrued"));
    assert!(notes[0].body.contains("100 SkyPoint"), "{}", notes[0].body);
    let events = crate::events::webhooks::events_of_member(&db, &m, 10).await.unwrap();
    assert_eq!(events.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(), ["user.updated-balance", "user.updated-balance", "user.created"]);
    let log = crate::events::webhooks::delivery_log(&db, &events[1].0).await.unwrap();
    assert_eq!((log.len(), log[0].endpoint_id.as_str(), log[0].state.as_str()), (1, shop_endpoint.id.as_str(), "pending"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn any_sequence_keeps_balance_equal_to_the_entries_and_never_negative(
        ops in proptest::collection::vec((0u8..7, 1i64..400, 0usize..6), 1..40)
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (_d, db) = temp_db().await;
            let m = member(&db, "0911111111").await;
            let mut expected = 0i64;
            for (i, (op, points, txn)) in ops.iter().enumerate() {
                let now = T0 + 1_000 * i as i64;
                let (_, locked_before) = balance(&db, &m).await.unwrap();
                // a small pool of transaction ids makes retries, duplicates and hold races happen
                let txn_id = format!("{op}-{points}-{txn}");
                let hold_id = format!("H{txn}");
                match op {
                    0..=2 => {
                        let (kind, signed) = match op { 0 => (Kind::Accrual, *points), 1 => (Kind::Redemption, -*points), _ => (Kind::Adjustment, -*points) };
                        match post(&db, &posting(&m, &txn_id, kind, signed), now).await {
                            Ok(p) if !p.replayed => expected += signed,
                            Ok(_) => {}
                            Err(LedgerError::Refused(PointRefusal::InsufficientBalance)) => prop_assert!(expected - locked_before + signed < 0),
                            Err(e) => panic!("{e}"),
                        }
                    }
                    3 => {
                        // holds last 2.5 steps, so some expire before they are captured
                        let h = holds::NewHold { client_id: "shop".into(), transaction_id: hold_id, member_id: m.clone(), points: *points, ttl_ms: 2_500 };
                        match holds::lock(&db, &h, now).await {
                            Ok(_) | Err(LedgerError::Refused(PointRefusal::DuplicateTransaction)) => {}
                            Err(LedgerError::Refused(PointRefusal::InsufficientBalance)) => prop_assert!(expected - locked_before < *points),
                            Err(e) => panic!("{e}"),
                        }
                    }
                    4 => match holds::release(&db, "shop", &m, &hold_id, now).await {
                        Ok(_) | Err(LedgerError::Refused(PointRefusal::LockNotFound) | LedgerError::Refused(PointRefusal::LockNotActive(_))) => {}
                        Err(e) => panic!("{e}"),
                    },
                    5 => match holds::capture(&db, "shop", &m, &hold_id, Some(*points), None, now).await {
                        Ok((e, false)) => expected += e.points,
                        Ok((_, true)) | Err(LedgerError::Refused(PointRefusal::LockNotFound) | LedgerError::Refused(PointRefusal::LockNotActive(_)) | LedgerError::Refused(PointRefusal::InvalidPoint | PointRefusal::InvalidUsedPoint) | LedgerError::Refused(PointRefusal::DuplicateTransaction)) => {}
                        Err(e) => panic!("{e}"),
                    },
                    _ => { holds::expire_due(&db, now).await.unwrap(); }
                }
                let (bal, locked) = balance(&db, &m).await.unwrap();
                prop_assert_eq!(bal, expected);
                prop_assert!(bal >= 0 && (0..=bal).contains(&locked));
                prop_assert!(holds::inconsistent_locks(&db).await.unwrap().is_empty());
            }
            prop_assert!(inconsistent_accounts(&db).await.unwrap().is_empty());
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn old_events_are_purged_once_their_deliveries_are_over() {
    let (_d, db) = temp_db().await;
    let m = member(&db, "0966666666").await;
    crate::events::webhooks::register(&db, "shop", "http://127.0.0.1:9/hook", &[], false, T0).await.unwrap();
    post(&db, &posting(&m, "A1", Kind::Accrual, 10), T0).await.unwrap();
    let later = T0 + crate::events::webhooks::KEEP_EVENTS_MS + 1;
    assert_eq!(crate::events::webhooks::purge_old(&db, later).await.unwrap(), 1, "user.created (no delivery) goes");
    sqlx::query("UPDATE outbox_jobs SET state = 'done' WHERE kind = 'webhook.deliver'").execute(db.pool()).await.unwrap();
    assert_eq!(crate::events::webhooks::purge_old(&db, later).await.unwrap(), 1, "the delivered one goes once its delivery is over");
}

#[tokio::test]
async fn debits_spend_the_oldest_lots_first_and_expiry_takes_only_what_is_left_of_old_lots() {
    let (_d, db) = temp_db().await;
    let m = member(&db, "0912777000").await;
    const MONTH: i64 = 31 * 86_400_000;
    post(&db, &posting(&m, "OLD", Kind::Accrual, 100), T0).await.unwrap();
    post(&db, &posting(&m, "NEW", Kind::Accrual, 50), T0 + 2 * MONTH).await.unwrap();
    post(&db, &posting(&m, "SPEND", Kind::Redemption, -120), T0 + 2 * MONTH + 1).await.unwrap();
    let remaining: Vec<(String, i64)> = sqlx::query_as(
        "SELECT e.transaction_id, l.remaining FROM ledger_lots l JOIN ledger_entries e ON e.bit_reference = l.bit_reference ORDER BY l.earned_at",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(remaining, vec![("OLD".to_string(), 0), ("NEW".to_string(), 30)], "FIFO: the old lot is spent first");
    // 12 months after the old lot: nothing of it is left, so nothing expires
    assert!(expiry::run(&db, 12, T0 + 12 * MONTH + 1).await.unwrap().is_empty());
    // once the new lot is old enough, exactly its 30 points expire, once
    let written = expiry::run(&db, 12, T0 + 15 * MONTH).await.unwrap();
    assert_eq!(written.iter().map(|e| e.points).collect::<Vec<_>>(), vec![-30]);
    assert!(expiry::run(&db, 12, T0 + 15 * MONTH + 1).await.unwrap().is_empty());
    assert_eq!(balance(&db, &m).await.unwrap(), (0, 0));
    assert!(inconsistent_accounts(&db).await.unwrap().is_empty());

    // the control: a lot that no longer matches the balance is caught by the check
    post(&db, &posting(&m, "MORE", Kind::Accrual, 10), T0 + 16 * MONTH).await.unwrap();
    sqlx::query("UPDATE ledger_lots SET remaining = remaining - 1 WHERE remaining > 0").execute(db.pool()).await.unwrap();
    assert_eq!(inconsistent_accounts(&db).await.unwrap(), vec![(m.clone(), 10, 9)]);
}
