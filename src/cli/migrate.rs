//! `g6 migrate ORIGINAL.yml [--out FILE]`: a spec of the original Python G6 turned
//! into this format (see `g6_tools::migrate`), checked with the build's rules.

use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `g6 migrate`.
#[derive(Debug, clap::Args)]
pub struct MigrateOptions {
    /// The original spec (`metrics/spec/base.yml`).
    original: PathBuf,
    /// Write the new spec here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Run `g6 migrate`: exit 0 when the result lints clean, 1 when it still has errors
/// (listed), 2 when the input cannot be read as an original spec.
pub fn run(opts: MigrateOptions) -> ExitCode {
    let shown = opts.original.display().to_string();
    let text = match std::fs::read_to_string(&opts.original) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {shown}: {e}");
            return ExitCode::from(super::EXIT_USAGE);
        }
    };
    let migration = match g6_tools::migrate::migrate(&text) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {shown}: {e}");
            return ExitCode::from(super::EXIT_USAGE);
        }
    };
    for n in &migration.notes {
        eprintln!("{shown}:{}: MIGRATE: {}", n.line, n.message);
    }
    let target = opts
        .out
        .as_ref()
        .map_or("the migrated spec".to_string(), |p| p.display().to_string());
    match &opts.out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &migration.yaml) {
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::from(super::EXIT_USAGE);
            }
        }
        None => print!("{}", migration.yaml),
    }
    match g6_codegen::load_str(&migration.yaml, &target) {
        Ok(loaded) => {
            eprintln!(
                "{target}: lints clean ({} families, {} metrics); {} MIGRATE notes to review",
                loaded.spec.families.len(),
                loaded.spec.metrics().count(),
                migration.notes.len()
            );
            ExitCode::SUCCESS
        }
        Err(diags) => {
            eprint!("{diags}");
            eprintln!("{target}: still has errors (above); fix them by hand");
            ExitCode::from(1)
        }
    }
}
