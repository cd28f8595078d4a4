//! Replay from the ClickHouse store (the table `g6 serve --store clickhouse://..`
//! writes). The range is read in windows of [`WINDOW_MS`], each one query sorted by
//! as-of on the server and streamed, so neither side holds more than a window's sort
//! and the first snapshots arrive while the rest is still being read. Rows of one
//! snapshot come together; re-delivered rows the table has not collapsed yet are
//! collapsed here.
//!
//! A snapshot still being written is never read: `g6 serve` and `g6 ingest` write one
//! snapshot in several inserts (one per flush, more on a retry), so a snapshot with a
//! row stored (`ingested_at`, the server's clock) less than `--settle` ago is left
//! out whole, reported and counted (`g6_replay_skipped_total{replay_skip="unsettled"}`).
//! The decision is taken in the query that reads the rows, so a snapshot whose rows
//! arrive while the query runs counts as unsettled too.

use super::{Gathering, Limits, Range, ReadError, SnapshotReader, StoredRow, StoredSnapshot};
use crate::labels::ReplaySkip;
use crate::store::clickhouse::{ClickHouseUrl, TABLE};
use std::time::Duration;

/// The span one query covers.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;

/// Longest wait for the next rows of a query before the replay gives up.
pub const READ_TIMEOUT: Duration = Duration::from_secs(300);

/// One row as selected (plain RowBinary is positional: the order of [`SELECT`]).
#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct Row {
    index: String,
    expiry: u16,
    snapshot_id: u64,
    as_of_ms: i64,
    spot: f64,
    source: String,
    provider: String,
    strike: f64,
    option_type: String,
    oi: f64,
    volume: f64,
    iv: Option<f64>,
    bid: Option<f64>,
    ask: Option<f64>,
    spread_bps: Option<f64>,
    moneyness: Option<f64>,
    dte_days: Option<f64>,
    /// 1 when no row of the snapshot was stored within the settle time.
    settled: u8,
}

impl Row {
    /// The row as the readers' common form.
    fn view(&self) -> StoredRow<'_> {
        StoredRow {
            index: &self.index,
            expiry_days: i64::from(self.expiry),
            snapshot_id: self.snapshot_id,
            as_of_ms: self.as_of_ms,
            spot: self.spot,
            source: &self.source,
            provider: &self.provider,
            strike: self.strike,
            option_type: &self.option_type,
            oi: self.oi,
            volume: self.volume,
            iv: self.iv,
            bid: self.bid,
            ask: self.ask,
            spread_bps: self.spread_bps,
            moneyness: self.moneyness,
            dte_days: self.dte_days,
        }
    }
}

/// The columns, in [`Row`]'s order.
const SELECT: &str = "SELECT `index`, expiry, snapshot_id, as_of_ms, spot, source, provider, \
                      strike, `type`, oi, volume, iv, bid, ask, spread_bps, moneyness, dte_days, \
                      settled";

/// Most unsettled snapshots named one by one (more are counted).
const UNSETTLED_NAMED: u64 = 20;

/// Reads the ClickHouse store in as-of order.
pub struct ClickHouseReader {
    url: ClickHouseUrl,
    client: clickhouse::Client,
    runtime: Option<tokio::runtime::Runtime>,
    range: Range,
    indices: Vec<String>,
    /// Start of the next window to query.
    next_window: i64,
    cursor: Option<clickhouse::query::RowCursor<Row>>,
    /// The first row of the next snapshot, read while finishing the last.
    lookahead: Option<Row>,
    /// Rows of the last snapshot: room reserved for the next.
    last_rows: usize,
    /// Rows the current window gave so far.
    window_rows: u64,
    /// Seconds since its last row was stored before a snapshot is read.
    settle_secs: u64,
    /// The last snapshot left out as unsettled (its rows are stepped over).
    unsettled: Option<(String, u64)>,
    /// Snapshots left out as unsettled so far.
    unsettled_count: u64,
    problems: Vec<String>,
}

impl Drop for ClickHouseReader {
    fn drop(&mut self) {
        // Dropped from anywhere, even inside another runtime: never block.
        if let Some(r) = self.runtime.take() {
            r.shutdown_background();
        }
    }
}

impl ClickHouseReader {
    /// A reader of `spec` for `range`, only `indices` when any, with the default
    /// [`Limits`] (snapshots settle for [`super::DEFAULT_SETTLE`]).
    pub fn open(spec: &str, range: Range, indices: &[String]) -> Result<Self, String> {
        Self::open_with(spec, range, indices, Limits::default())
    }

    /// A reader of `spec` for `range`, only `indices` when any, leaving out snapshots
    /// with a row stored within `limits.settle`. Checks that the server answers and
    /// the table exists, with a message saying what to do if not.
    pub fn open_with(
        spec: &str,
        range: Range,
        indices: &[String],
        limits: Limits,
    ) -> Result<Self, String> {
        Self::open_url(ClickHouseUrl::parse(spec)?, range, indices, limits)
    }

