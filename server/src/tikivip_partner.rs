//! The platform's calls to a payment partner's side of the Tiki VIP contract (README, "Tiki VIP:
//! the partner contract"): each a JSON request signed with the X-Tikivip headers (the partner's
//! client id and secret; a GET signs the empty body), 10 s timeout. Implements
//! `domain::tikivip::gateway::PartnerApi`; the rules that use it live there.

use std::time::Duration;

use domain::{
    signing::tikivip,
    tikivip::{
        gateway::{CallError, CallFuture, Checked, CreateRequest, Created, PartnerApi, RefundRequest},
        partners::Partner,
        payments::Status,
    },
};
use serde_json::{json, Value};

pub struct HttpPartnerApi {
    http: reqwest::Client,
}

impl HttpPartnerApi {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self { http: reqwest::Client::builder().timeout(Duration::from_secs(10)).user_agent("Joygate-TikiVIP/1").build()? })
    }

    /// Sends a signed request; returns the HTTP status and the JSON body.
    async fn call(&self, partner: &Partner, method: reqwest::Method, path_and_query: &str, body: Option<&Value>) -> Result<(u16, Value), CallError> {
        let raw = body.map(|b| b.to_string()).unwrap_or_default();
        let mut req = self.http.request(method, format!("{}{path_and_query}", partner.api_base_url));
        for (name, value) in tikivip::headers(&partner.client_id, &partner.client_secret, raw.as_bytes(), domain::now_ms()) {
            req = req.header(name, value);
        }
        if body.is_some() {
            req = req.header(reqwest::header::CONTENT_TYPE, "application/json").body(raw);
        }
        let res = req.send().await.map_err(|e| CallError::Unavailable(e.without_url().to_string()))?;
        let status = res.status().as_u16();
        let json = res.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, json))
    }
}

/// `{code: 0, data}` → data; code 2 or a 5xx → unavailable; another code → refused.
fn data_of(status: u16, body: Value) -> Result<Value, CallError> {
    let code = body["code"].as_i64().unwrap_or(-1);
    let message = body["message"].as_str().unwrap_or_default().to_string();
    match (status, code) {
        (200, 0) => Ok(body["data"].clone()),
        (s, _) if s >= 500 => Err(CallError::Unavailable(format!("HTTP {s}: {message}"))),
        (_, 2) | (_, -1) => Err(CallError::Unavailable(format!("HTTP {status}, code {code}: {message}"))),
        (_, code) => Err(CallError::Refused { code, message }),
    }
}

fn text(v: &Value, key: &str) -> Result<String, CallError> {
    v[key].as_str().map(str::to_string).ok_or_else(|| CallError::Unavailable(format!("the answer has no {key}")))
}

impl PartnerApi for HttpPartnerApi {
    fn create<'a>(&'a self, partner: &'a Partner, r: &'a CreateRequest) -> CallFuture<'a, Created> {
        Box::pin(async move {
            let body = json!({
                "tiki_transaction_id": r.tiki_transaction_id, "amount": r.amount, "description": r.description,
                "identify_code": r.identify_code, "return_url": r.return_url,
            });
            let (status, answer) = self.call(partner, reqwest::Method::POST, "/transactions", Some(&body)).await?;
            let data = data_of(status, answer)?;
            Ok(Created { transaction_id: text(&data, "transaction_id")?, payment_url: text(&data, "payment_url")?, deeplink: data["deeplink"].as_str().map(str::to_string) })
        })
    }

    fn check<'a>(&'a self, partner: &'a Partner, tiki_transaction_id: &'a str) -> CallFuture<'a, Option<Checked>> {
        Box::pin(async move {
            let query: String = url::form_urlencoded::Serializer::new(String::new()).append_pair("tiki_transaction_id", tiki_transaction_id).finish();
            let (status, answer) = self.call(partner, reqwest::Method::GET, &format!("/transactions?{query}"), None).await?;
            match data_of(status, answer) {
                Ok(data) => Ok(Some(Checked {
                    transaction_id: text(&data, "transaction_id")?,
                    status: data["status"].as_str().and_then(Status::parse).ok_or_else(|| CallError::Unavailable("unknown status".into()))?,
                    amount: data["amount"].as_i64().ok_or_else(|| CallError::Unavailable("no amount".into()))?,
                    banking_method: data["partner_banking_method"].as_str().map(str::to_string),
                })),
                Err(CallError::Refused { code: 3, .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn refund<'a>(&'a self, partner: &'a Partner, r: &'a RefundRequest) -> CallFuture<'a, ()> {
        Box::pin(async move {
            let body = json!({
                "tiki_transaction_id": r.tiki_transaction_id, "transaction_amount": r.amount, "transaction_id": r.transaction_id,
                "reason": r.reason, "request_id": r.request_id,
            });
            // Tiki's refund contract: HTTP 200 is success, HTTP 500 is failure.
            match self.call(partner, reqwest::Method::POST, "/refunds", Some(&body)).await? {
                (200, _) => Ok(()),
                (status, answer) => Err(CallError::Refused {
                    code: answer["code"].as_i64().unwrap_or(i64::from(status)),
                    message: answer["message"].as_str().unwrap_or("refused").to_string(),
                }),
            }
        })
    }
}
