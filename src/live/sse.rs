//! The SSE side of the live hub, as an axum router: the `/live/atm` stream (the
//! subscription's backlog, then its events, and a heartbeat after `heartbeat` of
//! quiet), `/live/catalog` (indices and expiries with data) and the `/live` page. At
//! most `max_clients` streams are open; beyond, 429.

use super::hub::{Event, Hub, Refused, Subscription};
use crate::labels::SseEvent;
use crate::metrics;
use crate::runtime::exporter::{self, ConnectionCloser};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::Sse;
use axum::response::{IntoResponse, Response};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Quiet time after which a heartbeat is sent.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// Default window: strikes on each side of the ATM strike.
pub const DEFAULT_STRIKES: usize = 10;

const PAGE: &str = include_str!("page.html");

/// A stream of one client's events (axum's [`Sse`] writes them).
struct SseStream {
    backlog: VecDeque<Event>,
    events: tokio::sync::mpsc::Receiver<Event>,
    quiet: Pin<Box<tokio::time::Sleep>>,
    heartbeat: Duration,
    open: Arc<AtomicUsize>,
    /// The id of the last event sent (a heartbeat repeats it).
    last_id: Arc<str>,
}

impl Drop for SseStream {
    fn drop(&mut self) {
        let now = self.open.fetch_sub(1, Ordering::Relaxed).saturating_sub(1);
        metrics::sse_connections().set(now as f64);
        metrics::stream_connected_clients().set(now as f64);
    }
}

fn sent(ev: &Event) {
    metrics::sse_events_sent_total(ev.kind).inc();
    metrics::stream_events_total(ev.kind.as_str()).inc();
    metrics::sse_flush_latency_seconds().observe(ev.made.elapsed().as_secs_f64());
    if ev.as_of_ms > 0 {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        metrics::stream_lag_seconds().set((now_ms - ev.as_of_ms).max(0) as f64 / 1000.0);
    }
}

impl SseStream {
    fn send(&mut self, ev: &Event) -> axum::response::sse::Event {
        sent(ev);
        self.last_id = Arc::clone(&ev.id);
        let next = self.heartbeat;
        self.quiet
            .as_mut()
            .reset(tokio::time::Instant::now() + next);
        ev.to_sse()
    }
}

impl futures_util::Stream for SseStream {
    type Item = Result<axum::response::sse::Event, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(ev) = self.backlog.pop_front() {
            return Poll::Ready(Some(Ok(self.send(&ev))));
        }
        match self.events.poll_recv(cx) {
            Poll::Ready(Some(ev)) => return Poll::Ready(Some(Ok(self.send(&ev)))),
            // The hub let go: shutdown, or this client fell behind.
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        if self.quiet.as_mut().poll(cx).is_ready() {
            // A heartbeat repeats the client's last id.
            let ev = Event {
                made: Instant::now(),
                kind: SseEvent::Heartbeat,
                data: Arc::from("{}"),
                as_of_ms: 0,
                id: Arc::clone(&self.last_id),
            };
            return Poll::Ready(Some(Ok(self.send(&ev))));
        }
        Poll::Pending
    }
}

