//! `nse-json:PATH`: the JSON an NSE option-chain page serves: `records.data[]` with
//! `strikePrice`, `expiryDate` (`28-Nov-2024`) and optional `CE`/`PE` legs carrying
//! `openInterest`, `totalTradedVolume`, `impliedVolatility` (percent; 0 = n/a),
//! `bidprice` (newer payloads: `bidPrice`), `askPrice` and `underlyingValue`. Spot
//! comes from `records.underlyingValue`, else the leg's. Unknown fields are ignored.
//!
//! Streamed from the file into typed records (serde): the fields we read are kept,
//! everything else (the `filtered` copy of the chain, unknown fields) is skipped
//! without being built, so memory follows the chain, not the payload.

use crate::labels::{FetchFailure, SkipReason, Source};
use crate::option_chain::dates;
use crate::option_chain::rows::iv_ratio;
use crate::option_chain::{
    OptionChainProvider, OptionType, ProviderError, Quote, Rejected, Snapshot,
};
use serde::Deserialize;
use std::io::{BufReader, Read};
use std::path::PathBuf;

/// A number NSE writes as a JSON number or as a string.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Num {
    Number(f64),
    Text(String),
}

impl Num {
    fn value(&self) -> Option<f64> {
        match self {
            Num::Number(n) => Some(*n),
            Num::Text(s) => s.trim().parse().ok(),
        }
    }
}

fn num(n: &Option<Num>) -> Option<f64> {
    n.as_ref().and_then(Num::value)
}

#[derive(Debug, Deserialize)]
struct Payload {
    records: Option<Records>,
}

#[derive(Debug, Deserialize)]
struct Records {
    data: Option<Vec<Entry>>,
    timestamp: Option<String>,
    #[serde(rename = "underlyingValue")]
    underlying_value: Option<Num>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(rename = "strikePrice")]
    strike_price: Option<Num>,
    #[serde(rename = "expiryDate")]
    expiry_date: Option<String>,
    #[serde(rename = "CE")]
    ce: Option<Leg>,
    #[serde(rename = "PE")]
    pe: Option<Leg>,
}

#[derive(Debug, Deserialize)]
struct Leg {
    #[serde(rename = "strikePrice")]
    strike_price: Option<Num>,
    #[serde(rename = "expiryDate")]
    expiry_date: Option<String>,
    underlying: Option<String>,
    #[serde(rename = "openInterest")]
    open_interest: Option<Num>,
    #[serde(rename = "totalTradedVolume")]
    total_traded_volume: Option<Num>,
    #[serde(rename = "impliedVolatility")]
    implied_volatility: Option<Num>,
    #[serde(rename = "bidprice", alias = "bidPrice")]
    bid: Option<Num>,
    #[serde(rename = "askPrice", alias = "askprice")]
    ask: Option<Num>,
    #[serde(rename = "underlyingValue")]
    underlying_value: Option<Num>,
}

/// Counts what the parser read, to tell a truncated (over the cap) input from a
/// malformed one.
struct Counted<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// Reads NSE option-chain JSON from a file (refresh it with any fetcher).
pub struct NseJsonProvider {
    path: PathBuf,
    max_bytes: u64,
}

impl NseJsonProvider {
    /// A provider for `path`, reading at most [`super::DEFAULT_MAX_INPUT_BYTES`].
    pub fn new(path: impl Into<PathBuf>) -> Self {
        NseJsonProvider {
            path: path.into(),
            max_bytes: super::DEFAULT_MAX_INPUT_BYTES,
        }
    }

    /// Refuse files larger than `max_bytes` (a failure with reason `too_large`).
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }
}

/// Parse NSE option-chain JSON held in memory (what [`NseJsonProvider`] reads from its
/// file), legs without `underlying` named `default_index`.
pub fn parse_nse_json(bytes: &[u8], default_index: &str) -> Result<Snapshot, ProviderError> {
    let payload: Payload = serde_json::from_slice(bytes).map_err(|e| {
        ProviderError::new(
            FetchFailure::Malformed,
            format!("not an NSE option-chain payload: {e}"),
        )
    })?;
    snapshot(payload, default_index)
}

