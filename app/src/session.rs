//! Everything a browser session holds, in one place: the keys and their typed accessors, used by
//! the pages' server functions and by the server's own handlers (`/account/signin`, Tiki's
//! `url_open`). Sessions themselves are tower-sessions on our database (`server::http::sessions`),
//! cookie `joygate_session`.
//!
//! | key | holds | set by |
//! |---|---|---|
//! | `idp.member`, `idp.auth_time` | the signed-in member (single sign-on) and when | the sign-in pages, `/account/callback` |
//! | `ops.signed_in` | an operator signed in with the operator token | `/ops/*` sign-in |
//! | `cashier.partner` | the partner shop whose cashier signed in (its client id) | `/cashier` sign-in |
//! | `tikivip.customer` | the Tiki VIP webview's customer | the partner's `url_open` link |
//! | `lang` | the language the member chose | the language switch |
//! | `account.state`, `account.verifier`, `account.return_to` | the member pages' own sign-in in progress | `/account/signin` |

#[cfg(feature = "ssr")]
pub use server::*;

#[cfg(feature = "ssr")]
mod server {
    use tower_sessions::Session;

    use crate::{errors::AppError, i18n::Lang};

    const MEMBER: &str = "idp.member";
    const AUTH_TIME: &str = "idp.auth_time";
    const OPERATOR: &str = "ops.signed_in";
    const CASHIER: &str = "cashier.partner";
    const TIKIVIP_CUSTOMER: &str = "tikivip.customer";
    const LANG: &str = "lang";
    const ACCOUNT_STATE: &str = "account.state";
    const ACCOUNT_VERIFIER: &str = "account.verifier";
    const ACCOUNT_RETURN: &str = "account.return_to";

    /// The session of the request a server function serves (`None` outside a request).
    pub async fn current() -> Option<Session> {
        leptos_axum::extract::<Session>().await.ok()
    }

    async fn get<T: serde::de::DeserializeOwned>(session: &Session, key: &str) -> Option<T> {
        match session.get::<T>(key).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, key, "unreadable session value ignored");
                None
            }
        }
    }

    async fn set<T: serde::Serialize + Send + Sync>(session: &Session, key: &str, value: T) -> Result<(), AppError> {
        session.insert(key, value).await.map_err(crate::errors::failed)
    }

    /// The signed-in member's id (the OpenID subject) and when they signed in.
    pub async fn member(session: &Session) -> Option<(String, i64)> {
        let id: String = get(session, MEMBER).await?;
        Some((id, get(session, AUTH_TIME).await.unwrap_or(0)))
    }

    /// Remembers the member on this browser, under a new session id (no fixation).
    pub async fn sign_in_member(session: &Session, member_id: &str, at_ms: i64) -> Result<(), AppError> {
        let _ = session.cycle_id().await;
        set(session, MEMBER, member_id).await?;
        set(session, AUTH_TIME, at_ms).await
    }

    /// Forgets the member (RP-initiated logout).
    pub async fn sign_out_member(session: &Session) {
        let _ = session.remove_value(MEMBER).await;
        let _ = session.remove_value(AUTH_TIME).await;
    }

    pub async fn operator(session: &Session) -> bool {
        get::<bool>(session, OPERATOR).await.unwrap_or(false)
    }

    pub async fn sign_in_operator(session: &Session) -> Result<(), AppError> {
        let _ = session.cycle_id().await;
        set(session, OPERATOR, true).await
    }

    /// For an operator page's server function: `Err(SignedOut)` unless an operator signed in.
    pub async fn require_operator() -> Result<(), AppError> {
        match current().await {
            Some(s) if operator(&s).await => Ok(()),
            _ => Err(AppError::SignedOut),
        }
    }

    /// The partner shop whose cashier signed in on this browser.
    pub async fn cashier(session: &Session) -> Option<String> {
        get(session, CASHIER).await
    }

    pub async fn sign_in_cashier(session: &Session, partner_client_id: &str) -> Result<(), AppError> {
        let _ = session.cycle_id().await;
        set(session, CASHIER, partner_client_id).await
    }

    pub async fn sign_out_cashier(session: &Session) {
        let _ = session.remove_value(CASHIER).await;
    }

    /// For a cashier page's server function: the partner, or `Err(SignedOut)`.
    pub async fn require_cashier() -> Result<String, AppError> {
        match current().await {
            Some(s) => cashier(&s).await.ok_or(AppError::SignedOut),
            None => Err(AppError::SignedOut),
        }
    }

    pub async fn tikivip_customer(session: &Session) -> Option<String> {
        get(session, TIKIVIP_CUSTOMER).await
    }

    pub async fn open_tikivip(session: &Session, customer_id: &str) -> Result<(), AppError> {
        let _ = session.cycle_id().await;
        set(session, TIKIVIP_CUSTOMER, customer_id).await
    }

    pub async fn language(session: &Session) -> Option<Lang> {
        get(session, LANG).await
    }

    pub async fn set_language(session: &Session, lang: Lang) -> Result<(), AppError> {
        set(session, LANG, lang).await
    }

    /// The member pages' own sign-in (PKCE) between `/account/signin` and `/account/callback`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct AccountSignIn {
        pub state: String,
        pub verifier: String,
        pub return_to: String,
    }

    pub async fn start_account_sign_in(session: &Session, s: &AccountSignIn) -> Result<(), AppError> {
        set(session, ACCOUNT_STATE, &s.state).await?;
        set(session, ACCOUNT_VERIFIER, &s.verifier).await?;
        set(session, ACCOUNT_RETURN, &s.return_to).await
    }

    /// Takes the sign-in in progress out of the session (it is single use).
    pub async fn take_account_sign_in(session: &Session) -> Option<AccountSignIn> {
        let state = session.remove::<String>(ACCOUNT_STATE).await.ok().flatten();
        let verifier = session.remove::<String>(ACCOUNT_VERIFIER).await.ok().flatten();
        let return_to = session.remove::<String>(ACCOUNT_RETURN).await.ok().flatten();
        Some(AccountSignIn { state: state?, verifier: verifier?, return_to: return_to.unwrap_or_else(|| "/account".into()) })
    }
}