    /// [`ClickHouseReader::open_with`] with the URL already parsed.
    pub fn open_url(
        url: ClickHouseUrl,
        range: Range,
        indices: &[String],
        limits: Limits,
    ) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the ClickHouse client's runtime: {e}"))?;
        let client = url.client()?;
        let exists = {
            let client = client.clone();
            let database = url.database.clone();
            runtime.block_on(async move {
                tokio::time::timeout(
                    Duration::from_secs(30),
                    client
                        .query("SELECT count() FROM system.tables WHERE database = ? AND name = ?")
                        .bind(database)
                        .bind(TABLE)
                        .fetch_one::<u64>(),
                )
                .await
            })
        };
        match exists {
            Err(_) => {
                return Err(format!(
                    "{} did not answer within 30s; is clickhouse-server running there?",
                    url.shown()
                ))
            }
            // Code 81: the database does not exist.
            Ok(Err(e)) if e.to_string().contains("Code: 81") => {
                return Err(format!(
                    "{} has no database {}: nothing was stored there (g6 serve --store {} \
                     or g6 ingest --store {} create it)",
                    url.shown(),
                    url.database,
                    url.shown(),
                    url.shown()
                ))
            }
            Ok(Err(e)) => return Err(format!("cannot query {}: {e}", url.shown())),
            Ok(Ok(0)) => {
                return Err(format!(
                    "{} has no table {TABLE}: nothing was stored there (g6 serve --store {} \
                     or g6 ingest --store {} create it)",
                    url.shown(),
                    url.shown(),
                    url.shown()
                ))
            }
            Ok(Ok(_)) => {}
        }
        Ok(ClickHouseReader {
            url,
            client,
            runtime: Some(runtime),
            range,
            indices: indices
                .iter()
                .map(|i| i.trim().to_string())
                .filter(|i| !i.is_empty())
                .collect(),
            next_window: range.start_ms,
            cursor: None,
            lookahead: None,
            last_rows: 0,
            window_rows: 0,
            // ingested_at has whole seconds: round up, so a row is never younger.
            settle_secs: limits.settle.as_secs() + u64::from(limits.settle.subsec_nanos() > 0),
            unsettled: None,
            unsettled_count: 0,
            problems: Vec::new(),
        })
    }

    /// The `AND has(?, index)` filter, when indices are asked for.
    fn index_filter(&self) -> &'static str {
        if self.indices.is_empty() {
            ""
        } else {
            " AND has(?, `index`)"
        }
    }

    /// Move the next window to the first stored row at or after it, so empty
    /// stretches (nights, weekends, years before the data) cost one query, not one
    /// per window.
    fn seek(&mut self) -> Result<(), ReadError> {
        if self.next_window >= self.range.end_ms {
            return Ok(());
        }
        let sql = format!(
            "SELECT count(), min(as_of_ms) FROM {TABLE} WHERE as_of >= toDateTime(?) \
             AND as_of_ms >= ? AND as_of_ms < ?{}",
            self.index_filter()
        );
        let mut query = self
            .client
            .query(&sql)
            .bind(self.next_window.div_euclid(1000))
            .bind(self.next_window)
            .bind(self.range.end_ms);
        if !self.indices.is_empty() {
            query = query.bind(self.indices.clone());
        }
        let Some(runtime) = &self.runtime else {
            return Ok(());
        };
        let found = runtime.block_on(async {
            tokio::time::timeout(READ_TIMEOUT, query.fetch_one::<(u64, i64)>()).await
        });
        match found {
            Ok(Ok((0, _))) => self.next_window = self.range.end_ms,
            Ok(Ok((_, first))) => self.next_window = self.next_window.max(first),
            Ok(Err(e)) => {
                return Err(ReadError(format!(
                    "reading from {} failed: {e}",
                    self.url.shown()
                )))
            }
            Err(_) => {
                return Err(ReadError(format!(
                    "{} sent nothing for {}s; the server is stuck",
                    self.url.shown(),
                    READ_TIMEOUT.as_secs()
                )))
            }
        }
        Ok(())
    }

    /// Start the query of the next window; `false` past the range.
    fn open_window(&mut self) -> Result<bool, ReadError> {
        if self.window_rows == 0 {
            self.seek()?;
        }
        self.window_rows = 0;
        if self.next_window >= self.range.end_ms {
            return Ok(false);
        }
        let from = self.next_window;
        let to = from.saturating_add(WINDOW_MS).min(self.range.end_ms);
        self.next_window = to;
        let filter = self.index_filter();
        // `as_of` (seconds) narrows partitions and the primary key; `as_of_ms` is exact.
        let window = format!(
            "as_of >= toDateTime(?) AND as_of <= toDateTime(?) \
             AND as_of_ms >= ? AND as_of_ms < ?{filter}"
        );
        // Each snapshot's settledness, joined to its rows: a row that arrived after
        // the join's side was read finds no match and counts as unsettled (0).
        let sql = format!(
            "{SELECT} FROM {TABLE} ANY LEFT JOIN (SELECT `index`, snapshot_id, \
             toUInt8(max(ingested_at) <= now() - ?) AS settled FROM {TABLE} WHERE {window} \
             GROUP BY `index`, snapshot_id) USING (`index`, snapshot_id) \
             WHERE {window} ORDER BY as_of_ms, `index`, snapshot_id"
        );
        let mut query = self.client.query(&sql).bind(self.settle_secs);
        for _ in 0..2 {
            query = query
                .bind(from.div_euclid(1000))
                .bind(to.div_euclid(1000))
                .bind(from)
                .bind(to);
            if !self.indices.is_empty() {
                query = query.bind(self.indices.clone());
            }
        }
        // The request is sent from within the reader's runtime.
        let _entered = self.runtime.as_ref().map(|r| r.enter());
        let cursor = query
            .fetch::<Row>()
            .map_err(|e| ReadError(format!("cannot query {}: {e}", self.url.shown())))?;
        self.cursor = Some(cursor);
        Ok(true)
    }

    /// The next row of the range, across windows.
    fn next_row(&mut self) -> Result<Option<Row>, ReadError> {
        loop {
            if self.cursor.is_none() && !self.open_window()? {
                return Ok(None);
            }
            let (Some(runtime), Some(cursor)) = (&self.runtime, self.cursor.as_mut()) else {
                return Ok(None);
            };
            // The timer is made inside the runtime (it needs its clock).
            let next =
                runtime.block_on(async { tokio::time::timeout(READ_TIMEOUT, cursor.next()).await });
            match next {
                Ok(Ok(Some(row))) => {
                    self.window_rows += 1;
                    if row.settled == 0 {
                        self.leave_out(&row);
                        continue;
                    }
                    return Ok(Some(row));
                }
                Ok(Ok(None)) => self.cursor = None,
                Ok(Err(e)) => {
                    return Err(ReadError(format!(
                        "reading from {} failed: {e}",
                        self.url.shown()
                    )))
                }
                Err(_) => {
                    return Err(ReadError(format!(
                        "{} sent nothing for {}s; the server is stuck or the range too large",
                        self.url.shown(),
                        READ_TIMEOUT.as_secs()
                    )))
                }
            }
        }
    }
}

