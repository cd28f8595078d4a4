//! `exec:CMD`: run a command (through `sh -c`) that prints JSON lines with the contract
//! columns. A non-zero exit is a failure (with the start of stderr). The command runs
//! in a process group of its own: at the timeout, or when its output passes the size
//! limit, the whole group is killed (whatever the command started dies with it) and
//! reaped, and the reader threads end with it.

use crate::labels::{FetchFailure, Source};
use crate::option_chain::providers::file::parse_jsonl;
use crate::option_chain::{OptionChainProvider, ProviderError, Snapshot};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most stderr kept for the error message.
const STDERR_BYTES: u64 = 64 * 1024;

/// Runs a command per fetch.
pub struct ExecProvider {
    command: String,
    timeout: Duration,
    max_bytes: u64,
}

impl ExecProvider {
    /// A provider that runs `command` with `timeout`, reading at most
    /// [`super::DEFAULT_MAX_INPUT_BYTES`] of its output.
    pub fn new(command: &str, timeout: Duration) -> Self {
        ExecProvider {
            command: command.to_string(),
            timeout,
            max_bytes: super::DEFAULT_MAX_INPUT_BYTES,
        }
    }

    /// Kill the command when its output passes `max_bytes` (reason `too_large`).
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }
}

/// Kill the child's whole process group, then reap the child.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals that process group; it touches
        // no memory of ours. The group is the child's own (process_group(0)).
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl OptionChainProvider for ExecProvider {
    fn name(&self) -> &str {
        "exec"
    }

    fn source(&self) -> Source {
        Source::Live
    }

    fn fetch(&mut self) -> Result<Snapshot, ProviderError> {
        let mut child = Command::new("sh")
            .args(["-c", &self.command])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| {
                ProviderError::new(
                    FetchFailure::Unreadable,
                    format!("cannot run {:?}: {e}", self.command),
                )
            })?;
        // Read output on threads so a chatty command never blocks on a full pipe; each
        // reader stops at its limit.
        let overflow = Arc::new(AtomicBool::new(false));
        let limit = self.max_bytes;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let flag = Arc::clone(&overflow);
        let out_reader = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(o) = stdout {
                let _ = o.take(limit.saturating_add(1)).read_to_end(&mut bytes);
            }
            if bytes.len() as u64 > limit {
                flag.store(true, Ordering::Relaxed);
            }
            bytes
        });
        let err_reader = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(e) = stderr {
                let _ = e.take(STDERR_BYTES).read_to_end(&mut bytes);
            }
            bytes
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            if overflow.load(Ordering::Relaxed) {
                kill_group(&mut child);
                let _ = out_reader.join();
                let _ = err_reader.join();
                return Err(super::too_large(
                    &format!("the output of {:?}", self.command),
                    limit,
                ));
            }
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    kill_group(&mut child);
                    let _ = out_reader.join();
                    let _ = err_reader.join();
                    return Err(ProviderError::timeout(format!(
                        "{:?} ran longer than {:?} (--exec-timeout); it and what it started were killed",
                        self.command, self.timeout
                    )));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => {
                    kill_group(&mut child);
                    return Err(ProviderError::new(
                        FetchFailure::Unreadable,
                        format!("waiting for {:?}: {e}", self.command),
                    ));
                }
            }
        };
        // The command exited; anything it left behind in its group goes with it, so
        // the pipes close and the readers finish.
        kill_group(&mut child);
        let out = out_reader.join().unwrap_or_default();
        let err = err_reader.join().unwrap_or_default();
        if out.len() as u64 > limit {
            return Err(super::too_large(
                &format!("the output of {:?}", self.command),
                limit,
            ));
        }
        if !status.success() {
            let excerpt: String = String::from_utf8_lossy(&err)
                .trim()
                .chars()
                .take(200)
                .collect();
            return Err(ProviderError::new(
                FetchFailure::ExitStatus,
                format!("{:?} exited with {status}: {excerpt}", self.command),
            ));
        }
        let text = String::from_utf8(out).map_err(|e| {
            ProviderError::new(
                FetchFailure::Malformed,
                format!(
                    "the output of {:?} is not UTF-8 (invalid byte at offset {})",
                    self.command,
                    e.utf8_error().valid_up_to()
                ),
            )
        })?;
        Ok(parse_jsonl(&text, "EXEC"))
    }
}
