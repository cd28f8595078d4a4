//! The HTTP exporter: `GET/HEAD /metrics` (Prometheus text format, gzip when asked),
//! `/healthz`, and `/`, a small status page. Only GET and HEAD are served; request
//! bodies and headers are bounded; every request has a timeout; shutdown is graceful.

pub mod encode;
mod limits;
mod status;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use once_cell::sync::Lazy;
use prometheus::Encoder;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub use limits::Limits;

/// A function run right before every scrape (e.g. to flush batched emissions).
pub type PreScrapeHook = Arc<dyn Fn() + Send + Sync>;

static HOOKS: Lazy<RwLock<Vec<PreScrapeHook>>> = Lazy::new(Default::default);

/// Run `hook` before every scrape, after the ones added earlier.
pub fn add_pre_scrape_hook(hook: PreScrapeHook) {
    HOOKS.write().unwrap_or_else(|p| p.into_inner()).push(hook);
}

/// Held shared by multi-series updates and exclusively while a scrape gathers, so a
/// scrape never sees half of an update (e.g. OI of the new snapshot, volume of the old).
static UPDATE_LOCK: RwLock<()> = RwLock::new(());

/// Apply a group of related updates that a scrape must see all or none of. Updates
/// run concurrently with each other; only gathering waits for them.
pub fn consistent_update<R>(f: impl FnOnce() -> R) -> R {
    let _shared = UPDATE_LOCK.read().unwrap_or_else(|p| p.into_inner());
    f()
}

/// Run the pre-scrape hooks, refresh the governance gauges and render the registry in
/// the Prometheus text format (version 0.0.4).
pub fn render_metrics() -> Vec<u8> {
    let hooks: Vec<PreScrapeHook> = HOOKS.read().unwrap_or_else(|p| p.into_inner()).clone();
    for hook in hooks {
        hook();
    }
    // A scrape never sees stale data: merge every pending batched delta first.
    crate::batch::flush(crate::labels::FlushTrigger::Scrape);
    crate::guard::refresh_gauges();
    encode_all()
}

/// Encode every series (ours directly, foreign collectors through tikv) without
/// running hooks or flushing. `render_metrics` is what a scrape uses.
pub fn encode_all() -> Vec<u8> {
    static LAST_LEN: std::sync::atomic::AtomicUsize =
        std::sync::atomic::AtomicUsize::new(64 * 1024);
    let mut out = String::with_capacity(LAST_LEN.load(std::sync::atomic::Ordering::Relaxed) + 4096);
    let foreign = {
        let _exclusive = UPDATE_LOCK.write().unwrap_or_else(|p| p.into_inner());
        for store in crate::guard::stores() {
            store.encode(&mut out);
        }
        encode::gather_foreign()
    };
    let mut buf = out.into_bytes();
    if !foreign.is_empty() {
        if let Err(e) = prometheus::TextEncoder::new().encode(&foreign, &mut buf) {
            tracing::error!(error = %e, "cannot encode metrics of foreign collectors");
        }
    }
    LAST_LEN.store(buf.len(), std::sync::atomic::Ordering::Relaxed);
    buf
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|enc| {
            let mut parts = enc.trim().split(';');
            let name = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| p.trim().replace(' ', "") == "q=0");
            name.eq_ignore_ascii_case("gzip") && !q_zero
        })
}

fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4),
        flate2::Compression::fast(),
    );
    enc.write_all(data).ok()?;
    enc.finish().ok()
}

async fn metrics_handler(headers: HeaderMap) -> Response {
    let body = match tokio::task::spawn_blocking(render_metrics).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "metrics rendering failed");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "metrics rendering failed\n",
            )
                .into_response();
        }
    };
    let content_type = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
    if accepts_gzip(&headers) {
        if let Some(zipped) = gzip(&body) {
            return Response::builder()
                .header(header::CONTENT_TYPE, content_type)
                .header(header::CONTENT_ENCODING, "gzip")
                .header(header::VARY, "Accept-Encoding")
                .body(Body::from(zipped))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
        }
    }
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn not_found() -> (StatusCode, &'static str) {
    (
        StatusCode::NOT_FOUND,
        "not found; try /metrics, /healthz or /\n",
    )
}

/// The exporter's routes with its limits applied.
pub fn router(limits: Limits) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(healthz))
        .route("/", get(status::page))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            limits,
            limits::enforce,
        ))
}

/// Serve the exporter on `listener` until `shutdown` completes, then finish in-flight
/// requests and return.
pub async fn serve(
    listener: tokio::net::TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(limits))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

/// Default time one request may take before it is answered with 503.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

static STATUS_LINES: Lazy<RwLock<Vec<String>>> = Lazy::new(Default::default);

/// Add a line to the top of the status page (e.g. "synthetic data").
pub fn add_status_line(line: impl Into<String>) {
    STATUS_LINES
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .push(line.into());
}

/// Lines shown at the top of the status page.
pub fn status_lines() -> Vec<String> {
    STATUS_LINES
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}
