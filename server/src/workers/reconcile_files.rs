//! Tiki VIP reconciliation files in the background (issue 5, counterparts.md §4.6; the rows, the
//! names, the multi-part rule and the comparison live in `domain::tikivip::reconcile`; README,
//! "Reconciliation"). The folders are SFTP-style, like the batch files' (`batch_files.rs`), under
//! `[tikivip] reconcile_dir`, one folder per partner code:
//!
//! - `OUTBOUND/{PARTNERCODE}/tikivip_{PARTNERCODE}_{YYYYMMDD}_{n}.csv`: our files of a day D,
//!   written once D is over in Vietnam (T+1) for every partner, catching up the last
//!   [`CATCH_UP_DAYS`] days. Each part is written aside and then published with a hard link,
//!   which never replaces a file (a rename would); part 1 is published last, so a day whose
//!   part 1 exists is complete and is left as it is (after a restart, and by
//!   `joygate tikivip reconcile`).
//! - `INBOUND/{PARTNERCODE}/tikivip_{PARTNERCODE}_{YYYYMMDD}_{n}.csv`: the partner's files. One is
//!   taken once its day is over and its size and modification time are unchanged since the
//!   previous scan (upload as `….csv.tmp` and rename to have it taken at the next scan); it is
//!   compared with our payments of its day, the result written to
//!   `OUTBOUND/{PARTNERCODE}/{name}.mismatches.csv` (aside, then renamed; a file sent again
//!   replaces its result), and the file moved to `ARCHIVED/{PARTNERCODE}/{name}` (an earlier
//!   file of that name is kept as `{ms}-{name}`). A name that is not such a name for the folder's
//!   partner, and a folder that is not a partner code, are left alone with one warning.
//! - Several parts of a day: each is compared for the rows it holds; the day's last part (fewer
//!   than 500,000 rows) also reports our payments of the day found in none of its parts as
//!   `MISSING_AT_PARTNER`, so it is taken only once parts 1..n-1 are in `ARCHIVED` (it waits in
//!   INBOUND until they are).

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    time::Duration,
};

use domain::{
    tikivip::{
        partners,
        reconcile::{self, Day, FileName, PartnerFile, Summary, MAX_ROWS},
        TikiError,
    },
    Db,
};
use tokio::{sync::watch, task::JoinHandle};

use crate::config::Config;
use super::folders::{entries as names, Stamp};

/// Our files are written for the days up to this many days back, if missing.
pub const CATCH_UP_DAYS: u32 = 7;

/// A partner file larger than this is not read (500,000 rows take about 75 MB).
const MAX_BYTES: u64 = 256 * 1024 * 1024;

