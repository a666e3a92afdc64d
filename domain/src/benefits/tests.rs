//! The benefit rules on a real database (SQLite, or PostgreSQL with JOYGATE_TEST_POSTGRES_URL):
//! issue idempotency and the budget under concurrency, reversals and tombstones, one use per
//! benefit, expiry, sync states, immutability after sync, and the outbox flows against a
//! scripted platform.

use std::{
    collections::{HashSet, VecDeque},
    sync::{Arc, Mutex},
};

use super::{
    fields::{Amount, ClientCode, IssueRequestId, Quantity, TemplateId, Title, UserId},
    instances::{self, Lookup, Status},
    issue::{self, IssueRequest, Reversal, ReverseRequest},
    keys::{self, KeyStore, Owner},
    platform_api::{self, CallError, CallFuture, Outcome, PlatformApi, PlatformResult, ResultStatus, SyncInquiry, SyncRequest, UsedRequest},
    platforms::{self, Platform},
    sync::{self, SyncReport, SyncStatus},
    templates::{self, Credential, NewTemplate, TemplateChange, Validity},
    usage::{self, UseRequest},
    BenefitError,
};
use crate::{
    identity::clients::{self, ClientSpec},
    store::{testing::temp_db, Db},
};

const T0: i64 = 1_795_489_173_000; // 2026-11-24 09:59:33 +07
const DAY: i64 = 86_400_000;
const PLATFORM: &str = "SANDBOX_5Y00000000000001";

async fn partner(db: &Db, id: &str) {
    let spec = ClientSpec {
        client_id: id.into(),
        name: id.into(),
        confidential: true,
        redirect_uris: vec!["https://shop.example/cb".into()],
        scopes: vec!["benefit:use".into()],
        ..ClientSpec::default()
    };
    clients::register(db, &spec, false, T0).await.unwrap();
}

fn new_template(id: &str, budget: i64, credential: Credential) -> NewTemplate {
    NewTemplate {
        template_id: TemplateId::parse(id).unwrap(),
        client_id: PLATFORM.into(),
        partner_client_id: "shop".into(),
        title: Title::parse("Giảm 50.000 ₫ tại Shop").unwrap(),
        content: "50,000 VND off any order at Shop.".into(),
        client_codes: vec![ClientCode::parse("SANDBOXAPP").unwrap(), ClientCode::parse("GCASH").unwrap()],
        begin_at_ms: T0 - DAY,
        end_at_ms: T0 + 30 * DAY,
        budget,
        amount: Amount::new("VND", 50_000).unwrap(),
        credential,
        url_base: (credential == Credential::Url).then(|| "https://shop.example/v?c=".to_string()),
        validity: Validity::Days(7),
    }
}

/// A platform, the partner `shop`, and a template of `budget` whose sync the platform accepted.
async fn setup(budget: i64) -> (crate::store::testing::TestDb, Db) {
    let (guard, db) = temp_db().await;
    platforms::register(&db, PLATFORM, "Sandbox", "http://127.0.0.1:9", T0).await.unwrap();
    partner(&db, "shop").await;
    partner(&db, "other-shop").await;
    synced(&db, new_template("VOUCHER-50K", budget, Credential::Code)).await;
    (guard, db)
}

async fn synced(db: &Db, t: NewTemplate) {
    templates::create(db, &t, T0).await.unwrap();
    let s = sync::request(db, t.template_id.as_str(), T0).await.unwrap();
    sync::apply(db, &s.sync_request_id, &SyncReport::accepted(), 1_000, T0).await.unwrap();
}

fn request(id: &str, user: &str, quantity: i64) -> IssueRequest {
    IssueRequest {
        issue_request_id: IssueRequestId::parse(id).unwrap(),
        user_id: UserId::parse(user).unwrap(),
        template_id: TemplateId::parse("VOUCHER-50K").unwrap(),
        client_code: ClientCode::parse("SANDBOXAPP").unwrap(),
        quantity: Quantity::new(quantity).unwrap(),
    }
}

fn reverse_of(id: &str) -> ReverseRequest {
    ReverseRequest { issue_request_id: IssueRequestId::parse(id).unwrap(), user_id: None, template_id: None, client_code: None }
}

async fn left(db: &Db) -> i64 {
    templates::find(db, "VOUCHER-50K").await.unwrap().unwrap().budget_left
}

