//! What the pages' server functions get from the server, in one place: the Leptos context the
//! router provides (`server::http::router`) — the database, the sign-in provider, Tiki VIP, the
//! reward clients, the operator token's hash, the outbox worker. A missing one is a server
//! misconfiguration: logged, `Unavailable`.

#[cfg(feature = "ssr")]
pub use server::*;

#[cfg(feature = "ssr")]
mod server {
    use domain::{identity::Idp, tikivip::TikiVip, Db};
    use leptos::prelude::use_context;

    use crate::errors::{failed, AppError};

    /// The configured operator token's SHA-256 (hex); `None`: operator pages refuse everyone.
    #[derive(Debug, Clone)]
    pub struct OperatorToken(pub Option<String>);

    fn from_context<T: Clone + Send + Sync + 'static>(what: &str) -> Result<T, AppError> {
        use_context::<T>().ok_or_else(|| failed(format!("{what} is not in the page context")))
    }

    pub fn db() -> Result<Db, AppError> {
        from_context("the database")
    }

    pub fn idp() -> Result<Idp, AppError> {
        from_context("the sign-in provider")
    }

    pub fn tikivip() -> Result<TikiVip, AppError> {
        from_context("Tiki VIP")
    }

    /// The reward task clients in force, each with where its signing key comes from.
    #[derive(Debug, Clone)]
    pub struct RewardClients(pub std::sync::Arc<Vec<(domain::rewards::RewardClient, String)>>);

    pub fn reward_clients() -> Result<RewardClients, AppError> {
        from_context("the reward clients")
    }

    /// Tells the outbox worker that a server function committed work for it (it would find the
    /// job at its next poll anyway).
    pub fn wake_worker() {
        if let Some(w) = use_context::<domain::outbox::Worker>() {
            w.wake();
        }
    }

    pub fn operator_token() -> Option<String> {
        use_context::<OperatorToken>().and_then(|t| t.0)
    }
}
