//! Name checks and conversions shared by validation and code generation.

/// `[a-z_][a-z0-9_]*`
pub fn is_snake(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

/// `[A-Z][A-Za-z0-9]*`
pub fn is_camel(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('A'..='Z')) && chars.all(|c| c.is_ascii_alphanumeric())
}

/// `deep_itm` -> `DeepItm`, `5xx` -> `V5xx`, `nse-json` -> `NseJson`.
pub fn pascal_case(s: &str) -> String {
    let mut out = String::new();
    for part in s.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    out
}

/// `g6` -> `G6`, `provider_availability` -> `ProviderAvailability`: the words of a
/// snake-case name joined, for alert names.
pub fn upper_camel(s: &str) -> String {
    s.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Rust keywords that cannot be plain identifiers.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// True when `s` needs `r#` to be used as an identifier.
pub fn is_keyword(s: &str) -> bool {
    KEYWORDS.contains(&s)
}

/// Grafana uid of a dashboard: `<namespace>-<slug>` in `[a-z0-9-]`.
pub fn dashboard_uid(namespace: &str, slug: &str) -> String {
    let raw = if namespace.is_empty() {
        slug.to_string()
    } else {
        format!("{namespace}-{slug}")
    };
    raw.replace('_', "-")
}

/// What is wrong with a dashboard's `slug` (at `pos`), PromQL or SQL alike: not
/// snake_case, or a uid longer than Grafana's 40 characters.
pub fn dashboard_slug_problem(
    namespace: &str,
    slug: &str,
    pos: crate::diag::Pos,
) -> Option<crate::diag::Diagnostic> {
    use crate::diag::{Code, Diagnostic};
    if !is_snake(slug) {
        return Some(Diagnostic::error(
            Code::InvalidName,
            pos,
            format!("dashboard slug `{slug}` is not snake_case"),
            "use lowercase letters, digits and underscores; it becomes the file name and uid",
        ));
    }
    let uid = dashboard_uid(namespace, slug);
    (uid.len() > 40).then(|| {
        Diagnostic::error(
            Code::InvalidName,
            pos,
            format!(
                "dashboard uid `{uid}` is {} characters; Grafana allows 40",
                uid.len()
            ),
            "shorten the slug",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(pascal_case("deep_itm"), "DeepItm");
        assert_eq!(pascal_case("5xx"), "V5xx");
        assert_eq!(pascal_case("nse-json"), "NseJson");
        assert_eq!(pascal_case("result"), "Result");
        assert!(is_snake("g6_api_calls_total"));
        assert!(!is_snake("g6ApiCalls"));
        assert!(!is_snake("1abc"));
        assert!(is_camel("G6HighErrorRate"));
        assert!(!is_camel("g6_high"));
        assert_eq!(dashboard_uid("g6", "option_chain"), "g6-option-chain");
    }
}
