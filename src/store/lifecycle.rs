//! Retention of the Parquet store: every `--lifecycle-every`, files whose last write
//! is older than `--retain` are deleted, at most `--delete-cap` per run (what is left
//! goes in the next run), and partition directories left empty are removed. Feeds the
//! `lifecycle` family: scan time, deleted files, reclaimed bytes, delete-cap use.

use crate::metrics;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// Every regular file under `dir`, recursively (symlinks are not followed).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Run {
    /// Files deleted.
    pub deleted: u64,
    /// Bytes they held.
    pub reclaimed: u64,
    /// Files past retention left for the next run (the cap was reached).
    pub left: u64,
}

/// The retention job of one store directory.
pub struct Lifecycle {
    dir: PathBuf,
    retain: Duration,
    delete_cap: usize,
    every: Duration,
    last: Option<Instant>,
}

impl Lifecycle {
    /// Retention of `retain` under `dir`, run every `every`, deleting at most
    /// `delete_cap` files per run.
    pub fn new(dir: &Path, retain: Duration, delete_cap: usize, every: Duration) -> Self {
        metrics::lifecycle_deleted_files_total().inc_by(0);
        metrics::lifecycle_reclaimed_bytes_total().inc_by(0);
        metrics::lifecycle_delete_cap_utilization().set(0.0);
        Lifecycle {
            dir: dir.to_path_buf(),
            retain,
            delete_cap: delete_cap.max(1),
            every,
            last: None,
        }
    }

    /// A file of the store's layout: `index=*/date=*/part-*.parquet`, two levels
    /// down. Anything else is not the store's to delete.
    fn is_store_file(&self, p: &Path) -> bool {
        let Ok(rel) = p.strip_prefix(&self.dir) else {
            return false;
        };
        let parts: Vec<&str> = rel.iter().filter_map(|c| c.to_str()).collect();
        matches!(parts.as_slice(), [index, date, file]
            if index.starts_with("index=") && date.starts_with("date=")
                && file.starts_with("part-") && file.ends_with(".parquet"))
    }

    /// Run when due.
    pub fn tick(&mut self, now: Instant) -> Option<Run> {
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < self.every)
        {
            return None;
        }
        self.last = Some(now);
        Some(self.run(SystemTime::now()))
    }

    /// One run as of `now`: delete Parquet files last written before `now - retain`.
    pub fn run(&self, now: SystemTime) -> Run {
        let timer = metrics::lifecycle_scan_seconds().start_timer();
        let cutoff = now
            .checked_sub(self.retain)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut old: Vec<(SystemTime, PathBuf, u64)> = files_under(&self.dir)
            .into_iter()
            .filter(|p| self.is_store_file(p))
            .filter_map(|p| {
                let meta = std::fs::metadata(&p).ok()?;
                let modified = meta.modified().ok()?;
                (modified < cutoff).then_some((modified, p, meta.len()))
            })
            .collect();
        // Oldest first, so a capped run removes the oldest data.
        old.sort();
        let mut run = Run::default();
        for (_, path, len) in old.iter().take(self.delete_cap) {
            match std::fs::remove_file(path) {
                Ok(()) => {
                    run.deleted += 1;
                    run.reclaimed += len;
                    // The date and index directories, when now empty (only succeeds
                    // then); both strictly inside the store.
                    if let Some(date_dir) = path.parent() {
                        let _ = std::fs::remove_dir(date_dir);
                        if let Some(index_dir) = date_dir.parent() {
                            let _ = std::fs::remove_dir(index_dir);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "retention cannot delete a file");
                }
            }
        }
        run.left = (old.len() as u64).saturating_sub(run.deleted);
        timer.stop_and_record();
        metrics::lifecycle_deleted_files_total().inc_by(run.deleted);
        metrics::lifecycle_reclaimed_bytes_total().inc_by(run.reclaimed);
        metrics::lifecycle_delete_cap_utilization()
            .set(run.deleted as f64 / self.delete_cap as f64);
        run
    }
}