#[tokio::test]
async fn an_issue_is_idempotent_forever_and_the_same_id_with_other_fields_is_refused() {
    let (_g, db) = setup(10).await;
    let first = issue::issue(&db, PLATFORM, &request("R-1", "U1", 2), T0).await.unwrap();
    assert!(!first.replayed);
    assert_eq!(first.instances.len(), 2);
    assert!(first.instances.iter().all(|i| i.status == Status::Activated && i.expire_at_ms == T0 + 7 * DAY));
    assert_ne!(first.instances[0].code, first.instances[1].code);
    for later in [T0 + 1, T0 + 365 * DAY] {
        let again = issue::issue(&db, PLATFORM, &request("R-1", "U1", 2), later).await.unwrap();
        assert!(again.replayed);
        assert_eq!(again.instances, first.instances, "the same benefits, codes and times");
    }
    assert_eq!(left(&db).await, 8, "a retry takes nothing");
    for other in [request("R-1", "U2", 2), request("R-1", "U1", 1), IssueRequest { client_code: ClientCode::parse("GCASH").unwrap(), ..request("R-1", "U1", 2) }] {
        assert!(matches!(issue::issue(&db, PLATFORM, &other, T0).await, Err(BenefitError::RequestIdConflict)));
    }
    let elsewhere = IssueRequest { template_id: TemplateId::parse("OTHER").unwrap(), ..request("R-1", "U1", 2) };
    assert!(matches!(issue::issue(&db, PLATFORM, &elsewhere, T0).await, Err(BenefitError::RequestIdConflict)));
    assert_eq!(left(&db).await, 8);
}

#[tokio::test]
async fn quantity_is_all_or_nothing_and_refusals_leave_nothing_behind() {
    let (_g, db) = setup(5).await;
    issue::issue(&db, PLATFORM, &request("R-1", "U1", 3), T0).await.unwrap();
    assert!(matches!(issue::issue(&db, PLATFORM, &request("R-2", "U1", 3), T0).await, Err(BenefitError::BudgetExhausted(3))));
    assert_eq!(left(&db).await, 2, "nothing issued");
    assert!(matches!(issue::inquire(&db, PLATFORM, &IssueRequestId::parse("R-2").unwrap()).await, Err(BenefitError::UnknownIssue)));
    // a refused id is not remembered: the same id may succeed once the budget allows it
    assert_eq!(issue::issue(&db, PLATFORM, &request("R-2", "U1", 2), T0).await.unwrap().instances.len(), 2);
    assert_eq!(left(&db).await, 0);

    let gcash_only = IssueRequest { client_code: ClientCode::parse("TNG").unwrap(), ..request("R-3", "U1", 1) };
    assert!(matches!(issue::issue(&db, PLATFORM, &gcash_only, T0).await, Err(BenefitError::ClientCodeNotAllowed(_))));
    let unknown = IssueRequest { template_id: TemplateId::parse("NOPE").unwrap(), ..request("R-4", "U1", 1) };
    assert!(matches!(issue::issue(&db, PLATFORM, &unknown, T0).await, Err(BenefitError::UnknownTemplate)));
    assert!(matches!(issue::issue(&db, "OTHER-PLATFORM", &request("R-5", "U1", 1), T0).await, Err(_)), "another platform's template is not found");
    assert!(matches!(issue::issue(&db, PLATFORM, &request("R-6", "U1", 1), T0 + 31 * DAY).await, Err(BenefitError::Ended)));
    assert!(matches!(issue::issue(&db, PLATFORM, &request("R-7", "U1", 1), T0 - 2 * DAY).await, Err(BenefitError::NotStarted)));
}

#[tokio::test]
async fn a_template_is_issued_only_once_the_platform_has_it() {
    let (_g, db) = setup(5).await;
    templates::create(&db, &new_template("DRAFT", 5, Credential::Code), T0).await.unwrap();
    let r = IssueRequest { template_id: TemplateId::parse("DRAFT").unwrap(), ..request("R-1", "U1", 1) };
    assert!(matches!(issue::issue(&db, PLATFORM, &r, T0).await, Err(BenefitError::NotSynced)));
    let s = sync::request(&db, "DRAFT", T0).await.unwrap();
    assert!(matches!(issue::issue(&db, PLATFORM, &r, T0).await, Err(BenefitError::NotSynced)), "queued, not accepted yet");
    sync::apply(&db, &s.sync_request_id, &SyncReport::failed("AUDIT_FAIL", "logo missing"), 0, T0).await.unwrap();
    assert!(matches!(issue::issue(&db, PLATFORM, &r, T0).await, Err(BenefitError::NotSynced)));
}

