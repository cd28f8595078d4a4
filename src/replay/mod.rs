//! Replay: stored snapshots re-read in as-of order and re-run through the same
//! aggregation and analytics as live data, labelled `source="replay"`.
//!
//! A reader ([`parquet`], [`clickhouse`]) turns stored rows back into one
//! [`StoredSnapshot`] per (index, snapshot id), rows collapsed by contract (the store
//! is at least once: a re-delivered message repeats its rows). The [`Replayer`] keeps
//! one aggregator and one analytics state per index, so interleaved indices never
//! reset each other's series, and notes gaps. What happens to the values (an
//! OpenMetrics backfill file, a bus, `/metrics`) is the caller's choice.

pub mod clickhouse;
pub mod openmetrics;
pub mod parquet;

use crate::labels::Source;
use crate::option_chain::aggregate::{Aggregation, Aggregator};
use crate::option_chain::analytics::{self, Analytics, SnapshotAnalytics};
use crate::option_chain::dates::{DAY, EXPIRY_SECONDS_UTC};
use crate::option_chain::{OptionType, Quote, Rejected, Snapshot};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

/// The time range to replay, `[start, end)` in Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First instant replayed.
    pub start_ms: i64,
    /// First instant not replayed.
    pub end_ms: i64,
}

impl Range {
    /// A range, or a message saying why it is not one.
    pub fn new(start_ms: i64, end_ms: i64) -> Result<Self, String> {
        if end_ms <= start_ms {
            return Err(format!(
                "the range is empty: --end ({}) is not after --start ({}); --end is \
                 exclusive and a date alone means 00:00 UTC, so one whole day is \
                 --start 2026-11-20 --end 2026-11-21",
                format_ms(end_ms),
                format_ms(start_ms)
            ));
        }
        Ok(Range { start_ms, end_ms })
    }

    /// Whether `ms` is inside.
    pub fn contains(&self, ms: i64) -> bool {
        (self.start_ms..self.end_ms).contains(&ms)
    }
}

/// Parse `--start`/`--end` into Unix milliseconds: a date (`2026-11-20`, 00:00 UTC),
/// RFC 3339 with a zone (`2026-11-20T09:15:00+05:30`), a date and time without one
/// (`2026-11-20 09:15`, `20-Nov-2026 09:15:00`: the exchange's time, IST) or Unix
/// seconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if let Some((y, m, d)) = crate::option_chain::dates::parse_date(t) {
        if !t.contains([' ', ':']) {
            if let Some(days) = crate::option_chain::dates::days_from_civil(y, m, d) {
                return Ok(days * DAY * 1000);
            }
        }
    }
    if let Ok(when) = chrono::DateTime::parse_from_rfc3339(t) {
        return Ok(when.timestamp_millis());
    }
    if let Ok(n) = t.parse::<f64>() {
        // Unix seconds from 2001 on: a smaller number is more likely a year or a
        // date without dashes than a time in 1970.
        if n.is_finite() && (1e9..1e11).contains(&n) {
            return Ok((n * 1000.0).round() as i64);
        }
        return Err(format!(
            "{s:?} is not a time: as Unix seconds ({}) it is not a time between the years \
             2001 and 5138 (1e9 to 1e11 seconds); write a date like 2026-11-20",
            n
        ));
    }
    if let Some(secs) = crate::option_chain::dates::parse_nse_timestamp(t) {
        return Ok(secs * 1000);
    }
    let hint = if t.contains('T') || t.contains(' ') {
        " (a date and time with T needs a zone: add Z for UTC or +05:30 for IST)"
    } else {
        ""
    };
    Err(format!(
        "{s:?} is not a time{hint}; use a date (2026-11-20, 00:00 UTC), RFC 3339 \
         (2026-11-20T09:15:00+05:30), 2026-11-20 09:15 (IST) or Unix seconds"
    ))
}

/// `2026-11-20 09:15:00.000 UTC` of Unix milliseconds.
pub fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string())
        .unwrap_or_else(|| format!("@{ms}ms"))
}

