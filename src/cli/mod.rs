//! The `g6` command line: `serve`, `lint`, `generate`, `inventory`, and the data
//! path's `tail`, `ingest` and `replay`.

mod check_scrape;
mod diff;
mod generate;
mod ingest;
mod migrate;
pub mod options;
mod replay;
mod tail;

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit code for a usage or setup error.
pub const EXIT_USAGE: u8 = 2;

/// g6: metrics for the G6 options-chain platform.
#[derive(Debug, Parser)]
#[command(name = "g6", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum InventoryFormat {
    Csv,
    Jsonl,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the exporter and the option-chain loop (the main job).
    Serve(Box<ServeOptions>),
    /// Validate a spec file with every check the build runs, those of the generated
    /// dashboards and rules included: exit 0 when the build would accept it, 1 when not.
    Lint {
        /// The spec to check; without it, `metrics.yml` in the current directory.
        spec: Option<PathBuf>,
    },
    /// Write the artifacts to a directory, or check that it is up to date.
    ///
    /// Exit codes with --check: 6 dashboard drift, 8 recording/alert rule drift,
    /// 9 alert-suggestion drift, 7 other drift, 10 inline histogram_quantile where a
    /// recording rule exists, 11 spec panels on no dashboard, 12 invalid PromQL,
    /// 2 usage or setup error.
    Generate {
        /// Directory to write to or check.
        #[arg(long, default_value = "generated")]
        out: PathBuf,
        /// Compare only; write nothing; exit non-zero on drift or audit findings.
        #[arg(long)]
        check: bool,
        /// Only these dashboards (comma-separated slugs).
        #[arg(long, value_delimiter = ',')]
        only: Option<Vec<String>>,
        /// Generate from this spec file instead of the one compiled in.
        #[arg(long)]
        spec: Option<PathBuf>,
    },
    /// Print the per-contract messages of the bus, one line each (or --json).
    ///
    /// With --bus nats://..: a JetStream consumer of the stream (durable with
    /// --durable: it resumes where it stopped). Without --bus: runs --provider in this
    /// process and prints what its in-process bus carries.
    Tail(tail::TailOptions),
    /// Store what the NATS bus carries: a JetStream durable consumer into the column
    /// store, each message acknowledged once its rows are stored.
    Ingest(ingest::IngestOptions),
    /// Re-run stored snapshots through the aggregation and analytics (source=replay),
    /// into an OpenMetrics backfill file (--openmetrics), a NATS bus (--bus) or
    /// /metrics (--serve). Exit 1 only when nothing could be replayed.
    Replay(Box<replay::ReplayOptions>),
    /// What changed between two specs and what it breaks: exit 0 when nothing
    /// breaks, 3 when something does, 4 under --strict when a metric or label was
    /// removed without being deprecated first.
    Diff(diff::DiffOptions),
    /// Hold a live /metrics (URL) or a saved scrape (FILE) against the spec: exit 0
    /// when they match, 1 on any mismatch, 2 when the target cannot be read.
    CheckScrape(check_scrape::CheckScrapeOptions),
    /// Convert a spec of the original Python G6 (metrics/spec/base.yml) into this
    /// format; decisions left to a person are `# MIGRATE:` comments, listed on stderr.
    Migrate(migrate::MigrateOptions),
    /// Print the panel inventory (slug, title, metric, source, panel_uuid).
    Inventory {
        /// Output format.
        #[arg(long, value_enum, default_value = "csv")]
        format: InventoryFormat,
    },
}

/// Run the CLI with the process arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(opts) => serve(*opts),
        Command::Lint { spec } => lint(spec.as_deref()),
        Command::Generate {
            out,
            check,
            only,
            spec,
        } => generate::run(generate::Options {
            out,
            check,
            only,
            spec,
        }),
        Command::Inventory { format } => inventory(format),
        Command::Tail(opts) => tail::run(opts),
        Command::Ingest(opts) => ingest::run(opts),
        Command::Replay(opts) => replay::run(*opts),
        Command::Diff(opts) => diff::run(opts),
        Command::CheckScrape(opts) => check_scrape::run(opts),
        Command::Migrate(opts) => migrate::run(opts),
    }
}

/// The spec `g6 lint` checks without an argument, in the current directory.
const DEFAULT_SPEC: &str = "metrics.yml";

