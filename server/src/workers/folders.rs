//! The one SFTP-style folder scanner, shared by the batch point files (`batch_files.rs`) and the
//! Tiki VIP reconciliation files (`reconcile_files.rs`): `{dir}/INBOUND/{partner}/{file}`.
//!
//! Where is each rule?
//! - which folders are a partner's and which file names are taken: the kind ([`FolderKind`]);
//! - when a file is complete: its [`Stamp`] (size and modification time) is the same at two
//!   scans in a row ([`Scanner::scan`]); hidden names (`.…`) are never looked at, so a file
//!   uploaded as `name.tmp` and renamed is taken at the next scan;
//! - exactly once across instances: a file is processed only under its claim ([`Claim`]), a
//!   lease in the database (`domain::store::lease`) named after the kind, the file's path and
//!   its stamp. Several `joygate serve` instances watch the same folder (a shared volume) and
//!   share one database, so the claim is taken there: one conditional `INSERT … ON CONFLICT`
//!   lets one instance win on either database, it is renewed while the file is processed, given
//!   back once the file is archived (or left for the next scan), and an instance that dies
//!   holding one loses it after [`CLAIM_TTL`] — the file, still in INBOUND, is then taken by
//!   another. The winner looks at the file again after claiming, so a file another instance has
//!   just archived, or one that changed, is left alone. (An atomic rename into a per-instance
//!   name would also pick one winner, but leaves a dead instance's file hidden away with nothing
//!   to say when to take it back; a renamed-over upload — same name, new stamp — is a new claim
//!   here.)
//! - what becomes of a file ([`Taken`]): archived by the kind; tried again at the next scan (the
//!   database failed); left alone until it changes (unreadable, or its result or archiving
//!   failed); or waiting until another file is archived (a day's last reconciliation part);
//! - writing a result never shows a half-written file ([`write_aside`]); archiving never
//!   replaces a file: an earlier one of the same name is kept as `{ms}-{name}` ([`archive`]).

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use domain::{store::lease, Db};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

/// A file's size and modification time: the same at two scans in a row means it is complete.
pub type Stamp = (u64, Option<SystemTime>);

/// How long a claim lasts unless renewed (it is renewed every third of it while the file is
/// processed): what another instance waits before taking over a dead instance's file.
pub const CLAIM_TTL: Duration = Duration::from_secs(60);

/// What the scanner asks of a kind of folder.
pub(crate) trait FolderKind: Send + Sync + 'static {
    /// What a taken file's name says (its format, its day and part…); files of one folder are
    /// taken in its order.
    type Name: Ord + Clone + Send + Sync + 'static;

    /// For logs and claims.
    const LABEL: &'static str;

    /// Whether `INBOUND/{folder}` is a partner's; `Err` when that could not be looked up.
    fn is_partner(&self, folder: &str) -> impl Future<Output = Result<bool, String>> + Send;

    /// Whether the file `file_name` in a partner's folder is taken (once complete).
    fn select(&self, folder: &str, file_name: &str, now_ms: i64) -> Selected<Self::Name>;

    /// Processes a complete file, under its claim.
    fn take(&self, folder: &str, name: &Self::Name, path: &Path) -> impl Future<Output = Taken> + Send;

    /// Work before each scan (reconciliation writes its own files here).
    fn before_scan(&self, _now_ms: i64) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// A file name, as a kind sees it.
pub(crate) enum Selected<N> {
    /// Taken once complete.
    Take(N),
    /// Not this kind's file (another extension): ignored.
    Ignore,
    /// Not yet (reconciliation: its day is not over).
    NotYet,
    /// Left alone, with this warning once.
    Warn(String),
}

/// What became of a taken file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Taken {
    /// Processed, its result written and the file archived.
    Done,
    /// Not processed (the database failed): taken again at the next scan.
    Again,
    /// Left alone until it changes (unreadable, or its result or archiving failed).
    Stuck,
    /// Left alone until one of these files exists (a day's last part and its earlier parts).
    Waiting(Vec<PathBuf>),
}

/// What one scan did, for tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Scanned {
    /// Complete files claimed and processed here.
    pub taken: usize,
    /// Complete files left to another instance that holds their claim, or has just taken them.
    pub taken_elsewhere: usize,
}

/// A folder kind's scanner: the files seen at the previous scan, the ones left alone, the
/// warnings given.
pub(crate) struct Scanner<K: FolderKind> {
    kind: K,
    db: Db,
    dir: PathBuf,
    /// This instance, as the holder of claims.
    owner: String,
    /// The files found at the previous scan and not taken yet.
    seen: HashMap<PathBuf, Stamp>,
    /// Files left alone until they change.
    stuck: HashMap<PathBuf, Stamp>,
    /// Files waiting for one of these paths to exist.
    waiting: HashMap<PathBuf, (Stamp, Vec<PathBuf>)>,
    /// Folders and files warned about once.
    warned: HashSet<PathBuf>,
    /// The claim in hand, given back if the scan is cut short by a stop.
    holding: Option<String>,
}

