//! Batch point files in the background (README, "Batch uploads"; the rows, codes and
//! idempotency live in `domain::ledger::batch`).
//!
//! At start, API uploads cut short by the previous stop are finished: their rows applied before
//! are replays in the ledger, never second postings.
//!
//! Then the inbound folder, SFTP-style (issue 5 uses the same layout): a partner drops a file in
//! `{dir}/INBOUND/{client_id}/`; it is processed once by `domain::ledger::batch::run`, its
//! result is written to `{dir}/OUTBOUND/{client_id}/{name}.result.csv` and the file is moved to
//! `{dir}/ARCHIVED/{client_id}/` (as `{ms}-{name}` when that name is taken: never replaced).
//!
//! A file still being written is never taken: only names ending in `.csv`, `.jsonl` or `.ndjson`
//! are (so a partner may upload as `name.csv.tmp` and rename), and only once their size and
//! modification time are unchanged since the previous scan. A stop or crash part-way through a
//! file leaves it in INBOUND; it is processed again, and the rows already applied are replays
//! in the ledger, never second postings.

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    time::Duration,
};

use domain::{
    identity::clients,
    ledger::{
        batch::{self, BatchError, FileError, Format, Source, Upload},
        EarningRules,
    },
    Db,
};
use domain::outbox::Worker;
use tokio::{sync::watch, task::JoinHandle};

use crate::config::Config;
use super::folders::{entries, Stamp};

pub fn spawn(db: &Db, config: &Config, worker: Worker, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let files = BatchFiles {
        db: db.clone(),
        worker,
        rules: EarningRules { default: config.earning, partners: config.earning_by_partner.clone() },
        dir: config.batch.dir.clone(),
        seen: HashMap::new(),
        stuck: HashMap::new(),
        warned: HashSet::new(),
    };
    tokio::spawn(files.run(Duration::from_secs(config.batch.poll_s.max(1)), shutdown))
}


struct BatchFiles {
    db: Db,
    /// Woken after each file, for its rows' webhooks and notifications.
    worker: Worker,
    rules: EarningRules,
    dir: PathBuf,
    /// The files found at the previous scan and not taken yet.
    seen: HashMap<PathBuf, Stamp>,
    /// Files that could not be read, or whose result or archiving failed: left alone until they change.
    stuck: HashMap<PathBuf, Stamp>,
    /// Folders that name no partner, warned about once.
    warned: HashSet<String>,
}

impl BatchFiles {
    async fn run(mut self, poll: Duration, mut shutdown: watch::Receiver<bool>) {
        let started_ms = domain::now_ms();
        tokio::select! {
            _ = self.finish_uploads(started_ms) => {}
            _ = shutdown.changed() => return,
        }
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            // A file cut short here stays in INBOUND and is processed again at the next start.
            tokio::select! {
                _ = self.scan() => {}
                _ = shutdown.changed() => return,
            }
        }
    }

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

    async fn scan(&mut self) {
        let inbound = self.dir.join("INBOUND");
        let folders = match entries(&inbound).await {
            Ok(folders) => folders,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                tracing::warn!(error = %e, dir = %inbound.display(), "batch files: the folder cannot be read");
                return;
            }
        };
        let mut seen = HashMap::new();
        for (client_id, folder) in folders {
            if !folder.is_dir() || !self.is_partner(&client_id).await {
                continue;
            }
            let files = match entries(&folder).await {
                Ok(files) => files,
                Err(e) => {
                    tracing::warn!(error = %e, dir = %folder.display(), "batch files: the folder cannot be read");
                    continue;
                }
            };
            for (name, file) in files {
                let Some(format) = Format::from_file_name(&name) else { continue };
                let Ok(meta) = tokio::fs::metadata(&file).await else { continue };
                if !meta.is_file() {
                    continue;
                }
                let stamp = (meta.len(), meta.modified().ok());
                if self.stuck.get(&file) == Some(&stamp) {
                    continue;
                }
                self.stuck.remove(&file);
                if self.seen.get(&file) == Some(&stamp) {
                    self.take(&client_id, &name, &file, format, stamp).await;
                } else {
                    seen.insert(file, stamp);
                }
            }
        }
        self.seen = seen;
        self.stuck.retain(|file, _| file.exists());
    }

    /// A folder is a partner's when it is named after a confidential client (one that can get a
    /// client_credentials token); any other is skipped, with one warning.
    async fn is_partner(&mut self, client_id: &str) -> bool {
        match clients::find(&self.db, client_id).await {
            Ok(Some(client)) if !client.is_public() => true,
            Ok(_) => {
                if self.warned.insert(client_id.to_string()) {
                    tracing::warn!(client_id, "batch files: skipping a folder that is not named after a partner (confidential client)");
                }
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, client_id, "batch files: looking the client up failed");
                false
            }
        }
    }

    async fn take(&mut self, client_id: &str, name: &str, file: &Path, format: Format, stamp: Stamp) {
        let bytes = if stamp.0 > batch::MAX_BYTES as u64 {
            None
        } else {
            match tokio::fs::read(file).await {
                Ok(bytes) => Some(bytes),
                Err(e) => {
                    tracing::warn!(error = %e, client_id, file = name, "batch files: the file cannot be read; left in INBOUND until it changes");
                    self.stuck.insert(file.to_path_buf(), stamp);
                    return;
                }
            }
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
                return;
            }
        };
        if let Err(e) = self.deliver(client_id, name, file, &result_csv).await {
            tracing::warn!(error = %e, client_id, file = name, "batch files: writing the result or archiving failed; left in INBOUND until it changes");
            self.stuck.insert(file.to_path_buf(), stamp);
        }
    }

    /// Writes the result file (aside, then renamed: never read half-written) and archives the
    /// original, beside any earlier file of the same name.
    async fn deliver(&self, client_id: &str, name: &str, file: &Path, result_csv: &str) -> std::io::Result<()> {
        let outbound = self.dir.join("OUTBOUND").join(client_id);
        let archived = self.dir.join("ARCHIVED").join(client_id);
        tokio::fs::create_dir_all(&outbound).await?;
        tokio::fs::create_dir_all(&archived).await?;
        let partial = outbound.join(format!(".{name}.result.csv.tmp"));
        tokio::fs::write(&partial, result_csv).await?;
        tokio::fs::rename(&partial, outbound.join(format!("{name}.result.csv"))).await?;
        let mut target = archived.join(name);
        if tokio::fs::try_exists(&target).await? {
            target = archived.join(format!("{}-{name}", domain::now_ms()));
        }
        tokio::fs::rename(file, target).await
    }
}