#[tokio::test]
async fn two_hundred_parallel_collects_of_a_hundred_vouchers_issue_exactly_a_hundred() {
    let (_g, db) = setup(100).await;
    let tasks: Vec<_> = (0..200)
        .map(|n| {
            let db = db.clone();
            tokio::spawn(async move { issue::issue(&db, PLATFORM, &request(&format!("R-{n}"), &format!("U{n}"), 1), T0).await })
        })
        .collect();
    let (mut ok, mut exhausted) = (Vec::new(), 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(issued) => ok.extend(issued.instances),
            Err(BenefitError::BudgetExhausted(1)) => exhausted += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!((ok.len(), exhausted), (100, 100));
    assert_eq!(ok.iter().map(|i| &i.code).collect::<HashSet<_>>().len(), 100, "no code repeated");
    assert_eq!(left(&db).await, 0);
    let counted: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM benefit_instances").fetch_one(db.pool()).await.unwrap();
    assert_eq!(counted, 100);
}

#[tokio::test]
async fn concurrent_retries_of_one_issue_give_one_set_of_benefits() {
    let (_g, db) = setup(10).await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { issue::issue(&db, PLATFORM, &request("SAME", "U1", 2), T0).await.unwrap() })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert_eq!(answers.iter().filter(|a| !a.replayed).count(), 1);
    assert!(answers.iter().all(|a| a.instances == answers[0].instances));
    assert_eq!(left(&db).await, 8);
}

#[tokio::test]
async fn a_reversal_gives_the_budget_back_and_is_idempotent() {
    let (_g, db) = setup(3).await;
    let issued = issue::issue(&db, PLATFORM, &request("R-1", "U1", 3), T0).await.unwrap();
    assert!(matches!(issue::issue(&db, PLATFORM, &request("R-2", "U2", 1), T0).await, Err(BenefitError::BudgetExhausted(1))));
    assert_eq!(issue::reverse(&db, PLATFORM, &reverse_of("R-1"), T0 + 1).await.unwrap(), Reversal::Reversed);
    assert_eq!(issue::reverse(&db, PLATFORM, &reverse_of("R-1"), T0 + 2).await.unwrap(), Reversal::AlreadyReversed);
    assert_eq!(left(&db).await, 3);
    let now = issue::inquire(&db, PLATFORM, &IssueRequestId::parse("R-1").unwrap()).await.unwrap();
    assert!(now.iter().all(|i| i.status == Status::Reversed) && now.len() == 3);
    assert_eq!(now.iter().map(|i| &i.code).collect::<Vec<_>>(), issued.instances.iter().map(|i| &i.code).collect::<Vec<_>>());
    assert!(matches!(issue::issue(&db, PLATFORM, &request("R-1", "U1", 3), T0 + 3).await, Err(BenefitError::IssueReversed)));
    // the budget given back can be collected again
    assert_eq!(issue::issue(&db, PLATFORM, &request("R-2", "U2", 1), T0 + 4).await.unwrap().instances.len(), 1);
    // a reversed code cannot be used
    let code = issued.instances[0].code.clone();
    let r = UseRequest { lookup: Lookup::Code(code), pin: None, partner_request_id: None };
    assert!(matches!(usage::use_benefit(&db, "shop", &r, T0 + 5).await, Err(BenefitError::Reversed)));
    let wrong = ReverseRequest { user_id: Some(UserId::parse("U9").unwrap()), ..reverse_of("R-2") };
    assert!(matches!(issue::reverse(&db, PLATFORM, &wrong, T0).await, Err(BenefitError::RequestIdConflict)));
}

#[tokio::test]
async fn a_reversal_before_the_issue_leaves_a_tombstone_that_refuses_the_late_issue() {
    let (_g, db) = setup(3).await;
    assert_eq!(issue::reverse(&db, PLATFORM, &reverse_of("LATE"), T0).await.unwrap(), Reversal::Tombstone);
    assert_eq!(issue::reverse(&db, PLATFORM, &reverse_of("LATE"), T0).await.unwrap(), Reversal::AlreadyReversed);
    assert!(matches!(issue::issue(&db, PLATFORM, &request("LATE", "U1", 1), T0 + 1).await, Err(BenefitError::IssueReversed)));
    assert_eq!(left(&db).await, 3);
    assert!(matches!(issue::inquire(&db, PLATFORM, &IssueRequestId::parse("LATE").unwrap()).await, Err(BenefitError::UnknownIssue)));
}

