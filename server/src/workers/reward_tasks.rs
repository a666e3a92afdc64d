//! The reward worker: the outbox handler of `reward.task` jobs, one per ticket.
//!
//! A run checks the Data signature first when the gateway could not (the client's key URL did
//! not answer then), then hands the ticket to `domain::rewards::process::run`. A rule's refusal,
//! an unknown member or a bad signature ends the ticket (`failed`, never retried); an error
//! worth retrying (the database, the key URL) puts the ticket back in the queue and the job
//! retries with backoff (`[rewards] first_retry_ms`, `max_retry_delay_ms`) until
//! `max_attempts`, then the ticket and its job are dead until an operator replays them
//! (`joygate rewards replay`, or `/ops/rewards`).

use std::sync::Arc;

use domain::{
    outbox::{HandlerFuture, Job, JobError, JobHandler, RetryPolicy},
    rewards::{
        process::{self, Outcome},
        tickets::{self, FailReason},
        Envelope,
    },
    Db,
};

use crate::rewards::{KeyError, Rewards};

pub struct RewardTasks {
    pub db: Db,
    pub rewards: Arc<Rewards>,
}

/// Why a run did not settle its ticket.
enum Failure {
    Retry(String),
    Permanent(String),
}

impl RewardTasks {
    async fn run(&self, ticket_id: &str) -> Result<Outcome, Failure> {
        let retry = |e: domain::StoreError| Failure::Retry(e.to_string());
        let now = self.rewards.now_ms();
        let ticket = tickets::find(&self.db, ticket_id).await.map_err(retry)?.ok_or_else(|| Failure::Permanent(format!("no ticket {ticket_id}")))?;
        if ticket.state.is_final() {
            return Ok(Outcome::Settled(ticket.state));
        }
        let client = self.rewards.get(&ticket.client_id);
        if let (false, Some(client)) = (ticket.verified, client) {
            let message: serde_json::Value = serde_json::from_str(&ticket.envelope).map_err(|e| Failure::Permanent(format!("stored envelope: {e}")))?;
            let envelope = Envelope::try_from(&message).map_err(|e| Failure::Permanent(format!("stored envelope: {e}")))?;
            match client.verify(&self.rewards.http, &envelope.data).await {
                Ok(()) => tickets::mark_verified(&self.db, ticket_id, now).await.map_err(retry)?,
                Err(e @ KeyError::Unavailable(_)) => return Err(Failure::Retry(e.to_string())),
                Err(e) => {
                    tracing::info!(ticket = ticket_id, error = %e, "reward task: the signature does not verify");
                    return process::claim_and_refuse(&self.db, ticket_id, FailReason::BadSignature, now).await.map_err(|e| Failure::Retry(e.to_string()));
                }
            }
        }
        process::run(&self.db, client.map(|c| &c.client), ticket_id, now).await.map_err(|e| {
            if e.is_permanent() {
                Failure::Permanent(e.to_string())
            } else {
                Failure::Retry(e.to_string())
            }
        })
    }
}

impl JobHandler for RewardTasks {
    fn kind(&self) -> &'static str {
        tickets::TASK
    }

    fn retry_policy(&self) -> RetryPolicy {
        self.rewards.retry
    }

    fn handle<'a>(&'a self, job: &'a Job) -> HandlerFuture<'a> {
        Box::pin(async move {
            let ticket_id = job.payload["ticket_id"].as_str().ok_or_else(|| JobError::Permanent("the job has no ticket_id".into()))?;
            let last = job.attempt >= job.max_attempts;
            let now = self.rewards.now_ms();
            match self.run(ticket_id).await {
                Ok(outcome) => {
                    match &outcome {
                        Outcome::Paid(r) => tracing::info!(ticket = ticket_id, points = r.points, "reward task paid"),
                        Outcome::Refused(reason) => tracing::info!(ticket = ticket_id, reason = reason.as_str(), "reward task refused"),
                        Outcome::Settled(state) => tracing::debug!(ticket = ticket_id, state = state.as_str(), "reward task was settled already"),
                    }
                    Ok(())
                }
                Err(Failure::Retry(why)) if !last => {
                    if let Err(e) = tickets::retry_later(&self.db, ticket_id, &why, now).await {
                        tracing::warn!(ticket = ticket_id, error = %e, "reward task: could not mark the ticket queued");
                    }
                    Err(JobError::Retry(why))
                }
                Err(Failure::Retry(why) | Failure::Permanent(why)) => {
                    if let Err(e) = tickets::give_up(&self.db, ticket_id, &why, now).await {
                        tracing::warn!(ticket = ticket_id, error = %e, "reward task: could not mark the ticket dead");
                    }
                    tracing::warn!(ticket = ticket_id, error = %why, "reward task dead-lettered");
                    Err(JobError::Permanent(why))
                }
            }
        })
    }
}
