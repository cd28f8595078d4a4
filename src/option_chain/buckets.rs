//! Moneyness and days-to-expiry buckets, exactly as DESIGN.md defines them.

use crate::labels::{Dte, Mny};

/// Signed moneyness: positive means out of the money, for calls and puts alike.
/// Calls: strike/spot - 1. Puts: 1 - strike/spot.
pub fn moneyness(is_call: bool, strike: f64, spot: f64) -> f64 {
    let r = strike / spot;
    if is_call {
        r - 1.0
    } else {
        1.0 - r
    }
}

/// Tolerance at bucket edges: `800/1000 - 1` is -0.19999999999999996 in floating
/// point, and a strike exactly 20% in the money must still be deep in the money.
const EDGE_EPSILON: f64 = 1e-9;

/// deep_itm <= -0.20 < itm <= -0.05 < atm < 0.05 <= otm < 0.20 <= deep_otm.
pub fn mny_bucket(m: f64) -> Mny {
    if m <= -0.20 + EDGE_EPSILON {
        Mny::DeepItm
    } else if m <= -0.05 + EDGE_EPSILON {
        Mny::Itm
    } else if m < 0.05 - EDGE_EPSILON {
        Mny::Atm
    } else if m < 0.20 - EDGE_EPSILON {
        Mny::Otm
    } else {
        Mny::DeepOtm
    }
}

/// Fractional days to expiry: ultra_short [0,1), short [1,7), medium [7,30),
/// long [30,90), leap >= 90. `None` for an expired contract (negative days).
pub fn dte_bucket(days: f64) -> Option<Dte> {
    if days < 0.0 || days.is_nan() {
        None
    } else if days < 1.0 {
        Some(Dte::UltraShort)
    } else if days < 7.0 {
        Some(Dte::Short)
    } else if days < 30.0 {
        Some(Dte::Medium)
    } else if days < 90.0 {
        Some(Dte::Long)
    } else {
        Some(Dte::Leap)
    }
}

/// Index of a (mny, dte) bucket in a table of every pair (mny-major).
pub fn slot(m: Mny, d: Dte) -> usize {
    m.index() * Dte::ALL.len() + d.index()
}
