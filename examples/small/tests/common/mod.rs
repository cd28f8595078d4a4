//! What the example's tests read from a scrape.
#![allow(dead_code)] // each test binary uses its own part

/// The process's exposition as text.
pub fn exposition() -> String {
    String::from_utf8(g6_runtime::scrape::render_metrics()).expect("UTF-8")
}

/// Sample lines (not comments) of the metric `name`, its histogram series included.
pub fn series_of<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['{', ' ', '_']))
        })
        .collect()
}
