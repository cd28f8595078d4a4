//! The HTTP exporter: `GET/HEAD /metrics` (Prometheus text format, gzip when asked),
//! `/healthz`, and `/`, a small status page. Only GET and HEAD are served; request
//! bodies and headers are bounded; every request has a timeout; shutdown is graceful.
//!
//! Built on hyper directly rather than a framework: three fixed routes need no router,
//! and the frameworks' `tokio` features bring proc-macros into every user's build.

mod limits;
mod status;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::io::Write;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

pub use crate::scrape::{
    add_pre_scrape_hook, add_status_line, consistent_update, encode_all, render_metrics,
    status_lines, PreScrapeHook,
};
pub use limits::Limits;

/// Default time one request may take before it is answered with 503.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest the server waits for in-flight requests after shutdown was asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

type Body = Full<Bytes>;

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
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

async fn metrics(headers: &HeaderMap) -> Response<Body> {
    let body = match tokio::task::spawn_blocking(render_metrics).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "metrics rendering failed");
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "metrics rendering failed\n",
            );
        }
    };
    let gzipped = if accepts_gzip(headers) {
        gzip(&body)
    } else {
        None
    };
    let zipped = gzipped.is_some();
    let mut resp = Response::new(Full::new(Bytes::from(gzipped.unwrap_or(body))));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if zipped {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    resp
}

async fn route(req: &Request<Incoming>) -> Response<Body> {
    let path = req.uri().path();
    if !matches!(path, "/metrics" | "/healthz" | "/") {
        return text(
            StatusCode::NOT_FOUND,
            "not found; try /metrics, /healthz or /\n",
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut resp = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served\n",
        );
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET,HEAD"));
        return resp;
    }
    match path {
        "/metrics" => metrics(req.headers()).await,
        "/healthz" => text(StatusCode::OK, "ok\n"),
        _ => {
            let mut resp = Response::new(Full::new(Bytes::from(status::render())));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            resp
        }
    }
}

/// Answer one request: limits first, then the route under the request timeout. HEAD
/// gets GET's headers without the body.
async fn handle(limits: Limits, req: Request<Incoming>) -> Response<Body> {
    if let Some(refusal) = limits.refuse(&req) {
        return refusal;
    }
    let head = req.method() == Method::HEAD;
    let mut resp = match tokio::time::timeout(limits.request_timeout, route(&req)).await {
        Ok(resp) => resp,
        Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "request timed out\n"),
    };
    if head {
        *resp.body_mut() = Full::new(Bytes::new());
    }
    resp
}

/// Poll two futures; the first to finish wins (tokio's `select!` needs its proc-macro
/// feature, which this crate does not pull in).
async fn first<A: Future, B: Future>(a: A, b: B) -> Option<A::Output> {
    let (mut a, mut b) = (pin!(a), pin!(b));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if b.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// Serve the exporter on `listener` until `shutdown` completes, then finish in-flight
/// requests (for at most a few seconds) and return.
pub async fn serve(
    listener: tokio::net::TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let Some(accepted) = first(listener.accept(), shutdown.as_mut()).await else {
            break;
        };
        let (stream, _) = match accepted {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let service = hyper::service::service_fn(move |req| async move {
            Ok::<_, std::convert::Infallible>(handle(limits, req).await)
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .max_buf_size(limits.max_header_bytes.max(8192));
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let watched = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = watched.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if first(graceful.shutdown(), tokio::time::sleep(SHUTDOWN_GRACE))
        .await
        .is_none()
    {
        tracing::warn!("in-flight requests did not finish in time; closing them");
    }
    Ok(())
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
    first(ctrl_c, term).await;
    tracing::info!("shutting down");
}
