//! Batch point files in the background (README, "Batch uploads"; the rows, codes and
//! idempotency live in `domain::ledger::batch`; the scanning, claiming and archiving in
//! `folders.rs`).
//!
//! At start, API uploads cut short by the previous stop are finished: their rows applied before
//! are replays in the ledger, never second postings.
//!
//! Then the inbound folder, SFTP-style: a partner drops a file in `{dir}/INBOUND/{client_id}/`
//! (a folder named after a confidential client); it is processed once by
//! `domain::ledger::batch::run`, its result is written to
//! `{dir}/OUTBOUND/{client_id}/{name}.result.csv` and the file is moved to
//! `{dir}/ARCHIVED/{client_id}/` (an earlier file of that name kept as `{ms}-{name}`).
//!
//! Only names ending in `.csv`, `.jsonl` or `.ndjson` are taken (so a partner may upload as
//! `name.csv.tmp` and rename). A stop or crash part-way through a file leaves it in INBOUND; it
//! is processed again, and the rows already applied are replays in the ledger.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use domain::{
    identity::clients,
    ledger::{
        batch::{self, BatchError, FileError, Format, Source, Upload},
        EarningRules,
    },
    outbox::Worker,
    Db,
};
use tokio::{sync::watch, task::JoinHandle};

use super::folders::{self, FolderKind, Scanner, Selected, Taken};
use crate::config::Config;

pub fn spawn(db: &Db, config: &Config, worker: Worker, owner: &str, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let scanner = scanner(db, config, worker, owner);
    let poll = Duration::from_secs(config.batch.poll_s.max(1));
    tokio::spawn(async move {
        let mut shutdown_at_start = shutdown.clone();
        tokio::select! {
            _ = scanner.kind().finish_uploads(domain::now_ms()) => {}
            _ = shutdown_at_start.changed() => return,
        }
        scanner.run(poll, shutdown).await
    })
}

pub(crate) fn scanner(db: &Db, config: &Config, worker: Worker, owner: &str) -> Scanner<BatchFiles> {
    let rules = EarningRules { default: config.earning, partners: config.earning_by_partner.clone() };
    let dir = config.batch.dir.clone();
    Scanner::new(BatchFiles { db: db.clone(), worker, rules, dir: dir.clone() }, db, &dir, owner)
}

pub(crate) struct BatchFiles {
    db: Db,
    /// Woken after each file, for its rows' webhooks and notifications.
    worker: Worker,
    rules: EarningRules,
    dir: PathBuf,
}

impl BatchFiles {
    /// Finishes the API uploads accepted before `started_ms` and not done.
    async fn finish_uploads(&self, started_ms: i64) {
        let ids = match batch::unfinished(&self.db, started_ms).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "batch files: listing unfinished uploads failed");
                return;
            }
        };
        for id in ids {
            match batch::complete(&self.db, &self.rules, &id, domain::now_ms()).await {
                Ok(done) => {
                    tracing::info!(batch = %id, succeeded = done.batch.succeeded, failed = done.batch.failed, "batch files: an upload cut short is finished")
                }
                Err(e) => tracing::warn!(batch = %id, error = %e, "batch files: finishing an upload cut short failed; tried again at the next start"),
            }
        }
    }

    /// Writes the result file and archives the original.
    async fn deliver(&self, client_id: &str, name: &str, file: &Path, result_csv: &str) -> std::io::Result<()> {
        let outbound = self.dir.join("OUTBOUND").join(client_id);
        folders::write_aside(&outbound.join(format!("{name}.result.csv")), result_csv.as_bytes()).await?;
        folders::archive(file, &self.dir.join("ARCHIVED").join(client_id), name).await?;
        Ok(())
    }
}

impl FolderKind for BatchFiles {
    /// The file name.
    type Name = String;
    const LABEL: &'static str = "batch files";

    /// A folder is a partner's when it is named after a confidential client (one that can get
    /// a client_credentials token).
    async fn is_partner(&self, client_id: &str) -> Result<bool, String> {
        match clients::find(&self.db, client_id).await {
            Ok(found) => Ok(found.is_some_and(|client| !client.is_public())),
            Err(e) => Err(e.to_string()),
        }
    }

    fn select(&self, _client_id: &str, name: &str, _now_ms: i64) -> Selected<String> {
        match Format::from_file_name(name) {
            Some(_) => Selected::Take(name.to_string()),
            None => Selected::Ignore,
        }
    }

    async fn take(&self, client_id: &str, name: &String, file: &Path) -> Taken {
        let Some(format) = Format::from_file_name(name) else { return Taken::Stuck };
        let bytes = match tokio::fs::metadata(file).await {
            Ok(meta) if meta.len() > batch::MAX_BYTES as u64 => None,
            _ => match tokio::fs::read(file).await {
                Ok(bytes) => Some(bytes),
                Err(e) => {
                    tracing::warn!(error = %e, client_id, file = name, "batch files: the file cannot be read; left in INBOUND until it changes");
                    return Taken::Stuck;
                }
            },
        };
        let outcome = match &bytes {
            None => Err(BatchError::File(FileError::TooLarge)),
            Some(bytes) => {
                // no token here: the partner's configured scopes decide whether rows may debit
                let allow_debits = matches!(clients::find(&self.db, client_id).await, Ok(Some(c)) if c.may_request("point:redeem"));
                let upload = Upload { client_id, file_name: Some(name), source: Source::Inbound, format, bytes, allow_debits };
                let done = batch::run(&self.db, &self.rules, upload, domain::now_ms()).await;
                self.worker.wake();
                done
            }
        };
        let result_csv = match outcome {
            Ok(done) => {
                let b = &done.batch;
                tracing::info!(batch = %b.id, client_id, file = name, total = b.total, succeeded = b.succeeded, failed = b.failed, "batch files: file processed");
                done.result_csv
            }
            Err(BatchError::File(e)) => {
                tracing::warn!(client_id, file = name, code = e.code(), error = %e, "batch files: file refused as a whole");
                batch::refused_csv(&e)
            }
            Err(BatchError::Store(e)) => {
                // Rows applied so far are replays the next time: taking the file again is safe.
                tracing::warn!(error = %e, client_id, file = name, "batch files: processing stopped; the file will be taken again");
                return Taken::Again;
            }
        };
        match self.deliver(client_id, name, file, &result_csv).await {
            Ok(()) => Taken::Done,
            Err(e) => {
                tracing::warn!(error = %e, client_id, file = name, "batch files: writing the result or archiving failed; left in INBOUND until it changes");
                Taken::Stuck
            }
        }
    }
}
