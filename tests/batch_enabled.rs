//! The emission batcher switched on (G6_METRICS_BATCH_ENABLED=1): exact totals under
//! threads, random flushes and concurrent scrapes; scrapes always see what was emitted.
//! Each test runs in a process of its own (the batcher is process-wide), so the
//! batcher's own counters can be asserted exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{in_own_process_with_env, parse_exposition, value};
use g6_metrics::batch::FlushTrigger;
use g6_metrics::labels::Dte;
use g6_metrics::{batch, exporter, metrics};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The environment of each test's own process: the batcher on.
const BATCH_ON: &[(&str, Option<&str>)] = &[("G6_METRICS_BATCH_ENABLED", Some("yes"))];

fn enable() {
    assert!(batch::enabled(), "the batcher must be on for these tests");
}

fn scrape() -> Vec<common::Sample> {
    parse_exposition(&String::from_utf8(exporter::render_metrics()).unwrap())
}

use common::find_sample as sample;

#[test]
fn four_threads_a_million_each_with_random_flushes_and_scrapes_are_exact() {
    in_own_process_with_env(
        module_path!(),
        "four_threads_a_million_each_with_random_flushes_and_scrapes_are_exact",
        BATCH_ON,
        || {
            enable();
            const THREADS: usize = 4;
            const PER_THREAD: u64 = 1_000_000;
            let counter = metrics::option_contracts_new_total(Dte::Long);
            let hist = metrics::lifecycle_scan_seconds();
            let seconds = metrics::cpu_seconds_total();
            let stop = Arc::new(AtomicBool::new(false));
            // Flushes at pseudo-random intervals and scrapes, concurrently with emission.
            let disturbers: Vec<_> = (0..2)
                .map(|k| {
                    let stop = stop.clone();
                    std::thread::spawn(move || {
                        let mut x: u64 = 0x2545_f491_4f6c_dd1d ^ k;
                        let mut scrapes = 0;
                        while !stop.load(Ordering::Relaxed) {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            std::thread::sleep(Duration::from_micros(x % 3000));
                            if k == 0 {
                                batch::flush(FlushTrigger::Timer);
                            } else {
                                let _ = exporter::render_metrics();
                                scrapes += 1;
                            }
                        }
                        scrapes
                    })
                })
                .collect();
            let workers: Vec<_> = (0..THREADS)
                .map(|_| {
                    std::thread::spawn(move || {
                        for i in 0..PER_THREAD {
                            counter.inc();
                            seconds.inc_by(0.25);
                            // 0.5 and 2.0 are exact in binary: the sum must be exact too.
                            hist.observe(if i % 2 == 0 { 0.5 } else { 2.0 });
                        }
                    })
                })
                .collect();
            for w in workers {
                w.join().unwrap();
            }
            stop.store(true, Ordering::Relaxed);
            let scrapes: u64 = disturbers.into_iter().map(|d| d.join().unwrap()).sum();
            assert!(scrapes > 0, "scrapes ran concurrently");

            let samples = scrape();
            let total = (THREADS as u64 * PER_THREAD) as f64;
            assert_eq!(
                sample(
                    &samples,
                    "g6_option_contracts_new_total",
                    &[("dte", "long")]
                ),
                Some(total)
            );
            assert_eq!(
                sample(&samples, "g6_cpu_seconds_total", &[]),
                Some(total * 0.25)
            );
            assert_eq!(
                sample(&samples, "g6_lifecycle_scan_seconds_count", &[]),
                Some(total)
            );
            assert_eq!(
                sample(&samples, "g6_lifecycle_scan_seconds_sum", &[]),
                Some(total / 2.0 * 2.5)
            );
            // Buckets [0.01, 0.05, 0.1, 0.5, 1, 5, ...]: half the values in le=0.5, all in le=5.
            assert_eq!(
                sample(
                    &samples,
                    "g6_lifecycle_scan_seconds_bucket",
                    &[("le", "0.1")]
                ),
                Some(0.0)
            );
            assert_eq!(
                sample(
                    &samples,
                    "g6_lifecycle_scan_seconds_bucket",
                    &[("le", "0.5")]
                ),
                Some(total / 2.0)
            );
            assert_eq!(
                sample(&samples, "g6_lifecycle_scan_seconds_bucket", &[("le", "1")]),
                Some(total / 2.0)
            );
            assert_eq!(
                sample(&samples, "g6_lifecycle_scan_seconds_bucket", &[("le", "5")]),
                Some(total)
            );
            assert_eq!(
                sample(
                    &samples,
                    "g6_lifecycle_scan_seconds_bucket",
                    &[("le", "+Inf")]
                ),
                Some(total)
            );
        },
    );
}

