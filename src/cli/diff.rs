//! `g6 diff OLD.yml NEW.yml`: what changed between two specs and what it breaks.

use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code when a change breaks existing queries, dashboards or alerts.
pub const EXIT_BREAKING: u8 = 3;
/// Exit code under `--strict` when a metric was removed or renamed, or a label of one
/// removed, without the metric first being deprecated.
pub const EXIT_STRICT: u8 = 4;

/// Output format of `g6 diff`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DiffFormat {
    /// One line per change.
    Text,
    /// A table for a pull-request comment.
    Markdown,
    /// JSON for machines.
    Json,
}

/// Options of `g6 diff`.
#[derive(Debug, clap::Args)]
pub struct DiffOptions {
    /// The spec before.
    old: PathBuf,
    /// The spec after.
    new: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: DiffFormat,
    /// Removing or renaming a metric that was not deprecated first (or removing a
    /// label of one) is an error (exit 4).
    #[arg(long)]
    strict: bool,
}

/// Run `g6 diff`.
pub fn run(opts: DiffOptions) -> ExitCode {
    let load = |p: &PathBuf| {
        let display = p.display().to_string();
        g6_codegen::load_file(p, &display).map_err(|d| {
            eprint!("{d}");
            eprintln!("error: {display} is not a valid spec (g6 lint {display} lists why)");
        })
    };
    let (Ok(old), Ok(new)) = (load(&opts.old), load(&opts.new)) else {
        return ExitCode::from(super::EXIT_USAGE);
    };
    let changes = g6_tools::diff::diff(&old.spec, &new.spec, opts.strict);
    match opts.format {
        DiffFormat::Text => print!("{}", g6_tools::diff::to_text(&changes)),
        DiffFormat::Markdown => print!("{}", g6_tools::diff::to_markdown(&changes)),
        DiffFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&g6_tools::diff::to_json(&changes))
                .unwrap_or_else(|_| "{}".into())
        ),
    }
    if changes.iter().any(|c| c.error) {
        ExitCode::from(EXIT_STRICT)
    } else if changes.iter().any(|c| c.breaking) {
        ExitCode::from(EXIT_BREAKING)
    } else {
        ExitCode::SUCCESS
    }
}