impl<K: FolderKind> Scanner<K> {
    /// A scanner of `{dir}/INBOUND`.
    pub(crate) fn new(kind: K, db: &Db, dir: &Path, owner: &str) -> Scanner<K> {
        Scanner {
            kind,
            db: db.clone(),
            dir: dir.to_path_buf(),
            owner: owner.to_string(),
            seen: HashMap::new(),
            stuck: HashMap::new(),
            waiting: HashMap::new(),
            warned: HashSet::new(),
            holding: None,
        }
    }

    pub(crate) fn kind(&self) -> &K {
        &self.kind
    }

    /// Scans every `poll` until `shutdown` turns true. Cut short, a file stays in INBOUND and
    /// its claim is given back, so it is taken again.
    pub(crate) async fn run(mut self, poll: Duration, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            let stopped = tokio::select! {
                _ = async {
                    self.kind.before_scan(domain::now_ms()).await;
                    self.scan(domain::now_ms()).await
                } => false,
                _ = shutdown.changed() => true,
            };
            if stopped {
                if let Some(claim) = self.holding.take() {
                    Claim { name: claim, owner: self.owner.clone() }.release(&self.db).await;
                }
                return;
            }
        }
    }

    /// One scan: every partner folder's complete files, each claimed, processed and archived.
    pub(crate) async fn scan(&mut self, now_ms: i64) -> Scanned {
        let label = K::LABEL;
        let inbound = self.dir.join("INBOUND");
        let mut scanned = Scanned::default();
        let folders = match entries(&inbound).await {
            Ok(folders) => folders,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return scanned,
            Err(e) => {
                tracing::warn!(error = %e, dir = %inbound.display(), "{label}: the folder cannot be read");
                return scanned;
            }
        };
        let mut seen = HashMap::new();
        for (folder_name, folder) in folders {
            if !folder.is_dir() {
                continue;
            }
            match self.kind.is_partner(&folder_name).await {
                Ok(true) => {}
                Ok(false) => {
                    if self.warned.insert(folder.clone()) {
                        tracing::warn!(folder = folder_name, "{label}: skipping a folder that is not named after a partner");
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, folder = folder_name, "{label}: looking the partner up failed");
                    continue;
                }
            }
            let files = match entries(&folder).await {
                Ok(files) => files,
                Err(e) => {
                    tracing::warn!(error = %e, dir = %folder.display(), "{label}: the folder cannot be read");
                    continue;
                }
            };
            let mut ready = Vec::new();
            for (file_name, file) in files {
                let name = match self.kind.select(&folder_name, &file_name, now_ms) {
                    Selected::Take(name) => name,
                    Selected::Ignore | Selected::NotYet => continue,
                    Selected::Warn(why) => {
                        if file.is_file() && self.warned.insert(file.clone()) {
                            tracing::warn!(folder = folder_name, file = file_name, "{label}: left alone: {why}");
                        }
                        continue;
                    }
                };
                let Some(stamp) = stamp(&file).await else { continue };
                if self.stuck.get(&file) == Some(&stamp) {
                    continue;
                }
                self.stuck.remove(&file);
                if self.seen.get(&file) == Some(&stamp) {
                    ready.push((name, file, stamp));
                } else {
                    seen.insert(file, stamp);
                }
            }
            ready.sort_by(|a, b| a.0.cmp(&b.0));
            for (name, file, stamp) in ready {
                if let Some((waited, until)) = self.waiting.get(&file) {
                    if *waited == stamp && !until.iter().any(|p| p.exists()) {
                        seen.insert(file, stamp);
                        continue;
                    }
                }
                self.waiting.remove(&file);
                match self.take_claimed(&folder_name, &name, &file, stamp, now_ms).await {
                    Claimed::Elsewhere => {
                        scanned.taken_elsewhere += 1;
                        seen.insert(file, stamp);
                    }
                    Claimed::Failed => {
                        seen.insert(file, stamp);
                    }
                    Claimed::Here(taken) => {
                        scanned.taken += 1;
                        match taken {
                            Taken::Done => {
                                self.warned.remove(&file);
                            }
                            Taken::Again => {
                                seen.insert(file, stamp);
                            }
                            Taken::Stuck => {
                                self.stuck.insert(file, stamp);
                            }
                            Taken::Waiting(until) => {
                                self.waiting.insert(file.clone(), (stamp, until));
                                seen.insert(file, stamp);
                            }
                        }
                    }
                }
            }
        }
        self.seen = seen;
        self.stuck.retain(|file, _| file.exists());
        self.waiting.retain(|file, _| file.exists());
        scanned
    }

    /// Processes `file` under its claim, unless another instance holds the claim or the file is
    /// no longer as it was (taken, or changed).
    async fn take_claimed(&mut self, folder: &str, name: &K::Name, file: &Path, seen: Stamp, now_ms: i64) -> Claimed {
        let claim = match Claim::take(&self.db, K::LABEL, file, seen, &self.owner, now_ms).await {
            Ok(Some(claim)) => claim,
            Ok(None) => return Claimed::Elsewhere,
            Err(e) => {
                tracing::warn!(error = %e, file = %file.display(), "{}: claiming the file failed; tried again at the next scan", K::LABEL);
                return Claimed::Failed;
            }
        };
        if stamp(file).await != Some(seen) {
            claim.release(&self.db).await;
            return Claimed::Elsewhere;
        }
        self.holding = Some(claim.name.clone());
        let taken = claim.renewed_while(&self.db, self.kind.take(folder, name, file)).await;
        claim.release(&self.db).await;
        self.holding = None;
        Claimed::Here(taken)
    }
}