#[tokio::test]
async fn a_reversal_racing_its_issue_ends_reversed_with_the_budget_whole() {
    let (_g, db) = setup(50).await;
    let mut tasks = Vec::new();
    for n in 0..20 {
        let (a, b) = (db.clone(), db.clone());
        let id = format!("RACE-{n}");
        let id2 = id.clone();
        tasks.push(tokio::spawn(async move { issue::issue(&a, PLATFORM, &request(&id, "U1", 2), T0).await.map(|_| ()) }));
        tasks.push(tokio::spawn(async move { issue::reverse(&b, PLATFORM, &reverse_of(&id2), T0).await.map(|_| ()) }));
    }
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) | Err(BenefitError::IssueReversed) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(left(&db).await, 50, "every issue was reversed, before or after it happened");
    let active: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM benefit_instances WHERE status = 'ACTIVATED'").fetch_one(db.pool()).await.unwrap();
    assert_eq!(active, 0);
}

#[tokio::test]
async fn a_used_benefit_refuses_the_reversal_of_its_issue() {
    let (_g, db) = setup(3).await;
    let issued = issue::issue(&db, PLATFORM, &request("R-1", "U1", 2), T0).await.unwrap();
    let r = UseRequest { lookup: Lookup::Code(issued.instances[1].code.clone()), pin: None, partner_request_id: None };
    usage::use_benefit(&db, "shop", &r, T0 + 1).await.unwrap();
    assert!(matches!(issue::reverse(&db, PLATFORM, &reverse_of("R-1"), T0 + 2).await, Err(BenefitError::NotReversible("USED"))));
    let now = issue::inquire(&db, PLATFORM, &IssueRequestId::parse("R-1").unwrap()).await.unwrap();
    assert_eq!(now.iter().map(|i| i.status).collect::<Vec<_>>(), [Status::Activated, Status::Used], "nothing reversed");
    assert_eq!(left(&db).await, 1);
}

#[tokio::test]
async fn twenty_parallel_uses_of_one_code_have_one_success() {
    let (_g, db) = setup(3).await;
    let issued = issue::issue(&db, PLATFORM, &request("R-1", "U1", 1), T0).await.unwrap();
    let code = issued.instances[0].code.clone();
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let db = db.clone();
            // as typed at a till: lower case, grouped with a dash
            let typed = format!("{}-{}", code[..6].to_lowercase(), &code[6..]);
            let r = UseRequest { lookup: Lookup::Code(instances::normalize_code(&typed)), pin: None, partner_request_id: Some(format!("POS-{n}")) };
            tokio::spawn(async move { usage::use_benefit(&db, "shop", &r, T0 + 1).await })
        })
        .collect();
    let (mut ok, mut used) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(u) => {
                assert!(!u.replayed);
                ok += 1
            }
            Err(BenefitError::AlreadyUsed) => used += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((ok, used), (1, 19));
    let jobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox_jobs WHERE kind = $1").bind(usage::SYNC_USED).fetch_one(db.pool()).await.unwrap();
    assert_eq!(jobs, 1, "one syncUsedBenefit queued");
    let instance = instances::find(&db, &issued.instances[0].instance_id).await.unwrap().unwrap();
    assert_eq!((instance.status, instance.used_by.as_deref(), instance.use_sync_status), (Status::Used, Some("shop"), Some(instances::UseSync::Pending)));
    // the winner's retry with its own requestId gets the same answer; anyone else "already used"
    let winner = instance.partner_request_id.clone().unwrap();
    let again = UseRequest { lookup: Lookup::InstanceId(instance.instance_id.clone()), pin: None, partner_request_id: Some(winner) };
    assert!(usage::use_benefit(&db, "shop", &again, T0 + 2).await.unwrap().replayed);
    let other = UseRequest { partner_request_id: None, ..again };
    assert!(matches!(usage::use_benefit(&db, "shop", &other, T0 + 2).await, Err(BenefitError::AlreadyUsed)));
}

