//! The parsers that read what partners send, fed generated input (proptest, on stable Rust):
//! signature headers (Alipay+ `Signature`, `gj-signature`, Tiki's timestamp), point requests,
//! batch files (CSV, JSON Lines), Tiki reconciliation files, reward-task envelopes, benefit
//! fields, and the OIDC request parsers (Bearer access tokens, PKCE, authorization responses). Each property says what must hold for any input: no panic, and
//! what is accepted is inside its documented range.
//!
//! `make test` runs the default 256 cases per property; `make fuzz` runs the same properties
//! with `PROPTEST_CASES` in the tens of thousands (README "Robustness"). A failure prints the
//! smallest input proptest found; keep it below as a regression case.

use domain::{
    benefits::fields,
    ledger::{
        batch,
        request::{self, Operation},
        EarningRule, PointRequest, RawPointRequest, Rounding,
    },
    rewards::{Command, Envelope},
    signing::{alipay_plus, loyalty_task, skyjoy_webhook, tikivip, RsaPrivateKey, TimestampWindow},
    tikivip::reconcile,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

const NOW: i64 = 1_763_800_000_000;

/// Any JSON value, numbers at the edges of every range included.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![
            any::<i64>(),
            Just(i64::MAX),
            Just(i64::MIN),
            Just(request::MAX_AMOUNT),
            Just(request::MAX_AMOUNT + 1),
            Just(request::MAX_POINTS),
            Just(request::MAX_POINTS + 1),
            Just(request::MIN_DATE_MS - 1),
            Just(request::MAX_DATE_MS),
            -3i64..3,
        ]
        .prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Text that looks like what the parsers expect often enough to get past their first check:
/// digits, dates, ids, signs, quotes, control characters, other scripts, and long runs.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "[0-9]{0,20}",
        "-?[0-9]{1,19}(\\.[0-9]{1,3})?",
        "(19|20|21|99)[0-9]{2}-[01][0-9]-[0-3][0-9]([T ][0-2][0-9]:[0-5][0-9]:[0-5][0-9](\\.[0-9]{3})?(Z|[+-][0-2][0-9]:?[0-5][0-9])?)?",
        "SJ[0-9A-Z]{0,12}",
        "[A-Za-z0-9_\\-]{60,70}",
        "[ \t\r\n\u{0}\u{7f}\u{feff}\u{202e}]{0,4}[a-z0-9]{0,6}[ \t\r\n\u{0}]{0,3}",
        Just("null".to_string()),
        Just("VND".to_string()),
        "[a-zA-Z0-9]{0,2}".prop_map(|s| s.repeat(300)),
    ]
}

/// Object keys: mostly the names the parsers read, sometimes anything.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec![
            "skyjoyId", "transactionId", "transactionDate", "transactionAmount", "usedPoint", "point",
            "transactionCurrency", "type", "Subject", "SubjectType", "SubjectIdentifier", "Action",
            "ResourceType", "Resource", "ResourceId", "ScopeSource", "Data", "trxId", "memberId",
            "memberName", "refference", "userFromStatus", "userId", "userIdShare", "deviceType",
            "installId", "signature", "data", "trxAmount", "trxDate", "product_id", "memberQtagPhone",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z]{0,8}",
    ]
}

/// An envelope the router accepts (so the generated Data reaches the command parser), with
/// generated Data.
fn envelope() -> impl Strategy<Value = Value> {
    let action = proptest::sample::select(vec!["transaction", "luckydraw", "register", "registerreferral", "transactionreferral", "dailycheckin", "TRANSACTION", "other"]);
    let data_field = prop_oneof![
        (Just("memberId".to_string()), prop_oneof![text().prop_map(Value::String), json()]),
        (Just("trxId".to_string()), prop_oneof![text().prop_map(Value::String), any::<i64>().prop_map(Value::from)]),
        (Just("data".to_string()), proptest::collection::vec(row(), 0..4).prop_map(Value::Array)),
        (key(), json()),
    ];
    (action, proptest::collection::vec(data_field, 0..10), json()).prop_map(|(action, data, extra)| {
        serde_json::json!({
            "Subject": "loyalty", "SubjectType": "reward", "SubjectIdentifier": "task", "Action": action,
            "ResourceType": "null", "Resource": "null", "ResourceId": "null", "ScopeSource": extra,
            "Data": Value::Object(data.into_iter().collect::<Map<String, Value>>()),
        })
    })
}

