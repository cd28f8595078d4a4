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

/// Resident memory of this process in bytes (procfs: the machine's real page size),
/// if procfs can tell.
pub fn resident_bytes() -> Option<u64> {
    let stat = procfs::process::Process::myself().ok()?.stat().ok()?;
    use procfs::WithCurrentSystemInfo;
    Some(stat.rss_bytes().get())
}

/// CPU seconds, user plus system (procfs: the machine's real clock-tick rate).
fn cpu_seconds() -> Option<f64> {
    let stat = procfs::process::Process::myself().ok()?.stat().ok()?;
    let ticks = procfs::ticks_per_second() as f64;
    (ticks > 0.0).then(|| (stat.utime + stat.stime) as f64 / ticks)
}

/// Update uptime, resident memory and CPU time.
pub fn refresh() {
    crate::metrics::process_uptime_seconds().set(STARTED.elapsed().as_secs_f64());
    if let Some(b) = resident_bytes() {
        crate::metrics::memory_resident_bytes().set(b as f64);
    }
    if let Some(now) = cpu_seconds() {
        let mut last = LAST_CPU_SECONDS.lock().unwrap_or_else(|p| p.into_inner());
        if now > *last {
            crate::metrics::cpu_seconds_total().inc_by(now - *last);
            *last = now;
        }
    }
}
