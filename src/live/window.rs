//! The near-ATM window of one index and expiry, and the diff between two of them.
//! A [`Window`] is what an `event: full` carries; a [`Diff`] is what `event: diff`
//! carries: only the fields that changed, the strikes that entered (whole) and the
//! strikes that left (named). [`apply`] of `diff(a, b)` to `a` gives exactly `b`.

use serde::{Deserialize, Deserializer, Serialize};

/// One leg (call or put) of a strike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Leg {
    /// Open interest.
    pub oi: f64,
    /// Open interest minus the first this session saw for the contract.
    pub oi_change: f64,
    /// Traded volume.
    pub volume: f64,
    /// Implied volatility (a ratio), when known.
    pub iv: Option<f64>,
    /// Best bid, when known.
    pub bid: Option<f64>,
    /// Best ask, when known.
    pub ask: Option<f64>,
    /// Delta (per point of the underlying), when an IV was known or solved.
    #[serde(default)]
    pub delta: Option<f64>,
    /// Gamma (delta per point).
    #[serde(default)]
    pub gamma: Option<f64>,
    /// Vega (premium per volatility point, 0.01).
    #[serde(default)]
    pub vega: Option<f64>,
    /// Theta (premium per calendar day that passes).
    #[serde(default)]
    pub theta: Option<f64>,
    /// As-of time of the snapshot that last changed this leg, ms.
    pub updated_ms: i64,
}

/// One strike of the window: both legs, either may be missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The strike.
    pub strike: f64,
    /// The call.
    pub ce: Option<Leg>,
    /// The put.
    pub pe: Option<Leg>,
}

/// The window: what `event: full` carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Index name.
    pub index: String,
    /// Expiry, `YYYY-MM-DD`.
    pub expiry: String,
    /// Underlying price.
    pub spot: f64,
    /// The strike nearest spot.
    pub atm: f64,
    /// As-of time of the snapshot, ms.
    pub as_of_ms: i64,
    /// Where the data comes from: `SYNTHETIC`, `REPLAY` (with its speed when the
    /// replay gives it, `REPLAY x10`), or the provider's name for market data.
    #[serde(default)]
    pub source: String,
    /// Strikes around the ATM strike, ascending.
    pub rows: Vec<Row>,
}

/// The changed fields of a leg (absent: unchanged; `null` for the optional ones: now
/// unknown). A patched leg's update time is the diff's `as_of_ms` (a leg's time moves
/// exactly when its values do), so it is not repeated per leg.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LegPatch {
    /// New open interest.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub oi: Option<f64>,
    /// New change in open interest.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub oi_change: Option<f64>,
    /// New volume.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub volume: Option<f64>,
    /// New IV.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "present"
    )]
    pub iv: Option<Option<f64>>,
    /// New bid.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "present"
    )]
    pub bid: Option<Option<f64>>,
    /// New ask.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "present"
    )]
    pub ask: Option<Option<f64>>,
    /// New delta.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "present"
    )]
    pub delta: Option<Option<f64>>,
    /// New gamma.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "present"
    )]
    pub gamma: Option<Option<f64>>,
    /// New vega.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "present"
    )]
    pub vega: Option<Option<f64>>,
    /// New theta.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "present"
    )]
    pub theta: Option<Option<f64>>,
}

/// A field that is present, `null` included (`Some(None)`); absence is `None` by
/// `default`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<f64>>, D::Error> {
    Option::<f64>::deserialize(d).map(Some)
}

/// What changed in one leg: a patch, or the whole leg (it appeared), or gone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegChange {
    /// Some fields changed.
    Patch(LegPatch),
    /// The leg appeared: every field.
    Set(Leg),
    /// The leg is gone.
    Removed,
}

/// The changes of one strike that stays in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowChange {
    /// The strike.
    pub strike: f64,
    /// The call's change.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ce: Option<LegChange>,
    /// The put's change.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pe: Option<LegChange>,
}

/// What `event: diff` carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    /// New spot, when it moved.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub spot: Option<f64>,
    /// New ATM strike, when it moved.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub atm: Option<f64>,
    /// The snapshot's as-of time, ms.
    pub as_of_ms: i64,
    /// Where the data comes from (as in [`Window::source`]): every event says it.
    #[serde(default)]
    pub source: String,
    /// Strikes that stay, with what changed.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub changed: Vec<RowChange>,
    /// Strikes that entered the window, whole.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub entered: Vec<Row>,
    /// Strikes that left the window.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub left: Vec<f64>,
}

