//! What the SFTP-style folder scanners share (batch files, reconciliation files).

use std::{path::{Path, PathBuf}, time::SystemTime};

/// A file's size and modification time: the same at two scans in a row means it is complete.
pub type Stamp = (u64, Option<SystemTime>);

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
