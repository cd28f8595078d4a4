//! An application's own router served by the exporter (`serve_with`) with the runtime's
//! `/metrics` mounted: whole and streamed bodies, GET/HEAD only, and a streamed response
//! can close its own connection at once (what the live view does to a client that
//! stopped reading).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use g6_metrics::exporter::http::{Frame, HttpBody, StatusCode};
use g6_metrics::exporter::{self, ConnectionCloser, Limits};
use std::io::{BufRead, BufReader};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// One chunk, then nothing, forever (a stream the server must be able to cut).
struct Endless(bool);

impl HttpBody for Endless {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<bytes::Bytes>, Self::Error>>> {
        if self.0 {
            return Poll::Pending;
        }
        self.0 = true;
        Poll::Ready(Some(Ok(Frame::data(bytes::Bytes::from_static(b"hello\n")))))
    }
}

#[test]
fn an_apps_router_serves_whole_and_streamed_bodies_beside_metrics_and_a_stream_can_close_its_connection(
) {
    let closers: Arc<Mutex<Vec<ConnectionCloser>>> = Arc::default();
    let kept = closers.clone();
    let router = axum::Router::new()
        .route_service("/metrics", exporter::MetricsService)
        .route(
            "/hello",
            axum::routing::get(|q: axum::extract::RawQuery| async move {
                format!("hello {}\n", q.0.unwrap_or_default())
            }),
        )
        .route(
            "/endless",
            axum::routing::get(move |req: axum::extract::Request| {
                let kept = kept.clone();
                async move {
                    kept.lock()
                        .unwrap()
                        .push(req.extensions().get::<ConnectionCloser>().unwrap().clone());
                    axum::body::Body::new(Endless(false))
                }
            }),
        )
        .fallback(|| async { exporter::not_found() });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    rt.spawn(exporter::serve_with(
        listener,
        Limits::default(),
        router,
        std::future::pending(),
    ));

    // The runtime's /metrics, mounted in the app's router, negotiates its format.
    let m = common::http(
        &addr,
        "GET",
        "/metrics",
        "Accept: application/openmetrics-text; version=1.0.0\r\n",
    );
    assert_eq!(m.status, 200);
    assert!(
        m.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{:?}",
        m.header("content-type")
    );
    assert!(m.text().ends_with("# EOF\n"), "{}", m.text());
    let r = common::http(&addr, "GET", "/hello?x=1", "");
    assert_eq!((r.status, r.text().as_str()), (200, "hello x=1\n"));
    assert_eq!(
        common::http(&addr, "POST", "/hello", "").status,
        StatusCode::METHOD_NOT_ALLOWED.as_u16()
    );
    assert_eq!(common::http(&addr, "GET", "/nothing", "").status, 404);

    // The stream's first chunk arrives; then its route closes the connection.
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    use std::io::Write;
    write!(s, "GET /endless HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    while !line.starts_with("hello") {
        line.clear();
        assert!(r.read_line(&mut line).unwrap() > 0, "no first chunk");
    }
    let t = Instant::now();
    closers.lock().unwrap()[0].close();
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut r, &mut rest);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "the connection stayed open"
    );
    // Only the end of the first chunk, and no final chunk: cut, not finished.
    assert_eq!(String::from_utf8_lossy(&rest), "\r\n");
}
