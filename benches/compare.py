#!/usr/bin/env python3
"""Compares two reef builds on the workloads of DESIGN.md §4, interleaved.

This VM's timings drift by up to 2x from hour to hour (the host moves the two vCPUs between
separate cores and one core's SMT siblings), so two builds are only comparable when measured
in turns within one run. Prints, per workload and build, the median over rounds of the median
forward and value_and_grad times (ms), the best value_and_grad time, the peak memory ratio and
the compile time.

Usage: python3 benches/compare.py OLD_REEF NEW_REEF [ROUNDS] [WORKLOAD ...]
(e.g. build the old commit with `git worktree add /tmp/old <commit>` and
`CARGO_TARGET_DIR=/tmp/old-target cargo build --release` in it.)
"""
import json
import statistics
import subprocess
import sys
from pathlib import Path

# name: (file, steps, batch, repeats)
WORKLOADS = {
    "A": ("a.net", 3000, 1, 20),
    "A200": ("a200.net", 3000, 1, 10),
    "A1000": ("a1000.net", 3000, 1, 5),
    "B": ("b.net", 1000, 1, 20),
    "C": ("c.net", 100, 3, 40),
    "D": ("d.net", 100, 3, 20),
    "E": ("e.net", 25, 128, 20),
}


def bench(binary, workload):
    file, steps, batch, repeats = WORKLOADS[workload]
    path = Path(__file__).parent / "workloads" / file
    command = [binary, "bench", str(path), "--steps", str(steps), "--batch", str(batch),
               "--repeats", str(repeats), "--json"]
    result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    return (result["forward"]["median_ms"], result["value_and_grad"]["median_ms"],
            result["value_and_grad"]["min_ms"], result["peak_bytes"] / result["needed_bytes"],
            result["compile_ms"])


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    builds = {"old": sys.argv[1], "new": sys.argv[2]}
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    chosen = sys.argv[4:] or list(WORKLOADS)
    results = {}
    for _ in range(rounds):
        for workload in chosen:
            for name, binary in builds.items():
                results.setdefault((workload, name), []).append(bench(binary, workload))
    for workload in chosen:
        line = [workload]
        for name in builds:
            rows = results[(workload, name)]
            forward = statistics.median(r[0] for r in rows)
            grad = statistics.median(r[1] for r in rows)
            best = min(r[2] for r in rows)
            line.append(f"{name}: forward {forward:.3f} v&g {grad:.3f} (best {best:.3f}) "
                        f"memory {rows[-1][3]:.2f} compile {statistics.median(r[4] for r in rows):.1f}")
        print(" | ".join(line), flush=True)


if __name__ == "__main__":
    main()