/// Turn a payload into a snapshot. `default_index` is used when legs do not name the
/// underlying.
fn snapshot(payload: Payload, default_index: &str) -> Result<Snapshot, ProviderError> {
    let records = payload.records.ok_or_else(|| {
        ProviderError::new(
            FetchFailure::Malformed,
            "NSE payload has no `records` object",
        )
    })?;
    let data = records.data.ok_or_else(|| {
        ProviderError::new(
            FetchFailure::Malformed,
            "NSE payload has no `records.data` list",
        )
    })?;
    let record_spot = num(&records.underlying_value);
    let mut snap = Snapshot {
        as_of: records
            .timestamp
            .as_deref()
            .and_then(dates::parse_nse_timestamp),
        rows: Vec::with_capacity(data.len() * 2),
    };
    for entry in &data {
        for (leg, option_type) in [(&entry.ce, OptionType::Call), (&entry.pe, OptionType::Put)] {
            if let Some(leg) = leg {
                snap.rows.push(leg_quote(
                    entry,
                    leg,
                    option_type,
                    record_spot,
                    default_index,
                ));
            }
        }
    }
    Ok(snap)
}

fn leg_quote(
    entry: &Entry,
    leg: &Leg,
    option_type: OptionType,
    record_spot: Option<f64>,
    default_index: &str,
) -> Result<Quote, Rejected> {
    let missing = |f: &str| Rejected {
        reason: SkipReason::MissingField,
        detail: format!("NSE leg without `{f}`"),
    };
    let strike = num(&leg.strike_price)
        .or_else(|| num(&entry.strike_price))
        .ok_or_else(|| missing("strikePrice"))?;
    let expiry_text = leg
        .expiry_date
        .as_deref()
        .or(entry.expiry_date.as_deref())
        .ok_or_else(|| missing("expiryDate"))?;
    let expiry = dates::parse_expiry(expiry_text).ok_or_else(|| Rejected {
        reason: SkipReason::BadExpiry,
        detail: format!("unparsable expiryDate {expiry_text:?}"),
    })?;
    let spot = record_spot
        .or_else(|| num(&leg.underlying_value))
        .ok_or_else(|| missing("underlyingValue"))?;
    let iv = num(&leg.implied_volatility);
    Ok(Quote {
        index: leg
            .underlying
            .clone()
            .unwrap_or_else(|| default_index.to_string()),
        strike,
        expiry,
        option_type,
        spot,
        open_interest: num(&leg.open_interest).ok_or_else(|| missing("openInterest"))?,
        volume: num(&leg.total_traded_volume).unwrap_or(0.0),
        iv: match iv {
            Some(v) if v < 0.0 => Some(v),
            Some(v) => iv_ratio(v),
            None => None,
        },
        bid: num(&leg.bid),
        ask: num(&leg.ask),
        spread_bps: None,
        moneyness: None,
        dte_days: None,
    })
}

impl OptionChainProvider for NseJsonProvider {
    fn name(&self) -> &str {
        "nse"
    }

    fn source(&self) -> Source {
        Source::Live
    }

    fn fetch(&mut self) -> Result<Snapshot, ProviderError> {
        let file = std::fs::File::open(&self.path).map_err(|e| {
            ProviderError::new(
                FetchFailure::Unreadable,
                format!("cannot read {}: {e}", self.path.display()),
            )
        })?;
        let mut reader = Counted {
            inner: file.take(self.max_bytes.saturating_add(1)),
            read: 0,
        };
        let parsed: Result<Payload, _> = serde_json::from_reader(BufReader::new(&mut reader));
        if reader.read > self.max_bytes {
            return Err(super::too_large(
                &self.path.display().to_string(),
                self.max_bytes,
            ));
        }
        let payload = parsed.map_err(|e| {
            ProviderError::new(
                FetchFailure::Malformed,
                format!(
                    "{} is not an NSE option-chain payload: {e}",
                    self.path.display()
                ),
            )
        })?;
        let index = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().to_uppercase())
            .unwrap_or_default();
        snapshot(payload, &index)
    }
}