#[test]
fn a_scrape_right_after_emission_sees_the_values() {
    in_own_process_with_env(
        module_path!(),
        "a_scrape_right_after_emission_sees_the_values",
        BATCH_ON,
        || {
            enable();
            let c = metrics::sse_events_sent_total(g6_metrics::labels::SseEvent::Heartbeat);
            c.inc_by(41);
            c.inc();
            let h = metrics::sse_flush_latency_seconds();
            h.observe(0.003);
            // Pending, not yet in the registry...
            assert!(g6_metrics::batch::pending() > 0);
            // ...but a scrape flushes first.
            let samples = scrape();
            assert_eq!(
                sample(
                    &samples,
                    "g6_sse_events_sent_total",
                    &[("sse_event", "heartbeat")]
                ),
                Some(42.0)
            );
            assert_eq!(
                sample(&samples, "g6_sse_flush_latency_seconds_count", &[]),
                Some(1.0)
            );
            assert_eq!(
                value(
                    "g6_metrics_batch_flushes_total",
                    &[("flush_trigger", "scrape")]
                ),
                Some(1.0),
                "one scrape, one scrape-triggered flush"
            );
            assert!(value("g6_metrics_batch_merged_total", &[]).unwrap() >= 2.0);
            let target = value("g6_metrics_batch_adaptive_target", &[]).unwrap();
            let cfg = batch::config();
            assert!(
                target >= cfg.min_batch && target <= cfg.max_batch,
                "{target}"
            );
            assert!(
                value("g6_metrics_batch_flush_duration_seconds", &[]).unwrap() >= 1.0,
                "flush durations observed"
            );
        },
    );
}

#[test]
fn a_thread_exit_flushes_what_it_left_pending() {
    in_own_process_with_env(
        module_path!(),
        "a_thread_exit_flushes_what_it_left_pending",
        BATCH_ON,
        || {
            enable();
            std::thread::spawn(|| metrics::stream_gate_skips_total("thread-exit-test").inc_by(7))
                .join()
                .unwrap();
            // Encoding does not flush: the value is there because the thread flushed.
            assert_eq!(
                value(
                    "g6_stream_gate_skips_total",
                    &[("reason", "thread-exit-test")]
                ),
                Some(7.0)
            );
            assert_eq!(
                value(
                    "g6_metrics_batch_flushes_total",
                    &[("flush_trigger", "thread_exit")]
                ),
                Some(1.0),
                "the one emitting thread that exited flushed once"
            );
        },
    );
}

#[test]
fn the_flusher_merges_on_its_own_within_max_wait() {
    in_own_process_with_env(
        module_path!(),
        "the_flusher_merges_on_its_own_within_max_wait",
        BATCH_ON,
        || {
            enable();
            metrics::lifecycle_deleted_files_total().inc_by(3);
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            loop {
                if value("g6_lifecycle_deleted_files_total", &[]) == Some(3.0) {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "no background flush within 5 s"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        },
    );
}

#[test]
fn kept_handles_of_removed_batched_series_leave_nothing_pending() {
    in_own_process_with_env(
        module_path!(),
        "kept_handles_of_removed_batched_series_leave_nothing_pending",
        BATCH_ON,
        || {
            enable();
            let counter = metrics::bus_dedupe_hits_total_with("batched-kept");
            let hist = metrics::bus_publish_latency_seconds_with("batched-kept");
            counter.inc_by(3);
            hist.observe(0.5);
            assert!(metrics::remove_bus_dedupe_hits_total("batched-kept"));
            assert!(metrics::remove_bus_publish_latency_seconds("batched-kept"));
            // Writes through the detached handles land in pending cells: a flush must
            // still merge them, or the batcher would count them pending for good.
            counter.inc_by(4);
            hist.observe(1.5);
            batch::flush(FlushTrigger::Scrape);
            assert_eq!(batch::pending(), 0, "a flush merges detached handles too");
            // Pending again, then the label sets return: the reset clears the cells and
            // takes them off the pending count.
            counter.inc_by(5);
            hist.observe(2.5);
            let counter_again = metrics::bus_dedupe_hits_total_with("batched-kept");
            let hist_again = metrics::bus_publish_latency_seconds_with("batched-kept");
            assert!(std::ptr::eq(counter, counter_again));
            assert!(std::ptr::eq(hist, hist_again));
            assert_eq!(batch::pending(), 0, "the reset cleared what was pending");
            assert_eq!(counter.get(), 0);
            assert_eq!(hist.sample_count(), 0);
            counter.inc_by(2);
            let all = scrape();
            assert_eq!(
                sample(&all, "g6_bus_dedupe_hits_total", &[("bus", "batched-kept")]),
                Some(2.0)
            );
            assert_eq!(
                sample(
                    &all,
                    "g6_bus_publish_latency_seconds_count",
                    &[("bus", "batched-kept")]
                ),
                Some(0.0)
            );
        },
    );
}
