//! The status page: spec identity, the application's own lines and links, emission
//! failures and series per metric against budget.

use super::{full_body, Body};
use hyper::header::{self, HeaderValue};
use hyper::Response;
use std::fmt::Write;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The families an environment variable switches on (`enabled_by:`), each with its
/// variable and whether it is on in this process: a disabled family's metrics have no
/// series, and this says why.
fn write_gated_families(out: &mut String, spec: Option<&'static crate::SpecRuntime>) {
    let mut gated: Vec<(&str, &str, bool)> = Vec::new();
    for m in spec.map_or(&[][..], |s| s.metrics) {
        if let Some(var) = m.enabled_by {
            if !gated.iter().any(|(f, _, _)| *f == m.family) {
                gated.push((m.family, var, m.enabled()));
            }
        }
    }
    if gated.is_empty() {
        return;
    }
    out.push_str("<h2>Families switched on by the environment</h2><table><tr><th>family</th><th>variable</th><th>state</th></tr>");
    for (family, var, on) in gated {
        let state = if on {
            "enabled".to_string()
        } else {
            format!("disabled (set {}=1 to enable)", escape(var))
        };
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{state}</td></tr>",
            escape(family),
            escape(var)
        );
    }
    out.push_str("</table>");
}

/// The page at `/`: what the runtime knows (spec hash, build config, emission
/// failures, series against budget) under the lines and links an application gives
/// it (where its data comes from, a link to its live view).
#[derive(Debug, Clone, Default)]
pub struct StatusPage {
    lines: Vec<Line>,
    links: Vec<(String, String)>,
}

/// A line of the page: fixed, or worked out each time the page is rendered.
#[derive(Clone)]
enum Line {
    Fixed(String),
    Live(std::sync::Arc<dyn Fn() -> String + Send + Sync>),
}

impl std::fmt::Debug for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Line::Fixed(s) => f.debug_tuple("Fixed").field(s).finish(),
            Line::Live(_) => f.write_str("Live(..)"),
        }
    }
}

impl StatusPage {
    /// A page with no lines or links of the application's.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a line to the top of the page (e.g. "synthetic data").
    pub fn line(&mut self, line: impl Into<String>) -> &mut Self {
        self.lines.push(Line::Fixed(line.into()));
        self
    }

    /// Add a line worked out each time the page is shown (e.g. whether a market is
    /// in session).
    pub fn live_line(&mut self, line: impl Fn() -> String + Send + Sync + 'static) -> &mut Self {
        self.lines.push(Line::Live(std::sync::Arc::new(line)));
        self
    }

    /// Add a link (path and text) beside /metrics and /healthz.
    pub fn link(&mut self, href: &str, text: &str) -> &mut Self {
        self.links.push((href.to_string(), text.to_string()));
        self
    }

    /// The page as an HTML response.
    pub fn html_response(&self) -> Response<Body> {
        let mut resp = Response::new(full_body(bytes::Bytes::from(self.render())));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        resp
    }

    /// The page's HTML, as of now.
    pub fn render(&self) -> String {
        let usage = crate::guard::usage();
        let spec = crate::installed();
        let (namespace, hash, generator) = spec.map_or(("metrics", "none", ""), |s| {
            (s.namespace, s.spec_hash, s.generator_version)
        });
        let links: String = self
            .links
            .iter()
            .map(|(h, t)| format!(" · <a href=\"{}\">{}</a>", escape(h), escape(t)))
            .collect();
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
        );
        for line in &self.lines {
            let text = match line {
                Line::Fixed(s) => std::borrow::Cow::Borrowed(s.as_str()),
                Line::Live(f) => std::borrow::Cow::Owned(f()),
            };
            let _ = write!(out, "<p><strong>{}</strong></p>", escape(&text));
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
        write_gated_families(&mut out, spec);
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
}