/// One stored snapshot of one index, ready to replay.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSnapshot {
    /// Underlying index.
    pub index: String,
    /// The id the collector gave it.
    pub snapshot_id: u64,
    /// Its as-of time, Unix milliseconds.
    pub as_of_ms: i64,
    /// The provider that fetched it.
    pub provider: String,
    /// The source it was stored with (`live`, `synthetic`, ...).
    pub stored_source: String,
    /// The contracts, as quotes (as-of in whole seconds, like live).
    pub snapshot: Snapshot,
    /// Rows left out because the same contract was already in the snapshot.
    pub duplicates: u64,
}

/// One stored row (the columns both stores keep), borrowed from what was read.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRow<'a> {
    /// Index.
    pub index: &'a str,
    /// Expiry date, days since 1970-01-01.
    pub expiry_days: i64,
    /// Snapshot id.
    pub snapshot_id: u64,
    /// As-of, Unix milliseconds.
    pub as_of_ms: i64,
    /// Spot.
    pub spot: f64,
    /// Stored source label.
    pub source: &'a str,
    /// Provider.
    pub provider: &'a str,
    /// Strike.
    pub strike: f64,
    /// `CE` or `PE`.
    pub option_type: &'a str,
    /// Open interest.
    pub oi: f64,
    /// Volume.
    pub volume: f64,
    /// IV ratio.
    pub iv: Option<f64>,
    /// Bid.
    pub bid: Option<f64>,
    /// Ask.
    pub ask: Option<f64>,
    /// Spread in bps of mid.
    pub spread_bps: Option<f64>,
    /// Moneyness.
    pub moneyness: Option<f64>,
    /// Days to expiry.
    pub dte_days: Option<f64>,
}

/// Rows of one snapshot being gathered, collapsed by contract.
#[derive(Debug, Default)]
pub struct Gathering {
    provider: String,
    source: String,
    rows: Vec<Result<Quote, Rejected>>,
    seen: HashSet<(i64, u64, bool), foldhash::fast::RandomState>,
    duplicates: u64,
    /// Bytes held, as [`Gathering::bytes`] counts them.
    bytes: u64,
}

/// Bytes one gathered row holds besides its strings: the quote, its slot in the
/// snapshot and in the set that collapses re-deliveries.
pub const ROW_BYTES: u64 = (std::mem::size_of::<Result<Quote, Rejected>>() + 48) as u64;

/// Bytes a snapshot being gathered holds besides its rows (its key, the map entry).
const SNAPSHOT_BYTES: u64 = 128;

/// Most characters of a stored option type quoted in a rejection.
const TYPE_QUOTED: usize = 32;

/// The bounds of one replay: every stored file or snapshot that would pass one is
/// left out (reported and counted in `g6_replay_skipped_total`), the rest replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most rows one Parquet file may hold (`--max-file-rows`).
    pub max_file_rows: u64,
    /// Most bytes one Parquet file's rows may take once decoded (`--max-file-bytes`).
    pub max_file_bytes: u64,
    /// Most bytes held at once for Parquet files that overlap in time
    /// (`--max-replay-bytes`).
    pub max_replay_bytes: u64,
    /// A ClickHouse snapshot with a row stored less than this ago may still be being
    /// written and is left out (`--settle`).
    pub settle: std::time::Duration,
}

/// Default of `--max-file-bytes`.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1 << 30;

/// Default of `--max-replay-bytes`.
pub const DEFAULT_MAX_REPLAY_BYTES: u64 = 2 << 30;

/// Default of `--settle`: several store flushes (10 s each by default) and a retry.
pub const DEFAULT_SETTLE: std::time::Duration = std::time::Duration::from_secs(60);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_rows: parquet::DEFAULT_MAX_FILE_ROWS,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_replay_bytes: DEFAULT_MAX_REPLAY_BYTES,
            settle: DEFAULT_SETTLE,
        }
    }
}

/// Most rows a gathering reserves up front.
const RESERVE_AT_MOST: usize = 1 << 17;

