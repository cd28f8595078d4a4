//! Black–Scholes on the spot with a continuous risk-free rate and dividend yield, the
//! Greeks, and implied volatility from a price.
//!
//! Conventions (as NSE quotes them): time is calendar days to the 15:30 IST expiry over
//! 365; volatility is annual, as a ratio (0.14 = 14%). Vega is per volatility point (a
//! change of 0.01), theta per calendar day. Prices go through Jäckel's "Let's Be
//! Rational" (`implied-vol`) on the forward and are discounted, so a price and the IV
//! solved from it agree to machine precision; the normal CDF is `libm`'s `erfc`.

/// Rates a price is computed with: continuous, annual.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// Risk-free rate (0.065 = 6.5%).
    pub rate: f64,
    /// Dividend yield of the index (0.012 = 1.2%).
    pub dividend: f64,
}

/// The rates G6 prices Indian index options with: the 91-day T-bill yield (6.5%) and
/// an index dividend yield of 1.2%.
pub const INDIA: Rates = Rates {
    rate: 0.065,
    dividend: 0.012,
};

/// Greeks of one contract.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Greeks {
    /// Change of the price per unit change of the spot.
    pub delta: f64,
    /// Change of delta per unit change of the spot.
    pub gamma: f64,
    /// Change of the price per volatility point (0.01).
    pub vega: f64,
    /// Change of the price per calendar day that passes (negative for a long option,
    /// mostly).
    pub theta: f64,
}

/// A contract's implied volatility (quoted, or solved from its mid) and its Greeks at
/// one spot and time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Priced {
    /// The IV the Greeks are computed at (a ratio).
    pub iv: f64,
    /// The Greeks.
    pub greeks: Greeks,
}

/// The standard normal CDF.
pub fn norm_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// The standard normal density.
pub fn norm_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// The forward of `spot` at `years`.
pub fn forward(spot: f64, years: f64, rates: Rates) -> f64 {
    spot * ((rates.rate - rates.dividend) * years).exp()
}

/// The Black–Scholes price of a call (`is_call`) or put.
pub fn price(is_call: bool, spot: f64, strike: f64, years: f64, vol: f64, rates: Rates) -> f64 {
    let discount = (-rates.rate * years).exp();
    let f = forward(spot, years, rates);
    discount
        * implied_vol::calculate_european_option_price_by_black_scholes(
            f, strike, vol, years, is_call,
        )
}

/// The Greeks of a call (`is_call`) or put.
pub fn greeks(is_call: bool, spot: f64, strike: f64, years: f64, vol: f64, rates: Rates) -> Greeks {
    let Rates { rate, dividend } = rates;
    let sqrt_t = years.sqrt();
    let d1 = ((spot / strike).ln() + (rate - dividend + 0.5 * vol * vol) * years) / (vol * sqrt_t);
    let d2 = d1 - vol * sqrt_t;
    let carry = (-dividend * years).exp();
    let discount = (-rate * years).exp();
    let density = norm_pdf(d1);
    let gamma = carry * density / (spot * vol * sqrt_t);
    let vega = spot * carry * density * sqrt_t / 100.0;
    let decay = -spot * carry * density * vol / (2.0 * sqrt_t);
    let (delta, theta_year) = if is_call {
        (
            carry * norm_cdf(d1),
            decay - rate * strike * discount * norm_cdf(d2)
                + dividend * spot * carry * norm_cdf(d1),
        )
    } else {
        (
            -carry * norm_cdf(-d1),
            decay + rate * strike * discount * norm_cdf(-d2)
                - dividend * spot * carry * norm_cdf(-d1),
        )
    };
    Greeks {
        delta,
        gamma,
        vega,
        theta: theta_year / 365.0,
    }
}

/// The volatility at which the model gives `premium`, or `None` when no volatility
/// does (a premium under the discounted intrinsic value or over its bound, or a
/// contract at or past expiry).
pub fn implied_volatility(
    is_call: bool,
    premium: f64,
    spot: f64,
    strike: f64,
    years: f64,
    rates: Rates,
) -> Option<f64> {
    if !(premium.is_finite() && spot > 0.0 && strike > 0.0 && years > 0.0) {
        return None;
    }
    let discount = (-rates.rate * years).exp();
    let f = forward(spot, years, rates);
    let undiscounted = premium / discount;
    let vol = implied_vol::implied_black_volatility(undiscounted, f, strike, years, is_call);
    (vol.is_finite() && vol > 0.0 && vol < 10.0).then_some(vol)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: f64 = 10.0 / 365.0;

    #[test]
    fn put_call_parity_holds() {
        for k in [22_000.0, 24_000.0, 26_000.0] {
            let c = price(true, 24_000.0, k, T, 0.14, INDIA);
            let p = price(false, 24_000.0, k, T, 0.14, INDIA);
            let parity = 24_000.0 * (-INDIA.dividend * T).exp() - k * (-INDIA.rate * T).exp();
            assert!((c - p - parity).abs() < 1e-6, "{k}: {} vs {parity}", c - p);
        }
    }

    #[test]
    fn implied_volatility_round_trips_a_price_to_1e_minus_8() {
        for (is_call, k, vol) in [
            (true, 24_400.0, 0.14),
            (false, 23_400.0, 0.148),
            (true, 25_500.0, 0.19),
            (false, 24_000.0, 0.13),
        ] {
            let p = price(is_call, 24_000.0, k, T, vol, INDIA);
            let iv = implied_volatility(is_call, p, 24_000.0, k, T, INDIA).unwrap();
            let again = price(is_call, 24_000.0, k, T, iv, INDIA);
            assert!(
                ((again - p) / p).abs() < 1e-8,
                "{k}: {p} -> {iv} -> {again}"
            );
            assert!((iv - vol).abs() < 1e-7, "{iv} vs {vol}");
        }
        // Below intrinsic: no volatility gives it.
        assert_eq!(
            implied_volatility(true, 100.0, 24_000.0, 23_000.0, T, INDIA),
            None
        );
    }

    #[test]
    fn greeks_equal_finite_differences_of_the_price() {
        let (s, k, vol) = (24_000.0, 24_300.0, 0.15);
        for is_call in [true, false] {
            let g = greeks(is_call, s, k, T, vol, INDIA);
            let p = |s: f64, t: f64, v: f64| price(is_call, s, k, t, v, INDIA);
            let h = 1.0;
            let delta = (p(s + h, T, vol) - p(s - h, T, vol)) / (2.0 * h);
            let gamma = (p(s + h, T, vol) - 2.0 * p(s, T, vol) + p(s - h, T, vol)) / (h * h);
            let vega = (p(s, T, vol + 1e-4) - p(s, T, vol - 1e-4)) / 2e-4 / 100.0;
            let day = 1.0 / 365.0;
            let theta = (p(s, T - day / 100.0, vol) - p(s, T, vol)) * 100.0;
            assert!(
                (g.delta - delta).abs() < 1e-6,
                "delta {} vs {delta}",
                g.delta
            );
            assert!(
                (g.gamma - gamma).abs() < 1e-6,
                "gamma {} vs {gamma}",
                g.gamma
            );
            assert!((g.vega - vega).abs() < 1e-4, "vega {} vs {vega}", g.vega);
            assert!(
                (g.theta - theta).abs() < 0.05 * theta.abs().max(0.01),
                "theta {} vs {theta}",
                g.theta
            );
        }
    }
}
