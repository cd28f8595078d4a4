//! Replay from the Parquet store: `DIR/index=<INDEX>/date=<YYYY-MM-DD>/*.parquet`.
//!
//! Directories outside the range's dates (and indices not asked for) are never
//! opened; files are read in order of their first as-of (from the footer's
//! statistics), and a snapshot is handed out only once no unread file can start
//! before it, so rows of one snapshot spread over two flushes come together and the
//! order holds across files and indices. At most the overlapping files are in memory.
//!
//! Every file is bounded before it is decoded: only regular files are opened (a FIFO
//! would block the replay forever), its footer is read within [`MAX_FOOTER_BYTES`],
//! and its rows and the bytes they take once decoded are estimated from the footer
//! (row counts, byte-array sizes, uncompressed column-chunk sizes) and held to
//! [`Limits`]. String columns are read as dictionaries, so a value repeated on every
//! row is decoded once. A file that breaks a bound or cannot be read is reported with
//! its path and reason, counted in `g6_replay_skipped_total`, and stepped over.

use super::{
    Gathering, Limits, Pending, Range, ReadError, SnapshotReader, StoredRow, StoredSnapshot,
    ROW_BYTES,
};
use crate::bus::message::subject_token;
use crate::labels::ReplaySkip;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float64Type, Int32Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt64Type,
};
use arrow_array::{Array, ArrayRef, Int32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use parquet::basic::Type as PhysicalType;
use parquet::file::statistics::Statistics;
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Default of `--max-file-rows`: most rows one file may hold.
pub const DEFAULT_MAX_FILE_ROWS: u64 = 5_000_000;

/// Largest footer (Parquet metadata) read: a store file's is a few kilobytes.
pub const MAX_FOOTER_BYTES: u64 = 16 << 20;

/// Longest string value a G6 file holds (index names are refused past 200 bytes by
/// the stores; sources, providers and option types are short words). A longer value
/// makes the file not one of ours.
pub const MAX_VALUE_LEN: usize = 200;

/// Rows decoded at a time.
const BATCH_ROWS: usize = 8192;

/// The columns read (any other column of a file is neither read nor counted).
const COLUMNS: [&str; 17] = [
    "index",
    "expiry",
    "snapshot_id",
    "as_of",
    "spot",
    "source",
    "provider",
    "strike",
    "type",
    "oi",
    "volume",
    "iv",
    "bid",
    "ask",
    "spread_bps",
    "moneyness",
    "dte_days",
];

/// The string columns, read as dictionaries.
const STRING_COLUMNS: [&str; 4] = ["index", "source", "provider", "type"];

/// Why a file added nothing, and what to say about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Skip {
    /// The reason counted.
    pub reason: ReplaySkip,
    /// What is wrong and what to do, without the path.
    pub message: String,
}

impl Skip {
    fn new(reason: ReplaySkip, message: impl Into<String>) -> Self {
        Skip {
            reason,
            message: message.into(),
        }
    }

    fn unreadable(e: impl std::fmt::Display) -> Self {
        Skip::new(
            ReplaySkip::Unreadable,
            format!("cannot read it as Parquet: {e}"),
        )
    }
}

/// The unit of a file's `as_of` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Second,
    Milli,
    Micro,
    Nano,
}

impl Unit {
    /// `v` in this unit as Unix milliseconds (rounded down, saturating).
    fn to_ms(self, v: i64) -> i64 {
        match self {
            Unit::Second => v.saturating_mul(1000),
            Unit::Milli => v,
            Unit::Micro => v.div_euclid(1000),
            Unit::Nano => v.div_euclid(1_000_000),
        }
    }
}

/// What the footer of a file says, checked against the bounds.
struct Inspected {
    file: File,
    metadata: ArrowReaderMetadata,
    unit: Unit,
    /// The as-of span in ms (`None`: no rows).
    span: Option<(i64, i64)>,
    /// Bytes the rows take once decoded and held, an upper bound.
    bytes: u64,
}