fn lint(spec: Option<&Path>) -> ExitCode {
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| ".".into());
    let path = match spec {
        Some(p) => p,
        None => {
            eprintln!(
                "g6 lint: no spec given; checking {DEFAULT_SPEC} in the current directory ({cwd})"
            );
            Path::new(DEFAULT_SPEC)
        }
    };
    let display = path.display().to_string();
    match g6_codegen::checks::load_file_generated(path, &display) {
        Ok((loaded, generated)) => {
            for w in loaded.diagnostics.warnings() {
                eprintln!("{}", w.render(&display));
            }
            // The build's audits of the generated dashboards warn here too.
            for w in g6_codegen::build::audit_warnings(&loaded, &generated) {
                eprintln!("{display}: warning: {w}");
            }
            println!(
                "ok: {} families, {} metrics, spec hash {}",
                loaded.spec.families.len(),
                loaded.spec.metrics().count(),
                loaded.hash()
            );
            ExitCode::SUCCESS
        }
        Err(mut diags) => {
            for d in &mut diags.items {
                // The loader's hint speaks of the build, whose relative paths start
                // at Cargo.toml; here they start where the command runs.
                if d.code == g6_codegen::Code::InputFile
                    && d.message.starts_with("cannot read the spec")
                {
                    d.hint = if spec.is_none() {
                        format!("there is no {DEFAULT_SPEC} in {cwd}: run g6 lint in the directory that holds it, or pass its path (g6 lint path/to/metrics.yml)")
                    } else {
                        format!("check the path: a relative path on the command line starts at the current directory ({cwd})")
                    };
                }
            }
            eprint!("{diags}");
            ExitCode::from(1)
        }
    }
}

