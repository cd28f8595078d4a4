//! Fold a snapshot of the whole chain into moneyness x days-to-expiry buckets (5 x 5 in
//! G6's spec; sizes come from the generated label enums) per index, and publish them
//! as the `option_chain` family.
//!
//! Per bucket: active contracts, open-interest sum, volume sum, mean IV, OI-weighted IV
//! and mean spread (as a ratio of mid, derived from bid/ask when the provider gives no
//! spread), and the weights of those three means (contracts with an IV, their open
//! interest, contracts with a spread) so a dashboard can combine buckets without an
//! empty one pulling a mean down. Buckets absent from a snapshot are reset to 0, so a dashboard never shows a
//! stale value. Malformed rows are skipped and counted by reason (and logged once per
//! reason); they never reach a bucket. Contracts never seen before count as new
//! listings by their DTE bucket (the first snapshot of an index is the baseline).
//!
//! At most [`max_indices`] indices are tracked; beyond that the least recently seen is
//! forgotten and every series carrying its `index` label is removed from the registry
//! ([`release_index`]), so its slots of the cardinality budgets go to new indices.

use super::buckets::{dte_bucket, mny_bucket, moneyness, slot};
use super::dates::DAY;
use super::{OptionType, Quote, Rejected, Snapshot};
use crate::labels::{Dte, Mny, SkipReason, Source};
use crate::Gauge;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Buckets per index: every (moneyness, days-to-expiry) pair of the spec.
pub const SLOTS: usize = Mny::ALL.len() * Dte::ALL.len();

/// Kinds of skipped rows.
const SKIP_REASONS: usize = SkipReason::ALL.len();

/// Accumulated values of one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BucketStats {
    /// Contracts in the bucket.
    pub contracts: u64,
    /// Sum of open interest.
    pub open_interest: f64,
    /// Sum of volume.
    pub volume: f64,
    iv_sum: f64,
    iv_count: u64,
    iv_oi_sum: f64,
    oi_with_iv: f64,
    spread_sum: f64,
    spread_count: u64,
}

impl BucketStats {
    /// Contracts with a usable IV: the weight of [`Self::iv_mean`].
    pub fn iv_contracts(&self) -> u64 {
        self.iv_count
    }

    /// Open interest of the contracts with a usable IV: the weight of
    /// [`Self::iv_oi_weighted`].
    pub fn iv_open_interest(&self) -> f64 {
        self.oi_with_iv
    }

    /// Contracts with a usable spread: the weight of [`Self::spread_mean`].
    pub fn spread_contracts(&self) -> u64 {
        self.spread_count
    }

    /// Mean IV over contracts that have one (0 when none do).
    pub fn iv_mean(&self) -> f64 {
        if self.iv_count == 0 {
            0.0
        } else {
            self.iv_sum / self.iv_count as f64
        }
    }

    /// IV weighted by open interest, over contracts with both (0 when none).
    pub fn iv_oi_weighted(&self) -> f64 {
        if self.oi_with_iv <= 0.0 {
            0.0
        } else {
            self.iv_oi_sum / self.oi_with_iv
        }
    }

    /// Mean spread as a fraction of mid (0 when no contract has a spread).
    pub fn spread_mean(&self) -> f64 {
        if self.spread_count == 0 {
            0.0
        } else {
            self.spread_sum / self.spread_count as f64
        }
    }
}

/// The result of aggregating one snapshot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Aggregation {
    /// Buckets per index, indexed by [`slot`].
    pub per_index: BTreeMap<String, [BucketStats; SLOTS]>,
    /// Rows skipped, by `SkipReason::index()`.
    pub skipped: [u64; SKIP_REASONS],
    /// New listings, by `Dte::index()`.
    pub new_listings: [u64; Dte::ALL.len()],
    /// Contracts that made it into a bucket.
    pub accepted: u64,
    /// Positions in `Snapshot::rows` of the contracts that made it into a bucket, in
    /// row order: exactly what the bus publishes.
    pub accepted_rows: Vec<u32>,
    /// Indices this snapshot made the aggregator forget (the least recently seen,
    /// beyond [`max_indices`]): [`Aggregator::publish`] removes their series, and
    /// whoever keeps other per-index state (analytics, snapshot ages) drops theirs.
    pub forgotten: Vec<String>,
}

impl Aggregation {
    /// The bucket of `index` at (mny, dte).
    pub fn bucket(&self, index: &str, m: Mny, d: Dte) -> Option<&BucketStats> {
        self.per_index.get(index).map(|b| &b[slot(m, d)])
    }

