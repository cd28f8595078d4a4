#!/usr/bin/env bash
# The one test command: installs what the tests need, then runs every check CI runs.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }

# promtool and a real Prometheus (Debian's prometheus package) for the exposition,
# rule and end-to-end tests.
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  step "installing prometheus (promtool + server) from Debian"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
command -v promtool >/dev/null || { echo "promtool is required and was not installed"; exit 1; }

# Alertmanager 0.25 and amtool (Debian's prometheus-alertmanager) for the generated
# Alertmanager configuration: amtool check-config, routing tests, and the end-to-end
# notification test.
if ! command -v prometheus-alertmanager >/dev/null 2>&1 || ! command -v amtool >/dev/null 2>&1; then
  step "installing prometheus-alertmanager (server + amtool) from Debian"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null
fi
command -v amtool >/dev/null || { echo "amtool is required and was not installed"; exit 1; }
command -v prometheus-alertmanager >/dev/null || { echo "prometheus-alertmanager is required and was not installed"; exit 1; }

# nats-server (the JetStream bus tests) and protoc (reads our messages with the
# published .proto). Debian installs nats-server into /usr/sbin.
export PATH="$PATH:/usr/sbin:/sbin"
if ! command -v nats-server >/dev/null 2>&1 || ! command -v protoc >/dev/null 2>&1; then
  step "installing nats-server and protobuf-compiler from Debian"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nats-server protobuf-compiler >/dev/null
fi
command -v nats-server >/dev/null || { echo "nats-server is required and was not installed"; exit 1; }

# clickhouse-server (the ClickHouse store tests start their own, from a config of theirs).
if ! command -v clickhouse-server >/dev/null 2>&1; then
  step "installing clickhouse-server from Debian"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clickhouse-server >/dev/null
fi
command -v clickhouse-server >/dev/null || { echo "clickhouse-server is required and was not installed"; exit 1; }

# Headless Chromium and chromedriver (the /live page is tested in a real browser).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  step "installing chromium and chromium-driver from Debian"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
command -v chromium >/dev/null || { echo "chromium is required and was not installed"; exit 1; }
command -v chromedriver >/dev/null || { echo "chromedriver is required and was not installed"; exit 1; }
command -v protoc >/dev/null || { echo "protoc is required and was not installed"; exit 1; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets -- -D warnings

# The fuzz targets build with nightly in the background while the tests run (much of
# the test time waits on servers), at a lower priority.
cargo +nightly --version >/dev/null 2>&1 || { echo "the nightly toolchain is required for cargo fuzz (rustup toolchain install nightly)"; exit 1; }
if ! cargo fuzz --version >/dev/null 2>&1; then
  step "installing cargo-fuzz from crates.io"
  cargo install cargo-fuzz --locked --quiet
fi
fuzz_log=$(mktemp)
CARGO_PROFILE_DEV_DEBUG=0 nice -n 10 cargo +nightly fuzz build --dev --sanitizer none --fuzz-dir fuzz >"$fuzz_log" 2>&1 &
fuzz_build=$!

# Includes tests/engine/module_cycles.rs (no module import cycle in any crate) and
# tests/engine/engine_layout.rs (which crate may depend on which).
# Tests that need a server or a tool are #[ignore = "needs …"]: --include-ignored runs
# them here, after the installs above, and a missing tool fails them.
step "cargo test (workspace)"
log=$(mktemp)
trap 'kill "$fuzz_build" 2>/dev/null || true; rm -f "$log" "$fuzz_log"' EXIT
cargo test --workspace -- --include-ignored 2>&1 | tee "$log"
totals=$(grep -E '^test result: ' "$log" | sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/' | awk '{p+=$1; f+=$2} END {print p+0, f+0}')

step "drift gate: generated/ matches what the build writes"
cargo run -q -- generate --check
if [ -d .git ] && command -v git >/dev/null 2>&1; then
  changes=$(git status --porcelain -- generated/)
  if [ -n "$changes" ]; then
    echo "generated/ differs from the commit (run cargo build and commit generated/):"
    echo "$changes"
    git --no-pager diff --stat -- generated/
    exit 1
  fi
fi
# Fuzz smoke: every cargo-fuzz target for a bounded time, seeded with the fixtures;
# a crash fails the run (scripts/fuzz.sh runs them for longer). Built above, beside
# the tests.
step "fuzz smoke (cargo +nightly fuzz, 8 s per target)"
wait "$fuzz_build" || { cat "$fuzz_log"; echo "building the fuzz targets failed"; exit 1; }
bash scripts/fuzz.sh 8

echo "all checks passed"
read -r passed failed <<<"$totals"
echo "tests: ${passed} passed, ${failed} failed"
