//! A real `clickhouse-server` for tests and benchmarks: a minimal config of our own with
//! every path in a directory of the caller's, HTTP and native ports free on loopback,
//! polled on `/ping` until it answers, killed on drop. `stop` and `start_again`
//! simulate an outage on the same data. Self-contained (benches include it by path).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The clickhouse-server binary (Debian puts it in /usr/sbin), if installed.
pub fn binary() -> Option<PathBuf> {
    for dir in std::env::var("PATH").unwrap_or_default().split(':').chain([
        "/usr/sbin",
        "/usr/bin",
        "/usr/local/bin",
    ]) {
        let p = Path::new(dir).join("clickhouse-server");
        if p.is_file() {
            return Some(p);
        }
    }
    None
}

/// True when clickhouse-server is installed (the benchmarks skip their ClickHouse
/// part without it).
pub fn available() -> bool {
    binary().is_some()
}

/// The clickhouse-server binary; panics when it is not installed. The tests that call
/// this are `#[ignore = "needs clickhouse-server; …"]` (scripts/test.sh installs it and
/// runs them), so one that runs without it fails instead of passing without having run.
pub fn require() -> PathBuf {
    binary().expect("clickhouse-server is not installed and this test needs it; scripts/test.sh installs it (Debian package clickhouse-server)")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .expect("local address")
        .port()
}

/// A clickhouse-server, killed on drop.
pub struct ClickHouse {
    child: Option<Child>,
    /// HTTP port on 127.0.0.1.
    pub http_port: u16,
    tcp_port: u16,
    /// HTTPS port on 127.0.0.1, when started with a certificate.
    pub https_port: Option<u16>,
    dir: PathBuf,
    /// More server config (inside `<yandex>`).
    extra: String,
    /// More users (inside `<users>`).
    users: String,
}

/// The user [`ClickHouse::start_tls`] adds.
pub const WRITER: &str = "writer";
/// Its password: a `/`, an `@` and a `:` (percent-encoded in a URL).
pub const WRITER_PASSWORD: &str = "p@ss/w:rd";

/// A server certificate and its key (PEM files), for `https_port`.
pub struct Tls {
    /// The certificate chain.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

impl ClickHouse {
    /// Start with its data, logs and config under `dir`.
    pub fn start(dir: &Path) -> ClickHouse {
        let mut c = ClickHouse::new(dir, String::new());
        c.write_config();
        c.spawn();
        c
    }

    fn new(dir: &Path, extra: String) -> ClickHouse {
        ClickHouse {
            child: None,
            http_port: free_port(),
            tcp_port: free_port(),
            https_port: None,
            dir: dir.to_path_buf(),
            extra,
            users: String::new(),
        }
    }

    /// Start with an `https_port` serving `tls` (and the plain HTTP port as well), and
    /// besides `default` a user [`WRITER`] with the password [`WRITER_PASSWORD`].
    pub fn start_tls(dir: &Path, tls: &Tls) -> ClickHouse {
        let https = free_port();
        let mut c = ClickHouse::new(
            dir,
            format!(
                "<https_port>{https}</https_port>\n  <openSSL><server>\
                 <certificateFile>{}</certificateFile><privateKeyFile>{}</privateKeyFile>\
                 <verificationMode>none</verificationMode><loadDefaultCAFile>false</loadDefaultCAFile>\
                 <cacheSessions>true</cacheSessions><disableProtocols>sslv2,sslv3</disableProtocols>\
                 <preferServerCiphers>true</preferServerCiphers></server></openSSL>",
                tls.cert.display(),
                tls.key.display()
            ),
        );
        c.https_port = Some(https);
        c.users = format!(
            "<{WRITER}><password>{WRITER_PASSWORD}</password><networks><ip>127.0.0.1</ip></networks>\
             <profile>default</profile><quota>default</quota></{WRITER}>"
        );
        c.write_config();
        c.spawn();
        c
    }

