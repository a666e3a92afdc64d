//! The sandbox membership app: a client SaaS of the loyalty reward task service (counterparts.md
//! §3) on its own port, as a real client would be. Its members register (with an optional
//! referral code), buy, play the lucky draw and check in; each of those sends signed commands
//! to the platform's `POST /saas/requestin` and follows their tickets with `/saas/requestout`.
//!
//! - It is partner `sandbox-membership`: a sign-in client with a fresh secret at every start
//!   (scope `user:read`, to show a member's SkyPoint balance through
//!   `GET /api-user/partner/v2/user/lookup?customerId=…`), and a reward client with a fresh API
//!   key and its own 2048-bit RSA key (the platform is given the public key).
//! - Every command's Data is written in the published order (trxId, refference, memberId,
//!   memberName, userFromStatus, userId, userIdShare, deviceType, installId, data, then
//!   memberQtagPhone), ids as numbers, signed with `domain::signing::loyalty_task::sign_data`;
//!   `Idempotency-Key` is MD5(body + date), as the service's clients send it.
//! - Register sends `register` (memberQtagPhone is the member's phone, so the platform onboards
//!   the member) and, with a referral code (another member's number), `registerreferral`; a
//!   purchase sends `transaction` and, for a referred member, `transactionreferral`.
//! - Pages: `GET /` (register or the member's page: balance, buy, draw, check-in, tickets;
//!   it refreshes itself while a ticket is pending), `POST /register`, `/buy`, `/draw`,
//!   `/checkin`, `/signout`; `GET /sandbox/tickets` lists every command sent (JSON).
//!
//! State is in memory: this is a sandbox counterpart, not the product.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use app::components::{group_digits, vnd};
use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Form, Json, Router,
};
use domain::{
    identity::PhoneNumber,
    rewards::{envelope, Action, TimeZone},
    signing::{loyalty_task, RsaPrivateKey},
};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokio::{sync::watch, task::JoinHandle};

use crate::http::{oidc::page::escape, rewards::{API_KEY_HEADER, CLIENT_ID_HEADER, IDEMPOTENCY_KEY_HEADER}};

/// Its partner `client_id` and name.
pub const CLIENT_ID: &str = "sandbox-membership";
pub const NAME: &str = "Sandbox Membership";
const SESSION_COOKIE: &str = "sbx_member";
const TIMEOUT: Duration = Duration::from_secs(10);
/// Members are numbered from here (ids travel as JSON numbers, like the published examples).
const FIRST_MEMBER: u64 = 1001;

pub struct MembershipAppConfig {
    /// The platform's base URL (`/saas/…`, `/token`, the partner APIs).
    pub platform_url: String,
    pub own_url: String,
    pub api_key: String,
    /// Its sign-in client secret (client_credentials, for balances).
    pub client_secret: String,
    pub signing_key: RsaPrivateKey,
}

#[derive(Clone, Debug, Serialize)]
struct Member {
    id: u64,
    phone: String,
    name: String,
    /// Who referred them (a member number).
    referrer: Option<u64>,
}

/// A command sent, and what became of its ticket.
#[derive(Clone, Debug, Serialize)]
struct Sent {
    member: u64,
    action: Action,
    ticket_id: Option<String>,
    /// The gateway's refusal, when it refused.
    refused: Option<String>,
    /// The ticket's last Request Out `Result`.
    result: Value,
    sent_at: i64,
}

impl Sent {
    fn status(&self) -> &str {
        if self.refused.is_some() {
            return "refused";
        }
        self.result["ticketStatus"].as_str().unwrap_or("queued")
    }

    fn settled(&self) -> bool {
        matches!(self.status(), "success" | "failed" | "dead" | "refused")
    }
}

#[derive(Default)]
struct Book {
    members: BTreeMap<u64, Member>,
    by_phone: HashMap<String, u64>,
    sessions: HashMap<String, u64>,
    sent: Vec<Sent>,
    next_trx: u64,
    token: Option<(String, Instant)>,
}

#[derive(Clone)]
struct MembershipApp {
    config: Arc<MembershipAppConfig>,
    http: reqwest::Client,
    book: Arc<Mutex<Book>>,
    zone: TimeZone,
}

impl MembershipApp {
    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn member_of(&self, headers: &HeaderMap) -> Option<Member> {
        let token = cookie(headers, SESSION_COOKIE)?;
        let book = self.book();
        book.sessions.get(&token).and_then(|id| book.members.get(id)).cloned()
    }

