//! Batch files: each format, each row code, whole-file refusals, re-uploads and restarts.

use serde_json::{Map, Value};

use super::*;
use crate::{
    csv_file,
    identity::{
        members::{self, NewMember},
        FullName, PhoneNumber,
    },
    ledger::EarningRules,
    store::Db,
    ledger::{balance, inconsistent_accounts, EarningRule, Kind, Posting},
    store::testing::temp_db,
};

const T0: i64 = 1_763_800_000_000;
const HEADER: &str = "type,skyjoyId,transactionId,transactionDate,transactionAmount,usedPoint,transactionCurrency";

async fn member(db: &Db, phone: &str) -> (String, String) {
    let new =
        NewMember { phone: PhoneNumber::parse(phone).unwrap(), full_name: FullName::parse("Batch Test").unwrap(), date_of_birth: None, email: None };
    let m = members::create(db, new, None, T0).await.unwrap();
    (m.id, m.skyjoy_id.to_string())
}

fn fields(row: &Row) -> &Map<String, Value> {
    row.fields.as_ref().unwrap()
}

fn codes(results: &[RowResult]) -> Vec<&'static str> {
    results.iter().map(|r| r.code.map_or("SUCCESS", RowCode::as_str)).collect()
}

#[test]
fn csv_follows_rfc_4180_quoting_and_counts_lines() {
    let file = "\u{feff}TransactionId, type ,skyjoyId,transactionDate,transactionAmount\r\n\
                \"A,1\",ACCRUAL,SJ3609438573,1678896000000,152123\r\n\
                \r\n\
                \"say \"\"hi\"\"\nthere\",ACCRUAL,SJ3609438573,2024-10-09T07:25:37.784Z,\"10000\"\n\
                B-3,ACCRUAL,SJ36\"09,1,1\n\
                \"C-4\"x,ACCRUAL,SJ3609438573,1,1\n\
                D-5,ACCRUAL\n\
                E-6,REDEMPTION,SJ3609438573,1,";
    let rows = parse(file.as_bytes(), Format::Csv).unwrap();
    assert_eq!(rows.iter().map(|r| (r.row, r.line)).collect::<Vec<_>>(), [(1, 2), (2, 4), (3, 6), (4, 7), (5, 8), (6, 9)]);
    assert_eq!(fields(&rows[0])["transactionId"], "A,1", "header names match in any case, in any order");
    assert_eq!(fields(&rows[0])["type"], "ACCRUAL");
    assert_eq!(fields(&rows[1])["transactionId"], "say \"hi\"\nthere");
    assert_eq!(fields(&rows[1])["transactionAmount"], "10000");
    assert_eq!(rows[2].fields, Err("a field that is not quoted has a quote in it".to_string()));
    assert_eq!(rows[3].fields, Err("a quoted field has characters after its closing quote".to_string()));
    assert_eq!(rows[4].fields, Err("the row has 2 fields, the header 5".to_string()));
    assert!(!fields(&rows[5]).contains_key("transactionAmount"), "an empty cell is no field");

    assert_eq!(
        parse(b"type,skyjoyId,transactionId,transactionDate,transactionAmount\nACCRUAL,\"SJ1\n", Format::Csv),
        Err(FileError::UnclosedQuote(2))
    );
}

