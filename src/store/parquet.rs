//! The Parquet store (the default): one file per partition per flush, under
//! `DIR/index=<INDEX>/date=<YYYY-MM-DD>/part-<first snapshot id>-<seq>.parquet`
//! (the date of the data's as-of time, UTC; the index token escaped like a bus
//! subject). Each file is written under a hidden temporary name, synced, then renamed,
//! so a reader never sees a half-written file under a final name. Columns are typed
//! (timestamps as timestamps, dates as dates, prices as doubles), Snappy-compressed,
//! and readable by DuckDB, pyarrow/pandas and ClickHouse's `file()`.

use super::{StoreError, Written};
use crate::bus::message::{subject_token, ChainMessage, WireOptionType};
use crate::labels::StoreFailure;
use arrow_array::builder::{
    Date32Builder, Float64Builder, StringBuilder, TimestampMillisecondBuilder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Longest escaped index name in a partition directory (`index=` + it must fit the
/// 255-byte file-name limit).
const MAX_INDEX_TOKEN: usize = 200;

/// Most rows in one file; a larger flush of one partition is split.
pub const MAX_ROWS_PER_FILE: usize = 1_000_000;

/// The columns, in order.
pub fn schema() -> Arc<Schema> {
    let f64n = |n: &str| Field::new(n, DataType::Float64, true);
    Arc::new(Schema::new(vec![
        Field::new("index", DataType::Utf8, false),
        Field::new("expiry", DataType::Date32, false),
        Field::new("snapshot_id", DataType::UInt64, false),
        Field::new(
            "as_of",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("spot", DataType::Float64, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("provider", DataType::Utf8, false),
        Field::new("strike", DataType::Float64, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("oi", DataType::Float64, false),
        Field::new("volume", DataType::Float64, false),
        f64n("iv"),
        f64n("bid"),
        f64n("ask"),
        f64n("spread_bps"),
        f64n("moneyness"),
        f64n("dte_days"),
        // Schema 2 of the bus message: the Greeks. Files written before have no such
        // columns; readers take them as absent.
        f64n("delta"),
        f64n("gamma"),
        f64n("vega"),
        f64n("theta"),
    ]))
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
fn epoch_days(date: &str) -> Option<i32> {
    let (y, m, d) = crate::option_chain::dates::parse_date(date)?;
    crate::option_chain::dates::days_from_civil(y, m, d).and_then(|d| i32::try_from(d).ok())
}

/// The rows of `messages` as one record batch.
pub fn record_batch(messages: &[&ChainMessage]) -> Result<RecordBatch, StoreError> {
    let rows: usize = messages.iter().map(|m| m.contracts.len()).sum();
    let mut index = StringBuilder::with_capacity(rows, rows * 8);
    let mut expiry = Date32Builder::with_capacity(rows);
    let mut snapshot = UInt64Builder::with_capacity(rows);
    let mut as_of = TimestampMillisecondBuilder::with_capacity(rows).with_timezone("UTC");
    let mut spot = Float64Builder::with_capacity(rows);
    let mut source = StringBuilder::with_capacity(rows, rows * 4);
    let mut provider = StringBuilder::with_capacity(rows, rows * 8);
    let mut strike = Float64Builder::with_capacity(rows);
    let mut kind = StringBuilder::with_capacity(rows, rows * 2);
    let mut oi = Float64Builder::with_capacity(rows);
    let mut volume = Float64Builder::with_capacity(rows);
    let mut optional: [Float64Builder; 10] =
        std::array::from_fn(|_| Float64Builder::with_capacity(rows));
    for m in messages {
        let days = epoch_days(&m.expiry).ok_or_else(|| {
            StoreError::new(
                StoreFailure::Rejected,
                format!(
                    "message {} has an unreadable expiry {:?}",
                    m.message_id(),
                    m.expiry
                ),
            )
        })?;
        let src = m.wire_source().label();
        for c in &m.contracts {
            index.append_value(&m.index);
            expiry.append_value(days);
            snapshot.append_value(m.snapshot_id);
            as_of.append_value(m.as_of_ms);
            spot.append_value(m.spot);
            source.append_value(src);
            provider.append_value(&m.provider);
            strike.append_value(c.strike);
            kind.append_value(
                WireOptionType::try_from(c.option_type)
                    .unwrap_or(WireOptionType::Unspecified)
                    .label(),
            );
            oi.append_value(c.open_interest);
            volume.append_value(c.volume);
            for (b, v) in optional.iter_mut().zip([
                c.iv,
                c.bid,
                c.ask,
                c.spread_bps,
                c.moneyness,
                c.dte_days,
                c.delta,
                c.gamma,
                c.vega,
                c.theta,
            ]) {
                b.append_option(v);
            }
        }
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(index.finish()),
        Arc::new(expiry.finish()),
        Arc::new(snapshot.finish()),
        Arc::new(as_of.finish()),
        Arc::new(spot.finish()),
        Arc::new(source.finish()),
        Arc::new(provider.finish()),
        Arc::new(strike.finish()),
        Arc::new(kind.finish()),
        Arc::new(oi.finish()),
        Arc::new(volume.finish()),
    ];
    for mut b in optional {
        columns.push(Arc::new(b.finish()));
    }
    RecordBatch::try_new(schema(), columns)
        .map_err(|e| StoreError::new(StoreFailure::Rejected, format!("building rows: {e}")))
}

/// The Parquet store.
pub struct ParquetStore {
    dir: PathBuf,
    seq: u64,
}

/// Why an I/O error happened, as the metric label.
fn io_failure(e: &std::io::Error) -> StoreFailure {
    match e.raw_os_error() {
        // EFBIG: a file-size limit (RLIMIT_FSIZE) is a full disk to us.
        Some(libc::ENOSPC) | Some(libc::EDQUOT) | Some(libc::EFBIG) => StoreFailure::NoSpace,
        Some(libc::EROFS) | Some(libc::EACCES) | Some(libc::EPERM) => StoreFailure::ReadOnly,
        _ => StoreFailure::Io,
    }
}

impl ParquetStore {
    /// A store under `dir`: created if missing, checked to be writable (a clear error
    /// names the directory otherwise), and cleared of temporary files a crash left.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let fail = |e: std::io::Error, what: &str| {
            StoreError::new(
                io_failure(&e),
                format!(
                    "{what} {}: {e}; choose a writable --data-dir",
                    dir.display()
                ),
            )
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(e, "cannot create"))?;
        let probe = dir.join(format!(".g6-write-probe-{}", std::process::id()));
        std::fs::write(&probe, b"probe").map_err(|e| fail(e, "cannot write in"))?;
        let _ = std::fs::remove_file(&probe);
        let store = ParquetStore {
            dir: dir.to_path_buf(),
            seq: 0,
        };
        store.remove_temporaries();
        Ok(store)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the store can take `m`: a readable expiry, and an index whose
    /// partition directory name fits a file name.
    pub fn check(m: &ChainMessage) -> Result<(), StoreError> {
        if epoch_days(&m.expiry).is_none() {
            return Err(StoreError::new(
                StoreFailure::Rejected,
                format!(
                    "message {} has an unreadable expiry {:?}",
                    m.message_id(),
                    m.expiry
                ),
            ));
        }
        if subject_token(&m.index).len() > MAX_INDEX_TOKEN {
            return Err(StoreError::new(
                StoreFailure::Rejected,
                format!(
                    "index name of message {} is too long for a directory name",
                    m.message_id()
                ),
            ));
        }
        Ok(())
    }

    /// Delete the temporaries of our own files that a crashed writer left (a live
    /// writer's, with its pid in the name, and anything else are left alone).
    fn remove_temporaries(&self) {
        for file in super::files::files_under(&self.dir) {
            let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !(name.starts_with(".part-") && name.ends_with(".parquet.tmp")) {
                continue;
            }
            // A live writer holds a lock on its temporary until the rename (see
            // `write_temp`); the kernel releases it when that writer dies, so a lock we
            // can take means the temporary is a crashed writer's. Younger than a
            // minute, it may be one being created this instant: left for next time.
            let Ok(f) = std::fs::File::open(&file) else {
                continue;
            };
            let young = f
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_none_or(|age| age < std::time::Duration::from_secs(60));
            let alive = young || f.try_lock().is_err();
            if !alive {
                let _ = std::fs::remove_file(&file);
            }
        }
    }

    /// The partition directory of a message.
    fn partition(&self, m: &ChainMessage) -> PathBuf {
        let date = chrono::DateTime::from_timestamp_millis(m.as_of_ms)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| "unknown".into());
        self.dir
            .join(format!("index={}", subject_token(&m.index)))
            .join(format!("date={date}"))
    }

    /// Write `messages` into a hidden temporary file in `dir`; (temporary, final name,
    /// bytes).
    fn write_temp(
        &mut self,
        dir: &Path,
        messages: &[&ChainMessage],
    ) -> Result<(PathBuf, PathBuf, u64, std::fs::File), StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::new(
                io_failure(&e),
                format!("cannot create {}: {e}", dir.display()),
            )
        })?;
        let batch = record_batch(messages)?;
        self.seq += 1;
        let first = messages.first().map_or(0, |m| m.snapshot_id);
        let name = format!("part-{first}-{}-{}.parquet", std::process::id(), self.seq);
        let tmp = dir.join(format!(".{name}.tmp"));
        let done = dir.join(&name);
        let result = (|| -> Result<(u64, std::fs::File), StoreError> {
            let file = std::fs::File::create(&tmp).map_err(|e| {
                StoreError::new(
                    io_failure(&e),
                    format!("cannot create {}: {e}", tmp.display()),
                )
            })?;
            // Held until the rename: a writer starting on the same directory leaves a
            // locked temporary alone, and the kernel drops the lock when we die.
            // Advisory only: a filesystem without locks just loses that protection.
            let lock = file.try_clone().ok();
            if let Some(l) = &lock {
                let _ = l.try_lock();
            }
            let props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .build();
            let mut w = ArrowWriter::try_new(file, schema(), Some(props))
                .map_err(|e| parquet_failure(e, &tmp))?;
            w.write(&batch).map_err(|e| parquet_failure(e, &tmp))?;
            let file = w.into_inner().map_err(|e| parquet_failure(e, &tmp))?;
            file.sync_all().map_err(|e| {
                StoreError::new(
                    io_failure(&e),
                    format!("cannot sync {}: {e}", tmp.display()),
                )
            })?;
            let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
            Ok((bytes, lock.unwrap_or(file)))
        })();
        match result {
            Ok((bytes, lock)) => Ok((tmp, done, bytes, lock)),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Write `messages`: one file per partition (split past [`MAX_ROWS_PER_FILE`]).
    /// Every file is written and synced under a temporary name first; only when all
    /// are, they are renamed. A failure leaves nothing visible, so a retry of the same
    /// messages never stores a row twice.
    pub fn write(&mut self, messages: &[Arc<ChainMessage>]) -> Result<Written, StoreError> {
        let mut partitions: BTreeMap<PathBuf, Vec<&ChainMessage>> = BTreeMap::new();
        for m in messages {
            partitions.entry(self.partition(m)).or_default().push(m);
        }
        let mut chunks: Vec<(PathBuf, Vec<&ChainMessage>, usize)> = Vec::new();
        for (dir, msgs) in partitions {
            let mut chunk: Vec<&ChainMessage> = Vec::new();
            let mut rows = 0;
            for m in msgs {
                if rows + m.contracts.len() > MAX_ROWS_PER_FILE && !chunk.is_empty() {
                    chunks.push((dir.clone(), std::mem::take(&mut chunk), rows));
                    rows = 0;
                }
                rows += m.contracts.len();
                chunk.push(m);
            }
            if !chunk.is_empty() {
                chunks.push((dir, chunk, rows));
            }
        }
        let mut temps: Vec<(PathBuf, PathBuf)> = Vec::new();
        // The temporaries' locks, released once every rename is done.
        let mut _locks: Vec<std::fs::File> = Vec::new();
        let mut written = Written::default();
        for (dir, chunk, rows) in &chunks {
            match self.write_temp(dir, chunk) {
                Ok((tmp, done, bytes, lock)) => {
                    temps.push((tmp, done));
                    _locks.push(lock);
                    written.bytes += bytes;
                    written.rows += *rows as u64;
                    written.files += 1;
                }
                Err(e) => {
                    for (tmp, _) in &temps {
                        let _ = std::fs::remove_file(tmp);
                    }
                    return Err(e);
                }
            }
        }
        for (k, (tmp, done)) in temps.iter().enumerate() {
            if let Err(e) = std::fs::rename(tmp, done) {
                // All or nothing: take back what became visible, drop the rest, so the
                // retry stores every row once.
                for (_, renamed) in &temps[..k] {
                    let _ = std::fs::remove_file(renamed);
                }
                for (t, _) in &temps[k..] {
                    let _ = std::fs::remove_file(t);
                }
                return Err(StoreError::new(
                    io_failure(&e),
                    format!("cannot rename {}: {e}", tmp.display()),
                ));
            }
        }
        // The renames survive a crash once their directories are synced.
        let dirs: std::collections::BTreeSet<&Path> =
            temps.iter().filter_map(|(_, done)| done.parent()).collect();
        for d in dirs {
            if let Ok(f) = std::fs::File::open(d) {
                let _ = f.sync_all();
            }
        }
        Ok(written)
    }
}

fn parquet_failure(e: parquet::errors::ParquetError, path: &Path) -> StoreError {
    let reason = match &e {
        parquet::errors::ParquetError::External(inner) => inner
            .downcast_ref::<std::io::Error>()
            .map_or(StoreFailure::Io, io_failure),
        _ => StoreFailure::Io,
    };
    StoreError::new(reason, format!("writing {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn temporary(dir: &Path, name: &str, age: Duration) -> (PathBuf, std::fs::File) {
        let path = dir.join(name);
        let f = std::fs::File::create(&path).unwrap();
        f.set_modified(SystemTime::now() - age).unwrap();
        (path, f)
    }

    #[test]
    fn opening_removes_a_dead_writers_temporary_and_keeps_a_locked_or_fresh_one() {
        let dir = std::env::temp_dir().join(format!("g6-temps-{}", std::process::id()));
        let part = dir.join("index=NIFTY").join("date=2026-12-01");
        std::fs::create_dir_all(&part).unwrap();
        let hour = Duration::from_secs(3600);
        // A crashed writer's: old, unlocked (whatever process now has its pid).
        let (dead, _) = temporary(
            &part,
            &format!(".part-1-{}-1.parquet.tmp", std::process::id()),
            hour,
        );
        // A live writer's: old but still locked.
        let (held, held_file) = temporary(&part, ".part-2-1-1.parquet.tmp", hour);
        held_file.try_lock().unwrap();
        // One created this instant: may be about to be locked.
        let (fresh, _) = temporary(&part, ".part-3-1-1.parquet.tmp", Duration::ZERO);
        // Not a temporary of ours.
        let (other, _) = temporary(&part, "notes.tmp", hour);
        // The lock is per open file description: another open of the same process
        // cannot take it, as another process could not.
        ParquetStore::open(&dir).unwrap();
        assert!(!dead.exists(), "the dead writer's temporary is removed");
        assert!(held.exists() && fresh.exists() && other.exists());
        drop(held_file);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
