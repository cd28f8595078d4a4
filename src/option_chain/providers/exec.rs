//! `exec:CMD`: run a command (through `sh -c`) that prints JSON lines with the contract
//! columns. A non-zero exit is a failure (with the start of stderr); a command that
//! runs past the timeout is killed and counted as a timeout.

use crate::labels::Source;
use crate::option_chain::providers::file::parse_jsonl;
use crate::option_chain::{OptionChainProvider, ProviderError, Snapshot};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs a command per fetch.
pub struct ExecProvider {
    command: String,
    timeout: Duration,
}

impl ExecProvider {
    /// A provider that runs `command` with `timeout`.
    pub fn new(command: &str, timeout: Duration) -> Self {
        ExecProvider {
            command: command.to_string(),
            timeout,
        }
    }
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
            .spawn()
            .map_err(|e| ProviderError::Failed(format!("cannot run {:?}: {e}", self.command)))?;
        // Read output on threads so a chatty command never blocks on a full pipe.
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let out_reader = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(o) = stdout.as_mut() {
                let _ = o.read_to_string(&mut s);
            }
            s
        });
        let err_reader = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(e) = stderr.as_mut() {
                let _ = e.read_to_string(&mut s);
            }
            s
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(ProviderError::Timeout(format!(
                        "{:?} ran longer than {:?}",
                        self.command, self.timeout
                    )));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => {
                    return Err(ProviderError::Failed(format!(
                        "waiting for {:?}: {e}",
                        self.command
                    )))
                }
            }
        };
        let out = out_reader.join().unwrap_or_default();
        let err = err_reader.join().unwrap_or_default();
        if !status.success() {
            let excerpt: String = err.trim().chars().take(200).collect();
            return Err(ProviderError::Failed(format!(
                "{:?} exited with {status}: {excerpt}",
                self.command
            )));
        }
        Ok(parse_jsonl(&out, "EXEC"))
    }
}
