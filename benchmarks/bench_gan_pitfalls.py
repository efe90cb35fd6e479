"""The GAN pitfalls made visible: the saturating vs the non-saturating logistic generator loss, same seed.

Claim (issue 4): the vanishing gradient is measured, not asserted — the norm of
the generator's gradient ‖∂L_g/∂θ_G‖ over training for the saturating loss
log(1 − D(G(z))) beside the non-saturating −log D(G(z)), on the same run seed
and data; the diagnostics (oscillation, vanishing gradient, mode collapse) that
each run flags; and what each loss ends with.

Each run is ``ebmlab gan train --loss logistic [--saturating] --seed S`` plus the
options after ``--`` (default: Fashion-MNIST at 28×28, DCGAN ngf = ndf = 32, 1 epoch).

Usage::

    python benchmarks/bench_gan_pitfalls.py                       # Fashion-MNIST, seed 0
    python benchmarks/bench_gan_pitfalls.py --seed 1 -- --data ring8 --epochs 4 --batch-size 100

Writes benchmarks/results/gan_pitfalls[_<tag>].json and docs/gan_pitfalls[_<tag>].png.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from seed_runs import ROOT, run_seeds, split_extra, write_result

DEFAULT = [
    "--data",
    "fashion-mnist",
    "--ngf",
    "32",
    "--ndf",
    "32",
    "--epochs",
    "1",
    "--log-every",
    "10",
    "--n-eval",
    "2000",
    "--eval-every",
    "200",
    "--sample-every",
    "1000000000",
]
KEYS = (
    "warn_oscillation",
    "warn_vanishing_gradient",
    "warn_mode_collapse",
    "oscillation_score",
    "generator_grad_ratio",
    "fd",
    "precision",
    "recall",
    "coverage",
    "diversity",
    "modes_captured",
    "high_quality",
    "reverse_kl",
)


def main() -> None:
    argv, extra = split_extra(sys.argv[1:])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tag", default="")
    p.add_argument("--out", default=str(ROOT / "runs" / f"bench-gan_pitfalls-{time.strftime('%Y%m%d-%H%M%S')}"))
    args = p.parse_args(argv)
    extra = extra or DEFAULT
    start = time.time()
    runs = {}
    for name, flag in (("non-saturating", []), ("saturating", ["--saturating"])):
        folder = Path(args.out) / name
        (row,) = run_seeds(["gan", "train"], [args.seed], ["--loss", "logistic", *flag, *extra], folder, KEYS, 2)
        log = [json.loads(line) for line in (folder / f"seed{args.seed}" / "metrics.jsonl").read_text().splitlines()]
        runs[name] = {
            "final": row,
            "grad": [(r["step"], r["grad_norm_g"]) for r in log if "grad_norm_g" in r],
            "gap": [(r["step"], r["energy_fake"] - r["energy_real"]) for r in log if "energy_real" in r],
        }
    result = {
        "command": "python benchmarks/bench_gan_pitfalls.py " + " ".join(sys.argv[1:]),
        "options": extra,
        "seed": args.seed,
        "runs": runs,
        "wall_s": round(time.time() - start, 1),
    }
    name = "gan_pitfalls" + (f"_{args.tag}" if args.tag else "")
    write_result(name, result)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for label, run in runs.items():
        axes[0].semilogy(*zip(*run["grad"]), label=label)
        axes[1].plot(*zip(*run["gap"]), label=label)
    axes[0].set_title("‖∂L_g/∂θ_G‖: the generator's gradient", fontsize=10)
    axes[1].set_title("energy gap F(ȳ) − F(y): generated minus real", fontsize=10)
    for ax in axes:
        ax.set_xlabel("iteration")
        ax.legend(fontsize=8)
    fig.suptitle(f"logistic GAN, same seed ({' '.join(extra[:2])})", fontsize=10)
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / f"{name}.png", dpi=110)
    print("\n| generator loss | " + " | ".join(KEYS) + " |")
    print("| --- |" + " ---: |" * len(KEYS))
    for label, run in runs.items():
        print(f"| {label} | " + " | ".join(f"{run['final'].get(k, float('nan')):.4g}" for k in KEYS) + " |")
    print(f"\nwrote benchmarks/results/{name}.json and docs/{name}.png ({result['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
