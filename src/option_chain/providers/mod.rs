//! Built-in providers, selected with `--provider`: `synthetic[:SEED]`, `file:PATH`,
//! `nse-json:PATH`, `exec:CMD`.

pub mod deadline;
pub mod exec;
pub mod file;
pub mod nse;
pub mod synthetic;

use super::{OptionChainProvider, ProviderError};
use crate::labels::FetchFailure;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// Largest input a provider reads by default (`--max-input-bytes`): 64 MiB, some ten
/// times the largest real NSE chain.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// Bounds every built-in provider runs under.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProviderLimits {
    /// Longest one fetch may take before the cycle gives up on it (`--fetch-timeout`).
    pub fetch_timeout: Duration,
    /// Longest an `exec:` command may run before it is killed (`--exec-timeout`).
    pub exec_timeout: Duration,
    /// Largest input read (`--max-input-bytes`).
    pub max_input_bytes: u64,
}

impl Default for ProviderLimits {
    fn default() -> Self {
        ProviderLimits {
            fetch_timeout: Duration::from_secs(10),
            exec_timeout: Duration::from_secs(10),
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
        }
    }
}

/// Read a file of at most `max` bytes as UTF-8 text; larger is `too_large`, without
/// reading more than `max + 1` bytes of it.
pub fn read_capped(path: &Path, max: u64) -> Result<String, ProviderError> {
    let unreadable = |e: std::io::Error| {
        ProviderError::new(
            FetchFailure::Unreadable,
            format!("cannot read {}: {e}", path.display()),
        )
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > max {
        return Err(too_large(&path.display().to_string(), max));
    }
    String::from_utf8(bytes).map_err(|e| {
        ProviderError::new(
            FetchFailure::Malformed,
            format!(
                "{} is not UTF-8 text (invalid byte at offset {})",
                path.display(),
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// The failure for an input over the size limit.
pub fn too_large(what: &str, max: u64) -> ProviderError {
    ProviderError::new(
        FetchFailure::TooLarge,
        format!("{what} is larger than {max} bytes; raise --max-input-bytes if it is genuine"),
    )
}

/// Build a provider from its `--provider` spelling. Every provider but the in-memory
/// synthetic one runs under `limits.fetch_timeout` (see [`deadline::WithDeadline`]).
pub fn from_spec(
    spec: &str,
    limits: ProviderLimits,
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
        "file" if !arg.is_empty() => Ok(deadline::WithDeadline::boxed(
            file::FileProvider::new(arg).max_bytes(limits.max_input_bytes),
            limits.fetch_timeout,
        )),
        "nse-json" if !arg.is_empty() => Ok(deadline::WithDeadline::boxed(
            nse::NseJsonProvider::new(arg).max_bytes(limits.max_input_bytes),
            limits.fetch_timeout,
        )),
        "exec" if !arg.trim().is_empty() => Ok(deadline::WithDeadline::boxed(
            exec::ExecProvider::new(arg, limits.exec_timeout)
                .max_bytes(limits.max_input_bytes),
            // The command's own timeout kills it; the deadline only backs it up.
            limits.fetch_timeout.max(limits.exec_timeout + Duration::from_secs(1)),
        )),
        _ => Err(format!(
            "unknown provider {spec:?}; use synthetic[:SEED], file:PATH (CSV or JSON lines), nse-json:PATH or exec:CMD"
        )),
    }
}
