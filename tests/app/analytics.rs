//! Chain analytics on the runner's real path: a `file:` fixture (tests/fixtures/chains/
//! bus.csv, as of 2024-11-25 10:00 UTC) gives the hand-computed put-call ratios, max
//! pain, ATM IV and open-interest change per index and expiry bucket; a value that
//! cannot be computed is NaN.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use g6_metrics::labels::Source;
use g6_metrics::option_chain::providers::{from_spec, ProviderLimits};
use g6_metrics::option_chain::runner::Runner;
use g6_metrics::option_chain::{OptionChainProvider, ProviderError, Snapshot};
use std::path::Path;

const AS_OF: f64 = 1_732_528_800.0;

/// The fixture; open interest doubled from the second fetch on.
struct Growing {
    inner: Box<dyn OptionChainProvider>,
    fetches: u32,
}

impl OptionChainProvider for Growing {
    fn name(&self) -> &str {
        "file"
    }
    fn source(&self) -> Source {
        Source::Replay
    }
    fn fetch(&mut self) -> Result<Snapshot, ProviderError> {
        let mut s = self.inner.fetch()?;
        if self.fetches > 0 {
            for q in s.rows.iter_mut().flatten() {
                q.open_interest *= 2.0;
            }
        }
        self.fetches += 1;
        Ok(s)
    }
}

fn get(name: &str, labels: &[(&str, &str)]) -> f64 {
    common::value(name, labels).unwrap_or_else(|| panic!("{name} {labels:?} has no series"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn the_fixture_gives_the_hand_computed_analytics_per_index_and_expiry_bucket() {
    common::in_own_process(
        module_path!(),
        "the_fixture_gives_the_hand_computed_analytics_per_index_and_expiry_bucket",
        || {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let inner = from_spec(
                &format!(
                    "file:{}",
                    root.join("tests/fixtures/chains/bus.csv").display()
                ),
                ProviderLimits::default(),
            )
            .unwrap();
            let mut runner = Runner::new(Box::new(Growing { inner, fetches: 0 }), false);
            runner.tick_at(AS_OF + 30.0);
            let nifty_short = [("index", "NIFTY"), ("dte", "short"), ("source", "replay")];
            let with = |base: &[(&'static str, &'static str)],
                        extra: (&'static str, &'static str)| {
                let mut v = base.to_vec();
                v.push(extra);
                v
            };
            // NIFTY 2024-11-28 (3 days: short). Calls 24000/24100/24200 OI 1500/900/700,
            // volume 320/150/60; puts 24000/24100 OI 2100/1000, volume 410/90.
            // PCR by OI: 3100 / 3100 = 1. By volume: 500 / 530.
            assert!(close(
                get(
                    "g6_chain_put_call_ratio",
                    &with(&nifty_short, ("pcr_basis", "oi"))
                ),
                1.0
            ));
            assert!(close(
                get(
                    "g6_chain_put_call_ratio",
                    &with(&nifty_short, ("pcr_basis", "volume"))
                ),
                500.0 / 530.0
            ));
            // Payout at 24000: puts 1000*100 = 100000; at 24100: calls 1500*100 = 150000;
            // at 24200: calls 1500*200 + 900*100 = 390000. Max pain: 24000.
            assert_eq!(get("g6_chain_max_pain_strike", &nifty_short), 24000.0);
            // Strike IVs: 24100 -> .14 (the put alone), 24200 -> .1175 (the call alone).
            // At spot 24100.5: .14 + (.1175 - .14) * 0.5/100 = .1398875.
            assert!(close(
                get("g6_chain_atm_implied_volatility", &nifty_short),
                0.1398875
            ));
            // Put IV at 0.95 spot (22895.5) is below every put strike: no skew.
            assert!(get("g6_chain_iv_skew", &nifty_short).is_nan());
            // NIFTY 2024-12-26 (31 days: long): puts 450 over calls 300 (the strike-0 row
            // is rejected) = 1.5.
            let nifty_long = [
                ("index", "NIFTY"),
                ("dte", "long"),
                ("source", "replay"),
                ("pcr_basis", "oi"),
            ];
            assert!(close(get("g6_chain_put_call_ratio", &nifty_long), 1.5));
            // BANKNIFTY 2024-11-27: one strike, puts 300 over calls 100; max pain is it.
            let bank = [
                ("index", "BANKNIFTY"),
                ("dte", "short"),
                ("source", "replay"),
            ];
            assert!(close(
                get("g6_chain_put_call_ratio", &with(&bank, ("pcr_basis", "oi"))),
                3.0
            ));
            assert_eq!(get("g6_chain_max_pain_strike", &bank), 52000.0);
            // The first snapshot is the baseline.
            let change = |side: &'static str| {
                get(
                    "g6_chain_open_interest_change",
                    &[("index", "NIFTY"), ("side", side), ("source", "replay")],
                )
            };
            assert_eq!((change("call"), change("put")), (0.0, 0.0));
            // Open interest doubles: NIFTY calls 1500+900+700+300 = 3400 more, puts
            // 2100+1000+450 = 3550 more. Ratios do not move.
            runner.tick_at(AS_OF + 60.0);
            assert_eq!((change("call"), change("put")), (3400.0, 3550.0));
            assert!(close(get("g6_chain_put_call_ratio", &nifty_long), 1.5));
        },
    );
}
