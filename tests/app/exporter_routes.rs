//! Routes an application adds to the exporter: served beside the built-in ones, whole
//! or streamed, GET/HEAD only, and a streamed response can close its own connection at
//! once (what the live view does to a client that stopped reading).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use g6_metrics::exporter::http::{Frame, HttpBody, Response, StatusCode};
use g6_metrics::exporter::{self, ConnectionCloser, Limits, RouteRequest};
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
fn added_routes_serve_whole_and_streamed_bodies_and_a_stream_can_close_its_connection() {
    let closers: Arc<Mutex<Vec<ConnectionCloser>>> = Arc::default();
    let kept = closers.clone();
    exporter::add_route(Arc::new(move |req: &RouteRequest<'_>| match req.path {
        "/hello" => Some(Response::new(exporter::full_body(bytes::Bytes::from(
            format!("hello {}\n", req.query.unwrap_or("")),
        )))),
        "/endless" => {
            kept.lock().unwrap().push(req.closer.clone());
            Some(Response::new(exporter::stream_body(Endless(false))))
        }
        _ => None,
    }));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    rt.spawn(exporter::serve(
        listener,
        Limits::default(),
        std::future::pending(),
    ));

    let r = common::http(&addr, "GET", "/hello?x=1", "");
    assert_eq!((r.status, r.text().as_str()), (200, "hello x=1\n"));
    assert_eq!(
        common::http(&addr, "POST", "/hello", "").status,
        StatusCode::METHOD_NOT_ALLOWED.as_u16()
    );
    assert_eq!(common::http(&addr, "GET", "/nothing", "").status, 404);
    assert_eq!(common::http(&addr, "GET", "/healthz", "").status, 200);

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
