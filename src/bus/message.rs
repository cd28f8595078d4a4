//! The bus message: one [`ChainMessage`] per (index, expiry) per snapshot, in the
//! protobuf encoding of `proto/g6_chain.proto` (the schema other languages read; a
//! test decodes our bytes with `protoc` against it). Protobuf was chosen over JSON by
//! `benches/bus.rs`: see BENCHMARKS.md. [`JsonMessage`] is the readable form
//! `g6 tail --json` prints.

use crate::labels::Source;
use crate::option_chain::exposure::PricedRows;
use crate::option_chain::pricing::{Priced, INDIA};
use crate::option_chain::{dates, OptionType, Quote, Snapshot};
use prost::Message as _;
use std::collections::HashMap;

/// Schema version written into every message (`schema_version`). 2 added each
/// contract's Greeks (`delta`, `gamma`, `vega`, `theta`); a version-1 message reads
/// with them absent.
pub const SCHEMA_VERSION: u32 = 2;

/// Most contracts in one message; an expiry with more is split into parts. 4,096
/// contracts encode to about 200 KiB, well under NATS's default 1 MiB `max_payload`.
pub const MAX_CONTRACTS_PER_MESSAGE: usize = 4096;

/// One expiry of one index in one snapshot (`g6.chain.v1.ChainMessage`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChainMessage {
    /// Schema version ([`SCHEMA_VERSION`]).
    #[prost(uint32, tag = "1")]
    pub schema_version: u32,
    /// Underlying index symbol.
    #[prost(string, tag = "2")]
    pub index: String,
    /// Unique and strictly increasing per index (microseconds at the fetch).
    #[prost(uint64, tag = "3")]
    pub snapshot_id: u64,
    /// The time the data describes, Unix milliseconds.
    #[prost(int64, tag = "4")]
    pub as_of_ms: i64,
    /// Expiry date, `YYYY-MM-DD`.
    #[prost(string, tag = "5")]
    pub expiry: String,
    /// Expiry instant, Unix seconds.
    #[prost(int64, tag = "6")]
    pub expiry_unix: i64,
    /// Underlying spot price.
    #[prost(double, tag = "7")]
    pub spot: f64,
    /// Where the data came from ([`WireSource`]).
    #[prost(enumeration = "WireSource", tag = "8")]
    pub source: i32,
    /// Provider name.
    #[prost(string, tag = "9")]
    pub provider: String,
    /// 0-based part of a split expiry.
    #[prost(uint32, tag = "10")]
    pub part: u32,
    /// Number of parts of this (index, expiry, snapshot id).
    #[prost(uint32, tag = "11")]
    pub parts: u32,
    /// The contracts, in the provider's row order.
    #[prost(message, repeated, tag = "12")]
    pub contracts: Vec<Contract>,
}

/// One contract (`g6.chain.v1.Contract`).
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Contract {
    /// Strike price.
    #[prost(double, tag = "1")]
    pub strike: f64,
    /// Call or put ([`WireOptionType`]).
    #[prost(enumeration = "WireOptionType", tag = "2")]
    pub option_type: i32,
    /// Open interest.
    #[prost(double, tag = "3")]
    pub open_interest: f64,
    /// Traded volume.
    #[prost(double, tag = "4")]
    pub volume: f64,
    /// Implied volatility as a ratio.
    #[prost(double, optional, tag = "5")]
    pub iv: Option<f64>,
    /// Best bid.
    #[prost(double, optional, tag = "6")]
    pub bid: Option<f64>,
    /// Best ask.
    #[prost(double, optional, tag = "7")]
    pub ask: Option<f64>,
    /// Spread in basis points of mid, when the provider computed it.
    #[prost(double, optional, tag = "8")]
    pub spread_bps: Option<f64>,
    /// Signed moneyness, when the provider computed it.
    #[prost(double, optional, tag = "9")]
    pub moneyness: Option<f64>,
    /// Fractional days to expiry, when the provider computed it.
    #[prost(double, optional, tag = "10")]
    pub dte_days: Option<f64>,
    /// Delta (schema 2; see `option_chain::pricing` for the conventions).
    #[prost(double, optional, tag = "11")]
    pub delta: Option<f64>,
    /// Gamma, per unit of the spot.
    #[prost(double, optional, tag = "12")]
    pub gamma: Option<f64>,
    /// Vega, per volatility point.
    #[prost(double, optional, tag = "13")]
    pub vega: Option<f64>,
    /// Theta, per calendar day.
    #[prost(double, optional, tag = "14")]
    pub theta: Option<f64>,
}

