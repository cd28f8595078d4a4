//! The numbers a person sees on the option-chain dashboard are right.
//!
//! `g6 serve --provider file:tests/fixtures/chains/dashboard_values.csv` is scraped by a
//! real Prometheus; every target of the generated option-chain dashboard (read from
//! generated/) is evaluated as Grafana sends it, with `$index=NIFTY` and
//! `$source=replay` (a file is replayed data), and compared with values computed by hand from the fixture.
//!
//! The hand computation. The fixture is one snapshot as of 2024-11-25 09:00 UTC;
//! expiries are at 15:30 IST (10:00 UTC), so days to expiry are whole days plus one
//! hour. NIFTY spot 24000: strike 22800 is -5% (call: itm), 25200 is +5% (call: otm;
//! put: -5%, itm), 28800 is +20% (call: deep_otm). IV 20 means 20%; IV 0 is "not
//! available"; spread_bps 100 is 1% of mid.
//!
//! | row | strike type | expiry (days) | bucket              | OI  | vol | IV   | spread |
//! |-----|-------------|---------------|---------------------|-----|-----|------|--------|
//! | 1   | 24000 CE    | 11-25 (0.04)  | atm / ultra_short   | 500 | 100 | 0.20 | 100bp  |
//! | 2   | 24000 CE    | 11-28 (3.04)  | atm / short         | 100 | 10  | 0.12 | 20bp   |
//! | 3   | 24000 PE    | 11-28         | atm / short         | 300 | 30  | 0.18 | 40bp   |
//! | 4   | 24000 CE    | 12-10 (15.04) | atm / medium        | 200 | 5   | 0.14 | none   |
//! | 5   | 24000 PE    | 12-10         | atm / medium        | 0   | 0   | none | 60bp   |
//! | 6   | 22800 CE    | 11-28         | itm / short         | 50  | 2   | 0.13 | 30bp   |
//! | 7   | 25200 PE    | 11-28         | itm / short         | 150 | 6   | 0.19 | 10bp   |
//! | 8   | 25200 CE    | 11-28         | otm / short         | 400 | 40  | 0.11 | 80bp   |
//! | 9   | 28800 CE    | 01-24 (60.04) | deep_otm / long     | 20  | 1   | 0.18 | none   |
//!
//! BANKNIFTY (two atm/short contracts, OI 1000 each, IV 0.30 and 0.40) must never
//! show up on the NIFTY view.
//!
//! - Mean IV per bucket: atm/ultra_short 0.20; atm/short (0.12+0.18)/2 = 0.15;
//!   atm/medium 0.14 (row 5 has no IV); itm/short (0.13+0.19)/2 = 0.16; otm/short 0.11;
//!   deep_otm/long 0.18. Every other bucket is empty and shows no value (not 0%).
//! - Mean IV by moneyness, weighted by contracts with an IV: atm (0.20+0.12+0.18+0.14)/4
//!   = 0.16 (the old `avg by (mny)` over five dte buckets said (0.20+0.15+0.14+0+0)/5 =
//!   0.098); itm 0.16; otm 0.11; deep_otm 0.18; deep_itm none.
//! - OI-weighted IV by expiry bucket: short (0.12x100 + 0.18x300 + 0.13x50 + 0.19x150 +
//!   0.11x400) / 1000 = 145/1000 = 0.145; ultra_short 0.20; medium 0.14 (OI 200 with an
//!   IV); long 0.18; leap none.
//! - Mean spread by moneyness, weighted by contracts with a spread: atm (100+20+40+60)/4
//!   = 55bp = 0.0055; itm (30+10)/2 = 20bp = 0.002; otm 0.008; deep_otm none.
//! - Open interest by moneyness: deep_itm 0, itm 200, atm 1100, otm 400, deep_otm 20; by
//!   expiry: ultra_short 500, short 1000, medium 200, long 20, leap 0.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use common::prometheus::{grafana_expr, Prometheus, Series};
use common::{require_tool, Server};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const MNY: [&str; 5] = ["deep_itm", "itm", "atm", "otm", "deep_otm"];
const DTE: [&str; 5] = ["ultra_short", "short", "medium", "long", "leap"];

/// (mny, dte) -> value, for the buckets listed; every other bucket is 0.
fn grid(cells: &[(&str, &str, f64)]) -> BTreeMap<(String, String), f64> {
    let mut out = BTreeMap::new();
    for m in MNY {
        for d in DTE {
            out.insert((m.to_string(), d.to_string()), 0.0);
        }
    }
    for (m, d, v) in cells {
        out.insert((m.to_string(), d.to_string()), *v);
    }
    out
}

