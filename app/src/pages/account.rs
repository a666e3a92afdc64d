//! The member's own pages, on the platform's origin (SkyJoy sign-in session):
//! - `/account`: SkyPoint balance (available and locked) and history with paging (`?page=`).
//! - `/account/redeem?client_id&redirect_uri&state&transactionId&transactionAmount&transactionDate&usedPoint&transactionDes`:
//!   a partner asks the member to spend points; confirming issues the `sign` token
//!   (`domain::ledger::sign`) and sends the browser back to the partner's registered
//!   `redirect_uri` with `sign`, `transactionId` and `state` — the partner then calls
//!   `point-redemption-with-token`. Cancelling sends `error=access_denied` back.
//!
//! A member who is not signed in is sent to `/account/signin` (the server's first-party
//! sign-in) and comes back to the same URL. Both pages work without wasm (plain links and form
//! posts); the confirmation is a server function that redirects.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_location, use_query_map};
use serde::{Deserialize, Serialize};

use crate::{
    components::{group_digits, vnd, ErrorNote, LanguageSwitch},
    errors::{AppError, RedeemProblem},
    i18n::AccountTexts,
    prefs::use_language,
};

/// History lines per page.
pub const PER_PAGE: u32 = 20;

/// What a history line is (the ledger's entry kinds, as the page names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EntryKind {
    Accrual,
    Redemption,
    Reversal,
    Adjustment,
    Expiry,
    /// A reward task paid the member (a purchase, a referral, a draw, a check-in at a partner).
    Reward,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Accrual => "ACCRUAL",
            EntryKind::Redemption => "REDEMPTION",
            EntryKind::Reversal => "REVERSAL",
            EntryKind::Adjustment => "ADJUSTMENT",
            EntryKind::Expiry => "EXPIRY",
            EntryKind::Reward => "REWARD",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryLineView {
    /// `DD-MM-YYYY HH:MM` in Vietnam.
    pub when: String,
    pub kind: EntryKind,
    pub points: i64,
    pub partner: String,
    pub reference: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub skyjoy_id: String,
    pub full_name: String,
    pub balance: i64,
    pub locked: i64,
    pub available: i64,
    pub history: Vec<HistoryLineView>,
    pub page: u32,
    pub has_next: bool,
}

/// What the confirmation page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedeemView {
    pub partner_name: String,
    pub skyjoy_id: String,
    pub transaction_id: String,
    pub used_point: i64,
    pub amount: i64,
    pub description: Option<String>,
    pub available: i64,
    /// Whether the available points cover `used_point` (else confirming is refused).
    pub covered: bool,
    /// Where "cancel" goes (the partner's redirect URI with `error=access_denied`).
    pub cancel_url: String,
}

/// Why a redemption request cannot be shown, and the way back to the partner when there is a
/// safe one (never for an unknown partner or redirect URI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedeemRefusal {
    pub problem: RedeemProblem,
    pub back_url: Option<String>,
}

/// The fields a partner puts in the `/account/redeem` URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedeemRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: String,
    pub transaction_id: String,
    pub transaction_amount: String,
    pub transaction_date: String,
    pub used_point: String,
    pub transaction_des: String,
}

#[cfg(feature = "ssr")]
pub mod backend {
    use domain::{
        identity::{clients, members, Idp},
        ledger::{self, request::Operation, sign::TxnData, PointRefusal, PointRequest, RawPointRequest},
    };
    use leptos::prelude::*;
    use serde_json::Value;

    use super::{EntryKind, RedeemRefusal, RedeemRequest, RedeemView};
    use crate::errors::{failed, AppError, RedeemProblem};

    pub fn kind(k: ledger::Kind) -> EntryKind {
        match k {
            ledger::Kind::Accrual => EntryKind::Accrual,
            ledger::Kind::Redemption => EntryKind::Redemption,
            ledger::Kind::Reversal => EntryKind::Reversal,
            ledger::Kind::Adjustment => EntryKind::Adjustment,
            ledger::Kind::Expiry => EntryKind::Expiry,
            ledger::Kind::Reward => EntryKind::Reward,
        }
    }

