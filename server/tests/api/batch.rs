//! Batch point files over HTTP and through the inbound folder: good and bad rows with their
//! codes and the balances they leave, a second upload that changes nothing, a partner reading
//! only its own batches, and the folder's result and archive.

use std::time::Duration;

use reqwest::{header, StatusCode};
use serde_json::Value;

use crate::{
    helpers::{self, wait_for_file, TestApp},
    skyjoy::{error_code, get, partner_token},
};

const BATCH: &str = "/api-point/partner/v1/batch";
const HEADER: &str = "type,skyjoyId,transactionId,transactionDate,transactionAmount,usedPoint,transactionCurrency";

async fn member(app: &TestApp, token: &str, phone: &str) -> String {
    helpers::member(app, token, phone, "Batch Member").await
}

async fn upload(app: &TestApp, token: &str, query: &str, content_type: &str, file: &str) -> (StatusCode, Value) {
    let res = app
        .client
        .post(format!("{}{BATCH}{query}", app.url))
        .bearer_auth(token)
        .header(header::CONTENT_TYPE, content_type)
        .body(file.to_string())
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

async fn balance(app: &TestApp, token: &str, skyjoy_id: &str) -> i64 {
    let (_, profile) = get(app, token, &format!("/api-user/partner/v1/user-profile/{skyjoy_id}")).await;
    profile["data"]["pointBalance"].as_i64().unwrap()
}

fn codes(data: &Value) -> Vec<String> {
    data["results"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap_or(r["status"].as_str().unwrap()).to_string()).collect()
}

fn day_file(sj: &str) -> String {
    format!(
        "{HEADER}\r\n\
         ACCRUAL,{sj},B-1,1678896000000,152123,,VND\r\n\
         REDEMPTION,{sj},B-2,2024-10-09T07:25:37.784Z,55000,13,\r\n\
         ACCRUAL,SJ12,B-3,1678896000000,100000,,\r\n\
         ACCRUAL,SJ0000000000,B-4,1678896000000,100000,,\r\n\
         REDEMPTION,{sj},B-5,1678896000000,0,500,\r\n\
         ACCRUAL,{sj},B-6,1678896000000,9999,,\r\n\
         ACCRUAL,{sj},\"B,7\",1678896000000,10000,,\r\n\
         ACCRUAL,{sj},B-8\r\n"
    )
}

#[tokio::test]
async fn an_uploaded_file_applies_its_good_rows_reports_the_bad_ones_and_a_second_upload_changes_nothing() {
    let app = TestApp::spawn().await;
    let (_, t) = helpers::partner(&app, "shop").await;
    let sj = member(&app, &t, "0912000333").await;
    let file = day_file(&sj);

    let (status, body) = upload(&app, &t, "?fileName=day%201.csv", "text/csv; charset=utf-8", &file).await;
    assert_eq!((status, body["statusCode"].as_u64(), body["message"].as_str()), (StatusCode::OK, Some(200), Some("SUCCESS")), "{body}");
    let data = &body["data"];
    assert_eq!(
        codes(data),
        ["SUCCESS", "SUCCESS", "INVALID_SKYJOY_ID", "MEMBER_NOT_FOUND", "INSUFFICIENT_BALANCE", "NO_POINTS_EARNED", "SUCCESS", "INVALID_ROW"]
    );
    assert_eq!(
        (data["total"].as_i64(), data["succeeded"].as_i64(), data["failed"].as_i64(), data["replayed"].as_i64()),
        (Some(8), Some(3), Some(5), Some(0))
    );
    assert_eq!(data["fileName"], "day 1.csv");
    let first = &data["results"][0];
    assert_eq!((first["row"].as_i64(), first["line"].as_i64(), first["transactionId"].as_str()), (Some(1), Some(2), Some("B-1")));
    assert_eq!((first["points"].as_i64(), first["newBalance"].as_i64(), first["replayed"].as_bool()), (Some(15), Some(15), Some(false)));
    assert_eq!(first["bitReference"].as_str().map(str::len), Some(26));
    assert_eq!((data["results"][1]["points"].as_i64(), data["results"][1]["newBalance"].as_i64()), (Some(-13), Some(2)));
    assert_eq!(data["results"][6]["transactionId"], "B,7");
    assert_eq!(balance(&app, &t, &sj).await, 3);
    let batch_id = data["batchId"].as_str().unwrap().to_string();

    let (status, again) = upload(&app, &t, "", "text/csv", &file).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    let again = &again["data"];
    assert_eq!(codes(again), codes(data));
    assert_eq!((again["succeeded"].as_i64(), again["replayed"].as_i64()), (Some(3), Some(3)), "every applied row is a replay");
    assert_eq!(again["results"][0]["bitReference"], first["bitReference"]);
    assert_ne!(again["batchId"].as_str(), Some(batch_id.as_str()));
    assert_eq!(balance(&app, &t, &sj).await, 3, "nothing applied twice");

    // The same transactions as JSON Lines are the same transactions.
    let lines = format!(
        "{{\"type\":\"ACCRUAL\",\"skyjoyId\":\"{sj}\",\"transactionId\":\"B-1\",\"transactionDate\":1678896000000,\"transactionAmount\":152123}}\n\
         {{\"type\":\"ACCRUAL\",\"skyjoyId\":\"{sj}\",\"transactionId\":\"B-1\",\"transactionDate\":1678896000000,\"transactionAmount\":999999}}\n\
         {{\"type\":\"ACCRUAL\",\"skyjoyId\":\"{sj}\",\"transactionId\":\"J-1\",\"transactionDate\":1678896000000,\"transactionAmount\":20000,\"extraData\":{{}}}}\n"
    );
    let (status, body) = upload(&app, &t, "", "application/x-ndjson", &lines).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(codes(&body["data"]), ["SUCCESS", "DUPLICATE_TRANSACTION", "SUCCESS"]);
    assert_eq!(body["data"]["results"][0]["replayed"], true);
    assert_eq!(balance(&app, &t, &sj).await, 5);

    // The batch and its result file, for the partner that sent it only.
    let (status, summary) = get(&app, &t, &format!("{BATCH}/{batch_id}")).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    let s = &summary["data"];
    assert_eq!((s["total"].as_i64(), s["failed"].as_i64(), s["source"].as_str(), s["results"].is_null()), (Some(8), Some(5), Some("API"), true));
    let res = app.client.get(format!("{}{BATCH}/{batch_id}/result.csv", app.url)).bearer_auth(&t).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(lines[0], "row,line,transactionId,status,code,message,bitReference,points,newBalance,replayed");
    assert!(lines[1].starts_with("1,2,B-1,SUCCESS,,applied,") && lines[1].ends_with(",15,15,false"), "{}", lines[1]);
    assert!(lines[4].starts_with("4,5,B-4,FAILED,MEMBER_NOT_FOUND,"), "{}", lines[4]);
    assert!(lines[7].starts_with("7,8,\"B,7\",SUCCESS,"), "{}", lines[7]);
    assert_eq!((lines.len(), lines[9]), (10, ""), "a header, 8 rows, CRLF after each");

    let (_, t2) = helpers::partner(&app, "airline").await;
    for path in [format!("{BATCH}/{batch_id}"), format!("{BATCH}/{batch_id}/result.csv"), format!("{BATCH}/no-such-batch")] {
        let (status, body) = get(&app, &t2, &path).await;
        assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::NOT_FOUND, "BATCH_NOT_FOUND"), "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_file_is_refused_as_a_whole_with_skyjoys_error_envelope() {
    let app = TestApp::spawn().await;
    let (_, t) = helpers::partner(&app, "shop").await;
    let sj = member(&app, &t, "0912000444").await;
    let typo = format!("type,skyjoyId,transactionId,transactionDate,transactionAmount,usedPoints\nACCRUAL,{sj},W-1,1678896000000,100000,\n");
    for (content_type, file, status, code) in [
        ("text/csv", typo.as_str(), StatusCode::BAD_REQUEST, "INVALID_HEADER"),
        ("text/csv", HEADER, StatusCode::BAD_REQUEST, "EMPTY_FILE"),
        ("application/json", "{}", StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_FILE_TYPE"),
    ] {
        let (got, body) = upload(&app, &t, "", content_type, file).await;
        assert_eq!((got, error_code(got, &body).as_str()), (status, code), "{body}");
    }
    // Without a Content-Type, the file name's extension tells the format.
    let res = app.client.post(format!("{}{BATCH}?fileName=x.jsonl", app.url)).bearer_auth(&t).body("[]").send().await.unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(codes(&body["data"]), ["INVALID_ROW"]);
    let (status, body) = upload(&app, &t, "?fileName=a/b.csv", "text/csv", &typo).await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::BAD_REQUEST, "INVALID_FILE_NAME"));
    // a misspelt or repeated parameter is refused, not ignored
    for query in ["?filename=x.csv", "?=false", "?fileName=a.csv&fileName=b.csv"] {
        let (status, body) = upload(&app, &t, query, "text/csv", &typo).await;
        assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"), "{query}: {body}");
    }
    let (status, body) = upload(&app, "not-a-token", "", "text/csv", &typo).await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"));
    assert_eq!(balance(&app, &t, &sj).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_file_in_the_inbound_folder_is_processed_once_answered_in_outbound_and_archived() {
    let app = TestApp::spawn().await;
    let (_, t) = helpers::partner(&app, "shop").await;
    let sj = member(&app, &t, "0912000555").await;
    let root = app.batch_dir();
    let (inbound, outbound, archived) = (root.join("INBOUND/shop"), root.join("OUTBOUND/shop"), root.join("ARCHIVED/shop"));
    std::fs::create_dir_all(&inbound).unwrap();
    std::fs::create_dir_all(root.join("INBOUND/nobody")).unwrap();
    std::fs::write(root.join("INBOUND/nobody/day.csv"), day_file(&sj)).unwrap();
    std::fs::write(inbound.join("typo.csv"), "type,skyjoyId\nACCRUAL,SJ0000000000\n").unwrap();
    // Uploaded under another name, then renamed: never taken half-written.
    std::fs::write(inbound.join("day.csv.tmp"), day_file(&sj)).unwrap();
    std::fs::rename(inbound.join("day.csv.tmp"), inbound.join("day.csv")).unwrap();

    let result = wait_for_file(&outbound.join("day.csv.result.csv")).await;
    let lines: Vec<&str> = result.lines().collect();
    assert_eq!(lines.len(), 9, "{result}");
    assert!(lines[1].starts_with("1,2,B-1,SUCCESS,,applied,") && lines[1].ends_with(",15,15,false"), "{result}");
    assert!(lines[5].starts_with("5,6,B-5,FAILED,INSUFFICIENT_BALANCE,"), "{result}");
    assert!(archived.join("day.csv").is_file() && !inbound.join("day.csv").exists());
    assert_eq!(balance(&app, &t, &sj).await, 3);
    let refused = wait_for_file(&outbound.join("typo.csv.result.csv")).await;
    assert!(refused.lines().nth(1).unwrap().starts_with("0,0,,FAILED,INVALID_HEADER,"), "{refused}");
    assert!(archived.join("typo.csv").is_file());

    // The same file again (as after a restart part-way): every applied row is a replay, and
    // the first archived copy is kept.
    std::fs::remove_file(outbound.join("day.csv.result.csv")).unwrap();
    std::fs::write(inbound.join("day.csv"), day_file(&sj)).unwrap();
    let result = wait_for_file(&outbound.join("day.csv.result.csv")).await;
    assert!(result.lines().nth(1).unwrap().ends_with(",15,15,true"), "{result}");
    assert_eq!(balance(&app, &t, &sj).await, 3, "nothing applied twice");
    assert_eq!(std::fs::read_dir(&archived).unwrap().count(), 3, "day.csv, its second copy, typo.csv");

    assert!(root.join("INBOUND/nobody/day.csv").is_file(), "a folder that names no partner is left alone");
    assert!(!root.join("OUTBOUND/nobody").exists());
    app.stop().await;
}

async fn wait_until_done(app: &TestApp, token: &str, batch_id: &str) -> Value {
    for _ in 0..200 {
        let (status, body) = get(app, token, &format!("{BATCH}/{batch_id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["data"]["status"] == "DONE" {
            return body["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("batch {batch_id} never finished");
}

#[tokio::test]
async fn a_long_upload_is_answered_at_once_and_one_cut_short_by_a_restart_is_finished_at_the_next_start() {
    let shared = tempfile::tempdir().unwrap();
    let (database_url, _db) = crate::helpers::fresh_database(shared.path()).await;
    let app = TestApp::spawn_with(|c| c.database_url = database_url.clone()).await;
    let (secret, t) = helpers::partner(&app, "shop").await;
    let sj = member(&app, &t, "0912000666").await;

    // `Prefer: respond-async`: 202 with the batch id at once, the rows applied in the background.
    let res = app
        .client
        .post(format!("{}{BATCH}", app.url))
        .bearer_auth(&t)
        .header(header::CONTENT_TYPE, "text/csv")
        .header("Prefer", "respond-async")
        .body(day_file(&sj))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (body["statusCode"].as_u64(), body["data"]["status"].as_str(), body["data"]["total"].as_i64()),
        (Some(202), Some("PROCESSING"), Some(8))
    );
    let done = wait_until_done(&app, &t, body["data"]["batchId"].as_str().unwrap()).await;
    assert_eq!((done["succeeded"].as_i64(), done["failed"].as_i64()), (Some(3), Some(5)), "{done}");
    assert_eq!(balance(&app, &t, &sj).await, 3);

    // An upload accepted, its first row applied, then the server stops.
    use domain::ledger::{batch, EarningRules};
    let file = format!("{HEADER}\nACCRUAL,{sj},K-1,1678896000000,50000,,\nACCRUAL,{sj},K-2,1678896000000,20000,,\n");
    let upload =
        batch::Upload { client_id: "shop", file_name: Some("k.csv"), source: batch::Source::Api, format: batch::Format::Csv, allow_debits: true, bytes: file.as_bytes() };
    let accepted = batch::accept(app.db(), upload, domain::now_ms()).await.unwrap();
    let rows = batch::parse(file.as_bytes(), batch::Format::Csv).unwrap();
    batch::apply(app.db(), &EarningRules::default(), "shop", true, &rows[..1], domain::now_ms()).await.unwrap();
    let (status, body) = get(&app, &t, &format!("{BATCH}/{}", accepted.id)).await;
    assert_eq!((status, body["data"]["status"].as_str()), (StatusCode::OK, Some("PROCESSING")));
    let (status, body) = get(&app, &t, &format!("{BATCH}/{}/result.csv", accepted.id)).await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::CONFLICT, "BATCH_PROCESSING"));
    assert_eq!(balance(&app, &t, &sj).await, 8);
    app.stop().await;

    let app = TestApp::spawn_with(|c| c.database_url = database_url.clone()).await;
    let t = partner_token(&app, "shop", &secret).await;
    let done = wait_until_done(&app, &t, &accepted.id).await;
    assert_eq!((done["succeeded"].as_i64(), done["replayed"].as_i64()), (Some(2), Some(1)), "the row applied before the stop is a replay");
    assert_eq!(balance(&app, &t, &sj).await, 10, "nothing applied twice");
    assert!(domain::ledger::inconsistent_accounts(app.db()).await.unwrap().is_empty());
    app.stop().await;
}
