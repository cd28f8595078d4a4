//! Replay from the Parquet store: `DIR/index=<INDEX>/date=<YYYY-MM-DD>/*.parquet`.
//!
//! Directories outside the range's dates (and indices not asked for) are never
//! opened; files are read in order of their first as-of (from the footer's
//! statistics), and a snapshot is handed out only once no unread file can start
//! before it, so rows of one snapshot spread over two flushes come together and the
//! order holds across files and indices. At most the overlapping files are in memory.
//! A file that cannot be read is reported with its path and stepped over.

use super::{Gathering, Pending, Range, ReadError, SnapshotReader, StoredRow, StoredSnapshot};
use crate::bus::message::subject_token;
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, TimestampMillisecondType, UInt64Type};
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::statistics::Statistics;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Most rows held while waiting for files that overlap in time (about 200 bytes
/// each); past it the replay stops with a message rather than take all memory.
pub const MAX_PENDING_ROWS: usize = 5_000_000;

/// Why a file added nothing.
enum LoadError {
    /// It cannot be read as one of ours: stepped over.
    Unreadable(String),
    /// Its rows would pass [`MAX_PENDING_ROWS`].
    TooManyRows,
}

impl From<String> for LoadError {
    fn from(e: String) -> Self {
        LoadError::Unreadable(e)
    }
}

/// One file to read, with the as-of span its footer states.
#[derive(Debug, Clone)]
struct FileSpan {
    path: PathBuf,
    min_ms: i64,
}

/// Reads a Parquet store in as-of order.
pub struct ParquetReader {
    dir: PathBuf,
    range: Range,
    files: Vec<FileSpan>,
    next_file: usize,
    pending: Pending,
    pending_rows: usize,
    problems: Vec<String>,
}

/// The value of a `key=value` directory name.
fn partition_value<'a>(name: &'a str, key: &str) -> Option<&'a str> {
    name.strip_prefix(key)?.strip_prefix('=')
}

/// Sorted entries of a directory (none when it cannot be read: reported).
fn entries(dir: &Path, problems: &mut Vec<String>) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            v.sort();
            v
        }
        Err(e) => {
            problems.push(format!("cannot read directory {}: {e}", dir.display()));
            Vec::new()
        }
    }
}

/// The as-of span of a file from its footer, `None` with a message when it cannot be
/// read as one of ours.
fn span_of(path: &Path) -> Result<Option<(i64, i64)>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| e.to_string())?;
    let meta = builder.metadata();
    let Some(col) = builder
        .parquet_schema()
        .columns()
        .iter()
        .position(|c| c.name() == "as_of")
    else {
        return Err("it has no `as_of` column (not a G6 option-chain file)".into());
    };
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for rg in meta.row_groups() {
        if rg.num_rows() == 0 {
            continue;
        }
        match rg.column(col).statistics() {
            Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                (Some(a), Some(b)) => {
                    lo = lo.min(*a);
                    hi = hi.max(*b);
                }
                // Without statistics the file spans everything: read it.
                _ => return Ok(Some((i64::MIN, i64::MAX))),
            },
            _ => return Ok(Some((i64::MIN, i64::MAX))),
        }
    }
    Ok((lo <= hi).then_some((lo, hi)))
}

