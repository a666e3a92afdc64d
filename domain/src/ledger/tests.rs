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
    members::create(db, new, T0).await.unwrap().id
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
    assert!(matches!(post(&db, &posting(&m, "T1", Kind::Accrual, 501), T0 + 2).await, Err(LedgerError::DuplicateTransaction)));
    assert!(matches!(post(&db, &posting(&m, "T2", Kind::Redemption, -501), T0 + 3).await, Err(LedgerError::InsufficientBalance)));
    assert!(find(&db, "shop", "T2").await.unwrap().is_none(), "a refused debit leaves no entry");
    let spent = post(&db, &posting(&m, "T3", Kind::Redemption, -200), T0 + 4).await.unwrap();
    assert_eq!(spent.entry.balance_after, 300);
    assert!(matches!(post(&db, &posting(&m, "T4", Kind::Accrual, -1), T0).await, Err(LedgerError::Invalid(_))));
    assert!(matches!(post(&db, &posting(&m, "T5", Kind::Redemption, 0), T0).await, Err(LedgerError::Invalid(_))));
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
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn any_sequence_keeps_balance_equal_to_the_entries_and_never_negative(
        ops in proptest::collection::vec((0u8..3, 1i64..400, 0usize..6), 1..40)
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (_d, db) = temp_db().await;
            let m = member(&db, "0911111111").await;
            let mut expected = 0i64;
            for (i, (op, points, txn)) in ops.iter().enumerate() {
                // a small pool of transaction ids makes retries and duplicates happen
                let (kind, signed) = match op { 0 => (Kind::Accrual, *points), 1 => (Kind::Redemption, -*points), _ => (Kind::Adjustment, -*points) };
                match post(&db, &posting(&m, &format!("{op}-{points}-{txn}"), kind, signed), T0 + i as i64).await {
                    Ok(p) if !p.replayed => expected += signed,
                    Ok(_) => {}
                    Err(LedgerError::InsufficientBalance) => prop_assert!(expected + signed < 0),
                    Err(e) => panic!("{e}"),
                }
                let (bal, _) = balance(&db, &m).await.unwrap();
                prop_assert_eq!(bal, expected);
                prop_assert!(bal >= 0);
            }
            prop_assert!(inconsistent_accounts(&db).await.unwrap().is_empty());
            Ok(())
        })?;
    }
}