    /// Rows skipped for `reason`.
    pub fn skipped(&self, reason: SkipReason) -> u64 {
        self.skipped[reason.index()]
    }
}

/// One contract of an index: expiry, strike and side, in 16 bytes (the map holds every
/// contract of the chain and is probed once per row: the smaller its entries, the
/// fewer cache misses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ContractKey {
    expiry: i64,
    /// The strike's bits with the side in the sign bit: a valid strike is positive, so
    /// its own sign bit is always 0.
    strike_and_side: u64,
}

impl ContractKey {
    fn of(q: &Quote) -> Self {
        // `+ 0.0` folds -0.0 into 0.0 so one strike has one key.
        let strike_bits = (q.strike + 0.0).to_bits() & !(1 << 63);
        let side = u64::from(q.option_type == OptionType::Call) << 63;
        ContractKey {
            expiry: q.expiry,
            strike_and_side: strike_bits | side,
        }
    }
}

/// foldhash mixes every field; the hand-rolled multiply-rotate it replaces mapped
/// 400,000 distinct strikes onto a few dozen buckets and made aggregation quadratic.
type KeyMap<V> = HashMap<ContractKey, V, foldhash::fast::RandomState>;

/// What the aggregator remembers of a contract (its expiry is in its key, to forget it
/// a day after): the last snapshot it appeared in (a second row in the same one is a
/// duplicate).
#[derive(Debug, Clone, Copy)]
struct Seen {
    snapshot: u64,
}

/// The label that names an index in the spec: every series carrying it is removed
/// when the index is forgotten.
pub const INDEX_LABEL: &str = "index";

/// Remove every series of `index`, of every metric with an `index` label (bucket
/// gauges, analytics, snapshot age, provider counters), so a forgotten index gives its
/// slots of the cardinality budgets back. Process-wide: the index's series of every
/// source go. Returns how many were removed.
pub fn release_index(index: &str) -> usize {
    crate::metrics::remove_matching(INDEX_LABEL, index)
}

/// Largest number of distinct indices tracked at once: what the spec's budgets hold,
/// the per-index staleness gauge's and the bucket gauges' (every (index, source) pair
/// takes one series per bucket). Rows of further indices are skipped (`index_limit`)
/// and the least recently seen indices are forgotten first.
pub fn max_indices() -> usize {
    let age = crate::spec::INFO_OPTION_CHAIN_SNAPSHOT_AGE_SECONDS.budget as usize;
    let grids = [
        &crate::spec::INFO_OPTION_CONTRACTS_ACTIVE,
        &crate::spec::INFO_OPTION_OPEN_INTEREST,
        &crate::spec::INFO_OPTION_VOLUME,
        &crate::spec::INFO_OPTION_IMPLIED_VOLATILITY_MEAN,
        &crate::spec::INFO_OPTION_IMPLIED_VOLATILITY_OI_WEIGHTED,
        &crate::spec::INFO_OPTION_SPREAD_MEAN_RATIO,
    ]
    .iter()
    .map(|i| i.budget as usize / SLOTS)
    .min()
    .unwrap_or(age);
    age.min(grids).max(1)
}

/// Snapshots a contract may be absent before it is forgotten (and counted as new
/// again if it comes back).
pub const FORGET_AFTER_SNAPSHOTS: u64 = 60;

/// Largest spread accepted, in basis points (`out_of_range` beyond): 10,000%.
pub const MAX_SPREAD_BPS: f64 = 1e6;

/// Longest index name accepted (`bad_index` beyond).
pub const MAX_INDEX_LEN: usize = 64;

/// Largest open interest or volume accepted: a whole exchange trades less; a value
/// beyond is a feed error that would swamp every sum (`out_of_range`).
pub const MAX_COUNT: f64 = 1e12;

/// Largest price (strike, spot, bid, ask) accepted (`out_of_range`).
pub const MAX_PRICE: f64 = 1e9;

/// Largest implied volatility accepted, as a ratio (5000%).
pub const MAX_IV: f64 = 50.0;

/// True when `index` can be a label value: not empty, not too long, no control
/// characters.
fn valid_index(index: &str) -> bool {
    !index.trim().is_empty() && index.len() <= MAX_INDEX_LEN && !index.chars().any(char::is_control)
}

