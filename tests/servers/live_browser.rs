//! The `/live` page in a real browser (Debian's headless Chromium through
//! chromedriver): the table shows exactly the values of the SSE `full` event, follows
//! the next snapshot, highlights the ATM row, and a screenshot at 1280x800 is saved as
//! `target/live-page.png` for people to look at.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use common::Server;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// chromedriver on a free port, killed on drop.
struct Driver {
    child: Child,
    addr: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start() -> Driver {
        let port = common::prometheus::free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver");
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok((200, reply)) = request(&addr, "GET", "/status", "") {
                if reply.contains("\"ready\":true") {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver { child, addr }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let (status, reply) = request(&self.addr, method, path, &body).expect("webdriver call");
        let v: Value = serde_json::from_str(&reply).unwrap_or(Value::Null);
        assert!(status == 200, "{method} {path}: {status} {v}");
        v["value"].clone()
    }
}

/// One HTTP/1.1 request; the reply read by its Content-Length (chromedriver keeps
/// the connection open whatever the request says).
fn request(addr: &str, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut length = 0usize;
    loop {
        line.clear();
        r.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut buf = vec![0u8; length];
    r.read_exact(&mut buf)?;
    Ok((status, String::from_utf8_lossy(&buf).into_owned()))
}

/// The fixture's NIFTY 2024-11-28 chain with one call's open interest set, as-of moved.
fn write_chain(path: &Path, oi_24100_ce: u32, as_of: &str) {
    let rows = [
        ("24000", "CE", "1500", "320", "12.5", "130.5", "131.5"),
        ("24000", "PE", "2100", "410", "13.25", "40", "40.5"),
        ("24100", "CE", "OI", "150", "", "70", "71"),
        ("24100", "PE", "1000", "90", "14", "", ""),
        ("24200", "CE", "700", "60", "11.75", "45", "46"),
        ("24200", "PE", "800", "75", "12", "80", "81"),
    ];
    let mut text =
        String::from("index,strike,expiry,type,spot,oi,volume,iv,bid,ask,spread_bps,as_of\n");
    for (strike, kind, oi, vol, iv, bid, ask) in rows {
        let oi = if oi == "OI" {
            oi_24100_ce.to_string()
        } else {
            oi.to_string()
        };
        text.push_str(&format!(
            "NIFTY,{strike},2024-11-28,{kind},24120.5,{oi},{vol},{iv},{bid},{ask},,{as_of}\n"
        ));
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The table as the page shows it: per row, the strike, whether it is the ATM row,
/// and each cell's value (`data-value`).
const READ_TABLE: &str = r#"
return [...document.querySelectorAll('#rows tr[data-strike]')].map(tr => ({
  strike: Number(tr.dataset.strike),
  atm: tr.classList.contains('atm'),
  cells: Object.fromEntries([...tr.querySelectorAll('td[data-field]')].map(td =>
    [td.dataset.side + '.' + td.dataset.field, td.dataset.value === '' ? null : Number(td.dataset.value)]))
}));
"#;

/// The same shape from an SSE `full` event's rows.
fn expected(full: &Value) -> Vec<Value> {
    let atm = full["atm"].as_f64().unwrap();
    full["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut cells = serde_json::Map::new();
            for side in ["ce", "pe"] {
                for f in [
                    "oi",
                    "oi_change",
                    "volume",
                    "iv",
                    "bid",
                    "ask",
                    "delta",
                    "gamma",
                    "vega",
                    "theta",
                ] {
                    cells.insert(
                        format!("{side}.{f}"),
                        r[side].get(f).cloned().unwrap_or(Value::Null),
                    );
                }
            }
            json!({"strike": r["strike"], "atm": r["strike"].as_f64() == Some(atm), "cells": cells})
        })
        .collect()
}

/// The first `full` event of `/live/atm` as our own client reads it.
fn sse_full(addr: &str) -> Value {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /live/atm?index=NIFTY&expiry=2024-11-28 HTTP/1.1\r\nHost: {addr}\r\n\r\n"
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if let Some(data) = line.strip_prefix("data: ") {
            return serde_json::from_str(data.trim()).unwrap();
        }
    }
}

fn numbers_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| numbers_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| numbers_equal(v, w)))
        }
        _ => a == b,
    }
}

