//! How g6 signs in to NATS and secures the connection: user and password (in the URL
//! or as options), a token, an NKey seed, a `.creds` file, TLS with a CA, a client
//! certificate and key. Secrets are never shown (`Debug` prints `***`, URLs are shown
//! without their password), and a refused credential is told apart from an
//! unreachable server, naming the credential.

use std::path::{Path, PathBuf};

/// A password or token: `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// The credentials and TLS settings of a NATS connection, as the options give them
/// (URL credentials are taken when the connection is built).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NatsSecurity {
    /// `--bus-user` (else the URL's user).
    pub user: Option<String>,
    /// `--bus-password`, `--bus-password-file` or `G6_BUS_PASSWORD` (else the URL's).
    pub password: Option<Secret>,
    /// `--bus-token`, `--bus-token-file` or `G6_BUS_TOKEN`.
    pub token: Option<Secret>,
    /// `--bus-nkey`: a file holding an NKey user seed (`SU...`).
    pub nkey_seed_file: Option<PathBuf>,
    /// `--bus-creds`: a NATS `.creds` file (JWT and seed).
    pub creds_file: Option<PathBuf>,
    /// TLS asked for (`tls://`, `?tls=true`, or any `--bus-tls-*` option).
    pub tls: bool,
    /// `--bus-tls-ca`: the CA that signed the server's certificate (PEM).
    pub tls_ca: Option<PathBuf>,
    /// `--bus-tls-cert`: this client's certificate (PEM).
    pub tls_cert: Option<PathBuf>,
    /// `--bus-tls-key`: this client's key (PEM).
    pub tls_key: Option<PathBuf>,
}

/// The credential a connection presents, named when the server refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// None given.
    None,
    /// User and password.
    UserPassword,
    /// A token.
    Token,
    /// An NKey seed.
    Nkey,
    /// A `.creds` file.
    Creds,
}

impl Credential {
    /// How messages name it.
    pub fn describe(self) -> &'static str {
        match self {
            Credential::None => "connection without credentials",
            Credential::UserPassword => "user/password",
            Credential::Token => "token",
            Credential::Nkey => "nkey",
            Credential::Creds => "creds file",
        }
    }
}

/// A connection ready to be made: the server addresses without credentials or query,
/// the options holding the credentials and TLS settings, and what they present.
#[derive(Clone)]
pub struct Prepared {
    /// `nats://HOST:PORT` or `tls://HOST:PORT`, credentials removed.
    pub servers: Vec<String>,
    /// Options with the credentials and TLS applied.
    pub options: async_nats::ConnectOptions,
    /// The credential presented.
    pub credential: Credential,
    /// Whether TLS is required by this side.
    pub tls: bool,
    /// Whether a client certificate is presented.
    pub client_cert: bool,
}

/// A percent-decoded URL component (`p%2Fw` is `p/w`).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = s
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of `tls=` in a URL query: true, false, or an error.
fn tls_query(url: &url::Url, shown: &str) -> Result<bool, String> {
    let mut tls = false;
    for (k, v) in url.query_pairs() {
        match (k.as_ref(), v.as_ref()) {
            ("tls", "true" | "1" | "yes") => tls = true,
            ("tls", "false" | "0" | "no") => {}
            _ => {
                return Err(format!(
                    "{shown:?}: the only query a NATS URL takes is ?tls=true"
                ))
            }
        }
    }
    Ok(tls)
}

/// A server URL split into the address async-nats gets (no credentials, no query),
/// its credentials and whether it asks for TLS.
pub struct SplitUrl {
    /// `nats://HOST:PORT` or `tls://HOST:PORT`.
    pub address: String,
    /// The URL's user and password, decoded.
    pub user: Option<(String, Option<String>)>,
    /// `tls://` or `?tls=true`.
    pub tls: bool,
}

/// Split one server URL (checked by `parse_url` before).
pub fn split_url(raw: &str) -> Result<SplitUrl, String> {
    let shown = crate::redact::without_password(raw);
    let url = url::Url::parse(raw).map_err(|e| format!("{shown:?} is not a NATS URL ({e})"))?;
    let tls = url.scheme() == "tls" || tls_query(&url, &shown)?;
    let user =
        (!url.username().is_empty()).then(|| (decode(url.username()), url.password().map(decode)));
    let host = url.host_str().unwrap_or_default();
    let port = url.port().unwrap_or(4222);
    let scheme = if url.scheme() == "tls" { "tls" } else { "nats" };
    Ok(SplitUrl {
        address: format!("{scheme}://{host}:{port}"),
        user,
        tls,
    })
}

