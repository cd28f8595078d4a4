//! Helpers shared by integration tests.
#![allow(dead_code)]

pub mod clickhouse;
pub mod nats;
pub mod prometheus;
pub mod replay;
pub mod tls;

/// A fresh, empty directory `name` under the build's temporary directory.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A provider moved on by a minute at every fetch (a new snapshot each time); with
/// `grow_oi`, open interest is also multiplied by the fetch number (x1, x2, x3), so
/// "the newest snapshot" is visible in the numbers.
pub struct Moving {
    inner: Box<dyn g6_metrics::option_chain::OptionChainProvider>,
    fetches: i64,
    grow_oi: bool,
}

impl Moving {
    /// Only the as-of time moves.
    pub fn new(inner: Box<dyn g6_metrics::option_chain::OptionChainProvider>) -> Moving {
        Moving {
            inner,
            fetches: 0,
            grow_oi: false,
        }
    }

    /// Open interest grows too.
    pub fn growing(inner: Box<dyn g6_metrics::option_chain::OptionChainProvider>) -> Moving {
        Moving {
            grow_oi: true,
            ..Moving::new(inner)
        }
    }
}

impl g6_metrics::option_chain::OptionChainProvider for Moving {
    fn name(&self) -> &str {
        "file"
    }
    fn source(&self) -> g6_metrics::labels::Source {
        g6_metrics::labels::Source::Replay
    }
    fn fetch(
        &mut self,
    ) -> Result<g6_metrics::option_chain::Snapshot, g6_metrics::option_chain::ProviderError> {
        let mut s = self.inner.fetch()?;
        s.as_of = s.as_of.map(|t| t + 60 * self.fetches);
        if self.grow_oi {
            for q in s.rows.iter_mut().flatten() {
                q.open_interest *= (1 + self.fetches) as f64;
            }
        }
        self.fetches += 1;
        Ok(s)
    }
}

/// Every sample our encoder writes right now (no hooks, no flush), after creating
/// every metric as a program's `init()` would.
pub fn samples() -> Vec<Sample> {
    g6_metrics::metrics::init_all();
    let text = String::from_utf8(g6_metrics::exporter::encode_all()).expect("UTF-8 exposition");
    parse_exposition(&text)
}

/// The value of the series `name{labels}` (counter, gauge, or histogram sample count).
pub fn value(name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let all = samples();
    find_sample(&all, name, labels).or_else(|| find_sample(&all, &format!("{name}_count"), labels))
}

/// Number of series of `name` (histograms: of `name_count`).
pub fn series_count(name: &str) -> usize {
    let all = samples();
    let count = |n: &str| all.iter().filter(|s| s.name == n).count();
    match count(name) {
        0 => count(&format!("{name}_count")),
        n => n,
    }
}

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A response read off the wire.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Send raw request bytes (the request should say `Connection: close`) and read the reply.
pub fn http_raw(addr: &str, request: &[u8]) -> std::io::Result<HttpResponse> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.write_all(request)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw)
}

/// A whole HTTP/1.1 response as read off the wire (chunked bodies joined).
pub fn parse_response(raw: &[u8]) -> std::io::Result<HttpResponse> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            std::io::Error::other(format!(
                "no header end in {:?}",
                String::from_utf8_lossy(raw)
            ))
        })?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}

/// `METHOD path` with `Connection: close` and optional extra header lines.
pub fn http(addr: &str, method: &str, path: &str, extra_headers: &str) -> HttpResponse {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra_headers}Connection: close\r\n\r\n"
    );
    http_raw(addr, req.as_bytes()).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// A running `g6 serve`, stopped (SIGTERM, then kill) when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Server {
    /// Start `g6 serve --listen 127.0.0.1:0 <args>` (unless `args` has its own
    /// `--listen`) and wait for its address line.
    // The child is waited for in `Drop` (or `terminate`), which clippy cannot see.
    #[allow(clippy::zombie_processes)]
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Server {
        Server::start_binary(std::path::Path::new(env!("CARGO_BIN_EXE_g6")), args, envs)
    }

    /// Like [`Server::start`], with another build of the `g6` binary.
    // The child is waited for by `terminate` or `Drop`, which clippy cannot see.
    #[allow(clippy::zombie_processes)]
    pub fn start_binary(bin: &std::path::Path, args: &[&str], envs: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(bin);
        cmd.arg("serve");
        if !args.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.args(args);
        // Never the repository's ./g6-data: a directory of this server's own.
        if !args.iter().any(|a| *a == "--store" || *a == "--data-dir") {
            static SERVERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("g6-data-{}-{n}", std::process::id()));
            cmd.arg("--data-dir").arg(dir);
        }
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn g6 serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(stdout);
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("g6 serve did not report its address; stderr:\n{err}");
            }
            if let Some(rest) = line.trim().split("listening on ").nth(1).and_then(|r| {
                r.strip_prefix("http://")
                    .or_else(|| r.strip_prefix("https://"))
            }) {
                let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                // Keep draining stdout so the server never blocks on a full pipe.
                std::thread::spawn(move || {
                    let mut sink = String::new();
                    let _ = reader.read_to_string(&mut sink);
                });
                return Server { child, addr };
            }
        }
    }

    /// Send SIGTERM and wait for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return self.child.wait().expect("wait");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Panics unless `name` is on PATH. A test that needs a tool is
