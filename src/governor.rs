//! The memory governor: resident memory against `--memory-budget` as a level from 0
//! (normal) to 3 (critical), and the actions each level takes.
//!
//! Levels rise at once (a reading over a higher level's entry threshold jumps there,
//! taking every crossed level's actions in order) and fall one level at a time, only
//! after the reading is below the level's exit threshold, which is lower than its
//! entry threshold (hysteresis), and the level has been held for `hold`, so a
//! working set close to a threshold does not flap.
//!
//! Actions act through [`Controls`]: scales of bounded buffers and switches that the
//! store writer, the NATS outbox, the live hub and the lifecycle job read. What they
//! hold, measured with a large chain while the store and bus servers were down, is in
//! the README ("Memory-pressure governor").

use crate::labels::{Buffer, Direction, MemoryAction, MemoryTier};
use crate::metrics;
use once_cell::sync::Lazy;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the governed parts of the process read: one scale per bounded buffer (1 is
/// the configured bound) and the switches.
#[derive(Debug)]
pub struct Controls {
    /// One per `buffer` label value, at [`Buffer::index`].
    scales: [AtomicU64; Buffer::ALL.len()],
    compaction_paused: AtomicBool,
    trim_allocator: AtomicBool,
}

impl Default for Controls {
    fn default() -> Self {
        Controls {
            scales: std::array::from_fn(|_| AtomicU64::new(1f64.to_bits())),
            compaction_paused: AtomicBool::new(false),
            trim_allocator: AtomicBool::new(false),
        }
    }
}

impl Controls {
    /// The current scale of buffer `b`'s bound, in (0, 1].
    pub fn scale(&self, b: Buffer) -> f64 {
        f64::from_bits(self.scales[b.index()].load(Ordering::Relaxed))
    }

    /// `bound` scaled for buffer `b`, never below `floor` (nor above `bound`).
    pub fn scaled(&self, b: Buffer, bound: usize, floor: usize) -> usize {
        let s = self.scale(b);
        if s >= 1.0 {
            return bound;
        }
        ((bound as f64 * s) as usize).max(floor).min(bound)
    }

    /// True while Parquet compaction is paused.
    pub fn compaction_paused(&self) -> bool {
        self.compaction_paused.load(Ordering::Relaxed)
    }

    /// True while the allocator is asked to return free memory after each check.
    pub fn trims_allocator(&self) -> bool {
        self.trim_allocator.load(Ordering::Relaxed)
    }

    fn set_scale(&self, b: Buffer, s: f64) {
        self.scales[b.index()].store(s.to_bits(), Ordering::Relaxed);
        metrics::memory_buffer_scale(b).set(s);
    }
}

/// The process's controls (what `g6 serve`'s governor sets and its parts read).
pub fn controls() -> &'static Arc<Controls> {
    static CONTROLS: Lazy<Arc<Controls>> = Lazy::new(|| Arc::new(Controls::default()));
    &CONTROLS
}

/// What one action does while applied.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Effect {
    /// Scale these buffers' bounds.
    Scale(&'static [Buffer], f64),
    /// Pause Parquet compaction.
    PauseCompaction,
    /// Return free heap pages to the system after each check.
    TrimAllocator,
}

/// The actions of each level, in the order they are applied (and reverted in reverse).
const ACTIONS: &[(MemoryTier, MemoryAction, Effect)] = &[
    (
        MemoryTier::Elevated,
        MemoryAction::PauseCompaction,
        Effect::PauseCompaction,
    ),
    (
        MemoryTier::Elevated,
        MemoryAction::ShrinkLive,
        Effect::Scale(&[Buffer::LiveWindow, Buffer::LiveClientBuffer], 0.5),
    ),
    (
        MemoryTier::High,
        MemoryAction::ShrinkBacklog,
        Effect::Scale(&[Buffer::StoreBacklog], 0.5),
    ),
    (
        MemoryTier::High,
        MemoryAction::ShrinkOutbox,
        Effect::Scale(&[Buffer::BusOutbox], 0.5),
    ),
    (
        MemoryTier::High,
        MemoryAction::TrimAllocator,
        Effect::TrimAllocator,
    ),
    (
        MemoryTier::Critical,
        MemoryAction::ShrinkBacklog,
        Effect::Scale(&[Buffer::StoreBacklog], 0.1),
    ),
    (
        MemoryTier::Critical,
        MemoryAction::ShrinkOutbox,
        Effect::Scale(&[Buffer::BusOutbox], 0.1),
    ),
    (
        MemoryTier::Critical,
        MemoryAction::ShrinkLive,
        Effect::Scale(&[Buffer::LiveWindow, Buffer::LiveClientBuffer], 0.25),
    ),
];

