//! The Tiki VIP webview, opened by a payment partner inside its super app (counterparts.md §4):
//! - `/apps/vn.tiki.vip`: the plans with their prices and the customer's VIP status; choosing a
//!   plan is a server function that opens (or reuses) the payment, creates it at the partner
//!   and sends the webview to the partner's payment screen (URL or app link);
//! - `/apps/vn.tiki.vip/callback/index?tiki_transaction_id=…` (Tiki's `url_checkout_result`):
//!   the result, from our own state only (never from the query's status), polled with backoff
//!   while PENDING; a payment pending for a while is checked at the partner on the spot.
//!
//! The customer is the one the partner's single-use `url_open` link opened (session).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::{
    components::{vnd, ErrorNote, LanguageSwitch},
    errors::AppError,
    i18n::{Lang, TikiVipTexts},
    prefs::use_language,
};

/// Where a payment is, as the result page shows it (Tiki's statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    Pending,
    Success,
    Failure,
    Cancelled,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "PENDING",
            PaymentStatus::Success => "SUCCESS",
            PaymentStatus::Failure => "FAILURE",
            PaymentStatus::Cancelled => "CANCELLED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanView {
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
    pub months: u32,
    pub price: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipView {
    pub full_name: Option<String>,
    /// `DD-MM-YYYY` (Vietnam) while VIP.
    pub vip_until: Option<String>,
    pub plans: Vec<PlanView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentView {
    pub tiki_transaction_id: String,
    pub plan: Option<PlanView>,
    pub amount: i64,
    pub status: PaymentStatus,
    pub vip_until: Option<String>,
}

#[cfg(feature = "ssr")]
pub mod backend {
    use domain::tikivip::{customers, payments, TikiVip};

    use super::PaymentStatus;
    use crate::errors::{failed, AppError};

    /// The webview's customer, if the partner's link opened one on this browser.
    pub async fn customer(vip: &TikiVip) -> Result<Option<customers::Customer>, AppError> {
        let id = match crate::session::current().await {
            Some(s) => crate::session::tikivip_customer(&s).await,
            None => None,
        };
        match id {
            Some(id) => customers::find(&vip.db, &id).await.map_err(failed),
            None => Ok(None),
        }
    }

    pub fn day(ms: Option<i64>, now_ms: i64) -> Option<String> {
        ms.filter(|m| *m > now_ms).map(domain::clock::vietnam_day)
    }

    pub fn plan_view(p: &domain::tikivip::Plan) -> super::PlanView {
        super::PlanView { code: p.code.clone(), name_vi: p.name_vi.clone(), name_en: p.name_en.clone(), months: p.months, price: p.price }
    }

    pub fn status(s: payments::Status) -> PaymentStatus {
        match s {
            payments::Status::Pending => PaymentStatus::Pending,
            payments::Status::Success => PaymentStatus::Success,
            payments::Status::Failure => PaymentStatus::Failure,
            payments::Status::Cancelled => PaymentStatus::Cancelled,
        }
    }
}

/// The plans and the customer's VIP status; `None` when no partner link opened the webview.
#[server(endpoint = "tikivip/vip")]
pub async fn get_vip() -> Result<Option<VipView>, AppError> {
    let vip = crate::context::tikivip()?;
    let Some(c) = backend::customer(&vip).await? else { return Ok(None) };
    Ok(Some(VipView {
        full_name: c.full_name.clone(),
        vip_until: backend::day(c.vip_until_ms, domain::now_ms()),
        plans: vip.plans.iter().map(backend::plan_view).collect(),
    }))
}

/// The customer chose a plan: open (or reuse) its payment and go to the partner's payment
/// screen. A double tap, the back button or a reload reuse the same payment.
#[server(endpoint = "tikivip/checkout")]
pub async fn checkout(plan: String) -> Result<(), AppError> {
    use domain::tikivip::gateway;
    let vip = crate::context::tikivip()?;
    let Some(c) = backend::customer(&vip).await? else { return Err(AppError::SignedOut) };
    let chosen = vip.plan(&plan).ok_or(AppError::UnknownPlan)?.clone();
    let done = gateway::checkout(&vip.db, vip.api.as_ref(), &c, &chosen, &vip.checkout_result_url(), domain::now_ms()).await.map_err(|e| match e {
        gateway::CheckoutError::Partner(p) => {
            tracing::warn!(error = %p, "the payment partner did not create the transaction");
            AppError::PartnerUnavailable
        }
        other => crate::errors::failed(other),
    })?;
    leptos_axum::redirect(&done.open_url);
    Ok(())
}

/// A payment of this webview's customer, as we know it; a PENDING one not heard of for a few
/// seconds is checked at the partner first. `None`: not this customer's (or unknown).
#[server(endpoint = "tikivip/payment")]
pub async fn get_payment(tiki_transaction_id: String) -> Result<Option<PaymentView>, AppError> {
    use domain::tikivip::{customers, gateway, payments};
    use crate::errors::failed;
    let vip = crate::context::tikivip()?;
    let Some(c) = backend::customer(&vip).await? else { return Ok(None) };
    let now = domain::now_ms();
    let Some(mut p) = payments::find(&vip.db, &tiki_transaction_id).await.map_err(failed)?.filter(|p| p.customer_id == c.id) else {
        return Ok(None);
    };
    if p.status == payments::Status::Pending && payments::claim_check(&vip.db, &p.tiki_transaction_id, 5_000, now).await.map_err(failed)? {
        match gateway::check_one(&vip.db, vip.api.as_ref(), &vip.plans, &vip.policy, &p, now).await {
            Ok(now_p) => p = now_p,
            Err(e) => tracing::warn!(error = %e, payment = %p.tiki_transaction_id, "checking a pending payment failed"),
        }
    }
    let c = customers::find(&vip.db, &c.id).await.map_err(failed)?.unwrap_or(c);
    Ok(Some(PaymentView {
        tiki_transaction_id: p.tiki_transaction_id.clone(),
        plan: vip.plan(&p.plan_code).map(backend::plan_view),
        amount: p.amount,
        status: backend::status(p.status),
        vip_until: backend::day(c.vip_until_ms, now),
    }))
}

fn plan_name(p: &PlanView, lang: Lang) -> String {
    if lang == Lang::En { p.name_en.clone() } else { p.name_vi.clone() }
}

#[component]
fn VipTop() -> impl IntoView {
    view! {
        <header class="topbar">
            <span class="brand">"Tiki VIP"</span>
            <LanguageSwitch/>
        </header>
    }
}

#[component]
fn NotOpened() -> impl IntoView {
    let lang = use_language();
    view! { <section class="card" data-testid="vip-not-opened"><p>{move || lang.get().texts().tikivip.not_opened}</p></section> }
}

#[component]
pub fn PlansPage() -> impl IntoView {
    let checkout = ServerAction::<Checkout>::new();
    let vip = Resource::new(|| (), |_| get_vip());
    let lang = use_language();
    view! {
        <Title text=lang.get_untracked().texts().tikivip.title/>
        <VipTop/>
        <main class="page narrow vip">
            <Transition fallback=|| view! { <p class="muted">"…"</p> }>
                {move || vip.get().map(|r| match r {
                    Ok(Some(v)) => view! { <Plans v checkout/> }.into_any(),
                    Ok(None) => view! { <NotOpened/> }.into_any(),
                    Err(e) => view! { <ErrorNote e/> }.into_any(),
                })}
            </Transition>
        </main>
    }
}

#[component]
fn Plans(v: VipView, checkout: ServerAction<Checkout>) -> impl IntoView {
    let lang = use_language();
    let t = move || -> &'static TikiVipTexts { &lang.get().texts().tikivip };
    let status = match v.vip_until.clone() {
        Some(until) => view! { <p class="vip-status active" data-testid="vip-active">{move || t().vip_until}" "<strong>{until.clone()}</strong></p> }.into_any(),
        None => view! { <p class="vip-status" data-testid="vip-inactive">{move || t().not_vip}</p> }.into_any(),
    };
    let error = move || checkout.value().get().and_then(|r| r.err()).map(|e| view! { <div data-testid="vip-error"><ErrorNote e/></div> });
    let plans = v
        .plans
        .into_iter()
        .map(|p| {
            let code = p.code.clone();
            let name = p.clone();
            view! {
                <li class="card plan" data-testid="vip-plan" data-plan=p.code.clone()>
                    <h3>{move || plan_name(&name, lang.get())}</h3>
                    <p class="big">{vnd(p.price)}</p>
                    <ActionForm action=checkout>
                        <input type="hidden" name="plan" value=code/>
                        <button type="submit" class="button" data-testid="vip-buy" disabled=move || checkout.pending().get()>{move || t().buy}</button>
                    </ActionForm>
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="hero">
            <h1>{move || t().heading}</h1>
            {v.full_name.map(|n| view! { <p class="muted">{n}</p> })}
            {status}
        </section>
        {error}
        <ul class="cards">{plans}</ul>
    }
}

#[component]
pub fn ResultPage() -> impl IntoView {
    let query = use_query_map();
    let id = move || query.read().get("tiki_transaction_id").unwrap_or_default();
    let round = RwSignal::new(0u32);
    let payment = Resource::new(move || (id(), round.get()), |(id, _)| get_payment(id));
    // While PENDING, ask again after 1, 2, 4, 8 then every 10 seconds (in the browser only).
    Effect::new(move |_| {
        if let Some(Ok(Some(p))) = payment.get() {
            if p.status == PaymentStatus::Pending {
                let n = round.get_untracked();
                let wait = 1_000u64.saturating_mul(1 << n.min(3)).min(10_000);
                set_timeout(move || round.update(|r| *r += 1), std::time::Duration::from_millis(wait));
            }
        }
    });
    let lang = use_language();
    view! {
        <Title text=lang.get_untracked().texts().tikivip.result_title/>
        <VipTop/>
        <main class="page narrow vip">
            <Transition fallback=|| view! { <p class="muted">"…"</p> }>
                {move || payment.get().map(|r| match r {
                    Ok(Some(p)) => view! { <Outcome p/> }.into_any(),
                    Ok(None) => view! { <NotOpened/> }.into_any(),
                    Err(e) => view! { <ErrorNote e/> }.into_any(),
                })}
            </Transition>
        </main>
    }
}

#[component]
fn Outcome(p: PaymentView) -> impl IntoView {
    let lang = use_language();
    let t = move || -> &'static TikiVipTexts { &lang.get().texts().tikivip };
    let status = p.status;
    let pending = status == PaymentStatus::Pending;
    let heading = move || match status {
        PaymentStatus::Success => t().paid,
        PaymentStatus::Pending => t().pending,
        PaymentStatus::Cancelled => t().cancelled,
        PaymentStatus::Failure => t().failed_payment,
    };
    let plan = p.plan.clone();
    view! {
        <section class="card result" data-testid="vip-result" data-status=status.as_str()>
            <h1>{heading}</h1>
            {plan.map(|pl| view! { <p>{move || plan_name(&pl, lang.get())}" · "{vnd(p.amount)}</p> })}
            <p class="muted small"><code>{p.tiki_transaction_id.clone()}</code></p>
            {p.vip_until.clone().map(|until| view! { <p class="vip-status active" data-testid="vip-active">{move || t().vip_until}" "<strong>{until.clone()}</strong></p> })}
            {pending.then(|| view! {
                <p class="muted" data-testid="vip-pending">{move || t().pending_hint}</p>
                <noscript><meta http-equiv="refresh" content="3"/></noscript>
            })}
            <a class="button" href="/apps/vn.tiki.vip" data-testid="vip-back">{move || t().back_to_plans}</a>
        </section>
    }
}
