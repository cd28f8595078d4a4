//! The ClickHouse store (`--store clickhouse://[USER[:PASSWORD]@]HOST:PORT/DB`): rows go
//! over HTTP into one `ReplacingMergeTree` table, `DB.option_chain`, created if missing,
//! partitioned by month and ordered by (index, expiry, type, strike, as_of,
//! snapshot_id). That order is also the table's identity: a snapshot delivered twice
//! (a lost acknowledgement, a retried insert) collapses to one row per contract when
//! parts merge, and at once in queries with `FINAL`.
//!
//! Written for the oldest server we meet (Debian's 18.16): no `LowCardinality`, no
//! `DateTime64`, plain `RowBinary` without the client's schema validation (which needs a
//! newer server), `as_of` as seconds plus `as_of_ms` for the milliseconds.
//! `ingested_at` (filled by the server) says when a row arrived, for the rows-per-minute
//! panel; a redelivered copy keeps the row but may move it.

use super::{StoreError, Written};
use crate::bus::message::{ChainMessage, WireOptionType};
use crate::labels::StoreFailure;
use std::sync::Arc;
use std::time::Duration;

/// The table's name inside the database.
pub const TABLE: &str = "option_chain";

/// Longest one `INSERT` (or the table's creation) may take before it counts as
/// `timeout` and is retried.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Most rows in one `INSERT`: a long backlog goes in several, each well inside the
/// timeout (the store takes several hundred thousand rows a second).
pub const ROWS_PER_INSERT: usize = 200_000;

/// Longest index name taken (longer ones are refused as the Parquet store does).
const MAX_INDEX_LEN: usize = 200;

/// Where the store is, from `clickhouse://[USER[:PASSWORD]@]HOST:PORT/DB`.
#[derive(Clone, PartialEq, Eq)]
pub struct ClickHouseUrl {
    /// `http://HOST:PORT`.
    pub http: String,
    /// The database (created if missing).
    pub database: String,
    /// User, when given.
    pub user: Option<String>,
    /// Password, when given (never shown).
    pub password: Option<String>,
}

impl std::fmt::Debug for ClickHouseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseUrl")
            .field("http", &self.http)
            .field("database", &self.database)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

const URL_HELP: &str = "write clickhouse://HOST:PORT/DB, e.g. clickhouse://127.0.0.1:8123/g6 \
                        (the HTTP port; optional USER[:PASSWORD]@ before the host, with \
                        / @ : % in them percent-encoded as %2F %40 %3A %25)";

impl std::str::FromStr for ClickHouseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

impl ClickHouseUrl {
    /// Parse a `clickhouse://[USER[:PASSWORD]@]HOST:PORT/DB` URL (user and password
    /// percent-decoded).
    pub fn parse(spec: &str) -> Result<Self, String> {
        if !spec.starts_with("clickhouse://") {
            return Err(format!(
                "{spec:?} does not start with clickhouse://; {URL_HELP}"
            ));
        }
        // Without the password: the message may be logged.
        let shown = crate::redact::without_password(spec);
        let url = url::Url::parse(spec)
            .map_err(|e| format!("{shown:?} is not a URL ({e}); {URL_HELP}"))?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{shown:?} has no host; {URL_HELP}"))?;
        let port = url
            .port()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("{shown:?} has no port; {URL_HELP}"))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "{shown:?} has a query or fragment, which means nothing here; {URL_HELP}"
            ));
        }
        let database = url.path().trim_start_matches('/').trim_end_matches('/');
        if database.is_empty() {
            return Err(format!("{shown:?} names no database; {URL_HELP}"));
        }
        let mut chars = database.chars();
        let valid = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && database.len() <= 64;
        if !valid {
            return Err(format!(
                "{shown:?}: {database:?} is not a database name (letters, digits and _, not \
                 starting with a digit); {URL_HELP}"
            ));
        }
        let decode = |part: &str, what: &str| {
            percent_encoding::percent_decode_str(part)
                .decode_utf8()
                .map(|d| d.into_owned())
                .map_err(|_| format!("{shown:?}: the {what} is not UTF-8 once decoded; {URL_HELP}"))
        };
        let user = decode(url.username(), "user")?;
        let password = url.password().map(|p| decode(p, "password")).transpose()?;
        let authority = spec["clickhouse://".len()..]
            .split('/')
            .next()
            .unwrap_or("");
        if user.is_empty() && (password.is_some() || authority.contains('@')) {
            return Err(format!("{shown:?} has an empty user; {URL_HELP}"));
        }
        Ok(ClickHouseUrl {
            http: format!("http://{host}:{port}"),
            database: database.to_string(),
            user: (!user.is_empty()).then_some(user),
            password,
        })
    }

    /// The URL without the password, for logs.
    pub fn shown(&self) -> String {
        let host = self.http.trim_start_matches("http://");
        match &self.user {
            Some(u) => format!("clickhouse://{u}@{host}/{}", self.database),
            None => format!("clickhouse://{host}/{}", self.database),
        }
    }

    /// A client for this server and database (no connection yet).
    pub fn client(&self) -> clickhouse::Client {
        let mut c = clickhouse::Client::default()
            .with_url(&self.http)
            .with_database(&self.database)
            // The client's schema validation needs RowBinaryWithNamesAndTypes, which
            // 18.16 lacks; the table is ours, and a test pins the row layout.
            .with_validation(false);
        if let Some(u) = &self.user {
            c = c.with_user(u);
        }
        if let Some(p) = &self.password {
            c = c.with_password(p);
        }
        c
    }
}

