use leptos::{ev::MouseEvent, prelude::*};

use crate::prefs::{set_language, use_language};

/// Switches between Vietnamese and English. Without wasm it is a plain link (`?lang=…`, which
/// the server remembers); once hydrated it switches in place and saves the choice.
#[component]
pub fn LanguageSwitch() -> impl IntoView {
    let lang = use_language();
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
            href=move || format!("?lang={}", lang.get().other().code())
            hreflang=move || lang.get().other().code()
            aria-label=move || lang.get().texts().switch_language
            on:click=on_click
        >
            {move || lang.get().other().native_name()}
        </a>
    }
}