impl ClickHouseReader {
    /// Step over a row of an unsettled snapshot: the first of each is counted and
    /// reported (rows of one snapshot come together).
    fn leave_out(&mut self, row: &Row) {
        if self
            .unsettled
            .as_ref()
            .is_some_and(|(i, id)| *i == row.index && *id == row.snapshot_id)
        {
            return;
        }
        self.unsettled = Some((row.index.clone(), row.snapshot_id));
        self.unsettled_count += 1;
        crate::metrics::replay_skipped_total(ReplaySkip::Unsettled).inc();
        if self.unsettled_count <= UNSETTLED_NAMED {
            self.problems.push(format!(
                "leaving out snapshot {} of {} at {} (unsettled): a row of it was stored less \
                 than --settle {}s ago, so it may still be being written; replay it again later",
                row.snapshot_id,
                row.index,
                super::format_ms(row.as_of_ms),
                self.settle_secs
            ));
        } else if self.unsettled_count == UNSETTLED_NAMED + 1 {
            self.problems.push(format!(
                "more snapshots are left out as unsettled; only the first {UNSETTLED_NAMED} are \
                 named (all are counted in g6_replay_skipped_total{{replay_skip=\"unsettled\"}})"
            ));
        }
    }
}

impl SnapshotReader for ClickHouseReader {
    fn next_snapshot(&mut self) -> Result<Option<StoredSnapshot>, ReadError> {
        let first = match self.lookahead.take() {
            Some(r) => r,
            None => match self.next_row()? {
                Some(r) => r,
                None => return Ok(None),
            },
        };
        let key = (first.as_of_ms, first.index.clone(), first.snapshot_id);
        let mut gathering = Gathering::with_capacity(self.last_rows);
        gathering.push(&first.view());
        while let Some(row) = self.next_row()? {
            if (row.as_of_ms, row.index.as_str(), row.snapshot_id) != (key.0, key.1.as_str(), key.2)
            {
                self.lookahead = Some(row);
                break;
            }
            gathering.push(&row.view());
        }
        self.last_rows = gathering.len();
        Ok(Some(gathering.finish(key.0, key.1, key.2)))
    }

    fn take_problems(&mut self) -> Vec<String> {
        std::mem::take(&mut self.problems)
    }

    fn describe(&self) -> String {
        format!(
            "ClickHouse table {}.{TABLE} at {}",
            self.url.database,
            self.url.shown()
        )
    }
}