/// The table, as created when missing.
pub fn create_table_sql(database: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS `{database}`.{TABLE} (\
         `index` String, expiry Date, snapshot_id UInt64, as_of DateTime('UTC'), as_of_ms Int64, \
         spot Float64, source String, provider String, strike Float64, `type` String, \
         oi Float64, volume Float64, iv Nullable(Float64), bid Nullable(Float64), \
         ask Nullable(Float64), spread_bps Nullable(Float64), moneyness Nullable(Float64), \
         dte_days Nullable(Float64), ingested_at DateTime('UTC') DEFAULT now()) \
         ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(as_of) \
         ORDER BY (`index`, expiry, `type`, strike, as_of, snapshot_id)"
    )
}

/// One stored row, in the table's column order (plain RowBinary is positional).
#[derive(clickhouse::Row, serde::Serialize)]
pub struct ChainRow<'a> {
    /// Index name.
    pub index: &'a str,
    /// Expiry, days since 1970-01-01.
    pub expiry: u16,
    /// Snapshot id (fetch time, µs; unique per index).
    pub snapshot_id: u64,
    /// As-of time, seconds.
    pub as_of: u32,
    /// As-of time, milliseconds.
    pub as_of_ms: i64,
    /// Underlying price.
    pub spot: f64,
    /// live / file / synthetic.
    pub source: &'a str,
    /// Provider name.
    pub provider: &'a str,
    /// Strike.
    pub strike: f64,
    /// CE or PE.
    #[serde(rename = "type")]
    pub option_type: &'a str,
    /// Open interest.
    pub oi: f64,
    /// Traded volume.
    pub volume: f64,
    /// Implied volatility, percent.
    pub iv: Option<f64>,
    /// Best bid.
    pub bid: Option<f64>,
    /// Best ask.
    pub ask: Option<f64>,
    /// Bid/ask spread, basis points of the mid.
    pub spread_bps: Option<f64>,
    /// Strike / spot.
    pub moneyness: Option<f64>,
    /// Days to expiry.
    pub dte_days: Option<f64>,
}

