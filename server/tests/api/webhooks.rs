//! Partner webhooks end to end: a receiver (a real HTTP server in the test) verifies every
//! `gj-signature`, is down while events happen, then comes up: every event arrives, each is
//! counted once by `event_id`, and members are notified only of successful transactions.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{body::Bytes, extract::State, http::HeaderMap, routing::post as route_post, Router};
use domain::{
    outbox::JobState,
    signing::{skyjoy_webhook, TimestampWindow},
};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{
    helpers::{self, TestApp},
    skyjoy::{post, ONBOARD},
};

#[derive(Clone, Default)]
struct Receiver {
    secret: Arc<Mutex<String>>,
    /// event_id → (times received, body)
    seen: Arc<Mutex<BTreeMap<String, (u32, Value)>>>,
    bad_signatures: Arc<Mutex<u32>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let secret = r.secret.lock().unwrap().clone();
    let header = headers.get(skyjoy_webhook::HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if skyjoy_webhook::verify(secret.as_bytes(), header, &body, TimestampWindow::FIVE_MINUTES, domain::now_ms()).is_err() {
        *r.bad_signatures.lock().unwrap() += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let event: Value = serde_json::from_slice(&body).unwrap();
    let id = event["event_id"].as_str().unwrap().to_string();
    r.seen.lock().unwrap().entry(id).or_insert((0, event)).0 += 1;
    StatusCode::NO_CONTENT
}

async fn wait_for(mut done: impl FnMut() -> bool, what: &str) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn a_receiver_that_was_down_gets_every_event_once_signed() {
    let app = TestApp::spawn_with(|c| {
        c.webhooks.first_retry_ms = 100;
        c.webhooks.max_retry_delay_ms = 300;
    })
    .await;
    let (_, t) = helpers::partner(&app, "shop").await;

    // The receiver's port is reserved, then closed: it is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/skyjoy/webhook");
    let (endpoint, signing_secret) = domain::events::webhooks::register(app.db(), "shop", &url, &[], false, domain::now_ms()).await.unwrap();
    domain::events::webhooks::register(app.db(), "stranger", "http://127.0.0.1:9/never", &[], false, domain::now_ms()).await.unwrap();

    let (status, body) = post(&app, &t, ONBOARD, json!({"phone": "0912000444", "fullName": "Nguyen Van Hook"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sj = body["data"]["skyjoyId"].as_str().unwrap().to_string();
    let accrual = |txn: &str| json!({"skyjoyId": sj, "transactionId": txn, "transactionDate": 1_678_896_000_000i64, "transactionAmount": 100_000, "transactionCurrency": "VND"});
    for txn in ["A-1", "A-2", "A-3"] {
        assert_eq!(post(&app, &t, "/api-point/partner/v1/point-accrual", accrual(txn)).await.0, StatusCode::OK);
    }
    post(&app, &t, "/api-point/partner/v1/point-accrual", accrual("A-1")).await; // a retry: no event
    let refused = json!({"skyjoyId": sj, "transactionId": "R-1", "transactionDate": 1_678_896_000_000i64, "transactionAmount": 0, "usedPoint": 31});
    assert_eq!(post(&app, &t, "/api-point/partner/v1/point-redemption", refused).await.0, StatusCode::BAD_REQUEST);

    // 1 user.created + 3 user.updated-balance, and they are failing while the receiver is down
    let member_id = domain::identity::members::find_by_skyjoy_id(app.db(), &domain::identity::SkyJoyId::parse(&sj).unwrap()).await.unwrap().unwrap().id;
    let events = domain::events::webhooks::events_of_member(app.db(), &member_id, 100).await.unwrap();
    assert_eq!(events.len(), 4, "{events:?}");
    let first = events.last().unwrap().0.clone();
    let db = app.db().clone();
    for _ in 0..100 {
        let log = domain::events::webhooks::delivery_log(&db, &first).await.unwrap();
        if log.iter().filter(|l| l.outcome.as_deref() == Some("retry")).count() >= 2 {
            assert!(log.iter().all(|l| l.endpoint_id == endpoint.id), "only the acting partner's endpoint: {log:?}");
            assert!(log[0].error.as_deref().unwrap_or_default().starts_with("no answer"), "{log:?}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Up it comes.
    let receiver = Receiver::default();
    *receiver.secret.lock().unwrap() = signing_secret;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let router = Router::new().route("/skyjoy/webhook", route_post(receive)).with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let seen = receiver.seen.clone();
    wait_for(|| seen.lock().unwrap().len() == 4, "all four events").await;
    // Every delivery job finished (done, or given up on): from then on nothing can arrive again,
    // so a duplicate would be in `seen` now.
    let db = app.db().clone();
    for _ in 0..200 {
        let jobs = domain::outbox::list(&db, None, 1_000).await.unwrap();
        let deliveries: Vec<_> = jobs.iter().filter(|j| j.kind == domain::events::webhooks::DELIVER).collect();
        assert_eq!(deliveries.len(), 4, "one delivery job per event and endpoint: {deliveries:?}");
        if deliveries.iter().all(|j| matches!(j.state, JobState::Done | JobState::Dead)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let unfinished = domain::outbox::list(&db, None, 1_000).await.unwrap().into_iter().filter(|j| j.kind == domain::events::webhooks::DELIVER && j.state != JobState::Done);
    assert_eq!(unfinished.count(), 0, "every delivery done");

    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(*receiver.bad_signatures.lock().unwrap(), 0);
    assert!(seen.values().all(|(n, _)| *n == 1), "each event once: {seen:?}");
    let mut types: Vec<_> = seen.values().map(|(_, e)| e["event_type"].as_str().unwrap().to_string()).collect();
    types.sort();
    assert_eq!(types, ["user.created", "user.updated-balance", "user.updated-balance", "user.updated-balance"]);
    let created = seen.values().map(|(_, e)| e).find(|e| e["event_type"] == "user.created").unwrap();
    assert_eq!((created["data"]["member_id"].as_str(), created["data"]["phone_number"].as_str(), created["version"].as_str()), (Some(sj.as_str()), Some("+84912000444"), Some("v1")));
    let balances: Vec<i64> = seen.values().filter_map(|(_, e)| e["data"]["point_balance"].as_i64()).collect();
    assert_eq!(balances.iter().max(), Some(&30));

    // The member heard of the three accruals and nothing else.
    let db = app.db().clone();
    let notes = domain::events::push::of_member(&db, &member_id, 10).await.unwrap();
    assert_eq!(notes.iter().map(|n| n.kind.as_str()).collect::<Vec<_>>(), ["points.accrued"; 3]);
    for _ in 0..100 {
        if domain::events::push::of_member(&db, &member_id, 10).await.unwrap().iter().all(|n| n.sent_at_ms.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(domain::events::push::of_member(&db, &member_id, 10).await.unwrap().iter().all(|n| n.sent_at_ms.is_some()), "sent through the log sender");
    app.stop().await;
}
