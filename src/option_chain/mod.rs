//! The option-chain pipeline: providers turn a data source into quote rows, the
//! aggregator folds thousands of contracts into 5 x 5 moneyness x days-to-expiry
//! buckets per index, and the runner drives it on an interval inside `g6 serve`.
//! Per-contract data never reaches Prometheus.

pub mod aggregate;
pub mod analytics;
pub mod buckets;
pub mod calendar;
pub mod circuit;
pub mod dates;
pub mod exposure;
pub mod market;
pub mod pricing;
pub mod providers;
pub mod rows;
pub mod runner;
pub mod staleness;

use crate::labels::{FetchFailure, SkipReason, Source};
use std::fmt;

/// Call or put.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OptionType {
    /// A call (CE).
    Call,
    /// A put (PE).
    Put,
}

impl OptionType {
    /// Parse `CE`/`PE` (also `C`/`P`, `call`/`put`, any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ce" | "c" | "call" => Some(OptionType::Call),
            "pe" | "p" | "put" => Some(OptionType::Put),
            _ => None,
        }
    }
}

/// One contract as a provider reports it (the provider contract).
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    /// Underlying index symbol (NIFTY, BANKNIFTY, ...).
    pub index: String,
    /// Strike price.
    pub strike: f64,
    /// Expiry instant, Unix seconds (15:30 IST on the expiry date).
    pub expiry: i64,
    /// Call or put.
    pub option_type: OptionType,
    /// Underlying spot price.
    pub spot: f64,
    /// Open interest (contracts).
    pub open_interest: f64,
    /// Traded volume (contracts).
    pub volume: f64,
    /// Implied volatility as a ratio (0.125 = 12.5%); `None` when not available.
    pub iv: Option<f64>,
    /// Best bid.
    pub bid: Option<f64>,
    /// Best ask.
    pub ask: Option<f64>,
    /// Spread in basis points of mid, when the provider computes it.
    pub spread_bps: Option<f64>,
    /// Precomputed signed moneyness, when the provider gives it.
    pub moneyness: Option<f64>,
    /// Precomputed fractional days to expiry, when the provider gives it.
    pub dte_days: Option<f64>,
}

/// A row that could not become a [`Quote`].
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// Why.
    pub reason: SkipReason,
    /// Details for the log (field and value).
    pub detail: String,
}

/// What a provider returns for one fetch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// The time the data describes (Unix seconds); `None` means now.
    pub as_of: Option<i64>,
    /// Parsed rows, and rows rejected while parsing.
    pub rows: Vec<Result<Quote, Rejected>>,
}

/// A fetch failed: why (counted in `g6_provider_fetch_failures_total{fetch_failure}`)
/// and a message saying what to do about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderError {
    /// Why, as the metric label.
    pub reason: FetchFailure,
    /// What happened, for the log.
    pub message: String,
}

impl ProviderError {
    /// A failure for `reason`.
    pub fn new(reason: FetchFailure, message: impl Into<String>) -> Self {
        ProviderError {
            reason,
            message: message.into(),
        }
    }

    /// The provider did not answer in time.
    pub fn timeout(message: impl Into<String>) -> Self {
        ProviderError::new(FetchFailure::Timeout, message)
    }

    /// A timeout, or a fetch still running from an earlier cycle.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.reason,
            FetchFailure::Timeout | FetchFailure::StillRunning
        )
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_timeout() {
            write!(f, "timed out: {}", self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for ProviderError {}

/// A source of option-chain snapshots. Implement it for in-process providers.
pub trait OptionChainProvider: Send {
    /// Name used in the `provider` label.
    fn name(&self) -> &str;
    /// Where the data comes from (the `source` label of every option-chain series).
    fn source(&self) -> Source;
    /// Fetch one snapshot of the whole chain.
    fn fetch(&mut self) -> Result<Snapshot, ProviderError>;
    /// Indices the provider will deliver, when it knows them before its first fetch.
    /// Each gets a snapshot age from the start, so one that never arrives is stale.
    fn indices(&self) -> Vec<String> {
        Vec::new()
    }
    /// When the market this provider reports moves: quotes unchanged outside it are
    /// not stale. NSE's session unless the provider says otherwise.
    fn session(&self) -> market::Session {
        market::Session::Nse
    }
}