#[tokio::test]
async fn only_the_templates_partner_sees_its_benefits_and_a_pin_must_match() {
    let (_g, db) = setup(3).await;
    synced(&db, new_template("PIN-VOUCHER", 3, Credential::CodePin)).await;
    let r = IssueRequest { template_id: TemplateId::parse("PIN-VOUCHER").unwrap(), ..request("R-1", "U1", 1) };
    let b = issue::issue(&db, PLATFORM, &r, T0).await.unwrap().instances.remove(0);
    let pin = b.pin.clone().unwrap();
    let by_code = |pin: Option<&str>| UseRequest { lookup: Lookup::Code(b.code.clone()), pin: pin.map(str::to_string), partner_request_id: None };
    assert!(matches!(usage::lookup(&db, "other-shop", &Lookup::Code(b.code.clone())).await, Err(BenefitError::UnknownBenefit)));
    assert!(matches!(usage::use_benefit(&db, "other-shop", &by_code(Some(&pin)), T0).await, Err(BenefitError::UnknownBenefit)));
    assert!(matches!(usage::use_benefit(&db, "shop", &by_code(None), T0).await, Err(BenefitError::WrongPin)));
    let wrong = if pin == "000000" { "000001" } else { "000000" };
    assert!(matches!(usage::use_benefit(&db, "shop", &by_code(Some(wrong)), T0).await, Err(BenefitError::WrongPin)));
    assert_eq!(usage::lookup(&db, "shop", &Lookup::Code(b.code.clone())).await.unwrap().status, Status::Activated);
    assert_eq!(usage::use_benefit(&db, "shop", &by_code(Some(&pin)), T0).await.unwrap().instance.status, Status::Used);
    assert!(matches!(usage::lookup(&db, "shop", &Lookup::Code("NOTACODE0000".into())).await, Err(BenefitError::UnknownBenefit)));
}

#[tokio::test]
async fn benefits_expire_by_the_job_or_at_the_till() {
    let (_g, db) = setup(3).await;
    let a = issue::issue(&db, PLATFORM, &request("R-1", "U1", 1), T0).await.unwrap().instances.remove(0);
    let b = issue::issue(&db, PLATFORM, &request("R-2", "U2", 1), T0 + DAY).await.unwrap().instances.remove(0);
    assert_eq!(instances::expire_due(&db, T0 + 7 * DAY - 1).await.unwrap(), 0);
    assert_eq!(instances::expire_due(&db, T0 + 7 * DAY).await.unwrap(), 1);
    assert_eq!(instances::find(&db, &a.instance_id).await.unwrap().unwrap().status, Status::Expired);
    let r = UseRequest { lookup: Lookup::Code(b.code.clone()), pin: None, partner_request_id: None };
    assert!(matches!(usage::use_benefit(&db, "shop", &r, T0 + 8 * DAY).await, Err(BenefitError::Expired)));
    assert_eq!(instances::find(&db, &b.instance_id).await.unwrap().unwrap().status, Status::Expired, "expired at the till");
    assert!(matches!(issue::reverse(&db, PLATFORM, &reverse_of("R-2"), T0).await, Err(BenefitError::NotReversible("EXPIRED"))));
    assert_eq!(instances::expire_due(&db, T0 + 9 * DAY).await.unwrap(), 0, "an expired benefit stays expired");
}