    /// `2024-04-30 10:30:00` in the members' zone.
    fn trx_date(&self) -> String {
        let now = time::OffsetDateTime::now_utc().to_offset(self.zone.offset());
        now.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")).unwrap_or_default()
    }

    /// Signs and sends one command; the gateway's TicketId or its refusal.
    async fn send(&self, member: &Member, action: Action, rows: Vec<Value>, share: Option<u64>) -> Sent {
        let trx = {
            let mut book = self.book();
            book.next_trx = book.next_trx.max(domain::now_ms() as u64 * 10).saturating_add(1);
            book.next_trx
        };
        let mut data = Map::new();
        data.insert("trxId".into(), json!(trx));
        data.insert("refference".into(), json!(format!("SBX-{trx}")));
        data.insert("memberId".into(), json!(member.id));
        data.insert("memberName".into(), json!(member.name));
        data.insert("userFromStatus".into(), json!(0));
        data.insert("userId".into(), json!(member.id));
        data.insert("userIdShare".into(), json!(share.unwrap_or(0)));
        data.insert("deviceType".into(), json!("web"));
        data.insert("installId".into(), json!(CLIENT_ID));
        data.insert("data".into(), Value::Array(rows));
        if matches!(action, Action::Register | Action::RegisterReferral) {
            data.insert("memberQtagPhone".into(), json!(member.phone));
        }
        loyalty_task::sign_data(&self.config.signing_key, &mut data);
        let body = json!({
            "Subject": envelope::SUBJECT, "SubjectType": envelope::SUBJECT_TYPE, "SubjectIdentifier": envelope::SUBJECT_IDENTIFIER,
            "Action": action.as_str(), "ResourceType": "null", "Resource": "null", "ResourceId": "null", "ScopeSource": "", "Data": data,
        })
        .to_string();
        let today = time::OffsetDateTime::now_utc().date().to_string();
        let idempotency_key = hex::encode(Md5::digest(format!("{body}{today}").as_bytes()));
        let answer = self
            .http
            .post(format!("{}/saas/requestin", self.config.platform_url))
            .header(header::CONTENT_TYPE, "application/json")
            .header(CLIENT_ID_HEADER, CLIENT_ID)
            .header(API_KEY_HEADER, &self.config.api_key)
            .header(IDEMPOTENCY_KEY_HEADER, idempotency_key)
            .body(body)
            .send()
            .await;
        let answer: Result<Value, String> = match answer {
            Ok(res) => res.json().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let (ticket_id, refused) = match answer {
            Ok(a) => match a["TicketId"].as_str() {
                Some(id) => (Some(id.to_string()), None),
                None => (None, Some(a["Message"].as_str().unwrap_or("refused").to_string())),
            },
            Err(e) => (None, Some(format!("the platform did not answer: {e}"))),
        };
        tracing::info!(member = member.id, action = action.as_str(), ticket = ?ticket_id, refused = ?refused, "membership app: command sent");
        let sent = Sent { member: member.id, action, ticket_id, refused, result: Value::Null, sent_at: domain::now_ms() };
        self.book().sent.push(sent.clone());
        sent
    }

    /// Asks the platform about every unsettled ticket of `member` (Request Out).
    async fn follow(&self, member: u64) {
        let mut pending: Vec<String> =
            self.book().sent.iter().filter(|s| s.member == member && !s.settled()).filter_map(|s| s.ticket_id.clone()).collect();
        pending.sort_unstable();
        pending.dedup();
        for ticket_id in pending {
            let body = json!({"TicketId": ticket_id, "Subject": envelope::SUBJECT, "SubjectType": envelope::SUBJECT_TYPE, "SubjectIdentifier": envelope::SUBJECT_IDENTIFIER});
            let res = self
                .http
                .post(format!("{}/saas/requestout", self.config.platform_url))
                .header(CLIENT_ID_HEADER, CLIENT_ID)
                .header(API_KEY_HEADER, &self.config.api_key)
                .json(&body)
                .send()
                .await;
            let Ok(answer) = (match res {
                Ok(r) => r.json::<Value>().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }) else {
                continue;
            };
            // a command sent again (a second check-in the same day) shares its first ticket
            for s in self.book().sent.iter_mut().filter(|s| s.ticket_id.as_deref() == Some(&ticket_id)) {
                s.result = answer["Result"].clone();
            }
        }
    }

    /// A client_credentials token for the partner APIs, reused until a minute before it expires.
    async fn token(&self) -> Result<String, String> {
        if let Some((token, until)) = self.book().token.clone() {
            if Instant::now() < until {
                return Ok(token);
            }
        }
        let res = self
            .http
            .post(format!("{}/token", self.config.platform_url))
            .basic_auth(CLIENT_ID, Some(&self.config.client_secret))
            .form(&[("grant_type", "client_credentials"), ("scope", "user:read")])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let answer: Value = res.json().await.map_err(|e| e.to_string())?;
        let token = answer["access_token"].as_str().ok_or_else(|| format!("no token: {answer}"))?.to_string();
        let lifetime = answer["expires_in"].as_u64().unwrap_or(600).saturating_sub(60);
        self.book().token = Some((token.clone(), Instant::now() + Duration::from_secs(lifetime)));
        Ok(token)
    }

    /// The member's available SkyPoints at SkyJoy (`None`: not a SkyJoy member yet).
    async fn balance(&self, member: u64) -> Result<Option<i64>, String> {
        let token = self.token().await?;
        let res = self
            .http
            .get(format!("{}/api-user/partner/v2/user/lookup", self.config.platform_url))
            .query(&[("customerId", member.to_string())])
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status();
        let answer: Value = res.json().await.map_err(|e| e.to_string())?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let data = &answer["data"];
        match (data["pointBalance"].as_i64(), data["lockedPoint"].as_i64()) {
            (Some(balance), Some(locked)) => Ok(Some(balance - locked)),
            _ => Err(format!("unexpected answer: {answer}")),
        }
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn page(title: &str, refresh: bool, body: &str) -> Html<String> {
    let refresh = if refresh { "<meta http-equiv=\"refresh\" content=\"1\">" } else { "" };
    Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{refresh}\
         <title>{title} · {NAME}</title><link rel=\"icon\" href=\"data:,\"><style>\
         body{{font-family:system-ui,sans-serif;margin:0 auto;padding:16px;max-width:480px;color:#202124}} h1{{font-size:1.4rem}}\
         .card{{border:1px solid #dadce0;border-radius:12px;padding:16px;margin:12px 0}} .points{{font-size:2rem;font-weight:700}}\
         .muted{{color:#5f6368;font-size:.85rem;word-break:break-all}} .error{{color:#c62828}} form{{display:grid;gap:8px;margin:8px 0}}\
         input{{font:inherit;padding:12px;border:1px solid #9aa0a6;border-radius:8px;min-width:0}}\
         button{{min-height:48px;padding:12px;border-radius:12px;border:0;background:#0b5cff;color:#fff;font:inherit;font-size:1.05rem;cursor:pointer}}\
         button.secondary{{background:#5f6368}} .row{{display:grid;grid-template-columns:1fr 1fr;gap:8px}}\
         ul{{list-style:none;padding:0}} li{{border-bottom:1px solid #eee;padding:8px 0}}\
         .success{{color:#188038}} .failed,.dead,.refused{{color:#c62828}}</style></head>\
         <body><h1>{NAME}</h1>{body}</body></html>"
    ))
}

fn register_page(error: Option<&str>) -> Response {
    let error = error.map(|e| format!("<p class=\"error\" role=\"alert\" data-testid=\"member-error\">{}</p>", escape(e))).unwrap_or_default();
    let body = format!(
        "<p>A membership app that rewards its members with SkyPoints (a sandbox client of the loyalty reward tasks).</p>{error}\
         <form method=\"post\" action=\"/register\" class=\"card\" data-testid=\"register-form\">\
         <label for=\"phone\">Phone</label><input id=\"phone\" name=\"phone\" type=\"tel\" autocomplete=\"tel\" required>\
         <label for=\"name\">Name</label><input id=\"name\" name=\"name\" autocomplete=\"name\" required maxlength=\"100\">\
         <label for=\"referral\">Referral code (optional)</label><input id=\"referral\" name=\"referral\" inputmode=\"numeric\">\
         <button type=\"submit\">Register</button></form>\
         <p class=\"muted\">A phone already registered here signs that member in.</p>"
    );
    let status = if error.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    (status, page("Register", false, &body)).into_response()
}

fn action_label(a: Action) -> &'static str {
    match a {
        Action::Transaction => "Purchase",
        Action::LuckyDraw => "Lucky draw",
        Action::Register => "Welcome",
        Action::RegisterReferral => "Referral",
        Action::TransactionReferral => "Referral share",
        Action::DailyCheckIn => "Daily check-in",
    }
}

