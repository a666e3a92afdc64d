//! The VIP payment rules: ids, single-use links, one open payment, reports applied once with
//! Tiki's codes, VIP granted once and taken back on a full refund, refunds never above the paid.

use super::{
    customers::{self, CustomerRequest},
    partners::{self, OpenMode, Partner},
    payments::{self, Report, Status},
    refunds, Plan, TikiError, TikiTransactionId,
};
use crate::store::{testing::temp_db, Db};

const T0: i64 = 1_763_800_000_000;
const MONTH: i64 = 28 * 86_400_000;

/// The partners `walletx` and `othery` (client ids `{code}-client`), registered at `at`.
pub(super) async fn two_partners(db: &Db, at: i64) {
    for code in ["walletx", "othery"] {
        let p = Partner {
            partner_code: code.into(),
            name: code.into(),
            client_id: format!("{code}-client"),
            client_secret: "0123456789abcdef0123".into(),
            api_base_url: "http://127.0.0.1:9/partner/v1".into(),
            open_mode: OpenMode::Url,
        };
        partners::register(db, &p, at).await.unwrap();
    }
}

async fn setup() -> (crate::store::testing::TestDb, Db, customers::Customer) {
    let (d, db) = temp_db().await;
    two_partners(&db, T0).await;
    let req = CustomerRequest { identify_code: "C-1".into(), phone: "0912345678".into(), full_name: Some("Tran Thi VIP".into()) };
    let link = customers::open_link(&db, "walletx", &req, 300_000, T0).await.unwrap();
    (d, db, link.customer)
}

fn report(p: &payments::Payment, status: Status) -> Report {
    Report { partner_code: "walletx".into(), tiki_transaction_id: p.tiki_transaction_id.clone(), partner_transaction_id: Some("P-1".into()), amount: Some(p.amount), status, banking_method: Some("WALLET".into()) }
}

fn plan() -> Plan {
    Plan::defaults().remove(0)
}

#[test]
fn tiki_transaction_ids_have_the_documented_form() {
    let id = TikiTransactionId::new(1_668_488_254_000); // 2022-11-15 12:57 +07
    let s = id.as_str();
    assert!(s.starts_with("221115TIKIVIP-") && s.ends_with("-1668488254"), "{s}");
    let number = &s["221115TIKIVIP-".len()..s.len() - "-1668488254".len()];
    assert!(number.len() == 9 && number.bytes().all(|b| b.is_ascii_digit()), "{s}");
}

#[tokio::test]
async fn open_links_are_single_use_and_expire() {
    let (_d, db, _) = setup().await;
    let req = CustomerRequest { identify_code: "C-2".into(), phone: "0987654321".into(), full_name: None };
    let link = customers::open_link(&db, "walletx", &req, 300_000, T0).await.unwrap();
    assert_eq!(customers::open(&db, &link.token, T0 + 1).await.unwrap().map(|c| c.identify_code), Some("C-2".into()));
    assert!(customers::open(&db, &link.token, T0 + 2).await.unwrap().is_none(), "used");
    let late = customers::open_link(&db, "walletx", &req, 300_000, T0).await.unwrap();
    assert!(customers::open(&db, &late.token, T0 + 300_001).await.unwrap().is_none(), "expired");
    assert_eq!(late.customer.id, link.customer.id, "the same customer again");
    let bad = CustomerRequest { identify_code: "C-3".into(), phone: "12".into(), full_name: None };
    assert!(matches!(customers::open_link(&db, "walletx", &bad, 300_000, T0).await, Err(TikiError::Invalid(_))));
    // ids without control characters, names refused (not cut) past the limit; controls: at it
    for code in ["C\u{0}4", "C\n4", "   ", "C".repeat(65).as_str()] {
        let bad = CustomerRequest { identify_code: code.into(), phone: "0987654321".into(), full_name: None };
        assert!(matches!(customers::open_link(&db, "walletx", &bad, 300_000, T0).await, Err(TikiError::Invalid(_))), "{code:?}");
    }
    let long = CustomerRequest { identify_code: "C-5".into(), phone: "0987654321".into(), full_name: Some("n".repeat(1_000_000)) };
    assert!(matches!(customers::open_link(&db, "walletx", &long, 300_000, T0).await, Err(TikiError::Invalid(_))));
    let at_limit = CustomerRequest { identify_code: "C".repeat(64), phone: "0987654321".into(), full_name: Some("n".repeat(customers::MAX_FULL_NAME)) };
    let ok = customers::open_link(&db, "walletx", &at_limit, 300_000, T0).await.unwrap();
    assert_eq!(ok.customer.full_name.map(|n| n.chars().count()), Some(customers::MAX_FULL_NAME));
}

