//! The shared scanner: two instances racing on one folder take each file once; a dead
//! instance's claim holds the file until it runs out.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use domain::store::testing::temp_db;

use super::*;

/// Counts how often each file is processed, and archives it. Each scanner's first file waits
/// for the other scanner's first file (`meet`), so both hold a file at once: without claims both
/// would hold the first one.
struct Counting {
    dir: PathBuf,
    taken: Arc<Mutex<HashMap<String, usize>>>,
    meet: Arc<tokio::sync::Barrier>,
    met: std::sync::atomic::AtomicBool,
}

impl Counting {
    fn new(dir: &Path, scanners: usize) -> Counting {
        Counting { dir: dir.to_path_buf(), taken: Arc::default(), meet: Arc::new(tokio::sync::Barrier::new(scanners)), met: Default::default() }
    }

    /// The same counts and meeting point, for another scanner.
    fn another(&self) -> Counting {
        Counting { dir: self.dir.clone(), taken: Arc::clone(&self.taken), meet: Arc::clone(&self.meet), met: Default::default() }
    }
}

impl FolderKind for Counting {
    type Name = String;
    const LABEL: &'static str = "test files";

    async fn is_partner(&self, folder: &str) -> Result<bool, String> {
        Ok(folder == "shop")
    }

    fn select(&self, _folder: &str, name: &str, _now_ms: i64) -> Selected<String> {
        if name.ends_with(".csv") {
            Selected::Take(name.to_string())
        } else {
            Selected::Ignore
        }
    }

    async fn take(&self, folder: &str, name: &String, path: &Path) -> Taken {
        *self.taken.lock().unwrap().entry(name.clone()).or_default() += 1;
        if !self.met.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.meet.wait().await;
        }
        match archive(path, &self.dir.join("ARCHIVED").join(folder), name).await {
            Ok(_) => Taken::Done,
            Err(_) => Taken::Stuck,
        }
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_scanners_racing_on_one_folder_take_each_file_once() {
    let (_g, db) = temp_db().await;
    let dir = tempfile::tempdir().unwrap();
    let inbound = dir.path().join("INBOUND/shop");
    std::fs::create_dir_all(&inbound).unwrap();
    std::fs::create_dir_all(dir.path().join("INBOUND/nobody")).unwrap();
    std::fs::write(dir.path().join("INBOUND/nobody/x.csv"), "x").unwrap();
    let names: Vec<String> = (1..=12).map(|i| format!("day-{i:02}.csv")).collect();
    for name in &names {
        std::fs::write(inbound.join(name), name).unwrap();
    }
    std::fs::write(inbound.join("notes.txt"), "not taken").unwrap();
    let kind = Counting::new(dir.path(), 2);
    let taken = Arc::clone(&kind.taken);
    let mut b = Scanner::new(kind.another(), &db, dir.path(), "instance-b");
    let mut a = Scanner::new(kind, &db, dir.path(), "instance-a");

    let now = domain::now_ms();
    let (first_a, first_b) = tokio::join!(a.scan(now), b.scan(now));
    assert_eq!((first_a, first_b), (Scanned::default(), Scanned::default()), "first seen: not complete yet");
    let (second_a, second_b) = tokio::join!(a.scan(now + 1), b.scan(now + 1));
    assert_eq!(second_a.taken + second_b.taken, names.len(), "{second_a:?} {second_b:?}");
    assert!(second_a.taken > 0 && second_b.taken > 0, "both took files at once");

    let taken = taken.lock().unwrap().clone();
    assert_eq!(taken.len(), names.len());
    assert!(taken.values().all(|n| *n == 1), "each file processed exactly once: {taken:?}");
    assert_eq!(files(&inbound), ["notes.txt"]);
    assert_eq!(files(&dir.path().join("ARCHIVED/shop")), names);
    assert!(dir.path().join("INBOUND/nobody/x.csv").is_file(), "a folder that is no partner's is left alone");
    let (third_a, third_b) = tokio::join!(a.scan(now + 2), b.scan(now + 2));
    assert_eq!((third_a, third_b), (Scanned::default(), Scanned::default()));
}

#[tokio::test]
async fn a_file_claimed_by_an_instance_that_died_waits_for_its_claim_to_run_out() {
    let (_g, db) = temp_db().await;
    let dir = tempfile::tempdir().unwrap();
    let inbound = dir.path().join("INBOUND/shop");
    std::fs::create_dir_all(&inbound).unwrap();
    let file = inbound.join("day.csv");
    std::fs::write(&file, "rows").unwrap();
    let kind = Counting::new(dir.path(), 1);
    let taken = Arc::clone(&kind.taken);
    let mut scanner = Scanner::new(kind, &db, dir.path(), "instance-a");
    let now = domain::now_ms();
    // another instance claimed this very file, then died
    let dead = Claim::take(&db, Counting::LABEL, &file, stamp(&file).await.unwrap(), "instance-dead", now).await.unwrap();
    assert!(dead.is_some());
    assert!(Claim::take(&db, Counting::LABEL, &file, stamp(&file).await.unwrap(), "instance-a", now).await.unwrap().is_none(), "one holder");

    scanner.scan(now).await;
    let held = scanner.scan(now + 1).await;
    assert_eq!(held, Scanned { taken: 0, taken_elsewhere: 1 });
    assert!(file.is_file() && taken.lock().unwrap().is_empty());

    let ttl = i64::try_from(CLAIM_TTL.as_millis()).unwrap();
    let after = scanner.scan(now + ttl + 1).await;
    assert_eq!(after, Scanned { taken: 1, taken_elsewhere: 0 });
    assert!(!file.exists() && dir.path().join("ARCHIVED/shop/day.csv").is_file());
}

#[tokio::test]
async fn archiving_keeps_an_earlier_file_of_the_same_name_and_results_are_replaced_whole() {
    let dir = tempfile::tempdir().unwrap();
    let archived = dir.path().join("ARCHIVED");
    for body in ["first", "second"] {
        let file = dir.path().join("day.csv");
        std::fs::write(&file, body).unwrap();
        archive(&file, &archived, "day.csv").await.unwrap();
    }
    assert_eq!(std::fs::read_to_string(archived.join("day.csv")).unwrap(), "second", "the newest keeps the name");
    let kept: Vec<String> = files(&archived).into_iter().filter(|n| n != "day.csv").collect();
    assert!(kept.len() == 1 && kept[0].ends_with("-day.csv"), "{kept:?}");
    assert_eq!(std::fs::read_to_string(archived.join(&kept[0])).unwrap(), "first");

    let result = dir.path().join("OUTBOUND/day.csv.result.csv");
    write_aside(&result, b"one").await.unwrap();
    write_aside(&result, b"two").await.unwrap();
    assert_eq!(std::fs::read_to_string(&result).unwrap(), "two");
    assert_eq!(files(&dir.path().join("OUTBOUND")), ["day.csv.result.csv"], "nothing left aside");
}