impl Gathering {
    /// A gathering with room for `rows` rows (at most [`RESERVE_AT_MOST`]): growing
    /// a vector of quotes row by row was a tenth of a replay's time.
    pub fn with_capacity(rows: usize) -> Self {
        let n = rows.min(RESERVE_AT_MOST);
        Gathering {
            rows: Vec::with_capacity(n),
            seen: HashSet::with_capacity_and_hasher(n, Default::default()),
            ..Default::default()
        }
    }

    /// Number of rows held.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Add one row (a contract already held is counted as a duplicate and left out).
    pub fn push(&mut self, row: &StoredRow<'_>) {
        if self.rows.is_empty() {
            self.provider = row.provider.to_string();
            self.source = row.source.to_string();
            self.bytes +=
                SNAPSHOT_BYTES + (row.index.len() + row.provider.len() + row.source.len()) as u64;
        }
        let expiry = row.expiry_days * DAY + EXPIRY_SECONDS_UTC;
        let kind = match row.option_type {
            "CE" => Some(OptionType::Call),
            "PE" => Some(OptionType::Put),
            other => OptionType::parse(other),
        };
        if let Some(kind) = kind {
            if !self
                .seen
                .insert((expiry, row.strike.to_bits(), kind == OptionType::Call))
            {
                self.duplicates += 1;
                return;
            }
        }
        self.bytes += ROW_BYTES + row.index.len() as u64;
        self.rows.push(match kind {
            Some(option_type) => Ok(Quote {
                index: row.index.to_string(),
                strike: row.strike,
                expiry,
                option_type,
                spot: row.spot,
                open_interest: row.oi,
                volume: row.volume,
                iv: row.iv,
                bid: row.bid,
                ask: row.ask,
                spread_bps: row.spread_bps,
                moneyness: row.moneyness,
                dte_days: row.dte_days,
            }),
            None => Err(Rejected {
                reason: crate::labels::SkipReason::MissingField,
                detail: {
                    let quoted: String = row.option_type.chars().take(TYPE_QUOTED).collect();
                    self.bytes += quoted.len() as u64 + 40;
                    format!("stored `type` is {quoted:?}, expected CE or PE")
                },
            }),
        });
    }

    /// Add the rows of `other` (the same snapshot read from another file).
    pub fn absorb(&mut self, other: Gathering) {
        if self.rows.is_empty() {
            self.provider = other.provider;
            self.source = other.source;
        }
        self.duplicates += other.duplicates;
        // Counted whole (a collapsed row included): what a reader added for `other` is
        // what it takes back when this snapshot is handed out.
        self.bytes += other.bytes;
        for row in other.rows {
            if let Ok(q) = &row {
                let key = (
                    q.expiry,
                    q.strike.to_bits(),
                    q.option_type == OptionType::Call,
                );
                if !self.seen.insert(key) {
                    self.duplicates += 1;
                    continue;
                }
            }
            self.rows.push(row);
        }
    }

    /// Bytes held (an estimate that only grows: rows, their index names, the
    /// provider and source, the bookkeeping).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Rows left out as duplicates so far.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// The snapshot of `(as_of_ms, index, snapshot_id)`.
    pub fn finish(self, as_of_ms: i64, index: String, snapshot_id: u64) -> StoredSnapshot {
        StoredSnapshot {
            index,
            snapshot_id,
            as_of_ms,
            provider: self.provider,
            stored_source: self.source,
            snapshot: Snapshot {
                as_of: Some(as_of_ms.div_euclid(1000)),
                rows: self.rows,
            },
            duplicates: self.duplicates,
        }
    }
}

/// A reader failed and cannot go on.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadError(pub String);

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReadError {}

/// Stored snapshots in as-of order (ties by index, then snapshot id).
pub trait SnapshotReader: Send {
    /// The next snapshot, `None` at the end. An error ends the replay; problems it can
    /// step over (a corrupt file) go to [`Self::take_problems`] instead.
    fn next_snapshot(&mut self) -> Result<Option<StoredSnapshot>, ReadError>;
    /// Problems stepped over since the last call, one message each.
    fn take_problems(&mut self) -> Vec<String>;
    /// What is read, for messages.
    fn describe(&self) -> String;
    /// The part of the asked range the stored data spans, when the reader knows it
    /// before reading (progress is measured over it, not over a whole asked day).
    fn extent(&self) -> Option<Range> {
        None
    }
}