#[test]
fn a_wrong_file_is_refused_as_a_whole() {
    let header_error = |file: &str| match parse(file.as_bytes(), Format::Csv) {
        Err(FileError::InvalidHeader(why)) => why,
        other => panic!("{other:?}"),
    };
    assert!(header_error("type,skyjoyId,transactionId,transactionDate,transactionAmount,usedPoints\nACCRUAL,,,,,\n")
        .contains("unknown column \"usedPoints\""));
    assert!(header_error("type,skyjoyId,transactionId,transactionDate\nACCRUAL,,,\n").contains("\"transactionAmount\" is missing"));
    assert!(header_error("type,skyjoyId,transactionId,transactionDate,transactionAmount,TYPE\n").contains("\"type\" appears twice"));
    assert_eq!(parse(format!("{HEADER}\r\n\r\n").as_bytes(), Format::Csv), Err(FileError::Empty));
    assert_eq!(parse(b"", Format::JsonLines), Err(FileError::Empty));
    assert_eq!(parse(b"type\xff", Format::Csv), Err(FileError::NotUtf8));
    assert_eq!(parse(&vec![b'\n'; MAX_BYTES + 1], Format::JsonLines), Err(FileError::TooLarge));
    let many = format!("{HEADER}\n{}", "x\n".repeat(MAX_ROWS + 1));
    assert_eq!(parse(many.as_bytes(), Format::Csv), Err(FileError::TooManyRows));
    assert_eq!(parse(format!("{HEADER}\n{}", "x\n".repeat(MAX_ROWS)).as_bytes(), Format::Csv).map(|r| r.len()), Ok(MAX_ROWS));
    assert_eq!((FileError::TooManyRows.code(), FileError::UnclosedQuote(3).code()), ("TOO_MANY_ROWS", "INVALID_FILE"));
}

#[test]
fn json_lines_are_one_object_per_line() {
    let file = "{\"type\":\"ACCRUAL\",\"skyjoyId\":\"SJ3609438573\",\"transactionId\":\"J-1\",\"transactionDate\":1678896000000,\"transactionAmount\":10000,\"extraData\":{\"a\":1}}\r\n\
                \n\
                [1,2]\n\
                {\"type\":\n";
    let rows = parse(file.as_bytes(), Format::JsonLines).unwrap();
    assert_eq!(rows.iter().map(|r| (r.row, r.line)).collect::<Vec<_>>(), [(1, 1), (2, 3), (3, 4)]);
    assert_eq!(fields(&rows[0])["transactionAmount"], 10000);
    assert_eq!(rows[1].fields, Err("the line is not a JSON object".to_string()));
    assert!(rows[2].fields.as_ref().unwrap_err().starts_with("the line is not valid JSON"));
    assert_eq!(Format::from_media_type("text/csv; charset=utf-8"), Some(Format::Csv));
    assert_eq!(Format::from_media_type("application/x-ndjson"), Some(Format::JsonLines));
    assert_eq!((Format::from_file_name("points.JSONL"), Format::from_file_name("points.csv.tmp")), (Some(Format::JsonLines), None));
}

