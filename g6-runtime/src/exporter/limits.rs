//! Request limits: body and header sizes, and a per-request timeout.

use super::{text, Body};
use hyper::header;
use hyper::{Request, Response, StatusCode};
use std::time::Duration;

/// Bounds applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body accepted (GET and HEAD need none).
    pub max_body_bytes: u64,
    /// Largest total size of request headers.
    pub max_header_bytes: usize,
    /// Time a request may take before it is answered with 503.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1024,
            max_header_bytes: 16 * 1024,
            request_timeout: super::DEFAULT_REQUEST_TIMEOUT,
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
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
        if declared.is_some_and(|n| n > self.max_body_bytes) || chunked {
            return Some(text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large; this server only answers GET and HEAD\n",
            ));
        }
        None
    }
}
