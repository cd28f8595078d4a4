//! The bus message: one [`ChainMessage`] per (index, expiry) per snapshot, in the
//! protobuf encoding of `proto/g6_chain.proto` (the schema other languages read; a
//! test decodes our bytes with `protoc` against it). Protobuf was chosen over JSON by
//! `benches/bus.rs`: see BENCHMARKS.md. [`JsonMessage`] is the readable form
//! `g6 tail --json` prints.

use crate::labels::Source;
use crate::option_chain::{dates, OptionType, Quote, Snapshot};
use prost::Message as _;
use std::collections::HashMap;

/// Schema version written into every message (`schema_version`).
pub const SCHEMA_VERSION: u32 = 1;

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
    /// The contract of a quote.
    pub fn of(q: &Quote) -> Self {
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
        }
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
    /// The protobuf bytes: exactly what `prost` writes (a test compares them byte for
    /// byte), into one allocation of the exact size. Hand-written because it is the
    /// bus's hot path and the collector shares two cores with the NATS server:
    /// `prost` walks every contract three times (message length, nested length,
    /// write); `benches/bus.rs` (`bus_encoding`) measured this 1.1x to 1.5x faster.
    pub fn to_bytes(&self) -> Vec<u8> {
        // The exact size first: one allocation, no page touched twice.
        let contracts: usize = self
            .contracts
            .iter()
            .map(|c| {
                let n = c.encoded_size();
                1 + varint_len(n as u64) + n
            })
            .sum();
        let header = 64 + self.index.len() + self.expiry.len() + self.provider.len();
        let mut out = Vec::with_capacity(header + contracts);
        varint_field(&mut out, 0x08, u64::from(self.schema_version));
        string_field(&mut out, 0x12, &self.index);
        varint_field(&mut out, 0x18, self.snapshot_id);
        varint_field(&mut out, 0x20, self.as_of_ms as u64);
        string_field(&mut out, 0x2a, &self.expiry);
        varint_field(&mut out, 0x30, self.expiry_unix as u64);
        double_field(&mut out, 0x39, self.spot);
        varint_field(&mut out, 0x40, self.source as i64 as u64);
        string_field(&mut out, 0x4a, &self.provider);
        varint_field(&mut out, 0x50, u64::from(self.part));
        varint_field(&mut out, 0x58, u64::from(self.parts));
        for c in &self.contracts {
            out.push(0x62);
            varint(&mut out, c.encoded_size() as u64);
            double_field(&mut out, 0x09, c.strike);
            varint_field(&mut out, 0x10, c.option_type as i64 as u64);
            double_field(&mut out, 0x19, c.open_interest);
            double_field(&mut out, 0x21, c.volume);
            for (key, v) in [
                (0x29, c.iv),
                (0x31, c.bid),
                (0x39, c.ask),
                (0x41, c.spread_bps),
                (0x49, c.moneyness),
                (0x51, c.dte_days),
            ] {
                if let Some(v) = v {
                    out.push(key);
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        out
    }

    /// The bytes as `prost` writes them (the reference for [`Self::to_bytes`]).
    pub fn to_bytes_prost(&self) -> Vec<u8> {
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

impl Contract {
    /// The encoded size of the contract's fields (proto3: a zero scalar is not
    /// written; an optional one is whenever present).
    fn encoded_size(&self) -> usize {
        let scalar = |v: f64| if v != 0.0 { 9 } else { 0 };
        let optional = [
            self.iv,
            self.bid,
            self.ask,
            self.spread_bps,
            self.moneyness,
            self.dte_days,
        ]
        .iter()
        .filter(|v| v.is_some())
        .count()
            * 9;
        let kind = if self.option_type != 0 {
            1 + varint_len(self.option_type as i64 as u64)
        } else {
            0
        };
        scalar(self.strike) + scalar(self.open_interest) + scalar(self.volume) + kind + optional
    }
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A varint field, left out when 0 (proto3).
fn varint_field(out: &mut Vec<u8>, key: u8, v: u64) {
    if v != 0 {
        out.push(key);
        varint(out, v);
    }
}

/// A double field, left out when 0 (proto3; NaN is written).
fn double_field(out: &mut Vec<u8>, key: u8, v: f64) {
    if v != 0.0 {
        out.push(key);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// A string field, left out when empty (proto3).
fn string_field(out: &mut Vec<u8>, key: u8, s: &str) {
    if !s.is_empty() {
        out.push(key);
        varint(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
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
    let mut groups: Vec<(usize, i64, f64, Vec<Contract>)> = Vec::new();
    let mut by_key: HashMap<(&str, i64), usize, foldhash::fast::RandomState> = HashMap::default();
    let mut indices: Vec<&str> = Vec::new();
    let mut last: Option<((&str, i64), usize)> = None;
    for &row in rows {
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
        groups[g].3.push(Contract::of(q));
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
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract(i: u64) -> Contract {
        let pick = |bit: u64, v: f64| (i >> bit & 1 == 1).then_some(v);
        Contract {
            strike: [0.0, 24_000.0, -0.0, f64::NAN, 1e-300][(i % 5) as usize],
            option_type: [0, 1, 2, 7, -1][(i / 5 % 5) as usize],
            open_interest: [0.0, 1.0, 1e12][(i % 3) as usize],
            volume: [0.0, 42.5][(i % 2) as usize],
            iv: pick(1, 0.0),
            bid: pick(2, 10.5),
            ask: pick(3, f64::INFINITY),
            spread_bps: pick(4, -3.0),
            moneyness: pick(5, 0.01),
            dte_days: pick(6, 3.5),
        }
    }

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

    #[test]
    fn the_hand_written_encoder_writes_exactly_what_prost_writes() {
        for i in 0..400u64 {
            let m = ChainMessage {
                schema_version: (i % 3) as u32,
                index: if i % 7 == 0 {
                    String::new()
                } else {
                    "NIFTY 50".into()
                },
                snapshot_id: [0, 1, 127, 128, u64::MAX][(i % 5) as usize],
                as_of_ms: [0, -1, 1_900_000_000_000, i64::MIN][(i % 4) as usize],
                expiry: "2026-11-27".into(),
                expiry_unix: [0, -5, 1_795_000_000][(i % 3) as usize],
                spot: [0.0, 24_100.5, f64::NAN][(i % 3) as usize],
                source: [0, 1, 2, 3, -2][(i % 5) as usize],
                provider: "p".repeat((i % 200) as usize),
                part: (i % 2) as u32,
                parts: (i % 3) as u32,
                contracts: (0..(i % 130)).map(|k| contract(i * 131 + k)).collect(),
            };
            assert_eq!(m.to_bytes(), m.to_bytes_prost(), "message {i}");
        }
    }
}
