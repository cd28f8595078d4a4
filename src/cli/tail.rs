//! `g6 tail`: the reference consumer of the bus. One line per message (index, expiry,
//! snapshot id, as-of, contracts), or the whole message as JSON with `--json`.

use super::{parse_duration, BusOptions};
use crate::bus::message::{ChainMessage, JsonMessage};
use futures_util::StreamExt as _;
use std::collections::{HashSet, VecDeque};
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

/// Options of `g6 tail`.
#[derive(Debug, clap::Args)]
pub struct TailOptions {
    /// NATS server (nats://HOST:PORT). Without it, tail runs --provider here and
    /// prints its in-process bus.
    #[arg(long, value_parser = super::options::Redacted(super::options::parse_nats))]
    bus: Option<crate::bus::nats::NatsServers>,
    #[command(flatten)]
    bus_options: BusOptions,
    /// Only subjects matching this pattern (NATS wildcards: `*` one token, `>` the
    /// rest), e.g. g6.chain.NIFTY.>
    #[arg(long, value_parser = subject_pattern)]
    subject: Option<String>,
    /// Durable consumer name: acknowledges each message after printing it and resumes
    /// where it stopped on the next run.
    #[arg(long, value_parser = consumer_name)]
    durable: Option<String>,
    /// Without --durable: start from the first message the stream holds (default:
    /// only new messages).
    #[arg(long)]
    all: bool,
    /// Print each whole message as one JSON object.
    #[arg(long)]
    json: bool,
    /// Exit after this many messages.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// In-process mode: the provider to run (as in `g6 serve`).
    #[arg(long, default_value = "synthetic")]
    provider: crate::option_chain::providers::ProviderSpec,
    /// In-process mode: time between collection cycles.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    interval: Duration,
}

/// NATS subject pattern matching: `*` matches one token, `>` one or more at the end.
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Prints messages, dropping redeliveries of ones already printed in this run.
struct Printer {
    json: bool,
    remaining: Option<u64>,
    seen: HashSet<String>,
    order: VecDeque<String>,
}

/// Consecutive pull errors after which the consumer is made again.
const MAX_CONSECUTIVE_ERRORS: u32 = 10;

/// Message ids remembered to drop redeliveries (a JetStream consumer delivers at least
/// once; an ack lost in a server crash brings a message back).
const SEEN_IDS: usize = 100_000;

