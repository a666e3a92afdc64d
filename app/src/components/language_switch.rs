use leptos::{ev::MouseEvent, prelude::*};

use crate::prefs::{set_language, use_language};

/// Switches between Vietnamese and English. Without wasm it is a plain link (`?lang=…`, which
/// the server remembers); once hydrated it switches in place and saves the choice.
#[component]
pub fn LanguageSwitch() -> impl IntoView {
    let lang = use_language();
    let location = leptos_router::hooks::use_location();
    let save = Action::new(|l: &crate::i18n::Lang| set_language(*l));
    let on_click = move |ev: MouseEvent| {
        ev.prevent_default();
        let next = lang.get_untracked().other();
        lang.set(next);
        if let Some(html) = document().document_element() {
            let _ = html.set_attribute("lang", next.code());
        }
        save.dispatch(next);
    };
    view! {
        <a
            class="lang-switch"
            data-testid="lang-switch"
            href=move || {
                // keep the page's other query parameters (e.g. a redemption request)
                let mut query: Vec<(String, String)> = location.query.get().into_iter().filter(|(k, _)| k != "lang").map(|(k, v)| (k.to_string(), v)).collect();
                query.push(("lang".into(), lang.get().other().code().into()));
                let encoded: Vec<String> = query.iter().map(|(k, v)| format!("{}={}", super::percent_encode(k), super::percent_encode(v))).collect();
                format!("?{}", encoded.join("&"))
            }
            hreflang=move || lang.get().other().code()
            // the accessible name starts with the visible text (WCAG 2.5.3, label in name)
            aria-label=move || format!("{} ({})", lang.get().other().native_name(), lang.get().texts().switch_language)
            on:click=on_click
        >
            {move || lang.get().other().native_name()}
        </a>
    }
}

