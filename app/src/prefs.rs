//! The member's language for this page view.
//!
//! The server decides it per request (`?lang=` > session > `Accept-Language` > Vietnamese, in
//! the server's `language` middleware), renders `<html lang>` with it, and the browser build
//! reads it back from `<html lang>` when it hydrates, so both sides always agree.

use leptos::prelude::*;

use crate::i18n::Lang;

/// The language the server chose for this request (from the request's extensions).
#[cfg(feature = "ssr")]
pub fn request_language() -> Lang {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Lang>().copied())
        .unwrap_or_default()
}

fn initial_language() -> Lang {
    #[cfg(feature = "ssr")]
    {
        request_language()
    }
    #[cfg(not(feature = "ssr"))]
    {
        document()
            .document_element()
            .and_then(|html| html.get_attribute("lang"))
            .and_then(|code| Lang::parse(&code))
            .unwrap_or_default()
    }
}

/// Provides the page's language signal to everything below.
pub fn provide_language() -> RwSignal<Lang> {
    let lang = RwSignal::new(initial_language());
    provide_context(lang);
    lang
}

pub fn use_language() -> RwSignal<Lang> {
    expect_context::<RwSignal<Lang>>()
}

/// Remembers the member's language in their session.
#[server(endpoint = "set_language")]
pub async fn set_language(lang: Lang) -> Result<(), crate::errors::AppError> {
    let session = crate::session::current().await.ok_or_else(|| crate::errors::failed("no session layer"))?;
    crate::session::set_language(&session, lang).await
}