#[tokio::test]
async fn one_open_payment_per_customer_and_plan_even_for_parallel_taps() {
    let (_d, db, c) = setup().await;
    let mut taps = Vec::new();
    for _ in 0..8 {
        let (db, c) = (db.clone(), c.clone());
        taps.push(tokio::spawn(async move { payments::open_payment(&db, &c, &plan(), T0).await.unwrap() }));
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut created = 0;
    for t in taps {
        let (p, new) = t.await.unwrap();
        ids.insert(p.tiki_transaction_id);
        created += i32::from(new);
    }
    assert_eq!((ids.len(), created), (1, 1));
    let other_plan = Plan::defaults().remove(1);
    assert_ne!(payments::open_payment(&db, &c, &other_plan, T0).await.unwrap().0.tiki_transaction_id, *ids.first().unwrap());
}

#[tokio::test]
async fn reports_apply_once_with_tikis_codes_and_vip_is_granted_once() {
    let (_d, db, c) = setup().await;
    let plans = Plan::defaults();
    let (p, _) = payments::open_payment(&db, &c, &plan(), T0).await.unwrap();
    payments::attach_partner_transaction(&db, &p.tiki_transaction_id, "P-1", "http://pay/1", T0).await.unwrap();

    let mut wrong = report(&p, Status::Success);
    wrong.amount = Some(p.amount + 1);
    assert!(matches!(payments::apply_report(&db, &plans, &wrong, T0).await, Err(TikiError::WrongAmount)));
    wrong = report(&p, Status::Success);
    wrong.partner_code = "othery".into();
    assert!(matches!(payments::apply_report(&db, &plans, &wrong, T0).await, Err(TikiError::OtherPartner)));
    wrong = report(&p, Status::Success);
    wrong.tiki_transaction_id = "221115TIKIVIP-1-1".into();
    assert!(matches!(payments::apply_report(&db, &plans, &wrong, T0).await, Err(TikiError::NotFound)));
    wrong = report(&p, Status::Success);
    wrong.partner_transaction_id = Some("P-2".into());
    assert!(matches!(payments::apply_report(&db, &plans, &wrong, T0).await, Err(TikiError::Invalid(_))));
    assert!(!payments::apply_report(&db, &plans, &report(&p, Status::Pending), T0).await.unwrap().changed);

    let first = payments::apply_report(&db, &plans, &report(&p, Status::Success), T0 + 10).await.unwrap();
    assert!(first.changed && first.payment.status == Status::Success && first.payment.vip_granted);
    for s in [Status::Success, Status::Failure, Status::Pending] {
        assert!(!payments::apply_report(&db, &plans, &report(&p, s), T0 + 20).await.unwrap().changed, "{s:?} after SUCCESS changes nothing");
    }
    let vip = customers::find(&db, &c.id).await.unwrap().unwrap();
    assert!(vip.is_vip(T0 + MONTH) && !vip.is_vip(T0 + 2 * MONTH + 4 * 86_400_000), "one month once: {:?}", vip.vip_until_ms);

    // a second plan bought while VIP extends from the end of the first
    let (p2, _) = payments::open_payment(&db, &c, &plan(), T0 + 100).await.unwrap();
    assert_ne!(p2.tiki_transaction_id, p.tiki_transaction_id, "the first is no longer open");
    let mut r2 = report(&p2, Status::Failure);
    r2.partner_transaction_id = None;
    assert_eq!(payments::apply_report(&db, &plans, &r2, T0 + 110).await.unwrap().payment.status, Status::Failure);
    r2.status = Status::Success; // paid after all: the partner's money is the truth
    assert!(payments::apply_report(&db, &plans, &r2, T0 + 120).await.unwrap().changed);
    let vip = customers::find(&db, &c.id).await.unwrap().unwrap();
    assert!(vip.is_vip(T0 + 2 * MONTH - 86_400_000), "{:?}", vip.vip_until_ms);
}

#[tokio::test]
async fn a_cancelled_payment_refuses_a_late_success() {
    let (_d, db, c) = setup().await;
    let (p, _) = payments::open_payment(&db, &c, &plan(), T0).await.unwrap();
    let mut r = report(&p, Status::Cancelled);
    r.partner_transaction_id = None;
    payments::apply_report(&db, &Plan::defaults(), &r, T0).await.unwrap();
    r.status = Status::Success;
    let late = payments::apply_report(&db, &Plan::defaults(), &r, T0 + 1).await;
    assert!(matches!(late, Err(TikiError::Cancelled)) && late.unwrap_err().code() == 6);
    assert!(!customers::find(&db, &c.id).await.unwrap().unwrap().is_vip(T0 + 2));
}

#[tokio::test]
async fn refunds_never_exceed_the_paid_amount_and_a_full_refund_takes_the_vip_back() {
    let (_d, db, c) = setup().await;
    let plans = Plan::defaults();
    let (p, _) = payments::open_payment(&db, &c, &plan(), T0).await.unwrap();
    assert!(matches!(refunds::request(&db, &p.tiki_transaction_id, 1_000, "too early", "R-0", T0).await, Err(TikiError::Invalid(_))), "not paid yet");
    payments::apply_report(&db, &plans, &report(&p, Status::Success), T0).await.unwrap();

    let (r1, again) = refunds::request(&db, &p.tiki_transaction_id, 40_000, "partial", "R-1", T0 + 1).await.unwrap();
    assert_eq!((r1.status.as_str(), again), ("PENDING", false));
    assert!(refunds::request(&db, &p.tiki_transaction_id, 40_000, "partial", "R-1", T0 + 2).await.unwrap().1, "same request_id: the same refund");
    assert!(matches!(refunds::request(&db, &p.tiki_transaction_id, 40_001, "x", "R-1", T0 + 2).await, Err(TikiError::Invalid(_))));
    // 99,000 paid, 40,000 pending: 59,001 is too much even before the first is settled
    assert!(matches!(refunds::request(&db, &p.tiki_transaction_id, 59_001, "rest", "R-2", T0 + 3).await, Err(TikiError::Invalid(_))));
    refunds::settle(&db, &plans, "R-1", true, T0 + 4).await.unwrap();
    refunds::settle(&db, &plans, "R-1", true, T0 + 5).await.unwrap(); // once
    assert_eq!(payments::find(&db, &p.tiki_transaction_id).await.unwrap().unwrap().refunded_amount, 40_000);
    assert!(customers::find(&db, &c.id).await.unwrap().unwrap().is_vip(T0 + 6), "a partial refund keeps the VIP");

    refunds::request(&db, &p.tiki_transaction_id, 59_000, "rest", "R-3", T0 + 6).await.unwrap();
    refunds::settle(&db, &plans, "R-3", true, T0 + 7).await.unwrap();
    let after = payments::find(&db, &p.tiki_transaction_id).await.unwrap().unwrap();
    assert_eq!((after.refunded_amount, after.vip_granted), (99_000, false));
    assert!(!customers::find(&db, &c.id).await.unwrap().unwrap().is_vip(T0 + 8), "fully refunded: no VIP");
    assert!(matches!(refunds::request(&db, &p.tiki_transaction_id, 1, "more", "R-4", T0 + 9).await, Err(TikiError::Invalid(_))));

    // parallel requests for the whole amount of another payment: one wins
    let (q, _) = payments::open_payment(&db, &c, &plan(), T0 + 10).await.unwrap();
    payments::apply_report(&db, &plans, &Report { partner_transaction_id: None, ..report(&q, Status::Success) }, T0 + 10).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let (db, id) = (db.clone(), q.tiki_transaction_id.clone());
        tasks.push(tokio::spawn(async move { refunds::request(&db, &id, 99_000, "all", &format!("P-{i}"), T0 + 11).await.is_ok() }));
    }
    let mut won = 0;
    for t in tasks {
        won += i32::from(t.await.unwrap());
    }
    assert_eq!(won, 1);
}
