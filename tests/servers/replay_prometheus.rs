//! The backfill against a real Prometheus: a history stored as Parquet is replayed
//! with `g6 replay --openmetrics`, loaded with `promtool tsdb create-blocks-from
//! openmetrics` into a fresh TSDB, and Prometheus started on it answers `query_range`
//! at the snapshots' own times with exactly what live aggregation and analytics
//! compute for those snapshots.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use common::prometheus::{encode, Prometheus};
use common::replay::{history, of_index, T0};
use g6_metrics::labels::{Dte, Mny, PcrBasis};
use g6_metrics::option_chain::aggregate::Aggregator;
use g6_metrics::option_chain::analytics;
use g6_metrics::store::parquet::ParquetStore;
use std::collections::BTreeMap;
use std::process::Command;

const SNAPSHOTS: usize = 6;
const STEP: i64 = 60;

/// `query_range` over the fixture's times: series labels -> (time, value).
/// A range-query series: its labels and (time, value) points.
type RangeSeries = (BTreeMap<String, String>, Vec<(i64, f64)>);

fn query_range(prom: &Prometheus, expr: &str) -> Vec<RangeSeries> {
    let end = T0 + STEP * (SNAPSHOTS as i64 - 1);
    let v = prom.api(&format!(
        "/api/v1/query_range?query={}&start={T0}&end={end}&step={STEP}",
        encode(expr)
    ));
    assert_eq!(v["status"], "success", "{expr}: {v}");
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let labels = s["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let values = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p[0].as_f64().unwrap() as i64,
                        p[1].as_str().unwrap().parse::<f64>().unwrap(),
                    )
                })
                .collect();
            (labels, values)
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
#[ignore = "needs promtool and prometheus; scripts/test.sh runs it"]
fn a_promtool_backfill_answers_query_range_with_the_aggregated_values_at_the_snapshot_times() {
    common::require_tool("promtool");
    common::require_tool("prometheus");
    let dir = common::temp_dir("replay-prometheus");
    let history = history(SNAPSHOTS, T0, STEP, None);
    let store_dir = dir.join("store");
    let mut store = ParquetStore::open(&store_dir).unwrap();
    for h in &history {
        store.write(&h.messages).unwrap();
    }
    let om = dir.join("backfill.om");
    let out = Command::new(env!("CARGO_BIN_EXE_g6"))
        .args(["replay", "--from"])
        .arg(format!("parquet:{}", store_dir.display()))
        .args([
            "--start",
            "2024-11-25",
            "--end",
            "2024-11-26",
            "--openmetrics",
        ])
        .arg(&om)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let series: usize = stdout
        .split("wrote ")
        .nth(1)
        .and_then(|r| r.split('(').nth(1))
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("series count in {stdout}"));
    let blocks = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(dir.join("data"))
        .output()
        .unwrap();
    assert!(
        blocks.status.success(),
        "promtool refused the file: {}{}",
        String::from_utf8_lossy(&blocks.stdout),
        String::from_utf8_lossy(&blocks.stderr)
    );
    // Nothing to scrape: the TSDB holds only the backfill. A long retention keeps the
    // 2024 blocks.
    let prom = Prometheus::start_with(
        &dir,
        "127.0.0.1:9",
        &[],
        &["--storage.tsdb.retention.time=30y"],
    );
    let at = T0 + STEP * (SNAPSHOTS as i64 - 1);
    prom.wait_for(
        "the backfilled series",
        std::time::Duration::from_secs(30),
        || {
            let v = prom.api(&format!(
                "/api/v1/query?query={}&time={at}",
                encode("count({source=\"replay\"})")
            ));
            let n = v["data"]["result"][0]["value"][1]
                .as_str()
                .unwrap_or("0")
                .to_string();
            (n == series.to_string())
                .then_some(())
                .ok_or(format!("{n} series, want {series}"))
        },
    );

    for index in ["NIFTY", "BANKNIFTY"] {
        // What the live aggregator and analytics compute for each snapshot.
        let mut aggregator = Aggregator::new();
        let mut want_oi: BTreeMap<(String, String, i64), f64> = BTreeMap::new();
        let mut want_iv: BTreeMap<(String, String, i64), f64> = BTreeMap::new();
        let mut want_pcr: BTreeMap<(String, i64), f64> = BTreeMap::new();
        let mut want_pain: BTreeMap<(String, i64), f64> = BTreeMap::new();
        for h in &history {
            let one = of_index(&h.snapshot, index);
            let t = one.as_of.unwrap();
            let agg = aggregator.aggregate(&one, t);
            for m in Mny::ALL {
                for d in Dte::ALL {
                    let b = agg.bucket(index, m, d).unwrap();
                    let key = (m.as_str().to_string(), d.as_str().to_string(), t);
                    want_oi.insert(key.clone(), b.open_interest);
                    want_iv.insert(key, b.iv_oi_weighted());
                }
            }
            let a = analytics::of_snapshot(&one, &agg.accepted_rows, t);
            for (dte, b) in &a[index].0 {
                let key = (dte.as_str().to_string(), t);
                want_pcr.insert(key.clone(), b.pcr_oi.unwrap_or(f64::NAN));
                want_pain.insert(key, b.nearest.max_pain.unwrap_or(f64::NAN));
            }
        }
        let oi = query_range(
            &prom,
            &format!("g6_option_open_interest{{index=\"{index}\",source=\"replay\"}}"),
        );
        assert_eq!(oi.len(), 25, "every bucket of {index}");
        let iv = query_range(
            &prom,
            &format!(
                "g6_option_implied_volatility_oi_weighted{{index=\"{index}\",source=\"replay\"}}"
            ),
        );
        for (results, want, what) in [
            (&oi, &want_oi, "open interest"),
            (&iv, &want_iv, "OI-weighted IV"),
        ] {
            for (labels, values) in results {
                assert_eq!(
                    values.len(),
                    SNAPSHOTS,
                    "{what} {labels:?}: one point per snapshot"
                );
                for (t, v) in values {
                    let key = (labels["mny"].clone(), labels["dte"].clone(), *t);
                    let w = want[&key];
                    assert!(
                        close(*v, w),
                        "{what} {index} {key:?}: Prometheus {v}, aggregator {w}"
                    );
                }
            }
        }
        let pcr = query_range(
            &prom,
            &format!(
                "g6_chain_put_call_ratio{{index=\"{index}\",source=\"replay\",pcr_basis=\"{}\"}}",
                PcrBasis::Oi.as_str()
            ),
        );
        let pain = query_range(
            &prom,
            &format!("g6_chain_max_pain_strike{{index=\"{index}\",source=\"replay\"}}"),
        );
        assert!(!pcr.is_empty() && !pain.is_empty());
        for (results, want, what) in [
            (&pcr, &want_pcr, "put-call ratio"),
            (&pain, &want_pain, "max pain"),
        ] {
            let mut checked = 0;
            for (labels, values) in results {
                for (t, v) in values {
                    let key = (labels["dte"].clone(), *t);
                    let w = want[&key];
                    assert!(
                        close(*v, w),
                        "{what} {index} {key:?}: Prometheus {v}, analytics {w}"
                    );
                    checked += 1;
                }
            }
            assert_eq!(
                checked,
                want.len(),
                "{what}: every (bucket, snapshot) point"
            );
        }
    }
}
