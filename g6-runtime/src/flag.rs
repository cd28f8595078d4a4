//! Boolean environment flags.

/// True for `1`, `true` or `yes` (any case, surrounding blanks ignored); everything
/// else, including an empty value, is false. The original treated any non-empty value
/// as true, so `FLAG=0` switched things on.
pub fn parse_flag(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes"
    )
}

/// The flag `name` from the environment; false when unset.
pub(crate) fn env_flag(name: &str) -> bool {
    std::env::var(name).map(|v| parse_flag(&v)).unwrap_or(false)
}

/// Whether the family gated by the variable `name` (`enabled_by:`) is on in this
/// process: the flag's value when first asked, so every metric of a family, and the
/// status page, agree for the life of the process.
pub fn family_enabled(name: &'static str) -> bool {
    static SEEN: std::sync::Mutex<Vec<(&str, bool)>> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, on)) = seen.iter().find(|(n, _)| *n == name) {
        return *on;
    }
    let on = env_flag(name);
    seen.push((name, on));
    on
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_as_booleans() {
        for t in ["1", "true", "TRUE", "yes", " Yes "] {
            assert!(parse_flag(t), "{t}");
        }
        for f in ["", "0", "false", "no", "off", "2", "y"] {
            assert!(!parse_flag(f), "{f}");
        }
    }
}
