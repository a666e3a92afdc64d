//! A partner shop's cashier, `/cashier` (phone width, Vietnamese or English): the cashier signs
//! in with the shop's client id and secret (a client allowed the `benefit:use` scope), enters or
//! pastes a customer's code, sees the voucher (value, status, expiry; a PIN field when it has
//! one) and confirms its use. The rules are `domain::benefits::usage` (the same as the partner
//! API `POST /api-benefit/partner/v1/benefit/use`): only this shop's vouchers, once each.
//! Plain forms and a GET lookup, so it works before (or without) the wasm.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::{
    components::{vnd, ErrorNote, LanguageSwitch},
    errors::{AppError, BenefitProblem},
    i18n::CashierTexts,
    prefs::use_language,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VoucherStatus {
    Activated,
    Used,
    Reversed,
    Expired,
}

impl VoucherStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VoucherStatus::Activated => "ACTIVATED",
            VoucherStatus::Used => "USED",
            VoucherStatus::Reversed => "REVERSED",
            VoucherStatus::Expired => "EXPIRED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voucher {
    pub code: String,
    pub title: String,
    pub amount: i64,
    pub currency: String,
    pub status: VoucherStatus,
    /// `DD-MM-YYYY HH:MM`, Vietnam time.
    pub expires: String,
    pub used_at: Option<String>,
    pub pin_required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TillView {
    /// The shop's name.
    pub shop: String,
    /// What `?code=` found (or why not).
    pub lookup: Option<Result<Voucher, AppError>>,
    /// A fresh idempotency key for the use form (a double tap is one use).
    pub request_id: String,
}

#[cfg(feature = "ssr")]
pub mod backend {
    use domain::benefits::{fields::display_time, instances, BenefitError};

    use super::{Voucher, VoucherStatus};
    use crate::errors::{failed, AppError, BenefitProblem};

    pub fn refused(e: BenefitError) -> AppError {
        match e {
            BenefitError::UnknownBenefit => AppError::Benefit(BenefitProblem::NotFound),
            BenefitError::AlreadyUsed => AppError::Benefit(BenefitProblem::AlreadyUsed),
            BenefitError::Expired => AppError::Benefit(BenefitProblem::Expired),
            BenefitError::Reversed => AppError::Benefit(BenefitProblem::Reversed),
            BenefitError::WrongPin => AppError::Benefit(BenefitProblem::WrongPin),
            BenefitError::Invalid(why) => AppError::Invalid(why),
            other => failed(other),
        }
    }

    pub fn voucher(i: &instances::Instance) -> Voucher {
        let status = match i.status {
            instances::Status::Activated => VoucherStatus::Activated,
            instances::Status::Used => VoucherStatus::Used,
            instances::Status::Reversed => VoucherStatus::Reversed,
            instances::Status::Expired => VoucherStatus::Expired,
        };
        Voucher {
            code: i.code.clone(),
            title: i.title.clone(),
            amount: i.amount.value,
            currency: i.amount.currency.clone(),
            status,
            expires: display_time(i.expire_at_ms),
            used_at: (status == VoucherStatus::Used).then(|| display_time(i.status_at_ms)),
            pin_required: i.pin.is_some(),
        }
    }

    /// A typed or pasted code, or `NotFound` when it cannot be one.
    pub fn code(input: &str) -> Result<instances::Lookup, AppError> {
        let code = instances::normalize_code(input);
        if code.is_empty() || code.len() > 64 {
            return Err(AppError::Benefit(BenefitProblem::NotFound));
        }
        Ok(instances::Lookup::Code(code))
    }
}

/// `None` when no cashier signed in on this browser.
#[server(endpoint = "cashier/view")]
pub async fn cashier_view(code: Option<String>) -> Result<Option<TillView>, AppError> {
    let Ok(partner) = crate::session::require_cashier().await else { return Ok(None) };
    let db = crate::context::db()?;
    let shop = domain::identity::clients::find(&db, &partner).await.map_err(crate::errors::failed)?.map(|c| c.name).unwrap_or(partner.clone());
    let lookup = match code.filter(|c| !c.trim().is_empty()) {
        Some(code) => Some(match backend::code(&code) {
            Ok(by) => domain::benefits::usage::lookup(&db, &partner, &by).await.map(|i| backend::voucher(&i)).map_err(backend::refused),
            Err(e) => Err(e),
        }),
        None => None,
    };
    Ok(Some(TillView { shop, lookup, request_id: domain::signing::random_token(16) }))
}

