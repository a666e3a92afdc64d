//! Operator page `/ops/benefits` (English only, like `/ops/tikivip`): the benefit templates with
//! their sync status (the platform's fail code and reason), budget used and left and their
//! benefits by status; creating a template; syncing it; `?template=ID` lists its newest
//! benefits. The same operations are `joygate benefits …` on the command line (shown on the
//! page). Operators sign in with the operator token (`pages::ops`).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::{
    components::{group_digits, ErrorNote},
    errors::AppError,
    pages::ops::OpsSignIn,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateLine {
    pub template_id: String,
    pub title: String,
    pub platform: String,
    pub partner: String,
    pub client_codes: String,
    pub amount: String,
    pub credential: String,
    pub collect_window: String,
    /// NOT_SYNCED, PENDING, PROCESSING, SUCCESS, FAIL
    pub sync_status: String,
    pub sync_request_id: Option<String>,
    pub fail_code: Option<String>,
    pub fail_reason: Option<String>,
    pub budget_total: i64,
    pub budget_used: i64,
    pub budget_left: i64,
    pub activated: i64,
    pub used: i64,
    pub reversed: i64,
    pub expired: i64,
}

impl TemplateLine {
    fn syncing(&self) -> bool {
        matches!(self.sync_status.as_str(), "PENDING" | "PROCESSING")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceLine {
    pub instance_id: String,
    pub user_id: String,
    pub client_code: String,
    pub status: String,
    pub activate_time: String,
    pub expire_time: String,
    pub use_sync: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenefitsForOps {
    pub templates: Vec<TemplateLine>,
    /// The platforms' Client-Ids, for the form.
    pub platforms: Vec<String>,
    /// `?template=`: its newest benefits.
    pub selected: Option<(String, Vec<InstanceLine>)>,
    /// Form defaults: now and 30 days on, as `datetime-local` values (Vietnam time).
    pub default_begin: String,
    pub default_end: String,
}

#[cfg(feature = "ssr")]
mod backend {
    use domain::benefits::{instances, templates::Template, BenefitError};

    use super::{InstanceLine, TemplateLine};
    use crate::errors::{failed, AppError};

    pub fn refused(e: BenefitError) -> AppError {
        match e {
            BenefitError::Store(s) => failed(s),
            other => AppError::Invalid(other.to_string()),
        }
    }

    pub fn amount(currency: &str, value: i64) -> String {
        if currency == "VND" {
            crate::components::vnd(value)
        } else {
            format!("{value} {currency} (minor units)")
        }
    }

    pub fn line(t: &Template, counts: domain::benefits::templates::InstanceCounts) -> TemplateLine {
        use domain::benefits::fields::display_time;
        let sync = t.sync.as_ref();
        TemplateLine {
            template_id: t.template_id.clone(),
            title: t.title.clone(),
            platform: t.client_id.clone(),
            partner: t.partner_client_id.clone(),
            client_codes: t.client_codes.join(" "),
            amount: amount(&t.amount.currency, t.amount.value),
            credential: t.credential.as_str().to_string(),
            collect_window: format!("{} → {}", display_time(t.begin_at_ms), display_time(t.end_at_ms)),
            sync_status: sync.map(|s| s.status.as_str()).unwrap_or("NOT_SYNCED").to_string(),
            sync_request_id: sync.map(|s| s.sync_request_id.clone()),
            fail_code: sync.and_then(|s| s.fail_code.clone()),
            fail_reason: sync.and_then(|s| s.fail_reason.clone()),
            budget_total: t.budget_total,
            budget_used: t.budget_used(),
            budget_left: t.budget_left,
            activated: counts.activated,
            used: counts.used,
            reversed: counts.reversed,
            expired: counts.expired,
        }
    }

    pub fn instance(i: &instances::Instance) -> InstanceLine {
        use domain::benefits::fields::display_time;
        InstanceLine {
            instance_id: i.instance_id.clone(),
            user_id: i.user_id.clone(),
            client_code: i.client_code.clone(),
            status: i.status.as_str().to_string(),
            activate_time: display_time(i.activate_at_ms),
            expire_time: display_time(i.expire_at_ms),
            use_sync: i.use_sync_status.map(|s| match &i.use_sync_code {
                Some(code) => format!("{} {code}", s.as_str()),
                None => s.as_str().to_string(),
            }),
        }
    }
}

/// `None` when signed out.
#[server(endpoint = "ops/benefits")]
pub async fn ops_benefits(template: Option<String>) -> Result<Option<BenefitsForOps>, AppError> {
    use domain::benefits::{fields::local_input_time, instances, platforms, templates};
    if crate::session::require_operator().await.is_err() {
        return Ok(None);
    }
    let db = crate::context::db()?;
    let mut lines = Vec::new();
    for t in templates::list(&db).await.map_err(backend::refused)? {
        let counts = templates::instance_counts(&db, &t.template_id).await.map_err(backend::refused)?;
        lines.push(backend::line(&t, counts));
    }
    let selected = match template.filter(|t| !t.is_empty()) {
        Some(id) => {
            let list = instances::of_template(&db, &id, 100).await.map_err(backend::refused)?;
            Some((id, list.iter().map(backend::instance).collect()))
        }
        None => None,
    };
    let now = domain::now_ms();
    Ok(Some(BenefitsForOps {
        templates: lines,
        platforms: platforms::list(&db).await.map_err(backend::refused)?.into_iter().map(|p| p.client_id).collect(),
        selected,
        default_begin: local_input_time(now),
        default_end: local_input_time(now + 30 * 86_400_000),
    }))
}

/// Creates a template (a draft until synced).
#[server(endpoint = "ops/benefits/create")]
#[allow(clippy::too_many_arguments)]
pub async fn ops_benefit_create(
    template_id: String,
    platform: String,
    partner: String,
    title: String,
    content: String,
    client_codes: String,
    begin: String,
    end: String,
    budget: String,
    amount: String,
    currency: String,
    credential: String,
    url_base: String,
    valid_days: String,
) -> Result<(), AppError> {
    use domain::benefits::{
        fields::parse_operator_time,
        templates::{self, Credential, NewTemplate, Validity},
        Amount, ClientCode, TemplateId, Title,
    };
    crate::session::require_operator().await?;
    let invalid = |e: domain::benefits::InvalidField| AppError::Invalid(e.to_string());
    let number = |field: &str, s: &str| s.trim().replace(['.', ','], "").parse::<i64>().map_err(|_| AppError::Invalid(format!("{field} must be a whole number")));
    let t = NewTemplate {
        template_id: TemplateId::parse(template_id.trim()).map_err(invalid)?,
        client_id: platform.trim().to_string(),
        partner_client_id: partner.trim().to_string(),
        title: Title::parse(&title).map_err(invalid)?,
        content,
        client_codes: client_codes.split([' ', ',']).filter(|c| !c.is_empty()).map(|c| ClientCode::parse(&c.trim().to_ascii_uppercase())).collect::<Result<_, _>>().map_err(invalid)?,
        begin_at_ms: parse_operator_time("begin", &begin).map_err(invalid)?,
        end_at_ms: parse_operator_time("end", &end).map_err(invalid)?,
        budget: number("budget", &budget)?,
        amount: Amount::new(currency.trim(), number("amount", &amount)?).map_err(invalid)?,
        credential: Credential::parse(&credential).ok_or_else(|| AppError::Invalid("credential must be CODE, CODE_PIN or URL".into()))?,
        url_base: Some(url_base.trim().to_string()).filter(|u| !u.is_empty()),
        validity: Validity::Days(number("validity (days)", &valid_days)?),
    };
    let db = crate::context::db()?;
    templates::create(&db, &t, domain::now_ms()).await.map_err(backend::refused)?;
    Ok(())
}

/// Queues a syncBenefit (the outbox sends it and follows the review).
#[server(endpoint = "ops/benefits/sync")]
pub async fn ops_benefit_sync(template_id: String) -> Result<(), AppError> {
    crate::session::require_operator().await?;
    let db = crate::context::db()?;
    domain::benefits::sync::request(&db, template_id.trim(), domain::now_ms()).await.map_err(backend::refused)?;
    crate::context::wake_worker();
    Ok(())
}

#[component]
pub fn OpsBenefitsPage() -> impl IntoView {
    let query = use_query_map();
    let selected = move || query.read().get("template");
    let sign_in = ServerAction::<OpsSignIn>::new();
    let create = ServerAction::<OpsBenefitCreate>::new();
    let sync = ServerAction::<OpsBenefitSync>::new();
    let tick = RwSignal::new(0u32);
    let data = Resource::new(move || (selected(), create.version().get(), sync.version().get(), tick.get(), sign_in.version().get()), |(t, ..)| ops_benefits(t));
    // While a sync is on its way, look again every 2 seconds (in the browser only).
    Effect::new(move |_| {
        if let Some(Ok(Some(d))) = data.get() {
            if d.templates.iter().any(TemplateLine::syncing) {
                set_timeout(move || tick.update(|t| *t += 1), std::time::Duration::from_secs(2));
            }
        }
    });
    view! {
        <Title text="Operator · Benefits"/>
        <header class="topbar"><span class="brand">"Joygate operator"</span><a href="/ops/tikivip">"Tiki VIP"</a></header>
        <main class="page ops benefits">
            <Transition fallback=|| view! { <p class="muted">"…"</p> }>
                {move || data.get().map(|r| match r {
                    Ok(None) => view! {
                        <section class="card narrow" data-testid="ops-sign-in">
                            <h1>"Operator sign-in"</h1>
                            <ActionForm action=sign_in attr:class="stack">
                                <input type="hidden" name="next" value="/ops/benefits"/>
                                <label for="token">"Operator token"</label>
                                <input id="token" name="token" type="password" autocomplete="current-password" required=true/>
                                {move || sign_in.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorNote e/> })}
                                <button type="submit" class="button">"Sign in"</button>
                            </ActionForm>
                        </section>
                    }.into_any(),
                    Ok(Some(d)) => view! { <Benefits d create sync/> }.into_any(),
                    Err(e) => view! { <ErrorNote e/> }.into_any(),
                })}
            </Transition>
        </main>
    }
}

#[component]
fn Benefits(d: BenefitsForOps, create: ServerAction<OpsBenefitCreate>, sync: ServerAction<OpsBenefitSync>) -> impl IntoView {
    let rows = d
        .templates
        .iter()
        .cloned()
        .map(|t| {
            let can_sync = !t.syncing();
            let id = t.template_id.clone();
            let fail = t.fail_code.clone().map(|code| {
                view! { <p class="error small"><strong data-testid="ops-fail-code">{code}</strong>" "<span data-testid="ops-fail-reason">{t.fail_reason.clone().unwrap_or_default()}</span></p> }
            });
            view! {
                <li class="card" data-testid="ops-template" data-template=t.template_id.clone() data-sync=t.sync_status.clone()>
                    <h3><a href=format!("/ops/benefits?template={}", crate::components::percent_encode(&t.template_id))>{t.template_id.clone()}</a>" · "{t.title.clone()}</h3>
                    <dl class="facts">
                        <dt>"Sync"</dt><dd><span class="badge" data-testid="ops-sync-status" data-status=t.sync_status.clone()>{t.sync_status.clone()}</span>" "<code class="small">{t.sync_request_id.clone().unwrap_or_default()}</code></dd>
                        <dt>"Budget"</dt><dd data-testid="ops-budget" data-used=t.budget_used data-left=t.budget_left>{format!("{} used · {} left of {}", group_digits(t.budget_used), group_digits(t.budget_left), group_digits(t.budget_total))}</dd>
                        <dt>"Benefits"</dt><dd data-testid="ops-counts">{format!("{} active · {} used · {} reversed · {} expired", t.activated, t.used, t.reversed, t.expired)}</dd>
                        <dt>"Value"</dt><dd>{t.amount.clone()}" · "{t.credential.clone()}</dd>
                        <dt>"Collect"</dt><dd>{t.collect_window.clone()}</dd>
                        <dt>"Platform"</dt><dd>{t.platform.clone()}" · "{t.client_codes.clone()}" · partner "{t.partner.clone()}</dd>
                    </dl>
                    {fail}
                    {can_sync.then(|| view! {
                        <ActionForm action=sync>
                            <input type="hidden" name="template_id" value=id.clone()/>
                            <button type="submit" class="button" data-testid="ops-sync" disabled=move || sync.pending().get()>"Sync to the platform"</button>
                        </ActionForm>
                    })}
                </li>
            }
        })
        .collect_view();
    let selected = d.selected.clone().map(|(id, list)| {
        let lines = list
            .into_iter()
            .map(|i| {
                let status = i.status.clone();
                view! {
                    <tr data-testid="ops-instance" data-status=status>
                        <td><code>{i.instance_id}</code></td><td>{i.user_id}" · "{i.client_code}</td><td>{i.status}</td>
                        <td>{i.activate_time}" → "{i.expire_time}</td><td>{i.use_sync.unwrap_or_default()}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <section class="card" data-testid="ops-instances">
                <h2>"Benefits of "{id.clone()}</h2>
                <table class="wide" tabindex="0">
                    <thead><tr><th>"Benefit"</th><th>"User"</th><th>"Status"</th><th>"Valid"</th><th>"Use synced"</th></tr></thead>
                    <tbody>{lines}</tbody>
                </table>
                <p class="muted small">"CLI: "<code>{format!("joygate benefits templates show {id}")}</code></p>
            </section>
        }
    });
    let options = d.platforms.iter().map(|p| view! { <option value=p.clone()>{p.clone()}</option> }).collect_view();
    let error = move || create.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorNote e/> });
    let sync_error = move || sync.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorNote e/> });
    view! {
        <h1>"Benefit templates"</h1>
        {sync_error}
        <ul class="cards">{rows}</ul>
        {selected}
        <section class="card narrow">
            <h2>"New template"</h2>
            <ActionForm action=create attr:class="stack" attr:data-testid="ops-template-form">
                <label for="template_id">"benefitTemplateId"</label>
                <input id="template_id" name="template_id" required=true maxlength="64" placeholder="SHOP-50K-DEC"/>
                <label for="platform">"Platform (Client-Id)"</label>
                <select id="platform" name="platform">{options}</select>
                <label for="partner">"Partner shop (client id with scope benefit:use)"</label>
                <input id="partner" name="partner" required=true value="sandbox-shop"/>
                <label for="title">"Title (at most 128)"</label>
                <input id="title" name="title" required=true maxlength="128"/>
                <label for="content">"Content"</label>
                <input id="content" name="content" required=true maxlength="2000"/>
                <label for="client_codes">"Super apps (client codes)"</label>
                <input id="client_codes" name="client_codes" required=true value="SANDBOXAPP"/>
                <label for="begin">"Collect from (Vietnam time)"</label>
                <input id="begin" name="begin" type="datetime-local" required=true value=d.default_begin.clone()/>
                <label for="end">"Collect until"</label>
                <input id="end" name="end" type="datetime-local" required=true value=d.default_end.clone()/>
                <label for="budget">"Budget (total quantity)"</label>
                <input id="budget" name="budget" inputmode="numeric" required=true value="100"/>
                <label for="amount">"Value (smallest unit)"</label>
                <input id="amount" name="amount" inputmode="numeric" required=true value="50000"/>
                <label for="currency">"Currency"</label>
                <input id="currency" name="currency" required=true value="VND" maxlength="3"/>
                <label for="credential">"Credential"</label>
                <select id="credential" name="credential">
                    <option value="CODE">"Code"</option><option value="CODE_PIN">"Code + PIN"</option><option value="URL">"URL"</option>
                </select>
                <label for="url_base">"URL base (URL benefits: the code is appended)"</label>
                <input id="url_base" name="url_base" type="url"/>
                <label for="valid_days">"Valid for (days after collect)"</label>
                <input id="valid_days" name="valid_days" inputmode="numeric" required=true value="30"/>
                {error}
                <button type="submit" class="button" data-testid="ops-create" disabled=move || create.pending().get()>"Create"</button>
            </ActionForm>
            <p class="muted small">"CLI: "<code>"joygate benefits templates add ID --platform … --partner … --title … --content … --client-code … --begin … --end … --budget N --amount N --valid-days N"</code>", then "<code>"joygate benefits sync ID"</code></p>
        </section>
    }
}
