//! What the spec fixes about the health score, shared by validation and the
//! generators: the names of its records and alerts, its weights, and the sample count of
//! a promtool test series.

use crate::model::{Health, Spec};

/// The minute of the generated tests at which values and alerts are checked.
pub const EVAL_MINUTE: usize = 10;
/// Samples (one a minute, from minute 0) every test series needs: through
/// [`EVAL_MINUTE`].
pub const MIN_SAMPLES: usize = EVAL_MINUTE + 1;

/// `job:<ns>_health_component:ratio`, labelled `component`.
pub fn component_record(spec: &Spec) -> String {
    format!("job:{}_health_component:ratio", spec.namespace.value)
}

/// `job:<ns>_health_score:ratio`.
pub fn score_record(spec: &Spec) -> String {
    format!("job:{}_health_score:ratio", spec.namespace.value)
}

/// The warning alert: `<Ns>HealthScoreLow`.
pub fn warning_alert(spec: &Spec) -> String {
    format!(
        "{}HealthScoreLow",
        crate::naming::upper_camel(&spec.namespace.value)
    )
}

/// The critical alert: `<Ns>HealthScoreCritical`.
pub fn critical_alert(spec: &Spec) -> String {
    format!(
        "{}HealthScoreCritical",
        crate::naming::upper_camel(&spec.namespace.value)
    )
}

/// The sum of the weights, added in source order as Prometheus adds the score's terms.
pub fn weight_sum(h: &Health) -> f64 {
    h.components.iter().fold(0.0, |a, c| a + c.weight.value)
}

/// The number of samples a promtool series-values string expands to, or what is
/// wrong with it. Accepts `N`, `a+bxn`, `a-bxn`, `axn`, `_`, `_xn` and `stale`
/// tokens separated by spaces (numbers may be `Inf`/`NaN`, signed, with exponents).
pub fn series_samples(values: &str) -> Result<usize, String> {
    fn number(s: &str) -> bool {
        let t = s.strip_prefix(['+', '-']).unwrap_or(s);
        if ["inf", "nan"].contains(&t.to_ascii_lowercase().as_str()) {
            return true;
        }
        let (mantissa, exp) = match t.find(['e', 'E']) {
            Some(i) => (&t[..i], Some(&t[i + 1..])),
            None => (t, None),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
        let mantissa_ok = digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty());
        let exp_ok = exp.is_none_or(|e| {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && digits(e)
        });
        mantissa_ok && exp_ok
    }
    fn count(n: &str) -> Result<usize, String> {
        match n.parse::<usize>() {
            Ok(v) if v <= 100_000 => Ok(v),
            _ => Err(format!("`{n}` is not a repeat count (a whole number)")),
        }
    }
    let mut total = 0usize;
    for token in values.split_whitespace() {
        total += match token {
            "_" | "stale" => 1,
            t => match t.rsplit_once('x') {
                Some(("_", n)) => count(n)?,
                Some((start, n)) => {
                    let n = count(n)?;
                    // `a+b` / `a-b`: the sign after the first character that is not
                    // an exponent's.
                    let bytes = start.as_bytes();
                    let split = (1..bytes.len()).find(|&i| {
                        matches!(bytes[i], b'+' | b'-') && !matches!(bytes[i - 1], b'e' | b'E')
                    });
                    let ok = match split {
                        Some(i) => number(&start[..i]) && number(&start[i + 1..]),
                        None => number(start),
                    };
                    if !ok {
                        return Err(format!(
                            "`{t}` is not `a+bxn`, `a-bxn` or `axn` with numbers a and b"
                        ));
                    }
                    n + 1
                }
                None if number(t) => 1,
                None => return Err(format!("`{t}` is not a number, `_` or `stale`")),
            },
        };
    }
    if total == 0 {
        return Err("there are no values".into());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promtool_values_expand_to_their_sample_counts() {
        assert_eq!(series_samples("0+60x30"), Ok(31));
        assert_eq!(series_samples("1x10"), Ok(11));
        assert_eq!(series_samples("-2+4x3 1-2x4"), Ok(9));
        assert_eq!(series_samples("1 _x3 stale _"), Ok(6));
        assert_eq!(series_samples("1e+3+1e-1x2 NaN -Inf"), Ok(5));
        assert!(series_samples("").is_err());
        assert!(series_samples("0+60y30").is_err());
        assert!(series_samples("abc").is_err());
        assert!(series_samples("1+x3").is_err());
        assert!(series_samples("1x-3").is_err());
    }
}