impl ChainRow<'_> {
    /// The row's size in RowBinary (what goes over the wire).
    pub fn encoded_len(&self) -> u64 {
        let string = |s: &str| {
            let n = s.len() as u64;
            // LEB128 length prefix.
            n + (64 - n.max(1).leading_zeros() as u64).div_ceil(7)
        };
        let nullable = |v: Option<f64>| if v.is_some() { 9 } else { 1 };
        string(self.index)
            + string(self.source)
            + string(self.provider)
            + string(self.option_type)
            // expiry, as_of, then snapshot_id, as_of_ms, spot, strike, oi, volume.
            + 2
            + 4
            + 8 * 6
            + [
                self.iv,
                self.bid,
                self.ask,
                self.spread_bps,
                self.moneyness,
                self.dte_days,
            ]
            .into_iter()
            .map(nullable)
            .sum::<u64>()
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date within ClickHouse's `Date` range.
fn date_days(date: &str) -> Option<u16> {
    let (y, m, d) = crate::option_chain::dates::parse_date(date)?;
    crate::option_chain::dates::days_from_civil(y, m, d).and_then(|d| u16::try_from(d).ok())
}

/// The rows of one message (checked first with [`ClickHouseStore::check`]).
pub fn rows(m: &ChainMessage) -> impl Iterator<Item = ChainRow<'_>> {
    let expiry = date_days(&m.expiry).unwrap_or(0);
    let as_of = u32::try_from(m.as_of_ms.div_euclid(1000)).unwrap_or(0);
    let source = m.wire_source().label();
    m.contracts.iter().map(move |c| ChainRow {
        index: &m.index,
        expiry,
        snapshot_id: m.snapshot_id,
        as_of,
        as_of_ms: m.as_of_ms,
        spot: m.spot,
        source,
        provider: &m.provider,
        strike: c.strike,
        option_type: WireOptionType::try_from(c.option_type)
            .unwrap_or(WireOptionType::Unspecified)
            .label(),
        oi: c.open_interest,
        volume: c.volume,
        iv: c.iv,
        bid: c.bid,
        ask: c.ask,
        spread_bps: c.spread_bps,
        moneyness: c.moneyness,
        dte_days: c.dte_days,
    })
}

/// Why a ClickHouse call failed, as a metric label.
pub fn classify(e: &clickhouse::error::Error) -> StoreFailure {
    use clickhouse::error::Error;
    match e {
        Error::Network(_) => StoreFailure::Unreachable,
        Error::TimedOut => StoreFailure::Timeout,
        // The server's own timeouts (TIMEOUT_EXCEEDED, SOCKET_TIMEOUT) and network
        // errors (NETWORK_ERROR); everything else it answers is a refusal (retried all
        // the same).
        Error::BadResponse(m) if server_code(m).is_some_and(|c| c == 159 || c == 209) => {
            StoreFailure::Timeout
        }
        Error::BadResponse(m) if server_code(m) == Some(210) => StoreFailure::Unreachable,
        _ => StoreFailure::Rejected,
    }
}