/// Read a secret file: its first line, trimmed.
fn read_secret_file(path: &Path, what: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the {what} file {}: {e}", path.display()))?;
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    line.map(str::to_string)
        .ok_or_else(|| format!("the {what} file {} is empty", path.display()))
}

/// The NKey seed in a file: the first line that looks like a user seed (`SU`), else
/// the first line.
fn read_seed(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the nkey seed file {}: {e}", path.display()))?;
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .iter()
        .find(|l| l.starts_with("SU"))
        .or(lines.first())
        .map(|s| s.to_string())
        .ok_or_else(|| format!("the nkey seed file {} is empty", path.display()))
}

impl NatsSecurity {
    /// A password or token from its option, its file, or its environment variable
    /// (in that order); `None` when none is given.
    pub fn secret_from(
        value: Option<&str>,
        file: Option<&Path>,
        env: &str,
        what: &str,
    ) -> Result<Option<Secret>, String> {
        if let Some(v) = value {
            return Ok(Some(Secret(v.to_string())));
        }
        if let Some(f) = file {
            return read_secret_file(f, what).map(|s| Some(Secret(s)));
        }
        match std::env::var(env) {
            Ok(v) if !v.is_empty() => Ok(Some(Secret(v))),
            _ => Ok(None),
        }
    }