/// One file to read, with the as-of span its footer states.
#[derive(Debug, Clone)]
struct FileSpan {
    path: PathBuf,
    min_ms: i64,
    max_ms: i64,
}

/// Reads a Parquet store in as-of order.
pub struct ParquetReader {
    dir: PathBuf,
    range: Range,
    limits: Limits,
    files: Vec<FileSpan>,
    next_file: usize,
    pending: Pending,
    /// Bytes the pending rows take (as [`Gathering::bytes`] counts them).
    pending_bytes: u64,
    problems: Vec<String>,
    skipped: Vec<(PathBuf, Skip)>,
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
            crate::metrics::replay_skipped_total(ReplaySkip::Unreadable).inc();
            problems.push(format!("cannot read directory {}: {e}", dir.display()));
            Vec::new()
        }
    }
}

/// Open `path` for reading only if it is a regular file. Opened without blocking (a
/// FIFO with no writer would block `open` forever) and checked on the open file, not
/// the path, so nothing can be swapped in between.
fn open_regular(path: &Path) -> Result<File, Skip> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Skip::new(ReplaySkip::Unreadable, format!("cannot open it: {e}")))?;
    let kind = file
        .metadata()
        .map_err(|e| Skip::new(ReplaySkip::Unreadable, format!("cannot stat it: {e}")))?
        .file_type();
    if kind.is_file() {
        return Ok(file);
    }
    let what = if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    };
    Err(Skip::new(
        ReplaySkip::NotRegular,
        format!("it is {what}, not a regular file; only regular .parquet files are read (remove or rename it)"),
    ))
}

/// Check the footer's length from the last 8 bytes before the reader allocates it.
fn check_footer(file: &File) -> Result<(), Skip> {
    let len = file.metadata().map_err(Skip::unreadable)?.len();
    if len < 12 {
        return Err(Skip::unreadable(format!(
            "{len} bytes is too short for a Parquet file"
        )));
    }
    let mut tail = [0u8; 8];
    file.read_exact_at(&mut tail, len - 8)
        .map_err(Skip::unreadable)?;
    if &tail[4..] != b"PAR1" {
        return Err(Skip::unreadable(
            "it does not end in the Parquet magic PAR1",
        ));
    }
    let footer = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if footer > MAX_FOOTER_BYTES {
        return Err(Skip::new(
            ReplaySkip::TooLarge,
            format!(
                "its footer is {} (a store file's is a few KiB; at most {} is read)",
                bytes_text(footer),
                bytes_text(MAX_FOOTER_BYTES)
            ),
        ));
    }
    Ok(())
}

/// `1.5 GiB` of a byte count.
pub fn bytes_text(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The unit of `as_of`, or why it has none the reader knows.
fn as_of_unit(schema: &Schema) -> Result<Unit, Skip> {
    let field = schema
        .field_with_name("as_of")
        .map_err(|_| Skip::unreadable("it has no `as_of` column (not a G6 option-chain file)"))?;
    match field.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => Ok(Unit::Second),
        DataType::Timestamp(TimeUnit::Millisecond, _) => Ok(Unit::Milli),
        DataType::Timestamp(TimeUnit::Microsecond, _) => Ok(Unit::Micro),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => Ok(Unit::Nano),
        other => Err(Skip::new(
            ReplaySkip::BadTimestamp,
            format!(
                "its `as_of` column is {other}, not a timestamp with a unit (seconds, \
                 milliseconds, microseconds or nanoseconds); the replay cannot tell its \
                 time (rewrite it with as_of as a Parquet TIMESTAMP)"
            ),
        )),
    }
}

