//! Turning loosely typed rows (CSV, JSON lines, command output) into [`Quote`]s.
//!
//! Column names follow the provider contract with the aliases the original accepted:
//! `index|symbol|underlying_symbol`, `strike`, `expiry`, `type|option_type`,
//! `spot|underlying`, `oi|open_interest`, `volume|volume_24h`, `iv`, `bid`, `ask`,
//! `spread_bps`, `mny|moneyness`, `dte_days`, and an optional `as_of` snapshot time.
//! `iv` above 3 is read as percent (12.5 -> 0.125); 0 means "not available".

use super::dates;
use super::{OptionType, Quote, Rejected};
use crate::labels::SkipReason;

/// A row as field name -> text.
pub type FieldMap<'a> = Vec<(&'a str, String)>;

fn field<'a>(row: &'a [(&str, String)], names: &[&str]) -> Option<&'a str> {
    row.iter()
        .find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("null"))
}

fn reject(reason: SkipReason, detail: String) -> Rejected {
    Rejected { reason, detail }
}

fn number(row: &[(&str, String)], names: &[&str], required: bool) -> Result<Option<f64>, Rejected> {
    match field(row, names) {
        None if required => Err(reject(
            SkipReason::MissingField,
            format!("missing `{}`", names[0]),
        )),
        None => Ok(None),
        Some(v) => match v.parse::<f64>() {
            Ok(n) => Ok(Some(n)),
            Err(_) => Err(reject(
                SkipReason::InvalidNumber,
                format!("`{}` is not a number: {v:?}", names[0]),
            )),
        },
    }
}

/// IV as a ratio: values above 3 are percent; 0 or negative means "not available"
/// (negative values are rejected later as negative).
pub fn iv_ratio(raw: f64) -> Option<f64> {
    if raw == 0.0 {
        None
    } else if raw > 3.0 {
        Some(raw / 100.0)
    } else {
        Some(raw)
    }
}

/// Parse one row. `default_index` names the index when the row does not.
pub fn parse_row(row: &[(&str, String)], default_index: &str) -> Result<Quote, Rejected> {
    let index = field(row, &["index", "symbol", "underlying_symbol"])
        .unwrap_or(default_index)
        .to_string();
    let strike = number(row, &["strike", "strikePrice"], true)?.unwrap_or_default();
    let expiry_text = field(row, &["expiry", "expiryDate", "expiry_date"])
        .ok_or_else(|| reject(SkipReason::MissingField, "missing `expiry`".into()))?;
    let expiry = dates::parse_expiry(expiry_text).ok_or_else(|| {
        reject(
            SkipReason::BadExpiry,
            format!("unparsable expiry {expiry_text:?}"),
        )
    })?;
    let type_text = field(row, &["type", "option_type"])
        .ok_or_else(|| reject(SkipReason::MissingField, "missing `type` (CE/PE)".into()))?;
    let option_type = OptionType::parse(type_text).ok_or_else(|| {
        reject(
            SkipReason::MissingField,
            format!("`type` is {type_text:?}, expected CE or PE"),
        )
    })?;
    let spot = number(row, &["spot", "underlying", "underlyingValue"], true)?.unwrap_or_default();
    let open_interest =
        number(row, &["oi", "open_interest", "openInterest"], true)?.unwrap_or_default();
    let volume = number(row, &["volume", "volume_24h", "totalTradedVolume"], false)?.unwrap_or(0.0);
    let iv = number(row, &["iv", "impliedVolatility"], false)?;
    Ok(Quote {
        index,
        strike,
        expiry,
        option_type,
        spot,
        open_interest,
        volume,
        iv: match iv {
            Some(v) if v < 0.0 || v.is_nan() => Some(v),
            Some(v) => iv_ratio(v),
            None => None,
        },
        bid: number(row, &["bid", "bidprice", "bidPrice"], false)?,
        ask: number(row, &["ask", "askPrice", "askprice"], false)?,
        spread_bps: number(row, &["spread_bps"], false)?,
        moneyness: number(row, &["mny", "moneyness"], false)?,
        dte_days: number(row, &["dte_days", "dte"], false)?,
    })
}

/// The `as_of` of a row, if it has one.
pub fn row_as_of(row: &[(&str, String)]) -> Option<i64> {
    field(row, &["as_of", "timestamp"]).and_then(dates::parse_timestamp)
}

/// A JSON object as a row (numbers and strings; other values ignored).
pub fn json_row(v: &serde_json::Value) -> Option<Vec<(&str, String)>> {
    let obj = v.as_object()?;
    Some(
        obj.iter()
            .filter_map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Null => return None,
                    serde_json::Value::Bool(b) => b.to_string(),
                    _ => return None,
                };
                Some((k.as_str(), text))
            })
            .collect(),
    )
}
