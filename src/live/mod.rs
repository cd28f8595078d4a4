//! The live near-ATM slice: the bus's chain messages become, per index and expiry,
//! a window of strikes around the money, served as server-sent events (`full`, then
//! `diff` per snapshot, `heartbeat` when quiet) at `/live/atm`, with a page at `/live`.
//! Per-contract data never reaches Prometheus: only the `sse`, `panels` and `stream`
//! families count what is sent.

pub mod hub;
pub mod sse;
pub mod window;

pub use hub::Hub;

use std::sync::Arc;

/// Feed `hub` from an in-process bus subscription
/// until `stop` is given or the bus closes; then the hub ends every stream.
pub async fn feed(
    hub: Arc<Hub>,
    mut subscription: crate::bus::inproc::Subscription,
    stop: crate::shutdown::Stop,
) {
    loop {
        tokio::select! {
            m = subscription.recv() => match m {
                Some(m) => hub.publish(&m),
                None => break,
            },
            () = stop.stopped() => break,
        }
    }
    hub.close();
}