impl Diff {
    /// True when nothing but the time moved.
    pub fn is_empty(&self) -> bool {
        self.spot.is_none()
            && self.atm.is_none()
            && self.changed.is_empty()
            && self.entered.is_empty()
            && self.left.is_empty()
    }
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits()
}

fn same_opt(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => same(x, y),
        (None, None) => true,
        _ => false,
    }
}

/// Whether two legs hold the same values (bit for bit; the update time aside).
pub fn same_leg_values(a: &Leg, b: &Leg) -> bool {
    same(a.oi, b.oi)
        && same(a.oi_change, b.oi_change)
        && same(a.volume, b.volume)
        && same_opt(a.iv, b.iv)
        && same_opt(a.bid, b.bid)
        && same_opt(a.ask, b.ask)
        && same_opt(a.delta, b.delta)
        && same_opt(a.gamma, b.gamma)
        && same_opt(a.vega, b.vega)
        && same_opt(a.theta, b.theta)
}

fn leg_patch(a: &Leg, b: &Leg) -> Option<LegPatch> {
    let p = LegPatch {
        oi: (!same(a.oi, b.oi)).then_some(b.oi),
        oi_change: (!same(a.oi_change, b.oi_change)).then_some(b.oi_change),
        volume: (!same(a.volume, b.volume)).then_some(b.volume),
        iv: (!same_opt(a.iv, b.iv)).then_some(b.iv),
        bid: (!same_opt(a.bid, b.bid)).then_some(b.bid),
        ask: (!same_opt(a.ask, b.ask)).then_some(b.ask),
        delta: (!same_opt(a.delta, b.delta)).then_some(b.delta),
        gamma: (!same_opt(a.gamma, b.gamma)).then_some(b.gamma),
        vega: (!same_opt(a.vega, b.vega)).then_some(b.vega),
        theta: (!same_opt(a.theta, b.theta)).then_some(b.theta),
    };
    (p != LegPatch::default()).then_some(p)
}

fn leg_change(a: &Option<Leg>, b: &Option<Leg>) -> Option<LegChange> {
    match (a, b) {
        (Some(x), Some(y)) => leg_patch(x, y).map(LegChange::Patch),
        (None, Some(y)) => Some(LegChange::Set(y.clone())),
        (Some(_), None) => Some(LegChange::Removed),
        (None, None) => None,
    }
}