fn row() -> impl Strategy<Value = Value> {
    (json(), prop_oneof![text().prop_map(Value::String), json()], json()).prop_map(|(amount, date, product)| {
        serde_json::json!({ "trxAmount": amount, "trxDate": date, "product_id": product })
    })
}

/// CSV text built from the pieces a batch file is made of (header names, separators, quotes,
/// line ends, a byte-order mark), so that most inputs have a valid header.
fn batch_csv() -> impl Strategy<Value = Vec<u8>> {
    let cell = prop_oneof![
        text(),
        Just("\"".to_string()),
        Just("\"a,\"\"b\"\"\"".to_string()),
        proptest::sample::select(vec!["ACCRUAL", "redemption", "ADJUSTMENT", "SJ0000000001", "2026-11-01T10:00:00Z", "50000", "-5", "VND"]).prop_map(str::to_string),
    ];
    let line = proptest::collection::vec(cell, 0..9).prop_map(|cells| cells.join(","));
    let end = proptest::sample::select(vec!["\n", "\r\n", "\r", ""]);
    (any::<bool>(), proptest::collection::vec((line, end), 0..12)).prop_map(|(bom, lines)| {
        let mut out = String::new();
        if bom {
            out.push('\u{feff}');
        }
        out.push_str("type,skyjoyId,transactionId,transactionDate,transactionAmount,usedPoint,point,transactionCurrency\n");
        for (l, e) in lines {
            out.push_str(&l);
            out.push_str(e);
        }
        out.into_bytes()
    })
}

/// A partner's reconciliation file under Tiki's header (`reconcile::HEADER`), with cells a
/// partner could send (ids, amounts, statuses, times) mixed with any text, quotes and line ends.
fn reconciliation_csv() -> impl Strategy<Value = Vec<u8>> {
    let id = (0u32..5).prop_map(|n| format!("221115TIKIVIP-23578437{n}-1668488254"));
    let cell = prop_oneof![
        3 => id,
        2 => proptest::sample::select(vec!["SUCCESS", "FAILURE", "PENDING", "success", "REFUNDED", "99000", "-1", "0", "9223372036854775808", "PT-1", "", "2026-11-01 10:00:00", "1668488254000"])
            .prop_map(str::to_string),
        1 => text(),
        1 => Just("\"a,\"\"b\"\"\"".to_string()),
    ];
    // a line as a partner writes it: six fields, each well formed or not
    let row = (
        0u32..5,
        proptest::sample::select(vec!["PT-1", "PT-2", ""]),
        prop_oneof![(0i64..10_000_000).prop_map(|a| a.to_string()), Just("-1".to_string()), Just("9.5".to_string())],
        proptest::sample::select(vec!["SUCCESS", "FAILURE", "PENDING", "REFUNDED"]),
        proptest::sample::select(vec!["2026-11-01 10:00:00", "1668488254000", "yesterday"]),
    )
        .prop_map(|(n, t, a, st, at)| format!("221115TIKIVIP-23578437{n}-1668488254,{t},{a},{st},{at},{at}"));
    let line = prop_oneof![2 => row, 1 => proptest::collection::vec(cell, 0..8).prop_map(|cells| cells.join(","))];
    let end = proptest::sample::select(vec!["\n", "\r\n", "\r", ""]);
    (any::<bool>(), proptest::collection::vec((line, end), 0..12)).prop_map(|(bom, lines)| {
        let mut out = String::new();
        if bom {
            out.push('\u{feff}');
        }
        out.push_str(reconcile::HEADER);
        out.push('\n');
        for (l, e) in lines {
            out.push_str(&l);
            out.push_str(e);
        }
        out.into_bytes()
    })
}

