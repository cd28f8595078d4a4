//! The `g6` command line: `serve`, `lint`, `generate`, `inventory`.

mod generate;

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
    /// Run the exporter (the main job).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9108")]
        listen: String,
    },
    /// Validate a spec file with the same rules as the build.
    Lint {
        /// The spec to check.
        #[arg(default_value = "metrics.yml")]
        spec: PathBuf,
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
        Command::Serve { listen } => serve(&listen),
        Command::Lint { spec } => lint(&spec),
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
    }
}

fn lint(path: &Path) -> ExitCode {
    let display = path.display().to_string();
    match g6_codegen::load_file(path, &display) {
        Ok(loaded) => {
            for w in loaded.diagnostics.warnings() {
                eprintln!("{}", w.render(&display));
            }
            println!(
                "ok: {} families, {} metrics, spec hash {}",
                loaded.spec.families.len(),
                loaded.spec.metrics().count(),
                loaded.hash()
            );
            ExitCode::SUCCESS
        }
        Err(diags) => {
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
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn serve(listen: &str) -> ExitCode {
    init_logging();
    crate::system::mark_start();
    let addr: std::net::SocketAddr = match listen.parse() {
        Ok(a) => a,
        Err(_) => {
            eprintln!("error: --listen {listen:?} is not an address like 127.0.0.1:9108");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Err(e) = crate::init() {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    crate::exporter::add_pre_scrape_hook(std::sync::Arc::new(crate::system::refresh));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!(
                    "error: cannot listen on {addr}: {e}; is another g6 serve running? choose another address with --listen"
                );
                return ExitCode::from(EXIT_USAGE);
            }
        };
        let local = listener.local_addr().unwrap_or(addr);
        // Tests and scripts read this line to find the port when listening on :0.
        println!("g6 serve: listening on http://{local} (spec hash {})", crate::SPEC_HASH);
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        tracing::info!(%local, spec_hash = crate::SPEC_HASH, "exporter started");
        match crate::exporter::serve(
            listener,
            crate::exporter::Limits::default(),
            crate::exporter::shutdown_signal(),
        )
        .await
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: exporter failed: {e}");
                ExitCode::from(1)
            }
        }
    })
}