/// Gauge handles of one (index, source), resolved once.
struct Handles {
    gauges: [[&'static Gauge; SLOTS]; 9],
}

impl Handles {
    fn resolve(index: &str, source: Source) -> Handles {
        use crate::metrics as m;
        let table = |f: fn(&str, Mny, Dte, Source) -> &'static Gauge| -> [&'static Gauge; SLOTS] {
            std::array::from_fn(|i| {
                let (m, d) = (i / Dte::ALL.len(), i % Dte::ALL.len());
                f(index, Mny::ALL[m], Dte::ALL[d], source)
            })
        };
        Handles {
            gauges: [
                table(m::option_contracts_active_with),
                table(m::option_open_interest_with),
                table(m::option_volume_with),
                table(m::option_implied_volatility_mean_with),
                table(m::option_implied_volatility_oi_weighted_with),
                table(m::option_spread_mean_ratio_with),
                // The weights, so dashboards can combine buckets correctly.
                table(m::option_implied_volatility_contracts_with),
                table(m::option_implied_volatility_open_interest_with),
                table(m::option_spread_contracts_with),
            ],
        }
    }

    fn set(&self, stats: &[BucketStats; SLOTS]) {
        for (i, s) in stats.iter().enumerate() {
            self.gauges[0][i].set(s.contracts as f64);
            self.gauges[1][i].set(s.open_interest);
            self.gauges[2][i].set(s.volume);
            self.gauges[3][i].set(s.iv_mean());
            self.gauges[4][i].set(s.iv_oi_weighted());
            self.gauges[5][i].set(s.spread_mean());
            self.gauges[6][i].set(s.iv_contracts() as f64);
            self.gauges[7][i].set(s.iv_open_interest());
            self.gauges[8][i].set(s.spread_contracts() as f64);
        }
    }
}

/// Keeps what aggregation must remember between snapshots, per index, for at most
/// [`max_indices`] indices.
#[derive(Default)]
pub struct Aggregator {
    handles: HashMap<(String, Source), Handles>,
    published: HashSet<(String, Source)>,
    /// Contracts seen so far per index (new listings, duplicates).
    seen: HashMap<String, KeyMap<Seen>>,
    /// Snapshot number in which each index was last seen.
    last_seen: HashMap<String, u64>,
    /// Indices forgotten whose series the next [`Self::publish`] removes (distinct, at
    /// most 4 x [`max_indices`]).
    to_release: Vec<String>,
    snapshots: u64,
    logged_reasons: [bool; SKIP_REASONS],
}

fn validate(q: &Quote, as_of: i64) -> Result<(Mny, Dte), SkipReason> {
    if !valid_index(&q.index) {
        return Err(SkipReason::BadIndex);
    }
    let numbers = [q.strike, q.spot, q.open_interest, q.volume];
    let optional = [q.iv, q.bid, q.ask, q.spread_bps, q.moneyness, q.dte_days];
    if numbers
        .iter()
        .chain(optional.iter().flatten())
        .any(|v| !v.is_finite())
    {
        return Err(SkipReason::InvalidNumber);
    }
    let non_negative = [q.strike, q.spot, q.open_interest, q.volume];
    let optional_non_negative = [q.iv, q.bid, q.ask, q.spread_bps];
    if non_negative
        .iter()
        .chain(optional_non_negative.iter().flatten())
        .any(|v| *v < 0.0)
    {
        return Err(SkipReason::NegativeValue);
    }
    if q.strike == 0.0 {
        return Err(SkipReason::ZeroStrike);
    }
    if q.spot == 0.0 {
        return Err(SkipReason::ZeroSpot);
    }
    let prices = [Some(q.strike), Some(q.spot), q.bid, q.ask];
    if q.open_interest > MAX_COUNT
        || q.volume > MAX_COUNT
        || prices.iter().flatten().any(|p| *p > MAX_PRICE)
        || q.iv.is_some_and(|iv| iv > MAX_IV)
        || q.spread_bps.is_some_and(|b| b > MAX_SPREAD_BPS)
    {
        return Err(SkipReason::OutOfRange);
    }
    let days = match q.dte_days {
        Some(d) => d,
        None => q.expiry.checked_sub(as_of).ok_or(SkipReason::BadExpiry)? as f64 / DAY as f64,
    };
    let dte = dte_bucket(days).ok_or(SkipReason::Expired)?;
    let m = q
        .moneyness
        .unwrap_or_else(|| moneyness(q.option_type == OptionType::Call, q.strike, q.spot));
    Ok((mny_bucket(m), dte))
}

fn spread_ratio(q: &Quote) -> Option<f64> {
    if let Some(bps) = q.spread_bps {
        return Some(bps / 10_000.0);
    }
    match (q.bid, q.ask) {
        (Some(bid), Some(ask)) if bid > 0.0 && ask >= bid => {
            Some((ask - bid) / ((ask + bid) / 2.0))
        }
        _ => None,
    }
}

impl Aggregator {
    /// A fresh aggregator.
    pub fn new() -> Self {
        Self::default()
    }

