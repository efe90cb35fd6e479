"""LISTA vs ISTA / FISTA / CoD: code prediction error against iterations, and encoding time.

Reproduces the setup of Gregor & LeCun, "Learning Fast Approximations of
Sparse Coding" (ICML 2010), Figure 3, on the photographs bundled with
scikit-image:

* 10×10 patches (``ebmlab.data.load_patches``: mean removed, contrast-normalised
  to unit L2 norm, no whitening), dictionaries of m = 100 and m = 400 atoms
  learned by ``ebmlab.sparse.dictionary.learn_dictionary`` on the training
  patches, λ = 0.1 for both (see LAM below: on unit-norm patches it gives codes
  with about 12 % (m = 100) and 5 % (m = 400) non-zeros);
* exact optimal codes Z* (feature-sign search; FISTA run to convergence gives
  the same codes to ~1e-7, about 100× slower); LISTA encoders with
  T = 1, 2, 3, 5, 10 trained with Adam to predict them (``ebmlab.sparse.train_lista``);
* on held-out patches: err(Z) = Σ‖Z − Z*‖² / Σ‖Z*‖² for LISTA with T steps and
  for ISTA, FISTA and CoD after k = 1 … 1000 iterations from z = 0 (CoD: one
  iteration = one coordinate update per patch, as in the paper's Algorithm 2);
  and the number of FISTA iterations needed to reach each LISTA's error;
* beside the paper's (tied) LISTA, untied ones (``--no-tied``: every step its
  own W_e, θ and S = I − W_e W_d) at m = 100 and 400 for T = 1, 3, 5, trained on 500,000 patches;
* encoding time of 10,000 other patches (one thread): LISTA with T steps vs
  FISTA run for exactly the iterations that reach the same error (median of
  5 timings each, after one warm-up); FISTA is timed for T ∈ {1, 3, 5} only,
  to keep the run within its time budget.

Targets (issue 2): for T ∈ {1, 3, 5}, FISTA needs ≥ 10·T iterations to reach
LISTA's error; encoding with a trained LISTA takes ≤ 1/10 of FISTA's time for
the same error.

Writes benchmarks/results/NAME.json and benchmarks/results/NAME_error_vs_iterations.png (NAME: --name, lista)
and prints a markdown table. ``--quick`` runs a small version (2,000 training patches,
3 epochs; under a minute) that checks the pipeline: its numbers are not the claim.

    python benchmarks/bench_lista.py            # all four runs, ~30 minutes (one thread)
    python benchmarks/bench_lista.py --quick
    python benchmarks/bench_lista.py --runs m100,m400   # the paper's tied LISTA only
    python benchmarks/bench_lista.py --runs m400-untied --name lista_m400_untied
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ebmlab.data import load_patches  # noqa: E402
from ebmlab.runtime import Run  # noqa: E402
from ebmlab.sparse.solvers import fista  # noqa: E402
from ebmlab.sparse.train_lista import ListaConfig, load_lista, plot_error_vs_iterations, train_lista  # noqa: E402

LAM = 0.1
STEPS = (1, 2, 3, 5, 10)
TARGET_T = (1, 3, 5)
ITERS = (1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 200, 500, 1000)

# The runs: (dictionary size m, tied as in the paper or untied, steps T, sample sizes).
# The optimal codes are exact (feature-sign search), so training data is cheap; training
# time is what limits n_train × epochs. Even the tied encoders overfit 20,000 patches
# (m = 100, T = 1: train error 0.085, test 0.107; on 200,000: 0.091 and 0.094; m = 400 on
# 60,000, T = 5: train 0.139, test 0.190; on 200,000: 0.129, 0.150). The untied encoder has about T + 1 times
# the parameters (m = 400, T = 3 on 20,000: train 0.091, test 0.176; on 200,000: 0.072, 0.090).
RUNS = {
    "m100": dict(
        m=100,
        tied=True,
        steps=STEPS,
        sizes=dict(n_train=200000, n_test=1000, epochs=5, batch_size=100, lr=3e-3, dict_steps=1000),
    ),
    "m400": dict(
        m=400,
        tied=True,
        steps=STEPS,
        sizes=dict(n_train=200000, n_test=1000, epochs=3, batch_size=300, lr=1e-3, dict_steps=1000),
    ),
    "m100-untied": dict(
        m=100,
        tied=False,
        steps=TARGET_T,
        sizes=dict(n_train=500000, n_test=1000, epochs=20, batch_size=100, lr=1e-3, dict_steps=1000),
    ),
    "m400-untied": dict(
        m=400,
        tied=False,
        steps=TARGET_T,
        sizes=dict(n_train=500000, n_test=1000, epochs=10, batch_size=300, lr=1e-3, dict_steps=1000),
    ),
}
# --quick: every run on small sizes, each keeping its learning rate
QUICK_SIZES = dict(n_train=2000, n_test=300, epochs=3, batch_size=100, dict_steps=100)
QUICK_ITERS = (1, 2, 3, 5, 10, 20, 30, 50, 100, 200)


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_one(
    name: str, m: int, tied: bool, steps, sizes: dict, iters, n_encode: int, repeats: int, workdir: Path
) -> dict:
    cfg = ListaConfig(
        n_atoms=m,
        lam=LAM,
        steps=tuple(steps),
        tied=tied,
        solver_iters=tuple(iters),
        checkpoint_every=10**9,
        log_every=100,
        device="cpu",
        **sizes,
    )
    run = Run.create("sparse", "lista", cfg, out=workdir / f"lista-{name}")
    t0 = time.time()
    metrics = train_lista(cfg, run)
    run.close()
    train_s = time.time() - t0

    D = load_lista(run.dir)[1]
    X = load_patches(n_encode, size=cfg.patch_size, seed=cfg.seed + 1)  # patches unseen in training

    result = {
        "m": m,
        "tied": tied,
        "config": {k: v for k, v in sizes.items()},
        "train_s": round(train_s, 1),
        "optimal_code_density": metrics["optimal_code_density"],
        "lista": {},
        "curves": {},
    }
    for solver in ("ista", "fista", "cod"):
        result["curves"][solver] = [metrics[f"{solver}_code_error_k{k}"] for k in iters]
    fista_times: dict[int, float] = {}
    with torch.no_grad():
        for T in steps:
            model = load_lista(run.dir, steps=T)[0]
            k_match = int(metrics[f"fista_iters_to_match_T{T}"])
            t_lista = median_time(lambda: model(X), repeats)
            if T in TARGET_T and k_match <= max(iters):  # FISTA timed for the target T only (time budget)
                if k_match not in fista_times:
                    fista_times[k_match] = median_time(lambda: fista(X, D, LAM, max_iter=k_match, tol=0.0), repeats)
                t_fista = fista_times[k_match]
            else:
                t_fista = float("nan")
            result["lista"][T] = {
                "code_error": metrics[f"code_error_T{T}"],
                "train_code_error": metrics[f"train_code_error_T{T}"],
                "fista_iters_to_match": k_match,
                "lista_encode_s": t_lista,
                "fista_encode_s": t_fista,
                "untrained_code_error": metrics[f"untrained_code_error_T{T}"],
                "time_ratio": t_lista / t_fista,
            }
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, about a minute")
    p.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated runs among {', '.join(RUNS)}")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="folder for NAME.json and the figure")
    p.add_argument("--name", default="lista", help="results file NAME.json and figure NAME_error_vs_iterations.png")
    p.add_argument("--threads", type=int, default=1, help="torch threads (timings use the same for both)")
    p.add_argument("--replot", action="store_true", help="only redraw the figure of an existing NAME.json")
    args = p.parse_args()
    if args.replot:
        report = json.loads((Path(args.out) / f"{args.name}.json").read_text())
        save_figure(report["results"], report["iters"], Path(args.out) / f"{args.name}_error_vs_iterations.png")
        return
    torch.set_num_threads(args.threads)
    runs = {name: spec | {"sizes": spec["sizes"] | QUICK_SIZES} for name, spec in RUNS.items()} if args.quick else RUNS
    iters = QUICK_ITERS if args.quick else ITERS
    n_encode = 2000 if args.quick else 10000
    names = [n for n in args.runs.split(",") if n]
    unknown = sorted(set(names) - set(runs))
    if unknown:
        p.error(f"unknown run(s) {', '.join(unknown)}; choose among {', '.join(runs)}")

    t0 = time.time()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            results[name] = run_one(name, **runs[name], iters=iters, n_encode=n_encode, repeats=5, workdir=Path(tmp))
            print(f"{name}: done in {time.time() - t0:.0f} s", file=sys.stderr)

    targets = {}
    for name, r in results.items():
        for T in TARGET_T:
            row = r["lista"][T]
            targets[f"{name}_T{T}_fista_iters_ge_10T"] = row["fista_iters_to_match"] >= 10 * T
            targets[f"{name}_T{T}_time_ratio_le_0.1"] = row["time_ratio"] <= 0.1

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "lista",
        "paper": "Gregor & LeCun, Learning Fast Approximations of Sparse Coding, ICML 2010, Fig. 3",
        "command": "python benchmarks/bench_lista.py"
        + (" --quick" if args.quick else "")
        + ("" if args.runs == ",".join(RUNS) else f" --runs {args.runs}")
        + ("" if args.name == "lista" else f" --name {args.name}"),
        "quick": args.quick,
        "lam": LAM,
        "patch_size": 10,
        "preprocessing": "mean removed, contrast-normalised to unit L2 norm, no whitening",
        "error": "sum_i ||Z_i - Z*_i||^2 / sum_i ||Z*_i||^2 on held-out patches",
        "optimizer": "Adam, lr per encoder lr*min(1, (5/T)^2), cosine decay to 0.1 of its start (sizes per m in config)",
        "optimal_codes": "exact, feature-sign search (tolerance 1e-6 on the optimality conditions)",
        "dictionary": "ebmlab.sparse.dictionary.learn_dictionary, FISTA inference (50 iterations), batches of 256",
        "iters": list(iters),
        "n_encode": n_encode,
        "timing": f"median of 5 after a warm-up, torch threads = {args.threads}, device cpu",
        "torch": torch.__version__,
        "total_s": round(time.time() - t0, 1),
        "results": results,
        "targets": targets,
    }
    (out / f"{args.name}.json").write_text(json.dumps(report, indent=1))
    save_figure(results, iters, out / f"{args.name}_error_vs_iterations.png")
    print(markdown(results, iters))
    print()
    for name, ok in targets.items():
        print(f"- {name}: {'reached' if ok else 'NOT reached'}")


def save_figure(results: dict, iters, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(4.2 * len(results), 7.2), squeeze=False)
    for ax, r in zip(axes[1], results.values()):  # second row: error against encoding time
        timed = {int(T): row for T, row in r["lista"].items() if row["fista_encode_s"] == row["fista_encode_s"]}
        for T, row in timed.items():
            ax.plot([row["lista_encode_s"], row["fista_encode_s"]], [row["code_error"]] * 2, ":", color="gray", lw=1)
            ax.annotate(
                f"T = {T}: {row['time_ratio']:.3f}",
                (row["lista_encode_s"], row["code_error"]),
                textcoords="offset points",
                xytext=(0, 6),
                fontsize=7,
            )
            ax.annotate(
                f"{row['fista_iters_to_match']} it.",
                (row["fista_encode_s"], row["code_error"]),
                textcoords="offset points",
                xytext=(5, -3),
                fontsize=7,
            )
        rows = list(timed.values())
        ax.plot(
            [x["lista_encode_s"] for x in rows],
            [x["code_error"] for x in rows],
            "o-",
            color="C3",
            ms=4,
            label="LISTA, T steps",
        )
        ax.plot(
            [x["fista_encode_s"] for x in rows],
            [x["code_error"] for x in rows],
            "s-",
            color="C1",
            ms=4,
            label="FISTA, iterations to the same error",
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.margins(x=0.25, y=0.25)
        ax.set_xlabel("s to encode 10,000 patches (1 thread)")
        ax.set_ylabel("code prediction error")
        ax.set_title("time for the same error (ratio LISTA / FISTA)", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    for ax, r in zip(axes[0], results.values()):
        kind = "" if r["tied"] else ", untied LISTA"
        sub = plot_error_vs_iterations(
            {int(T): row["code_error"] for T, row in r["lista"].items()},
            iters,
            r["curves"],
            title=f"10×10 patches, m = {r['m']}, λ = {LAM:g}{kind}",
        )
        src = sub.axes[0]
        for line in src.get_lines():
            ax.plot(
                line.get_xdata(),
                line.get_ydata(),
                line.get_linestyle(),
                marker=line.get_marker(),
                color=line.get_color(),
                lw=line.get_linewidth(),
                ms=line.get_markersize(),
                label=line.get_label(),
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(src.get_xlabel())
        ax.set_ylabel(src.get_ylabel())
        ax.set_title(src.get_title(), fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
        plt.close(sub)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def markdown(results: dict, iters) -> str:
    lines = [
        "| run | T | LISTA error | untrained (= ISTA, T+1 iters) | FISTA iters to match (target ≥ 10·T) | LISTA encode (s) | FISTA encode (s) | time ratio (target ≤ 0.1) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        for T, row in r["lista"].items():
            k = row["fista_iters_to_match"]
            ks = f"{k}" if k <= max(iters) else f"> {max(iters)}"
            timed = row["fista_encode_s"] == row["fista_encode_s"]  # not NaN
            tf = f"{row['fista_encode_s']:.3f}" if timed else "–"
            ratio = f"{row['time_ratio']:.3f}" if timed else "–"
            lines.append(
                f"| {name} | {T} | {row['code_error']:.4f} | {row['untrained_code_error']:.3f} | {ks} | "
                f"{row['lista_encode_s']:.4f} | {tf} | {ratio} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