#[tokio::test]
async fn clientcode_content_and_budget_are_immutable_after_the_first_sync() {
    let (_g, db) = setup(3).await;
    templates::create(&db, &new_template("EDIT", 5, Credential::Url), T0).await.unwrap();
    let change = TemplateChange { budget: Some(9), content: Some("New text".into()), ..TemplateChange::default() };
    let before = templates::update(&db, "EDIT", &change, T0).await.unwrap();
    assert_eq!((before.budget_total, before.budget_left, before.content.as_str()), (9, 9, "New text"), "a draft may change");
    let s = sync::request(&db, "EDIT", T0).await.unwrap();
    assert!(matches!(sync::request(&db, "EDIT", T0).await, Err(BenefitError::SyncInFlight)));
    for (change, field) in [
        (TemplateChange { budget: Some(10), ..TemplateChange::default() }, "benefitBudget"),
        (TemplateChange { content: Some("Other".into()), ..TemplateChange::default() }, "benefitContent"),
        (TemplateChange { client_codes: Some(vec![ClientCode::parse("DANA").unwrap()]), ..TemplateChange::default() }, "clientCode"),
    ] {
        match templates::update(&db, "EDIT", &change, T0).await {
            Err(BenefitError::Immutable(f)) => assert_eq!(f, field),
            other => panic!("{other:?}"),
        }
    }
    let same = TemplateChange { budget: Some(9), title: Some(Title::parse("Giảm 60.000 ₫").unwrap()), ..TemplateChange::default() };
    let after = templates::update(&db, "EDIT", &same, T0).await.unwrap();
    assert_eq!((after.title.as_str(), after.budget_total), ("Giảm 60.000 ₫", 9), "the title may change; the same budget is no change");
    assert_eq!(after.sync.unwrap().sync_request_id, s.sync_request_id);
    assert!(matches!(templates::create(&db, &new_template("EDIT", 5, Credential::Url), T0).await, Err(BenefitError::TemplateExists)));
    let mut bad = new_template("BAD", 5, Credential::Code);
    bad.url_base = Some("https://x.example/".into());
    assert!(matches!(templates::create(&db, &bad, T0).await, Err(BenefitError::Invalid(_))));
    let mut nobody = new_template("NOBODY", 5, Credential::Code);
    nobody.partner_client_id = "ghost".into();
    assert!(matches!(templates::create(&db, &nobody, T0).await, Err(BenefitError::Invalid(_))));
}

#[tokio::test]
async fn a_sync_moves_forward_once_whatever_order_the_reports_come_in() {
    let (_g, db) = setup(3).await;
    templates::create(&db, &new_template("SYNC", 5, Credential::Code), T0).await.unwrap();
    let s = sync::request(&db, "SYNC", T0).await.unwrap();
    // the notify overtakes the syncBenefit answer
    let (v, changed) = sync::apply(&db, &s.sync_request_id, &SyncReport { status: SyncStatus::Success, fail_code: None, fail_reason: None }, 1_000, T0).await.unwrap();
    assert!(changed && v.status == SyncStatus::Success);
    for late in [SyncReport::accepted(), SyncReport::failed("AUDIT_FAIL", "late")] {
        let (v, changed) = sync::apply(&db, &s.sync_request_id, &late, 1_000, T0).await.unwrap();
        assert!(!changed && v.status == SyncStatus::Success && v.fail_code.is_none());
    }
    assert!(matches!(sync::apply(&db, "NOPE", &SyncReport::accepted(), 0, T0).await, Err(BenefitError::UnknownSync)));
    let polls: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox_jobs WHERE kind = $1").bind(sync::POLL).fetch_one(db.pool()).await.unwrap();
    assert_eq!(polls, 1, "only VOUCHER-50K's accepted sync is polled; SYNC skipped PROCESSING");
}

/// A platform whose answers come from a script, recording every request it was sent.
#[derive(Default)]
struct Scripted {
    sync: Mutex<VecDeque<Result<PlatformResult, CallError>>>,
    inquiries: Mutex<VecDeque<Result<SyncInquiry, CallError>>>,
    used: Mutex<VecDeque<Result<PlatformResult, CallError>>>,
    sent_used: Mutex<Vec<UsedRequest>>,
    sent_sync: Mutex<Vec<String>>,
}

fn result(status: ResultStatus, code: &str) -> PlatformResult {
    PlatformResult { status, code: code.into(), message: format!("{code} message") }
}

impl PlatformApi for Scripted {
    fn sync_benefit<'a>(&'a self, _: &'a Platform, req: &'a SyncRequest) -> CallFuture<'a, PlatformResult> {
        self.sent_sync.lock().unwrap().push(req.sync_request_id.clone());
        let next = self.sync.lock().unwrap().pop_front().expect("scripted syncBenefit answer");
        Box::pin(async move { next })
    }
    fn inquire_sync<'a>(&'a self, _: &'a Platform, _: &'a str) -> CallFuture<'a, SyncInquiry> {
        let next = self.inquiries.lock().unwrap().pop_front().expect("scripted inquiry answer");
        Box::pin(async move { next })
    }
    fn sync_used<'a>(&'a self, _: &'a Platform, req: &'a UsedRequest) -> CallFuture<'a, PlatformResult> {
        self.sent_used.lock().unwrap().push(req.clone());
        let next = self.used.lock().unwrap().pop_front().expect("scripted syncUsedBenefit answer");
        Box::pin(async move { next })
    }
}