/// The shop's cashier signs in with its client id and secret (a client allowed `benefit:use`).
#[server(endpoint = "cashier/sign_in")]
pub async fn cashier_sign_in(client_id: String, client_secret: String) -> Result<(), AppError> {
    let db = crate::context::db()?;
    let client = domain::identity::clients::find(&db, client_id.trim()).await.map_err(crate::errors::failed)?;
    match client {
        Some(c) if c.secret_matches(client_secret.trim()) && c.may_request("benefit:use") => {
            let session = crate::session::current().await.ok_or_else(|| crate::errors::failed("no session layer"))?;
            crate::session::sign_in_cashier(&session, &c.client_id).await?;
            leptos_axum::redirect("/cashier");
            Ok(())
        }
        _ => {
            tracing::warn!(client_id = %client_id.trim(), "cashier sign-in refused");
            Err(AppError::Refused)
        }
    }
}

#[server(endpoint = "cashier/sign_out")]
pub async fn cashier_sign_out() -> Result<(), AppError> {
    if let Some(session) = crate::session::current().await {
        crate::session::sign_out_cashier(&session).await;
    }
    leptos_axum::redirect("/cashier");
    Ok(())
}

/// Uses the voucher once; the same `request_id` again (a double tap, a retry) is the same use.
#[server(endpoint = "cashier/use")]
pub async fn cashier_use(code: String, pin: Option<String>, request_id: String) -> Result<Voucher, AppError> {
    use domain::benefits::usage::{self, UseRequest};
    let partner = crate::session::require_cashier().await?;
    let db = crate::context::db()?;
    let req = UseRequest {
        lookup: backend::code(&code)?,
        pin: pin.filter(|p| !p.trim().is_empty()),
        partner_request_id: Some(request_id.trim().to_string()).filter(|r| !r.is_empty()),
    };
    let used = usage::use_benefit(&db, &partner, &req, domain::now_ms()).await.map_err(backend::refused)?;
    crate::context::wake_worker(); // the syncUsedBenefit
    leptos_axum::redirect(&format!("/cashier?code={}", crate::components::percent_encode(&used.instance.code)));
    Ok(backend::voucher(&used.instance))
}

/// `ABCD EFGH 1234`: a code in groups of four, easier to read aloud.
fn grouped(code: &str) -> String {
    code.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
}

#[component]
pub fn CashierPage() -> impl IntoView {
    let query = use_query_map();
    let code = move || query.read().get("code");
    let sign_in = ServerAction::<CashierSignIn>::new();
    let use_it = ServerAction::<CashierUse>::new();
    let view_data = Resource::new(move || (code(), use_it.version().get(), sign_in.version().get()), |(c, ..)| cashier_view(c));
    let lang = use_language();
    let t = move || -> &'static CashierTexts { &lang.get().texts().cashier };
    view! {
        <Title text=lang.get_untracked().texts().cashier.title/>
        <header class="topbar"><span class="brand">{move || t().title}</span><LanguageSwitch/></header>
        <main class="page narrow cashier">
            <Transition fallback=|| view! { <p class="muted">"…"</p> }>
                {move || view_data.get().map(|r| match r {
                    Ok(None) => view! {
                        <section class="card" data-testid="cashier-sign-in">
                            <h1>{move || t().sign_in_heading}</h1>
                            <ActionForm action=sign_in attr:class="stack">
                                <label for="client_id">{move || t().client_id}</label>
                                <input id="client_id" name="client_id" autocomplete="username" required=true/>
                                <label for="client_secret">{move || t().client_secret}</label>
                                <input id="client_secret" name="client_secret" type="password" autocomplete="current-password" required=true/>
                                {move || sign_in.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorNote e/> })}
                                <button type="submit" class="button" data-testid="cashier-sign-in-button">{move || t().sign_in}</button>
                            </ActionForm>
                        </section>
                    }.into_any(),
                    Ok(Some(v)) => view! { <Till v use_it/> }.into_any(),
                    Err(e) => view! { <ErrorNote e/> }.into_any(),
                })}
            </Transition>
        </main>
    }
}