    /// The signed-in member, if any. On the first render of an `/account` page, a signed-out
    /// visitor is redirected to sign in and brought back to this URL.
    pub async fn member(idp: &Idp) -> Result<Option<members::Member>, AppError> {
        let id = match crate::session::current().await {
            Some(s) => crate::session::member(&s).await.map(|(id, _)| id),
            None => None,
        };
        let member = match id {
            Some(id) => members::find_by_id(&idp.db, &id).await.map_err(failed)?,
            None => None,
        };
        if member.is_none() {
            if let Some(parts) = use_context::<http::request::Parts>() {
                let here = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/account");
                if here.starts_with("/account") {
                    let back: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
                    leptos_axum::redirect(&format!("/account/signin?return_to={back}"));
                }
            }
        }
        Ok(member)
    }

    /// A checked redemption request.
    pub struct Checked {
        pub client: clients::Client,
        pub txn: TxnData,
        pub description: Option<String>,
    }

    fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
        match url::Url::parse(base) {
            Ok(mut u) => {
                u.query_pairs_mut().extend_pairs(pairs.iter().filter(|(_, v)| !v.is_empty()));
                u.to_string()
            }
            Err(_) => base.to_string(),
        }
    }

    pub fn cancel_url(r: &RedeemRequest) -> String {
        with_query(&r.redirect_uri, &[("error", "access_denied"), ("transactionId", &r.transaction_id), ("state", &r.state)])
    }

    pub fn done_url(r: &RedeemRequest, sign: &str) -> String {
        with_query(&r.redirect_uri, &[("sign", sign), ("transactionId", &r.transaction_id), ("state", &r.state)])
    }

    /// Checks the partner and its redirect URI first (no redirect to an unregistered URI, ever),
    /// then the transaction's fields by the point APIs' own rules (`domain::ledger::request`).
    pub async fn check(idp: &Idp, r: &RedeemRequest, member: &members::Member) -> Result<Result<Checked, RedeemRefusal>, AppError> {
        let client = clients::find(&idp.db, &r.client_id).await.map_err(failed)?;
        let Some(client) = client.filter(|c| c.allows_redirect(&r.redirect_uri)) else {
            return Ok(Err(RedeemRefusal { problem: RedeemProblem::UnknownPartner, back_url: None }));
        };
        let refused = |problem| {
            Ok(Err(RedeemRefusal { problem, back_url: Some(with_query(&r.redirect_uri, &[("error", "invalid_request"), ("state", &r.state)])) }))
        };
        let text = |s: &str| Value::String(s.to_string());
        let (skyjoy_id, id, date, amount, used) =
            (text(member.skyjoy_id.as_str()), text(&r.transaction_id), text(&r.transaction_date), text(&r.transaction_amount), text(&r.used_point));
        let raw = RawPointRequest {
            operation: Operation::Redemption,
            skyjoy_id: Some(&skyjoy_id),
            transaction_id: Some(&id),
            transaction_date: Some(&date),
            transaction_amount: Some(&amount),
            used_point: Some(&used),
            point: None,
            transaction_currency: None,
            item_id: None,
            transaction_des: None,
        };
        let Ok(request) = PointRequest::try_from(raw) else { return refused(RedeemProblem::InvalidRequest) };
        let Some(mut txn) = TxnData::of(&request, &member.skyjoy_id) else { return refused(RedeemProblem::InvalidRequest) };
        // Unix ms stay a number in txn_data, as the partner will send them in the API body.
        if let Ok(ms) = r.transaction_date.trim().parse::<i64>() {
            txn.transaction_date = Value::from(ms);
        }
        let description = Some(r.transaction_des.trim().chars().take(200).collect::<String>()).filter(|d| !d.is_empty());
        Ok(Ok(Checked { client, txn, description }))
    }

    /// Whether the member's available points cover the redemption (the ledger's rule).
    pub async fn covered(idp: &Idp, member: &members::Member, points: i64) -> Result<bool, AppError> {
        match ledger::can_spend(&idp.db, &member.id, points).await {
            Ok(()) => Ok(true),
            Err(ledger::LedgerError::Refused(PointRefusal::InsufficientBalance)) => Ok(false),
            Err(e) => Err(failed(e)),
        }
    }

    pub fn view(c: &Checked, r: &RedeemRequest, available: i64, covered: bool) -> RedeemView {
        RedeemView {
            partner_name: c.client.name.clone(),
            skyjoy_id: c.txn.skyjoy_id.clone(),
            transaction_id: c.txn.transaction_id.clone(),
            used_point: c.txn.used_point,
            amount: c.txn.transaction_amount,
            description: c.description.clone(),
            available,
            covered,
            cancel_url: cancel_url(r),
        }
    }
}