#[tokio::test]
async fn the_sync_flows_retry_on_unknown_stop_on_failure_and_poll_until_the_end() {
    let (_g, db) = setup(3).await;
    templates::create(&db, &new_template("FLOW", 5, Credential::Code), T0).await.unwrap();
    let s = sync::request(&db, "FLOW", T0).await.unwrap();
    let api = Arc::new(Scripted::default());
    api.sync.lock().unwrap().extend([
        Err(CallError::Unavailable("timeout".into())),
        Err(CallError::BadSignature("Signature does not match".into())),
        Ok(result(ResultStatus::U, "UNKNOWN_EXCEPTION")),
        Ok(result(ResultStatus::S, "SUCCESS")),
    ]);
    for _ in 0..3 {
        assert!(matches!(platform_api::send_sync(&db, api.as_ref(), &s.sync_request_id, 1_000, T0).await.unwrap(), Outcome::Retry(_)));
    }
    assert_eq!(platform_api::send_sync(&db, api.as_ref(), &s.sync_request_id, 1_000, T0).await.unwrap(), Outcome::Done);
    assert_eq!(api.sent_sync.lock().unwrap().iter().collect::<HashSet<_>>().len(), 1, "one benefitSyncRequestId throughout");
    assert_eq!(sync::find(&db, &s.sync_request_id).await.unwrap().unwrap().1.status, SyncStatus::Processing);
    assert_eq!(platform_api::send_sync(&db, api.as_ref(), &s.sync_request_id, 1_000, T0).await.unwrap(), Outcome::Done, "not sent again");

    let processing = SyncInquiry { result: result(ResultStatus::S, ""), report: Some(SyncReport::accepted()) };
    let failed = SyncInquiry { result: result(ResultStatus::S, ""), report: Some(SyncReport::failed("SYNC_CLIENT_FAIL", "GCASH is down")) };
    api.inquiries.lock().unwrap().extend([Ok(processing), Err(CallError::Unavailable("reset".into())), Ok(failed)]);
    assert!(matches!(platform_api::poll_sync(&db, api.as_ref(), &s.sync_request_id, T0).await.unwrap(), Outcome::Retry(_)));
    assert!(matches!(platform_api::poll_sync(&db, api.as_ref(), &s.sync_request_id, T0).await.unwrap(), Outcome::Retry(_)));
    assert_eq!(platform_api::poll_sync(&db, api.as_ref(), &s.sync_request_id, T0).await.unwrap(), Outcome::Done);
    let t = templates::find(&db, "FLOW").await.unwrap().unwrap().sync.unwrap();
    assert_eq!((t.status, t.fail_code.as_deref(), t.fail_reason.as_deref()), (SyncStatus::Fail, Some("SYNC_CLIENT_FAIL"), Some("GCASH is down")));

    // a refused syncBenefit is final, with the result's code
    let s2 = sync::request(&db, "FLOW", T0 + 1).await.unwrap();
    api.sync.lock().unwrap().push_back(Ok(result(ResultStatus::F, "PARAM_ILLEGAL")));
    assert_eq!(platform_api::send_sync(&db, api.as_ref(), &s2.sync_request_id, 1_000, T0).await.unwrap(), Outcome::Done);
    assert_eq!(sync::find(&db, &s2.sync_request_id).await.unwrap().unwrap().1.fail_code.as_deref(), Some("PARAM_ILLEGAL"));
}