fn tier_of(level: u8) -> Option<MemoryTier> {
    match level {
        1 => Some(MemoryTier::Elevated),
        2 => Some(MemoryTier::High),
        3 => Some(MemoryTier::Critical),
        _ => None,
    }
}

/// Governor settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GovernorConfig {
    /// The memory budget in bytes.
    pub budget: u64,
    /// Share of the budget at which levels 1, 2 and 3 are entered.
    pub enter: [f64; 3],
    /// Share of the budget below which levels 1, 2 and 3 are left.
    pub leave: [f64; 3],
    /// Least time in a level before it may fall.
    pub hold: Duration,
}

impl GovernorConfig {
    /// The default thresholds for `budget` bytes: enter at 70/85/95%, leave at
    /// 60/75/85%.
    pub fn new(budget: u64, hold: Duration) -> Self {
        GovernorConfig {
            budget: budget.max(1),
            enter: [0.70, 0.85, 0.95],
            leave: [0.60, 0.75, 0.85],
            hold,
        }
    }
}

/// One thing the governor did on a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The level moved from one to the other (one level per change).
    Level {
        /// Level before.
        from: u8,
        /// Level after.
        to: u8,
    },
    /// An action was applied.
    Applied(MemoryAction, MemoryTier),
    /// An action was reverted.
    Reverted(MemoryAction, MemoryTier),
}

/// The memory-pressure state machine. Feed it readings with [`Governor::observe`].
#[derive(Debug)]
pub struct Governor {
    config: GovernorConfig,
    controls: Arc<Controls>,
    level: u8,
    since: Instant,
    applied: BTreeSet<(u8, usize)>,
}

impl Governor {
    /// A governor at level 0 acting on `controls`, which it resets to normal.
    pub fn new(config: GovernorConfig, controls: Arc<Controls>, now: Instant) -> Self {
        metrics::memory_budget_bytes().set(config.budget as f64);
        metrics::memory_pressure_level().set(0.0);
        metrics::memory_pressure_level_duration_seconds().set(0.0);
        for d in Direction::ALL {
            metrics::memory_pressure_transitions_total(d).inc_by(0);
        }
        for (tier, action, _) in ACTIONS {
            metrics::memory_pressure_actions_total(*action, *tier).inc_by(0);
            metrics::memory_pressure_action_active(*action).set(0.0);
        }
        let g = Governor {
            config,
            controls,
            level: 0,
            since: now,
            applied: BTreeSet::new(),
        };
        g.sync_controls();
        g
    }

    /// The current level, 0 to 3.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// The settings.
    pub fn config(&self) -> &GovernorConfig {
        &self.config
    }

    /// The actions applied now, in application order.
    pub fn applied(&self) -> Vec<(MemoryAction, MemoryTier)> {
        self.applied
            .iter()
            .map(|&(_, i)| (ACTIONS[i].1, ACTIONS[i].0))
            .collect()
    }

    fn level_for(&self, resident: u64) -> u8 {
        let share = resident as f64 / self.config.budget as f64;
        self.config.enter.iter().filter(|&&t| share >= t).count() as u8
    }

