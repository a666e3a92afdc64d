//! Background work started with the server: the outbox worker and periodic housekeeping.
//! Each stops when the shutdown signal turns true.

use std::{sync::Arc, time::Duration};

use domain::{
    outbox::{JobHandler, Worker, WorkerConfig},
    signing::replay::SeenNonces,
    Db,
};
use tokio::{sync::watch, task::JoinHandle};

use crate::config::Config;

/// The handlers the outbox worker runs, one per job kind. Integrations add theirs here.
fn job_handlers(_db: &Db, _config: &Config) -> Vec<Arc<dyn JobHandler>> {
    Vec::new()
}

pub fn spawn(db: &Db, config: &Config, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let worker = Worker::new(
        db.clone(),
        WorkerConfig { concurrency: config.worker.concurrency, ..WorkerConfig::default() },
        job_handlers(db, config),
    );
    vec![tokio::spawn(worker.run(shutdown.clone())), tokio::spawn(housekeeping(db.clone(), shutdown))]
}

/// Deletes replay-protection records past their retention, once a minute.
async fn housekeeping(db: Db, mut shutdown: watch::Receiver<bool>) {
    let seen = SeenNonces::new(db);
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = seen.purge_expired(domain::now_ms()).await {
                    tracing::warn!(error = %e, "housekeeping: purging seen nonces failed");
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}