/// What turns `a` into `b` (the same index and expiry).
pub fn diff(a: &Window, b: &Window) -> Diff {
    let mut d = Diff {
        spot: (!same(a.spot, b.spot)).then_some(b.spot),
        atm: (!same(a.atm, b.atm)).then_some(b.atm),
        as_of_ms: b.as_of_ms,
        source: b.source.clone(),
        changed: Vec::new(),
        entered: Vec::new(),
        left: Vec::new(),
    };
    // Both ascending by strike: one merge pass.
    let (mut i, mut j) = (0, 0);
    while i < a.rows.len() || j < b.rows.len() {
        match (a.rows.get(i), b.rows.get(j)) {
            (Some(x), Some(y)) if same(x.strike, y.strike) => {
                let ce = leg_change(&x.ce, &y.ce);
                let pe = leg_change(&x.pe, &y.pe);
                if ce.is_some() || pe.is_some() {
                    d.changed.push(RowChange {
                        strike: y.strike,
                        ce,
                        pe,
                    });
                }
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.strike < y.strike => {
                d.left.push(x.strike);
                i += 1;
            }
            (Some(x), None) => {
                d.left.push(x.strike);
                i += 1;
            }
            (_, Some(y)) => {
                d.entered.push(y.clone());
                j += 1;
            }
            (None, None) => break,
        }
    }
    d
}

fn patch_leg(leg: &mut Leg, p: &LegPatch) {
    if let Some(v) = p.oi {
        leg.oi = v;
    }
    if let Some(v) = p.oi_change {
        leg.oi_change = v;
    }
    if let Some(v) = p.volume {
        leg.volume = v;
    }
    if let Some(v) = p.iv {
        leg.iv = v;
    }
    if let Some(v) = p.bid {
        leg.bid = v;
    }
    if let Some(v) = p.ask {
        leg.ask = v;
    }
    if let Some(v) = p.delta {
        leg.delta = v;
    }
    if let Some(v) = p.gamma {
        leg.gamma = v;
    }
    if let Some(v) = p.vega {
        leg.vega = v;
    }
    if let Some(v) = p.theta {
        leg.theta = v;
    }
}

fn apply_leg(leg: &mut Option<Leg>, c: &LegChange, as_of_ms: i64) {
    match c {
        LegChange::Patch(p) => {
            if let Some(l) = leg.as_mut() {
                patch_leg(l, p);
                l.updated_ms = as_of_ms;
            }
        }
        LegChange::Set(l) => *leg = Some(l.clone()),
        LegChange::Removed => *leg = None,
    }
}

/// `w` with `d` applied (what a client does with each `event: diff`).
pub fn apply(w: &Window, d: &Diff) -> Window {
    let mut out = w.clone();
    if let Some(s) = d.spot {
        out.spot = s;
    }
    if let Some(a) = d.atm {
        out.atm = a;
    }
    out.as_of_ms = d.as_of_ms;
    out.source.clone_from(&d.source);
    out.rows
        .retain(|r| !d.left.iter().any(|s| same(*s, r.strike)));
    for c in &d.changed {
        if let Some(r) = out.rows.iter_mut().find(|r| same(r.strike, c.strike)) {
            if let Some(ce) = &c.ce {
                apply_leg(&mut r.ce, ce, d.as_of_ms);
            }
            if let Some(pe) = &c.pe {
                apply_leg(&mut r.pe, pe, d.as_of_ms);
            }
        }
    }
    out.rows.extend(d.entered.iter().cloned());
    out.rows.sort_by(|a, b| a.strike.total_cmp(&b.strike));
    out
}

/// The rows within `strikes` of the ATM strike on each side, from every strike of
/// the expiry (ascending); the ATM strike is the one nearest `spot` (the lower on a
/// tie).
pub fn window_of(all: &[Row], spot: f64, strikes: usize) -> (f64, Vec<Row>) {
    if all.is_empty() {
        return (0.0, Vec::new());
    }
    let mut atm_at = 0;
    for (k, r) in all.iter().enumerate() {
        if (r.strike - spot).abs() < (all[atm_at].strike - spot).abs() {
            atm_at = k;
        }
    }
    let lo = atm_at.saturating_sub(strikes);
    let hi = (atm_at + strikes + 1).min(all.len());
    (all[atm_at].strike, all[lo..hi].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg(oi: f64, iv: Option<f64>) -> Leg {
        Leg {
            oi,
            oi_change: 0.0,
            volume: 1.0,
            iv,
            bid: None,
            ask: Some(2.0),
            delta: Some(0.5),
            gamma: None,
            vega: Some(10.0),
            theta: Some(-3.0),
            updated_ms: 1,
        }
    }

    fn window(spot: f64, rows: Vec<Row>) -> Window {
        let (atm, rows) = window_of(&rows, spot, 1);
        Window {
            index: "NIFTY".into(),
            expiry: "2026-11-26".into(),
            spot,
            atm,
            as_of_ms: spot as i64,
            source: "SYNTHETIC".into(),
            rows,
        }
    }

    fn row(strike: f64, ce: Option<Leg>, pe: Option<Leg>) -> Row {
        Row { strike, ce, pe }
    }

    #[test]
    fn a_diff_carries_only_changes_and_applying_it_gives_the_next_window() {
        let all_a = vec![
            row(100.0, Some(leg(1.0, Some(0.1))), Some(leg(2.0, None))),
            row(110.0, Some(leg(3.0, Some(0.1))), None),
            row(120.0, Some(leg(4.0, Some(0.1))), Some(leg(5.0, None))),
            row(130.0, None, Some(leg(6.0, None))),
        ];
        let mut all_b = all_a.clone();
        all_b[1].ce.as_mut().unwrap().oi = 9.0; // changed
        all_b[1].ce.as_mut().unwrap().iv = None; // now unknown
        all_b[1].ce.as_mut().unwrap().delta = Some(0.55); // the Greeks move too
        all_b[1].ce.as_mut().unwrap().updated_ms = 121; // as of the new snapshot
        all_b[1].pe = Some(leg(7.0, None)); // appeared
        all_b[2].pe = None; // gone
        let a = window(109.0, all_a);
        let b = window(121.0, all_b); // the ATM moves from 110 to 120
        assert_eq!((a.atm, b.atm), (110.0, 120.0));
        let d = diff(&a, &b);
        assert_eq!(d.left, vec![100.0]);
        assert_eq!(
            d.entered.iter().map(|r| r.strike).collect::<Vec<_>>(),
            vec![130.0]
        );
        assert_eq!(apply(&a, &d), b);
        let json = serde_json::to_string(&d).unwrap();
        // Only what changed: the new OI, the IV now unknown (null), the new delta.
        assert!(
            json.contains(r#""ce":{"patch":{"oi":9.0,"iv":null,"delta":0.55}}"#),
            "{json}"
        );
        let back: Diff = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
        assert!(diff(&b, &b).is_empty());
    }
}
