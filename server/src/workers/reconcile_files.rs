//! Tiki VIP reconciliation files in the background (issue 5, counterparts.md §4.6; the rows, the
//! names, the multi-part rule and the comparison live in `domain::tikivip::reconcile`; README,
//! "Reconciliation"). The folders are SFTP-style, scanned, claimed and archived by the scanner
//! the batch files share (`folders.rs`), under `[tikivip] reconcile_dir`, one folder per
//! partner code:
//!
//! - `OUTBOUND/{PARTNERCODE}/tikivip_{PARTNERCODE}_{YYYYMMDD}_{n}.csv`: our files of a day D,
//!   written once D is over in Vietnam (T+1) for every partner, catching up the last
//!   [`CATCH_UP_DAYS`] days, by one instance at a time (a lease). Each part is written aside and
//!   then published with a hard link, which never replaces a file (a rename would); part 1 is
//!   published last, so a day whose part 1 exists is complete and is left as it is (after a
//!   restart, and by `joygate tikivip reconcile`).
//! - `INBOUND/{PARTNERCODE}/tikivip_{PARTNERCODE}_{YYYYMMDD}_{n}.csv`: the partner's files. One is
//!   taken once its day is over and its size and modification time are unchanged since the
//!   previous scan (upload as `….csv.tmp` and rename to have it taken at the next scan); it is
//!   read record by record (never held whole), compared with our payments of its day, the
//!   result written to `OUTBOUND/{PARTNERCODE}/{name}.mismatches.csv` (aside, then renamed; a
//!   file sent again replaces its result), and the file moved to `ARCHIVED/{PARTNERCODE}/{name}`
//!   (an earlier file of that name is kept as `{ms}-{name}`). A name that is not such a name for the folder's
//!   partner, and a folder that is not a partner code, are left alone with one warning.
//! - Several parts of a day: each is compared for the rows it holds; the day's last part (fewer
//!   than 500,000 rows) also reports our payments of the day found in none of its parts as
//!   `MISSING_AT_PARTNER`, so it is taken only once parts 1..n-1 are in `ARCHIVED` (it waits in
//!   INBOUND until they are).

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    time::Duration,
};

use domain::{
    store::lease,
    tikivip::{
        partners,
        reconcile::{self, Day, FileName, PartnerFile, Summary, MAX_ROWS},
        TikiError,
    },
    Db,
};
use tokio::{sync::watch, task::JoinHandle};

use super::folders::{self, entries as names, FolderKind, Scanner, Selected};
use crate::config::Config;

/// Our files are written for the days up to this many days back, if missing.
pub const CATCH_UP_DAYS: u32 = 7;

/// A partner file larger than this is not read (500,000 rows take about 75 MB).
const MAX_BYTES: u64 = 256 * 1024 * 1024;

pub fn spawn(db: &Db, config: &Config, owner: &str, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let poll = Duration::from_secs(config.tikivip.reconcile_poll_s.max(1));
    tokio::spawn(scanner(db, config, owner).run(poll, shutdown))
}

pub(crate) fn scanner(db: &Db, config: &Config, owner: &str) -> Scanner<ReconcileFiles> {
    let kind = ReconcileFiles { folders: Folders::new(db, config), owner: owner.to_string() };
    Scanner::new(kind, db, &config.tikivip.reconcile_dir, owner)
}

/// The lease under which one instance at a time writes our files (each part is published
/// without replacing a file anyway; the lease keeps one day's parts from one snapshot).
const WRITE_LEASE: &str = "tikivip-reconcile-write";

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

        let mismatches = self.folder("OUTBOUND", &name.partner_code).join(format!("{name}.mismatches.csv"));
        folders::write_aside(&mismatches, comparison.csv().as_bytes()).await?;
        // the newest file keeps the name (the multi-part rule reads it); an earlier one is kept aside
        folders::archive(path, &self.folder("ARCHIVED", &name.partner_code), &name.to_string()).await?;
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

