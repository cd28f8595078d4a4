//! The live view's diff and its applier: for any two windows, applying `diff(a, b)` to
//! `a` gives exactly `b` (compared as the JSON a client receives).
#![no_main]

use arbitrary::{Result, Unstructured};
use g6_metrics::live::window::{apply, diff, same_leg_values, Leg, Row, Window};

fn value(u: &mut Unstructured) -> Result<f64> {
    // Finite values (JSON has no NaN), often repeated so that legs stay unchanged.
    Ok(f64::from(u.int_in_range(0u16..=8)?) * 0.5)
}

fn leg(u: &mut Unstructured) -> Result<Option<Leg>> {
    if !u.arbitrary::<bool>()? {
        return Ok(None);
    }
    let opt = |u: &mut Unstructured| -> Result<Option<f64>> {
        Ok(if u.arbitrary::<bool>()? {
            Some(value(u)?)
        } else {
            None
        })
    };
    Ok(Some(Leg {
        oi: value(u)?,
        oi_change: value(u)?,
        volume: value(u)?,
        iv: opt(u)?,
        bid: opt(u)?,
        ask: opt(u)?,
        delta: opt(u)?,
        gamma: opt(u)?,
        vega: opt(u)?,
        theta: opt(u)?,
        updated_ms: i64::from(u.int_in_range(0u8..=3)?),
    }))
}

fn window(u: &mut Unstructured, as_of_ms: i64) -> Result<Window> {
    // Strikes from a small grid, ascending and distinct, like a real window.
    let mut strikes: Vec<u8> = (0..u.int_in_range(0u8..=8)?)
        .map(|_| u.int_in_range(0u8..=12))
        .collect::<Result<_>>()?;
    strikes.sort_unstable();
    strikes.dedup();
    let rows = strikes
        .into_iter()
        .map(|s| {
            Ok(Row {
                strike: 24_000.0 + 50.0 * f64::from(s),
                ce: leg(u)?,
                pe: leg(u)?,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Window {
        index: "NIFTY".into(),
        expiry: "2026-11-26".into(),
        spot: 24_000.0 + value(u)?,
        atm: 24_000.0 + 50.0 * f64::from(u.int_in_range(0u8..=12)?),
        as_of_ms,
        source: if u.arbitrary::<bool>()? {
            "SYNTHETIC".into()
        } else {
            "REPLAY x10".into()
        },
        rows,
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let (Ok(a), Ok(mut b)) = (window(&mut u, 1), window(&mut u, 2)) else {
        return;
    };
    // A leg whose values did not move keeps its time; one that moved has the new one.
    for row in &mut b.rows {
        let before = a.rows.iter().find(|r| r.strike == row.strike);
        for (leg, old) in [
            (&mut row.ce, before.and_then(|r| r.ce.as_ref())),
            (&mut row.pe, before.and_then(|r| r.pe.as_ref())),
        ] {
            if let Some(leg) = leg {
                leg.updated_ms = match old {
                    Some(o) if same_leg_values(o, leg) => o.updated_ms,
                    _ => 2,
                };
            }
        }
    }
    let d = diff(&a, &b);
    let got = apply(&a, &d);
    assert_eq!(
        serde_json::to_value(&got).ok(),
        serde_json::to_value(&b).ok(),
        "apply(a, diff(a, b)) != b"
    );
});