fn ticket_line(s: &Sent) -> String {
    let status = s.status().to_string();
    let detail = match status.as_str() {
        "success" => {
            let mut d = format!("+{} SkyPoint", group_digits(s.result["points"].as_i64().unwrap_or(0)));
            if let Some(streak) = s.result["streak"].as_i64() {
                d.push_str(&format!(" · day {streak} of the streak"));
            }
            if s.result["prize"].is_object() && s.result["prize"]["points"].as_i64() == Some(0) {
                d = "no prize this time".into();
            }
            d
        }
        "failed" => format!("{}: {}", s.result["reason"].as_str().unwrap_or(""), s.result["message"].as_str().unwrap_or("")),
        "refused" => s.refused.clone().unwrap_or_default(),
        other => format!("{other}…"),
    };
    format!(
        "<li data-testid=\"ticket\" data-action=\"{action}\" data-status=\"{status}\" data-points=\"{points}\"><strong>{label}</strong> \
         <span class=\"{status}\" data-testid=\"ticket-status\">{status}</span><br><span data-testid=\"ticket-detail\">{detail}</span>\
         <br><span class=\"muted\">Ticket {ticket}</span></li>",
        action = s.action.as_str(),
        points = s.result["points"].as_i64().unwrap_or(0),
        label = action_label(s.action),
        detail = escape(&detail),
        ticket = escape(s.ticket_id.as_deref().unwrap_or("—")),
    )
}

