//! `--web-config FILE`: TLS and basic authentication for the HTTP server, in the
//! format of the Prometheus exporters' web configuration (exporter-toolkit):
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # paths relative to this file
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # or NoClientCert (default), VerifyClientCertIfGiven
//!   client_ca_file: ca.crt
//!   min_version: TLS12             # or TLS13
//! basic_auth_users:
//!   prometheus: $2y$10$...         # bcrypt, e.g. `htpasswd -nBC 10 prometheus`
//! ```
//!
//! `/healthz` stays open (a liveness probe carries no credentials); `/metrics`, the
//! status page and `/live` need them.

use crate::runtime::exporter::auth::BasicAuth;
use crate::runtime::exporter::rustls;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest web configuration file read.
const MAX_FILE_BYTES: u64 = 64 * 1024;
/// Largest certificate or key file read.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    tls_server_config: Option<TlsServerConfig>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsServerConfig {
    cert_file: PathBuf,
    key_file: PathBuf,
    #[serde(default)]
    client_auth_type: Option<String>,
    #[serde(default)]
    client_ca_file: Option<PathBuf>,
    #[serde(default)]
    min_version: Option<String>,
}

/// What a web configuration file asks for.
pub struct WebConfig {
    /// Serve HTTPS with this.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Ask for these users' credentials.
    pub auth: Option<BasicAuth>,
    /// One line for the status page and the log (no secrets).
    pub summary: String,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary)
    }
}

fn read_bounded(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)
        .map_err(|e| format!("{what} {}: cannot open: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{what} {}: cannot read: {e}", path.display()))?;
    if bytes.len() as u64 > max {
        return Err(format!(
            "{what} {}: larger than {max} bytes; is it the right file?",
            path.display()
        ));
    }
    Ok(bytes)
}

/// Read and check the web configuration at `path`: every error names the file, the
/// key and what to do.
pub fn load(path: &Path) -> Result<WebConfig, String> {
    let text = read_bounded(path, MAX_FILE_BYTES, "--web-config")?;
    let file: File = serde_yaml::from_slice(&text).map_err(|e| {
        format!(
            "--web-config {}: {e} (supported keys: tls_server_config {{cert_file, key_file, client_auth_type, client_ca_file, min_version}}, basic_auth_users)",
            path.display()
        )
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let at = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let mut summary = Vec::new();
    let tls = match &file.tls_server_config {
        None => None,
        Some(t) => {
            let (config, text) = tls_config(t, &at)
                .map_err(|e| format!("--web-config {}: tls_server_config: {e}", path.display()))?;
            summary.push(text);
            Some(Arc::new(config))
        }
    };
    let auth = if file.basic_auth_users.is_empty() {
        None
    } else {
        let auth = BasicAuth::new(file.basic_auth_users.clone())
            .map_err(|e| format!("--web-config {}: basic_auth_users: {e}", path.display()))?
            .open_path("/healthz");
        summary.push(format!(
            "basic authentication ({} user{}; /healthz open)",
            file.basic_auth_users.len(),
            if file.basic_auth_users.len() == 1 {
                ""
            } else {
                "s"
            }
        ));
        Some(auth)
    };
    if tls.is_none() && auth.is_some() {
        tracing::warn!(
            "--web-config: basic authentication without tls_server_config sends passwords in clear text"
        );
    }
    if summary.is_empty() {
        summary.push("no TLS, no authentication (the file sets neither)".into());
    }
    Ok(WebConfig {
        tls,
        auth,
        summary: summary.join(", "),
    })
}

fn tls_config(
    t: &TlsServerConfig,
    at: &dyn Fn(&Path) -> PathBuf,
) -> Result<(rustls::ServerConfig, String), String> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert_path = at(&t.cert_file);
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&read_bounded(&cert_path, MAX_PEM_BYTES, "cert_file")?)
            .collect::<Result<_, _>>()
            .map_err(|e| {
                format!(
                    "cert_file {}: not a PEM certificate: {e}",
                    cert_path.display()
                )
            })?;
    if certs.is_empty() {
        return Err(format!(
            "cert_file {}: no certificate in it (expected -----BEGIN CERTIFICATE-----)",
            cert_path.display()
        ));
    }
    let key_path = at(&t.key_file);
    let key = PrivateKeyDer::from_pem_slice(&read_bounded(&key_path, MAX_PEM_BYTES, "key_file")?)
        .map_err(|e| {
        format!(
            "key_file {}: no PEM private key in it: {e}",
            key_path.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match t.min_version.as_deref() {
        None | Some("TLS12") => &[&rustls::version::TLS13, &rustls::version::TLS12],
        Some("TLS13") => &[&rustls::version::TLS13],
        Some(v) => {
            return Err(format!(
                "min_version {v:?}: use TLS12 or TLS13 (older versions are not offered)"
            ))
        }
    };
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|e| format!("min_version: {e}"))?;
    let auth_type = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let roots = || -> Result<Arc<rustls::RootCertStore>, String> {
        let Some(ca) = &t.client_ca_file else {
            return Err(format!(
                "client_auth_type {auth_type} needs client_ca_file (the CA that signs client certificates)"
            ));
        };
        let ca_path = at(ca);
        let mut store = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&read_bounded(
            &ca_path,
            MAX_PEM_BYTES,
            "client_ca_file",
        )?) {
            let cert = cert.map_err(|e| {
                format!(
                    "client_ca_file {}: not a PEM certificate: {e}",
                    ca_path.display()
                )
            })?;
            store.add(cert).map_err(|e| {
                format!(
                    "client_ca_file {}: unusable CA certificate: {e}",
                    ca_path.display()
                )
            })?;
        }
        if store.is_empty() {
            return Err(format!(
                "client_ca_file {}: no certificate in it",
                ca_path.display()
            ));
        }
        Ok(Arc::new(store))
    };
    let (builder, clients) = match auth_type {
        "NoClientCert" => (builder.with_no_client_auth(), "no client certificates"),
        "RequireAndVerifyClientCert" => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                roots()?,
                Arc::clone(&provider),
            )
            .build()
            .map_err(|e| format!("client_ca_file: {e}"))?;
            (
                builder.with_client_cert_verifier(verifier),
                "client certificates required",
            )
        }
        "VerifyClientCertIfGiven" => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                roots()?,
                Arc::clone(&provider),
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| format!("client_ca_file: {e}"))?;
            (
                builder.with_client_cert_verifier(verifier),
                "client certificates verified when given",
            )
        }
        other => {
            return Err(format!(
                "client_auth_type {other:?}: use NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert (a certificate that is asked for but not verified proves nothing)"
            ))
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        format!(
            "cert_file {} and key_file {}: {e} (does the key belong to the certificate?)",
            cert_path.display(),
            key_path.display()
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((config, format!("HTTPS ({clients})")))
}