    fn log_once(&mut self, r: &Rejected) {
        let logged = &mut self.logged_reasons[r.reason.index()];
        if !*logged {
            *logged = true;
            tracing::warn!(reason = r.reason.as_str(), detail = %r.detail, "skipping malformed quote rows; further rows skipped for this reason are counted, not logged");
        }
    }

    /// Aggregate a snapshot taken at `now` (Unix seconds) without touching metrics.
    pub fn aggregate(&mut self, snapshot: &Snapshot, now: i64) -> Aggregation {
        let as_of = snapshot.as_of.unwrap_or(now);
        self.snapshots += 1;
        let this = self.snapshots;
        let mut agg = Aggregation::default();
        // Per index of this snapshot: name, buckets, the contracts it has seen (taken out
        // of `self.seen` for the snapshot: one hash lookup per row finds duplicates and
        // new listings at once), and whether this is its baseline snapshot. Rows arrive
        // grouped by index: remember the last one instead of hashing the name per row.
        let mut tables: Vec<(String, [BucketStats; SLOTS], KeyMap<Seen>, bool)> = Vec::new();
        let mut current = usize::MAX;
        for (row_no, row) in snapshot.rows.iter().enumerate() {
            let q = match row {
                Ok(q) => q,
                Err(r) => {
                    agg.skipped[r.reason.index()] += 1;
                    self.log_once(r);
                    continue;
                }
            };
            let checked = validate(q, as_of).and_then(|buckets| {
                if current >= tables.len() || tables[current].0 != q.index {
                    current = match tables.iter().position(|t| t.0 == q.index) {
                        Some(i) => i,
                        None if tables.len() >= max_indices() => {
                            return Err(SkipReason::IndexLimit)
                        }
                        None => {
                            let seen = self.seen.remove(&q.index);
                            let baseline = seen.is_none();
                            tables.push((
                                q.index.clone(),
                                [BucketStats::default(); SLOTS],
                                seen.unwrap_or_default(),
                                baseline,
                            ));
                            tables.len() - 1
                        }
                    };
                }
                let (_, _, seen, baseline) = &mut tables[current];
                match seen.entry(ContractKey::of(q)) {
                    // One row per contract: a repeated one would be counted twice.
                    Entry::Occupied(e) if e.get().snapshot == this => Err(SkipReason::Duplicate),
                    Entry::Occupied(mut e) => {
                        e.get_mut().snapshot = this;
                        Ok((buckets, false))
                    }
                    Entry::Vacant(e) => {
                        e.insert(Seen { snapshot: this });
                        // The first snapshot of an index is its baseline: nothing in
                        // it is new.
                        Ok((buckets, !*baseline))
                    }
                }
            });
            let ((m, d), new) = match checked {
                Ok(b) => b,
                Err(reason) => {
                    agg.skipped[reason.index()] += 1;
                    let detail = format!(
                        "{:?} {} {:?} strike {}",
                        q.index,
                        super::dates::format_date(q.expiry),
                        q.option_type,
                        q.strike
                    );
                    self.log_once(&Rejected { reason, detail });
                    continue;
                }
            };
            agg.accepted += 1;
            agg.accepted_rows.push(row_no as u32);
            if new {
                agg.new_listings[d.index()] += 1;
            }
            let b = &mut tables[current].1[slot(m, d)];
            b.contracts += 1;
            b.open_interest += q.open_interest;
            b.volume += q.volume;
            if let Some(iv) = q.iv {
                b.iv_sum += iv;
                b.iv_count += 1;
                if q.open_interest > 0.0 {
                    b.iv_oi_sum += iv * q.open_interest;
                    b.oi_with_iv += q.open_interest;
                }
            }
            if let Some(s) = spread_ratio(q) {
                b.spread_sum += s;
                b.spread_count += 1;
            }
        }
        agg.forgotten = self.forget_for(tables.iter().map(|t| t.0.as_str()));
        let horizon = as_of.saturating_sub(DAY);
        for (index, buckets, mut seen, _) in tables {
            // Forget contracts a day past expiry, or absent for a while, so the map
            // stays the size of the live chain whatever a feed invents; and never more
            // than a few times this snapshot.
            let present = buckets.iter().map(|b| b.contracts as usize).sum::<usize>();
            seen.retain(|k, s| {
                k.expiry >= horizon && s.snapshot.saturating_add(FORGET_AFTER_SNAPSHOTS) >= this
            });
            if seen.len() > 4 * present + 10_000 {
                seen.retain(|_, s| s.snapshot == this);
            }
            self.last_seen.insert(index.clone(), this);
            self.seen.insert(index.clone(), seen);
            agg.per_index.insert(index, buckets);
        }
        agg
    }