/// What a panel must show: one value per series, keyed by its legend labels.
#[derive(Debug)]
enum Expected {
    /// Keyed by one label; only the listed keys may appear.
    By(&'static str, Vec<(&'static str, f64)>),
    /// Keyed by (mny, dte) after the panel's ordering prefix ("3 atm" -> atm).
    Grid(BTreeMap<(String, String), f64>),
}

fn expected() -> Vec<(&'static str, Expected)> {
    use Expected::*;
    let iv_cells = [
        ("atm", "ultra_short", 0.20),
        ("atm", "short", 0.15),
        ("atm", "medium", 0.14),
        ("itm", "short", 0.16),
        ("otm", "short", 0.11),
        ("deep_otm", "long", 0.18),
    ];
    let only = |cells: &[(&str, &str, f64)]| {
        cells
            .iter()
            .map(|(m, d, v)| ((m.to_string(), d.to_string()), *v))
            .collect::<BTreeMap<_, _>>()
    };
    vec![
        (
            "Contracts: moneyness x expiry",
            Grid(grid(&[
                ("atm", "ultra_short", 1.0),
                ("atm", "short", 2.0),
                ("atm", "medium", 2.0),
                ("itm", "short", 2.0),
                ("otm", "short", 1.0),
                ("deep_otm", "long", 1.0),
            ])),
        ),
        (
            "Open interest: moneyness x expiry",
            Grid(grid(&[
                ("atm", "ultra_short", 500.0),
                ("atm", "short", 400.0),
                ("atm", "medium", 200.0),
                ("itm", "short", 200.0),
                ("otm", "short", 400.0),
                ("deep_otm", "long", 20.0),
            ])),
        ),
        (
            "Volume: moneyness x expiry",
            Grid(grid(&[
                ("atm", "ultra_short", 100.0),
                ("atm", "short", 40.0),
                ("atm", "medium", 5.0),
                ("itm", "short", 8.0),
                ("otm", "short", 40.0),
                ("deep_otm", "long", 1.0),
            ])),
        ),
        ("Mean IV: moneyness x expiry", Grid(only(&iv_cells))),
        ("IV smile by expiry bucket", Grid(only(&iv_cells))),
        (
            "Active contracts by moneyness",
            By(
                "mny",
                vec![
                    ("deep_itm", 0.0),
                    ("itm", 2.0),
                    ("atm", 5.0),
                    ("otm", 1.0),
                    ("deep_otm", 1.0),
                ],
            ),
        ),
        (
            "Open interest by moneyness",
            By(
                "mny",
                vec![
                    ("deep_itm", 0.0),
                    ("itm", 200.0),
                    ("atm", 1100.0),
                    ("otm", 400.0),
                    ("deep_otm", 20.0),
                ],
            ),
        ),
        (
            "Open interest by expiry bucket",
            By(
                "dte",
                vec![
                    ("ultra_short", 500.0),
                    ("short", 1000.0),
                    ("medium", 200.0),
                    ("long", 20.0),
                    ("leap", 0.0),
                ],
            ),
        ),
        (
            "Volume by moneyness",
            By(
                "mny",
                vec![
                    ("deep_itm", 0.0),
                    ("itm", 8.0),
                    ("atm", 145.0),
                    ("otm", 40.0),
                    ("deep_otm", 1.0),
                ],
            ),
        ),
        (
            "Mean IV by moneyness (all expiries)",
            By(
                "mny",
                vec![
                    ("itm", 0.16),
                    ("atm", 0.16),
                    ("otm", 0.11),
                    ("deep_otm", 0.18),
                ],
            ),
        ),
        (
            "Contracts with a usable IV by expiry bucket",
            By(
                "dte",
                vec![
                    ("ultra_short", 1.0),
                    ("short", 5.0),
                    ("medium", 1.0),
                    ("long", 1.0),
                    ("leap", 0.0),
                ],
            ),
        ),
        (
            "OI-weighted IV by expiry bucket",
            By(
                "dte",
                vec![
                    ("ultra_short", 0.20),
                    ("short", 0.145),
                    ("medium", 0.14),
                    ("long", 0.18),
                ],
            ),
        ),
        (
            "Open interest with a usable IV by moneyness",
            By(
                "mny",
                vec![
                    ("deep_itm", 0.0),
                    ("itm", 200.0),
                    ("atm", 1100.0),
                    ("otm", 400.0),
                    ("deep_otm", 20.0),
                ],
            ),
        ),
        (
            "Mean spread by moneyness",
            By("mny", vec![("itm", 0.002), ("atm", 0.0055), ("otm", 0.008)]),
        ),
        (
            "Contracts with a two-sided quote by moneyness",
            By(
                "mny",
                vec![
                    ("deep_itm", 0.0),
                    ("itm", 2.0),
                    ("atm", 4.0),
                    ("otm", 1.0),
                    ("deep_otm", 0.0),
                ],
            ),
        ),
    ]
}