pub fn spawn(db: &Db, config: &Config, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let files = ReconcileFiles {
        folders: Folders::new(db, config),
        seen: HashMap::new(),
        stuck: HashMap::new(),
        warned: HashSet::new(),
        waiting: HashMap::new(),
    };
    tokio::spawn(files.run(Duration::from_secs(config.tikivip.reconcile_poll_s.max(1)), shutdown))
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum FilesError {
    #[error(transparent)]
    Store(#[from] TikiError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// What [`Folders::write_day`] did.
pub(crate) enum Written {
    /// The day's files, written now, with their rows.
    New(Vec<(PathBuf, usize)>),
    /// The day's files were there already: left as they are.
    Kept(Vec<PathBuf>),
}

/// What [`Folders::compare_file`] did.
pub(crate) enum Taken {
    /// Compared; the mismatch file written, the partner's file archived.
    Compared { summary: Summary, mismatches: PathBuf },
    /// The day's last part, left in INBOUND until these earlier parts are archived.
    Waiting(Vec<u32>),
}

/// The reconciliation folders: the background task and `joygate tikivip reconcile` share them.
pub(crate) struct Folders {
    db: Db,
    dir: PathBuf,
}

impl Folders {
    pub(crate) fn new(db: &Db, config: &Config) -> Folders {
        Folders { db: db.clone(), dir: config.tikivip.reconcile_dir.clone() }
    }

    fn folder(&self, kind: &str, partner_code: &str) -> PathBuf {
        self.dir.join(kind).join(partner_code)
    }

    /// Where part `part` of `name`'s day is once compared.
    fn archived(&self, name: &FileName, part: u32) -> PathBuf {
        self.folder("ARCHIVED", &name.partner_code).join(FileName { part, ..name.clone() }.to_string())
    }

    /// Writes the partner's files of `day` into OUTBOUND, unless they are there.
    pub(crate) async fn write_day(&self, partner_code: &str, day: Day) -> Result<Written, FilesError> {
        let outbound = self.folder("OUTBOUND", partner_code);
        let path = |part| outbound.join(FileName::new(partner_code, day, part).to_string());
        if tokio::fs::try_exists(path(1)).await? {
            let mut kept = Vec::new();
            while tokio::fs::try_exists(path(kept.len() as u32 + 1)).await? {
                kept.push(path(kept.len() as u32 + 1));
            }
            return Ok(Written::Kept(kept));
        }
        let payments = reconcile::payments_of_day(&self.db, partner_code, day).await?;
        tokio::fs::create_dir_all(&outbound).await?;
        let mut written = Vec::new();
        // the last part first: part 1 appears last and says the day is complete
        for file in reconcile::daily_files(partner_code, day, &payments, MAX_ROWS).into_iter().rev() {
            let target = path(file.name.part);
            let partial = outbound.join(format!(".{}.{}.tmp", file.name, uuid::Uuid::new_v4().simple()));
            tokio::fs::write(&partial, &file.csv).await?;
            if publish(&partial, &target).await? {
                written.push((target, file.rows));
            }
        }
        written.reverse();
        Ok(Written::New(written))
    }

    /// The partner's files of `day` waiting in INBOUND, by part.
    pub(crate) async fn inbound(&self, partner_code: &str, day: Day) -> std::io::Result<Vec<(FileName, PathBuf)>> {
        let mut found = match entries(&self.folder("INBOUND", partner_code)).await {
            Ok(found) => found,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        found.retain(|(name, path)| name.partner_code == partner_code && name.day == day && path.is_file());
        Ok(found)
    }

    /// Compares the partner's file at `path`, named `name`, with our payments of its day; writes
    /// the mismatch file and archives the partner's file (unless it must wait for earlier parts).
    pub(crate) async fn compare_file(&self, name: &FileName, path: &Path) -> Result<Taken, FilesError> {
        let theirs = read(path).await?;
        let archived = self.folder("ARCHIVED", &name.partner_code);
        let earlier_parts = if theirs.is_last_part(MAX_ROWS) {
            let mut ids = HashSet::new();
            let mut missing = Vec::new();
            for part in 1..name.part {
                match read(&self.archived(name, part)).await {
                    Ok(file) => ids.extend(file.tiki_transaction_ids().map(str::to_string)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push(part),
                    Err(e) => return Err(e.into()),
                }
            }
            if !missing.is_empty() {
                return Ok(Taken::Waiting(missing));
            }
            Some(ids)
        } else {
            None
        };
        let ours = reconcile::payments_of_day(&self.db, &name.partner_code, name.day).await?;
        let comparison = reconcile::compare(&ours, &theirs, earlier_parts.as_ref());

        let outbound = self.folder("OUTBOUND", &name.partner_code);
        tokio::fs::create_dir_all(&outbound).await?;
        tokio::fs::create_dir_all(&archived).await?;
        let mismatches = outbound.join(format!("{name}.mismatches.csv"));
        let partial = outbound.join(format!(".{name}.mismatches.csv.{}.tmp", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&partial, comparison.csv()).await?;
        tokio::fs::rename(&partial, &mismatches).await?;
        // the newest file keeps the name (the multi-part rule reads it); an earlier one is kept aside
        let target = archived.join(name.to_string());
        if tokio::fs::try_exists(&target).await? {
            tokio::fs::rename(&target, archived.join(format!("{}-{name}", domain::now_ms()))).await?;
        }
        tokio::fs::rename(path, &target).await?;
        Ok(Taken::Compared { summary: comparison.summary, mismatches })
    }
}

/// Moves `partial` to `target` unless `target` exists; true when moved.
async fn publish(partial: &Path, target: &Path) -> std::io::Result<bool> {
    let moved = match tokio::fs::hard_link(partial, target).await {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        // a file system without hard links: look, then rename
        Err(_) => match tokio::fs::try_exists(target).await {
            Ok(false) => tokio::fs::rename(partial, target).await.map(|()| true),
            Ok(true) => Ok(false),
            Err(e) => Err(e),
        },
    };
    let _ = tokio::fs::remove_file(partial).await; // gone already after a rename
    moved
}

/// A partner's file, read; one too large to read is one invalid line.
async fn read(path: &Path) -> std::io::Result<PartnerFile> {
    if tokio::fs::metadata(path).await?.len() > MAX_BYTES {
        return Ok(PartnerFile::unreadable(1, format!("the file is larger than {} MiB", MAX_BYTES / 1024 / 1024)));
    }
    Ok(reconcile::read_partner_file(&tokio::fs::read(path).await?))
}

/// The entries of a partner folder that are reconciliation file names, by day and part.
async fn entries(dir: &Path) -> std::io::Result<Vec<(FileName, PathBuf)>> {
    let mut found: Vec<(FileName, PathBuf)> =
        names(dir).await?.into_iter().filter_map(|(name, path)| Some((FileName::parse(&name)?, path))).collect();
    found.sort_by_key(|(name, _)| (name.day, name.part));
    Ok(found)
}


struct ReconcileFiles {
    folders: Folders,
    /// The partner files found at the previous scan and not taken yet.
    seen: HashMap<PathBuf, Stamp>,
    /// Files whose result or archiving failed: left alone until they change.
    stuck: HashMap<PathBuf, Stamp>,
    /// Folders and files warned about once (not a partner, not a file name, waiting).
    warned: HashSet<PathBuf>,
    /// Last parts waiting for earlier parts: not read again until one of those is archived.
    waiting: HashMap<PathBuf, (Stamp, Vec<u32>)>,
}

impl ReconcileFiles {
    async fn run(mut self, poll: Duration, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            // Cut short, a day's files are written again (part 1 is published last) and a
            // partner file stays in INBOUND, to be taken again.
            tokio::select! {
                _ = self.write_due(domain::now_ms()) => {}
                _ = shutdown.changed() => return,
            }
            tokio::select! {
                _ = self.scan(domain::now_ms()) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// T+1: our files of the last [`CATCH_UP_DAYS`] days, for every partner, where missing.
    async fn write_due(&self, now_ms: i64) {
        let list = match partners::list(&self.folders.db).await {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(error = %e, "reconciliation: listing the partners failed");
                return;
            }
        };
        for partner in list {
            let mut day = Day::of(now_ms);
            for _ in 0..CATCH_UP_DAYS {
                day = day.previous();
                match self.folders.write_day(&partner.partner_code, day).await {
                    Ok(Written::New(files)) => {
                        let rows: usize = files.iter().map(|(_, rows)| rows).sum();
                        tracing::info!(partner = %partner.partner_code, %day, files = files.len(), rows, "reconciliation: our files written");
                    }
                    Ok(Written::Kept(_)) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, partner = %partner.partner_code, %day, "reconciliation: writing our files failed; tried again at the next scan")
                    }
                }
            }
        }
    }

    async fn scan(&mut self, now_ms: i64) {
        let inbound = self.folders.dir.join("INBOUND");
        let folders = match names(&inbound).await {
            Ok(folders) => folders,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                tracing::warn!(error = %e, dir = %inbound.display(), "reconciliation: the folder cannot be read");
                return;
            }
        };
        let mut seen = HashMap::new();
        for (partner_code, folder) in folders {
            if !folder.is_dir() || !self.is_partner(&partner_code, &folder).await {
                continue;
            }
            let files = match names(&folder).await {
                Ok(files) => files,
                Err(e) => {
                    tracing::warn!(error = %e, dir = %folder.display(), "reconciliation: the folder cannot be read");
                    continue;
                }
            };
            let mut ready = Vec::new();
            for (name, file) in files {
                let Ok(meta) = tokio::fs::metadata(&file).await else { continue };
                if !meta.is_file() {
                    continue;
                }
                let Some(parsed) = FileName::parse(&name).filter(|n| n.partner_code == partner_code) else {
                    if self.warned.insert(file.clone()) {
                        tracing::warn!(partner = %partner_code, file = %name, "reconciliation: left alone: not named tikivip_{{PARTNERCODE}}_{{YYYYMMDD}}_{{n}}.csv for this folder's partner");
                    }
                    continue;
                };
                if !parsed.day.is_over(now_ms) {
                    continue; // T+1: compared once its day is over
                }
                let stamp = (meta.len(), meta.modified().ok());
                if self.stuck.get(&file) == Some(&stamp) {
                    continue;
                }
                self.stuck.remove(&file);
                if self.seen.get(&file) == Some(&stamp) {
                    ready.push((parsed, file, stamp));
                } else {
                    seen.insert(file, stamp);
                }
            }
            // earlier parts first: a day's last part needs them archived
            ready.sort_by_key(|(name, _, _)| (name.day, name.part));
            for (name, file, stamp) in ready {
                if let Some((waited, parts)) = self.waiting.get(&file) {
                    if *waited == stamp && !parts.iter().any(|part| self.folders.archived(&name, *part).exists()) {
                        seen.insert(file, stamp);
                        continue;
                    }
                }
                self.waiting.remove(&file);
                match self.folders.compare_file(&name, &file).await {
                    Ok(Taken::Compared { summary: s, mismatches }) => {
                        self.warned.remove(&file);
                        tracing::info!(partner = %partner_code, file = %name, compared = s.compared, matched = s.matched, mismatched = s.mismatched, invalid = s.invalid,
                            result = %mismatches.display(), "reconciliation: partner file compared");
                    }
                    Ok(Taken::Waiting(parts)) => {
                        if self.warned.insert(file.clone()) {
                            tracing::info!(partner = %partner_code, file = %name, ?parts, "reconciliation: the day's last part waits for its earlier parts");
                        }
                        self.waiting.insert(file.clone(), (stamp, parts));
                        seen.insert(file, stamp);
                    }
                    Err(FilesError::Store(e)) => {
                        tracing::warn!(error = %e, partner = %partner_code, file = %name, "reconciliation: comparing failed; tried again at the next scan");
                        seen.insert(file, stamp);
                    }
                    Err(FilesError::Io(e)) => {
                        tracing::warn!(error = %e, partner = %partner_code, file = %name, "reconciliation: reading, writing the result or archiving failed; left in INBOUND until it changes");
                        self.stuck.insert(file, stamp);
                    }
                }
            }
        }
        self.seen = seen;
        self.stuck.retain(|file, _| file.exists());
        self.waiting.retain(|file, _| file.exists());
    }

    /// A folder is a partner's when it is named after a partner code; any other is skipped,
    /// with one warning.
    async fn is_partner(&mut self, partner_code: &str, folder: &Path) -> bool {
        match partners::by_code(&self.folders.db, partner_code).await {
            Ok(Some(_)) => true,
            Ok(None) => {
                if self.warned.insert(folder.to_path_buf()) {
                    tracing::warn!(folder = partner_code, "reconciliation: skipping a folder that is not named after a partner code");
                }
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, folder = partner_code, "reconciliation: looking the partner up failed");
                false
            }
        }
    }
}