/// The signed-in member's balance and one page of history; `None` when signed out.
#[server(endpoint = "account/overview")]
pub async fn get_account(page: u32) -> Result<Option<AccountView>, AppError> {
    use domain::ledger;
    use crate::errors::failed;
    let idp = crate::context::idp()?;
    let Some(m) = backend::member(&idp).await? else { return Ok(None) };
    let (balance, locked) = ledger::balance(&idp.db, &m.id).await.map_err(failed)?;
    let (lines, has_next) = ledger::history(&idp.db, &m.id, page, PER_PAGE).await.map_err(failed)?;
    let history = lines
        .into_iter()
        .map(|l| HistoryLineView {
            when: domain::clock::vietnam_rfc3339(l.entry.created_at_ms).get(..16).unwrap_or_default().replace('T', " "),
            kind: backend::kind(l.entry.kind),
            points: l.entry.points,
            partner: l.partner_name,
            reference: l.entry.bit_reference,
        })
        .collect();
    Ok(Some(AccountView {
        skyjoy_id: m.skyjoy_id.as_str().to_string(),
        full_name: m.full_name.to_string(),
        balance,
        locked,
        available: balance - locked,
        history,
        page,
        has_next,
    }))
}

/// The redemption a partner asks for; `Ok(None)` when signed out. A request the member's points
/// do not cover is shown (with the balance) but cannot be confirmed.
#[server(endpoint = "account/redemption")]
pub async fn get_redemption(req: RedeemRequest) -> Result<Option<Result<RedeemView, RedeemRefusal>>, AppError> {
    use crate::errors::failed;
    let idp = crate::context::idp()?;
    let Some(m) = backend::member(&idp).await? else { return Ok(None) };
    let checked = match backend::check(&idp, &req, &m).await? {
        Ok(c) => c,
        Err(refusal) => return Ok(Some(Err(refusal))),
    };
    let (balance, locked) = domain::ledger::balance(&idp.db, &m.id).await.map_err(failed)?;
    let covered = backend::covered(&idp, &m, checked.txn.used_point).await?;
    Ok(Some(Ok(backend::view(&checked, &req, balance - locked, covered))))
}

/// The member confirms: issues the `sign` and sends the browser back to the partner. Refused
/// when the available balance does not cover the points (the ledger decides, as it will again
/// when the partner redeems).
#[server(endpoint = "account/redeem")]
pub async fn confirm_redemption(req: RedeemRequest) -> Result<(), AppError> {
    let idp = crate::context::idp()?;
    let Some(m) = backend::member(&idp).await? else { return Err(AppError::SignedOut) };
    let checked = backend::check(&idp, &req, &m).await?.map_err(|r| AppError::Redeem(r.problem))?;
    if !backend::covered(&idp, &m, checked.txn.used_point).await? {
        return Err(AppError::Redeem(RedeemProblem::InsufficientBalance));
    }
    let sign = domain::ledger::sign::issue(&idp.keys(), &idp.issuer, &checked.client.client_id, &m.id, &checked.txn, domain::now_ms());
    leptos_axum::redirect(&backend::done_url(&req, &sign));
    Ok(())
}

