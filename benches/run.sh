#!/usr/bin/env bash
# Runs reef's benchmark on the workloads of DESIGN.md §4 (release build) and prints one JSON
# line per workload. Not part of the test suite: timings depend on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
reef=./target/release/reef
w=benches/workloads
run() { printf '%s ' "$1"; shift; "$reef" bench "$@" --json; }
run A     $w/a.net     --steps 3000 --baseline
run A200  $w/a200.net  --steps 3000 --baseline
run A1000 $w/a1000.net --steps 3000 --repeats 5 --baseline
run B     $w/b.net     --steps 1000
run C     $w/c.net     --steps 100 --batch 3
run D     $w/d.net     --steps 100 --batch 3
run E     $w/e.net     --steps 25 --batch 128
