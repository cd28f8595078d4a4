#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 60), seeded with the repo's
# fixtures; fails on the first crash (its input is left in fuzz/artifacts/<target>/).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
# Needs the nightly toolchain (`cargo +nightly`) and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(spec promql nse_json rows window_diff exposition migrate)
fi
# Seeds per target (read only); new inputs go to target/fuzz-corpus/<target>.
seeds() {
  case "$1" in
    spec) echo tests/fixtures tests/fixtures/bad tests/fixtures/diff tests/fixtures/migrate ;;
    promql) echo fuzz/seeds/promql ;;
    nse_json) echo tests/fixtures/chains ;;
    rows) echo tests/fixtures/chains ;;
    window_diff) echo ;;
    exposition) echo fuzz/seeds/exposition ;;
    migrate) echo tests/fixtures/migrate tests/fixtures ;;
  esac
}
# A debug build without a sanitizer or debug info: the targets are safe Rust (a panic
# is the crash libFuzzer reports), and it builds in a fraction of the time of a
# release + ASan one.
export CARGO_PROFILE_DEV_DEBUG=0
cargo +nightly fuzz build --dev --sanitizer none --fuzz-dir fuzz
for t in "${targets[@]}"; do
  corpus="target/fuzz-corpus/$t"
  # Crash inputs of earlier runs are moved aside: only this run's findings count.
  if ls "fuzz/artifacts/$t"/* >/dev/null 2>&1; then
    mkdir -p "target/fuzz-old-artifacts/$t"
    mv "fuzz/artifacts/$t"/* "target/fuzz-old-artifacts/$t/"
  fi
  mkdir -p "$corpus" "fuzz/artifacts/$t"
  echo "==> fuzz $t for ${seconds}s"
  out="target/fuzz-$t.log"
  set +e
  # shellcheck disable=SC2046
  cargo +nightly fuzz run --dev --sanitizer none --fuzz-dir fuzz "$t" "$corpus" $(seeds "$t") -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 >"$out" 2>&1
  status=$?
  set -e
  grep -E "^(Done|stat::number_of_executed_units|stat::average_exec_per_sec|==[0-9]+== ERROR|thread .* panicked|SUMMARY)" "$out" || true
  if [ "$status" -ne 0 ] || ls "fuzz/artifacts/$t"/crash-* "fuzz/artifacts/$t"/timeout-* "fuzz/artifacts/$t"/oom-* >/dev/null 2>&1; then
    tail -n 30 "$out" >&2
    echo "fuzz $t failed (exit $status); a crash input, if any, is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  if ! grep -qE "^Done [0-9]+ runs" "$out"; then
    tail -n 30 "$out" >&2
    echo "fuzz $t did not run (no 'Done N runs' line)" >&2
    exit 1
  fi
done
echo "fuzz: no crash in ${#targets[@]} targets"
