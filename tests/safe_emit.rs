//! `#[safe_emit]`: failures are counted and logged once, and never reach the caller.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{value, with_logs};
use g6_metrics::safe_emit;

fn failures(emitter: &str) -> (Option<f64>, Option<f64>) {
    (
        value("g6_emission_failures_total", &[("emitter", emitter)]),
        value("g6_emission_failure_once_total", &[("emitter", emitter)]),
    )
}

#[safe_emit(emitter = "test::always_panics")]
fn always_panics(n: u32) {
    if n < 100 {
        panic!("boom {n}");
    }
}

#[test]
fn three_panics_count_three_failures_once_and_log_once() {
    let ((), logs) = with_logs(|| {
        for i in 0..3 {
            always_panics(i);
        }
    });
    assert_eq!(failures("test::always_panics"), (Some(3.0), Some(1.0)));
    assert_eq!(
        logs.matches("emission failed").count(),
        1,
        "one first-failure log:\n{logs}"
    );
    assert!(
        logs.contains("boom 0"),
        "the first failure is logged with its error:\n{logs}"
    );
    assert!(
        logs.contains("tests/safe_emit.rs"),
        "with the panic location:\n{logs}"
    );
    assert!(
        !logs.contains("boom 1"),
        "later failures are rate-limited:\n{logs}"
    );
    assert_eq!(g6_metrics::emission::failures("test::always_panics"), 3);
}

#[safe_emit]
fn maybe(v: Option<u8>) -> Option<u8> {
    let x = v?;
    if x == 0 {
        panic!("zero");
    }
    Some(x * 2)
}

#[test]
fn option_returns_none_on_panic_and_none_is_not_a_failure() {
    let emitter = concat!(module_path!(), "::maybe");
    assert_eq!(maybe(Some(4)), Some(8));
    assert_eq!(maybe(None), None);
    assert_eq!(
        failures(emitter),
        (Some(0.0), Some(0.0)),
        "a plain None is not a failure (the series are warm from the first call)"
    );
    assert_eq!(maybe(Some(0)), None);
    assert_eq!(failures(emitter), (Some(1.0), Some(1.0)));
}

// The field is read through Debug, by the failure log.
#[derive(Debug)]
struct PublishError(#[allow(dead_code)] &'static str);

#[safe_emit(emitter = "test::publish")]
fn publish(ok: bool) -> Result<u32, PublishError> {
    if !ok {
        return Err(PublishError("bus closed"));
    }
    let n: u32 = "7".parse().map_err(|_| PublishError("parse"))?;
    Ok(n)
}

#[test]
fn result_becomes_option_and_errors_are_recorded_with_their_debug_form() {
    let (r, logs) = with_logs(|| (publish(true), publish(false), publish(false)));
    assert_eq!(r, (Some(7), None, None));
    assert_eq!(failures("test::publish"), (Some(2.0), Some(1.0)));
    assert!(
        logs.contains("PublishError(\\\"bus closed\\\")")
            || logs.contains("PublishError(\"bus closed\")"),
        "{logs}"
    );
}

struct Emitter {
    calls: u32,
}

impl Emitter {
    #[safe_emit(emitter = "test::method")]
    fn emit(&mut self) {
        self.calls += 1;
        if self.calls == 2 {
            panic!("second call");
        }
    }
}

#[test]
fn methods_with_mut_self_work() {
    let mut e = Emitter { calls: 0 };
    e.emit();
    e.emit();
    e.emit();
    assert_eq!(e.calls, 3);
    assert_eq!(failures("test::method"), (Some(1.0), Some(1.0)));
}

#[safe_emit(emitter = "test::async_panics")]
async fn async_panics(yield_first: bool) {
    if yield_first {
        tokio::task::yield_now().await;
    }
    panic!("async boom");
}

#[safe_emit(emitter = "test::async_result")]
async fn async_result(fail: bool) -> Result<&'static str, String> {
    tokio::task::yield_now().await;
    if fail {
        Err("nope".to_string())
    } else {
        Ok("sent")
    }
}

#[test]
fn a_panic_inside_an_async_fn_does_not_take_the_task_down() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let task = tokio::spawn(async {
            async_panics(true).await;
            async_panics(false).await;
            "task finished"
        });
        assert_eq!(task.await.expect("task must not die"), "task finished");
        assert_eq!(async_result(false).await, Some("sent"));
        assert_eq!(async_result(true).await, None);
    });
    assert_eq!(failures("test::async_panics"), (Some(2.0), Some(1.0)));
    assert_eq!(failures("test::async_result"), (Some(1.0), Some(1.0)));
}
