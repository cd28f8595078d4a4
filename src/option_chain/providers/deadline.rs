//! Every fetch under a deadline: the wrapped provider runs on a worker thread of its
//! own, and the collection loop waits for it at most the fetch timeout. A read that
//! blocks (a FIFO, a hung network mount) then costs one timeout per cycle instead of
//! stalling the loop: the cycle is counted as a timeout, the staleness gauge keeps
//! growing, and shutdown never waits on it. While a fetch is still running, later
//! cycles fail at once with `still_running` rather than queueing behind it.

use crate::labels::{FetchFailure, Source};
use crate::option_chain::{OptionChainProvider, ProviderError, Snapshot};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::Duration;

type Answer = Result<Snapshot, ProviderError>;

/// A provider whose fetches run on a worker thread, each bounded by a timeout.
pub struct WithDeadline {
    name: String,
    source: Source,
    indices: Vec<String>,
    timeout: Duration,
    requests: Sender<()>,
    answers: Receiver<Answer>,
    /// A fetch was abandoned at its deadline and has not answered yet.
    in_flight: bool,
}

impl WithDeadline {
    /// Run `provider` on its own worker thread with `timeout` per fetch.
    pub fn new(mut provider: impl OptionChainProvider + 'static, timeout: Duration) -> Self {
        let name = provider.name().to_string();
        let source = provider.source();
        let indices = provider.indices();
        let (requests, pending) = mpsc::channel::<()>();
        let (reply, answers) = mpsc::channel::<Answer>();
        let spawned = std::thread::Builder::new()
            .name(format!("g6-provider-{name}"))
            .spawn(move || {
                // Ends when the wrapper (and so the request channel) is dropped.
                while pending.recv().is_ok() {
                    if reply.send(provider.fetch()).is_err() {
                        break;
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, provider = %name, "cannot start the provider thread; every fetch will fail");
        }
        WithDeadline {
            name,
            source,
            indices,
            timeout,
            requests,
            answers,
            in_flight: false,
        }
    }

    /// [`WithDeadline::new`], boxed for [`crate::option_chain::providers::from_spec`].
    pub fn boxed(
        provider: impl OptionChainProvider + 'static,
        timeout: Duration,
    ) -> Box<dyn OptionChainProvider> {
        Box::new(WithDeadline::new(provider, timeout))
    }

    fn gone(&self) -> ProviderError {
        ProviderError::new(
            FetchFailure::Unreadable,
            format!("the {} provider's thread is gone", self.name),
        )
    }
}

impl OptionChainProvider for WithDeadline {
    fn name(&self) -> &str {
        &self.name
    }

    fn source(&self) -> Source {
        self.source
    }

    fn indices(&self) -> Vec<String> {
        self.indices.clone()
    }

    fn fetch(&mut self) -> Result<Snapshot, ProviderError> {
        if self.in_flight {
            match self.answers.try_recv() {
                // The late answer describes the past: drop it and fetch afresh.
                Ok(_) => self.in_flight = false,
                Err(TryRecvError::Empty) => {
                    return Err(ProviderError::new(
                        FetchFailure::StillRunning,
                        format!(
                            "the previous {} fetch has not finished after {:?}",
                            self.name, self.timeout
                        ),
                    ))
                }
                Err(TryRecvError::Disconnected) => return Err(self.gone()),
            }
        }
        if self.requests.send(()).is_err() {
            return Err(self.gone());
        }
        match self.answers.recv_timeout(self.timeout) {
            Ok(answer) => answer,
            Err(RecvTimeoutError::Timeout) => {
                self.in_flight = true;
                Err(ProviderError::timeout(format!(
                    "{} did not answer within {:?} (--fetch-timeout)",
                    self.name, self.timeout
                )))
            }
            Err(RecvTimeoutError::Disconnected) => Err(self.gone()),
        }
    }
}
