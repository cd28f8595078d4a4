//! The `g6` command line: `serve`, `lint`, `generate`.

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit code for a usage or setup error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code when a catalog or another non-dashboard, non-rule artifact drifted.
pub const EXIT_OTHER_DRIFT: u8 = 7;

/// g6: metrics for the G6 options-chain platform.
#[derive(Debug, Parser)]
#[command(name = "g6", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a spec file with the same rules as the build.
    Lint {
        /// The spec to check.
        #[arg(default_value = "metrics.yml")]
        spec: PathBuf,
    },
    /// Write the compiled-in artifacts to a directory, or check that it is up to date.
    Generate {
        /// Directory to write to or check.
        #[arg(long, default_value = "generated")]
        out: PathBuf,
        /// Compare only; write nothing; exit non-zero on drift.
        #[arg(long)]
        check: bool,
    },
}

/// Run the CLI with the process arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Lint { spec } => lint(&spec),
        Command::Generate { out, check } => generate(&out, check),
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

fn generate(out: &Path, check: bool) -> ExitCode {
    let mut drifted = Vec::new();
    for a in crate::artifacts::ALL {
        let path = out.join(a.path);
        let current = std::fs::read(&path).ok();
        if current.as_deref() == Some(a.content.as_bytes()) {
            continue;
        }
        if check {
            let what = if current.is_some() {
                "differs"
            } else {
                "is missing"
            };
            eprintln!("drift: {} {what}", path.display());
            drifted.push(a);
            continue;
        }
        if let Some(parent) = path.parent() {
            if let Err(e) = std::fs::create_dir_all(parent) {
                eprintln!("error: cannot create {}: {e}", parent.display());
                return ExitCode::from(EXIT_USAGE);
            }
        }
        if let Err(e) = std::fs::write(&path, a.content) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(EXIT_USAGE);
        }
        println!("wrote {}", path.display());
    }
    if drifted.is_empty() {
        if check {
            println!(
                "ok: {} artifacts up to date in {}",
                crate::artifacts::ALL.len(),
                out.display()
            );
        }
        return ExitCode::SUCCESS;
    }
    eprintln!("run `g6 generate` (or `cargo build`) and commit the result");
    ExitCode::from(EXIT_OTHER_DRIFT)
}
