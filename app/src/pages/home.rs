//! `/`: what Joygate is and where each integration lives.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{components::LanguageSwitch, i18n::Lang, prefs::use_language};

/// Where each integration's entry points will be; filled in as the integrations land.
/// An integration's main endpoints: path, whether it is served yet, whether a browser can open it.
const ENDPOINTS: [&[(&str, bool, bool)]; 4] = [
    &[
        ("/.well-known/openid-configuration", true, true),
        ("/embed", true, false),
        ("/sdk/v1/skyjoy.js", true, true),
        ("/api-user/partner/v1/user/onboard", true, false),
    ],
    &[
        ("/api-point/partner/v1/point-accrual", true, false),
        ("/api-point/partner/v1/point-redemption", true, false),
        ("/api-point/partner/v1/point-redemption-with-token", true, false),
        ("/api-point/partner/v1/point-lock", true, false),
        ("/api-point/partner/v1/lookup-transaction-id", true, false),
        ("/account", true, true),
    ],
    &[
        ("/miniapp/tikivip/webview", true, false),
        ("/miniapp/tikivip/payment/ipn", true, false),
        ("/miniapp/tikivip/transaction", true, false),
        ("/apps/vn.tiki.vip", true, true),
    ],
    &[
        ("/isv/benefit/issue", true, false),
        ("/api-benefit/partner/v1/benefit/use", true, false),
        ("/cashier", true, true),
        ("/saas/requestin", false, false),
    ],
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
                    .map(|&(path, live, openable)| {
                        let code = if openable {
                            view! { <a href=path rel="external"><code>{path}</code></a> }.into_any()
                        } else {
                            view! { <code>{path}</code> }.into_any()
                        };
                        let status = move || if live { lang.get().texts().status_live } else { lang.get().texts().status_planned };
                        view! { <li>{code}" "<span class="badge" class:live=live>{status}</span></li> }
                    })
                    .collect_view()}
            </ul>
        </li>
    }
}
