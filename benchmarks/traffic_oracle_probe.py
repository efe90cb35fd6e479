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
instead of a policy.

    python benchmarks/traffic_oracle_probe.py --steps 1000 [--mask-speed start]
    python benchmarks/traffic_oracle_probe.py --cost-table
    python benchmarks/traffic_oracle_probe.py --mpc 30 --mask-speed max
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
from ebmlab.world.driving.kinematic_ego import MASK_SPEEDS, SampleBank, kinematic_mpur_loss, kinematic_rollout  # noqa: E402
from ebmlab.world.driving.mpc import MpcDriver  # noqa: E402
from ebmlab.world.driving.policy import DrivingPolicy  # noqa: E402
from ebmlab.world.driving.record import find_recording  # noqa: E402
from ebmlab.world.traffic.episodes import views  # noqa: E402
from ebmlab.world.traffic.recording import CONDITIONING as C  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "traffic_oracle.json"


def recorded_bank(rec, n: int, horizon: int, g: torch.Generator, chunk: int = 64) -> tuple[SampleBank, torch.Tensor]:
    """A bank whose one future per window is the recorded one, and the recorded drivers' actions (n×T×2)."""
    windows = TrafficWindows(rec, rec.split("train"), horizon, frame="track")
    parts = {k: [] for k in ("views", "states", "track", "size", "futures", "recorded")}
    actions = []
    for start in range(0, n, chunk):
        w = windows.sample(min(chunk, n - start), g)
        actions.append(w["actions"])
        parts["views"].append((w["views"] * 255).round().to(torch.uint8))
        parts["states"].append(w["states"][:, :C])
        parts["track"].append(w["track"])
        parts["size"].append(torch.stack([rec.cars["length"][w["cars"]], rec.cars["width"][w["cars"]]], -1))
        parts["futures"].append((w["images"][:, None, C:, 1] * 255).round().to(torch.uint8))
        parts["recorded"].append(w["states"][:, C:])
    return SampleBank(**{k: torch.cat(v) for k, v in parts.items()}), torch.cat(actions)


def cost_table(rec, bank: SampleBank, actions: torch.Tensor) -> dict:
    """Discounted 30-step cost (proximity + 0.2 lane + off-road) of the recorded drivers' own actions and of
    constant accelerations, against the recorded futures, for each way of sizing the proximity mask."""
    batch = {k: getattr(bank, k) for k in ("states", "track", "size", "recorded")} | {"futures": bank.futures.float() / 255}
    discount = 0.99 ** torch.arange(actions.shape[1], dtype=torch.float32)
    plans = {"recorded": actions} | {f"a = {a:+.1f} m/s2": torch.tensor([a, 0.0]).expand_as(actions).contiguous()
                                     for a in (-4.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0)}
    table = {}
    for mask in MASK_SPEEDS:
        for name, plan in plans.items():
            with torch.no_grad():
                out = kinematic_rollout(None, batch, actions.shape[1], rec.road, actions=plan, mask_speed=mask)
            table[f"{mask}: {name}"] = round(float((out["costs"][:, :, 0] * discount).sum(1).mean()), 3)
            print(mask, name, table[f"{mask}: {name}"], flush=True)
    return table


class RecordedFutureMpc(MpcDriver):
    """Gradient MPC whose world model is the recording: in replay mode the others' futures are known exactly."""

    def __init__(self, rec, norm, horizon: int, iterations: int, mask_speed: str) -> None:
        super().__init__(None, horizon, iterations, mask_speed=mask_speed, norm=norm)
        self.rec = rec

    @torch.no_grad()
    def futures(self, episodes) -> torch.Tensor:
        H, rec = self.horizon, self.rec
        steps = torch.arange(1, H + 1)
        cx, cy = reference_track(self.states[:, -1], steps)
        frames = (episodes.t[:, None] + steps).clamp(max=rec.shape[1] - 1).flatten()
        images, _ = views(rec, episodes.cars.repeat_interleave(H), frames, centre=(cx.flatten(), cy.flatten()))
        return images[:, 1].view(len(cx), H, *images.shape[-2:])


def recorded_future_mpc(rec, cars: int, mask_speed: str) -> dict:
    norm = Normalisation().fit(rec, rec.split("train"))
    episodes, _ = drive(rec, RecordedFutureMpc(rec, norm, 30, 5, mask_speed), rec.split("test")[:cars])
    return episodes.summary()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recording", default=str(ROOT / "runs" / "bench-traffic" / "record"))
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--bank-windows", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=1000, help="Evaluate on every test car every so many steps.")
    p.add_argument("--mask-speed", default="own", choices=MASK_SPEEDS)
    p.add_argument("--cost-table", action="store_true", help="Price constant accelerations; train nothing.")
    p.add_argument("--mpc", type=int, default=0, metavar="CARS", help="Gradient MPC on the recorded futures of this many test cars; train nothing.")
    args = p.parse_args()
    torch.set_num_threads(2)
    rec = find_recording(args.recording)
    started = time.time()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if args.cost_table:
        bank, actions = recorded_bank(rec, 256, 30, torch.Generator().manual_seed(5))
        results["cost_table"] = {**cost_table(rec, bank, actions), "windows": 256,
                                 "date": time.strftime("%Y-%m-%d %H:%M")}
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        return
    if args.mpc:
        result = recorded_future_mpc(rec, args.mpc, args.mask_speed)
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        results[f"mpc-oracle-{args.mask_speed}"] = {**result, "horizon": 30, "iterations": 5,
                                                    "wall_s": round(time.time() - started, 1),
                                                    "date": time.strftime("%Y-%m-%d %H:%M")}
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        print(result)
        return
    bank, _ = recorded_bank(rec, args.bank_windows, 30, torch.Generator().manual_seed(args.seed + 1))
    torch.manual_seed(args.seed)
    policy = DrivingPolicy()
    policy.norm.load_state_dict(Normalisation().fit(rec, rec.split("train")).state_dict())
    opt = torch.optim.Adam(policy.parameters(), lr=3e-4)
    g = torch.Generator().manual_seed(args.seed)
    for step in range(args.steps):
        loss, terms = kinematic_mpur_loss(policy, bank, bank.batch(16, g), 30, rec.road,
                                            mask_speed=args.mask_speed)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 10.0)
        opt.step()
        if step % 100 == 0:
            print(step, {k: round(float(v), 4) for k, v in terms.items()}, flush=True)
        done = step + 1
        if done % args.eval_every == 0 or done == args.steps:   # a row per evaluation: a learning curve
            result = evaluate(rec, PolicyDriver(policy.eval()))
            policy.train()
            results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
            bank = "" if args.bank_windows == 1024 else f"-bank{args.bank_windows}"
            name = f"mpur-kin-oracle-{args.mask_speed}-{done}steps{bank}-s{args.seed}"
            results[name] = {**result, "steps": done, "bank_windows": args.bank_windows,
                             "mask_speed": args.mask_speed, "wall_s": round(time.time() - started, 1),
                             "date": time.strftime("%Y-%m-%d %H:%M")}
            RESULTS.write_text(json.dumps(results, indent=1) + "\n")
            print(name, result, flush=True)


if __name__ == "__main__":
    main()
