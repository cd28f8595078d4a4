//! Connection and request limits.

use super::{text, Body};
use hyper::header;
use hyper::{Request, Response, StatusCode};
use std::time::Duration;

/// Bounds applied to every connection and request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body accepted (GET and HEAD need none); larger gets 413.
    pub max_body_bytes: usize,
    /// Largest total size of request headers.
    pub max_header_bytes: usize,
    /// Time a request may take before it is answered with 503.
    pub request_timeout: Duration,
    /// Time a client has to send a request's headers, counted from when the server
    /// starts waiting for them; also how long an idle keep-alive connection stays open.
    pub header_read_timeout: Duration,
    /// Most connections open at once besides live streams; a new one closes the oldest
    /// of them.
    pub max_connections: usize,
    /// Most connections serving a [`super::LiveStream`] at once, on top of
    /// `max_connections`: these are never closed to make room. A route should refuse
    /// streams beyond its own bound first; past this one a stream's connection is
    /// treated like any other.
    pub max_streams: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1024,
            max_header_bytes: 16 * 1024,
            request_timeout: super::DEFAULT_REQUEST_TIMEOUT,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_streams: 256,
        }
    }
}

impl Limits {
    /// The answer to a request these limits refuse, if they do.
    pub(super) fn refuse<B>(&self, req: &Request<B>) -> Option<Response<Body>> {
        let header_bytes: usize = req
            .headers()
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum();
        if header_bytes > self.max_header_bytes {
            return Some(text(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "request headers too large\n",
            ));
        }
        // Declared lengths over the limit are refused by the body-limit layer; a chunked
        // body has no length to check up front, and no route takes a body.
        if req.headers().contains_key(header::TRANSFER_ENCODING) {
            return Some(text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large; this server only answers GET and HEAD\n",
            ));
        }
        None
    }
}