/// Parse `--from`: a store to replay from, `parquet:DIR` or `clickhouse://HOST:PORT/DB`.
pub fn parse_source(from: &str) -> Result<crate::store::Target, String> {
    const HELP: &str = "use parquet:DIR or clickhouse://HOST:PORT/DB";
    match from.parse::<crate::store::Target>() {
        Ok(crate::store::Target::None) => {
            Err(format!("{from:?} is not a store to replay from; {HELP}"))
        }
        Ok(t) => Ok(t),
        // A store URL that does not parse says why.
        Err(e) if from.starts_with("clickhouse://") || from.starts_with("parquet:") => Err(e),
        Err(_) => Err(format!("{from:?} is not a store to replay from; {HELP}")),
    }
}

/// Open `--from`: `parquet:DIR` or `clickhouse://HOST:PORT/DB`, within `limits`.
pub fn open(
    from: &str,
    range: Range,
    indices: &[String],
    limits: Limits,
) -> Result<Box<dyn SnapshotReader>, String> {
    open_source(parse_source(from)?, range, indices, limits)
}

/// [`open`] with `--from` already parsed.
pub fn open_source(
    from: crate::store::Target,
    range: Range,
    indices: &[String],
    limits: Limits,
) -> Result<Box<dyn SnapshotReader>, String> {
    match from {
        crate::store::Target::Parquet(dir) => {
            parquet::ParquetReader::open_with(&dir, range, indices, limits)
                .map(|r| Box::new(r) as Box<dyn SnapshotReader>)
        }
        crate::store::Target::ClickHouse(url) => {
            clickhouse::ClickHouseReader::open_url(*url, range, indices, limits)
                .map(|r| Box::new(r) as Box<dyn SnapshotReader>)
        }
        crate::store::Target::None => Err(
            "none is not a store to replay from; use parquet:DIR or clickhouse://HOST:PORT/DB"
                .into(),
        ),
    }
}

/// A stretch of time without snapshots of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The index.
    pub index: String,
    /// As-of of the snapshot before the gap, ms.
    pub from_ms: i64,
    /// As-of of the snapshot after it, ms.
    pub to_ms: i64,
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: no snapshot from {} to {} ({})",
            self.index,
            format_ms(self.from_ms),
            format_ms(self.to_ms),
            humantime_secs((self.to_ms - self.from_ms) / 1000)
        )
    }
}

/// `1h30m5s` of a number of seconds.
pub fn humantime_secs(mut s: i64) -> String {
    let mut out = String::new();
    for (unit, n) in [("d", DAY), ("h", 3600), ("m", 60)] {
        if s >= n {
            out.push_str(&format!("{}{unit}", s / n));
            s %= n;
        }
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Gaps kept for the summary (more are counted).
const GAPS_KEPT: usize = 20;

/// What one snapshot gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Replayed {
    /// Aggregated and published.
    Published {
        /// The aggregation.
        aggregation: Box<Aggregation>,
        /// Its analytics.
        analytics: Box<SnapshotAnalytics>,
    },
    /// No usable contract in it (its skipped rows are counted).
    Empty,
    /// Past the index limit: left out.
    IndexLimit,
}

/// Totals of a replay.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Snapshots aggregated and published.
    pub snapshots: u64,
    /// Contracts in them.
    pub contracts: u64,
    /// Snapshots without a usable contract.
    pub empty: u64,
    /// Rows collapsed as re-deliveries.
    pub duplicates: u64,
    /// Snapshots of indices beyond the index limit.
    pub over_index_limit: u64,
    /// As-of of the first and last snapshot published, ms.
    pub first_ms: Option<i64>,
    /// See `first_ms`.
    pub last_ms: Option<i64>,
    /// Indices replayed.
    pub indices: BTreeSet<String>,
    /// Stored sources seen (`live`, `synthetic`, ...).
    pub stored_sources: BTreeSet<String>,
    /// The first gaps found.
    pub gaps: Vec<Gap>,
    /// All gaps found.
    pub gap_count: u64,
}

