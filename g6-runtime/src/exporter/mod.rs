//! The HTTP exporter: a server that keeps its connections within bounds, and the
//! services it serves: [`MetricsService`] (`/metrics`, Prometheus text or OpenMetrics,
//! gzip when asked), [`healthz`] and the [`StatusPage`], or an application's own router
//! with them mounted ([`serve_with`]; [`serve`] serves the built-in [`Routes`]).
//!
//! Only GET and HEAD are served; request bodies and headers are bounded; every request
//! has a timeout; a client gets [`Limits::header_read_timeout`] to send each request's
//! headers (which also closes idle keep-alive connections); at most
//! [`Limits::max_connections`] connections are open besides live streams, the oldest
//! of them closed to make room, so idle or half-open connections can never lock a
//! scraper out. A connection whose response is marked [`LiveStream`] leaves that pool:
//! it is never closed to make room (its route bounds the streams; [`Limits::max_streams`]
//! is the backstop). Every connection the exporter closes itself is counted by
//! [`CloseReason`]; shutdown is graceful.
//!
//! The connection loop is hyper's with tower-http layers (compression, body limit,
//! timeout): no router framework's connection handling evicts the oldest idle
//! connection or exempts live streams, and the runtime stays free of one (routing is the
//! application's: G6 mounts these services in an axum `Router`).

pub mod auth;
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
    add_pre_scrape_hook, consistent_update, encode_all, render_metrics, PreScrapeHook,
};
pub use limits::Limits;
pub use status::StatusPage;
/// The TLS library of [`Server::tls`].
#[cfg(feature = "tls")]
pub use tokio_rustls::rustls;

/// Default time one request may take before it is answered with 503.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest the server waits for in-flight requests after shutdown was asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The response body of every route: whole, or streamed.
pub type Body = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// HTTP types for services served by [`serve_with`].
pub mod http {
    pub use hyper::body::{Body as HttpBody, Frame};
    pub use hyper::header::{self, HeaderValue};
    pub use hyper::{HeaderMap, Method, Request, Response, StatusCode};
}

/// The error type of request and response bodies handed between the server and the
/// service it serves.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request body a service served by [`serve_with`] receives (bounded by
/// [`Limits::max_body_bytes`]; GET and HEAD send none).
pub type RequestBody = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

/// A whole body.
pub fn full_body(bytes: Bytes) -> Body {
    use http_body_util::BodyExt as _;
    Full::new(bytes).boxed()
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

fn accept_header<B>(req: &Request<B>) -> String {
    req.headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",")
}

/// `/metrics` as a tower service: the exposition of every registered store, in the
/// format the request's `Accept` header asks for (Prometheus text or OpenMetrics).
/// Mount it in an application's router (`route_service("/metrics", MetricsService)`);
/// [`serve_with`] adds compression, limits and timeouts around it.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsService;

impl<B> tower::Service<Request<B>> for MetricsService {
    type Response = Response<Body>;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Response<Body>, std::convert::Infallible>> + Send>,
    >;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let format = Format::negotiate(&accept_header(&req));
        Box::pin(async move { Ok(metrics(format).await) })
    }
}

/// The answer of `/healthz`.
pub fn healthz() -> Response<Body> {
    text(StatusCode::OK, "ok\n")
}

/// The built-in routes, for a program without a router of its own: `/metrics`
/// ([`MetricsService`]), `/healthz` and the status page at `/`; anything else is 404.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    status: Arc<StatusPage>,
}

impl Routes {
    /// The built-in routes with `status` as the page at `/`.
    pub fn new(status: StatusPage) -> Self {
        Routes {
            status: Arc::new(status),
        }
    }
}

impl<B> tower::Service<Request<B>> for Routes {
    type Response = Response<Body>;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Response<Body>, std::convert::Infallible>> + Send>,
    >;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        match req.uri().path() {
            "/metrics" => MetricsService.call(req),
            "/healthz" => Box::pin(std::future::ready(Ok(healthz()))),
            "/" => {
                let page = self.status.html_response();
                Box::pin(std::future::ready(Ok(page)))
            }
            _ => Box::pin(std::future::ready(Ok(not_found()))),
        }
    }
}