/// `g6.chain.v1.Source`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum WireSource {
    /// Not set (never written by G6).
    Unspecified = 0,
    /// Live market data.
    Live = 1,
    /// Replayed from the store.
    Replay = 2,
    /// Generated: not market data.
    Synthetic = 3,
}

/// `g6.chain.v1.OptionType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum WireOptionType {
    /// Not set (never written by G6).
    Unspecified = 0,
    /// Call.
    Ce = 1,
    /// Put.
    Pe = 2,
}

impl From<Source> for WireSource {
    fn from(s: Source) -> Self {
        // By the label text: a spec may carry more sources than the schema knows.
        match s.as_str() {
            "live" => WireSource::Live,
            "replay" => WireSource::Replay,
            "synthetic" => WireSource::Synthetic,
            _ => WireSource::Unspecified,
        }
    }
}

impl From<OptionType> for WireOptionType {
    fn from(t: OptionType) -> Self {
        match t {
            OptionType::Call => WireOptionType::Ce,
            OptionType::Put => WireOptionType::Pe,
        }
    }
}

impl WireSource {
    /// The `source` label value (`live`, `replay`, `synthetic`; `unspecified`).
    pub fn label(self) -> &'static str {
        match self {
            WireSource::Unspecified => "unspecified",
            WireSource::Live => "live",
            WireSource::Replay => "replay",
            WireSource::Synthetic => "synthetic",
        }
    }
}

impl WireOptionType {
    /// `CE`, `PE` (or `?` when unset).
    pub fn label(self) -> &'static str {
        match self {
            WireOptionType::Unspecified => "?",
            WireOptionType::Ce => "CE",
            WireOptionType::Pe => "PE",
        }
    }
}

impl Contract {
    /// The contract of a quote, with its Greeks at `as_of` (Unix seconds).
    pub fn of(q: &Quote, as_of: i64) -> Self {
        let priced = crate::option_chain::exposure::priced(q, as_of, INDIA);
        Self::of_priced(q, priced.as_ref())
    }

    /// The contract of a quote with its IV and Greeks already worked out (`None`: it
    /// has none).
    pub fn of_priced(q: &Quote, priced: Option<&Priced>) -> Self {
        let greeks = priced.map(|p| p.greeks);
        Contract {
            strike: q.strike,
            option_type: WireOptionType::from(q.option_type) as i32,
            open_interest: q.open_interest,
            volume: q.volume,
            iv: q.iv,
            bid: q.bid,
            ask: q.ask,
            spread_bps: q.spread_bps,
            moneyness: q.moneyness,
            dte_days: q.dte_days,
            delta: greeks.map(|g| g.delta),
            gamma: greeks.map(|g| g.gamma),
            vega: greeks.map(|g| g.vega),
            theta: greeks.map(|g| g.theta),
        }
    }