    /// Start one server per directory, all in a cluster `name` of one shard each (one
    /// replica, no ZooKeeper), listed in every server's `remote_servers`. The servers
    /// start together (each takes seconds).
    pub fn start_cluster(dirs: &[PathBuf], name: &str) -> Vec<ClickHouse> {
        let mut servers: Vec<ClickHouse> = dirs
            .iter()
            .map(|d| ClickHouse::new(d, String::new()))
            .collect();
        let shards: String = servers
            .iter()
            .map(|s| {
                format!(
                    "<shard><replica><host>127.0.0.1</host><port>{}</port></replica></shard>",
                    s.tcp_port
                )
            })
            .collect();
        let extra = format!("<remote_servers><{name}>{shards}</{name}></remote_servers>");
        for s in &mut servers {
            s.extra = extra.clone();
            s.write_config();
            s.launch();
        }
        for s in &mut servers {
            s.wait_ready();
        }
        servers
    }

    /// `clickhouse://127.0.0.1:PORT/DB`.
    pub fn url(&self, database: &str) -> String {
        format!("clickhouse://127.0.0.1:{}/{database}", self.http_port)
    }

    /// The server's process id while it runs (to freeze it with SIGSTOP).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `127.0.0.1:PORT` (HTTP).
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.http_port)
    }

    fn write_config(&self) {
        let d = self.dir.display();
        std::fs::create_dir_all(self.dir.join("log")).expect("log dir");
        // Users: the default user, no password, loopback only (and the test's own).
        std::fs::write(
            self.dir.join("users.xml"),
            format!(
                r#"<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default>{users}</users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
"#,
                users = self.users
            ),
        )
        .expect("users.xml");
        std::fs::write(
            self.dir.join("config.xml"),
            format!(
                r#"<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/log/server.log</log><errorlog>{d}/log/err.log</errorlog><size>10M</size><count>1</count></logger>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <timezone>UTC</timezone>
  {extra}
</yandex>
"#,
                http = self.http_port,
                tcp = self.tcp_port,
                extra = self.extra,
            ),
        )
        .expect("config.xml");
    }

    fn spawn(&mut self) {
        self.launch();
        self.wait_ready();
    }

    fn launch(&mut self) {
        let bin = binary().expect("clickhouse-server");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("log/stdout.log"))
            .expect("stdout log");
        let child = Command::new(bin)
            .arg(format!(
                "--config-file={}",
                self.dir.join("config.xml").display()
            ))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log handle"))
            .stderr(out)
            .spawn()
            .expect("spawn clickhouse-server");
        self.child = Some(child);
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "clickhouse-server exited with {status}; log:\n{}\n{}",
                    std::fs::read_to_string(self.dir.join("log/stdout.log")).unwrap_or_default(),
                    std::fs::read_to_string(self.dir.join("log/err.log")).unwrap_or_default()
                );
            }
            if matches!(self.request("GET", "/ping", b""), Ok((200, ref b)) if b.starts_with("Ok"))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "clickhouse-server did not become ready"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn request(&self, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.http_port))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes())?;
        s.write_all(body)?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| std::io::Error::other("no header end"))?;
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let body = &raw[split + 4..];
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other("bad status line"))?;
        let chunked = head.lines().any(|l| {
            l.to_ascii_lowercase()
                .starts_with("transfer-encoding: chunked")
        });
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_vec()
        };
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// Run `sql`; the response body, or the server's error text.
    pub fn query(&self, sql: &str) -> Result<String, String> {
        match self.request("POST", "/", sql.as_bytes()) {
            Ok((200, body)) => Ok(body),
            Ok((status, body)) => Err(format!("HTTP {status}: {body}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Run `sql` with `database` as the default database.
    pub fn query_in(&self, database: &str, sql: &str) -> Result<String, String> {
        match self.request("POST", &format!("/?database={database}"), sql.as_bytes()) {
            Ok((200, body)) => Ok(body),
            Ok((status, body)) => Err(format!("HTTP {status}: {body}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// A number the query returns (first field of the first line).
    pub fn number(&self, sql: &str) -> u64 {
        let out = self.query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        out.split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{sql}: not a number: {out:?}"))
    }

    /// Stop the server (SIGKILL: an outage, not a clean shutdown).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again on the same ports and data.
    pub fn start_again(&mut self) {
        self.stop();
        self.spawn();
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16).unwrap_or(0);
        if size == 0 || data.len() < end + 2 + size {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = data.get(end + 2 + size + 2..).unwrap_or(&[]);
    }
    out
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        self.stop();
    }
}