/// `#[ignore = "needs <tool>; scripts/test.sh runs it"]`: a plain `cargo test` leaves it
/// out, and when it runs (`--include-ignored`) without its tool it fails instead of
/// passing without having run.
pub fn require_tool(name: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{name} is not on PATH and this test needs it; scripts/test.sh installs it"
    );
}

/// Poll `cond` every 20 ms until it holds; panic naming `what` once `timeout` has passed.
/// For waiting on an effect instead of sleeping for a guessed time.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One parsed sample of the text exposition format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Parse either text format with the runtime's reader, unescaping label values;
/// samples in the order written. Panics (naming the line) on a broken exposition.
pub fn parse_exposition(text: &str) -> Vec<Sample> {
    let parsed = g6_runtime::exposition::parse(text, &g6_runtime::exposition::Limits::default())
        .unwrap_or_else(|e| panic!("the exposition does not parse: {e}"));
    let mut samples: Vec<&g6_runtime::exposition::Sample> = parsed.samples().collect();
    samples.sort_by_key(|s| s.line);
    samples
        .into_iter()
        .map(|s| Sample {
            name: s.name.to_string(),
            labels: s
                .labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value: s.value,
        })
        .collect()
}

/// The value of the sample `name{labels}` (exactly these labels) in a parsed exposition.
pub fn find_sample(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v))
        })
        .map(|s| s.value)
}

/// Formatted `tracing` output captured while a closure runs on this thread.
#[derive(Clone, Default)]
pub struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Run `f` with a log subscriber on this thread; return its result and the log text.
pub fn with_logs<R>(f: impl FnOnce() -> R) -> (R, String) {
    let capture = LogCapture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let r = tracing::subscriber::with_default(subscriber, || {
        // Callsites first hit by a parallel test with no subscriber may have cached
        // "never interested"; recompute interest now that this one is in place.
        tracing::callsite::rebuild_interest_cache();
        f()
    });
    let text =
        String::from_utf8_lossy(&capture.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    (r, text)
}

/// Run a test's body in a process of its own (for tests of process-wide state such as
/// the metrics registry or the batcher): the test binary runs just this test again
/// with `G6_TEST_IN_CHILD` set, and the parent asserts that it passed. `module` is the
/// caller's `module_path!()` and `test` the test function's name.
pub fn in_own_process(module: &str, test: &str, body: impl FnOnce()) {
    in_own_process_with_env(module, test, &[], body)
}

/// [`in_own_process`] with environment variables set (`Some`) or removed (`None`) in
/// the child only: the runtime reads its `G6_*` settings from the environment, and
/// `std::env::set_var` in a threaded test process is a data race.
pub fn in_own_process_with_env(
    module: &str,
    test: &str,
    env: &[(&str, Option<&str>)],
    body: impl FnOnce(),
) {
    if std::env::var_os("G6_TEST_IN_CHILD").is_some() {
        body();
        return;
    }
    // libtest names a test by its module path without the crate's name.
    let test = match module.split_once("::") {
        Some((_crate, path)) => format!("{path}::{test}"),
        None => test.to_string(),
    };
    let exe = std::env::current_exe().expect("the test binary");
    let mut cmd = Command::new(exe);
    // --include-ignored: an ignored test (one that needs a server) that is run
    // runs in its child too.
    cmd.args([
        &test,
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "--include-ignored",
    ])
    .env("G6_TEST_IN_CHILD", "1");
    for (key, value) in env {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    let out = cmd.output().expect("run the test in a child process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{test} failed in its own process:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "the child ran {test}:\n{stdout}"
    );
}