fn inventory(format: InventoryFormat) -> ExitCode {
    let loaded = match generate::load_spec(None) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let rules = g6_codegen::rules::build(&loaded.spec);
    let dashboards = g6_codegen::dashboards::build_all(
        &loaded.spec,
        &rules,
        loaded.hash(),
        g6_codegen::GENERATOR_VERSION,
    );
    match format {
        InventoryFormat::Csv => print!("{}", g6_codegen::dashboards::inventory_csv(&dashboards)),
        InventoryFormat::Jsonl => {
            print!("{}", g6_codegen::dashboards::inventory_jsonl(&dashboards))
        }
    }
    ExitCode::SUCCESS
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,async_nats=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

use options::{parse_budget, parse_listen, parse_max_bytes};
pub use options::{parse_duration, parse_size, parse_size_or_zero};

/// Options of the bus, shared by `serve`, `tail`, `ingest` and `replay`: the stream
/// and how to sign in to NATS.
#[derive(Debug, Clone, clap::Args)]
pub struct BusOptions {
    /// Stream name on the NATS server.
    #[arg(long, default_value = "G6_CHAIN", value_parser = stream_name)]
    bus_stream: String,
    /// Subject prefix: messages go to PREFIX.<INDEX>.<YYYY-MM-DD>.
    #[arg(long, default_value = "g6.chain", value_parser = subject_prefix)]
    bus_subject_prefix: String,
    /// NATS user (else the URL's: nats://USER:PASSWORD@HOST:PORT).
    #[arg(long)]
    bus_user: Option<String>,
    /// NATS password. A command line is visible to other users of the machine: prefer
    /// --bus-password-file or the environment variable G6_BUS_PASSWORD.
    #[arg(long, value_parser = secret, conflicts_with = "bus_password_file")]
    bus_password: Option<crate::bus::nats_auth::Secret>,
    /// File holding the NATS password (its first line).
    #[arg(long)]
    bus_password_file: Option<PathBuf>,
    /// NATS token (prefer --bus-token-file or G6_BUS_TOKEN).
    #[arg(long, value_parser = secret, conflicts_with = "bus_token_file")]
    bus_token: Option<crate::bus::nats_auth::Secret>,
    /// File holding the NATS token (its first line).
    #[arg(long)]
    bus_token_file: Option<PathBuf>,
    /// File holding an NKey user seed (SU...) to sign in with.
    #[arg(long)]
    bus_nkey: Option<PathBuf>,
    /// NATS credentials file (.creds: a user JWT and its seed).
    #[arg(long)]
    bus_creds: Option<PathBuf>,
    /// CA certificate (PEM) that signed the NATS server's certificate; turns TLS on
    /// (as do tls://HOST:PORT and nats://HOST:PORT?tls=true).
    #[arg(long)]
    bus_tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for servers that verify clients; with --bus-tls-key.
    #[arg(long, requires = "bus_tls_key")]
    bus_tls_cert: Option<PathBuf>,
    /// Key (PEM) of --bus-tls-cert.
    #[arg(long, requires = "bus_tls_cert")]
    bus_tls_key: Option<PathBuf>,
}

impl BusOptions {
    /// The credentials and TLS settings, secrets read from their files or the
    /// environment (`G6_BUS_PASSWORD`, `G6_BUS_TOKEN`).
    pub fn security(&self) -> Result<crate::bus::nats_auth::NatsSecurity, String> {
        use crate::bus::nats_auth::NatsSecurity;
        Ok(NatsSecurity {
            user: self.bus_user.clone(),
            password: NatsSecurity::secret_from(
                self.bus_password.as_ref().map(|s| s.0.as_str()),
                self.bus_password_file.as_deref(),
                "G6_BUS_PASSWORD",
                "password",
            )?,
            token: NatsSecurity::secret_from(
                self.bus_token.as_ref().map(|s| s.0.as_str()),
                self.bus_token_file.as_deref(),
                "G6_BUS_TOKEN",
                "token",
            )?,
            nkey_seed_file: self.bus_nkey.clone(),
            creds_file: self.bus_creds.clone(),
            tls: false,
            tls_ca: self.bus_tls_ca.clone(),
            tls_cert: self.bus_tls_cert.clone(),
            tls_key: self.bus_tls_key.clone(),
        })
    }
}

/// `--bus-password`, `--bus-token`: kept out of `Debug` and messages.
fn secret(s: &str) -> Result<crate::bus::nats_auth::Secret, String> {
    Ok(crate::bus::nats_auth::Secret(s.to_string()))
}

/// Options of the stream `serve` and `replay` publish to, applied when it is created
/// and brought to them when it exists.
#[derive(Debug, Clone, clap::Args)]
pub struct StreamOptions {
    /// Replicas of the stream on a NATS cluster (1 to 5; 3 survives losing a server).
    /// An existing stream is updated to it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5))]
    bus_replicas: u8,
    /// Placement tags of the stream (comma-separated): its replicas go to servers
    /// whose server_tags carry all of them.
    #[arg(long, value_delimiter = ',')]
    bus_placement_tags: Vec<String>,
}

/// `--bus-stream`, checked as a JetStream stream name.
fn stream_name(s: &str) -> Result<String, String> {
    crate::bus::nats::check_stream_name(s).map(|()| s.to_string())
}

/// `--bus-subject-prefix`, checked as a NATS subject prefix.
fn subject_prefix(s: &str) -> Result<String, String> {
    crate::bus::nats::check_subject_prefix(s).map(|()| s.to_string())
}

/// Options of `g6 serve`.
#[derive(Debug, clap::Args)]
struct ServeOptions {
    /// Address to listen on: HOST:PORT, or :PORT for every interface.
    #[arg(long, default_value = "127.0.0.1:9108", value_parser = parse_listen)]
    listen: std::net::SocketAddr,
    /// TLS and basic authentication for the HTTP server: a Prometheus exporter web
    /// configuration file (tls_server_config, basic_auth_users; README, "Securing the
    /// exporter").
    #[arg(long, value_name = "FILE")]
    web_config: Option<std::path::PathBuf>,
    /// Option-chain provider: synthetic[:SEED], file:PATH, nse-json:PATH or exec:CMD.
    #[arg(long, default_value = "synthetic")]
    provider: crate::option_chain::providers::ProviderSpec,
    /// Time between collection cycles (e.g. 5s, 500ms, 1m).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    interval: std::time::Duration,
    /// Serve synthetic data (labelled source="synthetic") while the provider fails.
    #[arg(long)]
    fallback_synthetic: bool,
    /// Timeout of one exec: provider run (the command and all it started are killed).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    exec_timeout: std::time::Duration,
    /// Longest one provider fetch may take before the cycle counts a timeout.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    fetch_timeout: std::time::Duration,
    /// Largest provider input (file or command output), e.g. 64MiB.
    #[arg(long, default_value = "64MiB", value_parser = parse_size)]
    max_input_bytes: u64,
    /// Collect only these indices (comma-separated, e.g. NIFTY,BANKNIFTY; rows of
    /// others are left out, so collectors can split the indices between them). Each
    /// has a snapshot age from startup, so one that never arrives is reported stale.
    #[arg(long, alias = "indices", value_delimiter = ',')]
    index: Vec<String>,
    /// NSE trading holidays: one YYYY-MM-DD per line, '#' comments (default: the
    /// embedded config/nse_holidays.txt, fixed-date holidays only; update it from NSE's
    /// yearly circular). An expiry on a holiday moves to the previous trading day.
    #[arg(long, value_name = "FILE")]
    holidays: Option<std::path::PathBuf>,
    /// Expiry rules per index: INDEX weekly|monthly WEEKDAY per line (default: the
    /// embedded config/nse_expiry_rules.txt, NSE's rules since September 2025).
    #[arg(long, value_name = "FILE")]
    expiry_rules: Option<std::path::PathBuf>,
    /// Preview mode: also drive every metric of the spec with simulated values.
    #[arg(long)]
    simulate: bool,
    /// Most HTTP connections open at once besides live streams; a new one closes the
    /// oldest of them (never a live stream).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u16).range(1..))]
    max_connections: u16,
    /// Time a client has to send request headers (and to keep an idle connection).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    header_read_timeout: std::time::Duration,
    /// Also publish every snapshot's contracts to NATS JetStream (nats://HOST:PORT,
    /// comma-separated for a cluster). Without it the bus is in process only.
    #[arg(long, value_parser = options::Redacted(options::parse_nats))]
    bus: Option<crate::bus::nats::NatsServers>,
    #[command(flatten)]
    bus_options: BusOptions,
    #[command(flatten)]
    stream_options: StreamOptions,
    /// Stream retention by age (e.g. 7d, 12h).
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    bus_max_age: std::time::Duration,
    /// Stream retention by size (e.g. 10GiB), or unlimited (then only --bus-max-age
    /// and the server's own storage limit bound it). A size is reserved on the server
    /// up front: it must fit the server's JetStream storage.
    #[arg(long, default_value = "unlimited", value_parser = parse_max_bytes)]
    bus_max_bytes: i64,
    /// The stream's duplicate window: a message re-sent within it is dropped by id.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    bus_dedupe_window: std::time::Duration,
    /// How long to wait for the stream to acknowledge a message before sending it
    /// again (the server drops the copy if the first one did arrive).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    bus_ack_timeout: std::time::Duration,
    /// Most encoded bytes waiting for NATS; beyond, the oldest snapshots are dropped.
    #[arg(long, default_value = "64MiB", value_parser = parse_size)]
    bus_outbox_bytes: u64,
    /// Messages the in-process ring holds for a slow subscriber.
    #[arg(long, default_value_t = crate::bus::inproc::DEFAULT_CAPACITY as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    bus_capacity: u32,
    /// Most clients of the live view (/live/atm) at once, on top of --max-connections;
    /// more get 429.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    live_max_clients: u32,
    /// Quiet time after which a live stream sends a heartbeat.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    live_heartbeat: std::time::Duration,
    /// Where every contract is kept: parquet (files under --data-dir), parquet:DIR,
    /// clickhouse://HOST:8123/DB (the HTTP port), or none.
    #[arg(long, default_value = "parquet", value_parser = options::Redacted(options::parse_store))]
    store: options::StoreOption,
    /// Directory of the Parquet store.
    #[arg(long, default_value = "./g6-data")]
    data_dir: std::path::PathBuf,
    /// Longest time rows wait in memory before they are written (what a crash can
    /// lose).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    store_flush: std::time::Duration,
    /// Most rows held while the store fails; beyond, the oldest snapshots are dropped.
    #[arg(long, default_value_t = 5_000_000)]
    store_backlog_rows: usize,
    /// Delete stored files older than this (e.g. 7d, 12h).
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    retain: std::time::Duration,
    /// Most files one retention run deletes.
    #[arg(long, default_value_t = 1000)]
    delete_cap: usize,
    /// Time between retention runs.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    lifecycle_every: std::time::Duration,
    /// Merge a partition's Parquet files smaller than this into one (0 turns
    /// compaction off).
    #[arg(long, default_value = "16MiB", value_parser = parse_size_or_zero)]
    compact_below: u64,
    /// Only files last written longer ago than this are merged.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    compact_after: std::time::Duration,
    /// Run this many collection cycles, deliver what the bus holds, and exit.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    cycles: Option<u64>,
    /// Resident memory the governor holds the process to (e.g. 512MiB; a size needs its
    /// unit), or auto: half
    /// of the machine's memory or of the cgroup's limit. Levels start at 70%, 85% and
    /// 95% of it.
    #[arg(long, default_value = "auto", value_parser = parse_budget)]
    memory_budget: u64,
    /// Least time in a memory-pressure level before it may fall back.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    memory_hold: std::time::Duration,
}

/// Drive every metric with simulated values every `interval` until `stop` is given.
fn spawn_simulation(
    app: &mut crate::app::App,
    interval: std::time::Duration,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    tracing::warn!("SIMULATION MODE: every metric of the spec is driven with simulated values (series with label values sim-1, sim-2, ...)");
    app.status_line(
        "SIMULATION MODE: metrics are driven with simulated values (g6 serve --simulate)",
    );
    let stop = app.stop().clone();
    std::thread::Builder::new()
        .name("g6-simulate".into())
        .spawn(move || {
            let mut sim = crate::Simulator::new(6);
            while !stop.is_stopped() {
                let started = std::time::Instant::now();
                crate::metrics::simulate(&mut sim);
                sim.advance();
                stop.wait_timeout(interval.saturating_sub(started.elapsed()));
            }
        })
}

fn serve(opts: ServeOptions) -> ExitCode {
    init_logging();
    // A file-size limit must fail a write (EFBIG, counted), not kill the process.
    // SAFETY: setting a signal's disposition to ignore has no other effect.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    crate::system::mark_start();
    let addr = opts.listen;
    let limits = crate::option_chain::providers::ProviderLimits {
        fetch_timeout: opts.fetch_timeout,
        exec_timeout: opts.exec_timeout,
        max_input_bytes: opts.max_input_bytes,
    };
    // The calendar before the provider: the synthetic one lists from it. A bad file is
    // a usage error.
    match crate::option_chain::calendar::Calendar::load(
        opts.expiry_rules.as_deref(),
        opts.holidays.as_deref(),
    ) {
        Ok(calendar) => crate::option_chain::calendar::install(calendar),
        Err(e) => {
            eprintln!("error: expiry calendar: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    }
    let provider = opts.provider.build(limits);
    let store_target = opts.store.resolve(&opts.data_dir);
    let nats = match opts.bus.as_ref().map(|servers| nats_config(servers, &opts)) {
        Some(Err(e)) => {
            eprintln!("error: --bus: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
        Some(Ok(c)) => Some(c),
        None => None,
    };
    // Read before anything else: a bad file is a usage error and nothing is written.
    let web = match web_config(opts.web_config.as_deref()) {
        Ok(w) => w,
        Err(code) => return code,
    };
    // Listen before anything is written: a start that fails (the port taken) leaves
    // no files behind and runs no cycle.
    let listener = match crate::app::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Err(e) = crate::init() {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    crate::exporter::add_pre_scrape_hook(std::sync::Arc::new(crate::system::refresh));
    let mut app = match crate::app::App::builder("serve").build() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(web) = web {
        app.with_web_config(web);
    }
    let source = provider.source();
    app.status_line(format!(
        "Option-chain provider: {} ({}, source=\"{}\"), every {}{}",
        opts.provider,
        provider.name(),
        source.as_str(),
        humantime::format_duration(opts.interval),
        if opts.fallback_synthetic {
            "; synthetic fallback on"
        } else {
            ""
        }
    ));
    if source == crate::labels::Source::Synthetic {
        app.status_line(match opts.provider {
            crate::option_chain::providers::ProviderSpec::SyntheticFast(_) => {
                "SYNTHETIC DATA: option-chain values come from a market model, not a market; fast mode moves it a trading minute every cycle, at any hour"
            }
            _ => {
                "SYNTHETIC DATA: option-chain values come from a market model, not a market; it moves in NSE hours (09:15-15:30 IST, Mon-Fri but the --holidays) and is flat outside them (synthetic:SEED:fast moves it at any hour)"
            }
        });
        if !matches!(
            opts.provider,
            crate::option_chain::providers::ProviderSpec::SyntheticFast(_)
        ) {
            app.status_live_line(|| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                crate::option_chain::market::Session::Nse.describe(now)
            });
        }
    }
    app.status_line(format!(
        "Expiry calendar: rules {}, holidays {}{}",
        opts.expiry_rules
            .as_deref()
            .map_or("config/nse_expiry_rules.txt (embedded)".into(), |p| p
                .display()
                .to_string()),
        opts.holidays
            .as_deref()
            .map_or("config/nse_holidays.txt (embedded)".into(), |p| p
                .display()
                .to_string()),
        if opts.holidays.is_none() {
            " -- fixed-date holidays only: pass NSE's yearly list with --holidays FILE"
        } else {
            ""
        }
    ));
    let inproc = crate::bus::inproc::InProcessBus::new(opts.bus_capacity as usize);
    let parquet_dir = store_target.parquet_dir().map(std::path::Path::to_path_buf);
    let store = match store_target.open_on(Some(app.runtime().handle().clone())) {
        Ok(s) => s,
        Err(e) => {
            // The Parquet directory comes from --data-dir unless --store names one.
            let option = match opts.store {
                options::StoreOption::DataDir => "--data-dir",
                options::StoreOption::Target(_) => "--store",
            };
            eprintln!("error: {option}: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let store_stop = crate::shutdown::Stop::new();
    let store_thread = match store {
        None => {
            app.status_line("Store: none (--store none): contracts are not kept");
            None
        }
        Some(store) => {
            let writer = crate::store::Writer::new(
                store,
                crate::store::WriterConfig {
                    flush_every: opts.store_flush,
                    backlog_rows: opts.store_backlog_rows.max(1),
                    ..Default::default()
                },
            );
            app.status_line(if parquet_dir.is_some() {
                format!(
                    "Store: {}, flushed every {}; files older than {} are deleted",
                    writer.describe(),
                    humantime::format_duration(opts.store_flush),
                    humantime::format_duration(opts.retain)
                )
            } else {
                format!(
                    "Store: {}, flushed every {}",
                    writer.describe(),
                    humantime::format_duration(opts.store_flush)
                )
            });
            let lifecycle = parquet_dir.as_deref().map(|dir| {
                crate::store::lifecycle::Lifecycle::new(
                    dir,
                    opts.retain,
                    opts.delete_cap,
                    opts.lifecycle_every,
                )
                .with_compaction(opts.compact_below, opts.compact_after)
            });
            match crate::store::spawn_in_process(
                writer,
                inproc.subscribe("store"),
                lifecycle,
                store_stop.clone(),
            ) {
                Ok(h) => Some(h),
                Err(e) => {
                    eprintln!("error: cannot start the store thread: {e}");
                    return ExitCode::from(1);
                }
            }
        }
    };
    // Live streams and other connections have bounds of their own (a viewer is never
    // closed to make room for a scrape, nor the reverse), both within the open-files
    // limit.
    let mut limits = crate::exporter::Limits {
        max_connections: usize::from(opts.max_connections),
        max_streams: opts.live_max_clients as usize,
        header_read_timeout: opts.header_read_timeout,
        ..Default::default()
    };
    fit_connection_cap(&mut limits);
    // The live near-ATM view: fed by the in-process bus, served beside /metrics.
    app.with_live(
        &inproc,
        limits.max_streams,
        opts.live_heartbeat,
        "live near-ATM view",
    );
    let mut buses: Vec<std::sync::Arc<dyn crate::bus::Bus>> = vec![inproc];
    match nats {
        None => app.status_line(format!(
            "Bus: in process (ring of {} messages); publish to NATS JetStream with --bus nats://HOST:PORT",
            opts.bus_capacity
        )),
        Some(config) => {
            app.status_line(format!(
                "Bus: NATS JetStream {} (stream {}, subjects {}.>), outbox {} bytes",
                crate::bus::nats::shown(&config.servers),
                config.stream,
                config.subject_prefix,
                config.outbox_bytes
            ));
            let replicas = config.replicas;
            match crate::bus::nats::NatsBus::start(config, app.runtime().handle()) {
                Ok(b) => {
                    if let Some(n) = b.cluster_nodes().filter(|n| *n > replicas) {
                        app.status_line(format!(
                            "WARNING: the NATS cluster has {n} servers and the stream {replicas} replica{}: losing its server stops publishing (--bus-replicas)",
                            if replicas == 1 { "" } else { "s" }
                        ));
                    }
                    buses.push(std::sync::Arc::new(b));
                }
                Err(e) => {
                    eprintln!("error: --bus: {e}");
                    return ExitCode::from(EXIT_USAGE);
                }
            }
        }
    }
    let stop = app.stop().clone();
    let budget = match opts.memory_budget {
        0 => crate::governor::default_budget(),
        b => b,
    };
    let governor = crate::governor::Governor::new(
        crate::governor::GovernorConfig::new(budget, opts.memory_hold),
        crate::governor::controls().clone(),
        std::time::Instant::now(),
    );
    app.status_line(format!(
        "Memory budget: {} (levels at 70%, 85%, 95%; --memory-budget)",
        bytesize::ByteSize::b(budget).display().iec()
    ));
    let governor_thread =
        match crate::governor::spawn(governor, std::time::Duration::from_secs(1), stop.clone()) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("error: cannot start the memory governor: {e}");
                return ExitCode::from(1);
            }
        };
    let mut runner = crate::option_chain::runner::Runner::new(provider, opts.fallback_synthetic)
        .with_publisher(crate::bus::Publisher::new(buses.clone()))
        .cycles(opts.cycles);
    runner = runner.only_indices(&opts.index);
    let health = runner.health();
    let provider_name = runner.provider_name().to_string();
    app.status_live_line(move || {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .describe(&provider_name, now)
    });
    let collector = match runner.spawn(opts.interval, stop.clone()) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: cannot start the collection thread: {e}");
            return ExitCode::from(1);
        }
    };
    let simulation = if opts.simulate {
        match spawn_simulation(&mut app, opts.interval) {
            Ok(h) => Some(h),
            Err(e) => {
                eprintln!("error: cannot start the simulation thread: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        None
    };
    let code = match app.spawn_http(listener, limits, crate::exporter::shutdown_signal()) {
        Ok(server) => match app.runtime().block_on(server) {
            Ok(Ok(())) => ExitCode::SUCCESS,
            Ok(Err(e)) => {
                eprintln!("error: exporter failed: {e}");
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("error: exporter failed: {e}");
                ExitCode::from(1)
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    };
    stop.stop();
    crate::option_chain::providers::exec::kill_running();
    // Shutdown never waits on a provider: give the loop a moment to finish its cycle,
    // then leave (a fetch stuck on a hung read dies with the process).
    collector.join_within(std::time::Duration::from_secs(1));
    if let Some(h) = simulation {
        let _ = h.join();
    }
    let _ = governor_thread.join();
    // The store takes what the collector published last, then stops.
    store_stop.stop();
    if let Some(h) = store_thread {
        let _ = h.join();
        log_store_ledger();
    }
    // Deliver what the bus still holds (bounded), count what cannot be.
    for bus in &buses {
        let left = bus.close(std::time::Duration::from_secs(10));
        let name = bus.name();
        let dropped: u64 = crate::labels::DropReason::ALL
            .iter()
            .map(|r| crate::metrics::bus_dropped_messages_total(name, *r).get())
            .sum();
        tracing::info!(
            bus = ?name,
            published = crate::metrics::bus_events_published_total(name, crate::bus::TOPIC).get(),
            dropped,
            left,
            "bus closed"
        );
    }
    app.finish(std::time::Duration::from_secs(5));
    code
}

/// `--web-config FILE`, read before anything else: a bad file is a usage error (exit
/// 2, said on stderr) and nothing is written.
pub(crate) fn web_config(
    path: Option<&std::path::Path>,
) -> Result<Option<crate::web_config::WebConfig>, ExitCode> {
    path.map(crate::web_config::load).transpose().map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_USAGE)
    })
}

/// The NATS bus settings of `g6 serve`.
fn nats_config(
    servers: &crate::bus::nats::NatsServers,
    opts: &ServeOptions,
) -> Result<crate::bus::nats::NatsConfig, String> {
    Ok(crate::bus::nats::NatsConfig {
        servers: servers.0.clone(),
        stream: opts.bus_options.bus_stream.clone(),
        subject_prefix: opts.bus_options.bus_subject_prefix.clone(),
        max_age: opts.bus_max_age,
        max_bytes: opts.bus_max_bytes,
        duplicate_window: opts.bus_dedupe_window,
        outbox_bytes: usize::try_from(opts.bus_outbox_bytes).unwrap_or(usize::MAX),
        ack_timeout: opts.bus_ack_timeout,
        replicas: usize::from(opts.stream_options.bus_replicas),
        placement_tags: opts.stream_options.bus_placement_tags.clone(),
        security: opts.bus_options.security()?,
    })
}

/// Raise the soft open-files limit to the hard one (many systems start at 1024, the
/// exporter's default connection cap) and keep the connection cap and the live-stream
/// cap together below what is left.
fn fit_connection_cap(limits: &mut crate::exporter::Limits) {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut rl = getrlimit(Resource::Nofile);
    if rl.current != rl.maximum {
        let raised = rustix::process::Rlimit {
            current: rl.maximum,
            maximum: rl.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            rl = raised;
        }
    }
    // None is unlimited.
    let soft = rl.current.unwrap_or(u64::MAX);
    // Room for the provider, the log, Prometheus files and the like.
    let room = usize::try_from(soft.saturating_sub(64))
        .unwrap_or(usize::MAX)
        .max(1);
    if let Some((connections, streams)) =
        fit_within(limits.max_connections, limits.max_streams, room)
    {
        tracing::warn!(
            max_connections = limits.max_connections,
            live_max_clients = limits.max_streams,
            room,
            using_connections = connections,
            using_live_clients = streams,
            "the open-files limit is lower than --max-connections plus --live-max-clients; using lower caps"
        );
        limits.max_connections = connections;
        limits.max_streams = streams;
    }
}

/// The store's ledger at exit: every row the in-process bus handed the writer is
/// stored or dropped under a reason (nothing waits once it has closed).
fn log_store_ledger() {
    let published = crate::metrics::bus_published_rows_total(crate::bus::inproc::NAME).get();
    let stored = crate::metrics::cs_ingest_rows_total(crate::store::TABLE).get();
    let mut dropped = 0;
    let mut reasons = Vec::new();
    for r in crate::labels::StoreDropReason::ALL {
        let n = crate::metrics::cs_ingest_dropped_rows_total(crate::store::TABLE, r).get();
        dropped += n;
        if n > 0 {
            reasons.push(format!("{}={n}", r.as_str()));
        }
    }
    let ledger = format!(
        "rows published {published} = stored {stored} + dropped {dropped} ({})",
        if reasons.is_empty() {
            "none".to_string()
        } else {
            reasons.join(", ")
        }
    );
    if published == stored + dropped {
        tracing::info!(published, stored, dropped, "store ledger: {ledger}");
    } else {
        tracing::error!(
            published,
            stored,
            dropped,
            "store ledger does not close: {ledger}"
        );
    }
}

/// Lower caps for `connections` and `streams` whose sum fits `room` file descriptors,
/// or `None` when they fit already. Streams keep at most half the room, so scrapes
/// always get in.
fn fit_within(connections: usize, streams: usize, room: usize) -> Option<(usize, usize)> {
    if connections.saturating_add(streams) <= room {
        return None;
    }
    let streams = streams.min(room / 2).max(1);
    let connections = connections.min(room.saturating_sub(streams)).max(1);
    Some((connections, streams))
}

#[cfg(test)]
mod tests {
    use super::fit_within;

    #[test]
    fn connection_and_stream_caps_fit_the_open_files_room_with_scrapes_keeping_half() {
        assert_eq!(fit_within(1024, 200, 4000), None, "they fit");
        assert_eq!(fit_within(1024, 200, 1224), None, "exactly");
        // Too many: streams keep their number while under half, scrapes the rest.
        assert_eq!(fit_within(1024, 200, 960), Some((760, 200)));
        // Streams are cut to half the room.
        assert_eq!(fit_within(1024, 5000, 960), Some((480, 480)));
        assert_eq!(fit_within(10, 10, 1), Some((1, 1)), "never zero");
    }
}
