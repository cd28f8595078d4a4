//! The ClickHouse store (`--store clickhouse://[USER[:PASSWORD]@]HOST:PORT/DB[?OPTIONS]`):
//! rows go over HTTP (or https, `secure=true`) into one `ReplacingMergeTree` table,
//! `DB.option_chain`, created if missing, partitioned by month and ordered by (index,
//! expiry, type, strike, as_of, snapshot_id). That order is also the table's identity:
//! a snapshot delivered twice (a lost acknowledgement, a retried insert) collapses to
//! one row per contract when parts merge, and at once in queries with `FINAL`.
//!
//! On a cluster (`cluster=NAME`) each shard holds the `ReplacingMergeTree` as
//! `DB.option_chain_local`, and `DB.option_chain` is a `Distributed` table over them
//! sharded by `cityHash64(index, expiry)`: a row's copies share its identity, so its
//! index and expiry, so its shard, and `FINAL` stays exact over the cluster.
//!
//! Written for the oldest server we meet (Debian's 18.16): no `LowCardinality`, no
//! `DateTime64`, plain `RowBinary` without the client's schema validation (which needs a
//! newer server), `as_of` as seconds plus `as_of_ms` for the milliseconds.
//! `ingested_at` (filled by the server) says when a row arrived, for the rows-per-minute
//! panel; a redelivered copy keeps the row but may move it.

mod connector;

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

/// Where the store is, from
/// `clickhouse://[USER[:PASSWORD]@]HOST:PORT/DB[?secure=true&ca=FILE&password_file=FILE&cluster=NAME&shards=HOST:PORT,...]`.
#[derive(Clone, PartialEq, Eq)]
pub struct ClickHouseUrl {
    /// `http://HOST:PORT`, or `https://HOST:PORT` with `secure=true`.
    pub http: String,
    /// The database (created if missing).
    pub database: String,
    /// User, when given.
    pub user: Option<String>,
    /// Password, when given: in the URL, from `password_file=FILE`, or from the
    /// environment variable [`PASSWORD_ENV`] (never shown).
    pub password: Option<String>,
    /// Where the password came from when not from the URL (shown instead of it).
    password_from: Option<String>,
    /// The CA file (PEM) an `https://` server's certificate must chain to; without
    /// it, the system's roots.
    pub ca: Option<std::path::PathBuf>,
    /// The cluster (`remote_servers` name) when rows go through a `Distributed` table.
    pub cluster: Option<String>,
    /// Every shard's HTTP address (`http(s)://HOST:PORT`), where the tables are
    /// created directly, for clusters without ZooKeeper/Keeper (no `ON CLUSTER`).
    pub shards: Vec<String>,
}

impl std::fmt::Debug for ClickHouseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseUrl")
            .field("http", &self.http)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("ca", &self.ca)
            .field("cluster", &self.cluster)
            .field("shards", &self.shards)
            .finish_non_exhaustive()
    }
}

/// The environment variable a ClickHouse password is taken from when the URL has
/// none (nor `password_file=`).
pub const PASSWORD_ENV: &str = "G6_STORE_PASSWORD";

/// The local table of each shard under a cluster's `Distributed` [`TABLE`].
pub const LOCAL_TABLE: &str = "option_chain_local";

const URL_HELP: &str = "write clickhouse://HOST:PORT/DB, e.g. clickhouse://127.0.0.1:8123/g6 \
                        (the HTTP port; optional USER[:PASSWORD]@ before the host, with \
                        / @ : % in them percent-encoded as %2F %40 %3A %25; options after ?: \
                        secure=true (https), ca=FILE, password_file=FILE, cluster=NAME, \
                        shards=HOST:PORT,HOST:PORT)";

impl std::str::FromStr for ClickHouseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

/// A ClickHouse identifier we put in DDL unquoted-safe: letters, digits and `_`, not
/// starting with a digit.
fn identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

