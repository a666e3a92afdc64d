//! What people see: one file per page under `pages/`, shared pieces under `components/`,
//! UI text in `i18n`, and thin `#[server]` functions that call `domain`.
//! Built twice: with `ssr` into the server, with `hydrate` into the browser's wasm.

pub mod components;
pub mod context;
pub mod errors;
pub mod i18n;
pub mod pages;
pub mod prefs;
pub mod session;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

use crate::pages::{
    account::{AccountPage, RedeemPage},
    cashier::CashierPage,
    home::HomePage,
    not_found::NotFound,
    ops::OpsTikiVipPage,
    ops_rewards::OpsRewardsPage,
    ops_benefits::OpsBenefitsPage,
    signin::SignInPage,
    tikivip::{PlansPage, ResultPage},
};

/// The calling client's IP address, as the server decided it (a request extension; behind a
/// trusted load balancer, from `X-Forwarded-For`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIp(pub String);

/// The nonce of this page's hydration script, chosen by the server's page policy (a request
/// extension; `server::http::middleware::page_policy` writes it into the CSP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageNonce(pub String);

/// This page is served as HTML forms without the browser bundle (a request extension the
/// server's page policy sets: the sign-in frame a partner page embeds). Every form of such a page
/// works as a plain form post; its small scripts (the SDK bridge) are files of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HtmlOnly;

/// The HTML document around the app, rendered on the server. Its Content-Security-Policy (and
/// who may frame it) is the server's page policy; the shell only uses the nonce it chose.
#[cfg(feature = "ssr")]
pub fn shell(options: LeptosOptions) -> impl IntoView {
    use leptos_meta::MetaTags;

    let parts = use_context::<http::request::Parts>();
    if let Some(nonce) = parts.as_ref().and_then(|parts| parts.extensions.get::<PageNonce>().cloned()) {
        provide_context(leptos::nonce::Nonce::from_value(nonce.0));
    }
    let hydrate = !parts.is_some_and(|parts| parts.extensions.get::<HtmlOnly>().is_some());
    let lang = prefs::request_language();
    view! {
        <!DOCTYPE html>
        <html lang=lang.code()>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                {hydrate.then(|| view! { <HydrationScripts options/> })}
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    prefs::provide_language();
    view! {
        <Stylesheet id="joygate" href="/pkg/joygate.css"/>
        <Title formatter=|page: String| if page.is_empty() { "Joygate".to_string() } else { format!("{page} · Joygate") }/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/") view=HomePage/>
                <Route path=path!("/signin/:flow") view=SignInPage ssr=SsrMode::Async/>
                <Route path=path!("/account") view=AccountPage ssr=SsrMode::Async/>
                <Route path=path!("/account/redeem") view=RedeemPage ssr=SsrMode::Async/>
                <Route path=path!("/apps/vn.tiki.vip") view=PlansPage ssr=SsrMode::Async/>
                <Route path=path!("/ops/tikivip") view=OpsTikiVipPage ssr=SsrMode::Async/>
                <Route path=path!("/ops/rewards") view=OpsRewardsPage ssr=SsrMode::Async/>
                <Route path=path!("/ops/benefits") view=OpsBenefitsPage ssr=SsrMode::Async/>
                <Route path=path!("/cashier") view=CashierPage ssr=SsrMode::Async/>
                <Route path=path!("/apps/vn.tiki.vip/callback/index") view=ResultPage ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}

/// Entry point of the browser build: takes over the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
    // A marker for people and browser tests: the page now runs in place.
    if let Some(body) = document().body() {
        let _ = body.set_attribute("data-hydrated", "1");
    }
}
