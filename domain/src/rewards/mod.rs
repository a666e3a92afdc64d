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
    /// Another ticket this one depends on (the member's registration, their referral) has yet
    /// to run: try again later.
    #[error("{0}")]
    Waiting(String),
}

impl RewardError {
    /// Retrying cannot help: a corrupt row, arithmetic out of range, a posting the ledger
    /// refuses (the rules are validated so that none is; a refusal here is a bug to look at).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            RewardError::Store(StoreError::Corrupt { .. })
                | RewardError::Ledger(LedgerError::Store(StoreError::Corrupt { .. }) | LedgerError::Refused(_))
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

/// For tests here and in the server: a forced failure of every reward posting, as if the
/// database failed mid-task (a trigger on the ledger, so the whole payment rolls back).
#[doc(hidden)]
pub mod testing {
    use sqlx::Executor;

    use crate::store::{Backend, Db, StoreError};

    /// Installs the switch, off.
    pub async fn install_posting_failure(db: &Db) -> Result<(), StoreError> {
        let sql = match db.backend() {
            Backend::Sqlite => {
                "CREATE TABLE test_fail_rewards (on_ INTEGER);
                 CREATE TRIGGER test_fail_reward_posting BEFORE INSERT ON ledger_entries
                 WHEN NEW.kind = 'REWARD' AND EXISTS (SELECT 1 FROM test_fail_rewards)
                 BEGIN SELECT RAISE(ABORT, 'forced failure of a reward posting'); END;"
            }
            Backend::Postgres => {
                "CREATE TABLE test_fail_rewards (on_ BIGINT);
                 CREATE FUNCTION test_fail_reward_posting() RETURNS trigger AS $$
                 BEGIN
                   IF NEW.kind = 'REWARD' AND EXISTS (SELECT 1 FROM test_fail_rewards) THEN
                     RAISE EXCEPTION 'forced failure of a reward posting';
                   END IF;
                   RETURN NEW;
                 END $$ LANGUAGE plpgsql;
                 CREATE TRIGGER test_fail_reward_posting BEFORE INSERT ON ledger_entries
                 FOR EACH ROW EXECUTE FUNCTION test_fail_reward_posting();"
            }
        };
        db.pool().execute(sql).await?;
        Ok(())
    }

    /// Every reward posting fails while `on`.
    pub async fn fail_postings(db: &Db, on: bool) -> Result<(), StoreError> {
        db.pool().execute("DELETE FROM test_fail_rewards").await?;
        if on {
            db.pool().execute("INSERT INTO test_fail_rewards (on_) VALUES (1)").await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
