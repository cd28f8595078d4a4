//! Retention and compaction of the Parquet store: every `--lifecycle-every`, files
//! whose last write is older than `--retain` are deleted, at most `--delete-cap` per run
//! (what is left goes in the next run), and partition directories left empty are
//! removed; then each partition's small files (`--compact-below`, once older than
//! `--compact-after`) are merged into one. Feeds the `lifecycle` family: scan time,
//! deleted and compacted files, reclaimed bytes, delete-cap use.

pub use super::files::files_under;
use crate::metrics;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Run {
    /// Files deleted.
    pub deleted: u64,
    /// Bytes they held, plus what compaction saved.
    pub reclaimed: u64,
    /// Files past retention left for the next run (the cap was reached).
    pub left: u64,
    /// Small files merged by compaction.
    pub compacted: u64,
}

/// The retention job of one store directory.
pub struct Lifecycle {
    dir: PathBuf,
    retain: Duration,
    delete_cap: usize,
    every: Duration,
    last: Option<Instant>,
    compaction: Option<Compaction>,
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
            compaction: None,
        }
    }

    /// Also merge small files (off when `below` is 0).
    pub fn with_compaction(mut self, below: u64, after: Duration) -> Self {
        metrics::lifecycle_compacted_files_total().inc_by(0);
        self.compaction = (below > 0).then_some(Compaction { below, after });
        self
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
        // Merging reads whole files into memory: the governor pauses it under
        // pressure (retention, which frees disk and holds nothing, goes on).
        let paused = crate::governor::controls().compaction_paused();
        if let Some(c) = self.compaction.filter(|_| !paused) {
            let done = self.compact(c, now);
            run.compacted = done.files;
            run.reclaimed += done.reclaimed;
            metrics::lifecycle_compacted_files_total().inc_by(done.files);
        }
        timer.stop_and_record();
        metrics::lifecycle_deleted_files_total().inc_by(run.deleted);
        metrics::lifecycle_reclaimed_bytes_total().inc_by(run.reclaimed);
        metrics::lifecycle_delete_cap_utilization()
            .set(run.deleted as f64 / self.delete_cap as f64);
        run
    }

    /// Merge each partition's small, settled files. One process at a time per
    /// directory (a lock on it); another that holds it makes this run skip.
    fn compact(&self, c: Compaction, now: SystemTime) -> Compacted {
        let mut total = Compacted::default();
        let Some(_lock) = DirLock::try_new(&self.dir) else {
            return total;
        };
        let files: Vec<PathBuf> = files_under(&self.dir)
            .into_iter()
            .filter(|p| self.is_store_file(p))
            .collect();
        // First finish compactions a crash interrupted: their inputs go.
        let mut gone = std::collections::BTreeSet::new();
        for p in &files {
            if !is_compacted_name(p) {
                continue;
            }
            let Some(dir) = p.parent() else { continue };
            // The merged file carries its newest input's time: a file of that name
            // written later is another file, not a leftover.
            let Some(merged_at) = std::fs::metadata(p).and_then(|m| m.modified()).ok() else {
                continue;
            };
            for name in compacted_from(p) {
                let input = dir.join(&name);
                let ours =
                    name.starts_with("part-") && name.ends_with(".parquet") && !name.contains('/');
                let leftover = std::fs::metadata(&input)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t <= merged_at);
                if ours && leftover && input != *p && std::fs::remove_file(&input).is_ok() {
                    tracing::info!(file = %input.display(), "removed a file an interrupted compaction had merged");
                    gone.insert(input);
                }
            }
        }
        let cutoff = now.checked_sub(c.after).unwrap_or(SystemTime::UNIX_EPOCH);
        let mut by_dir: std::collections::BTreeMap<PathBuf, Vec<(PathBuf, u64, SystemTime)>> =
            std::collections::BTreeMap::new();
        for p in files {
            if gone.contains(&p) {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&p) else {
                continue;
            };
            let Ok(modified) = meta.modified() else {
                continue;
            };
            if meta.len() < c.below && modified < cutoff {
                if let Some(dir) = p.parent() {
                    by_dir
                        .entry(dir.to_path_buf())
                        .or_default()
                        .push((p, meta.len(), modified));
                }
            }
        }
        for (dir, mut candidates) in by_dir {
            candidates.sort();
            // Up to the row and size bounds of one file.
            let mut batch = Vec::new();
            let (mut rows, mut bytes) = (0usize, 0u64);
            for f in candidates {
                // A file we cannot read or of another schema stays as it is, alone.
                let Some(n) = footer_rows(&f.0) else {
                    continue;
                };
                if !batch.is_empty()
                    && (rows + n > crate::store::parquet::MAX_ROWS_PER_FILE
                        || bytes + f.1 > c.below.saturating_mul(4))
                {
                    total = total.plus(self.merge(&dir, &batch));
                    batch.clear();
                    rows = 0;
                    bytes = 0;
                }
                rows += n;
                bytes += f.1;
                batch.push(f);
            }
            total = total.plus(self.merge(&dir, &batch));
        }
        total
    }

    fn merge(&self, dir: &Path, batch: &[(PathBuf, u64, SystemTime)]) -> Compacted {
        if batch.len() < 2 {
            return Compacted::default();
        }
        match compact_partition(dir, batch) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "compaction skipped a partition; its files stay as they are");
                Compacted::default()
            }
        }
    }
}

impl Compacted {
    fn plus(self, o: Compacted) -> Compacted {
        Compacted {
            files: self.files + o.files,
            reclaimed: self.reclaimed + o.reclaimed,
        }
    }
}

/// `part-<first>-<pid>-c<seq>.parquet`: a compacted file.
fn is_compacted_name(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".parquet"))
        .and_then(|n| n.rsplit('-').next())
        .is_some_and(|last| last.starts_with('c'))
}