impl ClickHouseUrl {
    /// Parse a `clickhouse://[USER[:PASSWORD]@]HOST:PORT/DB[?OPTIONS]` URL (user and
    /// password percent-decoded; without a password in the URL, `password_file=` or
    /// the environment variable [`PASSWORD_ENV`] gives it). A CA or password file is
    /// read now, so a bad one stops the start; nothing is contacted.
    pub fn parse(spec: &str) -> Result<Self, String> {
        Self::parse_with_env(spec, std::env::var(PASSWORD_ENV).ok())
    }

    /// [`ClickHouseUrl::parse`] with the environment's password given.
    pub fn parse_with_env(spec: &str, env_password: Option<String>) -> Result<Self, String> {
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
        if url.fragment().is_some() {
            return Err(format!(
                "{shown:?} has a fragment, which means nothing here; {URL_HELP}"
            ));
        }
        let (mut secure, mut ca, mut password_file, mut cluster, mut shards) =
            (false, None, None, None, Vec::new());
        for (key, value) in url.query_pairs() {
            let value = value.into_owned();
            match key.as_ref() {
                "secure" => {
                    secure = match value.as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => {
                            return Err(format!(
                                "{shown:?}: secure={value} is neither true nor false; {URL_HELP}"
                            ))
                        }
                    }
                }
                "ca" if !value.is_empty() => ca = Some(std::path::PathBuf::from(value)),
                "password_file" if !value.is_empty() => {
                    password_file = Some(std::path::PathBuf::from(value))
                }
                "cluster" if identifier(&value) => cluster = Some(value),
                "cluster" => {
                    return Err(format!(
                        "{shown:?}: cluster={value:?} is not a cluster name (letters, digits \
                         and _); {URL_HELP}"
                    ))
                }
                "shards" => {
                    for s in value.split(',').filter(|s| !s.trim().is_empty()) {
                        let s = s.trim();
                        let ok = s.rsplit_once(':').is_some_and(|(h, p)| {
                            !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0)
                        });
                        if !ok {
                            return Err(format!(
                                "{shown:?}: shard {s:?} is not HOST:PORT (a shard's HTTP \
                                 port); {URL_HELP}"
                            ));
                        }
                        shards.push(s.to_string());
                    }
                }
                other => {
                    return Err(format!(
                        "{shown:?}: {other}={value:?} is not an option here; {URL_HELP}"
                    ))
                }
            }
        }
        if ca.is_some() && !secure {
            return Err(format!(
                "{shown:?}: ca= is for https; add secure=true (and give the server's \
                 https_port); {URL_HELP}"
            ));
        }
        if !shards.is_empty() && cluster.is_none() {
            return Err(format!(
                "{shown:?}: shards= lists a cluster's shards; add cluster=NAME; {URL_HELP}"
            ));
        }
        if secure {
            // Read the CA now: a missing or bad file stops the start.
            connector::tls_config(ca.as_deref())?;
        }
        let database = url.path().trim_start_matches('/').trim_end_matches('/');
        if database.is_empty() {
            return Err(format!("{shown:?} names no database; {URL_HELP}"));
        }
        if !identifier(database) {
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
        let mut password = url.password().map(|p| decode(p, "password")).transpose()?;
        let authority = spec["clickhouse://".len()..]
            .split('/')
            .next()
            .unwrap_or("");
        if user.is_empty() && (password.is_some() || authority.contains('@')) {
            return Err(format!("{shown:?} has an empty user; {URL_HELP}"));
        }
        let mut password_from = None;
        if let Some(file) = password_file {
            if password.is_some() {
                return Err(format!(
                    "{shown:?} has a password and password_file=; give one; {URL_HELP}"
                ));
            }
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read the password file {}: {e}", file.display()))?;
            // One line; its newline is not part of the password.
            password = Some(text.trim_end_matches(['\n', '\r']).to_string());
            password_from = Some(format!("password_file={}", file.display()));
        } else if password.is_none() {
            if let Some(p) = env_password.filter(|p| !p.is_empty()) {
                password = Some(p);
                password_from = Some(format!("${PASSWORD_ENV}"));
            }
        }
        let scheme = if secure { "https" } else { "http" };
        Ok(ClickHouseUrl {
            http: format!("{scheme}://{host}:{port}"),
            database: database.to_string(),
            user: (!user.is_empty()).then_some(user),
            password,
            password_from,
            ca,
            cluster,
            shards: shards
                .into_iter()
                .map(|s| format!("{scheme}://{s}"))
                .collect(),
        })
    }

    /// Whether the server speaks https.
    pub fn secure(&self) -> bool {
        self.http.starts_with("https://")
    }

    /// The URL without the password, for logs (where it came from, if not the URL).
    pub fn shown(&self) -> String {
        let host = self
            .http
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let mut s = match &self.user {
            Some(u) => format!("clickhouse://{u}@{host}/{}", self.database),
            None => format!("clickhouse://{host}/{}", self.database),
        };
        let mut options = Vec::new();
        if self.secure() {
            options.push("secure=true".to_string());
        }
        if let Some(ca) = &self.ca {
            options.push(format!("ca={}", ca.display()));
        }
        if let Some(from) = self
            .password_from
            .as_ref()
            .filter(|f| f.starts_with("password_file="))
        {
            options.push(from.clone());
        }
        if let Some(c) = &self.cluster {
            options.push(format!("cluster={c}"));
        }
        if !self.shards.is_empty() {
            let shards: Vec<&str> = self
                .shards
                .iter()
                .map(|s| {
                    s.trim_start_matches("https://")
                        .trim_start_matches("http://")
                })
                .collect();
            options.push(format!("shards={}", shards.join(",")));
        }
        if !options.is_empty() {
            s.push('?');
            s.push_str(&options.join("&"));
        }
        s
    }

    /// A client for this server and database (no connection yet).
    pub fn client(&self) -> Result<clickhouse::Client, String> {
        self.client_at(&self.http)
    }

    /// A client for `http` (this server or one of its shards), with this URL's
    /// database, credentials and TLS settings.
    fn client_at(&self, http: &str) -> Result<clickhouse::Client, String> {
        let tls = if self.secure() {
            Some(connector::tls_config(self.ca.as_deref())?)
        } else {
            None
        };
        let mut c = connector::clickhouse_client(tls)
            .with_url(http)
            .with_database(&self.database)
            // The client's schema validation needs RowBinaryWithNamesAndTypes, which
            // 18.16 lacks; the table is ours, and a test pins the row layout.
            .with_validation(false);
        // A JOIN or IN over a Distributed table inside a query of it (the replay's
        // settledness) reads the whole cluster once; on a plain table it changes
        // nothing, so a cluster's database also reads without cluster=.
        c = c.with_setting("distributed_product_mode", "global");
        if self.cluster.is_some() {
            // An insert returns once every shard has its rows: what g6 counts stored
            // is on its shard, and a shard that is down fails the insert (retried,
            // the copies collapse) instead of queueing on this server's disk.
            c = c.with_setting("insert_distributed_sync", "1");
        }
        if let Some(u) = &self.user {
            c = c.with_user(u);
        }
        if let Some(p) = &self.password {
            c = c.with_password(p);
        }
        Ok(c)
    }
}

