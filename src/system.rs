//! Process metrics of the `system` family, refreshed before every scrape.

use once_cell::sync::Lazy;
use std::sync::Mutex;
use std::time::Instant;

static STARTED: Lazy<Instant> = Lazy::new(Instant::now);
static LAST_CPU_SECONDS: Mutex<f64> = Mutex::new(0.0);

/// Mark the process start (call early; later calls do nothing).
pub fn mark_start() {
    Lazy::force(&STARTED);
}

/// Resident memory in bytes, from /proc/self/statm (Linux only).
fn resident_bytes() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096.0)
}

/// CPU seconds (user + system) from /proc/self/stat, assuming 100 ticks per second.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are 14th and 15th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Update uptime, resident memory and CPU time.
pub fn refresh() {
    crate::metrics::process_uptime_seconds().set(STARTED.elapsed().as_secs_f64());
    if let Some(b) = resident_bytes() {
        crate::metrics::memory_resident_bytes().set(b);
    }
    if let Some(now) = cpu_seconds() {
        let mut last = LAST_CPU_SECONDS.lock().unwrap_or_else(|p| p.into_inner());
        if now > *last {
            crate::metrics::cpu_seconds_total().inc_by(now - *last);
            *last = now;
        }
    }
}