    /// Take one reading of resident memory (bytes) at `now`; returns what changed.
    pub fn observe(&mut self, resident: u64, now: Instant) -> Vec<Change> {
        let mut changes = Vec::new();
        let target = self.level_for(resident);
        if target > self.level {
            while self.level < target {
                let from = self.level;
                self.level += 1;
                changes.push(Change::Level {
                    from,
                    to: self.level,
                });
                metrics::memory_pressure_transitions_total(Direction::Up).inc();
                self.apply_tier(self.level, &mut changes);
            }
            self.since = now;
        } else if self.level > 0 {
            let share = resident as f64 / self.config.budget as f64;
            let below = share < self.config.leave[usize::from(self.level) - 1];
            if below && now.saturating_duration_since(self.since) >= self.config.hold {
                self.revert_tier(self.level, &mut changes);
                let from = self.level;
                self.level -= 1;
                changes.push(Change::Level {
                    from,
                    to: self.level,
                });
                metrics::memory_pressure_transitions_total(Direction::Down).inc();
                self.since = now;
            }
        }
        if !changes.is_empty() {
            self.sync_controls();
        }
        metrics::memory_pressure_level().set(f64::from(self.level));
        metrics::memory_pressure_level_duration_seconds()
            .set(now.saturating_duration_since(self.since).as_secs_f64());
        changes
    }

    fn apply_tier(&mut self, level: u8, changes: &mut Vec<Change>) {
        let Some(tier) = tier_of(level) else { return };
        for (i, (t, action, _)) in ACTIONS.iter().enumerate() {
            // Each (level, action) once: a level re-entered applies it again only
            // after it was reverted on the way down.
            if *t == tier && self.applied.insert((level, i)) {
                metrics::memory_pressure_actions_total(*action, tier).inc();
                changes.push(Change::Applied(*action, tier));
            }
        }
    }

    fn revert_tier(&mut self, level: u8, changes: &mut Vec<Change>) {
        let Some(tier) = tier_of(level) else { return };
        for (i, (t, action, _)) in ACTIONS.iter().enumerate().rev() {
            if *t == tier && self.applied.remove(&(level, i)) {
                changes.push(Change::Reverted(*action, tier));
            }
        }
    }

    /// Set the controls from the applied actions: each buffer at the smallest scale
    /// any applied action gives it, so reverting a level restores the one below's.
    fn sync_controls(&self) {
        let mut scales = [1.0f64; Buffer::ALL.len()];
        let (mut pause, mut trim) = (false, false);
        let mut active: BTreeSet<MemoryAction> = BTreeSet::new();
        for &(_, i) in &self.applied {
            let (_, action, effect) = ACTIONS[i];
            active.insert(action);
            match effect {
                Effect::Scale(buffers, s) => {
                    for b in buffers {
                        let at = &mut scales[b.index()];
                        *at = at.min(s);
                    }
                }
                Effect::PauseCompaction => pause = true,
                Effect::TrimAllocator => trim = true,
            }
        }
        for b in Buffer::ALL {
            self.controls.set_scale(b, scales[b.index()]);
        }
        self.controls
            .compaction_paused
            .store(pause, Ordering::Relaxed);
        self.controls.trim_allocator.store(trim, Ordering::Relaxed);
        for (_, action, _) in ACTIONS {
            metrics::memory_pressure_action_active(*action).set(if active.contains(action) {
                1.0
            } else {
                0.0
            });
        }
    }
}

/// The default budget: half of the memory this process may use: the machine's, or
/// the smallest cgroup limit above this process (cgroup v2 along its path, else v1's
/// memory controller), when lower.
pub fn default_budget() -> u64 {
    use procfs::Current;
    let machine = procfs::Meminfo::current()
        .map(|m| m.mem_total)
        .unwrap_or(4 << 30);
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    cgroup_limit(&own, |p| std::fs::read_to_string(p).ok())
        .unwrap_or(machine)
        .min(machine)
        / 2
}

