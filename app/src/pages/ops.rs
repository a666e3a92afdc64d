//! Operator pages: `/ops/tikivip` looks a Tiki VIP payment up and refunds it (partly or in
//! full; the refund is sent to the partner by the outbox). An operator signs in with the token
//! whose SHA-256 is `[operator] token_sha256` (`joygate operator token` makes one); without it
//! configured, operator pages refuse everyone.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::{components::vnd, errors::AppError, pages::tikivip::PaymentStatus};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLine {
    pub request_id: String,
    pub amount: i64,
    pub reason: String,
    /// PENDING, SUCCESS or FAILED.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentForOps {
    pub tiki_transaction_id: String,
    pub partner_code: String,
    pub partner_transaction_id: Option<String>,
    pub plan_code: String,
    pub amount: i64,
    pub status: PaymentStatus,
    pub refunded_amount: i64,
    pub customer: String,
    pub vip_until: Option<String>,
    pub refunds: Vec<RefundLine>,
    /// A fresh idempotency key for the refund form (a double submit is one refund).
    pub next_request_id: String,
}

/// The operator pages a sign-in may return to (`next`).
#[cfg(feature = "ssr")]
const OPERATOR_PAGES: [&str; 3] = ["/ops/tikivip", "/ops/rewards", "/ops/benefits"];

/// Signs an operator in with the token; refused (403, the same way) when it is wrong or unset.
/// Then back to `next` (one of the operator pages; `/ops/tikivip` by default).
#[server(endpoint = "ops/sign_in")]
pub async fn ops_sign_in(token: String, #[server(default)] next: Option<String>) -> Result<(), AppError> {
    let expected = crate::context::operator_token().unwrap_or_default();
    let given = domain::identity::clients::secret_sha256(token.trim());
    if expected.len() != 64 || !domain::signing::constant_time_eq(given.as_bytes(), expected.to_ascii_lowercase().as_bytes()) {
        tracing::warn!("operator sign-in refused");
        return Err(AppError::Refused);
    }
    let session = crate::session::current().await.ok_or_else(|| crate::errors::failed("no session layer"))?;
    crate::session::sign_in_operator(&session).await?;
    leptos_axum::redirect(next.as_deref().filter(|n| OPERATOR_PAGES.contains(n)).unwrap_or(OPERATOR_PAGES[0]));
    Ok(())
}

/// `None` when signed out; `Some(None)` when there is no such payment.
#[server(endpoint = "ops/payment")]
pub async fn ops_payment(tiki_transaction_id: String) -> Result<Option<Option<PaymentForOps>>, AppError> {
    use domain::tikivip::{customers, payments, refunds};
    use crate::{errors::failed, pages::tikivip::backend};
    if crate::session::require_operator().await.is_err() {
        return Ok(None);
    }
    let vip = crate::context::tikivip()?;
    let Some(p) = payments::find(&vip.db, tiki_transaction_id.trim()).await.map_err(failed)? else { return Ok(Some(None)) };
    let c = customers::find(&vip.db, &p.customer_id).await.map_err(failed)?;
    let lines = refunds::of_payment(&vip.db, &p.tiki_transaction_id).await.map_err(failed)?;
    Ok(Some(Some(PaymentForOps {
        tiki_transaction_id: p.tiki_transaction_id.clone(),
        partner_code: p.partner_code.clone(),
        partner_transaction_id: p.partner_transaction_id.clone(),
        plan_code: p.plan_code.clone(),
        amount: p.amount,
        status: backend::status(p.status),
        refunded_amount: p.refunded_amount,
        customer: c.as_ref().map(|c| format!("{} · {}", c.identify_code, c.phone)).unwrap_or_default(),
        vip_until: backend::day(c.and_then(|c| c.vip_until_ms), domain::now_ms()),
        refunds: lines
            .into_iter()
            .map(|r| RefundLine { request_id: r.request_id, amount: r.amount, reason: r.reason, status: r.status.as_str().to_string() })
            .collect(),
        next_request_id: refunds::new_request_id(),
    })))
}

/// Queues a refund; the same `request_id` again is the same refund.
#[server(endpoint = "ops/refund")]
pub async fn ops_refund(tiki_transaction_id: String, amount: String, reason: String, request_id: String) -> Result<(), AppError> {
    crate::session::require_operator().await?;
    let vip = crate::context::tikivip()?;
    let amount: i64 = amount.trim().replace('.', "").parse().map_err(|_| AppError::Invalid("the amount must be a whole number of VND".into()))?;
    domain::tikivip::refunds::request(&vip.db, &tiki_transaction_id, amount, &reason, &request_id, domain::now_ms()).await.map_err(|e| match e {
        domain::tikivip::TikiError::Store(s) => crate::errors::failed(s),
        other => AppError::Invalid(other.to_string()),
    })?;
    Ok(())
}