    /// Set the Greeks at `spot`, expiry `expiry` and time `as_of` (Unix seconds): at
    /// the contract's IV, or the one solved from its mid; none without either or at
    /// expiry. (A replay of data stored before schema 2 gets them this way too.)
    pub fn set_greeks(&mut self, spot: f64, expiry: i64, as_of: i64) {
        let Some(kind) = self.kind() else {
            return;
        };
        let quote = Quote {
            index: String::new(),
            strike: self.strike,
            expiry,
            option_type: kind,
            spot,
            open_interest: self.open_interest,
            volume: self.volume,
            iv: self.iv,
            bid: self.bid,
            ask: self.ask,
            spread_bps: None,
            moneyness: None,
            dte_days: None,
        };
        let greeks = crate::option_chain::exposure::priced(&quote, as_of, INDIA).map(|p| p.greeks);
        self.delta = greeks.map(|g| g.delta);
        self.gamma = greeks.map(|g| g.gamma);
        self.vega = greeks.map(|g| g.vega);
        self.theta = greeks.map(|g| g.theta);
    }

    /// Call or put; `None` for a value this version does not know.
    pub fn kind(&self) -> Option<OptionType> {
        match WireOptionType::try_from(self.option_type) {
            Ok(WireOptionType::Ce) => Some(OptionType::Call),
            Ok(WireOptionType::Pe) => Some(OptionType::Put),
            _ => None,
        }
    }
}

impl ChainMessage {
    /// The protobuf bytes (`prost`; a hand-written one-pass encoder measured no
    /// faster than it beyond the noise in `benches/bus.rs`).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode_to_vec()
    }

    /// Decode protobuf bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, prost::DecodeError> {
        ChainMessage::decode(bytes)
    }

    /// Where the data came from.
    pub fn wire_source(&self) -> WireSource {
        WireSource::try_from(self.source).unwrap_or(WireSource::Unspecified)
    }

    /// The subject token of the index ([`subject_token`]; the message itself keeps
    /// the real name).
    pub fn index_token(&self) -> String {
        subject_token(&self.index)
    }

    /// `<prefix>.<INDEX>.<YYYY-MM-DD>`.
    pub fn subject(&self, prefix: &str) -> String {
        format!("{prefix}.{}.{}", self.index_token(), self.expiry)
    }

    /// The idempotency key: `<INDEX>.<YYYY-MM-DD>.<snapshot_id>`, with `.<part>` for
    /// the parts of a split expiry after the first.
    pub fn message_id(&self) -> String {
        let mut id = format!(
            "{}.{}.{}",
            self.index_token(),
            self.expiry,
            self.snapshot_id
        );
        if self.part > 0 {
            id.push_str(&format!(".{}", self.part));
        }
        id
    }

    /// One line for `g6 tail`.
    pub fn summary(&self) -> String {
        let as_of = chrono::DateTime::from_timestamp_millis(self.as_of_ms)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            .unwrap_or_else(|| self.as_of_ms.to_string());
        let part = if self.parts > 1 {
            format!(" part={}/{}", self.part + 1, self.parts)
        } else {
            String::new()
        };
        format!(
            "{} {} snapshot={} as_of={} contracts={} spot={} source={} provider={}{part}",
            self.index,
            self.expiry,
            self.snapshot_id,
            as_of,
            self.contracts.len(),
            self.spot,
            self.wire_source().label(),
            self.provider
        )
    }
}

/// `s` as one NATS subject token, one to one: letters, digits and `-` stay; any
/// other character (`.`, `*`, `>` and whitespace are not allowed in a token; `_` is
/// the escape) becomes `_` and its UTF-8 bytes in hex (`NIFTY 50` -> `NIFTY_2050`),
/// so two index names never share a subject or a message id.
pub fn subject_token(s: &str) -> String {
    let mut t = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '-' {
            t.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                t.push_str(&format!("_{b:02X}"));
            }
        }
    }
    if t.is_empty() {
        "_".into()
    } else {
        t
    }
}

/// The messages of one snapshot, grouped by (index, expiry) in first-appearance order
/// and split at [`MAX_CONTRACTS_PER_MESSAGE`]. `rows` are the positions of the
/// accepted contracts in `snapshot.rows` (`Aggregation::accepted_rows`). Snapshot ids
/// are left 0 for the [`crate::bus::Publisher`] to fill in.
pub fn build(
    snapshot: &Snapshot,
    rows: &[u32],
    as_of_ms: i64,
    source: Source,
    provider: &str,
) -> Vec<ChainMessage> {
    build_priced(snapshot, rows, None, as_of_ms, source, provider)
}

