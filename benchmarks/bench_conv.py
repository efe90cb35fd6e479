"""Convolutional group-sparse features on Fashion-MNIST, three seeds: linear probe and invariance.

Claim (issue 3, after Kavukcuoglu et al., CVPR 2009 and Jarrett et al., ICCV
2009): a linear classifier on the pooled maps of two stacked convolutional
group-sparse auto-encoders reaches >= 89 % test accuracy on the full
Fashion-MNIST, reported beside raw pixels, random filters of the same shape (the
same feature size) and one layer only; pooled outputs are >= 1.5x more
invariant than single units to 1-2 pixel shifts and 5-15 degree rotations.

Each seed is one ``ebmlab sparse conv`` run (defaults unless options are given
after ``--``, e.g. ``-- --device cuda``) in its own process.

Usage::

    python benchmarks/bench_conv.py                        # 3 seeds, ~30 min on 2 cores
    python benchmarks/bench_conv.py --tag h200 -- --device cuda
    python benchmarks/bench_conv.py --tag pool4 -- --lam 0.3 --pool 4 --map-pool 2 --channels 32 --kernels 7

Writes benchmarks/results/conv.json (conv_<tag>.json with --tag) and prints a markdown table.
"""

from __future__ import annotations

from seed_runs import seed_bench, write_result

KEYS = (
    "probe_accuracy",
    "probe_accuracy_layer1",
    "probe_accuracy_random",
    "probe_accuracy_random_layer1",
    "probe_accuracy_pixels",
    "invariance_ratio_layer1",
    "invariance_ratio_layer1_shift",
    "invariance_ratio_layer1_rotation",
    "invariance_ratio_layer2",
    "relative_reconstruction_error_layer1",
    "relative_reconstruction_error_layer2",
    "feature_dims",
)


def main() -> None:
    result, name = seed_bench("conv", ["sparse", "conv"], KEYS, __doc__, parallel=1, tagged=True)
    rows, mean = result["rows"], result["mean"]
    result["targets"] = {
        "probe_accuracy": ">= 0.89",
        "invariance_ratio_layer1_shift": ">= 1.5",
        "invariance_ratio_layer1_rotation": ">= 1.5",
    }
    result["reached"] = {
        "probe": all(r["probe_accuracy"] >= 0.89 for r in rows),
        "invariance": all(
            min(r["invariance_ratio_layer1_shift"], r["invariance_ratio_layer1_rotation"]) >= 1.5 for r in rows
        ),
    }
    write_result(name, result)

    def pct(r, k):
        return f"{100 * r[k]:.2f} %" if k in r else "–"

    def num(r, k):
        return f"{r[k]:.2f}" if k in r else "–"

    print(
        "\n| seed | trained layers | 1 trained layer | random layers | 1 random layer | pixels "
        "| invariance pooled/single, layer 1 (shift, rotation) | layer 2 | rel. reconstruction error (layer 1, 2) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in [*rows, {"seed": "mean", **mean}]:
        print(
            f"| {r['seed']} | {pct(r, 'probe_accuracy')} | {pct(r, 'probe_accuracy_layer1')} | "
            f"{pct(r, 'probe_accuracy_random')} | {pct(r, 'probe_accuracy_random_layer1')} | "
            f"{pct(r, 'probe_accuracy_pixels')} | {num(r, 'invariance_ratio_layer1')} "
            f"({num(r, 'invariance_ratio_layer1_shift')}, {num(r, 'invariance_ratio_layer1_rotation')}) | "
            f"{num(r, 'invariance_ratio_layer2')} | {r['relative_reconstruction_error_layer1']:.3f}, "
            f"{num(r, 'relative_reconstruction_error_layer2')} |"
        )
    print(f"\nreached: {result['reached']}; wrote {name}.json ({result['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