fn batch_jsonl() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        json().prop_map(|v| v.to_string()),
        proptest::collection::vec((key(), json()), 0..8).prop_map(|kv| Value::Object(kv.into_iter().collect()).to_string()),
        text(),
    ];
    proptest::collection::vec((line, proptest::sample::select(vec!["\n", "\r\n", ""])), 0..10)
        .prop_map(|lines| lines.into_iter().flat_map(|(l, e)| [l, e.to_string()]).collect::<String>().into_bytes())
}

fn assert_id(s: &str, max_chars: usize) {
    assert!(!s.trim().is_empty() && s.chars().count() <= max_chars && !s.chars().any(char::is_control), "{s:?}");
}

proptest! {
    /// A point request is accepted only with every field in its documented range, and the
    /// posting made from it never overflows whatever the earning rule.
    #[test]
    fn point_requests_are_in_range_or_refused(
        op in proptest::sample::select(vec![Operation::Accrual, Operation::Redemption, Operation::Adjustment]),
        fields in proptest::collection::vec((key(), json()), 0..10),
        vnd_per_point in prop_oneof![Just(1i64), Just(i64::MAX), any::<i64>()],
        rounding in proptest::sample::select(vec![Rounding::Down, Rounding::Nearest, Rounding::Up]),
        max_points in any::<i64>(),
    ) {
        let object: Map<String, Value> = fields.into_iter().collect();
        let Ok(req) = PointRequest::try_from(RawPointRequest::from_object(op, &object)) else { return Ok(()) };
        assert_id(req.transaction_id.as_str(), 64);
        prop_assert!((request::MIN_DATE_MS..request::MAX_DATE_MS).contains(&req.transaction_date.ms));
        let rule = EarningRule { vnd_per_point, rounding, max_points };
        if let Ok(posting) = req.posting("partner", "member", &rule, true) {
            prop_assert!(posting.points != 0 && posting.points.unsigned_abs() <= request::MAX_POINTS as u64, "{posting:?}");
            prop_assert!(posting.amount.is_none_or(|a| (0..=request::MAX_AMOUNT).contains(&a)));
        }
    }

    /// Batch files: whatever the bytes, a file is read into rows or refused with its code;
    /// rows come in line order, within the row limit.
    #[test]
    fn batch_files_read_or_refuse(csv in batch_csv(), jsonl in batch_jsonl(), raw in proptest::collection::vec(any::<u8>(), 0..200)) {
        for (bytes, format) in [(&csv, batch::Format::Csv), (&jsonl, batch::Format::JsonLines), (&raw, batch::Format::Csv), (&raw, batch::Format::JsonLines)] {
            match batch::parse(bytes, format) {
                Ok(rows) => {
                    prop_assert!(!rows.is_empty());
                    prop_assert!(rows.windows(2).all(|w| w[0].line < w[1].line), "lines in order");
                    for row in rows.iter().filter_map(|r| r.fields.as_ref().ok()) {
                        let op = Operation::parse(row.get("type")).unwrap_or(Operation::Accrual);
                        let _ = PointRequest::try_from(RawPointRequest::from_object(op, row));
                    }
                }
                Err(e) => prop_assert!(!e.code().is_empty()),
            }
        }
    }

    /// Tiki's reconciliation files: every data line is a row or an invalid row, never both; a
    /// row has a known status, a whole amount from 0 and an id; under Tiki's header the file is
    /// read line by line, not refused whole.
    #[test]
    fn reconciliation_files_account_for_every_line(
        tiki in reconciliation_csv(),
        csv in batch_csv(),
        raw in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let file = reconcile::read_partner_file(&tiki);
        prop_assert!(file.data_lines == 0 || file.rows.len() + file.invalid.len() == file.data_lines, "{file:?}");
        prop_assert!(!file.invalid.iter().any(|i| i.reason.starts_with("the header is not right")), "Tiki's header was refused: {file:?}");
        for row in &file.rows {
            prop_assert!(row.amount >= 0 && !row.tiki_transaction_id.is_empty(), "{row:?}");
        }
        for bytes in [&csv, &raw] {
            let file = reconcile::read_partner_file(bytes);
            // each data record is a row or an invalid row, never both, never neither; a file that
            // cannot be read (header, encoding) is one invalid line and nothing else
            let (rows, invalid, records) = (file.rows.len(), file.invalid.len(), file.data_lines);
            prop_assert!(rows + invalid == records || (rows == 0 && invalid == 1 && records == 0 && !file.whole), "{rows} rows, {invalid} invalid, {records} records");
        }
    }

    /// Reward-task envelopes: routed, then read into a command valid for its action, or refused
    /// with a message; what is accepted has ids without control characters and amounts in range.
    #[test]
    fn reward_envelopes_are_commands_or_refusals(message in prop_oneof![envelope(), json()]) {
        let Ok(envelope) = Envelope::try_from(&message) else { return Ok(()) };
        let Ok(command) = Command::try_from(&envelope) else { return Ok(()) };
        assert_id(command.member.as_str(), 64);
        prop_assert!(command.total_amount >= 0);
        prop_assert!(command.rows.iter().all(|r| r.amount.is_none_or(|a| (0..=request::MAX_AMOUNT).contains(&a))));
        for id in [&command.trx_id, &command.refference].into_iter().flatten() {
            prop_assert!(!id.chars().any(char::is_control), "{id:?}");
        }
        let _ = command.business_key(time::macros::date!(2026 - 11 - 01));
        let _ = command.request_hash();
        // the signed string of any Data is made without a panic
        let _ = loyalty_task::canonical_data(&envelope.data);
    }

    /// Signature headers: a valid Alipay+ header with one change is refused, and no header or
    /// time string makes a parser panic.
    #[test]
    fn signature_headers_parse_or_refuse(
        header in prop_oneof![
            ".{0,120}",
            "(algorithm|keyVersion|signature)=[A-Za-z0-9%+/=]{0,12}(,[ a-zA-Z]{0,12}=[A-Za-z0-9%+/=.\\-]{0,20}){0,4}",
            "t=-?[0-9]{0,20}(,v1=[0-9a-f]{0,64}){0,2}",
        ],
        time in prop_oneof![".{0,30}", "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([+-][0-9]{2}:[0-9]{2}|Z)?", "-?[0-9]{0,22}"],
    ) {
        let _ = alipay_plus::parse_header(&header);
        if let Ok(ms) = alipay_plus::parse_time_ms(&time) {
            let _ = alipay_plus::format_time(ms);
        }
        let _ = alipay_plus::check_time(&time, TimestampWindow::FIVE_MINUTES, NOW);
        let _ = skyjoy_webhook::verify(b"secret", &header, b"{}", TimestampWindow::FIVE_MINUTES, NOW);
        let _ = tikivip::parse_timestamp(&time);
        let _ = tikivip::verify(b"secret", NOW, "client", b"{}", &header, TimestampWindow::FIVE_MINUTES, NOW);
    }

    /// The benefit APIs' fields: times, amounts, quantities and ids are in range when accepted.
    #[test]
    fn benefit_fields_are_in_range_or_refused(s in text(), n in any::<i64>(), currency in "[A-Z]{0,4}|.{0,5}") {
        if let Ok(ms) = fields::parse_wire_time("time", &s) {
            prop_assert_eq!(fields::parse_wire_time("time", &fields::wire_time(ms)), Ok(ms));
        }
        let _ = fields::parse_operator_time("time", &s);
        if let Ok(q) = fields::Quantity::new(n) {
            prop_assert!(q.get() >= 1);
        }
        let _ = fields::Amount::parse(&currency, &s);
        let _ = fields::Amount::new(&currency, n);
        for id in [fields::TemplateId::parse(&s).map(|i| i.as_str().to_string()), fields::IssueRequestId::parse(&s).map(|i| i.as_str().to_string())].into_iter().flatten() {
            prop_assert!(!id.is_empty() && !id.chars().any(char::is_control), "{id:?}");
        }
    }
}