async fn home(State(app): State<MembershipApp>, headers: HeaderMap) -> Response {
    let Some(member) = app.member_of(&headers) else { return register_page(None) };
    app.follow(member.id).await;
    let balance = match app.balance(member.id).await {
        Ok(Some(points)) => format!("<span data-testid=\"balance\">{}</span> SkyPoint", group_digits(points)),
        Ok(None) => "<span data-testid=\"balance-none\">not a SkyJoy member yet</span>".into(),
        Err(e) => format!("<span class=\"error\">balance unavailable: {}</span>", escape(&e)),
    };
    let (lines, pending) = {
        let book = app.book();
        let mine: Vec<&Sent> = book.sent.iter().rev().filter(|s| s.member == member.id).take(30).collect();
        (mine.iter().map(|s| ticket_line(s)).collect::<String>(), mine.iter().any(|s| !s.settled()))
    };
    let referred = member.referrer.map(|r| format!("<br>Referred by member {r}")).unwrap_or_default();
    let body = format!(
        "<section class=\"card\" data-testid=\"member\"><div>{name}</div><div class=\"muted\">Member <span data-testid=\"member-id\">{id}</span> · \
         {phone}{referred}<br>Your referral code: <strong data-testid=\"referral-code\">{id}</strong></div>\
         <p class=\"points\">{balance}</p></section>\
         <form method=\"post\" action=\"/buy\" class=\"card\" data-testid=\"buy-form\"><label for=\"amount\">Buy (VND)</label>\
         <input id=\"amount\" name=\"amount\" inputmode=\"numeric\" required value=\"150000\"><button type=\"submit\">Buy</button></form>\
         <div class=\"row\"><form method=\"post\" action=\"/checkin\"><button type=\"submit\" data-testid=\"checkin\">Check in</button></form>\
         <form method=\"post\" action=\"/draw\"><button type=\"submit\" data-testid=\"draw\">Lucky draw</button></form></div>\
         <h2>Rewards</h2><ul data-testid=\"tickets\">{lines}</ul>\
         <form method=\"post\" action=\"/signout\"><button type=\"submit\" class=\"secondary\" data-testid=\"signout\">Sign out</button></form>",
        name = escape(&member.name),
        id = member.id,
        phone = escape(&member.phone),
    );
    page("Member", pending, &body).into_response()
}

#[derive(Deserialize)]
struct RegisterForm {
    phone: String,
    name: String,
    referral: Option<String>,
}

fn signed_in(token: &str) -> Response {
    let mut res = Redirect::to("/").into_response();
    let cookie = format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax");
    res.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("a plain cookie"));
    res
}

