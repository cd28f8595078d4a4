//! The status page at `/`: spec identity, series per metric against budget, overflows
//! and emission failures.

use std::fmt::Write;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

static LINKS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// Add a link (path and text) beside /metrics and /healthz on the status page.
pub fn add_status_link(href: &str, text: &str) {
    LINKS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((href.to_string(), text.to_string()));
}

fn links() -> String {
    LINKS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(h, t)| format!(" · <a href=\"{}\">{}</a>", escape(h), escape(t)))
        .collect()
}

/// The page's HTML.
pub fn render() -> String {
    let usage = crate::guard::usage();
    let spec = crate::installed();
    let (namespace, hash, generator) = spec.map_or(("metrics", "none", ""), |s| {
        (s.namespace, s.spec_hash, s.generator_version)
    });
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{ns} metrics</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}.over{{background:#fdd}}</style>\
         </head><body><h1>{ns} metrics</h1>\
         <p>Spec hash <code>{}</code> · build config <code>{}</code> · {}</p>\
         <p><a href=\"/metrics\">/metrics</a> · <a href=\"/healthz\">/healthz</a>{links}</p>",
        escape(hash),
        crate::build_config_hash(),
        escape(generator),
        ns = escape(namespace),
        links = links(),
    );
    for line in crate::exporter::status_lines() {
        let _ = write!(out, "<p><strong>{}</strong></p>", escape(&line));
    }
    let failures = crate::emission::failing_emitters();
    let _ = write!(out, "<h2>Emission failures</h2>");
    if failures.is_empty() {
        out.push_str("<p>none</p>");
    } else {
        out.push_str("<table><tr><th>emitter</th><th>failures</th></tr>");
        for (e, n) in failures {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{n}</td></tr>",
                escape(e)
            );
        }
        out.push_str("</table>");
    }
    let _ = write!(out, "<h2>Series per metric</h2><table><tr><th>metric</th><th>series</th><th>budget</th><th>overflowed</th></tr>");
    for u in usage {
        let class = if u.overflowed > 0 {
            " class=\"over\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<tr{class}><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(u.metric),
            u.series,
            u.budget,
            u.overflowed
        );
    }
    out.push_str("</table></body></html>\n");
    out
}