/// Alipay+ headers: one key, a signature over generated requests verifies, and the same header
/// with one character changed is refused (a few cases: RSA signing is slow).
#[test]
fn alipay_plus_headers_changed_anywhere_are_refused() {
    let key = RsaPrivateKey::generate_2048().expect("an RSA key");
    let public = key.public_key();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: slow_cases(16), ..ProptestConfig::default() });
    runner
        .run(&(proptest::collection::vec(any::<u8>(), 0..256), any::<prop::sample::Index>(), any::<u8>()), |(body, at, with)| {
            let time = alipay_plus::format_time(NOW);
            let header = alipay_plus::sign_header(&key, 1, "POST", "/v1/benefit/issueBenefit", "client", &time, &body);
            prop_assert!(alipay_plus::verify(&public, &header, "POST", "/v1/benefit/issueBenefit", "client", &time, &body).is_ok());
            let mut changed = header.clone().into_bytes();
            let i = at.index(changed.len());
            changed[i] = if changed[i] == with { with ^ 1 } else { with };
            if let Ok(changed) = String::from_utf8(changed) {
                // A change the parser reads back the same (the case of a name, a space, an
                // unknown field) verifies; the key version picks the key, it is not signed; any
                // change to the algorithm or the signature is refused.
                let original = alipay_plus::parse_header(&header).unwrap();
                let verified = alipay_plus::verify(&public, &changed, "POST", "/v1/benefit/issueBenefit", "client", &time, &body);
                match alipay_plus::parse_header(&changed) {
                    Ok(h) if h.algorithm == original.algorithm && h.signature == original.signature => prop_assert!(verified.is_ok(), "{changed}"),
                    _ => prop_assert!(verified.is_err(), "{changed}"),
                }
            }
            Ok(())
        })
        .unwrap();
}