    /// Make room for the indices of this snapshot: forget the least recently seen
    /// others (their state and gauge handles) beyond [`max_indices`], and return them.
    /// Their series are removed at the next [`Self::publish`]: aggregation itself
    /// touches no metric.
    fn forget_for<'a>(&mut self, current: impl Iterator<Item = &'a str>) -> Vec<String> {
        let current: HashSet<&str> = current.collect();
        let mut others: Vec<(u64, String)> = self
            .last_seen
            .iter()
            .filter(|(i, _)| !current.contains(i.as_str()))
            .map(|(i, at)| (*at, i.clone()))
            .collect();
        let keep = max_indices().saturating_sub(current.len());
        if others.len() <= keep {
            return Vec::new();
        }
        others.sort();
        let mut forgotten = Vec::new();
        for (_, index) in others.drain(..others.len() - keep) {
            self.last_seen.remove(&index);
            self.seen.remove(&index);
            // The handles go before their series are removed: nothing here writes
            // through a detached handle.
            self.handles.retain(|(i, _), _| *i != index);
            self.published.retain(|(i, _)| *i != index);
            if !self.to_release.contains(&index) {
                self.to_release.push(index.clone());
            }
            forgotten.push(index);
        }
        // Drained by every publish; bounded for a caller that only aggregates (it
        // created no series to release).
        let cap = 4 * max_indices();
        if self.to_release.len() > cap {
            let excess = self.to_release.len() - cap;
            self.to_release.drain(..excess);
        }
        forgotten
    }

    /// Indices whose state the aggregator holds (bounded by [`max_indices`]).
    pub fn tracked_indices(&self) -> usize {
        self.last_seen.len()
    }

    /// Contracts the aggregator remembers, over all indices.
    pub fn tracked_contracts(&self) -> usize {
        self.seen.values().map(HashMap::len).sum()
    }

    /// Publish an aggregation: remove the series of the indices forgotten since the
    /// last publish (see [`release_index`]), set every bucket of every (index, source)
    /// in it, reset the ones published before but absent now, and count skips and new
    /// listings. A panic here is counted in `g6_emission_failures_total{emitter}` and
    /// never stops the collection loop.
    #[crate::safe_emit]
    pub fn publish(&mut self, agg: &Aggregation, source: Source) {
        for index in std::mem::take(&mut self.to_release) {
            // Back already (a snapshot in between was not published): its series are
            // set below, so they stay.
            if !agg.per_index.contains_key(&index) {
                let removed = release_index(&index);
                tracing::debug!(index, removed, "forgot an index; its series are removed");
            }
        }
        let mut now_published = HashSet::new();
        for (index, stats) in &agg.per_index {
            let key = (index.clone(), source);
            self.handles
                .entry(key.clone())
                .or_insert_with(|| Handles::resolve(index, source))
                .set(stats);
            now_published.insert(key);
        }
        let zero = [BucketStats::default(); SLOTS];
        for gone in self.published.difference(&now_published) {
            if let Some(h) = self.handles.get(gone) {
                h.set(&zero);
            }
        }
        self.published = now_published;
        Self::publish_counts(agg);
    }

    /// Count skipped rows and new listings only (for snapshots too empty to publish).
    pub fn publish_counts(agg: &Aggregation) {
        for reason in SkipReason::ALL {
            let n = agg.skipped[reason.index()];
            if n > 0 {
                crate::metrics::option_rows_skipped_total(reason).inc_by(n);
            }
        }
        for dte in Dte::ALL {
            let n = agg.new_listings[dte.index()];
            if n > 0 {
                crate::metrics::option_contracts_new_total(dte).inc_by(n);
            }
        }
    }

    /// Aggregate and publish, timing the work into `g6_option_chain_aggregation_seconds`.
    pub fn process(&mut self, snapshot: &Snapshot, source: Source, now: i64) -> Aggregation {
        let timer = crate::metrics::option_chain_aggregation_seconds().start_timer();
        let agg = self.aggregate(snapshot, now);
        self.publish(&agg, source);
        timer.stop_and_record();
        agg
    }
}
