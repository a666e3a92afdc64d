//! Chooses the page language for a request: `?lang=vi|en` (remembered in the session when it
//! differs from what the request would get without it), else the session's choice, else
//! `Accept-Language`, else Vietnamese. Pages read the result from the request extensions
//! (`app::prefs`).

use app::{i18n::Lang, session};
use axum::http::{header, HeaderMap, Uri};
use tower_sessions::Session;

/// The language of a request to `uri` with `headers`, for its extensions. Without a session
/// (the routes that keep none: APIs, files, the 404 page) `?lang=` is not remembered.
pub async fn negotiate(session: Option<&Session>, uri: &Uri, headers: &HeaderMap) -> Lang {
    let from_query = uri
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("lang=")))
        .and_then(Lang::parse);
    // What this request gets without `?lang=`: the session's choice, else Accept-Language.
    let remembered = match session {
        Some(session) => session::language(session).await,
        None => None,
    };
    let without_query = remembered.unwrap_or_else(|| {
        headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).and_then(Lang::from_accept_language).unwrap_or_default()
    });
    match from_query {
        // Remembered only when it changes what later requests would get anyway: the sign-in
        // redirect always names the language, and a session row written for every first
        // visit was the sign-in page's one database write.
        Some(lang) if lang != without_query => {
            if let Some(session) = session {
                if let Err(e) = session::set_language(session, lang).await {
                    tracing::warn!(error = %e, "could not remember the language in the session");
                }
            }
            lang
        }
        _ => from_query.unwrap_or(without_query),
    }
}