/// Per index: its own aggregator and analytics, so indices never reset each other.
struct IndexState {
    aggregator: Aggregator,
    analytics: Analytics,
    /// UTC day of the last snapshot: the OI-change baseline restarts each day.
    day: i64,
    last_ms: i64,
}

/// Runs stored snapshots through the live aggregation and analytics.
pub struct Replayer {
    states: HashMap<String, IndexState>,
    gap_ms: i64,
    summary: Summary,
}

impl Replayer {
    /// A replayer that reports gaps longer than `gap`.
    pub fn new(gap: std::time::Duration) -> Self {
        Replayer {
            states: HashMap::new(),
            gap_ms: i64::try_from(gap.as_millis()).unwrap_or(i64::MAX),
            summary: Summary::default(),
        }
    }

    /// The totals so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Aggregate `s`, publish its series with `source="replay"` under one consistent
    /// update, and note a gap before it.
    pub fn replay(&mut self, s: &StoredSnapshot) -> Replayed {
        self.summary.duplicates += s.duplicates;
        if !self.states.contains_key(&s.index)
            && self.states.len() >= crate::option_chain::aggregate::max_indices()
        {
            self.summary.over_index_limit += 1;
            return Replayed::IndexLimit;
        }
        let day = s.as_of_ms.div_euclid(DAY * 1000);
        let created = !self.states.contains_key(&s.index);
        let state = self
            .states
            .entry(s.index.clone())
            .or_insert_with(|| IndexState {
                aggregator: Aggregator::new(),
                analytics: Analytics::default(),
                day,
                last_ms: s.as_of_ms,
            });
        if s.as_of_ms - state.last_ms > self.gap_ms {
            self.summary.gap_count += 1;
            if self.summary.gaps.len() < GAPS_KEPT {
                self.summary.gaps.push(Gap {
                    index: s.index.clone(),
                    from_ms: state.last_ms,
                    to_ms: s.as_of_ms,
                });
            }
        }
        state.last_ms = state.last_ms.max(s.as_of_ms);
        if day != state.day {
            state.analytics.start_session(&s.index);
            state.day = day;
        }
        let as_of = s.as_of_ms.div_euclid(1000);
        let aggregation = state.aggregator.aggregate(&s.snapshot, as_of);
        if aggregation.accepted == 0 {
            Aggregator::publish_counts(&aggregation);
            self.summary.empty += 1;
            // An index with nothing usable yet (a malformed name, say) takes no slot.
            if created {
                self.states.remove(&s.index);
            }
            return Replayed::Empty;
        }
        // Greeks only for the exposure analytics: a replay carries its own on the bus.
        let exposure = analytics::exposure_enabled();
        let priced = if exposure {
            crate::option_chain::exposure::PricedRows::of(
                &s.snapshot,
                &aggregation.accepted_rows,
                as_of,
            )
        } else {
            crate::option_chain::exposure::PricedRows {
                as_of,
                rows: Vec::new(),
            }
        };
        let analytics = analytics::of_priced_snapshot(
            &s.snapshot,
            &aggregation.accepted_rows,
            &priced,
            exposure,
        );
        crate::exporter::consistent_update(|| {
            state.aggregator.publish(&aggregation, Source::Replay);
            state.analytics.publish(&analytics, Source::Replay);
        });
        let summary = &mut self.summary;
        summary.snapshots += 1;
        summary.contracts += aggregation.accepted;
        summary.first_ms = Some(summary.first_ms.map_or(s.as_of_ms, |f| f.min(s.as_of_ms)));
        summary.last_ms = Some(summary.last_ms.map_or(s.as_of_ms, |l| l.max(s.as_of_ms)));
        if !summary.indices.contains(&s.index) {
            summary.indices.insert(s.index.clone());
        }
        if !summary.stored_sources.contains(&s.stored_source) {
            summary.stored_sources.insert(s.stored_source.clone());
        }
        Replayed::Published {
            aggregation: Box::new(aggregation),
            analytics: Box::new(analytics),
        }
    }
}