/// Whether this scanner took a file.
enum Claimed {
    /// Processed here.
    Here(Taken),
    /// Another instance holds its claim, or has just taken it.
    Elsewhere,
    /// The claim could not be asked for (the database failed): tried again at the next scan.
    Failed,
}

/// A claim on one version of one file, held in the database ([`CLAIM_TTL`], renewed while the
/// file is processed). `joygate tikivip reconcile` takes the same claims as the scanners.
pub(crate) struct Claim {
    name: String,
    owner: String,
}

impl Claim {
    /// Claims `file` as it is at `stamp` for `owner`; `None` when another holds it.
    pub(crate) async fn take(db: &Db, label: &str, file: &Path, stamp: Stamp, owner: &str, now_ms: i64) -> Result<Option<Claim>, domain::StoreError> {
        let mtime_ns = stamp.1.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
        let mut key = Sha256::new();
        for part in [label.as_bytes(), file.as_os_str().as_encoded_bytes(), &stamp.0.to_be_bytes(), &mtime_ns.to_be_bytes()] {
            key.update((part.len() as u64).to_be_bytes());
            key.update(part);
        }
        let name = format!("folder-file:{}", hex::encode(key.finalize()));
        let held = lease::acquire(db, &name, owner, ttl_ms(), now_ms).await?;
        Ok(held.then(|| Claim { name, owner: owner.to_string() }))
    }

    /// Runs `work`, renewing the claim every third of [`CLAIM_TTL`] until it is done.
    pub(crate) async fn renewed_while<T>(&self, db: &Db, work: impl Future<Output = T>) -> T {
        let mut renew = tokio::time::interval(CLAIM_TTL / 3);
        renew.tick().await;
        tokio::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = renew.tick() => {
                    if let Err(e) = lease::acquire(db, &self.name, &self.owner, ttl_ms(), domain::now_ms()).await {
                        tracing::warn!(error = %e, "renewing a file's claim failed");
                    }
                }
            }
        }
    }

    pub(crate) async fn release(&self, db: &Db) {
        if let Err(e) = lease::release(db, &self.name, &self.owner).await {
            tracing::debug!(error = %e, "a file's claim not given back; it runs out");
        }
    }
}

fn ttl_ms() -> i64 {
    i64::try_from(CLAIM_TTL.as_millis()).unwrap_or(i64::MAX)
}

/// A regular file's stamp; `None` for anything else, or a file gone.
pub(crate) async fn stamp(file: &Path) -> Option<Stamp> {
    let meta = tokio::fs::metadata(file).await.ok().filter(|m| m.is_file())?;
    Some((meta.len(), meta.modified().ok()))
}

/// A folder's entries as (name, path), sorted by name; hidden names (`.…`) and names that are
/// not UTF-8 are left out.
pub async fn entries(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut read = tokio::fs::read_dir(dir).await?;
    let mut found = Vec::new();
    while let Some(entry) = read.next_entry().await? {
        if let Some(name) = entry.file_name().to_str().filter(|n| !n.starts_with('.')) {
            found.push((name.to_string(), entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Writes `contents` to `target` through a hidden file beside it, renamed over it: never read
/// half-written (a same-named result is replaced).
pub(crate) async fn write_aside(target: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    tokio::fs::create_dir_all(dir).await?;
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let partial = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    tokio::fs::write(&partial, contents).await?;
    if let Err(e) = tokio::fs::rename(&partial, target).await {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(e);
    }
    Ok(())
}

/// Moves `file` into `archived` under `name`; an earlier file of that name is kept beside it as
/// `{ms}-{name}` (the newest keeps the name: reconciliation's multi-part rule reads it).
pub(crate) async fn archive(file: &Path, archived: &Path, name: &str) -> std::io::Result<PathBuf> {
    tokio::fs::create_dir_all(archived).await?;
    let target = archived.join(name);
    if tokio::fs::try_exists(&target).await? {
        tokio::fs::rename(&target, archived.join(format!("{}-{name}", domain::now_ms()))).await?;
    }
    tokio::fs::rename(file, &target).await?;
    Ok(target)
}

#[cfg(test)]
mod tests;