/// 404 naming the built-in paths.
pub fn not_found() -> Response<Body> {
    text(
        StatusCode::NOT_FOUND,
        "not found; try /metrics, /healthz or /\n",
    )
}

/// What the server answers itself, before the service sees a request: methods other
/// than GET and HEAD, and requests over the limits.
fn refuse<B>(limits: &Limits, req: &Request<B>) -> Option<Response<Body>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut resp = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served\n",
        );
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET,HEAD"));
        return Some(resp);
    }
    limits.refuse(req)
}

type AppService = tower::util::BoxCloneSyncService<
    Request<RequestBody>,
    Response<ResponseBody>,
    std::convert::Infallible,
>;

/// The response body the server sends (any service's, boxed).
type ResponseBody = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

fn boxed<B>(resp: Response<B>) -> Response<ResponseBody>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    use http_body_util::BodyExt as _;
    resp.map(|b| b.map_err(box_error::<B::Error>).boxed_unsync())
}

// A concrete error type, not a `Box<dyn Error>`: the boxed trait object's lifetime is
// lost in the spawned connection task's future and it would not be `Send` (rustc #64552).
fn box_error<E: Into<BoxError>>(e: E) -> std::io::Error {
    std::io::Error::other(e.into())
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

/// Serve the built-in [`Routes`] on `listener` until `shutdown` completes (see
/// [`Server`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    Server::new(listener)
        .limits(limits)
        .serve(Routes::default(), shutdown)
        .await
}

/// Serve `service` on `listener` within `limits`, in plain HTTP and without access
/// control, until `shutdown` completes (see [`Server`]).
pub async fn serve_with<S, B>(
    listener: tokio::net::TcpListener,
    limits: Limits,
    service: S,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: tower::Service<
            Request<RequestBody>,
            Response = Response<B>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    Server::new(listener)
        .limits(limits)
        .serve(service, shutdown)
        .await
}

/// The exporter's server: a listener, its [`Limits`] and, optionally, TLS and HTTP
/// basic authentication (the Prometheus exporters' web configuration).
///
/// It serves a service (an application's router, say, with [`MetricsService`] mounted
/// at `/metrics`) until the shutdown future completes, then finishes in-flight
/// requests (for at most a few seconds). The server answers itself: methods other
/// than GET and HEAD (405), requests over the limits, and requests without valid
/// credentials (401) when users are set; the rest reach the service behind
/// compression, the body limit and the request timeout. A response carrying
/// [`LiveStream`] makes its connection a live stream; a request's extensions carry a
/// [`ConnectionCloser`] for its connection.
pub struct Server {
    listener: tokio::net::TcpListener,
    limits: Limits,
    #[cfg(feature = "tls")]
    tls: Option<tokio_rustls::TlsAcceptor>,
    auth: Option<Arc<auth::BasicAuth>>,
}

impl Server {
    /// A plain-HTTP server on `listener` with the default limits and no access control.
    pub fn new(listener: tokio::net::TcpListener) -> Self {
        Server {
            listener,
            limits: Limits::default(),
            #[cfg(feature = "tls")]
            tls: None,
            auth: None,
        }
    }

