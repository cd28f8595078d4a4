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
    ExpiryTerms::new(spot, years, rates).greeks(is_call, strike, vol)
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
    if !(spot > 0.0 && years > 0.0) {
        return None;
    }
    ExpiryTerms::new(spot, years, rates).implied_volatility(is_call, premium, strike)
}

/// What every contract of one expiry shares (the forward, the discount and carry
/// factors, the square root of the time), worked out once for all of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExpiryTerms {
    spot: f64,
    years: f64,
    sqrt_t: f64,
    forward: f64,
    discount: f64,
    carry: f64,
    rates: Rates,
}

/// The model at one volatility: d₁ and the normal CDF at ±d₁, ±d₂ (the option's own
/// sign, so a deep out-of-the-money put is not 1 − N(d₁) with its digits lost).
struct Evaluation {
    /// The undiscounted (Black) price.
    black: f64,
    d1: f64,
    n_d1: f64,
    n_d2: f64,
    density: f64,
}

/// Relative error of the undiscounted price at which [`ExpiryTerms::implied_volatility_near`]
/// stops: a hundred times inside the 1e-8 round trip the truth tests hold.
const NEAR_TOLERANCE: f64 = 1e-10;

/// Prices [`ExpiryTerms::implied_volatility_near`] works out before it gives up: the
/// guess's and three Halley steps'.
const NEAR_EVALUATIONS: usize = 4;

impl ExpiryTerms {
    /// The terms of an expiry `years` ahead of an index at `spot`.
    pub fn new(spot: f64, years: f64, rates: Rates) -> Self {
        ExpiryTerms {
            spot,
            years,
            sqrt_t: years.sqrt(),
            forward: forward(spot, years, rates),
            discount: (-rates.rate * years).exp(),
            carry: (-rates.dividend * years).exp(),
            rates,
        }
    }

    /// A positive spot and forward and a time ahead: terms a price can come from.
    fn valid(&self) -> bool {
        self.spot > 0.0 && self.forward > 0.0 && self.forward.is_finite() && self.years > 0.0
    }

    fn evaluate(&self, sign: f64, log_fk: f64, strike: f64, vol: f64) -> Evaluation {
        let total = vol * self.sqrt_t;
        let d1 = log_fk / total + 0.5 * total;
        let d2 = d1 - total;
        let n_d1 = norm_cdf(sign * d1);
        let n_d2 = norm_cdf(sign * d2);
        Evaluation {
            black: sign * (self.forward * n_d1 - strike * n_d2),
            d1,
            n_d1,
            n_d2,
            density: norm_pdf(d1),
        }
    }

    fn greeks_of(&self, sign: f64, strike: f64, vol: f64, e: &Evaluation) -> Greeks {
        let Rates { rate, dividend } = self.rates;
        let (spot, carry) = (self.spot, self.carry);
        let gamma = carry * e.density / (spot * vol * self.sqrt_t);
        let vega = spot * carry * e.density * self.sqrt_t / 100.0;
        let decay = -spot * carry * e.density * vol / (2.0 * self.sqrt_t);
        let theta_year = decay - sign * rate * strike * self.discount * e.n_d2
            + sign * dividend * spot * carry * e.n_d1;
        Greeks {
            delta: sign * carry * e.n_d1,
            gamma,
            vega,
            theta: theta_year / 365.0,
        }
    }

    /// The Greeks of a call (`is_call`) or put at `strike`, priced at `vol`.
    pub fn greeks(&self, is_call: bool, strike: f64, vol: f64) -> Greeks {
        let sign = if is_call { 1.0 } else { -1.0 };
        let e = self.evaluate(sign, (self.forward / strike).ln(), strike, vol);
        self.greeks_of(sign, strike, vol, &e)
    }

    /// The volatility at which the model gives `premium` (see [`implied_volatility`]):
    /// Let's Be Rational, from nothing.
    pub fn implied_volatility(&self, is_call: bool, premium: f64, strike: f64) -> Option<f64> {
        // The solver asserts on what no price could be: a spot or forward that is not a
        // positive number must not reach it.
        if !(premium.is_finite() && strike > 0.0 && self.valid()) {
            return None;
        }
        let undiscounted = premium / self.discount;
        let vol = implied_vol::implied_black_volatility(
            undiscounted,
            self.forward,
            strike,
            self.years,
            is_call,
        );
        (vol.is_finite() && vol > 0.0 && vol < 10.0).then_some(vol)
    }

    /// The volatility that gives `premium` found from `guess` nearby (a neighbouring
    /// strike's), with its Greeks: Halley's method on the Black price, usually one or
    /// two steps. `None` when it does not settle within a few steps (far from the
    /// guess, or in a wing where the price barely moves with volatility); the caller
    /// then solves from nothing with [`Self::implied_volatility`]. Why not Let's Be
    /// Rational alone: from a good guess this is about half its cost, and it shares
    /// its last evaluation with the Greeks (benches/option_chain.rs,
    /// `greeks_iv_from_mid_30000`).
    pub fn implied_volatility_near(
        &self,
        is_call: bool,
        premium: f64,
        strike: f64,
        guess: f64,
    ) -> Option<(f64, Greeks)> {
        if !(premium.is_finite() && premium > 0.0 && strike > 0.0 && self.valid()) {
            return None;
        }
        let sign = if is_call { 1.0 } else { -1.0 };
        // Solved on the out-of-the-money side (put-call parity on the forward): an
        // in-the-money price is mostly intrinsic value, which says nothing of the
        // volatility and would swamp the tolerance.
        let intrinsic = sign * (self.forward - strike);
        let (side, target) = if intrinsic > 0.0 {
            (-sign, premium / self.discount - intrinsic)
        } else {
            (sign, premium / self.discount)
        };
        if target <= 0.0 {
            return None;
        }
        let log_fk = (self.forward / strike).ln();
        let mut vol = guess;
        for _ in 0..NEAR_EVALUATIONS {
            if !(vol.is_finite() && vol > 1e-4 && vol < 10.0) {
                return None;
            }
            let e = self.evaluate(side, log_fk, strike, vol);
            let miss = e.black - target;
            if miss.abs() <= NEAR_TOLERANCE * target {
                // The Greeks of the option asked about: N(x) = 1 − N(−x).
                let e = if side == sign {
                    e
                } else {
                    Evaluation {
                        n_d1: 1.0 - e.n_d1,
                        n_d2: 1.0 - e.n_d2,
                        ..e
                    }
                };
                return Some((vol, self.greeks_of(sign, strike, vol, &e)));
            }
            // Undiscounted vega and volga: dB/dσ = F φ(d₁) √T, d²B/dσ² = vega d₁ d₂ / σ.
            let vega = self.forward * e.density * self.sqrt_t;
            if vega <= 1e-12 * self.forward * self.sqrt_t {
                return None;
            }
            let d2 = e.d1 - vol * self.sqrt_t;
            let volga = vega * e.d1 * d2 / vol;
            vol -= 2.0 * miss * vega / (2.0 * vega * vega - miss * volga);
        }
        None
    }
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