/// `/ops/tikivip?tiki_transaction_id=…` (English only: an operator tool).
#[component]
pub fn OpsTikiVipPage() -> impl IntoView {
    let query = use_query_map();
    let id = move || query.read().get("tiki_transaction_id").unwrap_or_default();
    let sign_in = ServerAction::<OpsSignIn>::new();
    let refund = ServerAction::<OpsRefund>::new();
    // signed in by the hydrated form: the payment is read again (a plain form post reloads the page)
    let payment = Resource::new(move || (id(), refund.version().get(), sign_in.version().get()), |(id, _, _)| ops_payment(id));
    view! {
        <Title text="Operator · Tiki VIP"/>
        <header class="topbar"><span class="brand">"Joygate operator"</span></header>
        <main class="page narrow ops">
            <Transition fallback=|| view! { <p class="muted">"…"</p> }>
                {move || payment.get().map(|r| match r {
                    Ok(None) => view! {
                        <section class="card" data-testid="ops-sign-in">
                            <h1>"Operator sign-in"</h1>
                            <ActionForm action=sign_in attr:class="stack">
                                <label for="token">"Operator token"</label>
                                <input id="token" name="token" type="password" autocomplete="current-password" required=true/>
                                {move || sign_in.value().get().and_then(|r| r.err()).map(|_| view! { <p class="error" role="alert">"Refused."</p> })}
                                <button type="submit" class="button">"Sign in"</button>
                            </ActionForm>
                        </section>
                    }.into_any(),
                    Ok(Some(found)) => view! { <Lookup found refund/> }.into_any(),
                    Err(e) => view! { <crate::components::ErrorNote e/> }.into_any(),
                })}
            </Transition>
        </main>
    }
}

#[component]
fn Lookup(found: Option<PaymentForOps>, refund: ServerAction<OpsRefund>) -> impl IntoView {
    let search = view! {
        <form method="get" action="/ops/tikivip" class="stack">
            <label for="tiki_transaction_id">"Tiki transaction id"</label>
            <input id="tiki_transaction_id" name="tiki_transaction_id" required=true placeholder="221115TIKIVIP-235784371-1668488254"/>
            <button type="submit" class="button">"Look up"</button>
        </form>
    };
    let body = found.map(|p| {
        let refundable = p.status == PaymentStatus::Success && p.refunded_amount < p.amount;
        let rows = p
            .refunds
            .iter()
            .map(|r| view! { <tr data-testid="ops-refund" data-status=r.status.clone()><td>{vnd(r.amount)}</td><td>{r.reason.clone()}</td><td>{r.status.clone()}</td></tr> })
            .collect_view();
        view! {
            <section class="card" data-testid="ops-payment" data-status=p.status.as_str()>
                <h1><code>{p.tiki_transaction_id.clone()}</code></h1>
                <dl class="facts">
                    <dt>"Partner"</dt><dd>{p.partner_code.clone()}" · "{p.partner_transaction_id.clone().unwrap_or_default()}</dd>
                    <dt>"Customer"</dt><dd>{p.customer.clone()}</dd>
                    <dt>"Plan"</dt><dd>{p.plan_code.clone()}</dd>
                    <dt>"Status"</dt><dd>{p.status.as_str()}</dd>
                    <dt>"Paid"</dt><dd>{vnd(p.amount)}</dd>
                    <dt>"Refunded"</dt><dd data-testid="ops-refunded">{vnd(p.refunded_amount)}</dd>
                    <dt>"VIP until"</dt><dd data-testid="ops-vip">{p.vip_until.clone().unwrap_or_else(|| "—".into())}</dd>
                </dl>
                <table class="refunds">
                    <thead><tr><th>"Refund"</th><th>"Reason"</th><th>"Status"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
                {refundable.then(|| view! {
                    <ActionForm action=refund attr:class="stack" attr:data-testid="ops-refund-form">
                        <input type="hidden" name="tiki_transaction_id" value=p.tiki_transaction_id.clone()/>
                        <input type="hidden" name="request_id" value=p.next_request_id.clone()/>
                        <label for="amount">"Amount (VND), at most "{vnd(p.amount - p.refunded_amount)}</label>
                        <input id="amount" name="amount" inputmode="numeric" required=true/>
                        <label for="reason">"Reason"</label>
                        <input id="reason" name="reason" required=true maxlength="200"/>
                        {move || refund.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error" role="alert" data-testid="ops-error">{e.to_string()}</p> })}
                        <button type="submit" class="button" disabled=move || refund.pending().get()>"Refund"</button>
                    </ActionForm>
                })}
            </section>
        }
    });
    view! { {search} {body} }
}
