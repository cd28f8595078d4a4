//! A synthetic chain for benchmarks, shared by the option-chain and bus benches.

use g6_metrics::option_chain::dates::DAY;
use g6_metrics::option_chain::{OptionType, Quote, Snapshot};

/// `contracts` rows over 4 indices x 10 expiries, strikes spread around spot, CE/PE.
pub fn snapshot(contracts: usize) -> Snapshot {
    let as_of = 1_900_000_000;
    let per_expiry = contracts / 40 / 2;
    let mut rows = Vec::with_capacity(contracts);
    for (i, (index, spot, step)) in [
        ("NIFTY", 24_000.0, 50.0),
        ("BANKNIFTY", 52_000.0, 100.0),
        ("FINNIFTY", 23_500.0, 50.0),
        ("MIDCPNIFTY", 12_000.0, 25.0),
    ]
    .into_iter()
    .enumerate()
    {
        for e in 0..10 {
            let expiry = as_of + (e * 9 + i as i64) * DAY / 2 + 3600;
            for k in 0..per_expiry {
                // Fractional strikes beyond the listed range keep every key distinct.
                let offset = k as f64 - per_expiry as f64 / 2.0;
                let strike: f64 = spot + offset * step / 10.0;
                for option_type in [OptionType::Call, OptionType::Put] {
                    rows.push(Ok(Quote {
                        index: index.to_string(),
                        strike,
                        expiry,
                        option_type,
                        spot,
                        open_interest: 1000.0 + (offset * offset) % 5000.0,
                        volume: 500.0,
                        iv: Some(0.12 + 0.000_01 * (offset * offset) % 0.3),
                        bid: Some(10.0),
                        ask: Some(10.5),
                        spread_bps: None,
                        moneyness: None,
                        dte_days: None,
                    }));
                }
            }
        }
    }
    Snapshot {
        as_of: Some(as_of),
        rows,
    }
}
