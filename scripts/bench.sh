#!/usr/bin/env bash
# Runs every criterion benchmark (peers side by side), counts instructions per
# operation under callgrind, and regenerates BENCHMARKS.md.
# Usage: scripts/bench.sh   (about 10 minutes; run on an otherwise idle machine)
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf target/criterion target/instructions   # no stale results from renamed benches
cargo bench --workspace
mkdir -p target/instructions
if command -v valgrind >/dev/null 2>&1; then
  cargo build -q --release --example instructions
  bin=target/release/examples/instructions
  # Instructions per op = (Ir at N ops - Ir at 0 ops) / N: setup cancels out.
  n=200000
  for op in $("$bin" list); do
    count() {
      valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$op" "$1" 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
    }
    base=$(count 0)
    full=$(count "$n")
    awk -v op="$op" -v f="$full" -v b="$base" -v n="$n" \
      'BEGIN { printf "%s %.1f\n", op, (f - b) / n }' >> target/instructions/per_op.txt
  done
else
  echo "valgrind not found: BENCHMARKS.md will have no instruction counts" >&2
fi
cargo run -q --release --example bench_report > BENCHMARKS.md.new
mv BENCHMARKS.md.new BENCHMARKS.md
echo "wrote BENCHMARKS.md"
