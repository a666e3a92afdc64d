//! The styled page for unknown addresses (HTTP 404).

use leptos::prelude::*;
use leptos_meta::Title;

use crate::prefs::use_language;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    let lang = use_language();
    let t = move || lang.get().texts();
    view! {
        <Title text=lang.get_untracked().texts().not_found_title/>
        <main class="page error-page">
            <div class="error-code">"404"</div>
            <h1>{move || t().not_found_title}</h1>
            <p>{move || t().not_found_body}</p>
            <a class="button" href="/">{move || t().back_home}</a>
        </main>
    }
}
