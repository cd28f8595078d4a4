//! A real `nats-server` with JetStream for tests: on a free loopback port with its
//! storage in a directory of the test's, polled until it answers, killed on drop.
//! `kill9` and `restart` simulate a crash and a recovery on the same storage.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The nats-server binary (Debian puts it in /usr/sbin), if installed.
pub fn binary() -> Option<PathBuf> {
    for dir in std::env::var("PATH").unwrap_or_default().split(':').chain([
        "/usr/sbin",
        "/usr/local/bin",
        "/usr/bin",
    ]) {
        let p = Path::new(dir).join("nats-server");
        if p.is_file() {
            return Some(p);
        }
    }
    None
}

/// The nats-server binary; panics when it is not installed. The tests that call this
/// are `#[ignore = "needs nats-server; …"]` (scripts/test.sh installs it and runs them),
/// so one that runs without it fails instead of passing without having run.
pub fn require() -> PathBuf {
    binary().expect("nats-server is not installed and this test needs it; scripts/test.sh installs it (Debian package nats-server)")
}

/// A nats-server with JetStream, killed on drop.
pub struct Nats {
    child: Option<Child>,
    /// Port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    /// Arguments besides `-js -a 127.0.0.1 -p PORT -sd DIR`.
    extra: Vec<String>,
    /// Whether a client without credentials over plain TCP gets a PONG (false with
    /// users or TLS: then the INFO greeting alone says it is up).
    plain: bool,
}

impl Nats {
    /// Start with JetStream storage under `dir`.
    pub fn start(dir: &Path) -> Nats {
        Nats::start_with(dir, super::prometheus::free_port(), Vec::new(), true)
    }

    /// Start on a free port with `config` written to `DIR/NAME.conf` and its storage
    /// in `DIR/NAME`; a configured server (users, TLS) is ready when it greets.
    pub fn start_configured(dir: &Path, name: &str, config: &str) -> Nats {
        std::fs::create_dir_all(dir).unwrap();
        let conf = dir.join(format!("{name}.conf"));
        std::fs::write(&conf, config).unwrap();
        Nats::start_with(
            &dir.join(name),
            super::prometheus::free_port(),
            vec!["-c".into(), conf.display().to_string()],
            false,
        )
    }

    /// Start on `port` with `extra` arguments (a cluster node's, a config file);
    /// `plain`: a client without credentials over plain TCP is served.
    pub fn start_with(dir: &Path, port: u16, extra: Vec<String>, plain: bool) -> Nats {
        std::fs::create_dir_all(dir).unwrap();
        let mut n = Nats {
            child: None,
            port,
            dir: dir.to_path_buf(),
            extra,
            plain,
        };
        n.spawn();
        n
    }

    /// Whether the server process is running.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("nats.log")).unwrap_or_default()
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let bin = binary().expect("nats-server");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("nats.log"))
            .unwrap();
        let child = Command::new(bin)
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.dir.join("js"))
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn nats-server");
        self.child = Some(child);
        self.wait_ready();
    }

    /// Poll until the server greets a client with INFO and answers PING.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "nats-server exited with {status}; log:\n{}",
                    std::fs::read_to_string(self.dir.join("nats.log")).unwrap_or_default()
                );
            }
            if self.answers() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nats-server did not become ready"
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    fn answers(&self) -> bool {
        let Ok(s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        if r.read_line(&mut line).is_err() || !line.starts_with("INFO") {
            return false;
        }
        if !self.plain {
            return true;
        }
        let mut w = s;
        if w.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
            .is_err()
        {
            return false;
        }
        line.clear();
        r.read_line(&mut line).is_ok() && line.starts_with("PONG")
    }

    /// SIGKILL the server (a crash: no clean shutdown).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    /// SIGHUP: the server reloads its configuration file.
    pub fn reload(&self) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .args(["-HUP", &c.id().to_string()])
                .status();
        }
    }

    /// Start again on the same port and storage.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }
}

/// Create the stream `G6_CHAIN` (subjects `g6.chain.>`, as `g6 serve` makes it) and
/// publish `payloads` to `subject`, each acknowledged by the stream.
pub fn publish_raw(url: &str, subject: &str, payloads: &[Vec<u8>]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let js = async_nats::jetstream::new(client);
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: "G6_CHAIN".into(),
            subjects: vec!["g6.chain.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();
        for p in payloads {
            js.publish(subject.to_string(), p.clone().into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    })
}

/// (num_pending, num_ack_pending) of the durable consumer `name` on `G6_CHAIN`:
/// messages not yet delivered, and delivered but not acknowledged.
pub fn consumer_state(url: &str, name: &str) -> (u64, usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let stream = js.get_stream("G6_CHAIN").await.unwrap();
        let info = stream
            .consumer_info(name)
            .await
            .unwrap_or_else(|e| panic!("consumer {name}: {e}"));
        (info.num_pending, info.num_ack_pending)
    })
}

/// [`consumer_state`], or `None` while the consumer does not exist yet (a process
/// that creates it may still be starting).
pub fn try_consumer_state(url: &str, name: &str) -> Option<(u64, usize)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let stream = js.get_stream("G6_CHAIN").await.unwrap();
        let info = stream.consumer_info(name).await.ok()?;
        Some((info.num_pending, info.num_ack_pending))
    })
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill9();
    }
}
