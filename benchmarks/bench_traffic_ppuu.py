"""PPUU on simulated dense traffic: every driver of the paper's table, trained on recordings only, one table.

Claim (issue 20): in replay mode on the test cars (≥ 500), MPUR ≥ 90 % success
(mean of 3 seeds, none below 85 %), with MPUR > MPER > 1-step imitation beside
no action, the recorded driver, gradient MPC and PPO, and MPUR through the
stochastic model against the deterministic one. The paper on I-80: MPUR 74.8 %,
human 100 %, no action 16.2 %, 1-step imitation near 0.

Stages, each an ordinary run folder under ``--runs`` (default runs/bench-traffic)
and a row of benchmarks/results/traffic_ppuu.json written as it finishes (rows
already there are skipped, so the benchmark can be split over sessions; the
``date`` of each row says which ran together):

1. ``record``: 12 simulations × 300 s (``ebmlab world traffic record``);
2. ``model-stoch`` / ``model-det``: the forward model with and without z;
3. ``none``, ``recorded``: the references, evaluated in replay and reactive mode;
4. ``imitation-sN``, ``mper-sN``, ``mpur-sN`` (stochastic model), ``mpur-det-sN``
   for the seeds given, each evaluated on every test car in replay mode (and in
   reactive mode for the first seed of the policies named by ``--reactive``); MPUR's
   proximity mask sized by the ego's own speed, as PPUU's (``mpur-max-sN``: by the larger of
   it and the speed at the rollout's start);
5. ``ppo-sN``: stable-baselines3 PPO on the gymnasium environment (``--ppo-steps``);
6. ``mpc``: gradient MPC through the stochastic model (z = 0) on the first ``--mpc-cars`` test cars;
7. the ego separated from the world (Sobal et al. 2022): ``model-kin`` / ``model-kin-det``, the models with a
   kinematic ego, and ``mper-kin-sN``, ``mpur-kin-sN`` (stochastic), ``mpur-kin-det-sN`` trained through them
   (``--kin-policy-steps``, ``--bank-windows``); ``mpur-kin-start-sN``, ``mpur-kin-max-sN``, ``mpur-kin-det-max-sN``:
   MPUR with the proximity mask sized by the speed at each rollout's start, or the larger of it and the ego's; ``mpc-kin``, gradient MPC through ``model-kin`` (``mpc-kin-max``: the mask sized by the larger speed);
   ``mpc-cv``, the same planner (larger-speed mask) through the constant-velocity world, no learning;
   ``mpc-fit``, through the world of IDM/MOBIL drivers fitted to the recording;
8. ``dagger-sN``: DAgger in the world fitted to the recording with the privileged planner as the expert
   (``world traffic policy --kind dagger``, ``--dagger-rounds`` rounds of 256 cars × 15 s, 1,500 regression
   steps × 32, π averaged over each round's last 750), every round's π evaluated on the test cars; the
   rounds' rows are copied from the run's metrics.jsonl into ``dagger-sN-rounds`` (``--reactive dagger``: the
   first seed's last π also in reactive mode, ``dagger-sN-reactive``);
9. ``mpur-on-dagger-sN``: MPUR through ``model-stoch`` started from ``dagger-sN``'s π, on the states that
   run's π reached (its labels), with ``--regression-weight`` × the regression onto the planner's labels of
   those states beside MPUR's cost (``mpur-on-dagger-wW-sN`` for a weight W other than 1, ``…-lrL-sN`` for a
   ``--finetune-lr`` L other than 3e-4, ``…-avgA-sN`` with π averaged over its last A steps);
   ``mpur-on-dagger-noreg-sN``: the same without the regression; ``mpur-on-dagger-max-sN``: with the
   larger-speed mask.

Usage::

    python benchmarks/bench_traffic_ppuu.py --stages record,model-stoch,model-det,none,recorded
    python benchmarks/bench_traffic_ppuu.py --stages imitation,mper,mpur,mpur-det --seeds 0,1,2

Budgets (``--model-steps``, ``--policy-steps``, …) are sized for the 2-core CPU; the results file keeps the
configuration of every row.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ebmlab.runtime import Run  # noqa: E402
from ebmlab.viz.report import write_report  # noqa: E402
from ebmlab.world.driving.evaluate import EvalConfig, run_eval  # noqa: E402
from ebmlab.world.driving.ppo import PpoConfig, train_ppo  # noqa: E402
from ebmlab.world.driving.record import RecordConfig, run_record  # noqa: E402
from ebmlab.world.driving.train_model import ModelConfig, train_model  # noqa: E402
from ebmlab.world.driving.train_policy import PolicyConfig, train_policy  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "traffic_ppuu.json"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stages", default="record,model-stoch,model-det,none,recorded,imitation,mper,mpur,mpur-det")
    p.add_argument("--seeds", default="0")
    p.add_argument("--runs", default=str(ROOT / "runs" / "bench-traffic"))
    p.add_argument("--envs", type=int, default=12)
    p.add_argument("--seconds", type=float, default=300.0)
    p.add_argument("--model-steps", type=int, default=1000)
    p.add_argument("--policy-steps", type=int, default=400)
    p.add_argument("--mpur-batch", type=int, default=8)
    p.add_argument("--dropout-samples", type=int, default=4)
    p.add_argument("--kin-policy-steps", type=int, default=2000)
    p.add_argument("--bank-windows", type=int, default=1024)
    p.add_argument("--ppo-steps", type=int, default=100_000)
    p.add_argument(
        "--reactive",
        default="imitation,mper,mpur,mpur-det",
        help="Policies also evaluated in reactive mode (first seed).",
    )
    p.add_argument("--mpc-cars", type=int, default=30, help="Test cars for gradient MPC (it plans at every step).")
    p.add_argument("--mpc-horizon", type=int, default=10)
    p.add_argument("--mpc-iterations", type=int, default=3)
    p.add_argument("--dagger-rounds", type=int, default=7)
    p.add_argument("--finetune-lr", type=float, default=3e-4, help="mpur-on-dagger: Adam's learning rate.")
    p.add_argument(
        "--finetune-average", type=int, default=0, help="mpur-on-dagger: π averaged over its last so many steps."
    )
    p.add_argument(
        "--regression-weight",
        type=float,
        default=1.0,
        help="mpur-on-dagger: weight of the regression onto DAgger's labels.",
    )
    args = p.parse_args()
    runs = Path(args.runs)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    recording = str(runs / "record")

    def row(name: str, family_name: str, cfg, fn) -> dict:
        if name in results:
            print(f"{name}: done before, skipped", flush=True)
            return results[name]
        out = runs / name
        started = time.time()
        if (out / "config.json").exists():
            run = Run.resume(out, type(cfg), "world", family_name)
        else:
            run = Run.create("world", family_name, cfg, out=out)
        metrics = fn(run.config, run)
        run.finish(metrics)
        write_report(run.dir)
        results[name] = {
            **{k: v for k, v in metrics.items() if not isinstance(v, (list, dict))},
            "config": {k: v for k, v in vars(run.config).items()},
            "wall_s": round(time.time() - started, 1),
            "date": time.strftime("%Y-%m-%d %H:%M"),
        }
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        shown = {
            k: results[name][k]
            for k in (
                "success_rate",
                "mean_distance",
                "collision_rate",
                "image_mse_1",
                "position_error_m_30",
                "density_veh_per_km_lane",
            )
            if k in results[name]
        }
        print(f"{name}: {shown} ({results[name]['wall_s']:.0f} s)", flush=True)
        return results[name]

    def reactive(stage: str, name: str) -> None:
        """The first seed's policy of a stage named by --reactive, evaluated in reactive mode too."""
        if stage in args.reactive.split(","):
            config = EvalConfig(recording=recording, driver=str(runs / name), mode="reactive")
            row(f"{name}-reactive", "eval", config, run_eval)

    seeds = [int(s) for s in args.seeds.split(",")]
    for stage in args.stages.split(","):
        if stage == "record":
            row("record", "record", RecordConfig(envs=args.envs, seconds=args.seconds), run_record)
        elif stage in ("model-stoch", "model-det"):
            row(
                stage,
                "model",
                ModelConfig(
                    recording=recording, latent_dim=32 if stage == "model-stoch" else 0, steps=args.model_steps
                ),
                train_model,
            )
        elif stage in ("model-kin", "model-kin-det"):
            row(
                stage,
                "model",
                ModelConfig(
                    recording=recording,
                    ego="kinematic",
                    latent_dim=32 if stage == "model-kin" else 0,
                    steps=args.model_steps,
                ),
                train_model,
            )
        elif stage in ("mper-kin", "mpur-kin", "mpur-kin-det", "mpur-kin-start", "mpur-kin-max", "mpur-kin-det-max"):
            kind = stage.split("-")[0]
            model = str(runs / ("model-kin-det" if "det" in stage or kind == "mper" else "model-kin"))
            for seed in seeds:
                cfg = PolicyConfig(
                    recording=recording,
                    kind=kind,
                    model=model,
                    horizon=20 if kind == "mper" else 30,
                    steps=args.kin_policy_steps,
                    seed=seed,
                    lr=3e-4,
                    batch_size=16,
                    dropout_samples=args.dropout_samples,
                    bank_windows=args.bank_windows,
                    mask_speed=stage.split("-")[-1] if stage.endswith(("-start", "-max")) else "own",
                )
                name = f"{stage}-s{seed}"
                row(name, "policy", cfg, train_policy)
                if seed == seeds[0]:
                    reactive(stage, name)
        elif stage in ("none", "recorded"):
            for mode in ("replay", "reactive"):
                row(f"{stage}-{mode}", "eval", EvalConfig(recording=recording, driver=stage, mode=mode), run_eval)
        elif stage in ("imitation", "mper", "mpur", "mpur-det", "mpur-max"):
            kind = stage.split("-")[0]
            model = str(runs / ("model-det" if stage in ("mpur-det", "mper") else "model-stoch"))
            for seed in seeds:
                extra = (
                    {
                        "batch_size": args.mpur_batch,
                        "dropout_samples": args.dropout_samples,
                        "mask_speed": "max" if stage.endswith("-max") else "own",
                    }
                    if kind == "mpur"
                    else {}
                )
                cfg = PolicyConfig(
                    recording=recording,
                    kind=kind,
                    model="" if kind == "imitation" else model,
                    horizon=20 if kind == "mper" else 30,
                    steps=args.policy_steps * (3 if kind == "imitation" else 1),
                    seed=seed,
                    lr=1e-3 if kind == "imitation" else 3e-4,
                    **extra,
                )
                name = f"{stage}-s{seed}"
                row(name, "policy", cfg, train_policy)
                if seed == seeds[0]:
                    reactive(stage, name)
        elif stage in ("mpur-on-dagger", "mpur-on-dagger-noreg", "mpur-on-dagger-max"):
            for seed in seeds:  # from the DAgger π of the same seed, on the states it reached (its labels)
                dagger = str(runs / f"dagger-s{seed}")
                cfg = PolicyConfig(
                    recording=recording,
                    kind="mpur",
                    model=str(runs / "model-stoch"),
                    init=dagger,
                    on_policy_states=dagger,
                    regression_weight=0.0 if stage.endswith("-noreg") else args.regression_weight,
                    steps=args.policy_steps,
                    seed=seed,
                    lr=args.finetune_lr,
                    batch_size=args.mpur_batch,
                    dropout_samples=args.dropout_samples,
                    mask_speed="max" if stage.endswith("-max") else "own",
                    average_last=args.finetune_average,
                )
                weight = "" if cfg.regression_weight in (0.0, 1.0) else f"-w{cfg.regression_weight:g}"
                lr = "" if cfg.lr == 3e-4 else f"-lr{cfg.lr:g}"
                avg = f"-avg{cfg.average_last}" if cfg.average_last else ""
                row(f"{stage}{weight}{lr}{avg}-s{seed}", "policy", cfg, train_policy)
        elif stage == "ppo":
            for seed in seeds:
                row(f"ppo-s{seed}", "ppo", PpoConfig(recording=recording, steps=args.ppo_steps, seed=seed), train_ppo)
        elif stage in ("mpc", "mpc-kin", "mpc-kin-max", "mpc-cv", "mpc-fit"):
            worlds = {"mpc-cv": "constant-velocity", "mpc-fit": "fitted-idm"}
            model = worlds.get(stage) or str(runs / ("model-kin" if stage.startswith("mpc-kin") else "model-stoch"))
            row(
                stage,
                "eval",
                EvalConfig(
                    recording=recording,
                    driver="mpc",
                    model=model,
                    cars=args.mpc_cars,
                    mpc_horizon=args.mpc_horizon,
                    mpc_iterations=args.mpc_iterations,
                    mask_speed="max" if stage.endswith(("-max", "-cv", "-fit")) else "own",
                ),
                run_eval,
            )
        elif stage == "dagger":
            for seed in seeds:
                cfg = PolicyConfig(
                    recording=recording,
                    kind="dagger",
                    dagger_rounds=args.dagger_rounds,
                    steps=1500,
                    batch_size=32,
                    lr=3e-4,
                    mask_speed="max",
                    eval_rounds=True,
                    seed=seed,
                )
                name = f"dagger-s{seed}"
                fresh = name not in results
                row(name, "policy", cfg, train_policy)
                if fresh:  # the rounds of the run just made (a partial run's rows before it are replaced)
                    lines = (runs / name / "metrics.jsonl").read_text().splitlines()
                    results[f"{name}-rounds"] = [json.loads(line) for line in lines]
                    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
                if seed == seeds[0]:
                    reactive(stage, name)
        else:
            raise SystemExit(f"unknown stage {stage}")


if __name__ == "__main__":
    main()
