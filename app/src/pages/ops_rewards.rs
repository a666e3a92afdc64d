//! `/ops/rewards`: the loyalty reward tasks for operators — tickets by status and action, one
//! ticket's envelope (as received) and result, the dead letters with a replay each, and the
//! reward rules in force per client. Signed in with the operator token, like `/ops/tikivip`
//! (English only: an operator tool). A replay puts the ticket and its job back in the queue
//! (`domain::rewards::tickets::replay`); the worker pays it once.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::{
    components::{group_digits, percent_encode},
    errors::AppError,
    pages::ops::OpsSignIn,
};

/// The ticket states and actions, as filters.
const STATES: [&str; 5] = ["queued", "processing", "success", "failed", "dead"];
const ACTIONS: [&str; 6] = ["transaction", "luckydraw", "register", "registerreferral", "transactionreferral", "dailycheckin"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketLine {
    pub ticket_id: String,
    pub client_id: String,
    pub action: String,
    pub member: String,
    pub state: String,
    /// Points paid, the refusal's reason, or the last error.
    pub outcome: String,
    pub attempts: i64,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketDetail {
    pub line: TicketLine,
    pub business_key: String,
    pub idempotency_key: Option<String>,
    pub local_day: String,
    pub verified: bool,
    /// The message as received, indented.
    pub envelope: String,
    /// The result (JSON), the refusal's message or nothing yet.
    pub result: Option<String>,
    pub last_error: Option<String>,
    pub finished_at: Option<String>,
    pub replayable: bool,
}

/// One client's rules, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientInForce {
    pub client_id: String,
    pub time_zone: String,
    pub key: String,
    /// `(action, rule)`; a switched-off action says so.
    pub rules: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewardsForOps {
    /// `(state, action, count)`.
    pub counts: Vec<(String, String, i64)>,
    pub state: Option<String>,
    pub action: Option<String>,
    pub tickets: Vec<TicketLine>,
    pub dead: Vec<TicketLine>,
    /// `Some(None)`: the ticket asked for does not exist.
    pub selected: Option<Option<TicketDetail>>,
    pub clients: Vec<ClientInForce>,
}

#[cfg(feature = "ssr")]
pub mod backend {
    use domain::rewards::{rules::Rules, tickets::Ticket, RewardClient};

    use super::{ClientInForce, TicketDetail, TicketLine};

    pub fn line(t: &Ticket) -> TicketLine {
        let outcome = match (&t.result, t.reason) {
            (Some(r), _) => format!("{} points", r.points),
            (None, Some(reason)) => reason.as_str().to_string(),
            (None, None) => t.last_error.clone().unwrap_or_default(),
        };
        TicketLine {
            ticket_id: t.ticket_id.clone(),
            client_id: t.client_id.clone(),
            action: t.action.as_str().to_string(),
            member: t.member_ref.clone(),
            state: t.state.as_str().to_string(),
            outcome,
            attempts: t.attempts,
            created_at: domain::clock::vietnam_rfc3339(t.created_at_ms),
        }
    }

    pub fn detail(t: &Ticket) -> TicketDetail {
        let envelope = serde_json::from_str::<serde_json::Value>(&t.envelope).ok().and_then(|v| serde_json::to_string_pretty(&v).ok()).unwrap_or_else(|| t.envelope.clone());
        let result = match (&t.result, &t.message) {
            (Some(r), _) => serde_json::to_string_pretty(r).ok(),
            (None, Some(m)) => Some(m.clone()),
            (None, None) => None,
        };
        TicketDetail {
            line: line(t),
            business_key: t.business_key.clone(),
            idempotency_key: t.idempotency_key.clone(),
            local_day: t.local_day.clone(),
            verified: t.verified,
            envelope,
            result,
            last_error: t.last_error.clone(),
            finished_at: t.finished_at_ms.map(domain::clock::vietnam_rfc3339),
            replayable: domain::rewards::tickets::next(t.state, domain::rewards::tickets::Move::Replay).is_ok(),
        }
    }

    fn rules_in_words(r: &Rules) -> Vec<(String, String)> {
        let on = |enabled: bool, text: String| if enabled { text } else { format!("off ({text})") };
        let t = &r.transaction;
        let cap = if t.max_points > 0 { format!("at most {} a purchase", t.max_points) } else { "no cap".into() };
        let products: String = r.transactionreferral.products.iter().map(|(p, s)| format!(", product {p}: {s} %")).collect();
        let prizes: Vec<String> = r.luckydraw.prizes.iter().map(|p| format!("{} (weight {})", p.points, p.weight)).collect();
        let streak: Vec<String> = r.dailycheckin.streak_points.iter().map(i64::to_string).collect();
        vec![
            (
                "transaction".into(),
                on(t.enabled, format!("1 point per {} VND of the purchase, rounded {}, {cap}", super::group_digits(t.vnd_per_point), format!("{:?}", t.rounding).to_lowercase())),
            ),
            ("register".into(), on(r.register.enabled, format!("{} points once per member", r.register.points))),
            (
                "registerreferral".into(),
                on(r.registerreferral.enabled, format!("{} points to the referrer, {} to the new member, once per member", r.registerreferral.referrer_points, r.registerreferral.member_points)),
            ),
            ("transactionreferral".into(), on(r.transactionreferral.enabled, format!("the referrer earns on {} % of the amount{products}", r.transactionreferral.percent))),
            ("luckydraw".into(), on(r.luckydraw.enabled, format!("{} draws a day; prizes {}", r.luckydraw.daily_limit, prizes.join(", ")))),
            ("dailycheckin".into(), on(r.dailycheckin.enabled, format!("once a day; streak days {}", streak.join(", ")))),
        ]
    }

    pub fn client(c: &RewardClient, key: &str) -> ClientInForce {
        ClientInForce { client_id: c.client_id.clone(), time_zone: c.time_zone.to_string(), key: key.to_string(), rules: rules_in_words(&c.rules) }
    }
}

/// `None` when no operator is signed in.
#[server(endpoint = "ops/rewards")]
pub async fn ops_rewards(state: Option<String>, action: Option<String>, ticket: Option<String>) -> Result<Option<RewardsForOps>, AppError> {
    use domain::rewards::{tickets, Action};

    use crate::errors::failed;
    if crate::session::require_operator().await.is_err() {
        return Ok(None);
    }
    let db = crate::context::db()?;
    let state = state.filter(|s| STATES.contains(&s.as_str()));
    let action = action.and_then(|a| Action::parse(&a));
    let filter = tickets::Filter { state: state.clone(), action, ..Default::default() };
    let list = tickets::list(&db, &filter, 50).await.map_err(failed)?;
    let dead = tickets::list(&db, &tickets::Filter { state: Some("dead".into()), ..Default::default() }, 50).await.map_err(failed)?;
    let selected = match ticket.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(id) => Some(tickets::find(&db, id).await.map_err(failed)?.as_ref().map(backend::detail)),
        None => None,
    };
    let clients = crate::context::reward_clients()?;
    Ok(Some(RewardsForOps {
        counts: tickets::counts(&db).await.map_err(failed)?,
        state,
        action: action.map(|a| a.as_str().to_string()),
        tickets: list.iter().map(backend::line).collect(),
        dead: dead.iter().map(backend::line).collect(),
        selected,
        clients: clients.0.iter().map(|(c, key)| backend::client(c, key)).collect(),
    }))
}

/// Puts a dead or failed ticket back in the queue (5 more runs of its job).
#[server(endpoint = "ops/rewards/replay")]
pub async fn ops_rewards_replay(ticket_id: String) -> Result<(), AppError> {
    use domain::rewards::tickets::{self, ReplayError};
    crate::session::require_operator().await?;
    let db = crate::context::db()?;
    tickets::replay(&db, ticket_id.trim(), 5, domain::now_ms()).await.map_err(|e| match e {
        ReplayError::Store(s) => crate::errors::failed(s),
        other => AppError::Invalid(other.to_string()),
    })?;
    tracing::info!(ticket = %ticket_id, "operator replayed a reward ticket");
    Ok(())
}

fn link(state: Option<&str>, action: Option<&str>, ticket: Option<&str>) -> String {
    let params: Vec<String> = [("state", state), ("action", action), ("ticket", ticket)]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", percent_encode(v))))
        .collect();
    if params.is_empty() {
        "/ops/rewards".into()
    } else {
        format!("/ops/rewards?{}", params.join("&"))
    }
}

/// `/ops/rewards?state=…&action=…&ticket=…`
#[component]
pub fn OpsRewardsPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name).filter(|v| !v.is_empty());
    let sign_in = ServerAction::<OpsSignIn>::new();
    let replay = ServerAction::<OpsRewardsReplay>::new();
    let page = Resource::new(
        move || (param("state"), param("action"), param("ticket"), replay.version().get(), sign_in.version().get()),
        |(state, action, ticket, _, _)| ops_rewards(state, action, ticket),
    );
    view! {
        <Title text="Operator · Reward tasks"/>
        <header class="topbar"><span class="brand">"Joygate operator"</span></header>
        <main class="page narrow ops">
            <Transition fallback=|| view! { <p class="muted">"…"</p> }>
                {move || page.get().map(|r| match r {
                    Ok(None) => view! {
                        <section class="card" data-testid="ops-sign-in">
                            <h1>"Operator sign-in"</h1>
                            <ActionForm action=sign_in attr:class="stack">
                                <input type="hidden" name="next" value="/ops/rewards"/>
                                <label for="token">"Operator token"</label>
                                <input id="token" name="token" type="password" autocomplete="current-password" required=true/>
                                {move || sign_in.value().get().and_then(|r| r.err()).map(|e| view! { <crate::components::ErrorNote e/> })}
                                <button type="submit" class="button">"Sign in"</button>
                            </ActionForm>
                        </section>
                    }.into_any(),
                    Ok(Some(found)) => view! { <Rewards found replay/> }.into_any(),
                    Err(e) => view! { <crate::components::ErrorNote e/> }.into_any(),
                })}
            </Transition>
        </main>
    }
}