#[tokio::test]
async fn sync_used_benefit_keeps_its_request_id_through_unknowns_and_timeouts_and_never_retries_a_failure() {
    let (_g, db) = setup(3).await;
    let issued = issue::issue(&db, PLATFORM, &request("R-1", "U1", 2), T0).await.unwrap();
    let api = Scripted::default();
    api.used.lock().unwrap().extend([
        Ok(result(ResultStatus::U, "UNKNOWN_EXCEPTION")),
        Ok(result(ResultStatus::U, "UNKNOWN_EXCEPTION")),
        Err(CallError::Unavailable("timed out".into())),
        Ok(result(ResultStatus::S, "SUCCESS")),
        Ok(result(ResultStatus::F, "PROCESS_FAIL")),
    ]);
    let first = &issued.instances[0];
    usage::use_benefit(&db, "shop", &UseRequest { lookup: Lookup::Code(first.code.clone()), pin: None, partner_request_id: None }, T0 + 1).await.unwrap();
    for _ in 0..3 {
        assert!(matches!(platform_api::send_used(&db, &api, &first.instance_id).await.unwrap(), Outcome::Retry(_)));
    }
    assert_eq!(platform_api::send_used(&db, &api, &first.instance_id).await.unwrap(), Outcome::Done);
    assert_eq!(platform_api::send_used(&db, &api, &first.instance_id).await.unwrap(), Outcome::Done, "settled: not sent again");
    let sent = api.sent_used.lock().unwrap().clone();
    assert_eq!(sent.len(), 4);
    assert!(sent.iter().all(|r| r == &sent[0]), "the same benefitUseRequestId and fields on every try");
    assert_eq!((sent[0].instance_id.as_str(), sent[0].benefit_code.as_str(), sent[0].use_scene), (first.instance_id.as_str(), first.code.as_str(), "MINI_PROGRAM"));
    assert_eq!(instances::find(&db, &first.instance_id).await.unwrap().unwrap().use_sync_status, Some(instances::UseSync::Success));

    let second = &issued.instances[1];
    usage::use_benefit(&db, "shop", &UseRequest { lookup: Lookup::Code(second.code.clone()), pin: None, partner_request_id: None }, T0 + 1).await.unwrap();
    assert_eq!(platform_api::send_used(&db, &api, &second.instance_id).await.unwrap(), Outcome::Done, "F is final");
    let settled = instances::find(&db, &second.instance_id).await.unwrap().unwrap();
    assert_eq!((settled.use_sync_status, settled.use_sync_code.as_deref()), (Some(instances::UseSync::Fail), Some("PROCESS_FAIL")));
}

#[tokio::test]
async fn keys_have_versions_rotate_and_the_newest_active_one_signs() {
    let (_g, db) = setup(1).await;
    let store = KeyStore::new(db.clone());
    let k = store.for_platform(PLATFORM).await.unwrap().unwrap();
    assert_eq!(k.signing.as_ref().map(|s| s.version), Some(1), "registering the platform made our key 1");
    assert!(k.verifying.is_empty());
    assert!(store.for_platform("UNKNOWN").await.unwrap().is_none());

    let v2 = keys::generate(&db, PLATFORM, false, T0 + 1).await.unwrap();
    assert_eq!(v2, 2);
    assert_eq!(store.for_platform(PLATFORM).await.unwrap().unwrap().signing.unwrap().version, 1, "not active yet");
    keys::activate(&db, PLATFORM, 2, T0 + 2).await.unwrap();
    assert_eq!(store.for_platform(PLATFORM).await.unwrap().unwrap().signing.unwrap().version, 2);

    let theirs = crate::signing::RsaPrivateKey::generate_2048().unwrap().public_key().to_spki_base64();
    assert_eq!(keys::register_platform_key(&db, PLATFORM, None, &theirs, T0).await.unwrap(), 1);
    assert_eq!(keys::register_platform_key(&db, PLATFORM, Some(5), &theirs, T0).await.unwrap(), 5);
    assert!(keys::register_platform_key(&db, PLATFORM, Some(5), &theirs, T0).await.is_err(), "versions are never reused");
    assert!(keys::register_platform_key(&db, PLATFORM, None, "bm90IGEga2V5", T0).await.is_err());
    let k = store.for_platform(PLATFORM).await.unwrap().unwrap();
    assert_eq!(k.verifying(None).map(|v| v.version), Some(5));
    assert_eq!(k.verifying(Some("1")).map(|v| v.version), Some(1));
    assert!(k.verifying(Some("2")).is_none() && k.verifying(Some("x")).is_none());
    keys::retire(&db, PLATFORM, Owner::Platform, 5, T0).await.unwrap();
    keys::retire(&db, PLATFORM, Owner::Isv, 2, T0).await.unwrap();
    let k = store.for_platform(PLATFORM).await.unwrap().unwrap();
    assert!(k.verifying(Some("5")).is_none());
    assert_eq!(k.signing.unwrap().version, 1, "back to the newest unretired active key");
    let listed = keys::list(&db, PLATFORM).await.unwrap();
    assert_eq!(listed.len(), 4);
    assert!(!format!("{listed:?}").contains("PRIVATE"), "listing never carries a private key");
    let exported = keys::private_key_base64(&db, PLATFORM, 1).await.unwrap();
    assert!(crate::signing::RsaPrivateKey::from_pkcs8_base64(&exported).is_ok());
}
