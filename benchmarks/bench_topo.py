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

from seed_runs import seed_bench, write_result

KEYS = (
    "neighbour_orientation_ratio",
    "gabor_fit_fraction",
    "gabor_r2_median",
    "gabor_fit_fraction_whitened",
    "gabor_r2_median_whitened",
    "n_pinwheels",
    "relative_reconstruction_error",
    "whitened_dims",
    "invariance_ratio",
    "invariance_ratio_shift",
    "invariance_ratio_rotation",
)


def main() -> None:
    result, name = seed_bench("topo", ["sparse", "topo"], KEYS, __doc__, parallel=2)
    rows, mean = result["rows"], result["mean"]
    result["targets"] = {
        "neighbour_orientation_ratio": "<= 0.4",
        "gabor_fit_fraction": ">= 0.8",
        "invariance_ratio": ">= 1.5",
    }
    result["reached"] = {
        "topography": all(r["neighbour_orientation_ratio"] <= 0.4 for r in rows),
        "gabor": all(r["gabor_fit_fraction"] >= 0.8 for r in rows),
        "invariance": all(r["invariance_ratio"] >= 1.5 for r in rows),
    }
    write_result(name, result)
    print(
        "\n| seed | neighbour/shuffled orientation difference | filters with Gabor r² ≥ 0.8 | median r² "
        "| same in whitened coordinates (median) | pinwheels "
        "| invariance pooled/single (shift, rotation) | rel. reconstruction error |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in [*rows, {"seed": "mean", **mean}]:
        print(
            f"| {r['seed']} | {r['neighbour_orientation_ratio']:.3f} | {100 * r['gabor_fit_fraction']:.0f} % | "
            f"{r['gabor_r2_median']:.3f} | {100 * r['gabor_fit_fraction_whitened']:.0f} % "
            f"({r['gabor_r2_median_whitened']:.3f}) | {r['n_pinwheels']:.1f} | {r['invariance_ratio']:.2f} "
            f"({r['invariance_ratio_shift']:.2f}, {r['invariance_ratio_rotation']:.2f}) | "
            f"{r['relative_reconstruction_error']:.3f} |"
        )
    print(f"\nreached: {result['reached']}; wrote benchmarks/results/topo.json ({result['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