/// A partner's file, read record by record on a blocking thread; one too large to read is one
/// invalid line.
async fn read(path: &Path) -> std::io::Result<PartnerFile> {
    if tokio::fs::metadata(path).await?.len() > MAX_BYTES {
        return Ok(PartnerFile::unreadable(1, format!("the file is larger than {} MiB", MAX_BYTES / 1024 / 1024)));
    }
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || reconcile::read_partner(std::fs::File::open(path)?))
        .await
        .map_err(std::io::Error::other)?
}

/// The entries of a partner folder that are reconciliation file names, by day and part.
async fn entries(dir: &Path) -> std::io::Result<Vec<(FileName, PathBuf)>> {
    let mut found: Vec<(FileName, PathBuf)> =
        names(dir).await?.into_iter().filter_map(|(name, path)| Some((FileName::parse(&name)?, path))).collect();
    found.sort_by_key(|(name, _)| (name.day, name.part));
    Ok(found)
}


/// The reconciliation folders' kind for the shared scanner: our files written before each scan,
/// the partners' files compared.
pub(crate) struct ReconcileFiles {
    folders: Folders,
    /// This instance, as the holder of [`WRITE_LEASE`].
    owner: String,
}

impl ReconcileFiles {
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
}

impl FolderKind for ReconcileFiles {
    type Name = FileName;
    const LABEL: &'static str = "reconciliation";

    /// A folder is a partner's when it is named after a partner code.
    async fn is_partner(&self, partner_code: &str) -> Result<bool, String> {
        partners::by_code(&self.folders.db, partner_code).await.map(|p| p.is_some()).map_err(|e| e.to_string())
    }

    fn select(&self, partner_code: &str, file_name: &str, now_ms: i64) -> Selected<FileName> {
        match FileName::parse(file_name).filter(|n| n.partner_code == partner_code) {
            // T+1: compared once its day is over
            Some(name) if !name.day.is_over(now_ms) => Selected::NotYet,
            Some(name) => Selected::Take(name),
            None => Selected::Warn("not named tikivip_{PARTNERCODE}_{YYYYMMDD}_{n}.csv for this folder's partner".into()),
        }
    }

    async fn before_scan(&self, now_ms: i64) {
        let db = &self.folders.db;
        match lease::acquire(db, WRITE_LEASE, &self.owner, 600_000, now_ms).await {
            Ok(true) => {
                self.write_due(now_ms).await;
                if let Err(e) = lease::release(db, WRITE_LEASE, &self.owner).await {
                    tracing::debug!(error = %e, "reconciliation: the write lease runs out instead");
                }
            }
            Ok(false) => {} // another instance is writing them
            Err(e) => tracing::warn!(error = %e, "reconciliation: taking the write lease failed; tried again at the next scan"),
        }
    }

    async fn take(&self, partner_code: &str, name: &FileName, path: &Path) -> folders::Taken {
        match self.folders.compare_file(name, path).await {
            Ok(Taken::Compared { summary: s, mismatches }) => {
                tracing::info!(partner = %partner_code, file = %name, compared = s.compared, matched = s.matched, mismatched = s.mismatched, invalid = s.invalid,
                    result = %mismatches.display(), "reconciliation: partner file compared");
                folders::Taken::Done
            }
            Ok(Taken::Waiting(parts)) => {
                tracing::info!(partner = %partner_code, file = %name, ?parts, "reconciliation: the day's last part waits for its earlier parts");
                folders::Taken::Waiting(parts.iter().map(|part| self.folders.archived(name, *part)).collect())
            }
            Err(FilesError::Store(e)) => {
                tracing::warn!(error = %e, partner = %partner_code, file = %name, "reconciliation: comparing failed; tried again at the next scan");
                folders::Taken::Again
            }
            Err(FilesError::Io(e)) => {
                tracing::warn!(error = %e, partner = %partner_code, file = %name, "reconciliation: reading, writing the result or archiving failed; left in INBOUND until it changes");
                folders::Taken::Stuck
            }
        }
    }
}