/// Strip the ordering prefix the grid and profile panels add ("3 atm" -> "atm").
fn unprefixed(v: &str) -> &str {
    v.split_once(' ').map_or(v, |(_, rest)| rest)
}

fn compare(title: &str, got: &[Series], want: &Expected) -> Result<(), String> {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    match want {
        Expected::By(label, values) => {
            let mut seen: Vec<(String, f64)> = got
                .iter()
                .map(|(l, v)| (l.get(*label).cloned().unwrap_or_default(), *v))
                .collect();
            seen.sort_by(|a, b| a.0.cmp(&b.0));
            let mut wanted: Vec<(String, f64)> =
                values.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            wanted.sort_by(|a, b| a.0.cmp(&b.0));
            let same = seen.len() == wanted.len()
                && seen
                    .iter()
                    .zip(&wanted)
                    .all(|(a, b)| a.0 == b.0 && close(a.1, b.1));
            same.then_some(())
                .ok_or(format!("{title}: got {seen:?}, want {wanted:?}"))
        }
        Expected::Grid(cells) => {
            let mut seen = BTreeMap::new();
            for (labels, v) in got {
                let m = labels
                    .get("mny")
                    .map(|s| unprefixed(s).to_string())
                    .unwrap_or_default();
                let d = labels.get("dte").cloned().unwrap_or_default();
                seen.insert((m, d), *v);
            }
            let same = seen.len() == cells.len()
                && seen
                    .iter()
                    .zip(cells.iter())
                    .all(|(a, b)| a.0 == b.0 && close(*a.1, *b.1));
            same.then_some(())
                .ok_or(format!("{title}: got {seen:?}, want {cells:?}"))
        }
    }
}

#[test]
#[ignore = "needs prometheus; scripts/test.sh runs it"]
fn option_chain_panels_show_the_hand_computed_values_for_one_index() {
    require_tool("prometheus");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard_values");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fixture = root.join("tests/fixtures/chains/dashboard_values.csv");
    let server = Server::start(
        &[
            "--provider",
            &format!("file:{}", fixture.display()),
            "--interval",
            "1s",
        ],
        &[],
    );
    let prom = Prometheus::start(&dir, &server.addr, &[]);
    prom.wait_target_up();

    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("generated/grafana/dashboards/option_chain.json"))
            .unwrap(),
    )
    .unwrap();
    let values: BTreeMap<String, String> = [("index", "NIFTY"), ("source", "replay")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // The variables offer what the data has: both indices; for NIFTY, one source.
    prom.wait_for("index values", Duration::from_secs(30), || {
        let v = prom.api("/api/v1/label/index/values?match[]=g6_option_contracts_active");
        (v["data"] == serde_json::json!(["BANKNIFTY", "NIFTY"]))
            .then_some(())
            .ok_or(format!("{}", v["data"]))
    });

    let panels = dashboard["panels"].as_array().unwrap();
    let mut checked = 0;
    for (title, want) in expected() {
        let panel = panels
            .iter()
            .find(|p| p["title"] == title)
            .unwrap_or_else(|| panic!("no panel {title:?} on the option-chain dashboard"));
        let expr = grafana_expr(
            &dashboard,
            panel["targets"][0]["expr"].as_str().unwrap(),
            &values,
        );
        prom.wait_for(title, Duration::from_secs(20), || {
            let got = prom.query(&expr)?;
            compare(title, &got, &want)
        });
        checked += 1;
    }
    assert_eq!(checked, 15);

    // The grid's rows sort into their natural order (deep ITM first) by the prefix the
    // panel adds, and its columns are ordered the same way.
    let grid = panels
        .iter()
        .find(|p| p["title"] == "Open interest: moneyness x expiry")
        .unwrap();
    let got = prom
        .query(&grafana_expr(
            &dashboard,
            grid["targets"][0]["expr"].as_str().unwrap(),
            &values,
        ))
        .unwrap();
    let mut rows: Vec<String> = got.iter().map(|(l, _)| l["mny"].clone()).collect();
    rows.sort();
    rows.dedup();
    assert_eq!(
        rows,
        ["1 deep_itm", "2 itm", "3 atm", "4 otm", "5 deep_otm"],
        "rows sort in moneyness order"
    );
    let organize = grid["transformations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "organize")
        .unwrap();
    let mut columns: Vec<(u64, String)> = organize["options"]["indexByName"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (v.as_u64().unwrap(), k.clone()))
        .collect();
    columns.sort();
    let columns: Vec<&str> = columns.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(
        columns,
        ["mny\\dte", "ultra_short", "short", "medium", "long", "leap"]
    );
    drop(prom);
    assert!(server.terminate().success());
}
