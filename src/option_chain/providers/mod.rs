//! Built-in providers, selected with `--provider`: `synthetic[:SEED]`, `file:PATH`,
//! `nse-json:PATH`, `exec:CMD`.

pub mod exec;
pub mod file;
pub mod nse;
pub mod synthetic;

use super::OptionChainProvider;
use std::time::Duration;

/// Build a provider from its `--provider` spelling.
pub fn from_spec(
    spec: &str,
    exec_timeout: Duration,
) -> Result<Box<dyn OptionChainProvider>, String> {
    let (kind, arg) = spec.split_once(':').unwrap_or((spec, ""));
    match kind {
        "synthetic" => {
            let seed = if arg.is_empty() {
                synthetic::DEFAULT_SEED
            } else {
                arg.parse().map_err(|_| format!("synthetic seed {arg:?} is not a whole number"))?
            };
            Ok(Box::new(synthetic::SyntheticProvider::new(seed)))
        }
        "file" if !arg.is_empty() => Ok(Box::new(file::FileProvider::new(arg))),
        "nse-json" if !arg.is_empty() => Ok(Box::new(nse::NseJsonProvider::new(arg))),
        "exec" if !arg.trim().is_empty() => Ok(Box::new(exec::ExecProvider::new(arg, exec_timeout))),
        _ => Err(format!(
            "unknown provider {spec:?}; use synthetic[:SEED], file:PATH (CSV or JSON lines), nse-json:PATH or exec:CMD"
        )),
    }
}