#[tokio::test]
async fn good_rows_apply_bad_rows_get_their_code_and_a_second_upload_changes_nothing() {
    let (_d, db) = temp_db().await;
    let (m, sj) = member(&db, "0912345678").await;
    let rules = EarningRules::default(); // 1 point per 10,000 VND
    let file = format!(
        "{HEADER}\n\
         ACCRUAL,{sj},A-1,1678896000000,152123,,VND\n\
         REDEMPTION,{sj},R-1,2024-10-09T07:25:37.784Z,55000,13,\n\
         REFUND,{sj},X-1,1678896000000,1000,,\n\
         ACCRUAL,SJ12,X-2,1678896000000,100000,,\n\
         ACCRUAL,SJ0000000000,X-3,1678896000000,100000,,\n\
         ACCRUAL,{sj},,1678896000000,100000,,\n\
         ACCRUAL,{sj},X-5,yesterday,100000,,\n\
         ACCRUAL,{sj},X-6,1678896000000,-1,,\n\
         ACCRUAL,{sj},X-7,1678896000000,100000,,USD\n\
         ACCRUAL,{sj},X-8,1678896000000,9999,,\n\
         REDEMPTION,{sj},X-9,1678896000000,0,0,\n\
         REDEMPTION,{sj},X-10,1678896000000,0,100,\n\
         ACCRUAL,{sj},A-1,1678896000000,152123,,\n\
         ACCRUAL,{sj},A-1,1678896000000,999999,,\n\
         not a row\n\
         ACCRUAL,{sj},A-2,1678896000000,20000,,\n"
    );
    let upload = Upload { client_id: "shop", file_name: Some("day.csv"), source: Source::Api, format: Format::Csv, bytes: file.as_bytes(), allow_debits: true };
    let first = run(&db, &rules, upload, T0).await.unwrap();
    assert_eq!(
        codes(&first.results),
        [
            "SUCCESS",
            "SUCCESS",
            "INVALID_TYPE",
            "INVALID_SKYJOY_ID",
            "MEMBER_NOT_FOUND",
            "INVALID_TRANSACTION_ID",
            "INVALID_TRANSACTION_DATE",
            "INVALID_TRANSACTION_AMOUNT",
            "INVALID_CURRENCY",
            "NO_POINTS_EARNED",
            "INVALID_USED_POINT",
            "INSUFFICIENT_BALANCE",
            "SUCCESS",
            "DUPLICATE_TRANSACTION",
            "INVALID_ROW",
            "SUCCESS",
        ]
    );
    let r = &first.results;
    assert_eq!((r[0].points, r[0].new_balance, r[0].replayed), (Some(15), Some(15), false));
    assert_eq!((r[1].points, r[1].new_balance), (Some(-13), Some(2)));
    assert_eq!((r[12].bit_reference.as_deref(), r[12].replayed), (r[0].bit_reference.as_deref(), true), "the same row again in the file is a replay");
    assert_eq!((r[15].row, r[15].line, r[15].new_balance), (16, 17, Some(4)));
    assert_eq!((r[2].transaction_id.as_str(), r[5].transaction_id.as_str(), r[14].transaction_id.as_str()), ("X-1", "", ""));
    let b = &first.batch;
    assert_eq!((b.total, b.succeeded, b.failed, b.replayed), (16, 4, 12, 1));
    assert_eq!(balance(&db, &m).await.unwrap(), (4, 0));

    let again = run(&db, &rules, upload, T0 + 1000).await.unwrap();
    assert_eq!(codes(&again.results), codes(&first.results));
    assert!(again.results.iter().filter(|r| r.status == Status::Success).all(|r| r.replayed), "nothing applied twice");
    assert_eq!(again.results[0].bit_reference, first.results[0].bit_reference);
    assert_eq!((again.batch.succeeded, again.batch.replayed), (4, 4));
    assert_ne!(again.batch.id, first.batch.id);
    assert_eq!(balance(&db, &m).await.unwrap(), (4, 0));
    assert!(inconsistent_accounts(&db).await.unwrap().is_empty());
}

#[tokio::test]
async fn json_lines_use_the_same_rules_and_the_partners_earning_rule() {
    let (_d, db) = temp_db().await;
    let (m, sj) = member(&db, "0987654321").await;
    let mut rules = EarningRules::default();
    rules.partners.insert("shop".into(), EarningRule { vnd_per_point: 1_000, ..EarningRule::default() });
    let file = format!(
        "{{\"type\":\"ACCRUAL\",\"skyjoyId\":\"{sj}\",\"transactionId\":\"J-1\",\"transactionDate\":1678896000000,\"transactionAmount\":5000,\"transactionCurrency\":null,\"itemId\":\"x\"}}\n\
         {{\"type\":\"redemption\",\"skyjoyId\":\"{sj}\",\"transactionId\":\"J-2\",\"transactionDate\":\"2024-10-09T07:25:37.784Z\",\"transactionAmount\":0,\"usedPoint\":2}}\n\
         {{\"type\":\"ACCRUAL\",\"skyjoyId\":\"{sj}\",\"transactionId\":\"J-3\",\"transactionDate\":1678896000000,\"transactionAmount\":5000,\"usedPoint\":1}}\n\
         {{\"type\":\"ACCRUAL\",\"skyjoyId\":\"{sj}\",\"transactionId\":\"J-4\",\"transactionDate\":1678896000000,\"transactionAmount\":5.5}}\n"
    );
    let rows = parse(file.as_bytes(), Format::JsonLines).unwrap();
    let results = apply(&db, &rules, "shop", true, &rows, T0).await.unwrap();
    assert_eq!(codes(&results), ["SUCCESS", "SUCCESS", "INVALID_USED_POINT", "INVALID_TRANSACTION_AMOUNT"]);
    assert_eq!((results[0].points, results[1].new_balance), (Some(5), Some(3)));
    assert_eq!(balance(&db, &m).await.unwrap(), (3, 0));

    // A row and a point-API call with one transactionId are one transaction.
    let api = Posting {
        client_id: "shop".into(),
        transaction_id: "API-1".into(),
        member_id: m.clone(),
        kind: Kind::Accrual,
        points: 7,
        amount: Some(7_000),
        currency: Some("VND".into()),
    };
    let posted = crate::ledger::post(&db, &api, T0).await.unwrap();
    let row = format!("{HEADER}\nACCRUAL,{sj},API-1,1678896000000,7000,,\n");
    let results = apply(&db, &rules, "shop", true, &parse(row.as_bytes(), Format::Csv).unwrap(), T0).await.unwrap();
    assert_eq!((results[0].replayed, results[0].bit_reference.as_deref()), (true, Some(posted.entry.bit_reference.as_str())));
}