#[component]
fn Till(v: TillView, use_it: ServerAction<CashierUse>) -> impl IntoView {
    let lang = use_language();
    let t = move || -> &'static CashierTexts { &lang.get().texts().cashier };
    let sign_out = ServerAction::<CashierSignOut>::new();
    let typed = v.lookup.as_ref().and_then(|l| l.as_ref().ok()).map(|v| v.code.clone()).unwrap_or_default();
    let found = v.lookup.clone().map(|l| match l {
        Ok(voucher) => view! { <VoucherCard voucher request_id=v.request_id.clone() use_it/> }.into_any(),
        Err(e) => view! { <div data-testid="cashier-problem"><ErrorNote e/></div> }.into_any(),
    });
    view! {
        <p class="muted small" data-testid="cashier-shop">{v.shop.clone()}</p>
        <form method="get" action="/cashier" class="stack card" data-testid="cashier-code-form">
            <label for="code">{move || t().code_label}</label>
            <input id="code" name="code" required=true autocomplete="off" autocapitalize="characters" spellcheck="false" inputmode="text" maxlength="80" value=typed placeholder="ABCD EFGH 1234"/>
            <button type="submit" class="button" data-testid="cashier-check">{move || t().check}</button>
        </form>
        {found}
        <ActionForm action=sign_out>
            <button type="submit" class="link">{move || t().sign_out}</button>
        </ActionForm>
    }
}

#[component]
fn VoucherCard(voucher: Voucher, request_id: String, use_it: ServerAction<CashierUse>) -> impl IntoView {
    let lang = use_language();
    let t = move || -> &'static CashierTexts { &lang.get().texts().cashier };
    let value = if voucher.currency == "VND" { vnd(voucher.amount) } else { format!("{} {}", voucher.amount, voucher.currency) };
    let status = voucher.status;
    let status_text = move || t().status(status);
    let usable = status == VoucherStatus::Activated;
    let error = move || use_it.value().get().and_then(|r| r.err()).map(|e| view! { <div data-testid="cashier-problem"><ErrorNote e/></div> });
    view! {
        <section class="card voucher" data-testid="cashier-voucher" data-status=status.as_str()>
            <p class="big" data-testid="cashier-value">{value}</p>
            <h2>{voucher.title.clone()}</h2>
            <p class="code" data-testid="cashier-code">{grouped(&voucher.code)}</p>
            <dl class="facts">
                <dt>{move || t().status_label}</dt><dd data-testid="cashier-status">{status_text}</dd>
                <dt>{move || t().expires}</dt><dd>{voucher.expires.clone()}</dd>
                {voucher.used_at.clone().map(|at| view! { <dt>{move || t().used_at}</dt><dd data-testid="cashier-used">{at}</dd> })}
            </dl>
            {error}
            {usable.then(|| view! {
                <ActionForm action=use_it attr:class="stack" attr:data-testid="cashier-use-form">
                    <input type="hidden" name="code" value=voucher.code.clone()/>
                    <input type="hidden" name="request_id" value=request_id.clone()/>
                    {voucher.pin_required.then(|| view! {
                        <label for="pin">{move || t().pin}</label>
                        <input id="pin" name="pin" inputmode="numeric" autocomplete="off" required=true maxlength="6"/>
                    })}
                    <button type="submit" class="button" data-testid="cashier-confirm" disabled=move || use_it.pending().get()>{move || t().confirm}</button>
                </ActionForm>
            })}
        </section>
    }
}

impl CashierTexts {
    pub fn status(&self, s: VoucherStatus) -> &'static str {
        match s {
            VoucherStatus::Activated => self.status_activated,
            VoucherStatus::Used => self.status_used,
            VoucherStatus::Reversed => self.status_reversed,
            VoucherStatus::Expired => self.status_expired,
        }
    }

    pub fn problem(&self, p: BenefitProblem) -> &'static str {
        match p {
            BenefitProblem::NotFound => self.problem_not_found,
            BenefitProblem::AlreadyUsed => self.problem_already_used,
            BenefitProblem::Expired => self.problem_expired,
            BenefitProblem::Reversed => self.problem_reversed,
            BenefitProblem::WrongPin => self.problem_wrong_pin,
        }
    }
}