impl ParquetReader {
    /// A reader of the store under `dir` for `range`, only `indices` when any.
    pub fn open(dir: &Path, range: Range, indices: &[String]) -> Result<Self, String> {
        if !dir.is_dir() {
            return Err(format!(
                "{} is not a directory; point --from parquet:DIR at the --data-dir of g6 serve",
                dir.display()
            ));
        }
        let wanted: HashSet<String> = indices
            .iter()
            .map(|i| i.trim())
            .filter(|i| !i.is_empty())
            .map(subject_token)
            .collect();
        // Partition dates are the as-of's UTC date.
        let first_day = crate::option_chain::dates::format_date(range.start_ms.div_euclid(1000));
        let last_day = crate::option_chain::dates::format_date((range.end_ms - 1).div_euclid(1000));
        let mut problems = Vec::new();
        let mut files = Vec::new();
        let mut partitions = 0usize;
        for index_dir in entries(dir, &mut problems) {
            let Some(name) = index_dir.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(token) = partition_value(name, "index") else {
                continue;
            };
            if !index_dir.is_dir() || (!wanted.is_empty() && !wanted.contains(token)) {
                continue;
            }
            partitions += 1;
            for date_dir in entries(&index_dir, &mut problems) {
                let Some(date) = date_dir
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| partition_value(n, "date"))
                else {
                    continue;
                };
                // ISO dates compare as text.
                if date < first_day.as_str() || date > last_day.as_str() || !date_dir.is_dir() {
                    continue;
                }
                for path in entries(&date_dir, &mut problems) {
                    let Some(file) = path.file_name().and_then(|n| n.to_str()) else {
                        continue;
                    };
                    // Hidden names are files still being written.
                    if file.starts_with('.') || !file.ends_with(".parquet") {
                        continue;
                    }
                    match span_of(&path) {
                        Ok(Some((min_ms, max_ms))) => {
                            if max_ms >= range.start_ms && min_ms < range.end_ms {
                                files.push(FileSpan { path, min_ms });
                            }
                        }
                        Ok(None) => {}
                        Err(e) => problems.push(format!(
                            "skipping {}: cannot read it as Parquet: {e}",
                            path.display()
                        )),
                    }
                }
            }
        }
        if partitions == 0 {
            let which = if wanted.is_empty() {
                String::new()
            } else {
                format!(" for --index {}", indices.join(","))
            };
            return Err(format!(
                "{} holds no index=<INDEX> directories{which}; is it the --data-dir of g6 serve?",
                dir.display()
            ));
        }
        files.sort_by(|a, b| (a.min_ms, &a.path).cmp(&(b.min_ms, &b.path)));
        Ok(ParquetReader {
            dir: dir.to_path_buf(),
            range,
            files,
            next_file: 0,
            pending: Pending::new(),
            pending_rows: 0,
            problems,
        })
    }

    /// Files that overlap the range.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// Read one file's rows within the range into `pending`.
    fn load(&mut self, span: &FileSpan) -> Result<(), LoadError> {
        let file = std::fs::File::open(&span.path).map_err(|e| e.to_string())?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| e.to_string())?;
        // A file is mostly one flush of one index: a snapshot or a few.
        let file_rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
        let reader = builder
            .with_batch_size(8192)
            .build()
            .map_err(|e| e.to_string())?;
        // Gather on the side first: a file that fails halfway adds nothing. A
        // snapshot's rows sit together in a file: a new key is made only on a change.
        let mut local: BTreeMap<(i64, String, u64), Gathering> = BTreeMap::new();
        let mut last: Option<(i64, String, u64)> = None;
        let mut rows = 0usize;
        // Room for a new snapshot: the size of the one before it in this file (the
        // whole file for the first).
        let mut room = file_rows;
        let held = self.pending_rows;
        for batch in reader {
            let batch = batch.map_err(|e| e.to_string())?;
            let mut full = false;
            for_each_row(&batch, &self.range, |row| {
                rows += 1;
                if held + rows > MAX_PENDING_ROWS {
                    full = true;
                    return false;
                }
                let same = last.as_ref().is_some_and(|(t, i, id)| {
                    *t == row.as_of_ms && *id == row.snapshot_id && i == row.index
                });
                if !same {
                    if let Some(g) = last.as_ref().and_then(|k| local.get(k)) {
                        room = g.len();
                    }
                    last = Some((row.as_of_ms, row.index.to_string(), row.snapshot_id));
                }
                if let Some(key) = &last {
                    match local.get_mut(key) {
                        Some(g) => g.push(&row),
                        None => {
                            let mut g = Gathering::with_capacity(room);
                            g.push(&row);
                            local.insert(key.clone(), g);
                        }
                    }
                }
                true
            })?;
            if full {
                return Err(LoadError::TooManyRows);
            }
        }
        for (key, g) in local {
            match self.pending.entry(key) {
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(g);
                }
                std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().absorb(g),
            }
        }
        self.pending_rows += rows;
        Ok(())
    }
}