/// The smallest memory limit of the cgroups in `proc_self_cgroup` (the text of
/// `/proc/self/cgroup`) and their parents; `read` reads a file.
pub fn cgroup_limit(proc_self_cgroup: &str, read: impl Fn(&str) -> Option<String>) -> Option<u64> {
    let limit = |file: String| read(&file).and_then(|s| s.trim().parse::<u64>().ok());
    let walk = |root: &str, path: &str, file: &str| {
        let mut best: Option<u64> = None;
        let mut at = path.trim_end_matches('/').to_string();
        loop {
            // "max" (v2) and huge numbers (v1) mean no limit: min() ignores them.
            if let Some(l) = limit(format!("{root}{at}/{file}")) {
                best = Some(best.map_or(l, |b| b.min(l)));
            }
            match at.rfind('/') {
                Some(i) => at.truncate(i),
                None => break,
            }
        }
        best
    };
    let mut found = None;
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next(), parts.next());
        let (Some(controllers), Some(path)) = (controllers, path) else {
            continue;
        };
        let l = if controllers.is_empty() {
            walk("/sys/fs/cgroup", path, "memory.max")
        } else if controllers.split(',').any(|c| c == "memory") {
            walk("/sys/fs/cgroup/memory", path, "memory.limit_in_bytes")
        } else {
            None
        };
        if let Some(l) = l {
            found = Some(found.map_or(l, |f: u64| f.min(l)));
        }
    }
    found
}

/// Ask the allocator to return free memory to the system (glibc keeps freed heap
/// pages otherwise, so resident memory would not fall after buffers shrink).
fn trim_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Least time between two allocator trims while `trim_allocator` holds.
const TRIM_EVERY: Duration = Duration::from_secs(5);

/// Run `governor` on its own thread, reading resident memory every `every`, until
/// `stop` is given. Level changes and actions are logged once each.
pub fn spawn(
    mut governor: Governor,
    every: Duration,
    stop: crate::shutdown::Stop,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("g6-governor".into())
        .spawn(move || {
            let mut last_trim: Option<Instant> = None;
            while !stop.is_stopped() {
                if let Some(rss) = crate::system::resident_bytes() {
                    let changes = governor.observe(rss, Instant::now());
                    let changed = !changes.is_empty();
                    for c in changes {
                        match c {
                            Change::Level { from, to } => tracing::warn!(
                                from,
                                to,
                                resident_bytes = rss,
                                budget_bytes = governor.config().budget,
                                "memory-pressure level changed"
                            ),
                            Change::Applied(a, t) => tracing::info!(
                                action = a.as_str(),
                                tier = t.as_str(),
                                "memory governor: applied"
                            ),
                            Change::Reverted(a, t) => tracing::info!(
                                action = a.as_str(),
                                tier = t.as_str(),
                                "memory governor: reverted"
                            ),
                        }
                    }
                    // Trimming walks the heap: after every level change (so a level
                    // can fall once buffers shrank), and at most every 5 s while
                    // the action holds.
                    let due = last_trim.is_none_or(|t: Instant| t.elapsed() >= TRIM_EVERY);
                    if changed || (governor.controls.trims_allocator() && due) {
                        trim_allocator();
                        last_trim = Some(Instant::now());
                    }
                }
                stop.wait_timeout(every);
            }
        })
}

#[cfg(test)]
mod tests {
    use super::cgroup_limit;
    use std::collections::HashMap;

    fn files(list: &[(&str, &str)]) -> HashMap<String, String> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_smallest_cgroup_v2_limit_along_the_path_wins_and_max_is_no_limit() {
        let fs = files(&[
            ("/sys/fs/cgroup/system.slice/memory.max", "1073741824\n"),
            ("/sys/fs/cgroup/system.slice/g6.service/memory.max", "max\n"),
        ]);
        let got = cgroup_limit("0::/system.slice/g6.service\n", |p| fs.get(p).cloned());
        assert_eq!(got, Some(1 << 30));
        let none = files(&[("/sys/fs/cgroup/memory.max", "max")]);
        assert_eq!(cgroup_limit("0::/\n", |p| none.get(p).cloned()), None);
    }

    #[test]
    fn a_cgroup_v1_memory_controller_limit_is_read() {
        let fs = files(&[(
            "/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes",
            "536870912",
        )]);
        let text = "12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n";
        assert_eq!(cgroup_limit(text, |p| fs.get(p).cloned()), Some(512 << 20));
    }
}
