//! Chooses the page language for a request: `?lang=vi|en` (and remembers it in the session),
//! else the session's choice, else `Accept-Language`, else Vietnamese. Pages read the result
//! from the request extensions (`app::prefs`).

use app::{i18n::Lang, session};
use axum::{extract::Request, http::header, middleware::Next, response::Response};
use tower_sessions::Session;

pub async fn negotiate(session: Session, mut req: Request, next: Next) -> Response {
    let from_query = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("lang=")))
        .and_then(Lang::parse);
    let lang = match from_query {
        Some(lang) => {
            if let Err(e) = session::set_language(&session, lang).await {
                tracing::warn!(error = %e, "could not remember the language in the session");
            }
            lang
        }
        None => match session::language(&session).await {
            Some(lang) => lang,
            None => req
                .headers()
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
                .unwrap_or_default(),
        },
    };
    req.extensions_mut().insert(lang);
    next.run(req).await
}