    /// Bound connections and requests by `limits`.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Serve HTTPS only, with `config` (certificate, key, client verification). The
    /// TLS handshake must end within [`Limits::header_read_timeout`].
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: Arc<tokio_rustls::rustls::ServerConfig>) -> Self {
        self.tls = Some(tokio_rustls::TlsAcceptor::from(config));
        self
    }

    /// Ask every request for HTTP basic credentials checked against `users`, except
    /// the paths `users` leaves open.
    pub fn basic_auth(mut self, users: auth::BasicAuth) -> Self {
        self.auth = Some(Arc::new(users));
        self
    }

    /// Serve `service` until `shutdown` completes.
    pub async fn serve<S, B>(
        self,
        service: S,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()>
    where
        S: tower::Service<
                Request<RequestBody>,
                Response = Response<B>,
                Error = std::convert::Infallible,
            > + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        use tower::ServiceExt as _;
        // One concrete service type for the connection loop (its spawned futures must be
        // Send for any service).
        let service: AppService =
            tower::util::BoxCloneSyncService::new(service.map_response(boxed));
        self.serve_boxed(service, shutdown).await
    }

    async fn serve_boxed(
        self,
        service: AppService,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Server {
            listener,
            limits,
            #[cfg(feature = "tls")]
            tls,
            auth,
        } = self;
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
                    // Out of file descriptors (EMFILE/ENFILE): close the oldest
                    // connection so a scraper can get in, and back off instead of
                    // spinning.
                    if matches!(e.raw_os_error(), Some(23 | 24)) {
                        connections.close_oldest();
                    }
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // Admitted before any handshake: a client that never finishes one is
            // under the cap like any other.
            let (id, closed) = connections.admit(limits.max_connections);
            let conn = Conn {
                id,
                limits,
                service: service.clone(),
                auth: auth.clone(),
                connections: Arc::clone(&connections),
                watcher: graceful.watcher(),
            };
            #[cfg(feature = "tls")]
            let tls = tls.clone();
            // Reap finished connection tasks so the set stays as large as what is open.
            while tasks.try_join_next().is_some() {}
            tasks.spawn(async move {
                #[cfg(feature = "tls")]
                if let Some(acceptor) = tls {
                    let handshake =
                        tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream));
                    let mut closed = closed;
                    match first(handshake, &mut closed).await {
                        Some(Ok(Ok(tls_stream))) => conn.run(tls_stream, closed).await,
                        Some(Ok(Err(e))) => {
                            tls_failed_once(&e);
                            conn.connections.forget(conn.id);
                        }
                        Some(Err(_)) => {
                            count_close(CloseReason::HeaderTimeout);
                            conn.connections.forget(conn.id);
                        }
                        None => conn.connections.forget(conn.id),
                    }
                    return;
                }
                conn.run(stream, closed).await;
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
}

#[cfg(feature = "tls")]
fn tls_failed_once(e: &std::io::Error) {
    static LOGGED: AtomicBool = AtomicBool::new(false);
    if !LOGGED.swap(true, Ordering::Relaxed) {
        tracing::warn!(error = %e, "a TLS handshake failed (a client without a trusted certificate, or speaking plain HTTP); further failures are logged at debug");
    } else {
        tracing::debug!(error = %e, "TLS handshake failed");
    }
}

/// One accepted connection, before it is served.
struct Conn {
    id: u64,
    limits: Limits,
    service: AppService,
    auth: Option<Arc<auth::BasicAuth>>,
    connections: Arc<Connections>,
    watcher: hyper_util::server::graceful::Watcher,
}

impl Conn {
    /// Serve HTTP/1.1 on `io` until the client leaves, a timeout, the cap closes it
    /// (`closed`) or its route does.
    async fn run<I>(self, io: I, closed: oneshot::Receiver<()>)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Conn {
            id,
            limits,
            service,
            auth,
            connections,
            watcher,
        } = self;
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
                .service_fn(
                    move |mut req: Request<tower_http::body::Limited<hyper::body::Incoming>>| {
                        req.extensions_mut().insert(closer.clone());
                        served.store(true, Ordering::Relaxed);
                        let connections = Arc::clone(&connections);
                        let service = service.clone();
                        let auth = auth.clone();
                        async move {
                            let resp = match refuse(&limits, &req) {
                                Some(refusal) => boxed(refusal),
                                None => match auth::check(auth.as_deref(), &req).await {
                                    Some(refusal) => boxed(refusal),
                                    None => {
                                        use http_body_util::BodyExt as _;
                                        let req =
                                            req.map(|b| b.map_err(box_error).boxed_unsync());
                                        match tower::ServiceExt::oneshot(service, req).await {
                                            Ok(resp) => resp,
                                            Err(never) => match never {},
                                        }
                                    }
                                },
                            };
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
                    },
                )
        };
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(limits.max_header_bytes.max(8192));
        let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
        let watched = watcher.watch(conn);
        match first(watched, first(closed, kick.notified_owned())).await {
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
    }
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
