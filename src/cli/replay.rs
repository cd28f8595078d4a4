//! `g6 replay`: stored snapshots through the live aggregation and analytics, into an
//! OpenMetrics backfill file, a NATS bus or `/metrics`.

use super::options::parse_listen;
use super::{parse_duration, parse_size, EXIT_USAGE};
use crate::replay::openmetrics::{Backfill, DEFAULT_MAX_SAMPLES};
use crate::replay::{format_ms, parse_time, Range, Replayed, Replayer};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `g6 replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayOptions {
    /// The store to read: parquet:DIR (the --data-dir of g6 serve) or
    /// clickhouse://HOST:8123/DB.
    #[arg(long, value_parser = super::options::Redacted(crate::replay::parse_source))]
    from: crate::store::Target,
    /// First instant replayed: a date (2026-11-20, 00:00 UTC), RFC 3339 with a zone
    /// (2026-11-20T09:15:00+05:30), a date and time without one (2026-11-20 09:15,
    /// IST) or Unix seconds.
    #[arg(long)]
    start: String,
    /// First instant not replayed (exclusive), written like --start.
    #[arg(long)]
    end: String,
    /// Only these indices (comma-separated).
    #[arg(long, alias = "indices", value_delimiter = ',')]
    index: Vec<String>,
    /// Write every replayed series, with each snapshot's own time, to this file in
    /// the OpenMetrics text `promtool tsdb create-blocks-from openmetrics` reads.
    #[arg(long)]
    openmetrics: Option<std::path::PathBuf>,
    /// Re-publish the contracts to NATS JetStream (nats://HOST:PORT), source=replay.
    #[arg(long, value_parser = super::options::Redacted(super::options::parse_nats))]
    bus: Option<crate::bus::nats::NatsServers>,
    #[command(flatten)]
    bus_options: super::BusOptions,
    #[command(flatten)]
    stream_options: super::StreamOptions,
    /// Expose the replayed values on /metrics (and /live) as the replay advances;
    /// keeps serving after the end until Ctrl-C.
    #[arg(long)]
    serve: bool,
    /// Address of --serve: HOST:PORT, or :PORT for every interface.
    #[arg(long, default_value = "127.0.0.1:9108", value_parser = parse_listen)]
    listen: std::net::SocketAddr,
    /// TLS and basic authentication for the HTTP server: a Prometheus exporter web
    /// configuration file (tls_server_config, basic_auth_users; README, "Securing the
    /// exporter").
    #[arg(long, value_name = "FILE")]
    web_config: Option<std::path::PathBuf>,
    /// Pace: 1x is the recorded speed, 10x ten times faster, max no waiting. Default:
    /// 1x with --bus or --serve, max otherwise.
    #[arg(long, value_parser = parse_speed)]
    speed: Option<Speed>,
    /// A stretch without snapshots longer than this is reported as a gap (and, when
    /// paced, skipped instead of waited out).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    gap: Duration,
    /// Most samples --openmetrics holds (16 bytes each); a longer range is cut there,
    /// with the time to resume from.
    #[arg(long, default_value_t = DEFAULT_MAX_SAMPLES as u64, value_parser = clap::value_parser!(u64).range(1..))]
    max_samples: u64,
    /// A Parquet file with more rows is skipped (reported, counted), the rest replays.
    #[arg(long, default_value_t = crate::replay::parquet::DEFAULT_MAX_FILE_ROWS, value_parser = clap::value_parser!(u64).range(1..))]
    max_file_rows: u64,
    /// A Parquet file whose rows would take more memory once decoded (estimated from
    /// its footer before it is read) is skipped (reported, counted), the rest replays.
    #[arg(long, default_value = "1GiB", value_parser = parse_size)]
    max_file_bytes: u64,
    /// Most memory held at once for Parquet files that overlap in time; a file that
    /// would pass it is skipped (reported, counted), the rest replays.
    #[arg(long, default_value = "2GiB", value_parser = parse_size)]
    max_replay_bytes: u64,
    /// ClickHouse: a snapshot with a row stored less than this ago may still be being
    /// written and is left out (reported, counted); 0s reads everything.
    #[arg(long, default_value = "60s", value_parser = parse_settle)]
    settle: Duration,
}

/// Parse `--settle`: a duration, or 0 / 0s for none.
fn parse_settle(s: &str) -> Result<Duration, String> {
    if matches!(s.trim(), "0" | "0s") {
        return Ok(Duration::ZERO);
    }
    parse_duration(s)
}

/// The pace of a replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// As fast as it goes.
    Max,
    /// This many times the recorded speed.
    Times(f64),
}

/// Parse `--speed`: `max`, `1x`, `10x`, `0.5x` (the `x` is optional).
pub fn parse_speed(s: &str) -> Result<Speed, String> {
    let t = s.trim().to_ascii_lowercase();
    if t == "max" {
        return Ok(Speed::Max);
    }
    match t.strip_suffix('x').unwrap_or(&t).parse::<f64>() {
        Ok(f) if f.is_finite() && (0.001..=1e6).contains(&f) => Ok(Speed::Times(f)),
        _ => Err(format!(
            "{s:?} is not a speed; use 1x (as recorded), 10x, 0.5x (0.001x to 1000000x) or max"
        )),
    }
}

/// Paces snapshots by their as-of times.
struct Pacer {
    speed: Speed,
    gap_ms: i64,
    started: Instant,
    last_ms: Option<i64>,
    /// Data time elapsed, with gaps taken out.
    elapsed_ms: i64,
}

impl Pacer {
    /// Wait until the snapshot at `as_of_ms` is due (or `stop` is given).
    fn wait(&mut self, as_of_ms: i64, stop: &crate::shutdown::Stop) {
        let Speed::Times(factor) = self.speed else {
            return;
        };
        if let Some(last) = self.last_ms {
            let step = (as_of_ms - last).max(0);
            if step <= self.gap_ms {
                self.elapsed_ms += step;
            }
        }
        self.last_ms = Some(as_of_ms);
        let wait = Duration::try_from_secs_f64(self.elapsed_ms as f64 / 1000.0 / factor);
        // Beyond what a clock can hold: nothing to wait for.
        let Some(due) = wait.ok().and_then(|w| self.started.checked_add(w)) else {
            return;
        };
        stop.wait_timeout(due.saturating_duration_since(Instant::now()));
    }
}

/// Where a served replay is, for its status page.
#[derive(Default)]
struct ReplayState {
    last_ms: AtomicI64,
    snapshots: AtomicU64,
    done: AtomicBool,
}

impl ReplayState {
    fn at(&self, as_of_ms: i64, snapshots: u64) {
        self.last_ms.store(as_of_ms, Ordering::Relaxed);
        self.snapshots.store(snapshots, Ordering::Relaxed);
    }

    fn finish(&self) {
        self.done.store(true, Ordering::Relaxed);
    }

    fn describe(&self) -> String {
        let n = self.snapshots.load(Ordering::Relaxed);
        if n == 0 {
            return "Replay: starting".into();
        }
        let at = format_ms(self.last_ms.load(Ordering::Relaxed));
        if self.done.load(Ordering::Relaxed) {
            format!("Replay FINISHED: {n} snapshots, up to {at}; the values shown are the last replayed ones (Ctrl-C stops the server)")
        } else {
            format!("Replay running: {n} snapshots so far, at {at}")
        }
    }
}

/// Progress: a bar on a terminal, a log line every 10 s otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    range: Range,
    started: Instant,
    last_log: Option<Instant>,
}

impl Progress {
    fn new(range: Range) -> Self {
        let span = u64::try_from((range.end_ms - range.start_ms) / 1000)
            .unwrap_or(1)
            .max(1);
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(span);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{bar:30}] {percent:>3}% {msg} (eta {eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        Progress {
            bar,
            range,
            started: Instant::now(),
            last_log: None,
        }
    }

    fn update(&mut self, as_of_ms: i64, snapshots: u64) {
        let done = u64::try_from((as_of_ms - self.range.start_ms) / 1000).unwrap_or(0);
        let percent = 100.0 * (as_of_ms - self.range.start_ms) as f64
            / (self.range.end_ms - self.range.start_ms).max(1) as f64;
        let rate = snapshots as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        match &self.bar {
            Some(bar) => {
                bar.set_position(done);
                bar.set_message(format!(
                    "{snapshots} snapshots, at {}, {rate:.0}/s",
                    format_ms(as_of_ms)
                ));
            }
            // The first snapshot, then every 10 s.
            None if self
                .last_log
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) =>
            {
                self.last_log = Some(Instant::now());
                tracing::info!(
                    snapshots,
                    at = %format_ms(as_of_ms),
                    percent = format!("{:.1}", percent.clamp(0.0, 100.0)),
                    per_second = format!("{rate:.0}"),
                    "replaying"
                );
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Why the replay stopped before the end of the range.
enum Cut {
    /// Ctrl-C; the as-of time of the first snapshot not replayed, if one was read.
    Interrupted(Option<i64>),
    /// `--max-samples` reached at the snapshots of this as-of time (left out whole).
    Full(i64),
    /// The reader failed.
    Failed(String),
}

/// Run `g6 replay`.
pub fn run(opts: ReplayOptions) -> ExitCode {
    super::init_logging();
    let range = match (parse_time(&opts.start), parse_time(&opts.end)) {
        (Err(e), _) => return usage(&format!("--start: {e}")),
        (_, Err(e)) => return usage(&format!("--end: {e}")),
        (Ok(s), Ok(e)) => match Range::new(s, e) {
            Ok(r) => r,
            Err(e) => return usage(&e),
        },
    };
    let listen = opts.serve.then_some(opts.listen);
    let replay_state = Arc::new(ReplayState::default());
    let limits = crate::replay::Limits {
        max_file_rows: opts.max_file_rows,
        max_file_bytes: opts.max_file_bytes,
        max_replay_bytes: opts.max_replay_bytes,
        settle: opts.settle,
    };
    let from_shown = match &opts.from {
        crate::store::Target::Parquet(dir) => format!("parquet:{}", dir.display()),
        crate::store::Target::ClickHouse(url) => url.shown(),
        crate::store::Target::None => "none".into(),
    };
    // Read before the source is opened: a bad file is a usage error.
    let web = match super::web_config(opts.web_config.as_deref()) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let mut reader = match crate::replay::open_source(opts.from.clone(), range, &opts.index, limits)
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: --from {from_shown}: {e}");
            eprintln!("nothing replayed");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = crate::init() {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    let mut app = match crate::app::App::builder("replay").build() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(web) = web {
        app.with_web_config(web);
    }
    let stop = app.stop().clone();
    {
        let stop = stop.clone();
        // The first Ctrl-C finishes the snapshots of the current as-of time and
        // writes what was gathered; a second one leaves at once.
        app.runtime().spawn(async move {
            crate::exporter::shutdown_signal().await;
            stop.stop();
            crate::exporter::shutdown_signal().await;
            eprintln!("interrupted twice: leaving without finishing");
            std::process::exit(130);
        });
    }
    let speed = opts.speed.unwrap_or(if opts.bus.is_some() || opts.serve {
        Speed::Times(1.0)
    } else {
        Speed::Max
    });
    let mut buses: Vec<Arc<dyn crate::bus::Bus>> = Vec::new();
    let mut nats: Option<Arc<crate::bus::nats::NatsBus>> = None;
    // Opened now: an unwritable path is found before the replay, not after it.
    let backfill_file = match &opts.openmetrics {
        Some(path) => match BackfillFile::create(path) {
            Ok(f) => Some(f),
            Err(e) => {
                return usage(&format!(
                    "--openmetrics {}: cannot write there: {e}",
                    path.display()
                ))
            }
        },
        None => None,
    };
    let mut server = None;
    if let Some(addr) = listen {
        let inproc = crate::bus::inproc::InProcessBus::new(crate::bus::inproc::DEFAULT_CAPACITY);
        let hub = app.with_live(
            &inproc,
            100,
            Duration::from_secs(15),
            "live near-ATM view of the replay",
        );
        hub.set_source_label(match speed {
            Speed::Max => "REPLAY (max speed)".to_string(),
            Speed::Times(f) => format!("REPLAY x{f}"),
        });
        app.status_line(format!(
            "REPLAY of {} from {} to {} ({}): every option-chain series carries source=\"replay\"",
            reader.describe(),
            format_ms(range.start_ms),
            format_ms(range.end_ms),
            speed_text(speed)
        ));
        let state = Arc::clone(&replay_state);
        app.status_live_line(move || state.describe());
        buses.push(inproc);
        let listener = match crate::app::bind(addr) {
            Ok(l) => l,
            Err(e) => return usage(&e),
        };
        // Serves on after the end, until Ctrl-C (the app's stop).
        match app.spawn_http(
            listener,
            crate::exporter::Limits::default(),
            std::future::pending(),
        ) {
            Ok(h) => server = Some(h),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        }
    }
    if let Some(servers) = &opts.bus {
        let config = crate::bus::nats::NatsConfig {
            servers: servers.0.clone(),
            stream: opts.bus_options.bus_stream.clone(),
            subject_prefix: opts.bus_options.bus_subject_prefix.clone(),
            replicas: usize::from(opts.stream_options.bus_replicas),
            placement_tags: opts.stream_options.bus_placement_tags.clone(),
            security: match opts.bus_options.security() {
                Ok(s) => s,
                Err(e) => return usage(&format!("--bus: {e}")),
            },
            ..Default::default()
        };
        match crate::bus::nats::NatsBus::start(config, app.runtime().handle()) {
            Ok(b) => {
                let b = Arc::new(b);
                nats = Some(b.clone());
                buses.push(b);
            }
            Err(e) => return usage(&format!("--bus: {e}")),
        }
    }
    let mut publisher = (!buses.is_empty()).then(|| crate::bus::Publisher::new(buses.clone()));
    let mut backfill = opts
        .openmetrics
        .as_ref()
        .map(|_| Backfill::new(usize::try_from(opts.max_samples).unwrap_or(usize::MAX)));
    let mut replayer = Replayer::new(opts.gap);
    let mut pacer = Pacer {
        speed,
        gap_ms: i64::try_from(opts.gap.as_millis()).unwrap_or(i64::MAX),
        started: Instant::now(),
        last_ms: None,
        elapsed_ms: 0,
    };
    tracing::info!(
        from = %reader.describe(),
        start = %format_ms(range.start_ms),
        end = %format_ms(range.end_ms),
        speed = %speed_text(speed),
        "replay started"
    );
    // Measured over what the store holds of the range, when the reader knows it.
    let mut progress = Progress::new(reader.extent().unwrap_or(range));
    let mut cut = None;
    let mut problems = 0usize;
    // As-of of the last snapshot read, and, once stopping, the as-of being finished.
    let mut last_read: Option<i64> = None;
    let mut finishing: Option<i64> = None;
    loop {
        for p in reader.take_problems() {
            problems += 1;
            report(&progress, &format!("warning: {p}"));
        }
        if finishing.is_none() && stop.is_stopped() {
            match last_read {
                Some(at) => finishing = Some(at),
                None => {
                    cut = Some(Cut::Interrupted(None));
                    break;
                }
            }
        }
        let s = match reader.next_snapshot() {
            Ok(Some(s)) => s,
            Ok(None) => break,
            Err(e) => {
                cut = Some(Cut::Failed(e.to_string()));
                break;
            }
        };
        if finishing.is_some_and(|at| s.as_of_ms != at) {
            cut = Some(Cut::Interrupted(Some(s.as_of_ms)));
            break;
        }
        if finishing.is_none() {
            pacer.wait(s.as_of_ms, &stop);
            // Stopped while waiting for a new as-of time: it is not started.
            if stop.is_stopped() && last_read != Some(s.as_of_ms) {
                cut = Some(Cut::Interrupted(Some(s.as_of_ms)));
                break;
            }
        }
        last_read = Some(s.as_of_ms);
        let Replayed::Published { aggregation, .. } = replayer.replay(&s) else {
            continue;
        };
        if let Some(b) = backfill.as_mut() {
            let text = g6_runtime::scrape::encode_all_as(g6_runtime::encode::Format::OpenMetrics);
            if b.capture(&String::from_utf8_lossy(&text), &s.index, s.as_of_ms)
                .is_err()
            {
                // The snapshots of one as-of time go into the file whole or not at all.
                b.drop_at(s.as_of_ms);
                cut = Some(Cut::Full(s.as_of_ms));
                break;
            }
        }
        if let Some(p) = publisher.as_mut() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            p.publish_as_of_ms(
                &s.snapshot,
                &aggregation.accepted_rows,
                crate::labels::Source::Replay,
                &s.provider,
                now,
                Some(s.as_of_ms),
            );
        }
        // A replay outruns any bus at --speed max: wait while NATS has half its
        // outbox to send, rather than let the bound drop snapshots.
        if let Some(bus) = &nats {
            let high = crate::bus::nats::NatsConfig::default().outbox_bytes / 2;
            if bus.outbox().1 > high {
                app.runtime().block_on(async {
                    tokio::select! {
                        () = bus.outbox_at_most(high) => {}
                        () = stop.stopped() => {}
                    }
                });
            }
        }
        progress.update(s.as_of_ms, replayer.summary().snapshots);
        replay_state.at(s.as_of_ms, replayer.summary().snapshots);
    }
    progress.finish();
    let summary = replayer.summary().clone();
    let mut failed = false;
    if let (Some(file), Some(b)) = (backfill_file, &backfill) {
        if b.samples() > 0 {
            let path = file.path.clone();
            match file.finish(b) {
                Ok(()) => println!(
                    "wrote {} ({} series, {} samples); load it with: promtool tsdb create-blocks-from openmetrics {} DATA_DIR",
                    path.display(),
                    b.series(),
                    b.samples(),
                    path.display()
                ),
                Err(e) => {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    failed = true;
                }
            }
        } else {
            file.discard();
        }
    }
    for bus in &buses {
        let left = bus.close(Duration::from_secs(10));
        let name = bus.name();
        let dropped: u64 = crate::labels::DropReason::ALL
            .iter()
            .map(|r| crate::metrics::bus_dropped_messages_total(name, *r).get())
            .sum();
        if left > 0 || dropped > 0 {
            eprintln!(
                "warning: {} of the replayed messages did not reach {name} ({dropped} dropped, {left} still queued at close)",
                dropped + left as u64
            );
        }
    }
    print_summary(&summary, &opts, range, problems);
    match &cut {
        None => {}
        Some(Cut::Interrupted(None)) => eprintln!("warning: interrupted before the first snapshot"),
        Some(Cut::Interrupted(Some(next))) => eprintln!(
            "warning: interrupted; every snapshot before {} was replayed. Resume with --start {}",
            format_ms(*next),
            start_text(*next)
        ),
        Some(Cut::Full(at)) => eprintln!(
            "warning: --openmetrics holds --max-samples ({}) samples: the file ends before {}. \
             Load it, then replay the rest into another file with --start {}",
            opts.max_samples,
            format_ms(*at),
            start_text(*at)
        ),
        Some(Cut::Failed(e)) => eprintln!(
            "error: the replay stopped: {e}{}",
            summary
                .last_ms
                .map(|l| format!(
                    ". Replayed up to {}; resume with --start {}",
                    format_ms(l),
                    start_text(l)
                ))
                .unwrap_or_default()
        ),
    }
    if opts.serve && summary.snapshots > 0 && cut.is_none() {
        replay_state.finish();
        println!("replay done; still serving the last values (Ctrl-C to stop)");
        let _ = std::io::Write::flush(&mut std::io::stdout());
        app.runtime().block_on(stop.stopped());
    }
    stop.stop();
    if let Some(server) = server {
        let _ = app.runtime().block_on(server);
    }
    // NATS is closed above; the live feeder ends with the stop.
    app.finish(Duration::from_secs(5));
    if summary.snapshots == 0 {
        eprintln!(
            "nothing replayed: no usable snapshot{} between {} and {} in {}",
            if opts.index.is_empty() {
                String::new()
            } else {
                format!(" of {}", opts.index.join(","))
            },
            format_ms(range.start_ms),
            format_ms(range.end_ms),
            reader.describe()
        );
        return ExitCode::from(1);
    }
    if failed {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// `--start` text for exactly `ms` (seconds, with milliseconds when there are any).
fn start_text(ms: i64) -> String {
    let mut s = String::new();
    crate::replay::openmetrics::write_seconds(&mut s, ms);
    s
}

fn speed_text(speed: Speed) -> String {
    match speed {
        Speed::Max => "as fast as possible".into(),
        Speed::Times(f) => format!("{f}x the recorded speed"),
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_USAGE)
}

/// A warning that does not tear the progress bar.
fn report(progress: &Progress, line: &str) {
    match &progress.bar {
        Some(bar) => bar.println(line),
        None => eprintln!("{line}"),
    }
}

/// The backfill file: written under a temporary name beside its path, then renamed
/// into place, so a reader never sees half a file.
struct BackfillFile {
    path: std::path::PathBuf,
    tmp: std::path::PathBuf,
    file: std::fs::File,
}

impl BackfillFile {
    fn create(path: &std::path::Path) -> std::io::Result<Self> {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".tmp.{}", std::process::id()));
        let tmp = path.with_file_name(name);
        let file = std::fs::File::create(&tmp)?;
        Ok(BackfillFile {
            path: path.to_path_buf(),
            tmp,
            file,
        })
    }

    fn finish(self, b: &Backfill) -> std::io::Result<()> {
        let result = (|| {
            let mut w = std::io::BufWriter::new(&self.file);
            b.write_to(&mut w)?;
            w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&self.tmp, &self.path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        result
    }

    fn discard(self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

fn print_summary(s: &crate::replay::Summary, opts: &ReplayOptions, range: Range, problems: usize) {
    if s.snapshots > 0 {
        println!(
            "replayed {} snapshots ({} contracts) of {} from {} to {}",
            s.snapshots,
            s.contracts,
            s.indices.iter().cloned().collect::<Vec<_>>().join(","),
            format_ms(s.first_ms.unwrap_or(range.start_ms)),
            format_ms(s.last_ms.unwrap_or(range.start_ms)),
        );
    }
    if s.duplicates > 0 {
        println!("{} re-delivered rows collapsed", s.duplicates);
    }
    if s.empty > 0 {
        eprintln!(
            "warning: {} snapshots held no usable contract (counted in g6_option_rows_skipped_total)",
            s.empty
        );
    }
    if s.over_index_limit > 0 {
        eprintln!(
            "warning: {} snapshots of indices beyond the limit of {} were left out; replay them separately with --index",
            s.over_index_limit,
            crate::option_chain::aggregate::max_indices()
        );
    }
    if s.stored_sources.contains("synthetic") {
        let all = s.stored_sources.len() == 1;
        eprintln!(
            "note: {} the stored data is SYNTHETIC (generated, not market data)",
            if all { "all of" } else { "part of" }
        );
    }
    if s.gap_count > 0 {
        eprintln!(
            "note: {} gaps longer than {} (--gap){}:",
            s.gap_count,
            crate::replay::humantime_secs(opts.gap.as_secs() as i64),
            if s.gap_count as usize > s.gaps.len() {
                format!(", the first {}", s.gaps.len())
            } else {
                String::new()
            }
        );
        for g in &s.gaps {
            eprintln!("  {g}");
        }
    }
    if problems > 0 {
        eprintln!("warning: {problems} problems stepped over (listed above)");
    }
    let skipped: Vec<String> = crate::labels::ReplaySkip::ALL
        .iter()
        .map(|r| (r, crate::metrics::replay_skipped_total(*r).get()))
        .filter(|(_, n)| *n > 0)
        .map(|(r, n)| format!("{n} {}", r.as_str()))
        .collect();
    if !skipped.is_empty() {
        eprintln!(
            "warning: left out of the replay (g6_replay_skipped_total): {}",
            skipped.join(", ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_are_max_or_a_positive_factor() {
        assert_eq!(parse_speed("max"), Ok(Speed::Max));
        assert_eq!(parse_speed("10x"), Ok(Speed::Times(10.0)));
        assert_eq!(parse_speed("0.5X"), Ok(Speed::Times(0.5)));
        assert_eq!(parse_speed("2"), Ok(Speed::Times(2.0)));
        for bad in ["0x", "-1x", "fast", "inf"] {
            assert!(parse_speed(bad).unwrap_err().contains("1x"), "{bad}");
        }
    }

    #[test]
    fn a_paced_replay_skips_gaps_instead_of_waiting_them_out() {
        let stop = crate::shutdown::Stop::new();
        let mut p = Pacer {
            speed: Speed::Times(1000.0),
            gap_ms: 60_000,
            started: Instant::now(),
            last_ms: None,
            elapsed_ms: 0,
        };
        p.wait(0, &stop);
        p.wait(30_000, &stop);
        // A day without data counts as nothing.
        p.wait(30_000 + 86_400_000, &stop);
        p.wait(30_000 + 86_400_000 + 10_000, &stop);
        assert_eq!(p.elapsed_ms, 40_000);
        assert!(p.started.elapsed() >= Duration::from_millis(40));
    }
}
