//! The HTTP exporter: `GET/HEAD /metrics` (Prometheus text format, gzip when asked),
//! `/healthz`, `/`, a small status page, and the routes an application adds with
//! [`add_route`] (whole or streamed bodies, e.g. server-sent events). Only GET and HEAD are served; request
//! bodies and headers are bounded; every request has a timeout; a client gets
//! [`Limits::header_read_timeout`] to send each request's headers (which also closes
//! idle keep-alive connections); at most [`Limits::max_connections`] connections are
//! open besides live streams, the oldest of them closed to make room, so idle or
//! half-open connections can never lock a scraper out. A connection whose response is
//! marked [`LiveStream`] leaves that pool: it is never closed to make room (its route
//! bounds the streams; [`Limits::max_streams`] is the backstop). Every connection the
//! exporter closes itself is counted by [`CloseReason`]; shutdown is graceful.
//!
//! Built on hyper with tower-http layers (compression, body limit, timeout) rather
//! than a framework: three fixed routes need no router, and the frameworks' `tokio`
//! features bring proc-macros into every user's build.

mod limits;
mod status;

use crate::encode::Format;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;
use tokio::sync::oneshot;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

pub use crate::scrape::{
    add_pre_scrape_hook, add_status_line, consistent_update, encode_all, render_metrics,
    status_lines, PreScrapeHook,
};
pub use limits::Limits;
pub use status::add_status_link;

/// Default time one request may take before it is answered with 503.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest the server waits for in-flight requests after shutdown was asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The response body of every route: whole, or streamed.
pub type Body = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// HTTP types for routes added with [`add_route`].
pub mod http {
    pub use hyper::body::{Body as HttpBody, Frame};
    pub use hyper::header::{self, HeaderValue};
    pub use hyper::{HeaderMap, Response, StatusCode};
}

/// A whole body.
pub fn full_body(bytes: Bytes) -> Body {
    use http_body_util::BodyExt as _;
    Full::new(bytes).boxed()
}

/// A streamed body (it ends when `body` does).
pub fn stream_body(
    body: impl hyper::body::Body<Data = Bytes, Error = std::convert::Infallible> + Send + Sync + 'static,
) -> Body {
    use http_body_util::BodyExt as _;
    body.boxed()
}

/// Put in a response's extensions ([`Response::extensions_mut`]) to make its
/// connection a live stream (server-sent events, say): from then on the connection cap
/// never closes it to make room for another. The route bounds its own streams (e.g.
/// answering 429 beyond its limit); past [`Limits::max_streams`] a marked connection
/// stays an ordinary one.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveStream;

/// Why the exporter closed a connection itself: the `close_reason` values of the
/// built-in spec fragment, in order (they index
/// `<namespace>_exporter_connections_closed_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The connection cap closed the oldest non-stream connection to admit a new one.
    Evicted,
    /// Accepting failed for want of file descriptors: the oldest non-stream connection
    /// was closed.
    FdExhausted,
    /// No complete request headers within [`Limits::header_read_timeout`] of
    /// connecting: a client that connected and sent nothing, or half a request.
    HeaderTimeout,
    /// A keep-alive connection got no next request within
    /// [`Limits::header_read_timeout`] after the ones it sent.
    IdleTimeout,
}

impl CloseReason {
    /// Every reason, in label-value order.
    pub const ALL: [CloseReason; 4] = [
        CloseReason::Evicted,
        CloseReason::FdExhausted,
        CloseReason::HeaderTimeout,
        CloseReason::IdleTimeout,
    ];

    /// The `close_reason` label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            CloseReason::Evicted => "evicted",
            CloseReason::FdExhausted => "fd_exhausted",
            CloseReason::HeaderTimeout => "header_timeout",
            CloseReason::IdleTimeout => "idle_timeout",
        }
    }

    /// Position in [`Self::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

fn count_close(reason: CloseReason) {
    crate::self_metrics::with(move |sm| {
        sm.exporter_connections_closed_total
            .get(reason.index())
            .inc()
    });
}

/// Closes the connection a request came on, at once (a stream whose client stopped
/// reading never gets polled again, so it cannot end itself).
#[derive(Clone, Default)]
pub struct ConnectionCloser(Arc<tokio::sync::Notify>);

impl ConnectionCloser {
    /// Close the connection.
    pub fn close(&self) {
        self.0.notify_one();
    }
}

