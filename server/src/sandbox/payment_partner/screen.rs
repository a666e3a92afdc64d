//! What a person sees: the payment screen (the tester's decision, decided once, then back to
//! Tiki with the outcome), and the testers' index, from which a customer opens Tiki VIP as a
//! super app does (a signed webview request).

use axum::{
    extract::{Path, State},
    http::{header, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    Form,
};
use app::components::vnd;
use domain::signing::tikivip;
use serde::Deserialize;
use serde_json::{json, Value};

use super::state::{Decision, Partner, Status, Transaction};
use crate::http::oidc::page::escape;

pub(super) fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Sandbox Pay</title><link rel=\"icon\" href=\"data:,\"><style>body{{font-family:system-ui,sans-serif;margin:0 auto;padding:16px;max-width:480px}}\
         .amount{{font-size:2.2rem;font-weight:700;margin:8px 0}} .muted{{color:#5f6368;font-size:.85rem;word-break:break-all}} form{{display:grid;gap:12px;margin-top:24px}}\
         button,a.button{{display:block;width:100%;box-sizing:border-box;min-height:56px;padding:14px;border-radius:12px;border:0;background:#0b5cff;color:#fff;\
         font:inherit;font-size:1.15rem;text-align:center;text-decoration:none;cursor:pointer}} button.fail{{background:#c62828}} button.cancel{{background:#5f6368}}\
         button.drop{{background:#fff;color:#0b5cff;border:2px dashed #0b5cff}} table{{border-collapse:collapse;width:100%}} td{{padding:4px;border-bottom:1px solid #eee}}</style></head>\
         <body><h1>Sandbox Pay</h1>{body}</body></html>"
    ))
}

/// The payment screen: the amount and the four choices, or the decision already taken.
pub(super) async fn payment_screen(State(partner): State<Partner>, Path(transaction_id): Path<String>) -> Response {
    let Some(t) = partner.transaction(&transaction_id) else {
        return (StatusCode::NOT_FOUND, page("Not found", "<p data-testid=\"pay-error\">Unknown transaction.</p>")).into_response();
    };
    let head = format!(
        "<p>Pay Tiki ({partner})</p><div class=\"amount\" data-testid=\"pay-amount\">{amount}</div><p data-testid=\"pay-description\">{description}</p>\
         <p class=\"muted\">Transaction {id}<br>Tiki {tiki_id}</p>",
        partner = escape(&partner.config.partner_code),
        amount = vnd(t.amount),
        description = escape(&t.description),
        id = escape(&t.transaction_id),
        tiki_id = escape(&t.tiki_transaction_id),
    );
    let body = if t.status == Status::Pending {
        format!(
            "{head}<form method=\"post\" action=\"/pay/{id}\">\
             <button name=\"decision\" value=\"success\" data-testid=\"pay-success\">Pay</button>\
             <button name=\"decision\" value=\"fail\" class=\"fail\" data-testid=\"pay-fail\">Fail</button>\
             <button name=\"decision\" value=\"cancel\" class=\"cancel\" data-testid=\"pay-cancel\">Cancel</button>\
             <button name=\"decision\" value=\"drop-ipn\" class=\"drop\" data-testid=\"pay-drop-ipn\">Pay but drop the IPN</button></form>",
            id = escape(&t.transaction_id),
        )
    } else {
        let ipn = match (&t.last_ipn, t.ipn_dropped) {
            (Some(last), _) => format!(
                "Last IPN: {} (HTTP {}, code {}).",
                last.outcome.as_str(),
                last.http_status.unwrap_or(0),
                last.code.map_or("-".into(), |c| c.to_string())
            ),
            (None, true) => "IPN dropped on purpose: Tiki has to check the transaction.".to_string(),
            (None, false) => "IPN on its way.".to_string(),
        };
        format!(
            "{head}<p>Status <strong data-testid=\"pay-status\">{status}</strong></p><p class=\"muted\">{ipn}</p>\
             <a class=\"button\" data-testid=\"pay-return\" href=\"{back}\">Back to Tiki</a>",
            status = t.status.as_str(),
            ipn = escape(&ipn),
            back = escape(t.return_target().as_str()),
        )
    };
    page("Payment", &body).into_response()
}

#[derive(Deserialize)]
pub(super) struct DecisionForm {
    pub(super) decision: Decision,
}