/// The table, as created when missing (one server).
pub fn create_table_sql(database: &str) -> String {
    merge_tree_sql(database, TABLE, "")
}

/// The `ReplacingMergeTree` named `table` (`on_cluster`: empty, or ` ON CLUSTER x`).
fn merge_tree_sql(database: &str, table: &str, on_cluster: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS `{database}`.{table}{on_cluster} (\
         `index` String, expiry Date, snapshot_id UInt64, as_of DateTime('UTC'), as_of_ms Int64, \
         spot Float64, source String, provider String, strike Float64, `type` String, \
         oi Float64, volume Float64, iv Nullable(Float64), bid Nullable(Float64), \
         ask Nullable(Float64), spread_bps Nullable(Float64), moneyness Nullable(Float64), \
         dte_days Nullable(Float64), delta Nullable(Float64), gamma Nullable(Float64), \
         vega Nullable(Float64), theta Nullable(Float64), \
         ingested_at DateTime('UTC') DEFAULT now()) \
         ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(as_of) \
         ORDER BY (`index`, expiry, `type`, strike, as_of, snapshot_id)"
    )
}

/// Adds the Greeks' columns (schema 2 of the bus message) after `dte_days` to a table
/// made before them. ClickHouse 18 has no `ADD COLUMN IF NOT EXISTS`: run it only where
/// [`has_greeks_sql`] finds none.
pub fn greeks_columns_sql(database: &str, table: &str, on_cluster: &str) -> String {
    format!(
        "ALTER TABLE `{database}`.{table}{on_cluster} \
         ADD COLUMN delta Nullable(Float64) AFTER dte_days, \
         ADD COLUMN gamma Nullable(Float64) AFTER delta, \
         ADD COLUMN vega Nullable(Float64) AFTER gamma, \
         ADD COLUMN theta Nullable(Float64) AFTER vega"
    )
}