/// The error code in a server answer (`Code: 60, e.displayText() = ...`).
fn server_code(message: &str) -> Option<u32> {
    let rest = &message[message.find("Code: ")? + 6..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The table or database is missing (UNKNOWN_TABLE, UNKNOWN_DATABASE): create it.
fn missing_table(e: &clickhouse::error::Error) -> bool {
    matches!(e, clickhouse::error::Error::BadResponse(m) if matches!(server_code(m), Some(60) | Some(81)))
}

/// The ClickHouse store. The writer's thread (plain, or a blocking section of
/// `g6 ingest`) calls it synchronously; its requests run on the app's runtime
/// ([`ClickHouseStore::on_runtime`]), or on a small runtime of its own when it has
/// none (a store used alone, in tests and benchmarks).
pub struct ClickHouseStore {
    url: ClickHouseUrl,
    client: clickhouse::Client,
    // An Option so that drop can shut it down without blocking (a runtime dropped
    // inside another runtime's async context panics).
    runtime: Option<tokio::runtime::Runtime>,
    /// The app's runtime, when the store runs on it.
    shared: Option<tokio::runtime::Handle>,
}

impl Drop for ClickHouseStore {
    fn drop(&mut self) {
        if let Some(r) = self.runtime.take() {
            r.shutdown_background();
        }
    }
}

impl ClickHouseStore {
    /// A store for `spec` (`clickhouse://...`). Nothing is contacted yet: the first
    /// write that finds no table creates it (and the database), so a server that is
    /// down at start only delays rows, and a user allowed only to insert into an
    /// existing table needs no other right.
    pub fn open(spec: &str) -> Result<Self, String> {
        Self::open_url(ClickHouseUrl::parse(spec)?)
    }

    /// [`ClickHouseStore::open`] with a URL already parsed.
    pub fn open_url(url: ClickHouseUrl) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the ClickHouse client's runtime: {e}"))?;
        Ok(ClickHouseStore {
            client: url.client(),
            url,
            runtime: Some(runtime),
            shared: None,
        })
    }

    /// Run the store's requests on `runtime` (the app's) instead of its own.
    pub fn on_runtime(mut self, runtime: tokio::runtime::Handle) -> Self {
        if let Some(own) = self.runtime.take() {
            own.shutdown_background();
        }
        self.shared = Some(runtime);
        self
    }

    /// Where the store is (no password).
    pub fn url(&self) -> &ClickHouseUrl {
        &self.url
    }

    /// Create the database and table if missing.
    pub fn ensure_table(&mut self) -> Result<(), StoreError> {
        let client = self.client.clone();
        let database = self.url.database.clone();
        let shown = self.url.shown();
        self.block_on(async move { ensure(&client, &database, &shown).await })
    }

    /// Run `f` on the store's runtime, within [`WRITE_TIMEOUT`]. Callers are plain
    /// threads or `block_in_place` sections, never async code.
    fn block_on<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match (&self.shared, &self.runtime) {
            (Some(h), _) => h.block_on(with_timeout(f)),
            (None, Some(r)) => r.block_on(with_timeout(f)),
            (None, None) => Err(StoreError::new(StoreFailure::Io, "the store is closed")),
        }
    }

    /// Whether the store can take `m`: an expiry ClickHouse's `Date` holds, an as-of
    /// time its `DateTime` holds, an index name of sane length.
    pub fn check(m: &ChainMessage) -> Result<(), StoreError> {
        if date_days(&m.expiry).is_none() {
            return Err(StoreError::new(
                StoreFailure::Rejected,
                format!(
                    "message {} has an expiry {:?} outside ClickHouse's Date range (1970..2149)",
                    m.message_id(),
                    m.expiry
                ),
            ));
        }
        if u32::try_from(m.as_of_ms.div_euclid(1000)).is_err() {
            return Err(StoreError::new(
                StoreFailure::Rejected,
                format!(
                    "message {} has an as-of time {} ms outside ClickHouse's DateTime range",
                    m.message_id(),
                    m.as_of_ms
                ),
            ));
        }
        if m.index.len() > MAX_INDEX_LEN {
            return Err(StoreError::new(
                StoreFailure::Rejected,
                format!(
                    "an index name of {} bytes is longer than {MAX_INDEX_LEN}",
                    m.index.len()
                ),
            ));
        }
        Ok(())
    }

    /// Insert every row of `messages`, in `INSERT`s of at most [`ROWS_PER_INSERT`]
    /// rows (each within [`WRITE_TIMEOUT`]). A failure may leave earlier inserts
    /// stored; the retry stores them again and the table collapses the copies.
    pub fn write(&mut self, messages: &[Arc<ChainMessage>]) -> Result<Written, StoreError> {
        let mut written = Written::default();
        let mut start = 0;
        while start < messages.len() {
            let mut rows = 0;
            let mut end = start;
            while end < messages.len()
                && (end == start || rows + messages[end].contracts.len() <= ROWS_PER_INSERT)
            {
                rows += messages[end].contracts.len();
                end += 1;
            }
            let chunk = messages[start..end].to_vec();
            let client = self.client.clone();
            let database = self.url.database.clone();
            let shown = self.url.shown();
            let w = self.block_on(async move {
                match insert(&client, &chunk, &shown).await {
                    Err((_, true)) => {
                        // No table yet (or it was dropped): create it, then once more.
                        ensure(&client, &database, &shown).await?;
                        insert(&client, &chunk, &shown).await.map_err(|(e, _)| e)
                    }
                    other => other.map_err(|(e, _)| e),
                }
            })?;
            written.rows += w.rows;
            written.bytes += w.bytes;
            written.files += w.files;
            start = end;
        }
        Ok(written)
    }
}

async fn with_timeout<T>(
    f: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(WRITE_TIMEOUT, f).await {
        Ok(r) => r,
        Err(_) => Err(StoreError::new(
            StoreFailure::Timeout,
            format!("ClickHouse did not answer within {WRITE_TIMEOUT:?}"),
        )),
    }
}

fn failure(what: &str, shown: &str, e: &clickhouse::error::Error) -> StoreError {
    let reason = classify(e);
    let hint = match reason {
        StoreFailure::Unreachable => "; is the server running, and is that its HTTP port (8123)?",
        _ => "",
    };
    StoreError::new(reason, format!("{what} at {shown}: {e}{hint}"))
}

