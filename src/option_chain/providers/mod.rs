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

/// A provider as `--provider` names it: `synthetic[:SEED][:fast]`, `file:PATH`,
/// `nse-json:PATH` or `exec:CMD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderSpec {
    /// The synthetic market model with this seed, in NSE's hours.
    Synthetic(u64),
    /// The synthetic market model with this seed, moving a trading minute every
    /// snapshot at any hour.
    SyntheticFast(u64),
    /// A CSV or JSON-lines file, read each cycle.
    File(std::path::PathBuf),
    /// An NSE option-chain JSON file, read each cycle.
    NseJson(std::path::PathBuf),
    /// A shell command whose output is a chain, run each cycle.
    Exec(String),
}

impl std::str::FromStr for ProviderSpec {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let (kind, arg) = spec.split_once(':').unwrap_or((spec, ""));
        match kind {
            "synthetic" => {
                let (seed, mode) = arg.split_once(':').unwrap_or((arg, ""));
                let seed = match seed {
                    "" => synthetic::DEFAULT_SEED,
                    s => s
                        .parse()
                        .map_err(|_| format!("synthetic seed {s:?} is not a whole number"))?,
                };
                match mode {
                    "" => Ok(ProviderSpec::Synthetic(seed)),
                    "fast" => Ok(ProviderSpec::SyntheticFast(seed)),
                    m => Err(format!(
                        "synthetic mode {m:?}: the only mode is fast (synthetic:SEED:fast moves the market a trading minute every cycle, at any hour)"
                    )),
                }
            }
            "file" if !arg.is_empty() => Ok(ProviderSpec::File(arg.into())),
            "nse-json" if !arg.is_empty() => Ok(ProviderSpec::NseJson(arg.into())),
            "exec" if !arg.trim().is_empty() => Ok(ProviderSpec::Exec(arg.to_string())),
            _ => Err(format!(
                "unknown provider {spec:?}; use synthetic[:SEED][:fast], file:PATH (CSV or JSON lines), nse-json:PATH or exec:CMD"
            )),
        }
    }
}

impl std::fmt::Display for ProviderSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProviderSpec::Synthetic(seed) if *seed == synthetic::DEFAULT_SEED => {
                f.write_str("synthetic")
            }
            ProviderSpec::Synthetic(seed) => write!(f, "synthetic:{seed}"),
            ProviderSpec::SyntheticFast(seed) => write!(f, "synthetic:{seed}:fast"),
            ProviderSpec::File(p) => write!(f, "file:{}", p.display()),
            ProviderSpec::NseJson(p) => write!(f, "nse-json:{}", p.display()),
            ProviderSpec::Exec(cmd) => write!(f, "exec:{cmd}"),
        }
    }
}

impl ProviderSpec {
    /// Build the provider. Every provider but the in-memory synthetic one runs under
    /// `limits.fetch_timeout` (see [`deadline::WithDeadline`]).
    pub fn build(&self, limits: ProviderLimits) -> Box<dyn OptionChainProvider> {
        match self {
            ProviderSpec::Synthetic(seed) => Box::new(synthetic::SyntheticProvider::new(*seed)),
            ProviderSpec::SyntheticFast(seed) => {
                Box::new(synthetic::SyntheticProvider::new(*seed).fast())
            }
            ProviderSpec::File(path) => deadline::WithDeadline::boxed(
                file::FileProvider::new(path).max_bytes(limits.max_input_bytes),
                limits.fetch_timeout,
            ),
            ProviderSpec::NseJson(path) => deadline::WithDeadline::boxed(
                nse::NseJsonProvider::new(path).max_bytes(limits.max_input_bytes),
                limits.fetch_timeout,
            ),
            ProviderSpec::Exec(cmd) => deadline::WithDeadline::boxed(
                exec::ExecProvider::new(cmd, limits.exec_timeout).max_bytes(limits.max_input_bytes),
                // The command's own timeout kills it; the deadline only backs it up.
                limits
                    .fetch_timeout
                    .max(limits.exec_timeout + Duration::from_secs(1)),
            ),
        }
    }
}

/// Build a provider from its `--provider` spelling (see [`ProviderSpec`]).
pub fn from_spec(
    spec: &str,
    limits: ProviderLimits,
) -> Result<Box<dyn OptionChainProvider>, String> {
    Ok(spec.parse::<ProviderSpec>()?.build(limits))
}
