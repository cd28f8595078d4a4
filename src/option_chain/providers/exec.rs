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
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Most stderr kept for the error message (the rest is read and dropped, so a chatty
/// command never blocks on a full pipe).
const STDERR_BYTES: u64 = 64 * 1024;

/// How long the output readers may take after the command's group is gone (a process
/// that left the group could hold the pipes open).
const READER_GRACE: Duration = Duration::from_secs(2);

/// Process groups of commands running now, killed at shutdown ([`kill_running`]).
static RUNNING: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

/// Kill every `exec:` command still running (and what it started); `g6 serve` calls
/// this at shutdown so no command outlives the server.
pub fn kill_running() {
    let groups = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
    for pid in groups.iter() {
        signal_group(*pid);
    }
}

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

/// SIGKILL to the process group `pgid` (the command's own: `process_group(0)`); a
/// group already gone is fine.
fn signal_group(pgid: i32) {
    if let Some(pgid) = rustix::process::Pid::from_raw(pgid) {
        let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
    }
}

/// Kill the process group `pid` leads (the child is reaped by its waiter thread).
fn kill_group(pid: Option<i32>) {
    if let Some(pid) = pid {
        signal_group(pid);
        RUNNING
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|g| *g != pid);
    }
}

/// What the fetch waits for: the command's exit, or its output passing the limit.
enum Event {
    Exited(std::io::Result<ExitStatus>),
    Overflow,
}

/// Read a pipe on a thread; the bytes arrive on the returned channel. With
/// `overflow`, reading `keep` bytes sends [`Event::Overflow`] there.
fn read_on_thread(
    pipe: Option<impl Read + Send + 'static>,
    keep: u64,
    overflow: Option<mpsc::Sender<Event>>,
) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut p) = pipe {
            let _ = (&mut p).take(keep).read_to_end(&mut bytes);
            match &overflow {
                Some(events) if bytes.len() as u64 == keep => {
                    let _ = events.send(Event::Overflow);
                }
                // Drain the rest so the writer never blocks on a full pipe.
                None => {
                    let _ = std::io::copy(&mut p, &mut std::io::sink());
                }
                _ => {}
            }
        }
        let _ = tx.send(bytes);
    });
    rx
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
        let pid = i32::try_from(child.id()).ok();
        if let Some(pid) = pid {
            RUNNING.lock().unwrap_or_else(|p| p.into_inner()).push(pid);
        }
        // Read output on threads so a chatty command never blocks on a full pipe.
        // stdout stops one byte past the limit (the group is then killed); stderr keeps
        // its start and drains the rest. A third thread waits for the exit: the fetch
        // waits for whichever comes first, the exit, the overflow or the timeout.
        let (events, events_rx) = mpsc::channel();
        let limit = self.max_bytes;
        let out_reader = read_on_thread(
            child.stdout.take(),
            limit.saturating_add(1),
            Some(events.clone()),
        );
        let err_reader = read_on_thread(child.stderr.take(), STDERR_BYTES, None);
        std::thread::spawn(move || {
            let _ = events.send(Event::Exited(child.wait()));
        });
        let deadline = Instant::now() + self.timeout;
        let status = match events_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            Ok(Event::Exited(Ok(status))) => status,
            Ok(Event::Overflow) => {
                kill_group(pid);
                return Err(super::too_large(
                    &format!("the output of {:?}", self.command),
                    limit,
                ));
            }
            Err(RecvTimeoutError::Timeout) => {
                kill_group(pid);
                return Err(ProviderError::timeout(format!(
                    "{:?} ran longer than {:?} (--exec-timeout); it and what it started were killed",
                    self.command, self.timeout
                )));
            }
            Ok(Event::Exited(Err(e))) => {
                kill_group(pid);
                return Err(ProviderError::new(
                    FetchFailure::Unreadable,
                    format!("waiting for {:?}: {e}", self.command),
                ));
            }
            // The waiter and the reader are gone without a word: not expected.
            Err(RecvTimeoutError::Disconnected) => {
                kill_group(pid);
                return Err(ProviderError::new(
                    FetchFailure::Unreadable,
                    format!("lost track of {:?}", self.command),
                ));
            }
        };
        // The command exited; anything it left behind in its group goes with it, so
        // the pipes close and the readers finish.
        kill_group(pid);
        let held = || {
            ProviderError::new(
                FetchFailure::Unreadable,
                format!(
                    "the output of {:?} was held open by a process that left its group",
                    self.command
                ),
            )
        };
        let out = out_reader.recv_timeout(READER_GRACE).map_err(|_| held())?;
        let err = err_reader.recv_timeout(READER_GRACE).unwrap_or_default();
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
