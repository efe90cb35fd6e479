"""Topographic maps on natural image patches, three seeds: topography, Gabor fits, pinwheels.

Claim (issue 3, after Kavukcuoglu et al., CVPR 2009): on whitened patches of
natural images a group-sparse auto-encoder with overlapping pools on a torus
learns Gabor-like filters arranged so that neighbours share orientation, with
pinwheels. Targets: the mean orientation difference of neighbouring units is at
most 40 % of that of shuffled units (``neighbour_orientation_ratio`` ≤ 0.4);
Gabor fits explain ≥ 80 % of the variance of ≥ 80 % of the filters
(``gabor_fit_fraction`` ≥ 0.8); the number of pinwheels is reported.

Each seed is one ``ebmlab sparse topo`` run (default settings unless options
are given after ``--``) in its own process.

Usage::

    python benchmarks/bench_topo.py                       # 3 seeds, ~5 min on 2 cores
    python benchmarks/bench_topo.py --seeds 0 -- --lam 0.5 --steps 10000

Writes benchmarks/results/topo.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
KEYS = ("neighbour_orientation_ratio", "gabor_fit_fraction", "gabor_r2_median", "n_pinwheels",
        "relative_reconstruction_error", "whitened_dims", "invariance_ratio", "invariance_ratio_shift",
        "invariance_ratio_rotation")


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--parallel", type=int, default=2, help="runs at once (one torch thread each)")
    p.add_argument("--out", default=str(ROOT / "runs" / "bench-topo"))
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    start = time.time()
    rows, pending = [], list(seeds)
    running: dict[int, subprocess.Popen] = {}
    while pending or running:
        while pending and len(running) < args.parallel:
            seed = pending.pop(0)
            out = Path(args.out) / f"seed{seed}"
            cmd = [sys.executable, "-m", "ebmlab", "sparse", "topo", "--seed", str(seed), *extra, "--out", str(out)]
            running[seed] = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for seed, proc in list(running.items()):
            if proc.poll() is not None:
                del running[seed]
                if proc.returncode:
                    sys.exit(f"seed {seed} failed: {proc.stderr.read().strip()}")
                m = json.loads((Path(args.out) / f"seed{seed}" / "metrics.json").read_text())
                rows.append({"seed": seed, **{k: m[k] for k in KEYS}})
                print(json.dumps(rows[-1]), flush=True)
        time.sleep(1)
    rows.sort(key=lambda r: r["seed"])
    mean = {k: statistics.mean(r[k] for r in rows) for k in KEYS}
    result = {
        "benchmark": "topo",
        "command": "python benchmarks/bench_topo.py " + " ".join(sys.argv[1:]),
        "settings": extra or "defaults of ebmlab sparse topo",
        "rows": rows,
        "mean": mean,
        "targets": {"neighbour_orientation_ratio": "<= 0.4", "gabor_fit_fraction": ">= 0.8",
                    "invariance_ratio": ">= 1.5"},
        "reached": {"topography": all(r["neighbour_orientation_ratio"] <= 0.4 for r in rows),
                    "gabor": all(r["gabor_fit_fraction"] >= 0.8 for r in rows),
                    "invariance": all(r["invariance_ratio"] >= 1.5 for r in rows)},
        "wall_s": round(time.time() - start, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "topo.json").write_text(json.dumps(result, indent=1) + "\n")
    print("\n| seed | neighbour/shuffled orientation difference | filters with Gabor r² ≥ 0.8 | median r² | pinwheels "
          "| invariance pooled/single (shift, rotation) | rel. reconstruction error |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in [*rows, {"seed": "mean", **mean}]:
        print(f"| {r['seed']} | {r['neighbour_orientation_ratio']:.3f} | {100 * r['gabor_fit_fraction']:.0f} % | "
              f"{r['gabor_r2_median']:.3f} | {r['n_pinwheels']:.1f} | {r['invariance_ratio']:.2f} "
              f"({r['invariance_ratio_shift']:.2f}, {r['invariance_ratio_rotation']:.2f}) | "
              f"{r['relative_reconstruction_error']:.3f} |")
    print(f"\nreached: {result['reached']}; wrote benchmarks/results/topo.json ({result['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