#[tokio::test]
async fn the_result_file_is_csv_and_only_its_partner_reads_the_batch() {
    let (_d, db) = temp_db().await;
    let file = format!("{HEADER}\nREFUND,SJ3609438573,\"T,1 \"\"x\"\"\",1,1,,\n");
    let upload = Upload { client_id: "shop", file_name: None, source: Source::Inbound, format: Format::Csv, bytes: file.as_bytes(), allow_debits: true };
    let done = run(&db, &EarningRules::default(), upload, T0).await.unwrap();
    assert_eq!(
        done.result_csv,
        format!("{RESULT_HEADER}\r\n1,2,\"T,1 \"\"x\"\"\",FAILED,INVALID_TYPE,\"type is required: ACCRUAL, REDEMPTION or ADJUSTMENT\",,,,false\r\n")
    );
    let back = parse(done.result_csv.as_bytes(), Format::Csv);
    assert!(matches!(back, Err(FileError::InvalidHeader(_))), "a result file is not an upload");
    let records: Vec<csv_file::Record> = csv_file::records(done.result_csv.as_bytes()).unwrap().map(Result::unwrap).collect();
    assert_eq!(records[1].fields.as_ref().unwrap()[2], "T,1 \"x\"", "the result file quotes what needs it");

    let stored = find(&db, "shop", &done.batch.id).await.unwrap().unwrap();
    assert_eq!(stored, done.batch);
    assert_eq!(stored.source, Source::Inbound);
    assert_eq!(result_file(&db, "shop", &done.batch.id).await.unwrap().as_deref(), Some(done.result_csv.as_str()));
    assert_eq!(find(&db, "airline", &done.batch.id).await.unwrap(), None);
    assert_eq!(result_file(&db, "airline", &done.batch.id).await.unwrap(), None);

    assert_eq!(accept(&db, Upload { bytes: b"type\n", ..upload }, T0).await.unwrap_err().to_string(), "the header row is wrong: the required column \"skyjoyId\" is missing (the columns are type, skyjoyId, transactionId, transactionDate, transactionAmount, usedPoint, point, transactionCurrency)");
    let refused = refused_csv(&FileError::InvalidHeader("unknown column \"x\"".into()));
    assert_eq!(refused, format!("{RESULT_HEADER}\r\n0,0,,FAILED,INVALID_HEADER,\"the header row is wrong: unknown column \"\"x\"\"\",,,,false\r\n"));
}

