//! The SSE side of the live hub: the `/live/atm` stream (a body that sends the
//! subscription's backlog, then its events, and a heartbeat after 15 s of quiet),
//! `/live/catalog` (indices and expiries with data) and the `/live` page, as routes on
//! the exporter's server. At most `max_clients` streams are open; beyond, 429.

use super::hub::{Event, Hub, Refused, Subscription};
use crate::labels::SseEvent;
use crate::metrics;
use crate::runtime::exporter::http::{header, Frame, HeaderValue, HttpBody, Response, StatusCode};
use crate::runtime::exporter::{self, Body, RouteRequest};
use bytes::Bytes;
use std::collections::VecDeque;
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

/// A stream of one client's events.
struct SseBody {
    backlog: VecDeque<Event>,
    events: tokio::sync::mpsc::Receiver<Event>,
    quiet: Pin<Box<tokio::time::Sleep>>,
    heartbeat: Duration,
    open: Arc<AtomicUsize>,
    /// The id of the last event sent (a heartbeat repeats it).
    last_id: Arc<str>,
}

impl Drop for SseBody {
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

impl HttpBody for SseBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let next = self.heartbeat;
        if let Some(ev) = self.backlog.pop_front() {
            sent(&ev);
            self.last_id = Arc::clone(&ev.id);
            self.quiet
                .as_mut()
                .reset(tokio::time::Instant::now() + next);
            return Poll::Ready(Some(Ok(Frame::data(ev.bytes))));
        }
        match self.events.poll_recv(cx) {
            Poll::Ready(Some(ev)) => {
                sent(&ev);
                self.last_id = Arc::clone(&ev.id);
                self.quiet
                    .as_mut()
                    .reset(tokio::time::Instant::now() + next);
                return Poll::Ready(Some(Ok(Frame::data(ev.bytes))));
            }
            // The hub let go: shutdown, or this client fell behind.
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        if self.quiet.as_mut().poll(cx).is_ready() {
            self.quiet
                .as_mut()
                .reset(tokio::time::Instant::now() + next);
            let ev = Event {
                made: Instant::now(),
                kind: SseEvent::Heartbeat,
                bytes: Bytes::from(format!(
                    "id: {}\nevent: heartbeat\ndata: {{}}\n\n",
                    self.last_id
                )),
                as_of_ms: 0,
                id: Arc::clone(&self.last_id),
            };
            sent(&ev);
            return Poll::Ready(Some(Ok(Frame::data(ev.bytes))));
        }
        Poll::Pending
    }
}

fn plain(status: StatusCode, text: String) -> Response<Body> {
    let mut r = Response::new(exporter::full_body(Bytes::from(text)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn query(q: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The live routes over `hub`, with at most `max_clients` streams.
pub fn routes(hub: Arc<Hub>, max_clients: usize, heartbeat: Duration) -> exporter::Route {
    let open = Arc::new(AtomicUsize::new(0));
    Arc::new(move |req: &RouteRequest<'_>| -> Option<Response<Body>> {
        match req.path {
            "/live" => {
                let mut r = Response::new(exporter::full_body(Bytes::from_static(PAGE.as_bytes())));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                Some(r)
            }
            "/live/catalog" => {
                let body = serde_json::to_string(&hub.catalog()).unwrap_or_else(|_| "{}".into());
                let mut r = Response::new(exporter::full_body(Bytes::from(body)));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                Some(r)
            }
            "/live/atm" => Some(atm(&hub, req, &open, max_clients, heartbeat)),
            _ => None,
        }
    })
}

fn atm(
    hub: &Hub,
    req: &RouteRequest<'_>,
    open: &Arc<AtomicUsize>,
    max_clients: usize,
    heartbeat: Duration,
) -> Response<Body> {
    let q = query(req.query);
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
        Some(e) => e.to_string(),
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
        .headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok());
    let closer = req.closer.clone();
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
    let body = SseBody {
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
    let mut r = Response::new(exporter::stream_body(body));
    // A viewer is never closed to make room for other connections: the streams are
    // bounded here (429 above), the rest by --max-connections.
    r.extensions_mut().insert(exporter::LiveStream);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}