/// Loyalty-task signatures: any Data with any `signature` value is refused unless it is ours.
#[test]
fn loyalty_task_signatures_refuse_generated_data() {
    let key = RsaPrivateKey::generate_2048().expect("an RSA key");
    let public = key.public_key();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: slow_cases(64), ..ProptestConfig::default() });
    runner
        .run(&(proptest::collection::vec((key_name(), json()), 0..8), prop_oneof![json(), "[A-Za-z0-9+/=]{0,400}".prop_map(Value::String)]), |(fields, sig)| {
            let mut data: Map<String, Value> = fields.into_iter().collect();
            data.insert("signature".into(), sig);
            prop_assert!(loyalty_task::verify_data(&public, &data).is_err());
            loyalty_task::sign_data(&key, &mut data);
            prop_assert!(loyalty_task::verify_data(&public, &data).is_ok());
            Ok(())
        })
        .unwrap();
}

fn key_name() -> impl Strategy<Value = String> {
    key()
}

/// Properties that sign with RSA run `n` cases, or a sixteenth of `PROPTEST_CASES` when that
/// is more (`make fuzz`).
fn slow_cases(n: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse::<u32>().ok()).map_or(n, |c| (c / 16).max(n))
}

/// The reconciliation generator reaches the reader's rows, not only its refusals: of 300 files,
/// some hold valid rows and some invalid ones.
#[test]
fn the_reconciliation_generator_reaches_rows_and_refusals() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut rows, mut invalid) = (0, 0);
    for _ in 0..300 {
        let file = reconcile::read_partner_file(&reconciliation_csv().new_tree(&mut runner).unwrap().current());
        rows += file.rows.len();
        invalid += file.invalid.len();
    }
    assert!(rows >= 10 && invalid >= 10, "{rows} rows, {invalid} invalid rows");
}