/// The file's schema with the string columns read as dictionaries, so a string
/// repeated on every row is decoded once.
fn dictionary_schema(schema: &Schema) -> Arc<Schema> {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if STRING_COLUMNS.contains(&f.name().as_str()) && f.data_type() == &DataType::Utf8 {
                f.as_ref().clone().with_data_type(DataType::Dictionary(
                    Box::new(DataType::Int32),
                    Box::new(DataType::Utf8),
                ))
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Open, check and size up one file from its footer, before any row is decoded.
fn inspect(path: &Path, limits: &Limits) -> Result<Inspected, Skip> {
    let file = open_regular(path)?;
    check_footer(&file)?;
    let plain =
        ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(Skip::unreadable)?;
    let unit = as_of_unit(plain.schema())?;
    let metadata = ArrowReaderMetadata::try_new(
        plain.metadata().clone(),
        ArrowReaderOptions::new().with_schema(dictionary_schema(plain.schema())),
    )
    .map_err(Skip::unreadable)?;
    let meta = metadata.metadata();
    let rows = u64::try_from(meta.file_metadata().num_rows()).unwrap_or(0);
    if rows > limits.max_file_rows {
        return Err(Skip::new(
            ReplaySkip::TooManyRows,
            format!(
                "it holds {rows} rows, more than --max-file-rows {}; a store flush holds \
                 far fewer (raise --max-file-rows to read it)",
                limits.max_file_rows
            ),
        ));
    }
    let parquet_schema = meta.file_metadata().schema_descr();
    let columns: Vec<usize> = parquet_schema
        .columns()
        .iter()
        .enumerate()
        .filter(|(_, c)| c.path().parts().len() == 1 && COLUMNS.contains(&c.name()))
        .map(|(i, _)| i)
        .collect();
    let Some(as_of) = columns
        .iter()
        .copied()
        .find(|&i| parquet_schema.column(i).name() == "as_of")
    else {
        return Err(Skip::unreadable(
            "it has no `as_of` column (not a G6 option-chain file)",
        ));
    };
    let bytes = decoded_bytes(meta, &columns);
    if bytes > limits.max_file_bytes {
        return Err(Skip::new(
            ReplaySkip::TooLarge,
            format!(
                "its {rows} rows would take about {} in memory once decoded, more than \
                 --max-file-bytes {} (raise --max-file-bytes to read it)",
                bytes_text(bytes),
                bytes_text(limits.max_file_bytes)
            ),
        ));
    }
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    let mut span = None;
    for rg in meta.row_groups() {
        if rg.num_rows() == 0 {
            continue;
        }
        match rg.column(as_of).statistics() {
            Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                (Some(a), Some(b)) => {
                    lo = lo.min(unit.to_ms(*a));
                    hi = hi.max(unit.to_ms(*b));
                    span = Some((lo, hi));
                }
                // Without statistics the file spans everything: read it.
                _ => {
                    span = Some((i64::MIN, i64::MAX));
                    break;
                }
            },
            _ => {
                span = Some((i64::MIN, i64::MAX));
                break;
            }
        }
    }
    Ok(Inspected {
        file,
        metadata,
        unit,
        span,
        bytes,
    })
}

/// An upper bound of the bytes `columns` of the file take once decoded and gathered,
/// from the footer alone: every row's fixed part, every string as if copied per row
/// (the byte-array size statistics; without them, the uncompressed chunk of a plain
/// column, or [`MAX_VALUE_LEN`] per row of a dictionary one, longer values being
/// refused), and the Arrow arrays of one batch.
fn decoded_bytes(meta: &parquet::file::metadata::ParquetMetaData, columns: &[usize]) -> u64 {
    let mut total: u64 = 0;
    // The largest batch: one is decoded at a time.
    let mut largest_batch: u64 = 0;
    for rg in meta.row_groups() {
        let rows = u64::try_from(rg.num_rows()).unwrap_or(0);
        total = total.saturating_add(rows.saturating_mul(ROW_BYTES));
        let in_batch = rows.min(BATCH_ROWS as u64);
        let mut batch: u64 = 0;
        for &c in columns {
            let chunk = rg.column(c);
            let uncompressed = u64::try_from(chunk.uncompressed_size()).unwrap_or(u64::MAX);
            let width = match chunk.column_type() {
                PhysicalType::BYTE_ARRAY | PhysicalType::FIXED_LEN_BYTE_ARRAY => {
                    let dictionary = chunk.dictionary_page_offset().is_some();
                    let strings = match chunk.unencoded_byte_array_data_bytes() {
                        Some(n) => u64::try_from(n).unwrap_or(u64::MAX),
                        None if dictionary => rows.saturating_mul(MAX_VALUE_LEN as u64),
                        None => uncompressed,
                    };
                    total = total.saturating_add(strings);
                    // Offsets or keys in the batch; a dictionary page or a plain page
                    // at a time (within the chunk).
                    batch = batch.saturating_add(uncompressed.min(strings.saturating_add(4096)));
                    4
                }
                PhysicalType::BOOLEAN => 1,
                PhysicalType::INT32 | PhysicalType::FLOAT => 4,
                PhysicalType::INT96 => 12,
                _ => 8,
            };
            batch = batch.saturating_add(in_batch.saturating_mul(width + 1));
        }
        largest_batch = largest_batch.max(batch);
    }
    total.saturating_add(largest_batch)
}

impl ParquetReader {
    /// A reader of the store under `dir` for `range`, only `indices` when any, with
    /// the default [`Limits`].
    pub fn open(dir: &Path, range: Range, indices: &[String]) -> Result<Self, String> {
        Self::open_with(dir, range, indices, Limits::default())
    }

    /// A reader of the store under `dir` for `range`, only `indices` when any, within
    /// `limits`. Every candidate file is inspected now: those that break a bound or
    /// cannot be read are reported (see [`SnapshotReader::take_problems`]) and left out.
    pub fn open_with(
        dir: &Path,
        range: Range,
        indices: &[String],
        limits: Limits,
    ) -> Result<Self, String> {
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
        let mut reader = ParquetReader {
            dir: dir.to_path_buf(),
            range,
            limits,
            files: Vec::new(),
            next_file: 0,
            pending: Pending::new(),
            pending_bytes: 0,
            problems: Vec::new(),
            skipped: Vec::new(),
        };
        let mut partitions = 0usize;
        for index_dir in entries(dir, &mut reader.problems) {
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
            for date_dir in entries(&index_dir, &mut reader.problems) {
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
                for path in entries(&date_dir, &mut reader.problems) {
                    let Some(file) = path.file_name().and_then(|n| n.to_str()) else {
                        continue;
                    };
                    // Hidden names are files still being written.
                    if file.starts_with('.') || !file.ends_with(".parquet") {
                        continue;
                    }
                    match inspect(&path, &reader.limits) {
                        Ok(i) => {
                            if let Some((min_ms, max_ms)) = i.span {
                                if max_ms >= range.start_ms && min_ms < range.end_ms {
                                    reader.files.push(FileSpan {
                                        path,
                                        min_ms,
                                        max_ms,
                                    });
                                }
                            }
                        }
                        Err(skip) => reader.skip(path, skip),
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
        reader
            .files
            .sort_by(|a, b| (a.min_ms, &a.path).cmp(&(b.min_ms, &b.path)));
        Ok(reader)
    }

    /// Files that overlap the range.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// Every file left out so far, with why.
    pub fn skipped(&self) -> &[(PathBuf, Skip)] {
        &self.skipped
    }

    /// Leave `path` out: counted, reported once, remembered.
    fn skip(&mut self, path: PathBuf, skip: Skip) {
        crate::metrics::replay_skipped_total(skip.reason).inc();
        tracing::debug!(path = %path.display(), reason = skip.reason.as_str(), "replay skips a file");
        self.problems.push(format!(
            "skipping {} ({}): {}",
            path.display(),
            skip.reason.as_str(),
            skip.message
        ));
        self.skipped.push((path, skip));
    }

    /// Read one file's rows within the range into `pending`, within the bounds.
    fn load(&mut self, span: &FileSpan) -> Result<(), Skip> {
        // Inspected again: the file may have changed since the directory was listed.
        let inspected = inspect(&span.path, &self.limits)?;
        let replay_full = |held: u64, adding: u64, limits: &Limits| {
            Skip::new(
                ReplaySkip::ReplayFull,
                format!(
                    "with the {} held for files that overlap it in time, its {} would pass \
                     --max-replay-bytes {}; replay fewer indices at once (--index), a \
                     shorter range, or raise --max-replay-bytes",
                    bytes_text(held),
                    bytes_text(adding),
                    bytes_text(limits.max_replay_bytes)
                ),
            )
        };
        if self.pending_bytes.saturating_add(inspected.bytes) > self.limits.max_replay_bytes {
            return Err(replay_full(
                self.pending_bytes,
                inspected.bytes,
                &self.limits,
            ));
        }
        let unit = inspected.unit;
        let builder =
            ParquetRecordBatchReaderBuilder::new_with_metadata(inspected.file, inspected.metadata);
        let mask = ProjectionMask::columns(builder.parquet_schema(), COLUMNS.iter().copied());
        // A file is mostly one flush of one index: a snapshot or a few.
        let file_rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
        let reader = builder
            .with_projection(mask)
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(Skip::unreadable)?;
        // Gather on the side first: a file that fails halfway adds nothing. A
        // snapshot's rows sit together in a file: a new key is made only on a change.
        let mut local: BTreeMap<(i64, String, u64), Gathering> = BTreeMap::new();
        let mut last: Option<(i64, String, u64)> = None;
        let mut bytes: u64 = 0;
        // Room for a new snapshot: the size of the one before it in this file (the
        // whole file for the first).
        let mut room = file_rows;
        let held = self.pending_bytes;
        let limits = self.limits;
        for batch in reader {
            let batch = batch.map_err(Skip::unreadable)?;
            let mut over: Option<Skip> = None;
            for_each_row(&batch, &self.range, unit, |row| {
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
                    let g = match local.get_mut(key) {
                        Some(g) => g,
                        None => local
                            .entry(key.clone())
                            .or_insert_with(|| Gathering::with_capacity(room)),
                    };
                    let before = g.bytes();
                    g.push(&row);
                    bytes += g.bytes() - before;
                }
                // The footer's estimate is an upper bound; this holds even if it lied.
                if bytes > limits.max_file_bytes {
                    over = Some(Skip::new(
                        ReplaySkip::TooLarge,
                        format!(
                            "its rows take more than --max-file-bytes {} once decoded \
                             (raise --max-file-bytes to read it)",
                            bytes_text(limits.max_file_bytes)
                        ),
                    ));
                    return false;
                }
                if held + bytes > limits.max_replay_bytes {
                    over = Some(replay_full(held, bytes, &limits));
                    return false;
                }
                true
            })?;
            if let Some(skip) = over {
                return Err(skip);
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
        self.pending_bytes += bytes;
        Ok(())
    }
}

/// A string column: dictionary keys into values decoded once, or plain values.
enum Strings<'a> {
    Dictionary(&'a Int32Array, &'a StringArray),
    Plain(&'a StringArray),
}

impl<'a> Strings<'a> {
    /// The column `name` of a batch, its values checked against [`MAX_VALUE_LEN`].
    fn of(batch: &'a RecordBatch, name: &str) -> Result<Self, Skip> {
        let col = column(batch, name)?;
        let longest = |a: &StringArray| {
            (0..a.len())
                .filter(|&i| a.is_valid(i))
                .map(|i| a.value(i).len())
                .max()
                .unwrap_or(0)
        };
        let (strings, longest) = if let Some(d) = col.as_dictionary_opt::<Int32Type>() {
            let values = d
                .values()
                .as_string_opt::<i32>()
                .ok_or_else(|| wrong(name, col))?;
            (Strings::Dictionary(d.keys(), values), longest(values))
        } else {
            let values = col.as_string_opt::<i32>().ok_or_else(|| wrong(name, col))?;
            (Strings::Plain(values), longest(values))
        };
        if longest > MAX_VALUE_LEN {
            return Err(Skip::unreadable(format!(
                "column `{name}` holds a value of {longest} bytes; G6 writes at most \
                 {MAX_VALUE_LEN} (not a G6 option-chain file)"
            )));
        }
        Ok(strings)
    }

    /// Row `i` (`""` when null).
    fn value(&self, i: usize) -> &'a str {
        match self {
            Strings::Dictionary(keys, values) => {
                if keys.is_null(i) {
                    return "";
                }
                usize::try_from(keys.value(i))
                    .ok()
                    .filter(|&k| k < values.len() && values.is_valid(k))
                    .map_or("", |k| values.value(k))
            }
            Strings::Plain(values) => {
                if values.is_null(i) {
                    ""
                } else {
                    values.value(i)
                }
            }
        }
    }
}

/// The column `name` of `batch`.
fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, Skip> {
    batch.column_by_name(name).ok_or_else(|| {
        Skip::unreadable(format!(
            "it has no `{name}` column (not a G6 option-chain file)"
        ))
    })
}

fn wrong(name: &str, col: &ArrayRef) -> Skip {
    Skip::unreadable(format!(
        "column `{name}` is {}, not the type G6 writes",
        col.data_type()
    ))
}

/// The `as_of` column of a batch as Unix milliseconds.
fn as_of_ms(batch: &RecordBatch, unit: Unit) -> Result<Vec<i64>, Skip> {
    let col = column(batch, "as_of")?;
    let values: Option<Vec<i64>> = match unit {
        Unit::Second => col
            .as_primitive_opt::<TimestampSecondType>()
            .map(|a| a.values().iter().map(|v| unit.to_ms(*v)).collect()),
        Unit::Milli => col
            .as_primitive_opt::<TimestampMillisecondType>()
            .map(|a| a.values().to_vec()),
        Unit::Micro => col
            .as_primitive_opt::<TimestampMicrosecondType>()
            .map(|a| a.values().iter().map(|v| unit.to_ms(*v)).collect()),
        Unit::Nano => col
            .as_primitive_opt::<TimestampNanosecondType>()
            .map(|a| a.values().iter().map(|v| unit.to_ms(*v)).collect()),
    };
    values.ok_or_else(|| {
        Skip::new(
            ReplaySkip::BadTimestamp,
            format!(
                "its `as_of` column decoded as {}, not the unit its schema states",
                col.data_type()
            ),
        )
    })
}

/// Call `f` with every row of `batch` inside `range`, until it returns `false`.
fn for_each_row(
    batch: &RecordBatch,
    range: &Range,
    unit: Unit,
    mut f: impl FnMut(StoredRow<'_>) -> bool,
) -> Result<(), Skip> {
    let f64s = |name: &str| -> Result<_, Skip> {
        let col = column(batch, name)?;
        col.as_primitive_opt::<Float64Type>()
            .ok_or_else(|| wrong(name, col))
    };
    let index = Strings::of(batch, "index")?;
    let expiry = {
        let col = column(batch, "expiry")?;
        col.as_primitive_opt::<Date32Type>()
            .ok_or_else(|| wrong("expiry", col))?
    };
    let snapshot = {
        let col = column(batch, "snapshot_id")?;
        col.as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| wrong("snapshot_id", col))?
    };
    let as_of = as_of_ms(batch, unit)?;
    let (spot, source, provider, strike, kind) = (
        f64s("spot")?,
        Strings::of(batch, "source")?,
        Strings::of(batch, "provider")?,
        f64s("strike")?,
        Strings::of(batch, "type")?,
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
    for (i, &t) in as_of.iter().enumerate() {
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
    fn extent(&self) -> Option<Range> {
        let min = self.files.iter().map(|f| f.min_ms).min()?;
        let max = self.files.iter().map(|f| f.max_ms).max()?;
        Range::new(
            min.max(self.range.start_ms),
            max.saturating_add(1).min(self.range.end_ms),
        )
        .ok()
    }

    fn next_snapshot(&mut self) -> Result<Option<StoredSnapshot>, ReadError> {
        loop {
            // A snapshot is complete once no unread file can start at or before it.
            let watermark = self.files.get(self.next_file).map(|f| f.min_ms);
            if let Some(entry) = self.pending.first_entry() {
                if watermark.is_none_or(|w| entry.key().0 < w) {
                    let ((as_of_ms, index, id), gathering): ((i64, String, u64), Gathering) =
                        entry.remove_entry();
                    self.pending_bytes = self.pending_bytes.saturating_sub(gathering.bytes());
                    return Ok(Some(gathering.finish(as_of_ms, index, id)));
                }
            }
            let Some(span) = self.files.get(self.next_file).cloned() else {
                return Ok(None);
            };
            self.next_file += 1;
            if let Err(skip) = self.load(&span) {
                self.skip(span.path, skip);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_timestamp_unit_becomes_milliseconds_rounded_down() {
        let ms = 1_732_507_200_123;
        assert_eq!(Unit::Second.to_ms(ms / 1000), ms - 123);
        assert_eq!(Unit::Milli.to_ms(ms), ms);
        assert_eq!(Unit::Micro.to_ms(ms * 1000 + 999), ms);
        assert_eq!(Unit::Nano.to_ms(ms * 1_000_000 + 999_999), ms);
        // Before 1970 too: down, not toward zero.
        assert_eq!(Unit::Micro.to_ms(-1), -1);
        assert_eq!(Unit::Second.to_ms(i64::MAX), i64::MAX);
    }

    #[test]
    fn an_as_of_without_a_unit_is_a_bad_timestamp_that_says_what_to_do() {
        let schema = |t: DataType| Schema::new(vec![Field::new("as_of", t, false)]);
        let micros = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        assert_eq!(as_of_unit(&schema(micros)), Ok(Unit::Micro));
        let e = as_of_unit(&schema(DataType::Int64)).unwrap_err();
        assert_eq!(e.reason, ReplaySkip::BadTimestamp);
        assert!(
            e.message.contains("Int64") && e.message.contains("TIMESTAMP"),
            "{e:?}"
        );
        let e = as_of_unit(&Schema::empty()).unwrap_err();
        assert_eq!(e.reason, ReplaySkip::Unreadable);
    }

    #[test]
    fn byte_counts_read_in_binary_units_and_a_row_costs_a_few_hundred_bytes() {
        assert_eq!(bytes_text(512), "512 B");
        assert_eq!(bytes_text(1536), "1.5 KiB");
        assert_eq!(bytes_text(3 << 30), "3.0 GiB");
        // README says "about 250 bytes a row": keep it true.
        assert!((150..=350).contains(&ROW_BYTES), "{ROW_BYTES}");
    }

    #[test]
    fn only_regular_files_are_opened_and_a_fifo_does_not_block() {
        let dir = std::env::temp_dir().join(format!("g6-open-regular-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("part-x.parquet");
        let name = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid C string; mkfifo only creates the node.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o644) }, 0);
        let e = open_regular(&fifo).unwrap_err();
        assert_eq!(e.reason, ReplaySkip::NotRegular);
        assert!(e.message.contains("a FIFO"), "{e:?}");
        let e = open_regular(&dir).unwrap_err();
        assert!(e.message.contains("a directory"), "{e:?}");
        let file = dir.join("part-1.parquet");
        std::fs::write(&file, b"PAR1").unwrap();
        assert!(open_regular(&file).is_ok());
        let e = check_footer(&open_regular(&file).unwrap()).unwrap_err();
        assert!(e.message.contains("too short"), "{e:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
