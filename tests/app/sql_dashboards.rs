//! The generated SQL dashboards against a real ClickHouse: the store writes a `file:`
//! fixture's snapshots, then every variable's and every panel's SQL from the committed
//! dashboard JSON, with Grafana's macros expanded as the plugin does, runs against the
//! server and returns rows; the open-interest panel returns the fixture's numbers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use common::clickhouse::{self, ClickHouse};
use g6_codegen::sql_dashboards::{expand, Expansion};
use g6_metrics::bus::inproc::InProcessBus;
use g6_metrics::bus::{Bus, Publisher};
use g6_metrics::option_chain::providers::{from_spec, ProviderLimits};
use g6_metrics::option_chain::runner::Runner;
use g6_metrics::store::clickhouse::ClickHouseStore;
use g6_metrics::store::{Writer, WriterConfig};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

const FIXTURE: &str = "tests/fixtures/chains/bus.csv";
/// 2024-11-25T10:00:00Z, the fixture's as-of time.
const AS_OF: i64 = 1_732_528_800;

/// Rows of a TabSeparatedWithNames answer: (column names, rows).
fn table(ch: &ClickHouse, sql: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let full = format!("{} FORMAT TabSeparatedWithNames", sql.trim());
    let out = ch
        .query_in("g6", &full)
        .unwrap_or_else(|e| panic!("ClickHouse refused:\n{full}\n{e}"));
    let mut lines = out.lines();
    let names = lines
        .next()
        .unwrap_or_else(|| panic!("no header from:\n{full}"))
        .split('\t')
        .map(str::to_string)
        .collect();
    let rows = lines
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect();
    (names, rows)
}

fn dashboards() -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("generated/grafana/sql_dashboards");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let v = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "no SQL dashboards generated");
    out
}

#[test]
#[ignore = "needs clickhouse-server; scripts/test.sh runs it"]
fn every_sql_dashboard_query_returns_rows_from_a_real_clickhouse_and_oi_matches_the_fixture() {
    common::in_own_process(
        module_path!(),
        "every_sql_dashboard_query_returns_rows_from_a_real_clickhouse_and_oi_matches_the_fixture",
        || {
            clickhouse::require();
            let dir = common::temp_dir("sql_dashboards");
            let ch = ClickHouse::start(&dir);
            check_dashboards(&ch, &ch.url("g6"));
        },
    );
}

#[test]
#[ignore = "needs clickhouse-server; scripts/test.sh runs it"]
fn every_sql_dashboard_query_reads_a_two_shard_cluster_through_its_distributed_table() {
    common::in_own_process(
        module_path!(),
        "every_sql_dashboard_query_reads_a_two_shard_cluster_through_its_distributed_table",
        || {
            clickhouse::require();
            let dir = common::temp_dir("sql_dashboards_cluster");
            let shards = ClickHouse::start_cluster(&[dir.join("a"), dir.join("b")], "two");
            let url = format!(
                "{}?cluster=two&shards={},{}",
                shards[0].url("g6"),
                shards[0].addr(),
                shards[1].addr()
            );
            // The panels run on shard a, against the Distributed option_chain: the
            // same numbers as one server, though the rows are split between shards.
            check_dashboards(&shards[0], &url);
            for s in &shards {
                let local = s.number("SELECT count() FROM g6.option_chain_local");
                assert!(
                    (1..27).contains(&local),
                    "each shard holds part of the 27 rows: {local}"
                );
            }
        },
    );
}