fn plain(status: StatusCode, text: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

fn query(q: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// What the live routes share.
struct Live {
    hub: Arc<Hub>,
    /// Streams open now.
    open: Arc<AtomicUsize>,
    max_clients: usize,
    heartbeat: Duration,
}

/// The live routes over `hub` (`/live`, `/live/catalog`, `/live/atm`), with at most
/// `max_clients` streams and a heartbeat after `heartbeat` of quiet.
pub fn router(hub: Arc<Hub>, max_clients: usize, heartbeat: Duration) -> axum::Router {
    let live = Arc::new(Live {
        hub,
        open: Arc::new(AtomicUsize::new(0)),
        max_clients,
        heartbeat,
    });
    axum::Router::new()
        .route(
            "/live",
            axum::routing::get(|| async {
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE)
            }),
        )
        .route("/live/catalog", axum::routing::get(catalog))
        .route("/live/atm", axum::routing::get(atm))
        .with_state(live)
}

async fn catalog(State(live): State<Arc<Live>>) -> Response {
    let body = serde_json::to_string(&live.hub.catalog()).unwrap_or_else(|_| "{}".into());
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn atm(State(live): State<Arc<Live>>, req: Request) -> Response {
    let (hub, open, max_clients, heartbeat) =
        (&live.hub, &live.open, live.max_clients, live.heartbeat);
    let q = query(req.uri().query());
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let Some(index) = get("index").filter(|i| !i.is_empty()) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "say which index: /live/atm?index=NIFTY[&expiry=YYYY-MM-DD|nearest][&strikes=10]\n"
                .into(),
        );
    };
    let strikes = match get("strikes") {
        None => DEFAULT_STRIKES,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=super::hub::MAX_STRIKES).contains(&n) => n,
            _ => {
                return plain(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "strikes={s:?}: give a number of strikes on each side, 1 to {}\n",
                        super::hub::MAX_STRIKES
                    ),
                )
            }
        },
    };
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let expiry = match get("expiry") {
        None | Some("nearest") | Some("") => match hub.nearest_expiry(index, &today) {
            Some(e) => e,
            None => {
                return plain(
                    StatusCode::NOT_FOUND,
                    format!("no data for index {index:?} yet; see /live/catalog\n"),
                )
            }
        },
        Some(e) if chrono::NaiveDate::parse_from_str(e, "%Y-%m-%d").is_ok() => e.to_string(),
        Some(e) => {
            return plain(
                StatusCode::BAD_REQUEST,
                format!("expiry {e:?} is not a date: give YYYY-MM-DD or nearest; /live/catalog lists them\n"),
            )
        }
    };
    if !hub.has(index, &expiry) {
        return plain(
            StatusCode::NOT_FOUND,
            format!("no data for {index} expiry {expiry}; see /live/catalog\n"),
        );
    }
    // Count first, so two racing clients cannot both take the last place.
    if open.fetch_add(1, Ordering::Relaxed) >= max_clients {
        open.fetch_sub(1, Ordering::Relaxed);
        let mut r = plain(
            StatusCode::TOO_MANY_REQUESTS,
            format!("{max_clients} live clients are connected already (--live-max-clients); try again later\n"),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return r;
    }
    let last_id = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok());
    // The exporter gives every request the means to close its connection.
    let closer = req
        .extensions()
        .get::<ConnectionCloser>()
        .cloned()
        .unwrap_or_default();
    let kick: super::hub::Kick = Arc::new(move || closer.close());
    let sub: Subscription = match hub.subscribe(index, &expiry, strikes, last_id, Some(kick)) {
        Ok(s) => s,
        Err(e) => {
            open.fetch_sub(1, Ordering::Relaxed);
            return match e {
                Refused::Unknown(m) => {
                    plain(StatusCode::NOT_FOUND, format!("{m}; see /live/catalog\n"))
                }
                Refused::Closed => plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".into()),
                Refused::TooManyViews => plain(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "{} window sizes of {index} {expiry} are served already; use one of them (strikes=10 is the default)\n",
                        super::hub::MAX_VIEWS
                    ),
                ),
            };
        }
    };
    let now = open.load(Ordering::Relaxed);
    metrics::sse_connections().set(now as f64);
    metrics::stream_connected_clients().set(now as f64);
    let stream = SseStream {
        last_id: sub
            .backlog
            .last()
            .map(|e| Arc::clone(&e.id))
            .unwrap_or_else(|| Arc::from(last_id.unwrap_or(""))),
        backlog: sub.backlog.into(),
        events: sub.events,
        quiet: Box::pin(tokio::time::sleep(heartbeat)),
        heartbeat,
        open: Arc::clone(open),
    };
    let mut r = Sse::new(stream).into_response();
    // A viewer is never closed to make room for other connections: the streams are
    // bounded here (429 above), the rest by --max-connections.
    r.extensions_mut().insert(exporter::LiveStream);
    r.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}
