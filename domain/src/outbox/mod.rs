//! The durable job table and its worker: the transactional outbox.
//!
//! A business change enqueues its follow-up work (an IPN, a webhook, a refund, a notification)
//! with [`enqueue`] inside the *same* database transaction, so either both happen or neither.
//! [`Worker`]s claim due jobs with a lease, run the handler registered for the job's kind, and
//! record every attempt. Failures retry with exponential backoff and jitter until the kind's
//! [`RetryPolicy`] gives up; then the job is dead-lettered and waits for an operator
//! ([`replay`]). A worker that dies mid-job loses its lease and the job runs again (at least once),
//! so handlers must be idempotent; deliveries carry the job id for receivers to dedupe.

mod queue;
mod worker;

pub use queue::{enqueue, list, replay, replay_in, Job, JobState, JobSummary, NewJob};
pub use worker::{HandlerFuture, JobError, JobHandler, RetryPolicy, Worker, WorkerConfig};

#[cfg(test)]
mod tests;