/// What an added route sees of a request (GET or HEAD; headers already bounded).
pub struct RouteRequest<'a> {
    /// The path, e.g. `/live/atm`.
    pub path: &'a str,
    /// The query string without `?`, if any.
    pub query: Option<&'a str>,
    /// The request headers.
    pub headers: &'a hyper::HeaderMap,
    /// Closes this request's connection.
    pub closer: ConnectionCloser,
}

/// A route an application adds: `Some(response)` for the paths it serves.
pub type Route = Arc<dyn Fn(&RouteRequest<'_>) -> Option<Response<Body>> + Send + Sync>;

static ROUTES: once_cell::sync::Lazy<Mutex<Vec<Route>>> =
    once_cell::sync::Lazy::new(|| Mutex::new(Vec::new()));

/// Serve more paths (asked in order, after the built-in ones). Only GET and HEAD reach
/// them.
pub fn add_route(route: Route) {
    ROUTES.lock().unwrap_or_else(|p| p.into_inner()).push(route);
}

fn added_route<B>(req: &Request<B>) -> Option<Response<Body>> {
    let routes: Vec<Route> = ROUTES.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let r = RouteRequest {
        path: req.uri().path(),
        query: req.uri().query(),
        headers: req.headers(),
        closer: req
            .extensions()
            .get::<ConnectionCloser>()
            .cloned()
            .unwrap_or_default(),
    };
    routes.iter().find_map(|route| route(&r))
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut resp = Response::new(full_body(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// One render at a time: each takes the encoder's exclusive lock and a blocking
/// thread, and a render abandoned by the request timeout still runs to its end, so
/// concurrent scrapes queue here (bounded by the request timeout) instead of piling up
/// blocking threads.
static RENDERS: once_cell::sync::Lazy<Arc<tokio::sync::Semaphore>> =
    once_cell::sync::Lazy::new(|| Arc::new(tokio::sync::Semaphore::new(1)));

async fn metrics(format: Format) -> Response<Body> {
    let Ok(permit) = Arc::clone(&RENDERS).acquire_owned().await else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
    };
    // The permit goes with the blocking task: it is released when the render ends,
    // even if this request timed out meanwhile.
    let rendered = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        crate::scrape::render_metrics_as(format)
    })
    .await;
    let body = match rendered {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "metrics rendering failed");
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "metrics rendering failed\n",
            );
        }
    };
    let mut resp = Response::new(full_body(Bytes::from(body)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    resp
}

async fn route<B>(req: &Request<B>) -> Response<Body> {
    let path = req.uri().path();
    let builtin = matches!(path, "/metrics" | "/healthz" | "/");
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut resp = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served\n",
        );
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET,HEAD"));
        return resp;
    }
    if !builtin {
        return added_route(req).unwrap_or_else(|| {
            text(
                StatusCode::NOT_FOUND,
                "not found; try /metrics, /healthz or /\n",
            )
        });
    }
    match path {
        "/metrics" => {
            let accept = req
                .headers()
                .get_all(header::ACCEPT)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
                .join(",");
            metrics(Format::negotiate(&accept)).await
        }
        "/healthz" => text(StatusCode::OK, "ok\n"),
        _ => {
            let mut resp = Response::new(full_body(Bytes::from(status::render())));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            resp
        }
    }
}

/// Answer one request (behind the body-limit, timeout and compression layers): the
/// header limit, then the route. HEAD is answered like GET; hyper sends the headers
/// (Content-Length included) and leaves the body out.
async fn handle<B>(limits: Limits, req: Request<B>) -> Response<Body> {
    match limits.refuse(&req) {
        Some(refusal) => refusal,
        None => route(&req).await,
    }
}

/// Open connections, each with the means to close it: the ones the cap may close,
/// oldest first, and the live streams, which it never closes.
#[derive(Default)]
struct Connections {
    next_id: AtomicU64,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    /// Non-stream connections, oldest first.
    evictable: VecDeque<(u64, oneshot::Sender<()>)>,
    /// Connections that became live streams. Their senders are kept, not used: a
    /// dropped sender would complete the receiver and end the connection.
    streams: HashMap<u64, oneshot::Sender<()>>,
}