/// A key ring (its first keys, made once in a throwaway database) and an access token it signed
/// for each algorithm, for the OIDC properties.
fn ring_and_tokens() -> &'static (domain::identity::signing_keys::KeyRing, Vec<String>) {
    use domain::identity::{
        signing_keys::{Alg, KeyRing},
        tokens::{sign_jwt, AccessClaims, TokenPolicy},
    };
    static RING: std::sync::OnceLock<(KeyRing, Vec<String>)> = std::sync::OnceLock::new();
    RING.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (dir, db) = domain::store::testing::temp_db().await;
            let ring = KeyRing::load_or_create(&db, NOW).await.unwrap();
            std::mem::forget(dir); // the keys are in memory now; the file may stay until exit
            let claims = AccessClaims::new(ISSUER, &TokenPolicy::default(), "shop", "member-1", "openid phone", NOW);
            let tokens = Alg::ALL.iter().map(|alg| sign_jwt(&ring, *alg, "at+jwt", &claims)).collect();
            (ring, tokens)
        })
    })
}

const ISSUER: &str = "http://127.0.0.1:3000";

proptest! {
    /// The OIDC request parsers. A Bearer access token — any string, or one we signed changed in
    /// one place — verifies only as it was issued; a PKCE verifier matches only its own S256
    /// challenge and a challenge is well formed only as 43 base64url characters; an
    /// authorization response keeps the redirect URI and carries `state` exactly, or is refused
    /// when the redirect URI is no URL.
    #[test]
    fn oidc_requests_are_read_as_issued_or_refused(
        junk in text(),
        at in any::<prop::sample::Index>(),
        with in any::<char>(),
        verifier in "[A-Za-z0-9._~-]{43,128}",
        other in "[A-Za-z0-9._~-]{0,130}|.{0,40}",
        redirect in prop_oneof![Just("https://shop.example/cb?x=1".to_string()), Just("com.shop.app:/cb".to_string()), text()],
        state in prop::option::of(text()),
    ) {
        use domain::identity::{flows, grants, tokens::verify_access_token};
        let (ring, tokens) = ring_and_tokens();
        prop_assert!(verify_access_token(ring, ISSUER, &junk, NOW + 1).is_err());
        for token in tokens {
            prop_assert!(verify_access_token(ring, ISSUER, token, NOW + 1).is_ok());
            let i = at.index(token.len());
            if token.is_char_boundary(i) && token[i..].chars().next() != Some(with) {
                let mut changed = token.clone();
                changed.replace_range(i..i + token[i..].chars().next().map_or(0, char::len_utf8), &with.to_string());
                prop_assert!(verify_access_token(ring, ISSUER, &changed, NOW + 1).is_err(), "changed at {i}: {changed}");
            }
        }
        let challenge = {
            use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
            use sha2::{Digest, Sha256};
            URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
        };
        prop_assert!(grants::is_valid_challenge(&challenge));
        prop_assert!(grants::pkce_s256_matches(&verifier, &challenge));
        prop_assert!(other == verifier || !grants::pkce_s256_matches(&other, &challenge));
        prop_assert!(!grants::is_valid_challenge(&junk) || (junk.len() == 43 && junk.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')));
        match flows::authorization_response(&redirect, &[("code", "c-1")], state.as_deref(), ISSUER) {
            Some(location) => {
                let url = url::Url::parse(&location).expect("a URL");
                let base = url::Url::parse(&redirect).expect("it came from a URL");
                prop_assert_eq!((url.scheme(), url.host_str(), url.path()), (base.scheme(), base.host_str(), base.path()));
                let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
                prop_assert_eq!(pairs.iter().filter(|(k, _)| k == "state").map(|(_, v)| v.clone()).last(), state.clone());
                prop_assert!(pairs.contains(&("iss".to_string(), ISSUER.to_string())) && pairs.contains(&("code".to_string(), "c-1".to_string())));
            }
            None => prop_assert!(url::Url::parse(&redirect).is_err()),
        }
    }
}