/// Gathers rows into snapshots keyed `(as_of_ms, index, snapshot_id)`, in key order.
pub type Pending = BTreeMap<(i64, String, u64), Gathering>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_utc_dates_zoned_instants_exchange_time_or_unix_seconds() {
        // 2024-11-25 00:00 UTC.
        assert_eq!(parse_time("2024-11-25"), Ok(1_732_492_800_000));
        // 09:15 IST = 03:45 UTC.
        let open = 1_732_492_800_000 + (3 * 3600 + 45 * 60) * 1000;
        assert_eq!(parse_time("2024-11-25T09:15:00+05:30"), Ok(open));
        assert_eq!(parse_time("2024-11-25T03:45:00Z"), Ok(open));
        assert_eq!(parse_time("2024-11-25 09:15"), Ok(open));
        assert_eq!(parse_time("25-Nov-2024 09:15:00"), Ok(open));
        assert_eq!(parse_time("1732506300.5"), Ok(open + 500));
        let e = parse_time("2024-11-25T09:15").unwrap_err();
        assert!(e.contains("needs a zone"), "{e}");
        assert!(parse_time("yesterday")
            .unwrap_err()
            .contains("Unix seconds"));
        assert_eq!(parse_time("25-Nov-2024"), Ok(1_732_492_800_000));
        assert_eq!(parse_time("25-NOV-2024"), Ok(1_732_492_800_000));
        assert_eq!(
            parse_time("25-OCT-2024 09:15:00"),
            parse_time("2024-10-25T09:15:00+05:30")
        );
        for year_like in ["2026", "20261120"] {
            assert!(
                parse_time(year_like).unwrap_err().contains("2026-11-20"),
                "{year_like}"
            );
        }
    }

    #[test]
    fn a_range_is_half_open_and_an_empty_one_explains_end() {
        let r = Range::new(1000, 2000).unwrap();
        assert!(r.contains(1000) && r.contains(1999) && !r.contains(2000));
        let e = Range::new(2000, 2000).unwrap_err();
        assert!(e.contains("--end is exclusive"), "{e}");
    }

    #[test]
    fn gathering_collapses_a_contract_seen_twice_and_keeps_a_bad_type_as_rejected() {
        let row = |strike: f64, kind: &'static str| StoredRow {
            index: "NIFTY",
            expiry_days: 20_055,
            snapshot_id: 1,
            as_of_ms: 1_732_528_800_000,
            spot: 24_000.0,
            source: "live",
            provider: "nse",
            strike,
            option_type: kind,
            oi: 10.0,
            volume: 1.0,
            iv: Some(0.12),
            bid: None,
            ask: None,
            spread_bps: None,
            moneyness: None,
            dte_days: None,
        };
        let mut g = Gathering::default();
        g.push(&row(24_000.0, "CE"));
        g.push(&row(24_000.0, "PE"));
        g.push(&row(24_000.0, "CE"));
        g.push(&row(24_100.0, "XX"));
        // The same snapshot from another file: its repeat is collapsed too.
        let mut other = Gathering::default();
        other.push(&row(24_000.0, "PE"));
        other.push(&row(24_200.0, "PE"));
        g.absorb(other);
        let s = g.finish(1_732_528_800_500, "NIFTY".into(), 1);
        assert_eq!(s.duplicates, 2);
        assert_eq!(s.snapshot.rows.len(), 4);
        assert_eq!(s.snapshot.as_of, Some(1_732_528_800));
        let q = s.snapshot.rows[0].as_ref().unwrap();
        // 2024-11-28 15:30 IST.
        assert_eq!(q.expiry, 20_055 * DAY + EXPIRY_SECONDS_UTC);
        assert_eq!(s.provider, "nse");
        assert!(s.snapshot.rows[2].is_err());
    }

    #[test]
    fn gaps_read_in_days_hours_minutes() {
        assert_eq!(humantime_secs(0), "0s");
        assert_eq!(humantime_secs(1260), "21m");
        assert_eq!(humantime_secs(DAY + 3600 + 5), "1d1h5s");
    }
}