/// The problem's wire name, for `data-code` (tests and people reading the page's source).
fn serde_problem(p: RedeemProblem) -> &'static str {
    match p {
        RedeemProblem::UnknownPartner => "unknown_partner",
        RedeemProblem::InvalidRequest => "invalid_request",
        RedeemProblem::InsufficientBalance => "insufficient_balance",
    }
}

#[component]
fn SignedOut() -> impl IntoView {
    let lang = use_language();
    let location = use_location();
    let href = move || {
        let here = format!("{}{}", location.pathname.get(), location.search.get());
        let back = crate::components::percent_encode(&here);
        format!("/account/signin?return_to={back}")
    };
    view! {
        <section class="card" data-testid="account-signed-out">
            <p>{move || lang.get().texts().account.signed_out}</p>
            <a class="button" href=href>{move || lang.get().texts().account.sign_in}</a>
        </section>
    }
}

#[component]
fn TopBar() -> impl IntoView {
    view! {
        <header class="topbar">
            <a class="brand" href="/account">"SkyJoy"</a>
            <LanguageSwitch/>
        </header>
    }
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let query = use_query_map();
    let page = move || query.read().get("page").and_then(|p| p.parse::<u32>().ok()).unwrap_or(0);
    let account = Resource::new(page, get_account);
    let lang = use_language();
    view! {
        <Title text=lang.get_untracked().texts().account.title/>
        <TopBar/>
        <main class="page narrow account">
            <Transition fallback=|| view! { <p class="muted">"…"</p> }>
                {move || account.get().map(|r| match r {
                    Ok(Some(a)) => view! { <Overview a/> }.into_any(),
                    Ok(None) => view! { <SignedOut/> }.into_any(),
                    Err(e) => view! { <ErrorNote e/> }.into_any(),
                })}
            </Transition>
        </main>
    }
}

