//! `g6 check-scrape URL|FILE`: a live `/metrics` or a saved scrape held against the
//! spec (`g6_tools::scrape_check` parses both exposition formats and compares).

use g6_tools::scrape_check;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Largest scrape read (a bigger one is refused, not half read).
pub const MAX_SCRAPE_BYTES: usize = 256 * 1024 * 1024;

/// Output format of `g6 check-scrape`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CheckFormat {
    /// Findings, budget use, a verdict.
    Text,
    /// JSON for machines.
    Json,
}

/// Options of `g6 check-scrape`.
#[derive(Debug, clap::Args)]
pub struct CheckScrapeOptions {
    /// `http://HOST:PORT/metrics` to scrape, or a file holding a scrape (Prometheus
    /// text or OpenMetrics; `-` reads standard input).
    target: String,
    /// Hold it against this spec instead of the one compiled in.
    #[arg(long)]
    spec: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: CheckFormat,
    /// Longest a scrape may take.
    #[arg(long, default_value = "10s", value_parser = super::parse_duration)]
    timeout: Duration,
}

/// Run `g6 check-scrape`: exit 0 when the scrape matches the spec, 1 on any
/// mismatch, 2 when the target cannot be read or parsed.
pub fn run(opts: CheckScrapeOptions) -> ExitCode {
    let loaded = match super::generate::load_spec(opts.spec.as_deref()) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let text = match read(&opts.target, opts.timeout) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {}: {e}", opts.target);
            return ExitCode::from(super::EXIT_USAGE);
        }
    };
    let families = match scrape_check::parse_exposition(&text) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {}: not a valid exposition: {e}", opts.target);
            return ExitCode::from(super::EXIT_USAGE);
        }
    };
    let report = scrape_check::check(&loaded.spec, loaded.hash(), &families);
    match opts.format {
        CheckFormat::Text => print!("{}", scrape_check::to_text(&report)),
        CheckFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&scrape_check::to_json(&report))
                .unwrap_or_else(|_| "{}".into())
        ),
    }
    if report.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The scrape's text.
fn read(target: &str, timeout: Duration) -> Result<String, String> {
    if target.starts_with("http://") {
        return fetch(target, timeout);
    }
    if target.starts_with("https://") {
        return Err(
            "https is not supported; scrape over http, or save the scrape to a file".into(),
        );
    }
    let bytes = if target == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(std::io::stdin(), MAX_SCRAPE_BYTES as u64 + 1),
            &mut buf,
        )
        .map_err(|e| e.to_string())?;
        buf
    } else {
        let meta = std::fs::metadata(target).map_err(|e| format!("cannot read it: {e}"))?;
        if meta.len() > MAX_SCRAPE_BYTES as u64 {
            return Err(format!("larger than {MAX_SCRAPE_BYTES} bytes"));
        }
        std::fs::read(target).map_err(|e| format!("cannot read it: {e}"))?
    };
    if bytes.len() > MAX_SCRAPE_BYTES {
        return Err(format!("larger than {MAX_SCRAPE_BYTES} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".into())
}

/// GET `url` as Prometheus would (OpenMetrics preferred), within `timeout`.
fn fetch(url: &str, timeout: Duration) -> Result<String, String> {
    use http_body_util::{BodyExt, Empty, Limited};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let uri: hyper::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    let address = match (uri.host(), uri.port_u16()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => format!("{h}:80"),
        _ => url.to_string(),
    };
    runtime.block_on(async move {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Empty<bytes::Bytes>>();
        let request = hyper::Request::get(uri)
            .header(
                "accept",
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
            )
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        let work = async {
            let response = client.request(request).await.map_err(|e| {
                // The innermost cause ("Connection refused") says what went wrong.
                let mut cause: &dyn std::error::Error = &e;
                while let Some(inner) = cause.source() {
                    cause = inner;
                }
                if e.is_connect() {
                    format!("cannot connect to {address}: {cause}; is the exporter running there?")
                } else {
                    format!("cannot scrape it: {e} ({cause})")
                }
            })?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("answered {status}"));
            }
            // A page is not a scrape: say what came, not the page.
            let content_type = response
                .headers()
                .get(hyper::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let kind = content_type
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if !kind.is_empty()
                && kind != "text/plain"
                && kind != "application/openmetrics-text"
            {
                return Err(format!(
                    "this is not an exposition (got {kind}); scrape the exporter's metrics path, e.g. http://HOST:PORT/metrics"
                ));
            }
            let body = Limited::new(response.into_body(), MAX_SCRAPE_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the scrape: {e}"))?
                .to_bytes();
            String::from_utf8(body.to_vec()).map_err(|_| "not UTF-8 text".to_string())
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| format!("no whole answer within {timeout:?}"))?
    })
}
