"""GANs (each loss) and a VAE on full Fashion-MNIST at equal wall-clock budget, over seeds.

Claim (issue 4): classifier-feature Fréchet distance, precision, recall, density
and coverage for DCGAN with each loss and for the VAE, at equal wall-clock
budget, with sample grids; the table says which wins on which metric.

Every model trains for ``--budget`` seconds (``--time-budget``: evaluation
excluded) on the 60,000 training images at 28×28, one torch thread per run,
``--parallel`` runs at once, so each gets the same share of the machine. Then
``--n-eval`` samples are compared with as many test images in the features of
ebmlab's Fashion-MNIST classifier (:mod:`ebmlab.metrics.features`; its test
accuracy is in the JSON). Models:

- DCGAN (nz 100, ngf = ndf = 32, batch 64, Adam 2e-4, β1 0.5) with the
  ``margin`` (EBGAN auto-encoder critic, m = 0.3, pulling-away 0.1), ``logistic``,
  ``least-squares`` and ``wasserstein`` (gradient penalty 10, 5 critic steps,
  Adam 1e-4, β = (0.5, 0.9), no BatchNorm in the critic) losses;
- the convolutional VAE (20 latents, Adam 1e-3, batch 128), samples decoded from z ~ N(0, I).

Usage::

    python benchmarks/bench_gan_fashion.py                      # 5 seeds × 5 models × 180 s
    python benchmarks/bench_gan_fashion.py --seeds 0 --budget 60

Writes benchmarks/results/gan_fashion[_<tag>].json, the sample grids of seed 0 as
docs/fashion_<model>.png, and prints a markdown table.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

from seed_runs import ROOT, run_seeds, write_result

DCGAN = ["gan", "train", "--data", "fashion-mnist", "--ngf", "32", "--ndf", "32"]
MODELS = {
    "margin": [*DCGAN, "--loss", "margin", "--margin", "0.3"],
    "logistic": [*DCGAN, "--loss", "logistic"],
    "least-squares": [*DCGAN, "--loss", "least-squares"],
    "wasserstein": [*DCGAN, "--loss", "wasserstein", "--n-critic", "5", "--lr", "1e-4", "--beta2", "0.9"],
    "vae": ["vae", "train", "--data", "fashion-mnist", "--arch", "conv"],
}
KEYS = (
    "fd",
    "precision",
    "recall",
    "density",
    "coverage",
    "diversity",
    "iterations",
    "feature_classifier_accuracy",
    "warn_mode_collapse",
    "warn_oscillation",
    "warn_vanishing_gradient",
)
LOWER_IS_BETTER = {"fd"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--budget", type=float, default=180.0, help="training seconds per run")
    p.add_argument("--n-eval", type=int, default=5000)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--tag", default="")
    p.add_argument("--out", default=str(ROOT / "runs" / f"bench-gan_fashion-{time.strftime('%Y%m%d-%H%M%S')}"))
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    start = time.time()
    result = {
        "command": "python benchmarks/bench_gan_fashion.py " + " ".join(sys.argv[1:]),
        "budget_s": args.budget,
        "models": {},
    }
    for name in args.models.split(","):
        command, options = MODELS[name][:2], MODELS[name][2:]
        extra = [
            *options,
            "--epochs",
            "1000",
            "--time-budget",
            str(args.budget),
            "--n-eval",
            str(args.n_eval),
            "--eval-every",
            "1000000000",
        ]
        if command[0] == "gan":
            extra += ["--sample-every", "1000000000"]
        rows = run_seeds(command, seeds, extra, Path(args.out) / name, KEYS, args.parallel)
        mean = {k: statistics.mean(r[k] for r in rows) for k in KEYS if all(k in r for r in rows)}
        sd = {k: statistics.pstdev(r[k] for r in rows) for k in KEYS if all(k in r for r in rows)}
        result["models"][name] = {
            "command": " ".join(["ebmlab", *command, *extra]),
            "rows": rows,
            "mean": mean,
            "sd": sd,
        }
        grid = Path(args.out) / name / f"seed{seeds[0]}" / "samples.png"
        if grid.exists():
            shutil.copy(grid, ROOT / "docs" / f"fashion_{name}.png")
    result["wall_s"] = round(time.time() - start, 1)
    out = "gan_fashion" + (f"_{args.tag}" if args.tag else "")
    write_result(out, result)
    metrics = ("fd", "precision", "recall", "density", "coverage", "diversity")
    best = {}
    for k in metrics:
        values = {n: m["mean"][k] for n, m in result["models"].items() if k in m["mean"]}
        best[k] = (min if k in LOWER_IS_BETTER else max)(values, key=values.get)
    print("\n| model | iterations | " + " | ".join(metrics) + " |")
    print("| --- | ---: |" + " ---: |" * len(metrics))
    for n, m in result["models"].items():
        cells = []
        for k in metrics:
            text = f"{m['mean'][k]:.3g} ± {m['sd'][k]:.2g}"
            cells.append(f"**{text}**" if best[k] == n else text)
        print(f"| {n} | {m['mean']['iterations']:.0f} | " + " | ".join(cells) + " |")
    print("\nwins: " + ", ".join(f"{k}: {v}" for k, v in best.items()))
    print(f"wrote benchmarks/results/{out}.json ({result['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