#[test]
#[ignore = "needs chromedriver and chromium; scripts/test.sh runs it"]
fn the_live_page_shows_the_sse_values_follows_the_next_snapshot_and_is_screenshotted() {
    common::require_tool("chromedriver");
    common::require_tool("chromium");
    let dir = common::temp_dir("live_browser");
    let chain = dir.join("chain.csv");
    write_chain(&chain, 900, "2024-11-25T10:00:00Z");
    let server = Server::start(
        &[
            "--provider",
            &format!("file:{}", chain.display()),
            "--interval",
            "200ms",
        ],
        &[],
    );
    let addr = server.addr.clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !common::http(&addr, "GET", "/live/catalog", "")
        .text()
        .contains("2024-11-28")
    {
        assert!(Instant::now() < deadline, "no data in the hub");
        std::thread::sleep(Duration::from_millis(100));
    }
    let driver = Driver::start();
    let profile = dir.join("profile");
    std::fs::create_dir_all(&profile).unwrap();
    let session = driver.call(
        "POST",
        "/session",
        Some(
            json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         "--window-size=1280,800",
                         format!("--user-data-dir={}", profile.display())]
            }}}}),
        ),
    );
    let id = session["sessionId"]
        .as_str()
        .expect("a session")
        .to_string();
    let base = format!("/session/{id}");
    driver.call(
        "POST",
        &format!("{base}/url"),
        Some(json!({"url": format!("http://{addr}/live?index=NIFTY&expiry=2024-11-28")})),
    );
    let table = |want: &[Value]| -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = driver.call(
                "POST",
                &format!("{base}/execute/sync"),
                Some(json!({"script": READ_TABLE, "args": []})),
            );
            let got = got.as_array().cloned().unwrap_or_default();
            if numbers_equal(&Value::Array(got.clone()), &Value::Array(want.to_vec())) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the page shows\n{got:#?}\nnot\n{want:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let first = sse_full(&addr);
    let want = expected(&first);
    assert_eq!(want.len(), 3, "three strikes in the fixture");
    let shown = table(&want);
    assert!(
        shown.iter().any(|r| r["atm"] == true),
        "the ATM row is highlighted"
    );
    // The next snapshot: one call's open interest moves; the page follows.
    write_chain(&chain, 1234, "2024-11-25T10:01:00Z");
    let deadline = Instant::now() + Duration::from_secs(20);
    let next = loop {
        let f = sse_full(&addr);
        if f["as_of_ms"] != first["as_of_ms"] {
            break f;
        }
        assert!(
            Instant::now() < deadline,
            "the new snapshot never reached the hub"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let row = next["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["strike"] == 24100.0)
        .unwrap();
    assert_eq!(row["ce"]["oi"], 1234.0);
    assert_eq!(
        row["ce"]["oi_change"], 334.0,
        "change since the session's first snapshot"
    );
    table(&expected(&next));
    let text = |id: &str| {
        driver.call(
            "POST",
            &format!("{base}/execute/sync"),
            Some(json!({"script": format!("return document.getElementById('{id}').textContent"), "args": []})),
        )
    };
    // A file's chain is a replay of recorded data: the page says so, never "live".
    assert_eq!(text("state"), "replay");
    assert_eq!(text("source"), "REPLAY");
    assert_eq!(next["source"], "REPLAY", "every event says its source");
    // As-of in IST, with the zone: 10:01 UTC is 15:31 IST.
    assert_eq!(text("asof"), "25 Nov 2024, 15:31:00 IST");
    // Lakh/crore grouping on request: 1234 stays 1,234 either way; the spot of
    // 24,0xx too; a crore-sized number shows the difference only in OI columns.
    driver.call(
        "POST",
        &format!("{base}/execute/sync"),
        Some(json!({"script": "document.getElementById('lakh').click(); return 0", "args": []})),
    );
    assert_eq!(
        driver.call(
            "POST",
            &format!("{base}/execute/sync"),
            Some(json!({"script": "return (1234567).toLocaleString(locale)", "args": []})),
        ),
        "12,34,567"
    );
    // The Greeks: in every event (the call's delta between 0 and 1, the put's between
    // -1 and 0), in the table's cells (above), shown only when toggled on.
    let atm_row = next["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["strike"] == 24100.0)
        .unwrap();
    let (call_delta, put_delta) = (
        atm_row["ce"]["delta"].as_f64().unwrap(),
        atm_row["pe"]["delta"].as_f64().unwrap(),
    );
    assert!(call_delta > 0.0 && call_delta < 1.0, "{call_delta}");
    assert!(put_delta > -1.0 && put_delta < 0.0, "{put_delta}");
    assert!(atm_row["ce"]["gamma"].as_f64().unwrap() > 0.0);
    let shown_greeks = || {
        driver.call(
            "POST",
            &format!("{base}/execute/sync"),
            Some(json!({"script": "return [[...document.querySelectorAll('#rows td.greek')].filter(td => td.offsetParent !== null).length, document.getElementById('ce-side').colSpan, document.querySelector('#rows td[data-side=\"ce\"][data-field=\"delta\"]').textContent]", "args": []})),
        )
    };
    assert_eq!(shown_greeks()[0], 0, "hidden until toggled");
    assert_eq!(shown_greeks()[1], 6);
    driver.call(
        "POST",
        &format!("{base}/execute/sync"),
        Some(json!({"script": "document.getElementById('greeks').click(); return 0", "args": []})),
    );
    let on = shown_greeks();
    assert_eq!(on[0], 3 * 8, "four Greeks a side on three strikes");
    assert_eq!(on[1], 10);
    // The first strike's call delta, to three decimals.
    let first_delta = next["rows"][0]["ce"]["delta"].as_f64().unwrap();
    assert_eq!(on[2], format!("{first_delta:.3}"));
    let png = driver.call("GET", &format!("{base}/screenshot"), None);
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(png.as_str().unwrap())
        .expect("base64 screenshot");
    assert!(bytes.starts_with(b"\x89PNG"), "a PNG screenshot");
    // Beside the build's temporary directory: `target/live-page.png` (wherever the
    // target directory is).
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory");
    std::fs::write(target.join("live-page.png"), bytes).unwrap();
    driver.call("DELETE", &base, None);
}