/// Rows in a Parquet file of the store's schema, from its footer; `None` when the
/// file is unreadable or of another schema.
fn footer_rows(path: &Path) -> Option<usize> {
    let f = std::fs::File::open(path).ok()?;
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).ok()?;
    (b.schema().fields() == crate::store::parquet::schema().fields())
        .then(|| b.metadata().file_metadata().num_rows().max(0) as usize)
}

/// An exclusive, non-blocking lock on the store directory itself (no file of its
/// own to leave behind), released on drop.
struct DirLock {
    _dir: std::fs::File,
}

impl DirLock {
    fn try_new(dir: &Path) -> Option<DirLock> {
        let d = std::fs::File::open(dir).ok()?;
        d.try_lock().ok().map(|()| DirLock { _dir: d })
    }
}

/// Compaction settings: a partition's small files, once old enough, are merged into one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compaction {
    /// Files smaller than this are candidates.
    pub below: u64,
    /// Only files last written longer ago than this (the store never rewrites a file,
    /// so this only batches the work and leaves fresh files to readers as they are).
    pub after: Duration,
}

/// Key-value metadata of a compacted file: the files it replaces, comma-separated. A
/// run that finds one of them still present (a crash between the rename and the
/// deletions) deletes it, so no row stays twice.
pub const COMPACTED_FROM: &str = "g6.compacted_from";

/// What compacting one partition did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compacted {
    /// Input files merged (and deleted).
    pub files: u64,
    /// Bytes the inputs held minus the bytes of the merged file.
    pub reclaimed: u64,
}

fn read_batches(
    path: &Path,
) -> Result<(Vec<arrow_array::RecordBatch>, usize), parquet::errors::ParquetError> {
    let file = std::fs::File::open(path)
        .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?;
    if builder.schema().fields() != crate::store::parquet::schema().fields() {
        return Err(parquet::errors::ParquetError::General(
            "another schema".into(),
        ));
    }
    let mut rows = 0;
    let mut out = Vec::new();
    for b in builder.build()? {
        let b = b.map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))?;
        rows += b.num_rows();
        out.push(b);
    }
    Ok((out, rows))
}

/// The files a compacted file replaces, from its footer.
fn compacted_from(path: &Path) -> Vec<String> {
    let Ok(file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let Ok(reader) = parquet::file::reader::SerializedFileReader::new(file) else {
        return Vec::new();
    };
    use parquet::file::reader::FileReader as _;
    reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == COMPACTED_FROM))
        .and_then(|k| k.value.clone())
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default()
}

/// Merge `inputs` (files of one partition, by name order) into one file, written and
/// synced under a temporary name, renamed, then the inputs deleted. Errors leave the
/// inputs as they were.
fn compact_partition(
    dir: &Path,
    inputs: &[(PathBuf, u64, SystemTime)],
) -> std::io::Result<Compacted> {
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;
    let io = |e: parquet::errors::ParquetError| std::io::Error::other(e.to_string());
    let mut batches = Vec::new();
    for (p, _, _) in inputs {
        batches.extend(read_batches(p).map_err(io)?.0);
    }
    let names: Vec<String> = inputs
        .iter()
        .filter_map(|(p, _, _)| p.file_name().and_then(|n| n.to_str()).map(str::to_string))
        .collect();
    // part-<first>-...: the merged file starts at the smallest first snapshot id.
    let first = names
        .iter()
        .filter_map(|n| {
            n.strip_prefix("part-")?
                .split('-')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .min()
        .unwrap_or(0);
    // Never a name used before, also across restarts under the same pid (always 1 in
    // a container): the clock in nanoseconds, bumped past the last one used.
    static LAST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let seq = LAST
        .fetch_max(now, std::sync::atomic::Ordering::Relaxed)
        .max(now)
        .wrapping_add(1);
    LAST.fetch_max(seq, std::sync::atomic::Ordering::Relaxed);
    let name = format!("part-{first}-{}-c{seq}.parquet", std::process::id());
    let tmp = dir.join(format!(".{name}.tmp"));
    let done = dir.join(&name);
    let result = (|| -> std::io::Result<u64> {
        let file = std::fs::File::create(&tmp)?;
        let props = WriterProperties::builder()
            .set_compression(parquet::basic::Compression::SNAPPY)
            .set_key_value_metadata(Some(vec![parquet::file::metadata::KeyValue::new(
                COMPACTED_FROM.to_string(),
                names.join(","),
            )]))
            .build();
        let mut w =
            ArrowWriter::try_new(file, crate::store::parquet::schema(), Some(props)).map_err(io)?;
        for b in &batches {
            w.write(b).map_err(io)?;
        }
        let file = w.into_inner().map_err(io)?;
        // Retention goes by the data's age: keep the newest input's time.
        if let Some(newest) = inputs.iter().map(|(_, _, t)| *t).max() {
            let _ = file.set_modified(newest);
        }
        file.sync_all()?;
        Ok(file.metadata()?.len())
    })();
    let bytes = match result {
        Ok(b) => b,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    // A hard link never replaces an existing file (a rename would): the merged file
    // cannot take the place of anything, least of all one of its inputs.
    let linked = std::fs::hard_link(&tmp, &done);
    let _ = std::fs::remove_file(&tmp);
    linked?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    let before: u64 = inputs.iter().map(|(_, len, _)| len).sum();
    for (p, _, _) in inputs {
        if *p != done {
            let _ = std::fs::remove_file(p);
        }
    }
    Ok(Compacted {
        files: inputs.len() as u64,
        reclaimed: before.saturating_sub(bytes),
    })
}
