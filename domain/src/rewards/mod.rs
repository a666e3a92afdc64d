//! Loyalty reward tasks (counterparts.md §3): a client's membership app sends signed commands
//! — a member bought, registered, was referred, played the lucky draw, checked in — and the
//! members are paid SkyPoints once, in the background, into the ledger.
//!
//! Where is each rule?
//! - What a message must be, what each action needs, which key makes a retry the same command:
//!   [`envelope`] (`route`, `Envelope`, `Command`, `Command::business_key`).
//! - The signed string and its check: `signing::loyalty_task`.
//! - A command stored once, with its job, and a ticket's life (queued → processing → success |
//!   failed(reason) | dead, replay): [`tickets`] (`submit`, `next`, `replay`).
//! - The rules per action (points, prize table, streak table, shares) and their arithmetic:
//!   [`rules`]; the client's calendar: [`zone`].
//! - The worker: members, refusals, the draw, the streak, the postings: [`process`].
//! - The API (`/saas/requestin`, `/saas/requestout`), API keys and signing keys:
//!   `server::http::rewards`; the outbox handler: `server::workers`.

pub mod envelope;
pub mod process;
pub mod rules;
pub mod tickets;
pub mod zone;

pub use envelope::{Action, Command, Envelope, EnvelopeError};
pub use rules::Rules;
pub use tickets::{FailReason, Ticket, TicketResult, TicketState};
pub use zone::TimeZone;

use serde::Serialize;

use crate::{identity::members::MemberError, ledger::LedgerError, store::StoreError};

/// What the worker needs to know of a client: its calendar and its rules. (Its API key and
/// signing key are checked at the edge, by the server.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RewardClient {
    pub client_id: String,
    pub time_zone: TimeZone,
    pub rules: Rules,
}

/// A failure worth retrying (the database, a race), or a stored row no writer of ours could
/// have made (not worth retrying).
#[derive(Debug, thiserror::Error)]
pub enum RewardError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Member(#[from] MemberError),
    #[error("the points of a ticket add up beyond the largest number")]
    Overflow,
}

impl RewardError {
    /// Retrying cannot help: a corrupt row, or arithmetic out of range.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            RewardError::Store(StoreError::Corrupt { .. })
                | RewardError::Ledger(LedgerError::Store(StoreError::Corrupt { .. }))
                | RewardError::Member(MemberError::Store(StoreError::Corrupt { .. }))
                | RewardError::Overflow
        )
    }
}

impl From<sqlx::Error> for RewardError {
    fn from(e: sqlx::Error) -> Self {
        RewardError::Store(e.into())
    }
}

#[cfg(test)]
mod tests;