/// The tester's choice: the first one decides the payment, a later one (double tap, back
/// button) changes nothing; either way the browser goes back to Tiki.
pub(super) async fn decide(State(partner): State<Partner>, Path(transaction_id): Path<String>, Form(form): Form<DecisionForm>) -> Response {
    let mut ledger = partner.ledger();
    let Some(t) = ledger.transactions.get_mut(&transaction_id) else {
        return (StatusCode::NOT_FOUND, page("Not found", "<p data-testid=\"pay-error\">Unknown transaction.</p>")).into_response();
    };
    let mut ipn = None;
    if let Some(next) = t.status.transition(form.decision.status()) {
        t.status = next;
        t.updated_at = domain::now_ms();
        t.ipn_dropped = form.decision == Decision::DropIpn;
        tracing::info!(transaction_id = %t.transaction_id, status = next.as_str(), ipn_dropped = t.ipn_dropped, "payment partner: payment decided");
        if !t.ipn_dropped {
            ipn = Some(t.next_ipn());
        }
    }
    let target = t.return_target();
    if ipn.is_some() {
        ledger.ipn_in_flight += 1;
    }
    drop(ledger);
    if let Some(ipn) = ipn {
        if partner.ipn_queue.send(ipn).is_err() {
            partner.ledger().ipn_in_flight -= 1;
            tracing::warn!(%transaction_id, "payment partner is stopping: IPN not sent");
        }
    }
    Redirect::to(target.as_str()).into_response()
}

/// Testers' index: the transactions, newest first.
pub(super) async fn home(State(partner): State<Partner>) -> Html<String> {
    let mut all: Vec<Transaction> = partner.ledger().transactions.values().cloned().collect();
    all.sort_by_key(|t| std::cmp::Reverse(t.created_at));
    let rows: String = all
        .iter()
        .take(100)
        .map(|t| {
            format!(
                "<tr><td><a href=\"/pay/{id}\">{tiki_id}</a></td><td>{amount}</td><td>{status}</td><td>{refunded}</td><td>{who}</td></tr>",
                id = escape(&t.transaction_id),
                tiki_id = escape(&t.tiki_transaction_id),
                amount = vnd(t.amount),
                status = t.status.as_str(),
                refunded = vnd(t.refunded_amount),
                who = escape(&t.identify_code),
            )
        })
        .collect();
    page(
        "Transactions",
        &format!(
            "<p>A sandbox wallet for Tiki VIP payments (partner {}). IPN attempts: <a href=\"/sandbox/ipn-log\">/sandbox/ipn-log</a>.</p>\
             <h2>Open Tiki VIP as a customer</h2>\
             <form method=\"post\" action=\"/open-vip\" data-testid=\"open-vip-form\">\
             <label>Customer code <input name=\"identify_code\" value=\"WALLET-1001\" required></label> \
             <label>Phone <input name=\"identify_phone\" type=\"tel\" value=\"0912345678\" required></label> \
             <label>Name <input name=\"identify_fullname\" value=\"Nguyen Van Vi\"></label> \
             <label>Language <select name=\"lang\"><option value=\"vi\">Tiếng Việt</option><option value=\"en\">English</option></select></label> \
             <button type=\"submit\">Open Tiki VIP</button></form>\
             <h2>Transactions</h2>\
             <table><tr><th>Tiki transaction</th><th>Amount</th><th>Status</th><th>Refunded</th><th>Customer</th></tr>{rows}</table>",
            escape(&partner.config.partner_code)
        ),
    )
}

#[derive(Deserialize)]
pub(super) struct OpenVip {
    pub(super) identify_code: String,
    pub(super) identify_phone: String,
    pub(super) identify_fullname: Option<String>,
    pub(super) lang: Option<String>,
}

/// The super app opens Tiki VIP for its customer, as a real partner does: a signed
/// `POST {tiki}/miniapp/tikivip/webview`, then the webview at `url_open`.
pub(super) async fn open_vip(State(partner): State<Partner>, axum::Form(f): axum::Form<OpenVip>) -> Response {
    let body = json!({ "identify_code": f.identify_code, "identify_phone": f.identify_phone, "identify_fullname": f.identify_fullname }).to_string();
    let mut req = partner.http.post(format!("{}/miniapp/tikivip/webview", partner.config.tiki_url)).header(header::CONTENT_TYPE, "application/json");
    for (name, value) in tikivip::headers(&partner.config.client_id, &partner.config.client_secret, body.as_bytes(), domain::now_ms()) {
        req = req.header(name, value);
    }
    let answer = req
        .body(body)
        .send()
        .await;
    let answer: Value = match answer {
        Ok(res) => res.json().await.unwrap_or(Value::Null),
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("Tiki did not answer: {e}")).into_response(),
    };
    match answer["data"]["url_open"].as_str() {
        Some(url) => {
            let lang = f.lang.filter(|l| l == "vi" || l == "en").map(|l| format!("&lang={l}")).unwrap_or_default();
            axum::response::Redirect::to(&format!("{url}{lang}")).into_response()
        }
        None => (StatusCode::BAD_GATEWAY, format!("Tiki refused: {answer}")).into_response(),
    }
}