/// Call `f` with every row of `batch` inside `range`, until it returns `false`.
fn for_each_row(
    batch: &RecordBatch,
    range: &Range,
    mut f: impl FnMut(StoredRow<'_>) -> bool,
) -> Result<(), String> {
    let col = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| format!("it has no `{name}` column (not a G6 option-chain file)"))
    };
    let wrong = |name: &str| format!("column `{name}` has an unexpected type");
    let f64s = |name: &str| -> Result<_, String> {
        col(name)?
            .as_primitive_opt::<Float64Type>()
            .ok_or_else(|| wrong(name))
    };
    let strs = |name: &str| -> Result<_, String> {
        col(name)?.as_string_opt::<i32>().ok_or_else(|| wrong(name))
    };
    let index = strs("index")?;
    let expiry = col("expiry")?
        .as_primitive_opt::<Date32Type>()
        .ok_or_else(|| wrong("expiry"))?;
    let snapshot = col("snapshot_id")?
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| wrong("snapshot_id"))?;
    let as_of = col("as_of")?
        .as_primitive_opt::<TimestampMillisecondType>()
        .ok_or_else(|| wrong("as_of"))?;
    let (spot, source, provider, strike, kind) = (
        f64s("spot")?,
        strs("source")?,
        strs("provider")?,
        f64s("strike")?,
        strs("type")?,
    );
    let (oi, volume) = (f64s("oi")?, f64s("volume")?);
    let optional = [
        f64s("iv")?,
        f64s("bid")?,
        f64s("ask")?,
        f64s("spread_bps")?,
        f64s("moneyness")?,
        f64s("dte_days")?,
    ];
    let opt = |a: &arrow_array::Float64Array, i: usize| (!a.is_null(i)).then(|| a.value(i));
    for i in 0..batch.num_rows() {
        let t = as_of.value(i);
        if !range.contains(t) {
            continue;
        }
        let go_on = f(StoredRow {
            index: index.value(i),
            expiry_days: i64::from(expiry.value(i)),
            snapshot_id: snapshot.value(i),
            as_of_ms: t,
            spot: spot.value(i),
            source: source.value(i),
            provider: provider.value(i),
            strike: strike.value(i),
            option_type: kind.value(i),
            oi: oi.value(i),
            volume: volume.value(i),
            iv: opt(optional[0], i),
            bid: opt(optional[1], i),
            ask: opt(optional[2], i),
            spread_bps: opt(optional[3], i),
            moneyness: opt(optional[4], i),
            dte_days: opt(optional[5], i),
        });
        if !go_on {
            break;
        }
    }
    Ok(())
}

impl SnapshotReader for ParquetReader {
    fn next_snapshot(&mut self) -> Result<Option<StoredSnapshot>, ReadError> {
        loop {
            // A snapshot is complete once no unread file can start at or before it.
            let watermark = self.files.get(self.next_file).map(|f| f.min_ms);
            if let Some(entry) = self.pending.first_entry() {
                if watermark.is_none_or(|w| entry.key().0 < w) {
                    let ((as_of_ms, index, id), gathering): ((i64, String, u64), Gathering) =
                        entry.remove_entry();
                    self.pending_rows = self
                        .pending_rows
                        .saturating_sub(gathering.len() + gathering.duplicates() as usize);
                    return Ok(Some(gathering.finish(as_of_ms, index, id)));
                }
            }
            let Some(span) = self.files.get(self.next_file).cloned() else {
                return Ok(None);
            };
            self.next_file += 1;
            match self.load(&span) {
                Ok(()) => {}
                Err(LoadError::Unreadable(e)) => self.problems.push(format!(
                    "skipping {}: cannot read it as Parquet: {e}",
                    span.path.display()
                )),
                Err(LoadError::TooManyRows) => {
                    return Err(ReadError(format!(
                        "more than {MAX_PENDING_ROWS} rows of {} overlap in time around {} \
                         (reading {}); replay fewer indices at once (--index) or a shorter range",
                        self.dir.display(),
                        super::format_ms(span.min_ms),
                        span.path.display()
                    )))
                }
            }
        }
    }

    fn take_problems(&mut self) -> Vec<String> {
        std::mem::take(&mut self.problems)
    }

    fn describe(&self) -> String {
        format!(
            "Parquet store {} ({} files in range)",
            self.dir.display(),
            self.files.len()
        )
    }
}