async fn register(State(app): State<MembershipApp>, Form(form): Form<RegisterForm>) -> Response {
    let Ok(phone) = PhoneNumber::parse(&form.phone) else {
        return register_page(Some("The phone must be a Vietnamese number, e.g. 0912345678."));
    };
    let name = form.name.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() || name.chars().count() > 100 {
        return register_page(Some("Please give a name (at most 100 characters)."));
    }
    let referral = form.referral.as_deref().map(str::trim).filter(|r| !r.is_empty());
    let token = uuid::Uuid::new_v4().simple().to_string();
    let (member, new) = {
        let mut book = app.book();
        if let Some(id) = book.by_phone.get(phone.as_str()).copied() {
            book.sessions.insert(token.clone(), id);
            (book.members[&id].clone(), false)
        } else {
            let referrer = match referral.map(|r| r.parse::<u64>().ok().filter(|id| book.members.contains_key(id))) {
                None => None,
                Some(Some(id)) => Some(id),
                Some(None) => return register_page(Some("Unknown referral code.")),
            };
            let id = FIRST_MEMBER + book.members.len() as u64;
            let member = Member { id, phone: phone.as_str().to_string(), name, referrer };
            book.members.insert(id, member.clone());
            book.by_phone.insert(member.phone.clone(), id);
            book.sessions.insert(token.clone(), id);
            (member, true)
        }
    };
    if new {
        let row = vec![json!({"trxAmount": 0, "trxDate": app.trx_date()})];
        app.send(&member, Action::Register, row.clone(), None).await;
        if let Some(referrer) = member.referrer {
            app.send(&member, Action::RegisterReferral, row, Some(referrer)).await;
        }
    }
    signed_in(&token)
}

#[derive(Deserialize)]
struct BuyForm {
    amount: String,
}

async fn buy(State(app): State<MembershipApp>, headers: HeaderMap, Form(form): Form<BuyForm>) -> Response {
    let Some(member) = app.member_of(&headers) else { return Redirect::to("/").into_response() };
    let digits: String = form.amount.chars().filter(|c| !matches!(c, '.' | ',' | ' ')).collect();
    let amount = match digits.parse::<i64>() {
        Ok(a) if (1..=envelope::MAX_AMOUNT).contains(&a) => a,
        _ => return (StatusCode::BAD_REQUEST, page("Buy", false, "<p class=\"error\" role=\"alert\">The amount must be a whole number of VND.</p><a href=\"/\">Back</a>")).into_response(),
    };
    let rows = vec![json!({"trxAmount": amount, "trxDate": app.trx_date(), "product_id": 1})];
    app.send(&member, Action::Transaction, rows.clone(), None).await;
    if let Some(referrer) = member.referrer {
        app.send(&member, Action::TransactionReferral, rows, Some(referrer)).await;
    }
    tracing::debug!(member = member.id, amount = %vnd(amount), "membership app: purchase");
    Redirect::to("/").into_response()
}

async fn simple(app: MembershipApp, headers: HeaderMap, action: Action) -> Response {
    if let Some(member) = app.member_of(&headers) {
        app.send(&member, action, vec![json!({"trxAmount": 0, "trxDate": app.trx_date()})], None).await;
    }
    Redirect::to("/").into_response()
}

async fn draw(State(app): State<MembershipApp>, headers: HeaderMap) -> Response {
    simple(app, headers, Action::LuckyDraw).await
}

async fn checkin(State(app): State<MembershipApp>, headers: HeaderMap) -> Response {
    simple(app, headers, Action::DailyCheckIn).await
}

async fn signout(State(app): State<MembershipApp>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        app.book().sessions.remove(&token);
    }
    let mut res = Redirect::to("/").into_response();
    res.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_static("sbx_member=; Path=/; Max-Age=0"));
    res
}

/// Every command sent, newest first, with its ticket's last known result.
async fn sent_log(State(app): State<MembershipApp>) -> Json<Vec<Sent>> {
    let members: Vec<u64> = app.book().members.keys().copied().collect();
    for m in members {
        app.follow(m).await;
    }
    Json(app.book().sent.iter().rev().cloned().collect())
}

/// Serves the app on `listener` until shutdown.
pub fn start(config: MembershipAppConfig, listener: tokio::net::TcpListener, shutdown: watch::Receiver<bool>) -> anyhow::Result<JoinHandle<()>> {
    let http = reqwest::Client::builder().timeout(TIMEOUT).redirect(reqwest::redirect::Policy::none()).build()?;
    let app = MembershipApp { config: Arc::new(config), http, book: Arc::default(), zone: TimeZone::default() };
    let router = Router::new()
        .route("/", get(home))
        .route("/register", post(register))
        .route("/buy", post(buy))
        .route("/draw", post(draw))
        .route("/checkin", post(checkin))
        .route("/signout", post(signout))
        .route("/sandbox/tickets", get(sent_log))
        .with_state(app);
    let mut stop = shutdown;
    Ok(tokio::spawn(async move {
        let stop = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(stop).await {
            tracing::error!(error = %e, "membership app stopped");
        }
    }))
}