#[component]
fn ReplayButton(ticket_id: String, replay: ServerAction<OpsRewardsReplay>) -> impl IntoView {
    view! {
        <ActionForm action=replay attr:class="inline" attr:data-testid="ops-replay-form">
            <input type="hidden" name="ticket_id" value=ticket_id/>
            <button type="submit" class="button small" data-testid="ops-replay" disabled=move || replay.pending().get()>"Replay"</button>
        </ActionForm>
    }
}

fn ticket_rows(lines: &[TicketLine], testid: &'static str) -> impl IntoView {
    lines
        .iter()
        .map(|t| {
            let href = link(None, None, Some(&t.ticket_id));
            view! {
                <tr data-testid=testid data-state=t.state.clone() data-action=t.action.clone() data-ticket=t.ticket_id.clone()>
                    <td><a href=href>{t.created_at.clone()}</a></td>
                    <td>{t.client_id.clone()}" · "{t.action.clone()}</td>
                    <td>{t.member.clone()}</td>
                    <td>{t.state.clone()}</td>
                    <td>{t.outcome.clone()}</td>
                </tr>
            }
        })
        .collect_view()
}

#[component]
fn Rewards(found: RewardsForOps, replay: ServerAction<OpsRewardsReplay>) -> impl IntoView {
    let (state, action) = (found.state.clone(), found.action.clone());
    let count_rows = found
        .counts
        .iter()
        .map(|(s, a, n)| {
            let href = link(Some(s), Some(a), None);
            view! { <tr data-testid="ops-count" data-state=s.clone() data-action=a.clone()><td><a href=href>{s.clone()}</a></td><td>{a.clone()}</td><td>{group_digits(*n)}</td></tr> }
        })
        .collect_view();
    let state_options = STATES
        .iter()
        .map(|s| view! { <option value=*s selected=state.as_deref() == Some(*s)>{*s}</option> })
        .collect_view();
    let action_options = ACTIONS
        .iter()
        .map(|a| view! { <option value=*a selected=action.as_deref() == Some(*a)>{*a}</option> })
        .collect_view();
    let selected = found.selected.clone().map(|s| match s {
        None => view! { <p class="error" role="alert" data-testid="ops-no-ticket">"No such ticket."</p> }.into_any(),
        Some(d) => {
            let id = d.line.ticket_id.clone();
            view! {
                <section class="card" data-testid="ops-ticket" data-state=d.line.state.clone()>
                    <h2><code>{id.clone()}</code></h2>
                    <dl class="facts">
                        <dt>"Client"</dt><dd>{d.line.client_id.clone()}</dd>
                        <dt>"Action"</dt><dd>{d.line.action.clone()}</dd>
                        <dt>"Member"</dt><dd>{d.line.member.clone()}</dd>
                        <dt>"State"</dt><dd data-testid="ops-ticket-state">{d.line.state.clone()}</dd>
                        <dt>"Outcome"</dt><dd>{d.line.outcome.clone()}</dd>
                        <dt>"Attempts"</dt><dd>{d.line.attempts}</dd>
                        <dt>"Received"</dt><dd>{d.line.created_at.clone()}" (day "{d.local_day.clone()}")"</dd>
                        <dt>"Finished"</dt><dd>{d.finished_at.clone().unwrap_or_else(|| "—".into())}</dd>
                        <dt>"Business key"</dt><dd><code>{d.business_key.clone()}</code></dd>
                        <dt>"Idempotency-Key"</dt><dd><code>{d.idempotency_key.clone().unwrap_or_else(|| "—".into())}</code></dd>
                        <dt>"Signature"</dt><dd>{if d.verified { "verified" } else { "not verified yet" }}</dd>
                        <dt>"Last error"</dt><dd>{d.last_error.clone().unwrap_or_else(|| "—".into())}</dd>
                    </dl>
                    <h3>"Result"</h3>
                    <pre data-testid="ops-ticket-result" tabindex="0">{d.result.clone().unwrap_or_else(|| "—".into())}</pre>
                    <h3>"Envelope as received"</h3>
                    <pre data-testid="ops-ticket-envelope" tabindex="0">{d.envelope.clone()}</pre>
                    {d.replayable.then(|| view! { <ReplayButton ticket_id=id.clone() replay/> })}
                </section>
            }
            .into_any()
        }
    });
    let dead_rows = found
        .dead
        .iter()
        .map(|t| {
            let href = link(None, None, Some(&t.ticket_id));
            view! {
                <li data-testid="ops-dead" data-ticket=t.ticket_id.clone()>
                    <a href=href><code>{t.ticket_id.clone()}</code></a>" "{t.client_id.clone()}" · "{t.action.clone()}" · member "{t.member.clone()}
                    <br/><span class="muted">{t.attempts}" attempts: "{t.outcome.clone()}</span>
                    <ReplayButton ticket_id=t.ticket_id.clone() replay/>
                </li>
            }
        })
        .collect_view();
    let clients = found
        .clients
        .iter()
        .map(|c| {
            let rules = c.rules.iter().map(|(a, r)| view! { <dt>{a.clone()}</dt><dd>{r.clone()}</dd> }).collect_view();
            view! {
                <section class="card" data-testid="ops-client" data-client=c.client_id.clone()>
                    <h3>{c.client_id.clone()}</h3>
                    <p class="muted">{c.time_zone.clone()}" · key "{c.key.clone()}</p>
                    <dl class="facts">{rules}</dl>
                </section>
            }
        })
        .collect_view();
    view! {
        <h1>"Reward tasks"</h1>
        {move || replay.value().get().and_then(|r| r.err()).map(|e| view! { <crate::components::ErrorNote e/> })}
        {selected}
        <section class="card">
            <h2>"Tickets by status and action"</h2>
            <table class="refunds">
                <thead><tr><th>"State"</th><th>"Action"</th><th>"Tickets"</th></tr></thead>
                <tbody>{count_rows}</tbody>
            </table>
        </section>
        <section class="card">
            <form method="get" action="/ops/rewards" class="stack" data-testid="ops-filter">
                <label for="state">"State"</label>
                <select id="state" name="state"><option value="">"any"</option>{state_options}</select>
                <label for="action">"Action"</label>
                <select id="action" name="action"><option value="">"any"</option>{action_options}</select>
                <label for="ticket">"Or a ticket id"</label>
                <input id="ticket" name="ticket"/>
                <button type="submit" class="button">"Show"</button>
            </form>
            <table class="refunds">
                <thead><tr><th>"Received"</th><th>"Action"</th><th>"Member"</th><th>"State"</th><th>"Outcome"</th></tr></thead>
                <tbody>{ticket_rows(&found.tickets, "ops-ticket-line")}</tbody>
            </table>
        </section>
        <section class="card">
            <h2>"Dead letters"</h2>
            <ul class="history" data-testid="ops-dead-letters">{dead_rows}</ul>
            {found.dead.is_empty().then(|| view! { <p class="muted">"None."</p> })}
        </section>
        <h2>"Rules in force"</h2>
        {clients}
    }
}