    /// Build the connection: the servers without credentials and the options with
    /// them. Fails (a usage error) for contradictory or unreadable settings.
    pub fn prepare(&self, servers: &[String]) -> Result<Prepared, String> {
        let mut addresses = Vec::with_capacity(servers.len());
        let mut url_user: Option<(String, Option<String>)> = None;
        let mut tls = self.tls || self.tls_ca.is_some() || self.tls_cert.is_some();
        for raw in servers {
            let split = split_url(raw)?;
            tls |= split.tls;
            if let Some(u) = split.user {
                if url_user.as_ref().is_some_and(|prev| *prev != u) {
                    return Err(
                        "the NATS URLs carry different credentials; give one user (--bus-user and --bus-password)".into(),
                    );
                }
                url_user = Some(u);
            }
            addresses.push(split.address);
        }
        let (url_name, url_pass) = match url_user {
            Some((u, p)) => (Some(u), p.map(Secret)),
            None => (None, None),
        };
        let user = self.user.clone().or(url_name);
        let password = self.password.clone().or(url_pass);
        if password.is_some() && user.is_none() {
            return Err("a NATS password without a user; give --bus-user (or nats://USER:PASSWORD@HOST:PORT)".into());
        }
        let given: Vec<&str> = [
            (user.is_some(), "user/password"),
            (self.token.is_some(), "--bus-token"),
            (self.nkey_seed_file.is_some(), "--bus-nkey"),
            (self.creds_file.is_some(), "--bus-creds"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect();
        if given.len() > 1 {
            return Err(format!(
                "give one NATS credential, not {}",
                given.join(" and ")
            ));
        }
        let mut options = async_nats::ConnectOptions::new();
        let mut credential = Credential::None;
        if let Some(u) = user {
            options = options.user_and_password(u, password.map(|p| p.0).unwrap_or_default());
            credential = Credential::UserPassword;
        }
        if let Some(t) = &self.token {
            options = options.token(t.0.clone());
            credential = Credential::Token;
        }
        if let Some(f) = &self.nkey_seed_file {
            let seed = read_seed(f)?;
            if !seed.starts_with('S') {
                return Err(format!(
                    "{} does not hold an NKey seed (a line starting with SU)",
                    f.display()
                ));
            }
            options = options.nkey(seed);
            credential = Credential::Nkey;
        }
        if let Some(f) = &self.creds_file {
            let text = std::fs::read_to_string(f)
                .map_err(|e| format!("cannot read the creds file {}: {e}", f.display()))?;
            options = options
                .credentials(&text)
                .map_err(|e| format!("{} is not a NATS credentials file: {e}", f.display()))?;
            credential = Credential::Creds;
        }
        let client_cert = match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => {
                for p in [c, k] {
                    if !p.is_file() {
                        return Err(format!("{}: no such file", p.display()));
                    }
                }
                options = options.add_client_certificate(c.clone(), k.clone());
                true
            }
            (None, None) => false,
            _ => return Err("--bus-tls-cert and --bus-tls-key go together".into()),
        };
        tls |= client_cert;
        if let Some(ca) = &self.tls_ca {
            if !ca.is_file() {
                return Err(format!("--bus-tls-ca {}: no such file", ca.display()));
            }
            options = options.add_root_certificates(ca.clone());
        }
        if tls {
            options = options.require_tls(true);
        }
        Ok(Prepared {
            servers: addresses,
            options,
            credential,
            tls,
            client_cert,
        })
    }
}

/// Why a connection was refused, naming the credential or the TLS setting; `None`
/// when the error is not a refusal (the server is away, a timeout).
pub fn refusal(e: &async_nats::ConnectError, p: &Prepared) -> Option<String> {
    use async_nats::ConnectErrorKind as K;
    let text = e.to_string();
    // rustls refusing the server's certificate (the error kind varies by where the
    // handshake failed).
    if p.tls && text.contains("invalid peer certificate") {
        return Some(format!(
            "the NATS server's TLS certificate is not trusted ({text}): give the CA that signed it with --bus-tls-ca"
        ));
    }
    match e.kind() {
        K::AuthorizationViolation if p.credential == Credential::None => Some(
            "the NATS server requires credentials and none were given (--bus-user/--bus-password, --bus-token, --bus-nkey or --bus-creds)".into(),
        ),
        K::AuthorizationViolation => Some(format!(
            "the NATS server refused the {} (authorization violation)",
            p.credential.describe()
        )),
        K::Authentication => Some(format!(
            "cannot authenticate with the {} ({text})",
            p.credential.describe()
        )),
        K::Tls => Some(format!(
            "TLS with the NATS server failed ({text}); check --bus-tls-ca, --bus-tls-cert and --bus-tls-key"
        )),
        // A server that verifies clients ends the handshake of one without a
        // certificate it trusts.
        K::Io if p.tls && (text.contains("certificate") || text.contains("alert")) => Some(format!(
            "the NATS server refused the TLS client certificate{} ({text})",
            if p.client_cert { "" } else { " (none given: --bus-tls-cert, --bus-tls-key)" }
        )),
        _ => None,
    }
}

/// True for what an async-nats event says when a reconnect is refused (credentials or
/// TLS), as opposed to a server that is away.
pub fn is_refusal_event(event: &async_nats::Event) -> bool {
    match event {
        async_nats::Event::ServerError(async_nats::ServerError::AuthorizationViolation) => true,
        async_nats::Event::ServerError(async_nats::ServerError::Other(s)) => {
            s.to_ascii_lowercase().contains("authorization")
        }
        async_nats::Event::ClientError(async_nats::ClientError::Other(s)) => {
            let s = s.to_ascii_lowercase();
            s.contains("authorization violation")
                || s.contains("failed signing nonce")
                || s.contains("tls error")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_are_taken_out_of_the_address_and_decoded() {
        let s = split_url("nats://g6:p%2Fw@127.0.0.1:4222").unwrap();
        assert_eq!(s.address, "nats://127.0.0.1:4222");
        assert_eq!(s.user, Some(("g6".into(), Some("p/w".into()))));
        assert!(!s.tls);
        let s = split_url("nats://h:1?tls=true").unwrap();
        assert_eq!(s.address, "nats://h:1");
        assert!(s.tls);
        assert!(split_url("tls://h:1").unwrap().tls);
        assert!(split_url("nats://h:1?x=1").is_err());
    }

    #[test]
    fn the_url_password_is_sent_and_an_option_overrides_it() {
        let sec = NatsSecurity::default();
        let p = sec.prepare(&["nats://g6:secret@h:1".into()]).unwrap();
        assert_eq!(p.credential, Credential::UserPassword);
        assert_eq!(p.servers, ["nats://h:1"]);
        let sec = NatsSecurity {
            token: Some(Secret("t".into())),
            ..Default::default()
        };
        let e = sec.prepare(&["nats://g6:secret@h:1".into()]).err().unwrap();
        assert!(e.contains("one NATS credential"), "{e}");
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn tls_options_turn_tls_on_and_a_certificate_needs_its_key() {
        let sec = NatsSecurity {
            tls_cert: Some("/nonexistent/cert.pem".into()),
            ..Default::default()
        };
        assert!(sec
            .prepare(&["nats://h:1".into()])
            .err()
            .unwrap()
            .contains("go together"));
        let p = NatsSecurity::default()
            .prepare(&["nats://h:1?tls=true".into()])
            .unwrap();
        assert!(p.tls);
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let sec = NatsSecurity {
            password: Some(Secret("hunter2".into())),
            token: Some(Secret("tok".into())),
            ..Default::default()
        };
        let d = format!("{sec:?}");
        assert!(!d.contains("hunter2") && !d.contains("tok\""), "{d}");
    }
}
