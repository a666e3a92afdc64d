//! `/`: what Joygate is and where each integration lives.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{components::LanguageSwitch, i18n::Lang, prefs::use_language};

/// Where each integration's entry points will be; filled in as the integrations land.
const ENDPOINTS: [&[&str]; 4] = [
    &["/.well-known/openid-configuration", "/embed", "/sdk/v1/skyjoy.js"],
    &["/api-point/partner/v1/point-accrual", "/api-point/partner/v1/point-redemption", "/api-point/partner/v1/lookup-transaction-id"],
    &["/miniapp/tikivip/webview", "/miniapp/tikivip/payment/ipn", "/miniapp/tikivip/transaction"],
    &["/v1/marketing/benefit/sync", "/v1/marketing/benefit/used/sync", "/saas/requestin"],
];

#[component]
pub fn HomePage() -> impl IntoView {
    let lang = use_language();
    let t = move || lang.get().texts();
    view! {
        <Title text=""/>
        <header class="topbar">
            <span class="brand">"Joygate"</span>
            <LanguageSwitch/>
        </header>
        <main class="page">
            <section class="hero">
                <h1 data-testid="tagline">{move || t().tagline}</h1>
                <p>{move || t().intro}</p>
            </section>
            <h2>{move || t().integrations_heading}</h2>
            <ul class="cards">
                {(0..4).map(|i| view! { <IntegrationCard index=i lang/> }).collect_view()}
            </ul>
            <section class="ops">
                <h2>{move || t().operators_heading}</h2>
                <ul class="links">
                    <li><a href="/healthz">"/healthz"</a></li>
                    <li><a href="/readyz">"/readyz"</a></li>
                    <li><a href="/metrics">"/metrics"</a></li>
                </ul>
            </section>
        </main>
    }
}

#[component]
fn IntegrationCard(index: usize, lang: RwSignal<Lang>) -> impl IntoView {
    let open = RwSignal::new(false);
    let panel_id = format!("integration-{index}");
    let integration = move || &lang.get().texts().integrations[index];
    view! {
        <li class="card" data-testid="integration">
            <h3>{move || integration().title}</h3>
            <p>{move || integration().summary}</p>
            <button
                type="button"
                class="toggle"
                aria-expanded=move || open.get().to_string()
                aria-controls=panel_id.clone()
                on:click=move |_| open.update(|o| *o = !*o)
            >
                {move || if open.get() { lang.get().texts().details_hide } else { lang.get().texts().details_show }}
            </button>
            <ul class="endpoints" id=panel_id hidden=move || !open.get()>
                {ENDPOINTS[index]
                    .iter()
                    .map(|path| view! {
                        <li><code>{*path}</code>" "<span class="badge">{move || lang.get().texts().status_planned}</span></li>
                    })
                    .collect_view()}
            </ul>
        </li>
    }
}