/// [`build`] with the rows' IVs and Greeks already worked out (`priced`, in the order of
/// `rows`); used only when priced at the message's as-of second, else worked out here.
pub fn build_priced(
    snapshot: &Snapshot,
    rows: &[u32],
    priced: Option<&PricedRows>,
    as_of_ms: i64,
    source: Source,
    provider: &str,
) -> Vec<ChainMessage> {
    let as_of = as_of_ms.div_euclid(1000);
    let priced = priced.filter(|p| p.as_of == as_of && p.rows.len() == rows.len());
    let mut groups: Vec<(usize, i64, f64, Vec<Contract>)> = Vec::new();
    let mut by_key: HashMap<(&str, i64), usize, foldhash::fast::RandomState> = HashMap::default();
    let mut indices: Vec<&str> = Vec::new();
    let mut last: Option<((&str, i64), usize)> = None;
    for (n, &row) in rows.iter().enumerate() {
        let Some(Ok(q)) = snapshot.rows.get(row as usize) else {
            continue;
        };
        let key = (q.index.as_str(), q.expiry);
        // Rows arrive grouped: the last group is nearly always the one.
        let g = match last {
            Some((k, g)) if k == key => g,
            _ => {
                let g = *by_key.entry(key).or_insert_with(|| {
                    let index_no = match indices.iter().position(|i| *i == key.0) {
                        Some(n) => n,
                        None => {
                            indices.push(key.0);
                            indices.len() - 1
                        }
                    };
                    groups.push((index_no, q.expiry, q.spot, Vec::new()));
                    groups.len() - 1
                });
                last = Some((key, g));
                g
            }
        };
        groups[g].3.push(match priced {
            Some(p) => Contract::of_priced(q, p.rows.get(n).and_then(Option::as_ref)),
            None => Contract::of(q, as_of),
        });
    }
    let wire_source = WireSource::from(source) as i32;
    let mut out = Vec::with_capacity(groups.len());
    for (index_no, expiry_unix, spot, contracts) in groups {
        let parts = contracts.len().div_ceil(MAX_CONTRACTS_PER_MESSAGE).max(1);
        let expiry = dates::format_date(expiry_unix);
        let mut rest = contracts;
        for part in 0..parts {
            let tail = if rest.len() > MAX_CONTRACTS_PER_MESSAGE {
                rest.split_off(MAX_CONTRACTS_PER_MESSAGE)
            } else {
                Vec::new()
            };
            out.push(ChainMessage {
                schema_version: SCHEMA_VERSION,
                index: indices[index_no].to_string(),
                snapshot_id: 0,
                as_of_ms,
                expiry: expiry.clone(),
                expiry_unix,
                spot,
                source: wire_source,
                provider: provider.to_string(),
                part: part as u32,
                parts: parts as u32,
                contracts: rest,
            });
            rest = tail;
        }
    }
    out
}

/// The readable JSON form of a message (`g6 tail --json`): the same fields, with the
/// source and option type as text.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JsonMessage {
    /// See [`ChainMessage::schema_version`].
    pub schema_version: u32,
    /// See [`ChainMessage::index`].
    pub index: String,
    /// See [`ChainMessage::snapshot_id`].
    pub snapshot_id: u64,
    /// See [`ChainMessage::as_of_ms`].
    pub as_of_ms: i64,
    /// See [`ChainMessage::expiry`].
    pub expiry: String,
    /// See [`ChainMessage::expiry_unix`].
    pub expiry_unix: i64,
    /// See [`ChainMessage::spot`].
    pub spot: f64,
    /// `live`, `replay` or `synthetic`.
    pub source: String,
    /// See [`ChainMessage::provider`].
    pub provider: String,
    /// See [`ChainMessage::part`].
    pub part: u32,
    /// See [`ChainMessage::parts`].
    pub parts: u32,
    /// The contracts.
    pub contracts: Vec<JsonContract>,
}

