#!/usr/bin/env bash
# Runs every criterion benchmark (peers side by side) and regenerates BENCHMARKS.md.
# Usage: scripts/bench.sh   (takes a few minutes; run on an otherwise idle machine)
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf target/criterion   # no stale results from renamed benches
cargo bench --workspace
cargo run -q --release --example bench_report > BENCHMARKS.md.new
mv BENCHMARKS.md.new BENCHMARKS.md
echo "wrote BENCHMARKS.md"