/// Counts the Greeks' columns of `database.table` (bind the database and table).
pub const HAS_GREEKS_SQL: &str = "SELECT count() FROM system.columns \
     WHERE database = ? AND table = ? AND name = 'delta'";

/// Add the Greeks' columns to `table` through `client` unless it has them.
async fn add_greeks(
    client: &clickhouse::Client,
    database: &str,
    table: &str,
    on_cluster: &str,
    at: &str,
) -> Result<(), StoreError> {
    let has = client
        .query(HAS_GREEKS_SQL)
        .bind(database)
        .bind(table)
        .fetch_one::<u64>()
        .await
        .map_err(|e| failure("looking up the table's columns", at, &e))?;
    if has > 0 {
        return Ok(());
    }
    tracing::info!(
        table,
        at,
        "adding the Greeks' columns (delta, gamma, vega, theta) to a table made before them"
    );
    run(
        client,
        &greeks_columns_sql(database, table, on_cluster),
        "adding the Greeks' columns",
        at,
    )
    .await
}

/// A cluster's [`TABLE`]: a `Distributed` table over each shard's [`LOCAL_TABLE`],
/// sharded by (index, expiry). Every copy of a row (same identity, so same index and
/// expiry) lands on the same shard, where `FINAL` collapses it.
pub fn distributed_table_sql(database: &str, cluster: &str, on_cluster: bool) -> String {
    let on = if on_cluster {
        format!(" ON CLUSTER {cluster}")
    } else {
        String::new()
    };
    format!(
        "CREATE TABLE IF NOT EXISTS `{database}`.{TABLE}{on} AS `{database}`.{LOCAL_TABLE} \
         ENGINE = Distributed({cluster}, {database}, {LOCAL_TABLE}, cityHash64(`index`, expiry))"
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
    /// Delta (schema 2).
    pub delta: Option<f64>,
    /// Gamma.
    pub gamma: Option<f64>,
    /// Vega, per volatility point.
    pub vega: Option<f64>,
    /// Theta, per calendar day.
    pub theta: Option<f64>,
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
                self.delta,
                self.gamma,
                self.vega,
                self.theta,
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
        delta: c.delta,
        gamma: c.gamma,
        vega: c.vega,
        theta: c.theta,
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
    ddl: Arc<Ddl>,
    /// A cluster's tables were checked (and made) on every node: before the first
    /// insert, since a shard's missing table would not show as a missing table here.
    ready: bool,
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
        let ddl = Arc::new(Ddl::new(&url)?);
        Ok(ClickHouseStore {
            client: url.client()?,
            ready: url.cluster.is_none(),
            ddl,
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

    /// Create the database and table if missing (on a cluster: each node's local
    /// table and the `Distributed` one).
    pub fn ensure_table(&mut self) -> Result<(), StoreError> {
        let ddl = Arc::clone(&self.ddl);
        self.block_on(async move { ensure(&ddl).await })?;
        self.ready = true;
        Ok(())
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
        if !self.ready {
            self.ensure_table()?;
        }
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
            let ddl = Arc::clone(&self.ddl);
            let w = self.block_on(async move {
                match insert(&client, &chunk, &ddl.shown).await {
                    Err((_, true)) => {
                        // No table yet (or it was dropped): create it, then once more.
                        ensure(&ddl).await?;
                        insert(&client, &chunk, &ddl.shown)
                            .await
                            .map_err(|(e, _)| e)
                    }
                    Err((e, false)) if e.reason == StoreFailure::Unreachable => {
                        // A streamed insert's network error says only "channel
                        // closed"; a plain query says why (refused, TLS).
                        Err(probe(&client, &ddl.shown).await.err().unwrap_or(e))
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
    // The client's network error hides its cause (refused, TLS) in its sources.
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text = format!("{text}: {s_text}");
        }
        source = s.source();
    }
    let hint = if text.contains("TLS with") && text.contains("certificate") {
        "; the server's certificate must chain to the CA given with ca=FILE (or to the \
         system's roots without it) and name the host in the URL"
    } else if text.contains("TLS with") {
        "; is that the server's https_port (8443), and is TLS set up there?"
    } else if reason == StoreFailure::Unreachable {
        "; is the server running, and is that its HTTP port (8123)?"
    } else {
        ""
    };
    StoreError::new(reason, format!("{what} at {shown}: {text}{hint}"))
}

/// What creating the tables needs: the server, and on a cluster every node to make
/// them on.
struct Ddl {
    database: String,
    /// The server, bound to the `default` database (the store's may not exist yet).
    server: clickhouse::Client,
    /// The store's URL as shown.
    shown: String,
    cluster: Option<String>,
    /// A cluster's nodes that take the DDL directly (no `ON CLUSTER`): the server
    /// and every listed shard, each with how it is shown.
    nodes: Vec<(clickhouse::Client, String)>,
}

impl Ddl {
    fn new(url: &ClickHouseUrl) -> Result<Ddl, String> {
        let server = url.client()?.with_database("default");
        let mut nodes = Vec::new();
        if !url.shards.is_empty() {
            nodes.push((server.clone(), url.http.clone()));
            for s in url.shards.iter().filter(|s| **s != url.http) {
                nodes.push((url.client_at(s)?.with_database("default"), s.clone()));
            }
        }
        Ok(Ddl {
            database: url.database.clone(),
            server,
            shown: url.shown(),
            cluster: url.cluster.clone(),
            nodes,
        })
    }
}

async fn run(
    client: &clickhouse::Client,
    sql: &str,
    what: &str,
    at: &str,
) -> Result<(), StoreError> {
    client
        .query(sql)
        .execute()
        .await
        .map_err(|e| failure(what, at, &e))
}

async fn ensure(ddl: &Ddl) -> Result<(), StoreError> {
    let database = &ddl.database;
    let Some(cluster) = &ddl.cluster else {
        // The database must exist before a client bound to it can run anything.
        run(
            &ddl.server,
            &format!("CREATE DATABASE IF NOT EXISTS `{database}`"),
            "creating the database",
            &ddl.shown,
        )
        .await?;
        run(
            &ddl.server,
            &create_table_sql(database),
            "creating the table",
            &ddl.shown,
        )
        .await?;
        return add_greeks(&ddl.server, database, TABLE, "", &ddl.shown).await;
    };
    let known = ddl
        .server
        .query("SELECT count() FROM system.clusters WHERE cluster = ?")
        .bind(cluster)
        .fetch_one::<u64>()
        .await
        .map_err(|e| failure("looking up the cluster", &ddl.shown, &e))?;
    if known == 0 {
        return Err(StoreError::new(
            StoreFailure::Rejected,
            format!(
                "{}: the server has no cluster {cluster} in its remote_servers config",
                ddl.shown
            ),
        ));
    }
    if ddl.nodes.is_empty() {
        // Through the server's distributed DDL queue, on every node of the cluster.
        let on = format!(" ON CLUSTER {cluster}");
        for (sql, what) in [
            (
                format!("CREATE DATABASE IF NOT EXISTS `{database}`{on}"),
                "creating the database on the cluster",
            ),
            (
                merge_tree_sql(database, LOCAL_TABLE, &on),
                "creating the local tables on the cluster",
            ),
            (
                distributed_table_sql(database, cluster, true),
                "creating the Distributed table on the cluster",
            ),
        ] {
            run(&ddl.server, &sql, what, &ddl.shown)
                .await
                .map_err(|mut e| {
                    if e.message.contains("Code: 49") || e.message.contains("Code: 225") {
                        e.message.push_str(
                            "; ON CLUSTER needs ZooKeeper (or Keeper) in the server config: \
                         without it, list every shard's HTTP address in \
                         shards=HOST:PORT,HOST:PORT and g6 creates the tables on each",
                        );
                    }
                    e
                })?;
        }
        // The entry server's copy tells whether the cluster's tables predate the
        // Greeks; the ALTER goes through the same DDL queue.
        add_greeks(&ddl.server, database, LOCAL_TABLE, &on, &ddl.shown).await?;
        add_greeks(&ddl.server, database, TABLE, &on, &ddl.shown).await?;
    } else {
        for (node, at) in &ddl.nodes {
            run(
                node,
                &format!("CREATE DATABASE IF NOT EXISTS `{database}`"),
                "creating the database",
                at,
            )
            .await?;
            run(
                node,
                &merge_tree_sql(database, LOCAL_TABLE, ""),
                "creating the local table",
                at,
            )
            .await?;
            add_greeks(node, database, LOCAL_TABLE, "", at).await?;
            run(
                node,
                &distributed_table_sql(database, cluster, false),
                "creating the Distributed table",
                at,
            )
            .await?;
            add_greeks(node, database, TABLE, "", at).await?;
        }
    }
    // A table of the name made earlier without the cluster would take the rows
    // on this server alone.
    let engine = ddl
        .server
        .query("SELECT engine FROM system.tables WHERE database = ? AND name = ?")
        .bind(database.as_str())
        .bind(TABLE)
        .fetch_all::<String>()
        .await
        .map_err(|e| failure("looking up the table", &ddl.shown, &e))?;
    match engine.first().map(String::as_str) {
        Some("Distributed") => Ok(()),
        other => Err(StoreError::new(
            StoreFailure::Rejected,
            format!(
                "{}: {database}.{TABLE} is a {} table, not the Distributed table of cluster \
                 {cluster} (made before without cluster=?); use another database, or \
                 rename that table away",
                ddl.shown,
                other.unwrap_or("missing")
            ),
        )),
    }
}

/// A query that fails the way a connection to the server fails, with its cause.
async fn probe(client: &clickhouse::Client, shown: &str) -> Result<(), StoreError> {
    run(client, "SELECT 1", "connecting", shown).await
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
    fn a_password_with_at_and_slash_works_percent_encoded_and_a_raw_at_too() {
        let u = ClickHouseUrl::parse("clickhouse://w:p%40ss%2Fw%3Ard@db:8123/g6").unwrap();
        assert_eq!(u.password.as_deref(), Some("p@ss/w:rd"));
        // The last @ ends the credentials.
        let u = ClickHouseUrl::parse("clickhouse://w:p@ss@db:8123/g6").unwrap();
        assert_eq!(u.user.as_deref(), Some("w"));
        assert_eq!(u.password.as_deref(), Some("p@ss"));
        assert_eq!(u.http, "http://db:8123");
        assert!(!u.shown().contains("ss"), "{}", u.shown());
    }

    #[test]
    fn the_options_set_https_cluster_and_shards_and_are_shown() {
        let u = ClickHouseUrl::parse(
            "clickhouse://w:pw@db:8443/g6?secure=true&cluster=two&shards=db:8443,db2:8443",
        )
        .unwrap();
        assert_eq!(u.http, "https://db:8443");
        assert!(u.secure());
        assert_eq!(u.cluster.as_deref(), Some("two"));
        assert_eq!(u.shards, ["https://db:8443", "https://db2:8443"]);
        assert_eq!(
            u.shown(),
            "clickhouse://w@db:8443/g6?secure=true&cluster=two&shards=db:8443,db2:8443"
        );
        let plain = ClickHouseUrl::parse("clickhouse://db:8123/g6?secure=false").unwrap();
        assert_eq!(plain.http, "http://db:8123");
        assert_eq!(plain.shown(), "clickhouse://db:8123/g6");
    }

    #[test]
    fn the_password_comes_from_a_file_or_the_environment_and_is_never_shown() {
        let dir = std::env::temp_dir().join(format!("g6-ch-url-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "fr0m/f@le\n").unwrap();
        let spec = format!("clickhouse://w@db:8123/g6?password_file={}", file.display());
        let u = ClickHouseUrl::parse_with_env(&spec, Some("from-env".into())).unwrap();
        assert_eq!(
            u.password.as_deref(),
            Some("fr0m/f@le"),
            "the file wins, no newline"
        );
        assert!(!u.shown().contains("fr0m") && u.shown().contains("password_file="));
        assert!(!format!("{u:?}").contains("fr0m"));
        let u = ClickHouseUrl::parse_with_env("clickhouse://w@db:8123/g6", Some("from-env".into()))
            .unwrap();
        assert_eq!(u.password.as_deref(), Some("from-env"));
        assert_eq!(u.shown(), "clickhouse://w@db:8123/g6");
        // A password in the URL is taken over the environment's.
        let u = ClickHouseUrl::parse_with_env("clickhouse://w:url@db:8123/g6", Some("env".into()))
            .unwrap();
        assert_eq!(u.password.as_deref(), Some("url"));
        let e = ClickHouseUrl::parse_with_env(
            &format!(
                "clickhouse://w:url@db:8123/g6?password_file={}",
                file.display()
            ),
            None,
        )
        .unwrap_err();
        assert!(e.contains("give one") && !e.contains("url@"), "{e}");
        let e = ClickHouseUrl::parse_with_env(
            &format!(
                "clickhouse://w@db:8123/g6?password_file={}",
                dir.join("none").display()
            ),
            None,
        )
        .unwrap_err();
        assert!(e.contains("cannot read the password file"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_or_empty_ca_file_and_ca_without_https_are_refused() {
        let e = ClickHouseUrl::parse("clickhouse://db:8443/g6?secure=true&ca=/nonexistent/ca.pem")
            .unwrap_err();
        assert!(
            e.contains("cannot read the CA file /nonexistent/ca.pem"),
            "{e}"
        );
        let dir = std::env::temp_dir().join(format!("g6-ch-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("empty.pem"), "not a certificate\n").unwrap();
        let e = ClickHouseUrl::parse(&format!(
            "clickhouse://db:8443/g6?secure=true&ca={}",
            dir.join("empty.pem").display()
        ))
        .unwrap_err();
        assert!(e.contains("holds no certificate"), "{e}");
        let e = ClickHouseUrl::parse("clickhouse://db:8123/g6?ca=/x.pem").unwrap_err();
        assert!(e.contains("add secure=true"), "{e}");
        for bad in [
            "clickhouse://db:8123/g6?cluster=a-b",
            "clickhouse://db:8123/g6?shards=db:8123",
            "clickhouse://db:8123/g6?cluster=c&shards=db",
            "clickhouse://db:8123/g6?secure=maybe",
        ] {
            let e = ClickHouseUrl::parse(bad).unwrap_err();
            assert!(e.contains("clickhouse://HOST:PORT/DB"), "{bad}: {e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_distributed_table_shards_by_index_and_expiry_over_the_local_table() {
        assert_eq!(
            distributed_table_sql("g6", "two", false),
            "CREATE TABLE IF NOT EXISTS `g6`.option_chain AS `g6`.option_chain_local \
             ENGINE = Distributed(two, g6, option_chain_local, cityHash64(`index`, expiry))"
        );
        assert!(distributed_table_sql("g6", "two", true).contains("option_chain ON CLUSTER two AS"));
        assert!(merge_tree_sql("g6", LOCAL_TABLE, " ON CLUSTER two")
            .starts_with("CREATE TABLE IF NOT EXISTS `g6`.option_chain_local ON CLUSTER two ("));
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
            delta: Some(0.5),
            gamma: None,
            vega: None,
            theta: None,
        };
        // Strings 6+5+2+3, fixed 2+4+8*6, nullable 9+5*1 and 9+3*1.
        assert_eq!(row.encoded_len(), 16 + 54 + 14 + 12);
    }
}
