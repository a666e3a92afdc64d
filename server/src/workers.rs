//! Background work started with the server: the outbox worker and periodic housekeeping.
//! Each stops when the shutdown signal turns true.

mod batch_files;

use std::{sync::Arc, time::Duration};

use domain::{
    identity::Idp,
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

pub fn spawn(db: &Db, idp: &Idp, config: &Config, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let worker = Worker::new(
        db.clone(),
        WorkerConfig { concurrency: config.worker.concurrency, ..WorkerConfig::default() },
        job_handlers(db, config),
    );
    vec![
        tokio::spawn(worker.run(shutdown.clone())),
        batch_files::spawn(db, config, shutdown.clone()),
        tokio::spawn(housekeeping(db.clone(), shutdown.clone())),
        tokio::spawn(reload_signing_keys(idp.clone(), shutdown)),
    ]
}

/// Once a minute: deletes replay-protection records past their retention, expired sign-in
/// flows and expired link tokens.
async fn housekeeping(db: Db, mut shutdown: watch::Receiver<bool>) {
    let seen = SeenNonces::new(db.clone());
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = seen.purge_expired(domain::now_ms()).await {
                    tracing::warn!(error = %e, "housekeeping: purging seen nonces failed");
                }
                if let Err(e) = domain::identity::flows::purge_expired(&db, domain::now_ms()).await {
                    tracing::warn!(error = %e, "housekeeping: purging sign-in flows failed");
                }
                if let Err(e) = domain::identity::link_requests::purge_expired(&db, domain::now_ms()).await {
                    tracing::warn!(error = %e, "housekeeping: purging link tokens failed");
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// Picks up `joygate keys rotate` (run by an operator against the same database) within 30 s,
/// and drops retired keys from the JWKS once their tokens have expired.
async fn reload_signing_keys(idp: Idp, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => match idp.reload_keys(domain::now_ms()).await {
                Ok(true) => tracing::info!(active = %idp.keys().active.kid, "token signing keys reloaded"),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "reloading the token signing keys failed"),
            },
            _ = shutdown.changed() => return,
        }
    }
}