async fn ensure(
    client: &clickhouse::Client,
    database: &str,
    shown: &str,
) -> Result<(), StoreError> {
    // The database must exist before a client bound to it can run anything.
    let server = client.clone().with_database("default");
    server
        .query(&format!("CREATE DATABASE IF NOT EXISTS `{database}`"))
        .execute()
        .await
        .map_err(|e| failure("creating the database", shown, &e))?;
    server
        .query(&create_table_sql(database))
        .execute()
        .await
        .map_err(|e| failure("creating the table", shown, &e))
}

async fn insert(
    client: &clickhouse::Client,
    messages: &[Arc<ChainMessage>],
    shown: &str,
) -> Result<Written, (StoreError, bool)> {
    let fail =
        |what: &str, e: clickhouse::error::Error| (failure(what, shown, &e), missing_table(&e));
    let mut insert = client
        .insert::<ChainRow<'_>>(TABLE)
        .await
        .map_err(|e| fail("starting an insert", e))?;
    let mut written = Written {
        files: 1,
        ..Written::default()
    };
    for m in messages {
        for row in rows(m) {
            written.bytes += row.encoded_len();
            written.rows += 1;
            insert
                .write(&row)
                .await
                .map_err(|e| fail("sending rows", e))?;
        }
    }
    insert
        .end()
        .await
        .map_err(|e| fail("finishing an insert", e))?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_with_credentials_parses_and_never_shows_the_password() {
        let u = ClickHouseUrl::parse("clickhouse://writer:s3cret@db.example:8123/g6").unwrap();
        assert_eq!(u.http, "http://db.example:8123");
        assert_eq!(u.database, "g6");
        assert_eq!(u.user.as_deref(), Some("writer"));
        assert_eq!(u.password.as_deref(), Some("s3cret"));
        assert_eq!(u.shown(), "clickhouse://writer@db.example:8123/g6");
        assert!(!format!("{u:?}").contains("s3cret"));
    }

    #[test]
    fn percent_encoded_credentials_are_decoded() {
        let u = ClickHouseUrl::parse("clickhouse://w%40team:a%2Fb%3Ac%25@[::1]:8123/g6/").unwrap();
        assert_eq!(u.user.as_deref(), Some("w@team"));
        assert_eq!(u.password.as_deref(), Some("a/b:c%"));
        assert_eq!(u.http, "http://[::1]:8123");
        assert_eq!(u.database, "g6");
    }

    #[test]
    fn a_raw_slash_in_the_password_is_refused_without_showing_it() {
        let e = ClickHouseUrl::parse("clickhouse://w:top/secret@db:8123/g6").unwrap_err();
        assert!(!e.contains("top/secret"), "{e}");
        assert!(e.contains("%2F"), "{e}");
    }

    #[test]
    fn urls_without_port_database_or_with_a_query_are_refused_with_the_form() {
        for bad in [
            "clickhouse://db/g6",
            "clickhouse://db:8123",
            "clickhouse://db:8123/",
            "clickhouse://db:0/g6",
            "clickhouse://db:8123/g6?x=1",
            "clickhouse://db:8123/9g",
            "clickhouse://:pw@db:8123/g6",
            "http://db:8123/g6",
        ] {
            let e = ClickHouseUrl::parse(bad).unwrap_err();
            assert!(e.contains("clickhouse://HOST:PORT/DB"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_row_size_counts_varint_prefixes_and_null_flags() {
        let row = ChainRow {
            index: "NIFTY",
            expiry: 1,
            snapshot_id: 1,
            as_of: 1,
            as_of_ms: 1,
            spot: 1.0,
            source: "live",
            provider: "p",
            strike: 1.0,
            option_type: "CE",
            oi: 1.0,
            volume: 1.0,
            iv: Some(0.1),
            bid: None,
            ask: None,
            spread_bps: None,
            moneyness: None,
            dte_days: None,
        };
        // Strings 6+5+2+3, fixed 2+4+8*6, nullable 9+5*1.
        assert_eq!(row.encoded_len(), 16 + 54 + 14);
    }
}