impl Printer {
    fn new(json: bool, count: Option<u64>) -> Self {
        Printer {
            json,
            remaining: count,
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Print `m` unless one with its key (index, expiry, snapshot id, part) was
    /// printed already in this run; false once the count is reached. JetStream
    /// delivers at least once: after a server crash a consumer's recent deliveries
    /// and acknowledgements can be forgotten and the messages come again.
    fn print(&mut self, m: &ChainMessage) -> bool {
        let id = m.message_id();
        if self.seen.contains(&id) {
            return true;
        }
        if self.order.len() >= SEEN_IDS {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.seen.insert(id.clone());
        self.order.push_back(id);
        let line = if self.json {
            serde_json::to_string(&JsonMessage::from(m)).unwrap_or_default()
        } else {
            m.summary()
        };
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            // stdout closed (a pipe into head): done.
            return false;
        }
        if let Some(r) = self.remaining.as_mut() {
            *r -= 1;
            return *r > 0;
        }
        true
    }

    fn done(&self) -> bool {
        self.remaining == Some(0)
    }

    /// Messages to ask the server for next: never more than are left to print, so
    /// nothing is delivered to this run that it will not print and acknowledge.
    fn wanted(&self) -> usize {
        self.remaining
            .map_or(PULL_BATCH, |r| usize::try_from(r).unwrap_or(PULL_BATCH))
            .clamp(1, PULL_BATCH)
    }
}

/// Most messages asked for in one pull (bounds what is held in memory, and what is
/// handed back unprinted when tail is stopped).
const PULL_BATCH: usize = 64;

/// How long one pull request waits on the server for messages.
const PULL_EXPIRES: Duration = Duration::from_secs(5);

/// How long, once stopped, tail keeps handing back messages already on their way.
const HAND_BACK: Duration = Duration::from_millis(300);

/// `--subject`, checked as a NATS subject pattern.
fn subject_pattern(s: &str) -> Result<String, String> {
    crate::bus::nats::check_subject_pattern(s).map(|()| s.to_string())
}

/// `--durable`, checked as a JetStream consumer name.
fn consumer_name(s: &str) -> Result<String, String> {
    crate::bus::nats::check_consumer_name(s).map(|()| s.to_string())
}

/// Run `g6 tail`.
pub fn run(opts: TailOptions) -> ExitCode {
    super::init_logging();
    match &opts.bus {
        None => tail_in_process(&opts),
        Some(servers) => {
            let servers = servers.0.clone();
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            runtime.block_on(tail_nats(&opts, servers))
        }
    }
}

fn tail_in_process(opts: &TailOptions) -> ExitCode {
    use crate::option_chain::providers::ProviderSpec;
    use crate::option_chain::runner::{Cycle, Runner};
    // A file is read once: a chain that does not change publishes nothing new, so
    // cycling over it would wait for ever.
    let file = match &opts.provider {
        ProviderSpec::File(p) | ProviderSpec::NseJson(p) => Some(p.clone()),
        _ => None,
    };
    if let Some(path) = &file {
        if !path.is_file() {
            eprintln!(
                "error: --provider: {}: no such file (give the path of a chain file)",
                path.display()
            );
            return ExitCode::from(super::EXIT_USAGE);
        }
    }
    let limits = crate::option_chain::providers::ProviderLimits::default();
    let provider = opts.provider.build(limits);
    if let Err(e) = crate::init() {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    let bus = crate::bus::inproc::InProcessBus::new(crate::bus::inproc::DEFAULT_CAPACITY);
    let mut sub = bus.subscribe("tail");
    let mut runner =
        Runner::new(provider, false).with_publisher(crate::bus::Publisher::new(vec![bus]));
    let pattern = opts
        .subject
        .clone()
        .unwrap_or_else(|| format!("{}.>", opts.bus_options.bus_subject_prefix));
    let mut printer = Printer::new(opts.json, opts.count);
    let mut failure_told = false;
    loop {
        let started = std::time::Instant::now();
        // The runner publishes into the bus within the cycle: each cycle's messages
        // are read right after it, so the ring never laps this reader.
        let cycle = runner.tick();
        while let Ok(m) = sub.try_recv() {
            if !subject_matches(&pattern, &m.subject(&opts.bus_options.bus_subject_prefix)) {
                continue;
            }
            if !printer.print(&m) {
                return ExitCode::SUCCESS;
            }
        }
        if let Cycle::Failed { error } = &cycle {
            if file.is_some() {
                eprintln!("error: the provider failed: {error}");
                return ExitCode::from(1);
            }
            if !failure_told {
                failure_told = true;
                eprintln!(
                    "g6 tail: the provider failed: {error}; trying again every {} (Ctrl-C to stop)",
                    humantime::format_duration(opts.interval)
                );
            }
        }
        if let Some(path) = &file {
            if let Some(left) = printer.remaining.filter(|r| *r > 0) {
                eprintln!(
                    "g6 tail: {} holds no more messages ({left} fewer than --count asked for)",
                    path.display()
                );
            }
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(opts.interval.saturating_sub(started.elapsed()));
    }
}

async fn tail_nats(opts: &TailOptions, servers: Vec<String>) -> ExitCode {
    use async_nats::jetstream::{self, consumer};
    let shown = crate::bus::nats::shown(&servers);
    let mut shutdown = Box::pin(crate::exporter::shutdown_signal());
    let security = match opts.bus_options.security() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: --bus: {e}");
            return ExitCode::from(super::EXIT_USAGE);
        }
    };
    let client = tokio::select! {
        c = crate::bus::nats::connect_consumer("g6 tail", servers, &security) => match c {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {}", e.message);
                return ExitCode::from(if e.refused { super::EXIT_USAGE } else { 1 });
            }
        },
        _ = &mut shutdown => return ExitCode::SUCCESS,
    };
    let js = jetstream::new(client);
    let name = &opts.bus_options.bus_stream;
    let filter = opts
        .subject
        .clone()
        .unwrap_or_else(|| format!("{}.>", opts.bus_options.bus_subject_prefix));
    let mut printer = Printer::new(opts.json, opts.count);
    let mut waiting_said = false;
    loop {
        let stream = tokio::select! {
            s = js.get_stream(name) => s,
            _ = &mut shutdown => return ExitCode::SUCCESS,
        };
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                if !waiting_said {
                    eprintln!("g6 tail: waiting for stream {name} on {shown} ({e}); start `g6 serve --bus {shown}`");
                    waiting_said = true;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                    _ = &mut shutdown => return ExitCode::SUCCESS,
                }
            }
        };
        let config = consumer::pull::Config {
            durable_name: opts.durable.clone(),
            filter_subject: filter.clone(),
            ack_policy: consumer::AckPolicy::Explicit,
            deliver_policy: if opts.durable.is_some() || opts.all {
                consumer::DeliverPolicy::All
            } else {
                consumer::DeliverPolicy::New
            },
            inactive_threshold: if opts.durable.is_some() {
                Duration::ZERO
            } else {
                Duration::from_secs(60)
            },
            ..Default::default()
        };
        let consumer = match &opts.durable {
            Some(d) => stream.get_or_create_consumer(d, config).await,
            None => stream.create_consumer(config).await,
        };
        let consumer = match consumer {
            Ok(c) => c,
            Err(e) => {
                // The server refused it (a filter outside the stream, a durable of that
                // name with other settings): waiting will not help.
                if let async_nats::jetstream::stream::ConsumerErrorKind::JetStream(j) = e.kind() {
                    eprintln!("error: the server refused the consumer on stream {name}: {j}; check --subject and --durable");
                    return ExitCode::from(1);
                }
                tracing::warn!(error = %e, "cannot create the consumer; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                    _ = &mut shutdown => return ExitCode::SUCCESS,
                }
            }
        };
        // One pull at a time, for no more messages than are left to print: a run that
        // stops after --count leaves nothing delivered and unacknowledged, so the next
        // run of the same durable starts right after it (a pull-ahead stream would
        // hold up to its batch until the ack wait ran out).
        let mut errors = 0u32;
        loop {
            let batch = consumer
                .batch()
                .max_messages(printer.wanted())
                .expires(PULL_EXPIRES)
                .messages();
            let batch = tokio::select! {
                b = batch => b,
                _ = &mut shutdown => return ExitCode::SUCCESS,
            };
            let mut batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    // The server restarting, the consumer gone: after a few in a row,
                    // make the consumer again.
                    errors += 1;
                    tracing::debug!(error = %e, errors, "pull request");
                    if errors >= MAX_CONSECUTIVE_ERRORS {
                        tracing::warn!(error = %e, "the consumer stopped delivering; creating it again");
                        break;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(250)) => continue,
                        _ = &mut shutdown => return ExitCode::SUCCESS,
                    }
                }
            };
            loop {
                let item = tokio::select! {
                    item = batch.next() => item,
                    _ = &mut shutdown => {
                        hand_back(&mut batch).await;
                        return ExitCode::SUCCESS;
                    }
                };
                // The pull is over (its messages came, or it expired): ask again.
                let Some(item) = item else { break };
                let msg = match item {
                    Ok(m) => m,
                    Err(e) => {
                        errors += 1;
                        tracing::debug!(error = %e, errors, "pull consumer");
                        break;
                    }
                };
                errors = 0;
                let more = match ChainMessage::from_bytes(&msg.payload) {
                    Ok(m) => printer.print(&m),
                    Err(e) => {
                        eprintln!(
                            "g6 tail: skipping a message on {} that is not a chain message: {e}",
                            msg.subject
                        );
                        true
                    }
                };
                // Acknowledge after printing; wait for the server to confirm, so a
                // crash right after does not bring the message back.
                let mut acked = false;
                let mut stopping = false;
                for _ in 0..20 {
                    if msg.double_ack().await.is_ok() {
                        acked = true;
                        break;
                    }
                    // Stopping while the server does not confirm: the message may
                    // come again (it is printed once here).
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                        _ = &mut shutdown => {
                            stopping = true;
                            break;
                        }
                    }
                }
                if !acked {
                    tracing::warn!("acknowledgement not confirmed; the message may come again (it is printed once)");
                }
                if stopping || !more || printer.done() {
                    // Stopped early (stdout closed): what else this pull brings goes
                    // back at once rather than after the ack wait.
                    hand_back(&mut batch).await;
                    return ExitCode::SUCCESS;
                }
            }
            if errors >= MAX_CONSECUTIVE_ERRORS {
                tracing::warn!("the consumer stopped delivering; creating it again");
                break;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = &mut shutdown => return ExitCode::SUCCESS,
        }
    }
}

/// Stopping: give back (negative acknowledgement) the messages of the current pull
/// that arrive within [`HAND_BACK`], unprinted, so another run gets them at once.
async fn hand_back(batch: &mut async_nats::jetstream::consumer::pull::Batch) {
    let deadline = tokio::time::Instant::now() + HAND_BACK;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, batch.next()).await {
        let _ = msg
            .ack_with(async_nats::jetstream::AckKind::Nak(None))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::subject_matches;

    #[test]
    fn subject_patterns_follow_nats_wildcards() {
        assert!(subject_matches("g6.chain.>", "g6.chain.NIFTY.2026-11-27"));
        assert!(subject_matches(
            "g6.chain.NIFTY.*",
            "g6.chain.NIFTY.2026-11-27"
        ));
        assert!(!subject_matches(
            "g6.chain.NIFTY.*",
            "g6.chain.BANKNIFTY.2026-11-27"
        ));
        assert!(!subject_matches("g6.chain.>", "g6.chain"));
        assert!(!subject_matches("g6.chain.*", "g6.chain.NIFTY.2026-11-27"));
        assert!(subject_matches(
            "g6.chain.NIFTY.2026-11-27",
            "g6.chain.NIFTY.2026-11-27"
        ));
    }
}