#[tokio::test]
async fn an_accepted_upload_cut_short_by_a_restart_is_completed_without_applying_a_row_twice() {
    let (_d, db) = temp_db().await;
    let (m, sj) = member(&db, "0911222333").await;
    let rules = EarningRules::default();
    let file =
        format!("{HEADER}\nACCRUAL,{sj},C-1,1678896000000,50000,,\nACCRUAL,{sj},C-2,1678896000000,30000,,\nREDEMPTION,{sj},C-3,1678896000000,0,6,\n");
    let upload = Upload { client_id: "shop", file_name: Some("c.csv"), source: Source::Api, format: Format::Csv, bytes: file.as_bytes(), allow_debits: true };
    let accepted = accept(&db, upload, T0).await.unwrap();
    assert_eq!((accepted.status, accepted.total), (BatchStatus::Processing, 3));
    assert_eq!(find(&db, "shop", &accepted.id).await.unwrap(), Some(accepted.clone()));
    assert_eq!(result_file(&db, "shop", &accepted.id).await.unwrap(), None, "no result file before it is done");
    assert_eq!(unfinished(&db, T0 + 1).await.unwrap(), [accepted.id.clone()]);
    assert!(unfinished(&db, T0).await.unwrap().is_empty(), "only batches accepted before the worker started");

    // The first row was applied, then the server stopped.
    let rows = parse(file.as_bytes(), Format::Csv).unwrap();
    apply(&db, &rules, "shop", true, &rows[..1], T0).await.unwrap();
    let done = complete(&db, &rules, &accepted.id, T0 + 5).await.unwrap();
    assert_eq!(done.results.iter().map(|r| r.replayed).collect::<Vec<_>>(), [true, false, false]);
    assert_eq!((done.batch.status, done.batch.succeeded, done.batch.replayed, done.batch.created_at_ms), (BatchStatus::Done, 3, 1, T0));
    assert_eq!(balance(&db, &m).await.unwrap(), (2, 0));
    assert_eq!(find(&db, "shop", &accepted.id).await.unwrap(), Some(done.batch.clone()));
    assert_eq!(result_file(&db, "shop", &accepted.id).await.unwrap(), Some(done.result_csv.clone()));
    assert!(unfinished(&db, T0 + 10).await.unwrap().is_empty());
    assert!(inconsistent_accounts(&db).await.unwrap().is_empty());
}

#[tokio::test]
async fn adjustment_rows_correct_points_and_debits_need_the_redeem_scope() {
    let (_d, db) = temp_db().await;
    let (m, sj) = member(&db, "0912777888").await;
    let rules = EarningRules::default();
    let file = format!(
        "type,skyjoyId,transactionId,transactionDate,transactionAmount,point\n\
         ADJUSTMENT,{sj},FIX-1,1678896000000,,40\n\
         ADJUSTMENT,{sj},FIX-2,1678896000000,,-15\n\
         ADJUSTMENT,{sj},FIX-3,1678896000000,,0\n\
         ACCRUAL,{sj},FIX-4,1678896000000,100000,5\n\
         ADJUSTMENT,{sj},FIX-5,1678896000000,,-100\n"
    );
    let upload = |allow_debits| Upload { client_id: "shop", file_name: None, source: Source::Api, format: Format::Csv, bytes: file.as_bytes(), allow_debits };
    let earn_only = run(&db, &rules, upload(false), T0).await.unwrap();
    assert_eq!(codes(&earn_only.results), ["SUCCESS", "FORBIDDEN", "INVALID_POINT", "INVALID_POINT", "FORBIDDEN"]);
    assert_eq!(balance(&db, &m).await.unwrap(), (40, 0));
    let full = run(&db, &rules, upload(true), T0 + 1).await.unwrap();
    assert_eq!(codes(&full.results), ["SUCCESS", "SUCCESS", "INVALID_POINT", "INVALID_POINT", "INSUFFICIENT_BALANCE"]);
    assert!(full.results[0].replayed && !full.results[1].replayed);
    assert_eq!(balance(&db, &m).await.unwrap(), (25, 0));
    assert!(inconsistent_accounts(&db).await.unwrap().is_empty());
}