#[component]
fn Overview(a: AccountView) -> impl IntoView {
    let lang = use_language();
    let t = move || -> &'static AccountTexts { &lang.get().texts().account };
    let page = a.page;
    let empty = a.history.is_empty();
    let rows = a
        .history
        .into_iter()
        .map(|l| {
            let kind = l.kind;
            let sign_class = if l.points >= 0 { "points plus" } else { "points minus" };
            let points = if l.points >= 0 { format!("+{}", group_digits(l.points)) } else { group_digits(l.points) };
            view! {
                <li class="history-line" data-testid="history-line" data-kind=l.kind.as_str()>
                    <div>
                        <strong>{move || t().kind(kind)}</strong>
                        <span class="muted small">" · "{l.partner}</span>
                        <div class="muted small">{l.when}</div>
                    </div>
                    <span class=sign_class>{points}</span>
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="card balance" data-testid="balance">
            <p class="muted small">{a.full_name}" · "<span data-testid="skyjoy-id">{a.skyjoy_id}</span></p>
            <p class="muted">{move || t().available}</p>
            <p class="big" data-testid="available">{group_digits(a.available)}" SkyPoint"</p>
            <p class="muted small">
                {move || t().locked}": "<span data-testid="locked">{group_digits(a.locked)}</span>
                " · "{move || t().total}": "<span data-testid="total">{group_digits(a.balance)}</span>
            </p>
        </section>
        <h2>{move || t().history}</h2>
        {empty.then(|| view! { <p class="muted" data-testid="history-empty">{move || t().no_history}</p> })}
        <ul class="history">{rows}</ul>
        <nav class="row pager">
            {(page > 0).then(|| view! { <a class="link" href=format!("/account?page={}", page - 1) data-testid="newer">{move || t().newer}</a> })}
            {a.has_next.then(|| view! { <a class="link" href=format!("/account?page={}", page + 1) data-testid="older">{move || t().older}</a> })}
        </nav>
    }
}

#[component]
pub fn RedeemPage() -> impl IntoView {
    let query = use_query_map();
    let req = move || {
        let q = query.read();
        let get = |k: &str| q.get(k).unwrap_or_default();
        RedeemRequest {
            client_id: get("client_id"),
            redirect_uri: get("redirect_uri"),
            state: get("state"),
            transaction_id: get("transactionId"),
            transaction_amount: get("transactionAmount"),
            transaction_date: get("transactionDate"),
            used_point: get("usedPoint"),
            transaction_des: get("transactionDes"),
        }
    };
    let confirm = ServerAction::<ConfirmRedemption>::new();
    let view_data = Resource::new(req, get_redemption);
    let lang = use_language();
    let t = move || -> &'static AccountTexts { &lang.get().texts().account };
    view! {
        <Title text=lang.get_untracked().texts().account.redeem_title/>
        <TopBar/>
        <main class="page narrow account">
            <Transition fallback=|| view! { <p class="muted">"…"</p> }>
                {move || view_data.get().map(|r| match r {
                    Ok(Some(Ok(v))) => view! { <Confirm v req=req() confirm/> }.into_any(),
                    Ok(Some(Err(p))) => {
                        let back = p.back_url.clone();
                        let problem = p.problem;
                        let code = serde_problem(problem);
                        view! {
                            <section class="card" data-testid="redeem-problem" data-code=code>
                                <p class="error" role="alert">{move || t().problem(problem)}</p>
                                {back.map(|url| view! { <a class="button" href=url>{move || t().back_to_partner}</a> })}
                            </section>
                        }.into_any()
                    }
                    Ok(None) => view! { <SignedOut/> }.into_any(),
                    Err(e) => view! { <ErrorNote e/> }.into_any(),
                })}
            </Transition>
        </main>
    }
}

#[component]
fn Confirm(v: RedeemView, req: RedeemRequest, confirm: ServerAction<ConfirmRedemption>) -> impl IntoView {
    let lang = use_language();
    let t = move || -> &'static AccountTexts { &lang.get().texts().account };
    let enough = v.covered;
    let error = move || confirm.value().get().and_then(|r| r.err()).map(|e| view! { <div data-testid="redeem-error"><ErrorNote e/></div> });
    let hidden = |name: &'static str, value: String| view! { <input type="hidden" name=name value=value/> };
    view! {
        <section class="card" data-testid="redeem">
            <h1>{move || t().redeem_heading}</h1>
            <p>
                <strong data-testid="redeem-partner">{v.partner_name.clone()}</strong>
                " "{move || t().asks_to_use}
            </p>
            <p class="big" data-testid="redeem-points">{group_digits(v.used_point)}" SkyPoint"</p>
            {v.description.clone().map(|d| view! { <p class="muted">{d}</p> })}
            <dl class="facts">
                <dt>{move || t().order}</dt><dd><code>{v.transaction_id.clone()}</code></dd>
                <dt>{move || t().amount}</dt><dd>{vnd(v.amount)}</dd>
                <dt>{move || t().available}</dt><dd data-testid="redeem-available">{group_digits(v.available)}" SkyPoint"</dd>
            </dl>
            {(!enough).then(|| view! { <p class="error" role="alert" data-testid="redeem-insufficient">{move || t().problem(RedeemProblem::InsufficientBalance)}</p> })}
            {error}
            <ActionForm action=confirm attr:class="stack">
                {hidden("req[client_id]", req.client_id)}
                {hidden("req[redirect_uri]", req.redirect_uri)}
                {hidden("req[state]", req.state)}
                {hidden("req[transaction_id]", req.transaction_id)}
                {hidden("req[transaction_amount]", req.transaction_amount)}
                {hidden("req[transaction_date]", req.transaction_date)}
                {hidden("req[used_point]", req.used_point)}
                {hidden("req[transaction_des]", req.transaction_des)}
                <button type="submit" class="button" data-testid="redeem-confirm" disabled=move || !enough || confirm.pending().get()>
                    {move || t().confirm}
                </button>
            </ActionForm>
            <a class="link" href=v.cancel_url.clone() data-testid="redeem-cancel">{move || t().cancel}</a>
        </section>
    }
}
