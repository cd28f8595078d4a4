//! Typed command-line values: every option is parsed by clap when the command line
//! is read, so a bad value fails before anything runs, with a message naming the
//! form it takes.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// The units a size takes, for messages.
const SIZE_UNITS: &str = "B, KB, KiB, MB, MiB, GB, GiB, TB or TiB";

/// Parse a listen address: `HOST:PORT` (`127.0.0.1:9108`, `[::1]:9108`,
/// `localhost:9108`) or `:PORT` for every interface, as Prometheus takes it.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    const HELP: &str = "use HOST:PORT (e.g. 127.0.0.1:9108) or :PORT for every interface";
    let s = s.trim();
    if let Some(port) = s.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("{s:?}: {port:?} is not a port number; {HELP}"))?;
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    // A host name: the first address it resolves to (names in /etc/hosts need no
    // network).
    match s.to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("{s:?} resolves to no address; {HELP}")),
        Err(_) => Err(format!("{s:?} is not an address; {HELP}")),
    }
}

/// Parse a positive duration like `5s`, `500ms`, `1m`, `1h30m` or `7d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s.trim()) {
        Ok(d) if d.is_zero() => Err(format!("{s:?} is zero; use a positive duration")),
        Ok(d) => Ok(d),
        Err(_) => Err(format!(
            "{s:?} is not a duration; write a number and a unit: 500ms, 5s, 1m, 1h30m or 7d"
        )),
    }
}

/// Parse a positive size with its unit, like `64MiB`, `1GB` or `4096B`. A bare
/// number is refused: `--memory-budget 512` would otherwise mean 512 bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!(
            "{s:?} has no unit; write the size with one of {SIZE_UNITS} (e.g. {t}MiB, or {t}B for bytes)"
        ));
    }
    match t.parse::<bytesize::ByteSize>() {
        Ok(b) if b.as_u64() > 0 => Ok(b.as_u64()),
        Ok(_) => Err(format!("{s:?} is zero; use a positive size")),
        Err(_) => Err(format!(
            "{s:?} is not a size; write a number and one of {SIZE_UNITS} (e.g. 64MiB)"
        )),
    }
}

/// A size like [`parse_size`], or `0` (a feature turned off).
pub fn parse_size_or_zero(s: &str) -> Result<u64, String> {
    if s.trim() == "0" {
        return Ok(0);
    }
    parse_size(s)
}

/// Parse `--bus-max-bytes`: a size, or `unlimited` (-1 to NATS).
pub fn parse_max_bytes(s: &str) -> Result<i64, String> {
    if s.trim().eq_ignore_ascii_case("unlimited") {
        return Ok(-1);
    }
    parse_size(s).map(|b| i64::try_from(b).unwrap_or(i64::MAX))
}

/// Parse `--memory-budget`: a size, or `auto` (0).
pub fn parse_budget(s: &str) -> Result<u64, String> {
    if s.trim().eq_ignore_ascii_case("auto") {
        return Ok(0);
    }
    parse_size(s).map_err(|e| format!("{e}, or auto"))
}

/// `--store` as given: `parquet` (files under `--data-dir`), or a store target.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreOption {
    /// Parquet files under `--data-dir`.
    DataDir,
    /// `parquet:DIR`, `clickhouse://HOST:PORT/DB` or `none`.
    Target(crate::store::Target),
}

impl std::str::FromStr for StoreOption {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "parquet" {
            return Ok(StoreOption::DataDir);
        }
        s.parse().map(StoreOption::Target)
    }
}

impl StoreOption {
    /// The store, with `parquet` resolved against `data_dir`.
    pub fn resolve(&self, data_dir: &std::path::Path) -> crate::store::Target {
        match self {
            StoreOption::DataDir => crate::store::Target::Parquet(data_dir.to_path_buf()),
            StoreOption::Target(t) => t.clone(),
        }
    }
}

/// A value parser whose error never repeats the value (clap's own does): for URLs
/// that may hold a password. The wrapped parser's message shows the value without it.
#[derive(Clone)]
pub struct Redacted<F>(pub F);

impl<T, F> clap::builder::TypedValueParser for Redacted<F>
where
    F: Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let name = arg
            .and_then(|a| a.get_long().map(|l| format!("--{l}")))
            .unwrap_or_else(|| "a value".into());
        let fail = |message: String| {
            clap::Error::raw(clap::error::ErrorKind::ValueValidation, message + "\n").with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| fail(format!("invalid value for {name}: not UTF-8")))?;
        (self.0)(text).map_err(|e| fail(format!("invalid value for {name}: {e}")))
    }
}

/// `--bus`, for [`Redacted`].
pub fn parse_nats(s: &str) -> Result<crate::bus::nats::NatsServers, String> {
    s.parse()
}

/// `--store`, for [`Redacted`].
pub fn parse_store(s: &str) -> Result<StoreOption, String> {
    s.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_alone_listens_on_every_interface() {
        assert_eq!(parse_listen(":9108"), Ok("0.0.0.0:9108".parse().unwrap()));
        assert_eq!(
            parse_listen("127.0.0.1:0"),
            Ok("127.0.0.1:0".parse().unwrap())
        );
        assert_eq!(
            parse_listen("[::1]:9108"),
            Ok("[::1]:9108".parse().unwrap())
        );
        assert_eq!(parse_listen("localhost:9108").map(|a| a.port()), Ok(9108));
        for bad in [":", ":http", ":70000", "9108", "127.0.0.1:"] {
            let e = parse_listen(bad).unwrap_err();
            assert!(e.contains(":PORT"), "{bad}: {e}");
        }
    }

    #[test]
    fn durations_take_units_and_refuse_zero() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_duration("0s").unwrap_err().contains("zero"));
        assert!(parse_duration("5").unwrap_err().contains("unit"));
        assert!(parse_duration("soon").unwrap_err().contains("500ms"));
    }

    #[test]
    fn a_size_without_a_unit_is_refused_naming_the_units() {
        let e = parse_budget("512").unwrap_err();
        assert!(
            e.contains("no unit") && e.contains("MiB") && e.contains("512B"),
            "{e}"
        );
        assert_eq!(parse_budget("512MiB"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_budget("auto"), Ok(0));
        assert_eq!(parse_size("4096B"), Ok(4096));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size_or_zero("0"), Ok(0));
        assert!(parse_size("0MiB").unwrap_err().contains("zero"));
        assert!(parse_size("lots").unwrap_err().contains("MiB"));
        assert_eq!(parse_max_bytes("unlimited"), Ok(-1));
    }

    #[test]
    fn the_store_option_resolves_parquet_against_the_data_dir() {
        let dir = std::path::Path::new("/data");
        let parquet: StoreOption = "parquet".parse().unwrap();
        assert_eq!(
            parquet.resolve(dir),
            crate::store::Target::Parquet("/data".into())
        );
        let none: StoreOption = "none".parse().unwrap();
        assert_eq!(none.resolve(dir), crate::store::Target::None);
        assert!("clickhouse://db/g6".parse::<StoreOption>().is_err());
        assert!("sqlite:x".parse::<StoreOption>().is_err());
    }
}
