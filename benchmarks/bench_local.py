"""Image-level topographic maps with local, unshared filters, three seeds: orientation map and pinwheels.

Claim (issue 3, after Kavukcuoglu et al., CVPR 2009): training the group-sparse
auto-encoder over whole images with locally connected filters (``ebmlab sparse
local``) also yields a topographic orientation map with pinwheels. Reported per
seed: the neighbour/shuffled orientation-difference ratio (< 1 means neighbours
share orientation), the number of pinwheels, the Gabor fits and the
reconstruction error.

Usage::

    python benchmarks/bench_local.py                      # 3 seeds, two at a time
    python benchmarks/bench_local.py --seeds 0 -- --lam 0.5

Writes benchmarks/results/local.json (local_<tag>.json with --tag) and prints a markdown table.
"""

from __future__ import annotations

from seed_runs import seed_bench, write_result

KEYS = (
    "neighbour_orientation_ratio",
    "neighbour_orientation_difference_deg",
    "shuffled_orientation_difference_deg",
    "n_pinwheels",
    "gabor_fit_fraction",
    "gabor_r2_median",
    "relative_reconstruction_error",
)


def main() -> None:
    result, name = seed_bench("local", ["sparse", "local"], KEYS, __doc__, parallel=2, tagged=True)
    rows, mean = result["rows"], result["mean"]
    write_result(name, result)
    print(
        "\n| seed | neighbour / shuffled orientation difference | neighbour, shuffled (°) | pinwheels "
        "| filters with Gabor r² ≥ 0.8 | median r² | rel. reconstruction error |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in [*rows, {"seed": "mean", **mean}]:
        print(
            f"| {r['seed']} | {r['neighbour_orientation_ratio']:.3f} | {r['neighbour_orientation_difference_deg']:.1f}, "
            f"{r['shuffled_orientation_difference_deg']:.1f} | {r['n_pinwheels']:.1f} | "
            f"{100 * r['gabor_fit_fraction']:.0f} % | {r['gabor_r2_median']:.3f} | "
            f"{r['relative_reconstruction_error']:.3f} |"
        )
    print(f"\nwrote benchmarks/results/{name}.json ({result['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
