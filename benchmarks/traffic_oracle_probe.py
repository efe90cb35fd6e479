"""How far MPUR through a kinematic ego gets with a perfect world model: the bank's futures are the recorded ones.

A diagnostic beside ``bench_traffic_ppuu.py``'s ``mpur-kin`` rows: the same
policy, loss (PPUU's cost over 30 steps, discounted by 0.99; no uncertainty
term, since a recording has one future), batch, learning rate and steps, but
the other cars' futures in the bank are what the recording holds instead of
what the world model predicts. The gap between the two is what the world
model's errors cost; what the oracle misses is what the cost and the policy
miss. Writes ``benchmarks/results/traffic_oracle.json``.

With ``--cost-table``, no policy is trained: the probe prices, on the same
recorded futures, the recorded drivers' own next 3 s against constant
accelerations (curvature 0), under each way of sizing the proximity mask, to
show which speed the cost itself prefers.

With ``--mpc CARS``, no policy is trained either: gradient MPC
(:class:`~ebmlab.world.driving.mpc.MpcDriver`, 30 steps, 5 Adam steps per
decision) plans through the recorded futures of the first CARS test cars' others
at every step — the cost's own ceiling, with a perfect world model and a planner
instead of a policy. ``--futures constant-velocity`` plans instead through the
simplest world model that sees only the present: every other car goes on at its
current velocity. For training (not ``--mpc``), ``--futures fitted-idm`` fills the bank with the world fitted to
the recording: its mean future and ``--samples`` noisy ones per window, whose spread MPUR's uncertainty term reads.

With ``--action-fit RUN``, how well a trained policy predicts the recorded
drivers' next action on test windows (R², mean).

With ``--plan-profile``, open-loop plans are optimised to convergence on 256
recorded windows: which actions the 3-s cost prefers at each step of a plan.

DAgger, measured with this probe's ``--dagger`` options until 2026-12-07, is now a policy kind
(``ebmlab world traffic policy --kind dagger``, :mod:`ebmlab.world.driving.dagger`; the ``dagger`` stage of
``bench_traffic_ppuu.py``). ``--world-error`` measures how far each imagined world's cars drift from the recorded
ones.

``--distil`` trains π instead by regression on what the planner would do on each
window of the bank (the first action of a plan optimised from the data's mean,
30 Adam steps): offline distillation. ``--trained-steps K`` trains π on its first K actions of each rollout only
(:func:`~ebmlab.world.driving.kinematic_ego.kinematic_rollout`); ``--init RUN``
starts π from a trained policy (a `world traffic policy` run: 1-step imitation, or DAgger).

    python benchmarks/traffic_oracle_probe.py --steps 1000 [--mask-speed start] [--trained-steps 1] [--init RUN]
    python benchmarks/traffic_oracle_probe.py --distil --futures constant-velocity --mask-speed max --bank-windows 2048 --steps 3000
    python benchmarks/traffic_oracle_probe.py --world-error
    python benchmarks/traffic_oracle_probe.py --init runs/bench-traffic/dagger-s1 --futures fitted-idm --mask-speed max --steps 500 --eval-every 250
    python benchmarks/traffic_oracle_probe.py --cost-table
    python benchmarks/traffic_oracle_probe.py --plan-profile --mask-speed max
    python benchmarks/traffic_oracle_probe.py --action-fit runs/bench-traffic/imitation-6000-s0
    python benchmarks/traffic_oracle_probe.py --mpc 30 --mask-speed max [--futures constant-velocity]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ebmlab.world.driving.data import Normalisation, TrafficWindows, reference_track  # noqa: E402
from ebmlab.world.driving.evaluate import PolicyDriver, drive, evaluate  # noqa: E402
from ebmlab.world.driving.imagined import fit_idm, imagined_futures, world_error  # noqa: E402
from ebmlab.world.driving.kinematic_ego import (  # noqa: E402
    SampleBank,
    calibrate_uncertainty,
    kinematic_mpur_loss,
    kinematic_rollout,
)
from ebmlab.world.driving.mpc import ConstantVelocityMpc, FutureMpc  # noqa: E402
from ebmlab.world.driving.policy import DrivingPolicy  # noqa: E402
from ebmlab.world.driving.record import find_recording  # noqa: E402
from ebmlab.world.driving.train_policy import load_policy  # noqa: E402
from ebmlab.world.traffic.episodes import _frame, driven_on  # noqa: E402
from ebmlab.world.traffic.image_costs import MASK_SPEEDS  # noqa: E402
from ebmlab.world.traffic.kinematics import ACTION_HIGH, ACTION_LOW  # noqa: E402
from ebmlab.world.traffic.recording import CONDITIONING as C  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "traffic_oracle.json"


def recorded_bank(
    rec, n: int, horizon: int, g: torch.Generator, chunk: int = 64, futures: str = "recorded", samples: int = 10
) -> tuple[SampleBank, torch.Tensor]:
    """A bank whose one future per window is the recorded one (or, ``constant-velocity``, the others driven on at
    their velocity at the window's last conditioning frame; ``fitted-idm``, the fitted world's mean future and
    ``samples`` noisy ones, for MPUR's uncertainty term), and the recorded drivers' actions (n×T×2)."""
    windows = TrafficWindows(rec, rec.split("train"), horizon, frame="track")
    fit = fit_idm(rec) if futures == "fitted-idm" else None
    parts = {k: [] for k in ("views", "states", "track", "size", "futures", "recorded")}
    actions = []
    for start in range(0, n, chunk):
        w = windows.sample(min(chunk, n - start), g)
        actions.append(w["actions"])
        parts["views"].append((w["views"] * 255).round().to(torch.uint8))
        parts["states"].append(w["states"][:, :C])
        parts["track"].append(w["track"])
        parts["size"].append(torch.stack([rec.cars["length"][w["cars"]], rec.cars["width"][w["cars"]]], -1))
        cars = w["cars"]
        if futures == "recorded":
            future = w["images"][:, None, C:, 1]
        elif futures == "fitted-idm":
            future = imagined_futures(rec, cars, w["t"], w["track"], horizon, fit, samples, g)
        else:
            now = _frame(rec, rec.cars["env"][cars], w["t"], rec.cars["slot"][cars])
            future = driven_on(now, *reference_track(w["track"], torch.arange(1, horizon + 1)), rec.road)[:, None]
        parts["futures"].append((future * 255).round().to(torch.uint8))
        parts["recorded"].append(w["states"][:, C:])
    bank = SampleBank(**{k: torch.cat(v) for k, v in parts.items()})
    return calibrate_uncertainty(bank, rec.road) if bank.futures.shape[1] > 2 else bank, torch.cat(actions)


def cost_table(rec, bank: SampleBank, actions: torch.Tensor) -> dict:
    """Discounted 30-step cost (proximity + 0.2 lane + off-road) of the recorded drivers' own actions and of
    constant accelerations, against the recorded futures, for each way of sizing the proximity mask."""
    batch = {k: getattr(bank, k) for k in ("states", "track", "size", "recorded")} | {
        "futures": bank.futures.float() / 255
    }
    discount = 0.99 ** torch.arange(actions.shape[1], dtype=torch.float32)
    plans = {"recorded": actions} | {
        f"a = {a:+.1f} m/s2": torch.tensor([a, 0.0]).expand_as(actions).contiguous()
        for a in (-4.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0)
    }
    table = {}
    for mask in MASK_SPEEDS:
        for name, plan in plans.items():
            with torch.no_grad():
                out = kinematic_rollout(None, batch, actions.shape[1], rec.road, actions=plan, mask_speed=mask)
            table[f"{mask}: {name}"] = round(float((out["costs"][:, :, 0] * discount).sum(1).mean()), 3)
            print(mask, name, table[f"{mask}: {name}"], flush=True)
    return table


def optimise_plans(rec, batch: dict, horizon: int, mask_speed: str, iterations: int) -> torch.Tensor:
    """B×T×2 open-loop plans (physical units) through each window's first future in ``batch``: ``iterations`` Adam
    steps, lr 0.1 on normalised actions from the data's mean action, as the MPC's (no warm start)."""
    norm = Normalisation().fit(rec, rec.split("train"))
    low, high = torch.tensor(ACTION_LOW), torch.tensor(ACTION_HIGH)
    act = lambda p: torch.maximum(torch.minimum(norm.unactions(p), high), low)  # noqa: E731
    discount = 0.99 ** torch.arange(horizon, dtype=torch.float32)
    plan = torch.zeros(len(batch["states"]), horizon, 2, requires_grad=True)
    opt = torch.optim.Adam([plan], lr=0.1)
    for _ in range(iterations):
        out = kinematic_rollout(None, batch, horizon, rec.road, actions=act(plan), mask_speed=mask_speed)
        opt.zero_grad()
        (out["costs"][:, :, 0] * discount).sum().backward()
        opt.step()
    return act(plan.detach())


def plan_profile(rec, bank: SampleBank, actions: torch.Tensor, mask_speed: str, iterations: int = 200) -> dict:
    """Open-loop plans optimised to convergence on the recorded futures (:func:`optimise_plans`): their cost, speed,
    and mean acceleration at each step of the plan, beside the recorded drivers' own."""
    batch = {k: getattr(bank, k) for k in ("states", "track", "size", "recorded")} | {
        "futures": bank.futures.float() / 255
    }
    horizon = actions.shape[1]
    plans = optimise_plans(rec, batch, horizon, mask_speed, iterations)
    discount = 0.99 ** torch.arange(horizon, dtype=torch.float32)
    with torch.no_grad():
        out, recorded = (
            kinematic_rollout(None, batch, horizon, rec.road, actions=a, mask_speed=mask_speed)
            for a in (plans, actions)
        )
    cost = lambda o: round(float((o["costs"][:, :, 0] * discount).sum(1).mean()), 3)  # noqa: E731
    speed = lambda o: round(float(o["states"][..., 2:].norm(dim=-1).mean()), 2)  # noqa: E731
    return {
        "iterations": iterations,
        "cost": cost(out),
        "speed": speed(out),
        "end_speed": round(float(out["states"][:, -1, 2:].norm(dim=-1).mean()), 2),
        "recorded_cost": cost(recorded),
        "recorded_speed": speed(recorded),
        "acceleration_by_step": [round(float(a), 2) for a in plans[..., 0].mean(0)],
    }


def planner_labels(rec, bank: SampleBank, mask_speed: str, iterations: int = 30, chunk: int = 256) -> torch.Tensor:
    """n×2: the first action of a plan (:func:`optimise_plans`, ``iterations`` steps) through each window's futures
    in ``bank``: what the planner, started cold, would do there."""
    labels = []
    for start in range(0, len(bank), chunk):
        batch = {k: getattr(bank, k)[start : start + chunk] for k in ("states", "track", "size")}
        batch["futures"] = bank.futures[start : start + chunk].float() / 255
        labels.append(optimise_plans(rec, batch, 30, mask_speed, iterations)[:, 0])
    return torch.cat(labels)


def action_fit(rec, run: str, windows: int = 2000) -> dict:
    """How well a trained policy predicts the recorded drivers' next action on held-out (test) windows: R² of
    the acceleration and the curvature, and the mean acceleration predicted against the recorded one."""
    policy, _ = load_policy(run)
    w = TrafficWindows(rec, rec.split("test"), 1).sample(windows, torch.Generator().manual_seed(0))
    with torch.no_grad():
        pred = torch.cat(
            [policy(w["images"][i : i + 200, :C], w["states"][i : i + 200, :C]) for i in range(0, windows, 200)]
        )
    true = w["actions"][:, 0]
    r2 = 1 - ((pred - true) ** 2).mean(0) / true.var(0)
    return {
        "run": run,
        "windows": windows,
        "r2_acceleration": round(float(r2[0]), 3),
        "r2_curvature": round(float(r2[1]), 3),
        "mean_acceleration": round(float(pred[:, 0].mean()), 3),
        "recorded_mean_acceleration": round(float(true[:, 0].mean()), 3),
    }


def recorded_future_mpc(rec, cars: int, mask_speed: str, futures: str = "recorded") -> dict:
    norm = Normalisation().fit(rec, rec.split("train"))
    planner = (
        FutureMpc(norm, 30, 5, mask_speed=mask_speed)
        if futures == "recorded"
        else ConstantVelocityMpc(norm, 30, 5, mask_speed=mask_speed)
    )
    episodes, _ = drive(rec, planner, rec.split("test")[:cars])
    return episodes.summary()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recording", default=str(ROOT / "runs" / "bench-traffic" / "record"))
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--bank-windows", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=1000, help="Evaluate on every test car every so many steps.")
    p.add_argument("--mask-speed", default="own", choices=MASK_SPEEDS)
    p.add_argument(
        "--distil",
        action="store_true",
        help="Train π by regression on the planner's first actions on the bank's windows (offline distillation) instead of MPUR.",
    )
    p.add_argument(
        "--init", default="", help="Start π from this `world traffic policy` run's weights (e.g. imitation)."
    )
    p.add_argument(
        "--trained-steps", type=int, default=0, help="Train π on its first so many actions of each rollout (0: all)."
    )
    p.add_argument("--cost-table", action="store_true", help="Price constant accelerations; train nothing.")
    p.add_argument(
        "--plan-profile", action="store_true", help="Optimise open-loop plans on the recorded futures; train nothing."
    )
    p.add_argument(
        "--action-fit",
        default="",
        metavar="RUN",
        help="How well a trained policy predicts the recorded actions; train nothing.",
    )
    p.add_argument(
        "--mpc",
        type=int,
        default=0,
        metavar="CARS",
        help="Gradient MPC on the recorded futures of this many test cars; train nothing.",
    )
    p.add_argument(
        "--futures",
        default="recorded",
        choices=("recorded", "constant-velocity", "fitted-idm"),
        help="Plan (--mpc) or train π through the recorded futures, the others driven on at their current velocity, "
        "or (training only) the world fitted to the recording: its mean future and --samples noisy ones.",
    )
    p.add_argument(
        "--samples", type=int, default=10, help="--futures fitted-idm: noisy futures per window (MPUR's uncertainty)."
    )
    p.add_argument(
        "--world-error",
        action="store_true",
        help="How far each imagined world's cars drift from the recorded ones over 30 s; train nothing.",
    )
    args = p.parse_args()
    torch.set_num_threads(2)
    if args.mpc and args.futures == "fitted-idm":
        p.error("--mpc plans through the recorded futures or the constant-velocity world, not --futures fitted-idm")
    rec = find_recording(args.recording)
    started = time.time()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if args.world_error:
        results["world-error"] = {**world_error(rec), "date": time.strftime("%Y-%m-%d %H:%M")}
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        print(json.dumps(results["world-error"], indent=1))
        return
    if args.cost_table:
        bank, actions = recorded_bank(rec, 256, 30, torch.Generator().manual_seed(5))
        results["cost_table"] = {
            **cost_table(rec, bank, actions),
            "windows": 256,
            "date": time.strftime("%Y-%m-%d %H:%M"),
        }
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        return
    if args.action_fit:
        results[f"action-fit-{Path(args.action_fit).name}"] = {
            **action_fit(rec, args.action_fit),
            "date": time.strftime("%Y-%m-%d %H:%M"),
        }
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        print(results[f"action-fit-{Path(args.action_fit).name}"])
        return
    if args.plan_profile:
        bank, actions = recorded_bank(rec, 256, 30, torch.Generator().manual_seed(5))
        results[f"plan-profile-{args.mask_speed}"] = {
            **plan_profile(rec, bank, actions, args.mask_speed),
            "windows": 256,
            "wall_s": round(time.time() - started, 1),
            "date": time.strftime("%Y-%m-%d %H:%M"),
        }
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        print(results[f"plan-profile-{args.mask_speed}"])
        return
    if args.mpc:
        result = recorded_future_mpc(rec, args.mpc, args.mask_speed, args.futures)
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        kind = "oracle" if args.futures == "recorded" else args.futures
        results[f"mpc-{kind}-{args.mask_speed}"] = {
            **result,
            "horizon": 30,
            "iterations": 5,
            "wall_s": round(time.time() - started, 1),
            "date": time.strftime("%Y-%m-%d %H:%M"),
        }
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        print(result)
        return
    bank, _ = recorded_bank(
        rec,
        args.bank_windows,
        30,
        torch.Generator().manual_seed(args.seed + 1),
        futures=args.futures,
        samples=args.samples,
    )
    torch.manual_seed(args.seed)
    policy = load_policy(args.init)[0].train() if args.init else DrivingPolicy()
    policy.norm.load_state_dict(Normalisation().fit(rec, rec.split("train")).state_dict())
    opt = torch.optim.Adam(policy.parameters(), lr=3e-4)
    g = torch.Generator().manual_seed(args.seed)
    if args.distil:
        labels = policy.norm.actions(planner_labels(rec, bank, args.mask_speed))
        print("planner labels: mean acceleration", float(policy.norm.unactions(labels)[:, 0].mean()), flush=True)
    for step in range(args.steps):
        if args.distil:
            i = torch.randint(len(bank), (16,), generator=g)
            pred = policy.normalised(policy.encoder(bank.views[i].float() / 255), bank.states[i])
            loss = ((pred - labels[i]) ** 2).mean()
            terms = {"distil_mse": loss.detach()}
        else:
            loss, terms = kinematic_mpur_loss(
                policy,
                bank,
                bank.batch(16, g),
                30,
                rec.road,
                mask_speed=args.mask_speed,
                trained_steps=args.trained_steps or None,
            )
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 10.0)
        opt.step()
        if step % 100 == 0:
            print(step, {k: round(float(v), 4) for k, v in terms.items()}, flush=True)
        done = step + 1
        if done % args.eval_every == 0 or done == args.steps:  # a row per evaluation: a learning curve
            result = evaluate(rec, PolicyDriver(policy.eval()))
            policy.train()
            results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
            windows = "" if args.bank_windows == 1024 else f"-bank{args.bank_windows}"
            trained = f"-trained{args.trained_steps}" if args.trained_steps else ""
            init = f"-from-{Path(args.init).name}" if args.init else ""
            kind = "oracle" if args.futures == "recorded" else args.futures
            method = "distil" if args.distil else "mpur"
            name = f"{method}-kin-{kind}-{args.mask_speed}{trained}{init}-{done}steps{windows}-s{args.seed}"
            results[name] = {
                **result,
                "steps": done,
                "bank_windows": args.bank_windows,
                "trained_steps": args.trained_steps or 30,
                "init": args.init,
                "mask_speed": args.mask_speed,
                "wall_s": round(time.time() - started, 1),
                "date": time.strftime("%Y-%m-%d %H:%M"),
            }
            RESULTS.write_text(json.dumps(results, indent=1) + "\n")
            print(name, result, flush=True)


if __name__ == "__main__":
    main()