impl Connections {
    fn open(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Register a new connection; when `max` non-stream connections are open already,
    /// close the oldest of them to make room (an idle or stalled client must not lock
    /// scrapers out; a live stream is never the one closed).
    fn admit(&self, max: usize) -> (u64, oneshot::Receiver<()>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (close, closed) = oneshot::channel();
        let mut open = self.open();
        while open.evictable.len() >= max.max(1) {
            if let Some((_, oldest)) = open.evictable.pop_front() {
                let _ = oldest.send(());
                count_close(CloseReason::Evicted);
                evicted_once();
            }
        }
        open.evictable.push_back((id, close));
        (id, closed)
    }

    /// Close the oldest non-stream connection (out of file descriptors).
    fn close_oldest(&self) {
        let mut open = self.open();
        if let Some((_, oldest)) = open.evictable.pop_front() {
            let _ = oldest.send(());
            count_close(CloseReason::FdExhausted);
            evicted_once();
        }
    }

    /// Make connection `id` a live stream, out of the cap's reach, unless
    /// `max_streams` are streams already (then it stays evictable). True when it is one.
    fn promote(&self, id: u64, max_streams: usize) -> bool {
        let mut open = self.open();
        if open.streams.contains_key(&id) {
            return true;
        }
        if open.streams.len() >= max_streams {
            return false;
        }
        let Some(i) = open.evictable.iter().position(|(c, _)| *c == id) else {
            // Closed meanwhile.
            return false;
        };
        if let Some((id, close)) = open.evictable.remove(i) {
            open.streams.insert(id, close);
        }
        true
    }

    fn forget(&self, id: u64) {
        let mut open = self.open();
        if open.streams.remove(&id).is_some() {
            return;
        }
        if let Some(i) = open.evictable.iter().position(|(c, _)| *c == id) {
            open.evictable.remove(i);
        }
    }
}

fn evicted_once() {
    static LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !LOGGED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "connection limit reached; closing the oldest connections to make room (further closes are not logged)"
        );
    }
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
    let connections = Arc::new(Connections::default());
    let mut tasks = tokio::task::JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let Some(accepted) = first(listener.accept(), shutdown.as_mut()).await else {
            break;
        };
        let (stream, _) = match accepted {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors (EMFILE/ENFILE): close the oldest connection
                // so a scraper can get in, and back off instead of spinning.
                if matches!(e.raw_os_error(), Some(23 | 24)) {
                    connections.close_oldest();
                }
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (id, closed) = connections.admit(limits.max_connections);
        let closer = ConnectionCloser::default();
        let kick = Arc::clone(&closer.0);
        // Whether a request came: a header timeout after one is an idle keep-alive.
        let served = Arc::new(AtomicBool::new(false));
        let service = {
            let served = Arc::clone(&served);
            let connections = Arc::clone(&connections);
            tower::ServiceBuilder::new()
                .layer(CompressionLayer::new())
                .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    limits.request_timeout,
                ))
                .service_fn(move |mut req: Request<_>| {
                    req.extensions_mut().insert(closer.clone());
                    served.store(true, Ordering::Relaxed);
                    let connections = Arc::clone(&connections);
                    async move {
                        let resp = handle(limits, req).await;
                        if resp.extensions().get::<LiveStream>().is_some()
                            && !connections.promote(id, limits.max_streams)
                        {
                            tracing::debug!(
                                max_streams = limits.max_streams,
                                "stream bound reached; this stream's connection stays under the connection cap"
                            );
                        }
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                })
        };
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(limits.max_header_bytes.max(8192));
        let conn =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let watched = graceful.watch(conn);
        let connections = Arc::clone(&connections);
        // Reap finished connection tasks so the set stays as large as what is open.
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move {
            match first(watched, first(closed, kick.notified())).await {
                // hyper's header-read timeout: also what ends an idle keep-alive.
                Some(Err(e)) if e.is_timeout() => count_close(if served.load(Ordering::Relaxed) {
                    CloseReason::IdleTimeout
                } else {
                    CloseReason::HeaderTimeout
                }),
                Some(Err(e)) => tracing::debug!(error = %e, "connection ended with an error"),
                Some(Ok(())) => {}
                None => tracing::debug!("connection closed to make room, or by its route"),
            }
            connections.forget(id);
        });
    }
    drop(listener);
    if first(graceful.shutdown(), tokio::time::sleep(SHUTDOWN_GRACE))
        .await
        .is_none()
    {
        tracing::warn!("in-flight requests did not finish in time; closing them");
        tasks.abort_all();
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
