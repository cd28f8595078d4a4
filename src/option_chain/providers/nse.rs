//! `nse-json:PATH`: the JSON an NSE option-chain page serves: `records.data[]` with
//! `strikePrice`, `expiryDate` (`28-Nov-2024`) and optional `CE`/`PE` legs carrying
//! `openInterest`, `totalTradedVolume`, `impliedVolatility` (percent; 0 = n/a),
//! `bidprice` (newer payloads: `bidPrice`), `askPrice` and `underlyingValue`. Spot
//! comes from `records.underlyingValue`, else the leg's. Unknown fields are ignored.

use crate::labels::{FetchFailure, SkipReason, Source};
use crate::option_chain::dates;
use crate::option_chain::rows::iv_ratio;
use crate::option_chain::{
    OptionChainProvider, OptionType, ProviderError, Quote, Rejected, Snapshot,
};
use serde_json::Value;
use std::path::PathBuf;

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

fn num(v: &Value, keys: &[&str]) -> Option<f64> {
    keys.iter().find_map(|k| match v.get(*k) {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Parse an NSE payload. `default_index` is used when legs do not name the underlying.
pub fn parse(payload: &Value, default_index: &str) -> Result<Snapshot, ProviderError> {
    let records = payload.get("records").ok_or_else(|| {
        ProviderError::new(
            FetchFailure::Malformed,
            "NSE payload has no `records` object",
        )
    })?;
    let data = records
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ProviderError::new(
                FetchFailure::Malformed,
                "NSE payload has no `records.data` list",
            )
        })?;
    let record_spot = num(records, &["underlyingValue"]);
    let mut snap = Snapshot {
        as_of: text(records, "timestamp").and_then(dates::parse_nse_timestamp),
        rows: Vec::with_capacity(data.len() * 2),
    };
    for entry in data {
        for (leg_key, option_type) in [("CE", OptionType::Call), ("PE", OptionType::Put)] {
            let Some(leg) = entry.get(leg_key) else {
                continue;
            };
            snap.rows.push(leg_quote(
                entry,
                leg,
                option_type,
                record_spot,
                default_index,
            ));
        }
    }
    Ok(snap)
}

fn leg_quote(
    entry: &Value,
    leg: &Value,
    option_type: OptionType,
    record_spot: Option<f64>,
    default_index: &str,
) -> Result<Quote, Rejected> {
    let missing = |f: &str| Rejected {
        reason: SkipReason::MissingField,
        detail: format!("NSE leg without `{f}`"),
    };
    let strike = num(leg, &["strikePrice"])
        .or_else(|| num(entry, &["strikePrice"]))
        .ok_or_else(|| missing("strikePrice"))?;
    let expiry_text = text(leg, "expiryDate")
        .or_else(|| text(entry, "expiryDate"))
        .ok_or_else(|| missing("expiryDate"))?;
    let expiry = dates::parse_expiry(expiry_text).ok_or_else(|| Rejected {
        reason: SkipReason::BadExpiry,
        detail: format!("unparsable expiryDate {expiry_text:?}"),
    })?;
    let spot = record_spot
        .or_else(|| num(leg, &["underlyingValue"]))
        .ok_or_else(|| missing("underlyingValue"))?;
    let iv = num(leg, &["impliedVolatility"]);
    Ok(Quote {
        index: text(leg, "underlying").unwrap_or(default_index).to_string(),
        strike,
        expiry,
        option_type,
        spot,
        open_interest: num(leg, &["openInterest"]).ok_or_else(|| missing("openInterest"))?,
        volume: num(leg, &["totalTradedVolume"]).unwrap_or(0.0),
        iv: match iv {
            Some(v) if v < 0.0 => Some(v),
            Some(v) => iv_ratio(v),
            None => None,
        },
        bid: num(leg, &["bidprice", "bidPrice"]),
        ask: num(leg, &["askPrice", "askprice"]),
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
        let text = super::read_capped(&self.path, self.max_bytes)?;
        let payload: Value = serde_json::from_str(&text).map_err(|e| {
            ProviderError::new(
                FetchFailure::Malformed,
                format!("{} is not valid JSON: {e}", self.path.display()),
            )
        })?;
        let index = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().to_uppercase())
            .unwrap_or_default();
        parse(&payload, &index)
    }
}