/// Store the fixture's three snapshots at `store_url`, then run every dashboard's
/// variables and panels on `ch` and check their numbers.
fn check_dashboards(ch: &ClickHouse, store_url: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let inner = from_spec(
        &format!("file:{}", root.join(FIXTURE).display()),
        ProviderLimits::default(),
    )
    .unwrap();
    let bus = InProcessBus::new(256);
    let mut sub = bus.subscribe("store");
    let buses: Vec<Arc<dyn Bus>> = vec![bus];
    let mut runner = Runner::new(Box::new(common::Moving::growing(inner)), false)
        .with_publisher(Publisher::new(buses));
    let mut writer: Writer<()> = Writer::new(
        Box::new(ClickHouseStore::open(store_url).unwrap()),
        WriterConfig::default(),
    );
    for i in 0..3 {
        runner.tick_at((AS_OF + 60 * i + 30) as f64);
        while let Ok(m) = sub.try_recv() {
            writer.push(m, ()).expect("a valid message");
        }
        writer.flush(Instant::now()).expect("stored");
    }
    // The data's time and the arrival time (ingested_at is now) both in range.
    let now = chrono::Utc::now().timestamp();
    let base = Expansion {
        from: AS_OF - 3600,
        to: now + 60,
        interval_s: 60,
        variables: Vec::new(),
    };
    let mut panels_run = 0;
    // (panel title, index, expiry) -> rows.
    let mut results: BTreeMap<(String, String, String), Vec<Vec<String>>> = BTreeMap::new();
    for (file, d) in dashboards() {
        let vars = d["templating"]["list"].as_array().unwrap();
        // Every combination of variable values, each from its own query.
        let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
        for v in vars {
            let name = v["name"].as_str().unwrap().to_string();
            let mut next = Vec::new();
            for combo in &combos {
                let e = Expansion {
                    variables: combo.clone(),
                    ..base.clone()
                };
                let (_, rows) = table(ch, &expand(v["query"].as_str().unwrap(), &e));
                assert!(
                    !rows.is_empty(),
                    "{file}: variable {name} has no values for {combo:?}"
                );
                for r in rows {
                    let mut c = combo.clone();
                    c.push((name.clone(), r[0].clone()));
                    next.push(c);
                }
            }
            combos = next;
        }
        if vars.iter().any(|v| v["name"] == "index") {
            let indices: std::collections::BTreeSet<&str> = combos
                .iter()
                .flat_map(|c| {
                    c.iter()
                        .filter(|(n, _)| n == "index")
                        .map(|(_, v)| v.as_str())
                })
                .collect();
            assert_eq!(
                indices.into_iter().collect::<Vec<_>>(),
                ["BANKNIFTY", "NIFTY"]
            );
        }
        for combo in &combos {
            let e = Expansion {
                variables: combo.clone(),
                ..base.clone()
            };
            for p in d["panels"].as_array().unwrap() {
                let title = p["title"].as_str().unwrap();
                let target = &p["targets"][0];
                assert_eq!(
                    target["datasource"]["type"],
                    "grafana-clickhouse-datasource"
                );
                let sql = expand(target["rawSql"].as_str().unwrap(), &e);
                assert!(!sql.contains('$'), "{file}: {title}: unexpanded: {sql}");
                let (names, rows) = table(ch, &sql);
                assert!(
                    !rows.is_empty(),
                    "{file}: panel {title:?} returned no rows for {combo:?}:\n{sql}"
                );
                match p["type"].as_str().unwrap() {
                    "timeseries" => assert_eq!(names[0], "time", "{file}: {title}"),
                    "barchart" | "trend" => {
                        assert_eq!(names[0], "strike", "{file}: {title}")
                    }
                    _ => {}
                }
                panels_run += 1;
                let key = |n: &str| {
                    combo
                        .iter()
                        .find(|(k, _)| k == n)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                results.insert(
                    (title.to_string(), key("index"), key("expiry")),
                    rows.clone(),
                );
            }
        }
    }
    assert!(panels_run >= 5, "{panels_run} panel queries ran");
    let got = |title: &str, index: &str, expiry: &str| -> Vec<Vec<f64>> {
        results
            .get(&(title.to_string(), index.to_string(), expiry.to_string()))
            .unwrap_or_else(|| panic!("{title} did not run for {index} {expiry}"))
            .iter()
            .map(|r| r.iter().map(|v| v.parse().unwrap_or(f64::NAN)).collect())
            .collect()
    };
    // The newest snapshot (the third: open interest x3), calls and puts by strike.
    assert_eq!(
        got(
            "Open interest by strike at the end of the range",
            "NIFTY",
            "2024-11-28"
        ),
        vec![
            vec![24000.0, 4500.0, 6300.0],
            vec![24100.0, 2700.0, 3000.0],
            vec![24200.0, 2100.0, 0.0]
        ]
    );
    // IV as a ratio, by strike, of that snapshot.
    let smile = got("IV smile at the end of the range", "NIFTY", "2024-11-28");
    assert_eq!(smile[0], vec![24000.0, 0.125, 0.1325]);
    // At the money: the strike nearest spot (24100 of 24100.5), calls and puts,
    // one point per snapshot, after the time column.
    let atm: Vec<Vec<f64>> = got(
        "Open interest and volume at the money over time",
        "NIFTY",
        "2024-11-28",
    )
    .into_iter()
    .map(|r| r[1..].to_vec())
    .collect();
    assert_eq!(
        atm,
        vec![
            vec![1900.0, 240.0],
            vec![3800.0, 240.0],
            vec![5700.0, 240.0]
        ]
    );
    // Puts 450 over calls 300 (the strike-0 row is rejected), at every snapshot.
    let pcr: Vec<f64> = got(
        "Put-call open interest ratio over time",
        "NIFTY",
        "2024-12-26",
    )
    .into_iter()
    .map(|r| r[1])
    .collect();
    assert_eq!(pcr, vec![1.5, 1.5, 1.5]);
    // Every stored row arrived within the range.
    let ingested: f64 = got("Rows ingested per minute", "NIFTY", "2024-11-28")
        .iter()
        .map(|r| r[1])
        .sum();
    assert_eq!(ingested, 27.0, "9 contracts x 3 snapshots");
    // The exposure panels give, strike by strike, what the Rust exposure computation
    // (the one behind g6_chain_net_delta and g6_chain_gamma_exposure) gives on the
    // same stored rows.
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
    for (index, expiry) in [
        ("NIFTY", "2024-11-28"),
        ("NIFTY", "2024-12-26"),
        ("BANKNIFTY", "2024-11-27"),
    ] {
        let want = rust_exposure_by_strike(ch, index, expiry);
        assert!(!want.is_empty(), "{index} {expiry}");
        let delta = got("Net delta by strike at the end of the range", index, expiry);
        let gex = got(
            "Dealer gamma exposure by strike at the end of the range",
            index,
            expiry,
        );
        assert_eq!(delta.len(), want.len(), "{index} {expiry}: {delta:?}");
        assert_eq!(gex.len(), want.len(), "{index} {expiry}: {gex:?}");
        for ((w, d), g) in want.iter().zip(&delta).zip(&gex) {
            assert_eq!((d[0], g[0]), (w.0, w.0), "{index} {expiry}: strikes");
            for (what, sql, rust) in [("net delta", d[1], w.1), ("GEX", g[1], w.2)] {
                assert!(
                    close(sql, rust),
                    "{index} {expiry} {}: {what} {sql} vs Rust {rust}",
                    w.0
                );
            }
        }
    }
    // Signs: NIFTY 2024-11-28's 24200 strike has only a call (dealers long gamma:
    // positive GEX); 2024-12-26's 23500 only a put (negative GEX, negative delta).
    let gex = got(
        "Dealer gamma exposure by strike at the end of the range",
        "NIFTY",
        "2024-11-28",
    );
    assert!(gex[2][1] > 0.0, "{gex:?}");
    let gex = got(
        "Dealer gamma exposure by strike at the end of the range",
        "NIFTY",
        "2024-12-26",
    );
    assert_eq!(gex[0][0], 23500.0);
    assert!(gex[0][1] < 0.0, "{gex:?}");
}

/// (strike, net delta, dealer GEX) of the newest stored snapshot of `index` and
/// `expiry`, by `option_chain::exposure` on the stored rows: each contract's IV (or
/// the one solved from its mid), the years from the as-of time to 15:30 IST on the
/// expiry date.
fn rust_exposure_by_strike(ch: &ClickHouse, index: &str, expiry: &str) -> Vec<(f64, f64, f64)> {
    use g6_metrics::option_chain::dates::{parse_expiry, DAY};
    use g6_metrics::option_chain::exposure::{exposure, iv_of, Contract};
    use g6_metrics::option_chain::pricing::INDIA;
    use g6_metrics::option_chain::{OptionType, Quote};
    let (_, rows) = table(
        ch,
        &format!(
            "SELECT strike, type, oi, iv, bid, ask, spot, toUnixTimestamp(as_of) FROM option_chain FINAL \
             WHERE index = '{index}' AND expiry = toDate('{expiry}') AND snapshot_id = \
             (SELECT max(snapshot_id) FROM option_chain WHERE index = '{index}' AND expiry = toDate('{expiry}')) \
             ORDER BY strike, type"
        ),
    );
    let expiry_at = parse_expiry(expiry).unwrap();
    let num = |v: &str| -> Option<f64> { (v != "\\N").then(|| v.parse().unwrap()) };
    let mut by_strike: std::collections::BTreeMap<i64, (f64, f64, f64, Vec<Contract>)> =
        Default::default();
    for r in rows {
        let as_of: i64 = r[7].parse().unwrap();
        let years = (expiry_at - as_of) as f64 / DAY as f64 / 365.0;
        let q = Quote {
            index: index.to_string(),
            strike: num(&r[0]).unwrap(),
            expiry: expiry_at,
            option_type: OptionType::parse(&r[1]).unwrap(),
            spot: num(&r[6]).unwrap(),
            open_interest: num(&r[2]).unwrap(),
            volume: 0.0,
            iv: num(&r[3]),
            bid: num(&r[4]),
            ask: num(&r[5]),
            spread_bps: None,
            moneyness: None,
            dte_days: None,
        };
        let entry =
            by_strike
                .entry(q.strike as i64)
                .or_insert((q.strike, q.spot, years, Vec::new()));
        if let Some(iv) = iv_of(&q, years, INDIA) {
            entry.3.push(Contract {
                strike: q.strike,
                kind: q.option_type,
                oi: q.open_interest,
                iv,
                greeks: None,
            });
        }
    }
    by_strike
        .into_values()
        .map(|(strike, spot, years, contracts)| {
            let e = exposure(&contracts, spot, years, INDIA);
            (strike, e.net_delta, e.gex)
        })
        .collect()
}