/// One contract of a [`JsonMessage`]; absent optional fields are left out.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JsonContract {
    /// Strike price.
    pub strike: f64,
    /// `CE` or `PE`.
    #[serde(rename = "type")]
    pub option_type: String,
    /// Open interest.
    pub oi: f64,
    /// Volume.
    pub volume: f64,
    /// Implied volatility as a ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iv: Option<f64>,
    /// Best bid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid: Option<f64>,
    /// Best ask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask: Option<f64>,
    /// Spread in basis points of mid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread_bps: Option<f64>,
    /// Signed moneyness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moneyness: Option<f64>,
    /// Fractional days to expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dte_days: Option<f64>,
    /// Delta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
    /// Gamma.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
    /// Vega, per volatility point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vega: Option<f64>,
    /// Theta, per calendar day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theta: Option<f64>,
}

impl From<&ChainMessage> for JsonMessage {
    fn from(m: &ChainMessage) -> Self {
        JsonMessage {
            schema_version: m.schema_version,
            index: m.index.clone(),
            snapshot_id: m.snapshot_id,
            as_of_ms: m.as_of_ms,
            expiry: m.expiry.clone(),
            expiry_unix: m.expiry_unix,
            spot: m.spot,
            source: m.wire_source().label().to_string(),
            provider: m.provider.clone(),
            part: m.part,
            parts: m.parts,
            contracts: m
                .contracts
                .iter()
                .map(|c| JsonContract {
                    strike: c.strike,
                    option_type: WireOptionType::try_from(c.option_type)
                        .unwrap_or(WireOptionType::Unspecified)
                        .label()
                        .to_string(),
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
                .collect(),
        }
    }
}

impl From<&JsonMessage> for ChainMessage {
    fn from(m: &JsonMessage) -> Self {
        let source = match m.source.as_str() {
            "live" => WireSource::Live,
            "replay" => WireSource::Replay,
            "synthetic" => WireSource::Synthetic,
            _ => WireSource::Unspecified,
        };
        ChainMessage {
            schema_version: m.schema_version,
            index: m.index.clone(),
            snapshot_id: m.snapshot_id,
            as_of_ms: m.as_of_ms,
            expiry: m.expiry.clone(),
            expiry_unix: m.expiry_unix,
            spot: m.spot,
            source: source as i32,
            provider: m.provider.clone(),
            part: m.part,
            parts: m.parts,
            contracts: m
                .contracts
                .iter()
                .map(|c| Contract {
                    strike: c.strike,
                    option_type: match c.option_type.as_str() {
                        "CE" => WireOptionType::Ce,
                        "PE" => WireOptionType::Pe,
                        _ => WireOptionType::Unspecified,
                    } as i32,
                    open_interest: c.oi,
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
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_tokens_are_one_to_one_and_valid() {
        assert_eq!(subject_token("NIFTY"), "NIFTY");
        assert_eq!(subject_token("NIFTY 50"), "NIFTY_2050");
        assert_eq!(subject_token("NIFTY.50"), "NIFTY_2E50");
        assert_eq!(subject_token("NIFTY_50"), "NIFTY_5F50");
        assert_eq!(subject_token("a*b>c"), "a_2Ab_3Ec");
        assert_eq!(subject_token("é"), "_C3_A9");
        let names = ["A.B", "A_B", "A B", "A_2EB", "A__B", "AB"];
        let tokens: std::collections::HashSet<String> =
            names.iter().map(|n| subject_token(n)).collect();
        assert_eq!(tokens.len(), names.len());
        for t in tokens {
            assert!(!t.contains(['.', '*', '>', ' ']), "{t}");
        }
    }
}
